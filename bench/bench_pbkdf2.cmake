# bench_pbkdf2: eddy's crypto.pbkdf2 against Node's (included from bench/CMakeLists.txt). It
# needs only eddy (and node on PATH at run time, for the comparison), not libuv.
add_executable(bench_pbkdf2 ${CMAKE_CURRENT_LIST_DIR}/bench_pbkdf2.c)
target_link_libraries(bench_pbkdf2 PRIVATE eddy_static)
target_compile_definitions(bench_pbkdf2 PRIVATE EDDY_BENCH_DIR="${CMAKE_CURRENT_LIST_DIR}")
target_compile_options(bench_pbkdf2 PRIVATE -O2)
