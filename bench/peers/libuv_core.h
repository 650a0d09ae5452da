/* libuv side of bench/bench_core.c (peers/libuv_core.c). Each returns seconds, -1 on error. */
#ifndef CF_BENCH_LIBUV_CORE_H
#define CF_BENCH_LIBUV_CORE_H

#include <stddef.h>
#include <stdint.h>

/* n timers with the given delays; the time beyond the longest delay (the overhead). */
double uvb_timers(size_t n, const uint64_t *delays, uint64_t max_delay_ms);
/* n turns of the loop (an idle handle keeps it from waiting). */
double uvb_loop_turns(size_t n);
/* n no-op uv_queue_work round trips, all submitted at once. */
double uvb_pool(size_t n);

#endif
