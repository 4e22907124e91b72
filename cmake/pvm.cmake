# pvm_add_check_test(NAME SOURCES src... LIBS lib... [TIMEOUT s] [LABELS l...]
#                    [PLATFORMS | BACKENDS sqlite|postgres...])
# A Check (libcheck) unit test, built and registered with ctest. With
# PLATFORMS it runs guests and is registered once per hv platform, as
# NAME.kvm and NAME.process with PVM_PLATFORM set (tests/platform.h); a
# platform the machine lacks exits 77, which ctest shows as skipped. With
# BACKENDS it runs once per store backend listed, as NAME.sqlite and
# NAME.postgres; the latter on the throwaway server of the `pg` fixture
# (tests/pgtest/), its admin URI in the file PVM_TEST_PG_FILE names.
set(PVM_PLATFORMS kvm process)
set(PVM_PG_SERVER_DIR ${CMAKE_BINARY_DIR}/pg-server)
# The libvirtd test server and the Linux guest image (tests/libvirt/).
set(PVM_LV_SERVER_DIR ${CMAKE_BINARY_DIR}/lv-server)
set(PVM_LINUX_IMAGE_DIR ${CMAKE_BINARY_DIR}/linux-guest)
function(pvm_add_check_test name)
  cmake_parse_arguments(T "PLATFORMS" "TIMEOUT" "SOURCES;LIBS;LABELS;BACKENDS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CHECK)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(T_PLATFORMS)
    set(tests)
    foreach(p ${PVM_PLATFORMS})
      add_test(NAME ${name}.${p} COMMAND ${name})
      set_tests_properties(${name}.${p} PROPERTIES SKIP_RETURN_CODE 77
                           ENVIRONMENT "CK_DEFAULT_TIMEOUT=${T_TIMEOUT};PVM_PLATFORM=${p}")
      list(APPEND tests ${name}.${p})
    endforeach()
  elseif(T_BACKENDS)
    set(tests)
    foreach(b ${T_BACKENDS})
      add_test(NAME ${name}.${b} COMMAND ${name})
      set(env "CK_DEFAULT_TIMEOUT=${T_TIMEOUT}")
      if(b STREQUAL "postgres")
        list(APPEND env "PVM_TEST_PG_FILE=${PVM_PG_SERVER_DIR}/uri")
        set_tests_properties(${name}.${b} PROPERTIES FIXTURES_REQUIRED pg)
      elseif(NOT b STREQUAL "sqlite")
        message(FATAL_ERROR "${name}: unknown store backend ${b}")
      endif()
      set_tests_properties(${name}.${b} PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "${env}")
      list(APPEND tests ${name}.${b})
    endforeach()
  else()
    add_test(NAME ${name} COMMAND ${name})
    set(tests ${name})
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "CK_DEFAULT_TIMEOUT=${T_TIMEOUT}")
  endif()
  set_tests_properties(${tests} PROPERTIES TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    set_tests_properties(${tests} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()
