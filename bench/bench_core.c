/*
 * Core benchmarks: timers, immediates, nextTicks, microtasks and thread-pool round trips,
 * each run on Calcifer and on its peer (Node.js and/or libuv) in the same run.
 *
 *     bench_core [-r REPEAT] [NAME...]     NAME: timers immediates ticks microtasks pool
 *
 * Prints one line per comparison: `name calcifer peer ratio`, times in seconds (medians of
 * REPEAT runs, default 3), ratio = peer / calcifer (how many times faster Calcifer is). For
 * timers the time is the overhead: wall time minus the longest delay (100 ms). The pool runs
 * alternate between the two sides (Calcifer, libuv, Calcifer, ...), so that a burst of load
 * from elsewhere on the machine hits both.
 * Node is found through $NODE (default /usr/bin/node), its script in CF_BENCH_PEERS_DIR.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calcifer.h"
#include "peers/libuv_core.h"

#ifndef CF_BENCH_PEERS_DIR
#define CF_BENCH_PEERS_DIR "bench/peers"
#endif

#define N_TIMERS     1000000
#define N_CHAIN      1000000
#define N_POOL       100000
#define MAX_DELAY_MS 100
#define MAX_REPEAT   15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, cf_strerror(rc));
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0)                                                                               \
            die(#call, rc_);                                                                       \
    } while (0)

/* The same xorshift64 sequence as peers/core.js. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t *make_delays(size_t n)
{
    uint64_t *d = malloc(n * sizeof(*d));
    if (!d)
        die("malloc", CF_ENOMEM);
    rng_state = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        d[i] = rng() % (MAX_DELAY_MS + 1);
    }
    return d;
}

/* ---- Calcifer side ---- */

static size_t counter;
static size_t limit;
static cf_loop *loop;

static void count_cb(void *d)
{
    (void)d;
    counter++;
}

static double cf_timers(const uint64_t *delays)
{
    CHECK(cf_loop_new(&loop));
    counter = 0;
    double t0 = now_s();
    for (size_t i = 0; i < N_TIMERS; i++) {
        CHECK(cf_set_timeout(loop, delays[i], count_cb, NULL, NULL));
    }
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
    double t = now_s() - t0 - MAX_DELAY_MS / 1000.0;
    CHECK(cf_loop_close(loop));
    return counter == N_TIMERS ? t : -1;
}

static void immediate_step(void *d)
{
    if (++counter < limit)
        CHECK(cf_set_immediate(loop, immediate_step, d, NULL));
}

static void tick_step(void *d)
{
    if (++counter < limit)
        CHECK(cf_next_tick(loop, tick_step, d));
}

static void micro_step(void *d)
{
    if (++counter < limit)
        CHECK(cf_queue_microtask(loop, micro_step, d));
}

/* A chain of `N_CHAIN` callbacks, each queuing the next with `queue`. */
static double cf_chain(int (*queue)(cf_loop *, cf_callback, void *), cf_callback step)
{
    CHECK(cf_loop_new(&loop));
    counter = 0;
    limit = N_CHAIN;
    double t0 = now_s();
    CHECK(queue(loop, step, NULL));
    cf_loop_drain(loop);
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
    double t = now_s() - t0;
    CHECK(cf_loop_close(loop));
    return counter == N_CHAIN ? t : -1;
}

static int queue_immediate(cf_loop *l, cf_callback fn, void *d)
{
    return cf_set_immediate(l, fn, d, NULL);
}

static void noop_work(void *d)
{
    (void)d;
}

static void work_done(int status, const cf_error *err, void *d)
{
    (void)err;
    (void)d;
    if (status == 0)
        counter++;
}

static double cf_pool(void)
{
    CHECK(cf_loop_new(&loop));
    counter = 0;
    double t0 = now_s();
    for (size_t i = 0; i < N_POOL; i++) {
        CHECK(cf_work(loop, noop_work, NULL, work_done, NULL));
    }
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
    double t = now_s() - t0;
    CHECK(cf_loop_close(loop));
    return counter == N_POOL ? t : -1;
}

