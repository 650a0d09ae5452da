/*
 * The cost of seeing the loop (docs/observability.md): the core loop benchmarks with nothing
 * on, with the timed metrics on, with the blocked-loop detector on, and traced.
 *
 *     bench_observe [-r REPEAT] [--plain [--metrics]] [--only WORD]
 *
 * Workloads (chosen because each callback or iteration does almost nothing, so overhead
 * shows): 1M chained immediates (one callback per loop iteration: the per-iteration cost),
 * 1M chained microtasks (the per-callback cost), 100k thread-pool round trips, 200k timers.
 * Prints `name off on ratio` (seconds, medians of REPEAT runs alternating off and on;
 * ratio = on / off, so 1.02 is 2% slower) and, for tracing, the nanoseconds per recorded
 * event. With --plain it prints only the "off" times, one `name seconds` line each: the
 * script bench_observe.sh compares them with a build made with -DCF_NO_OBSERVE (--metrics:
 * the same with the timed metrics on, to count their instructions). --only runs
 * the workloads whose name contains WORD (for an instruction count under callgrind, say).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer.h"

#define N_CHAIN  1000000
#define N_POOL   100000
#define N_TIMERS 200000
#define MAX_RUNS 15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(const char *what, int rc)
{
    if (rc < 0) {
        fprintf(stderr, "bench_observe: %s: %s\n", what, cf_strerror(rc));
        exit(1);
    }
}

enum mode { OFF, METRICS, DETECT, TRACE };

static cf_loop *loop;
static size_t counter;
static size_t limit;
static char trace_path[256];
static uint64_t recorded; /* events the last traced run recorded */

static void immediate_step(void *d)
{
    if (++counter < limit)
        check("cf_set_immediate", cf_set_immediate(loop, immediate_step, d, NULL));
}

static void micro_step(void *d)
{
    if (++counter < limit)
        check("cf_queue_microtask", cf_queue_microtask(loop, micro_step, d));
}

static void noop_work(void *d)
{
    (void)d;
}

static void work_done(int status, const cf_error *err, void *d)
{
    (void)err;
    (void)d;
    check("work", status);
    if (++counter < limit)
        check("cf_work", cf_work(loop, noop_work, NULL, work_done, NULL));
}

static void timer_cb(void *d)
{
    (void)d;
    counter++;
}

static uint64_t read_recorded(void)
{
    FILE *f = fopen(trace_path, "r");
    if (!f)
        return 0;
    static char buf[1 << 16];
    uint64_t n = 0;
    if (fseek(f, -200, SEEK_END) == 0) {
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        buf[len] = '\0';
        const char *p = strstr(buf, "\"recorded\":");
        if (p)
            n = strtoull(p + 11, NULL, 10);
    }
    fclose(f);
    return n;
}

static void setup(enum mode m)
{
    check("cf_loop_new", cf_loop_new(&loop));
    if (m == METRICS)
        check("metrics", cf_loop_metrics_enable(loop, 1));
    if (m == DETECT)
        check("detector", cf_loop_detect_blocked(loop, 1000, NULL, NULL));
    if (m == TRACE)
        check("trace", cf_trace_start(loop, trace_path, 0));
}

/* Time the run only: the trace is written after the clock stops. */
static double finish(enum mode m, double t0)
{
    check("cf_run", cf_run(loop, CF_RUN_DEFAULT));
    double t = now_s() - t0;
    if (m == TRACE) {
        check("trace", cf_trace_stop(loop));
        recorded = read_recorded();
    }
    check("cf_loop_close", cf_loop_close(loop));
    return t;
}

static double run_immediates(enum mode m)
{
    setup(m);
    counter = 0;
    limit = N_CHAIN;
    double t0 = now_s();
    check("cf_set_immediate", cf_set_immediate(loop, immediate_step, NULL, NULL));
    return finish(m, t0);
}

static double run_microtasks(enum mode m)
{
    setup(m);
    counter = 0;
    limit = N_CHAIN;
    double t0 = now_s();
    check("cf_queue_microtask", cf_queue_microtask(loop, micro_step, NULL));
    return finish(m, t0);
}

static double run_pool(enum mode m)
{
    setup(m);
    counter = 0;
    limit = N_POOL;
    double t0 = now_s();
    for (int i = 0; i < 8; i++) {
        check("cf_work", cf_work(loop, noop_work, NULL, work_done, NULL));
    }
    limit = N_POOL;
    return finish(m, t0);
}

static double run_timers(enum mode m)
{
    setup(m);
    counter = 0;
    uint64_t x = 88172645463325252u;
    double t0 = now_s();
    for (int i = 0; i < N_TIMERS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check("cf_set_timeout", cf_set_timeout(loop, x % 50, timer_cb, NULL, NULL));
    }
    return finish(m, t0) - 0.049; /* the overhead past the longest delay */
}

typedef double (*bench_fn)(enum mode m);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* Median of `repeat` runs of each mode, alternating, so that load from elsewhere hits both. */
static void compare(const char *name, bench_fn fn, enum mode m, int repeat, double *off, double *on,
                    uint64_t *events)
{
    double a[MAX_RUNS];
    double b[MAX_RUNS];
    uint64_t ev[MAX_RUNS];
    for (int i = 0; i < repeat; i++) {
        a[i] = fn(OFF);
        b[i] = fn(m);
        ev[i] = recorded;
    }
    *off = median(a, repeat);
    *on = median(b, repeat);
    *events = ev[0];
    (void)name;
}

static const struct {
    const char *name;
    bench_fn fn;
} workloads[] = {
    {"1M immediates", run_immediates},
    {"1M microtasks", run_microtasks},
    {"100k pool round trips", run_pool},
    {"200k timers (overhead)", run_timers},
};

int main(int argc, char **argv)
{
    int repeat = 5;
    int plain = 0;
    enum mode plain_mode = OFF;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            repeat = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--plain") == 0)
            plain = 1;
        else if (strcmp(argv[i], "--metrics") == 0)
            plain_mode = METRICS;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
    }
    if (repeat < 1 || repeat > MAX_RUNS)
        repeat = 5;
    snprintf(trace_path, sizeof(trace_path), "%s/bench_observe.%d.json",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    size_t n = sizeof(workloads) / sizeof(workloads[0]);
    if (plain) {
        for (size_t w = 0; w < n; w++) {
            if (!strstr(workloads[w].name, only))
                continue;
            double v[MAX_RUNS];
            for (int i = 0; i < repeat; i++) {
                v[i] = workloads[w].fn(plain_mode);
            }
            printf("%-28s %10.4f\n", workloads[w].name, median(v, repeat));
        }
        return 0;
    }
    static const char *const mode_names[] = {"", "metrics", "detector", "trace"};
    printf("%-40s %10s %10s %8s\n", "# name", "off", "on", "on/off");
    for (int m = METRICS; m <= TRACE; m++) {
        for (size_t w = 0; w < n; w++) {
            if (!strstr(workloads[w].name, only))
                continue;
            double off;
            double on;
            uint64_t events;
            compare(workloads[w].name, workloads[w].fn, (enum mode)m, repeat, &off, &on, &events);
            char name[64];
            snprintf(name, sizeof(name), "%s, %s on", workloads[w].name, mode_names[m]);
            printf("%-40s %10.4f %10.4f %8.3f", name, off, on, off > 0 ? on / off : 0);
            if (m == TRACE && events)
                printf("   %.1f ns per event (%llu events)", (on - off) * 1e9 / (double)events,
                       (unsigned long long)events);
            printf("\n");
        }
    }
    remove(trace_path);
    return 0;
}
