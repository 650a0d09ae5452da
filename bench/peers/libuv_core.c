/*
 * libuv side of bench/bench_core.c: the same workloads written against libuv (libuv1-dev).
 * Each function returns seconds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "libuv_core.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- timers ---- */

static size_t timers_fired;

static void timer_cb(uv_timer_t *t)
{
    (void)t;
    timers_fired++;
}

double uvb_timers(size_t n, const uint64_t *delays, uint64_t max_delay_ms)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    timers_fired = 0;
    double t0 = now_s();
    uv_timer_t *timers = malloc(n * sizeof(*timers));
    for (size_t i = 0; i < n; i++) {
        uv_timer_init(&loop, &timers[i]);
        /* setTimeout semantics: at least 1 ms, as the other two sides */
        uv_timer_start(&timers[i], timer_cb, delays[i] ? delays[i] : 1, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now_s() - t0 - (double)max_delay_ms / 1000.0;
    for (size_t i = 0; i < n; i++) {
        uv_close((uv_handle_t *)&timers[i], NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(timers);
    return timers_fired == n ? t : -1;
}

/* ---- loop turns: an idle handle keeps the loop from waiting ---- */

static size_t turns;
static size_t turns_max;

static void idle_cb(uv_idle_t *h)
{
    if (++turns >= turns_max)
        uv_idle_stop(h);
}

double uvb_loop_turns(size_t n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_idle_t idle;
    uv_idle_init(&loop, &idle);
    turns = 0;
    turns_max = n;
    double t0 = now_s();
    uv_idle_start(&idle, idle_cb);
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now_s() - t0;
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return t;
}

/* ---- thread pool round trips ---- */

static size_t pool_done;

static void work_cb(uv_work_t *w)
{
    (void)w;
}

static void after_cb(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
    pool_done++;
}

double uvb_pool(size_t n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_work_t *reqs = malloc(n * sizeof(*reqs));
    pool_done = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        uv_queue_work(&loop, &reqs[i], work_cb, after_cb);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double t = now_s() - t0;
    uv_loop_close(&loop);
    free(reqs);
    return pool_done == n ? t : -1;
}
