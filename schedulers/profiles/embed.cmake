# Turns a profile file into a C array, so that the simulator carries the
# recorded profile without a path to find at run time:
#   cmake -DIN=recorded.profile -DOUT=file.c -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(name "${IN}" NAME)
file(WRITE "${OUT}" "/* Generated from schedulers/profiles/${name} at build time. */\n"
  "extern const char sched_sim_profile_recorded_text[];\n"
  "const char sched_sim_profile_recorded_text[] = {${bytes} 0};\n")
