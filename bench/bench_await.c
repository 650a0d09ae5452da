/*
 * async/await: awaits per second, and many sleeping tasks, Calcifer against Node in one run.
 *
 *   bench_await [N] [TASKS]     (N awaits, 1,000,000 by default; TASKS sleeping tasks,
 *                                100,000 by default)
 *   bench_await --plain [--metrics] [--only WORD] [N]
 *
 * --plain runs Calcifer's await workloads only (N awaits, 200,000 by default), each once,
 * and prints `name ms` for each: small enough to count instructions under callgrind, which
 * bench/bench_observe.sh does. --metrics turns the loop's timed metrics on
 * (cf_loop_metrics_enable) first; --only runs the workloads whose name contains WORD.
 *
 * Prints `name calcifer peer ratio`; ratio above 1 means Calcifer is better (rates:
 * calcifer / peer; times and bytes: peer / calcifer). Await rates are millions per second,
 * best of three runs each. The peers are bench/peers/await.js and bench/peers/tasks_sleep.js,
 * run with /usr/bin/node (or `node` on the PATH).
 *
 *   await_settled_Mps   N awaits of one fulfilled promise in one task
 *   await_fresh_Mps     N awaits of a new cf_promise_resolved each
 *   await_null_Mps      N cf_await_null (≈ await null)
 *   await_pair_Mps      two tasks awaiting a fulfilled promise N/2 times each in lock-step:
 *                       no fast path there, every await suspends and resumes the task
 *   sleep_<mode>_<n>_ms      wall time of TASKS tasks, task i sleeping 10 + i % 41 ms
 *   sleep_<mode>_<n>_B       resident bytes per suspended task, once all are suspended
 *
 * The sleep runs happen in child processes (this program re-run with `--sleep MODE COUNT`)
 * so that each one's resident memory starts from the same state. Dedicated stacks are
 * measured with at most 30,000 tasks: each stack is two memory mappings, and
 * vm.max_map_count (65530 by default) caps them at about 32,000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/task.h"
#include "calcifer/loop.h"
#include "calcifer/metrics.h"
#include "calcifer/promise.h"

#include "bench_util.h"

#define RUNS 3

static long n_awaits = 1000000;
static long n_tasks = 100000;
static long count;

/* ---- awaits ---- */

static int await_settled(cf_task *task, void *arg)
{
    (void)arg;
    cf_promise *p = cf_promise_resolved(cf_task_loop(task), (void *)1, NULL);
    for (long i = 0; i < n_awaits; i++) {
        cf_result r = cf_await(cf_promise_retain(p));
        if (r.status < 0)
            break;
        count += (long)(intptr_t)r.value;
    }
    cf_promise_release(p);
    return 0;
}

static int await_fresh(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    for (long i = 0; i < n_awaits; i++) {
        cf_result r = cf_await(cf_promise_resolved(loop, (void *)1, NULL));
        if (r.status < 0)
            break;
        count += (long)(intptr_t)r.value;
    }
    return 0;
}

static int await_null(cf_task *task, void *arg)
{
    (void)task;
    (void)arg;
    for (long i = 0; i < n_awaits; i++) {
        if (cf_await_null().status < 0)
            break;
        count++;
    }
    return 0;
}

static int await_half(cf_task *task, void *arg)
{
    (void)task;
    cf_promise *p = arg;
    for (long i = 0; i < n_awaits / 2; i++) {
        cf_result r = cf_await(cf_promise_retain(p));
        if (r.status < 0)
            break;
        count += (long)(intptr_t)r.value;
    }
    return 0;
}

static double run_tasks(cf_loop *loop, cf_async_fn fn, int pair)
{
    count = 0;
    double start = now_ms();
    if (pair) {
        cf_promise *p = cf_promise_resolved(loop, (void *)1, NULL);
        cf_promise_release(cf_async(loop, fn, p));
        cf_promise_release(cf_async(loop, fn, p));
        cf_promise_release(p);
    } else {
        cf_promise_release(cf_async(loop, fn, NULL));
    }
    cf_run(loop, CF_RUN_DEFAULT);
    double ms = now_ms() - start;
    return count == n_awaits ? ms : -1;
}

static double best_of(cf_loop *loop, cf_async_fn fn, int pair)
{
    double best = 0;
    for (int i = 0; i < RUNS; i++) {
        double ms = run_tasks(loop, fn, pair);
        if (ms < 0) {
            fprintf(stderr, "bench_await: wrong await count\n");
            exit(1);
        }
        if (i == 0 || ms < best)
            best = ms;
    }
    return best;
}

/* ---- sleeping tasks (child process) ---- */

static long sleepers_done;

static int sleeper(cf_task *task, void *arg)
{
    long i = (long)(intptr_t)arg;
    if (cf_sleep(cf_task_loop(task), 10 + (uint64_t)(i % 41)).status == 0)
        sleepers_done++;
    return 0;
}

/* Prints `bytes B` and `wall MS` as the Node peer does. */
static int sleep_child(const char *mode, long n)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_task_opts opts = {.stack = strcmp(mode, "copy") == 0 ? CF_STACK_COPY : CF_STACK_DEDICATED};
    cf_task_set_defaults(loop, &opts);
    /* Warm up: the loop's queues, the timer lists, a run stack. */
    for (long i = 0; i < 64; i++) {
        cf_promise_release(cf_async(loop, sleeper, (void *)(intptr_t)i));
    }
    cf_run(loop, CF_RUN_DEFAULT);
    sleepers_done = 0;
    long before = rss_bytes();
    double start = now_ms();
    for (long i = 0; i < n; i++) {
        cf_promise_release(cf_async(loop, sleeper, (void *)(intptr_t)i));
    }
    long after = rss_bytes();
    cf_run(loop, CF_RUN_DEFAULT);
    double ms = now_ms() - start;
    int rc = cf_loop_close(loop);
    if (sleepers_done != n) {
        fprintf(stderr, "bench_await: %ld of %ld sleepers finished\n", sleepers_done, n);
        return 1;
    }
    printf("bytes %.1f\nwall %.3f\n", (double)(after - before) / (double)n, ms);
    return rc == 0 ? 0 : 1;
}

