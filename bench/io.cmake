# The io layer's benchmarks (included by bench/CMakeLists.txt): TCP against libuv, file
# reads against Node's fs.promises.readFile.
add_executable(bench_tcp bench_tcp.c peers/libuv_tcp.c)
target_link_libraries(bench_tcp PRIVATE calcifer PkgConfig::LIBUV)
target_include_directories(bench_tcp PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_options(bench_tcp PRIVATE ${CF_WARNINGS})

add_executable(bench_fs bench_fs.c)
target_link_libraries(bench_fs PRIVATE calcifer)
target_compile_options(bench_fs PRIVATE ${CF_WARNINGS})
target_compile_definitions(bench_fs PRIVATE CF_BENCH_PEERS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/peers")
