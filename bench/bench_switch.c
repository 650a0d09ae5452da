/*
 * Context switch and memory per suspended coroutine.
 *
 *   bench_switch [rounds]
 *
 * Prints `name calcifer peer ratio`, where ratio is peer / calcifer (above 1: Calcifer is
 * faster or smaller). Times are the median of five runs, in nanoseconds of the thread's CPU
 * time per round trip (resume + yield: two switches). The peer of the switch lines is a round trip
 * of swapcontext; the peer of the memory lines is Node.js (100,000 pending async functions awaiting
 * one promise, resident memory per function), run when `node` is on the PATH.
 *
 * Memory lines: resident memory (RSS) gained while N fibers are suspended, divided by N,
 * for dedicated stacks (carved from shared regions: no mapping each) and for copy-stack mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "calcifer.h"
#include "async/fiber.h"

#define RUNS 5

/*
 * The thread's CPU time: on a machine shared with other work, time the thread spends
 * descheduled would otherwise land in whichever run it interrupts (the loops are pure CPU).
 */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void print_line(const char *name, double ours, double peer)
{
    if (peer > 0)
        printf("%-28s %12.1f %12.1f %8.1fx\n", name, ours, peer, peer / ours);
    else
        printf("%-28s %12.1f %12s %8s\n", name, ours, "-", "-");
}

/* ---- switch round trips ---- */

static volatile int stop_spinning;

static void spin_body(void *arg)
{
    (void)arg;
    while (!stop_spinning)
        cf__fiber_yield();
}

/* Resume + yield of one fiber, `rounds` times; ns per round trip. */
static double fiber_roundtrip(const cf__fiber_opts *opts, long rounds, int pair)
{
    cf__fiber *f[5];
    int n = pair ? 5 : 1;
    stop_spinning = 0;
    for (int i = 0; i < n; i++) {
        if (cf__fiber_new(&f[i], spin_body, NULL, opts) != 0) {
            fprintf(stderr, "bench_switch: cf__fiber_new failed\n");
            exit(1);
        }
    }
    /* With `pair`, fibers 0 and 4 share a run stack (four per thread, round robin). */
    cf__fiber *a = f[0];
    cf__fiber *b = pair ? f[4] : f[0];
    double t0 = now_ns();
    for (long i = 0; i < rounds; i += 2) {
        cf__fiber_resume(a);
        cf__fiber_resume(b);
    }
    double t1 = now_ns();
    stop_spinning = 1;
    for (int i = 0; i < n; i++) {
        cf__fiber_resume(f[i]);
        cf__fiber_free(f[i]);
    }
    return (t1 - t0) / (double)rounds;
}

static ucontext_t uc_main;
static ucontext_t uc_fiber;

static void uc_body(void)
{
    for (;;)
        swapcontext(&uc_fiber, &uc_main);
}

static double ucontext_roundtrip(long rounds)
{
    static char stack[64 * 1024];
    getcontext(&uc_fiber);
    uc_fiber.uc_stack.ss_sp = stack;
    uc_fiber.uc_stack.ss_size = sizeof stack;
    uc_fiber.uc_link = NULL;
    makecontext(&uc_fiber, uc_body, 0);
    double t0 = now_ns();
    for (long i = 0; i < rounds; i++)
        swapcontext(&uc_main, &uc_fiber);
    double t1 = now_ns();
    return (t1 - t0) / (double)rounds;
}

/* ---- memory per suspended fiber ---- */

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0;
    long resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * 4096L;
}

/* What a pending async function holds: a few locals, then one await. */
static void pending_body(void *arg)
{
    volatile long local[4];
    long *slot = arg;
    for (int i = 0; i < 4; i++)
        local[i] = *slot + i;
    cf__fiber_yield();
    *slot = local[0] + local[3];
}

static double bytes_per_fiber(const cf__fiber_opts *opts, long n)
{
    cf__fiber **f = calloc((size_t)n, sizeof *f);
    long *slots = calloc((size_t)n, sizeof *slots);
    if (!f || !slots)
        exit(1);
    /* Warm the allocator and the run stacks, so only per-fiber memory is counted. */
    cf__fiber_pool_trim();
    long before = rss_bytes();
    for (long i = 0; i < n; i++) {
        slots[i] = i;
        if (cf__fiber_new(&f[i], pending_body, &slots[i], opts) != 0) {
            fprintf(stderr, "bench_switch: cf__fiber_new failed at %ld\n", i);
            exit(1);
        }
        cf__fiber_resume(f[i]);
    }
    long after = rss_bytes();
    for (long i = 0; i < n; i++) {
        cf__fiber_resume(f[i]);
        cf__fiber_free(f[i]);
    }
    cf__fiber_pool_trim();
    free(f);
    free(slots);
    return (double)(after - before) / (double)n;
}

/* Node's resident bytes per pending async function, or 0 when node is not available. */
static double node_bytes_per_pending(long n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "node --expose-gc -e '"
             "const N=%ld;let release;const gate=new Promise(r=>release=r);"
             "async function f(i){const x=i;await gate;return x;}"
             "gc();const before=process.memoryUsage().rss;const ps=new Array(N);"
             "for(let i=0;i<N;i++)ps[i]=f(i);gc();"
             "const after=process.memoryUsage().rss;console.log((after-before)/N);release();"
             "' 2>/dev/null",
             n);
    FILE *p = popen(cmd, "r");
    double v = 0;
    if (!p)
        return 0;
    if (fscanf(p, "%lf", &v) != 1)
        v = 0;
    pclose(p);
    return v;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 10000000;
    if (rounds < 2)
        rounds = 2;
    cf__fiber_opts dedicated = {0, 0};
    cf__fiber_opts copying = {0, 1};
    double t[RUNS];

    printf("%-28s %12s %12s %8s\n", "name", "calcifer", "peer", "ratio");
    for (int r = 0; r < RUNS; r++)
        t[r] = ucontext_roundtrip(rounds / 10);
    double uc = median(t, RUNS);
    for (int r = 0; r < RUNS; r++)
        t[r] = fiber_roundtrip(&dedicated, rounds, 0);
    print_line("switch_roundtrip_ns", median(t, RUNS), uc);
    for (int r = 0; r < RUNS; r++)
        t[r] = fiber_roundtrip(&copying, rounds, 0);
    print_line("switch_roundtrip_copy_ns", median(t, RUNS), uc);
    for (int r = 0; r < RUNS; r++)
        t[r] = fiber_roundtrip(&copying, rounds / 10, 1);
    print_line("switch_roundtrip_copying_ns", median(t, RUNS), uc);

    long n = 100000;
    double node = node_bytes_per_pending(n);
    long nd = n;
    char name[64];
    snprintf(name, sizeof name, "bytes_per_fiber_stack_%ldk", nd / 1000);
    print_line(name, bytes_per_fiber(&dedicated, nd), node);
    snprintf(name, sizeof name, "bytes_per_fiber_copy_%ldk", n / 1000);
    print_line(name, bytes_per_fiber(&copying, n), node);
    return 0;
}