/* ---- Node side ---- */

static double node_run(const char *what, long n)
{
    const char *node = getenv("NODE");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/core.js' %s %ld", node && *node ? node : "/usr/bin/node",
             CF_BENCH_PEERS_DIR, what, n);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    double t = -1;
    if (fscanf(p, "%lf", &t) != 1)
        t = -1;
    if (pclose(p) != 0)
        t = -1;
    return t;
}

/* ---- driver ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

static void report(const char *name, double c, double peer)
{
    printf("%-28s %10.4f %10.4f %8.2f\n", name, c, peer, c > 0 && peer > 0 ? peer / c : 0.0);
    fflush(stdout);
}

typedef double (*bench_fn)(void);

static int repeat = 3;

static double measure(bench_fn fn)
{
    double v[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        v[i] = fn();
    }
    return median(v, repeat);
}

/*
 * Both sides in alternation (A, B, A, B, ...), each result the median of its runs: on a
 * shared machine a burst of load then hits both sides instead of one side's whole series.
 */
static void measure_pair(bench_fn a, bench_fn b, double *ma, double *mb)
{
    double va[MAX_REPEAT];
    double vb[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        va[i] = a();
        vb[i] = b();
    }
    *ma = median(va, repeat);
    *mb = median(vb, repeat);
}

static double node_measure(const char *what, long n)
{
    double v[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        v[i] = node_run(what, n);
    }
    return median(v, repeat);
}

static uint64_t *delays;

static double b_cf_timers(void)
{
    return cf_timers(delays);
}

static double b_uv_timers(void)
{
    return uvb_timers(N_TIMERS, delays, MAX_DELAY_MS);
}

static double b_cf_immediates(void)
{
    return cf_chain(queue_immediate, immediate_step);
}

static double b_uv_turns(void)
{
    return uvb_loop_turns(N_CHAIN);
}

static double b_cf_ticks(void)
{
    return cf_chain(cf_next_tick, tick_step);
}

static double b_cf_micro(void)
{
    return cf_chain(cf_queue_microtask, micro_step);
}

static double b_uv_pool(void)
{
    return uvb_pool(N_POOL);
}

static int wanted(int argc, char **argv, int first, const char *name)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], name) == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-r") == 0) {
        repeat = atoi(argv[2]);
        if (repeat < 1 || repeat > MAX_REPEAT)
            repeat = 3;
        first = 3;
    }
    printf("%-28s %10s %10s %8s\n", "# name", "calcifer", "peer", "ratio");
    if (wanted(argc, argv, first, "timers")) {
        delays = make_delays(N_TIMERS);
        double c = measure(b_cf_timers);
        report("timers_1m_overhead_vs_node", c, node_measure("timers", N_TIMERS));
        report("timers_1m_overhead_vs_libuv", c, measure(b_uv_timers));
        free(delays);
    }
    if (wanted(argc, argv, first, "immediates")) {
        double c = measure(b_cf_immediates);
        report("immediates_1m_vs_node", c, node_measure("immediates", N_CHAIN));
        report("immediates_1m_vs_libuv_turns", c, measure(b_uv_turns));
    }
    if (wanted(argc, argv, first, "ticks"))
        report("ticks_1m_vs_node", measure(b_cf_ticks), node_measure("ticks", N_CHAIN));
    if (wanted(argc, argv, first, "microtasks"))
        report("microtasks_1m_vs_node", measure(b_cf_micro), node_measure("microtasks", N_CHAIN));
    if (wanted(argc, argv, first, "pool")) {
        double c;
        double uv;
        measure_pair(cf_pool, b_uv_pool, &c, &uv);
        report("pool_100k_vs_libuv", c, uv);
    }
    return 0;
}
