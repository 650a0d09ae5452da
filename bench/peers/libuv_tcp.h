/* libuv side of bench/bench_tcp.c (peers/libuv_tcp.c). Each returns seconds, -1 on error. */
#ifndef CF_BENCH_LIBUV_TCP_H
#define CF_BENCH_LIBUV_TCP_H

#include <stddef.h>

/* `n` round trips of a `msg`-byte message over one loopback connection (TCP_NODELAY). */
double uvb_tcp_pingpong(size_t n, size_t msg);
/* `total` bytes streamed one way over one loopback connection, in 64 KiB writes. */
double uvb_tcp_bulk(size_t total);

#endif
