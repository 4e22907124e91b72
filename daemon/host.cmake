# pvmd's host role (included from daemon/CMakeLists.txt): the loop, the
# reconciler, reports, the REST client and KVM capabilities.
add_library(pvm_host STATIC
  ${CMAKE_CURRENT_LIST_DIR}/host_role.c
  ${CMAKE_CURRENT_LIST_DIR}/host_reconcile.c
  ${CMAKE_CURRENT_LIST_DIR}/host_report.c
  ${CMAKE_CURRENT_LIST_DIR}/host_cost.c
  ${CMAKE_CURRENT_LIST_DIR}/host_client.c
  ${CMAKE_CURRENT_LIST_DIR}/kvm_caps.c
  ${CMAKE_CURRENT_LIST_DIR}/role_host.c
  ${CMAKE_CURRENT_LIST_DIR}/config.c)
target_link_libraries(pvm_host PUBLIC pvm_drivers pvm_common PkgConfig::CURL PkgConfig::SYSTEMD
                      Threads::Threads)