/* ---- peers ---- */

/* Run `cmd` and store the value of each `name value` line it prints in `values`. */
static void read_pairs(const char *cmd, const char *const *names, double *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        values[i] = 0;
    }
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char name[32];
    double v;
    while (fscanf(f, "%31s %lf", name, &v) == 2) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(name, names[i]) == 0)
                values[i] = v;
        }
    }
    pclose(f);
}

static const char *node_path(void)
{
    return access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "node";
}

static void print_rate(const char *name, double ms, double peer_ms)
{
    double rate = (double)n_awaits / ms / 1e3;
    if (peer_ms <= 0) {
        printf("%-26s %10.2f %10s %8s\n", name, rate, "-", "-");
        return;
    }
    double peer = (double)n_awaits / peer_ms / 1e3;
    printf("%-26s %10.2f %10.2f %7.2fx\n", name, rate, peer, rate / peer);
}

/* A line where smaller is better: ratio = peer / calcifer. */
static void print_cost(const char *name, double v, double peer)
{
    if (peer <= 0) {
        printf("%-26s %10.1f %10s %8s\n", name, v, "-", "-");
        return;
    }
    printf("%-26s %10.1f %10.1f %7.2fx\n", name, v, peer, peer / v);
}

static void sleep_lines(const char *self, const char *mode, long n)
{
    static const char *const names[] = {"bytes", "wall"};
    double mine[2];
    double node[2];
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s --sleep %s %ld", self, mode, n);
    read_pairs(cmd, names, mine, 2);
    snprintf(cmd, sizeof cmd, "%s --expose-gc %s/peers/tasks_sleep.js %ld 2>/dev/null", node_path(),
             bench_dir(), n);
    read_pairs(cmd, names, node, 2);
    char name[64];
    snprintf(name, sizeof name, "sleep_%s_%ldk_ms", mode, n / 1000);
    print_cost(name, mine[1], node[1]);
    snprintf(name, sizeof name, "sleep_%s_%ldk_B", mode, n / 1000);
    print_cost(name, mine[0], node[0]);
}

/* ---- --plain: Calcifer's awaits alone, once each ---- */

static const struct {
    const char *name;
    cf_async_fn fn;
    int pair;
} plain_workloads[] = {
    {"await_settled", await_settled, 0},
    {"await_fresh", await_fresh, 0},
    {"await_null", await_null, 0},
    {"await_pair", await_half, 1},
};

static int plain_main(int argc, char **argv)
{
    int metrics = 0;
    const char *only = "";
    n_awaits = 200000;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--metrics") == 0) {
            metrics = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if ((n_awaits = strtol(argv[i], NULL, 10)) <= 0) {
            fprintf(stderr, "usage: bench_await --plain [--metrics] [--only WORD] [N]\n");
            return 2;
        }
    }
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    if (metrics && cf_loop_metrics_enable(loop, 1) != 0) {
        fprintf(stderr, "bench_await: cannot turn the timed metrics on\n");
        cf_loop_close(loop);
        return 1;
    }
    int rc = 0;
    for (size_t w = 0; w < sizeof plain_workloads / sizeof plain_workloads[0]; w++) {
        if (!strstr(plain_workloads[w].name, only))
            continue;
        double ms = run_tasks(loop, plain_workloads[w].fn, plain_workloads[w].pair);
        if (ms < 0) {
            fprintf(stderr, "bench_await: wrong await count in %s\n", plain_workloads[w].name);
            rc = 1;
        }
        printf("%-26s %10.3f\n", plain_workloads[w].name, ms);
    }
    return cf_loop_close(loop) == 0 ? rc : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--sleep") == 0)
        return sleep_child(argv[2], strtol(argv[3], NULL, 10));
    if (argc > 1 && strcmp(argv[1], "--plain") == 0)
        return plain_main(argc, argv);
    if (argc > 1)
        n_awaits = strtol(argv[1], NULL, 10);
    if (argc > 2)
        n_tasks = strtol(argv[2], NULL, 10);
    if (n_awaits <= 0)
        n_awaits = 1000000;
    if (n_tasks <= 0)
        n_tasks = 100000;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    double settled = best_of(loop, await_settled, 0);
    double fresh = best_of(loop, await_fresh, 0);
    double nul = best_of(loop, await_null, 0);
    double pair = best_of(loop, await_half, 1);
    int rc = cf_loop_close(loop);

    static const char *const names[] = {"settled", "fresh", "null", "pair"};
    double node[4];
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/peers/await.js %ld 2>/dev/null", node_path(), bench_dir(),
             n_awaits);
    read_pairs(cmd, names, node, 4);
    printf("%-26s %10s %10s %8s\n", "name", "calcifer", "node", "ratio");
    print_rate("await_settled_Mps", settled, node[0]);
    print_rate("await_fresh_Mps", fresh, node[1]);
    print_rate("await_null_Mps", nul, node[2]);
    print_rate("await_pair_Mps", pair, node[3]);
    fflush(stdout);

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = '\0';
    sleep_lines(self, "copy", n_tasks);
    sleep_lines(self, "dedicated", n_tasks < 30000 ? n_tasks : 30000);
    return rc == 0 ? 0 : 1;
}
