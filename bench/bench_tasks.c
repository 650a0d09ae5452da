/*
 * A million sleeping tasks with default settings, Calcifer against Node in one run.
 *
 *   bench_tasks [TASKS] [RUNS]     (1,000,000 tasks and 3 runs by default)
 *
 * Each run starts TASKS tasks, task i sleeping 10 + i % 41 ms (cf_sleep; no options, no
 * cf_task_set_defaults), and runs the loop until all have finished; the Node peer is
 * bench/peers/tasks_sleep.js (async functions awaiting setTimeout from timers/promises).
 * Every run is a fresh child process (this program re-run with `--child TASKS`), so each
 * starts from the same memory. Prints `name calcifer peer ratio` (ratio = peer / calcifer,
 * above 1: Calcifer is faster or smaller), medians over the runs, then each run's figures:
 *
 *   tasks_<n>_wall_ms     from the first start to the last task's end
 *   tasks_<n>_B           resident bytes gained per suspended task, once all are suspended
 *   tasks_<n>_peak_MiB    the process's peak resident memory (VmHWM; Node: maxRSS)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/task.h"

#include "bench_util.h"

#define MAX_RUNS 9

static long done_count;

/* VmHWM from /proc/self/status, in bytes. */
static long peak_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb * 1024;
}

static int sleeper(cf_task *task, void *arg)
{
    long i = (long)(intptr_t)arg;
    if (cf_sleep(cf_task_loop(task), 10 + (uint64_t)(i % 41)).status == 0)
        done_count++;
    return 0;
}

/* One run; prints `bytes B`, `wall MS` and `peak B` as the Node peer does. */
static int child(long n)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    long before = rss_bytes();
    double start = now_ms();
    for (long i = 0; i < n; i++)
        cf_promise_release(cf_async(loop, sleeper, (void *)(intptr_t)i));
    long after = rss_bytes();
    cf_run(loop, CF_RUN_DEFAULT);
    double ms = now_ms() - start;
    int rc = cf_loop_close(loop);
    if (done_count != n) {
        fprintf(stderr, "bench_tasks: %ld of %ld tasks finished\n", done_count, n);
        return 1;
    }
    printf("bytes %.1f\nwall %.3f\npeak %ld\n", (double)(after - before) / (double)n, ms,
           peak_bytes());
    return rc == 0 ? 0 : 1;
}

/* Run `cmd`; store the value of each `name value` line it prints (bytes, wall, peak). */
static int read_run(const char *cmd, double out[3])
{
    static const char *const names[] = {"bytes", "wall", "peak"};
    out[0] = out[1] = out[2] = 0;
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    char name[32];
    double v;
    while (fscanf(f, "%31s %lf", name, &v) == 2) {
        for (int i = 0; i < 3; i++) {
            if (strcmp(name, names[i]) == 0)
                out[i] = v;
        }
    }
    return pclose(f) == 0 && out[1] > 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return s[n / 2];
}

static void line(const char *name, double ours, double peer)
{
    if (peer > 0)
        printf("%-28s %12.1f %12.1f %7.2fx\n", name, ours, peer, peer / ours);
    else
        printf("%-28s %12.1f %12s %8s\n", name, ours, "-", "-");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child(strtol(argv[2], NULL, 10));
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    if (n <= 0)
        n = 1000000;
    if (runs < 1 || runs > MAX_RUNS)
        runs = 3;
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = '\0';
    const char *node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "node";
    double mine[3][MAX_RUNS];
    double peer[3][MAX_RUNS];
    char cmd[8192];
    for (int r = 0; r < runs; r++) {
        double v[3];
        snprintf(cmd, sizeof cmd, "%s --child %ld", self, n);
        if (read_run(cmd, v) != 0) {
            fprintf(stderr, "bench_tasks: the Calcifer run failed\n");
            return 1;
        }
        for (int k = 0; k < 3; k++)
            mine[k][r] = v[k];
        snprintf(cmd, sizeof cmd,
                 "%s --expose-gc --max-old-space-size=8192 %s/peers/tasks_sleep.js %ld 2>/dev/null",
                 node, bench_dir(), n);
        (void)read_run(cmd, v);
        for (int k = 0; k < 3; k++)
            peer[k][r] = v[k];
    }
    char name[64];
    printf("%-28s %12s %12s %8s\n", "name", "calcifer", "node", "ratio");
    snprintf(name, sizeof name, "tasks_%ldk_wall_ms", n / 1000);
    line(name, median(mine[1], runs), median(peer[1], runs));
    snprintf(name, sizeof name, "tasks_%ldk_B", n / 1000);
    line(name, median(mine[0], runs), median(peer[0], runs));
    snprintf(name, sizeof name, "tasks_%ldk_peak_MiB", n / 1000);
    line(name, median(mine[2], runs) / 1048576.0, median(peer[2], runs) / 1048576.0);
    for (int r = 0; r < runs; r++) {
        printf("# run %d: calcifer %.0f ms %.0f B %.0f MiB; node %.0f ms %.0f B %.0f MiB\n", r + 1,
               mine[1][r], mine[0][r], mine[2][r] / 1048576.0, peer[1][r], peer[0][r],
               peer[2][r] / 1048576.0);
    }
    return 0;
}
