# Guest drivers of the host role (included from daemon/CMakeLists.txt).
add_library(pvm_drivers STATIC
  ${CMAKE_CURRENT_LIST_DIR}/driver.c
  ${CMAKE_CURRENT_LIST_DIR}/driver_libvirt.c
  ${CMAKE_CURRENT_LIST_DIR}/lv_relay.c
  ${CMAKE_CURRENT_LIST_DIR}/driver_hv.c
  ${CMAKE_CURRENT_LIST_DIR}/host_state.c
  ${CMAKE_CURRENT_LIST_DIR}/vmm_proc.c
  ${CMAKE_CURRENT_LIST_DIR}/vmm_cost.c
  ${CMAKE_CURRENT_LIST_DIR}/vmm_cgroup.c
  ${CMAKE_CURRENT_LIST_DIR}/vmm_ctl.c)
target_link_libraries(pvm_drivers PUBLIC pvm_common pvm_hv pvm_agent PkgConfig::LIBVIRT PkgConfig::SQLITE3
                      PkgConfig::SECCOMP Threads::Threads)
