/*
 * File read throughput: a whole large file read with cf_fs_read_file (on the pool), against
 * Node's fs.promises.readFile on the same file, in the same run.
 *
 *     bench_fs [-r REPEAT] [-s MIB]
 *
 * The file (MIB mebibytes, default 256, in $TMPDIR or /tmp) is written first and read once
 * so both sides read from the page cache. Each side reads it 4 times in a row; prints
 * `name calcifer peer ratio` with the median seconds of REPEAT runs (default 3), ratio =
 * peer / calcifer, then the rates in MiB/s as a comment line.
 * Node is found through $NODE (default /usr/bin/node), its script in CF_BENCH_PEERS_DIR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer.h"

#ifndef CF_BENCH_PEERS_DIR
#define CF_BENCH_PEERS_DIR "bench/peers"
#endif

#define READS      4
#define MAX_REPEAT 15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct reader {
    cf_loop *loop;
    const char *path;
    int left;
    size_t size;
    int failed;
} reader;

static void on_read(int status, const cf_error *err, const char *bytes, size_t len, void *data)
{
    (void)bytes;
    reader *r = data;
    if (status < 0 || len != r->size) {
        fprintf(stderr, "bench_fs: %s\n", err ? err->message : "short read");
        r->failed = 1;
        return;
    }
    if (--r->left > 0 && cf_fs_read_file(r->loop, r->path, NULL, on_read, r) < 0)
        r->failed = 1;
}

static double cf_reads(const char *path, size_t size)
{
    reader r = {NULL, path, READS, size, 0};
    if (cf_loop_new(&r.loop) < 0)
        return -1;
    double t0 = now_s();
    if (cf_fs_read_file(r.loop, path, NULL, on_read, &r) < 0 || cf_run(r.loop, CF_RUN_DEFAULT) < 0)
        r.failed = 1;
    double t = now_s() - t0;
    cf_loop_close(r.loop);
    return r.failed ? -1 : t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double node_reads(const char *path, int repeat)
{
    const char *node = getenv("NODE");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "'%s' '%s/readfile.js' '%s' %d %d",
             node && *node ? node : "/usr/bin/node", CF_BENCH_PEERS_DIR, path, READS, repeat);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    double t = -1;
    if (fscanf(f, "%lf", &t) != 1)
        t = -1;
    pclose(f);
    return t;
}

static int make_file(const char *path, size_t mib)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    char *chunk = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++) {
        chunk[i] = (char)('a' + i % 26);
    }
    int rc = 0;
    for (size_t i = 0; i < mib && rc == 0; i++) {
        rc = fwrite(chunk, 1, 1 << 20, f) == (1 << 20) ? 0 : -1;
    }
    free(chunk);
    return fclose(f) == 0 ? rc : -1;
}

int main(int argc, char **argv)
{
    int repeat = 3;
    size_t mib = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-r") == 0)
            repeat = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0)
            mib = (size_t)strtol(argv[i + 1], NULL, 10);
    }
    repeat = repeat < 1 ? 1 : (repeat > MAX_REPEAT ? MAX_REPEAT : repeat);
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/cf-bench-fs-%d.bin", tmp ? tmp : "/tmp", (int)getpid());
    if (make_file(path, mib) < 0) {
        fprintf(stderr, "bench_fs: cannot write %s\n", path);
        return 1;
    }
    size_t size = mib << 20;
    cf_reads(path, size); /* warm the page cache */
    double t[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        t[i] = cf_reads(path, size);
    }
    qsort(t, (size_t)repeat, sizeof t[0], cmp_double);
    double c = t[repeat / 2];
    double p = node_reads(path, repeat);
    unlink(path);
    char name[64];
    snprintf(name, sizeof name, "fs_read_file_%zuMiBx%d", mib, READS);
    printf("%-28s %10s %10s %8s\n", "# name", "calcifer", "peer", "ratio");
    printf("%-28s %10.4f %10.4f %8.2f\n", name, c, p, c > 0 && p > 0 ? p / c : 0.0);
    printf("# fs_read_file MiB/s: calcifer %.0f, node %.0f\n", (double)(mib * READS) / c,
           p > 0 ? (double)(mib * READS) / p : 0.0);
    return c < 0 ? 1 : 0;
}
