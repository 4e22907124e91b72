# pvmd: main and its roles (included from daemon/CMakeLists.txt).
add_executable(pvmd ${CMAKE_CURRENT_LIST_DIR}/pvmd.c ${CMAKE_CURRENT_LIST_DIR}/role_controller.c
  ${CMAKE_CURRENT_LIST_DIR}/role_all.c ${CMAKE_CURRENT_LIST_DIR}/backup.c)
target_link_libraries(pvmd PRIVATE pvm_api pvm_controller pvm_host pvm_store pvm_common PkgConfig::SYSTEMD)
