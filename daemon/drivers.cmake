# Guest drivers of the host role (included from daemon/CMakeLists.txt).
add_library(pvm_drivers STATIC
  ${CMAKE_CURRENT_LIST_DIR}/driver.c
  ${CMAKE_CURRENT_LIST_DIR}/driver_libvirt.c)
target_link_libraries(pvm_drivers PUBLIC pvm_common PkgConfig::LIBVIRT)
