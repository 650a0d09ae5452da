/*
 * File copy through a stream pipeline: cf_stream_fs_read_new piped into
 * cf_stream_fs_write_new by cf_stream_pipeline, against Node's stream.pipeline of
 * fs.createReadStream into fs.createWriteStream, and against `cat SRC > DST`, on the same
 * file in the same run.
 *
 *     bench_stream [-r REPEAT] [-s MIB] [-c CHUNK_KIB]
 *     bench_stream -w CHUNK_BYTES [-r REPEAT] [-s MIB]
 *
 * The file (MIB mebibytes, default 1024, in $TMPDIR or /tmp) is written first and read once,
 * so every side reads from the page cache; each side writes its copy to a file of its own,
 * removed after. The Calcifer side reads chunks of CHUNK_KIB KiB (default 64, Node's
 * default for file streams). Prints `name calcifer peer ratio` with the median seconds of
 * REPEAT runs (default 3), ratio = peer / calcifer (above 1: Calcifer is faster), then the
 * rates in MiB/s as a comment line. Node is found through $NODE (default /usr/bin/node).
 *
 * With -w, the plain write stream alone: MIB mebibytes written to a new file through
 * cf_stream_fs_write_new in chunks of CHUNK_BYTES (cf_stream_write, waiting for the drain when
 * it says full), against Node's fs.createWriteStream fed the same way
 * (bench/peers/stream_write.js). Small chunks measure the batching of queued writes (one
 * writev(2) per batch, ≈ Node's _writev).
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

#define MAX_REPEAT 15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_done(cf_stream *last, int status, const cf_error *err, void *data)
{
    (void)last;
    if (status < 0)
        fprintf(stderr, "bench_stream: %s\n", cf_error_message(err));
    *(int *)data = status < 0 ? -1 : 1;
}

static double cf_copy(const char *src, const char *dst, size_t chunk)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) < 0)
        return -1;
    cf_stream *st[2];
    int result = 0;
    double t0 = now_s();
    if (cf_stream_fs_read_new(loop, src, chunk, &st[0]) < 0 ||
        cf_stream_fs_write_new(loop, dst, 0, 0, &st[1]) < 0 ||
        cf_stream_pipeline(st, 2, NULL, on_done, &result) < 0 || cf_run(loop, CF_RUN_DEFAULT) < 0)
        result = -1;
    double t = now_s() - t0;
    cf_stream_close(st[0], NULL, NULL);
    cf_stream_close(st[1], NULL, NULL);
    cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return result == 1 ? t : -1;
}

/* ---- -w: small writes into a plain write stream ---- */

typedef struct wproducer {
    cf_stream *w;
    size_t total;
    size_t sent;
    size_t chunk;
    char *buf;
} wproducer;

static void wproduce(wproducer *p)
{
    while (p->sent < p->total) {
        size_t n = p->total - p->sent < p->chunk ? p->total - p->sent : p->chunk;
        memset(p->buf, 'a' + (int)(p->sent % 26), n);
        int rc = cf_stream_write(p->w, p->buf, n);
        p->sent += n;
        if (rc != 0)
            return; /* full: the drain goes on; failed: the pipeline's error says why */
    }
    cf_stream_end(p->w);
}

static void on_drain(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    (void)ev;
    (void)err;
    wproduce(data);
}

static double cf_write(const char *dst, size_t total, size_t chunk)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) < 0)
        return -1;
    wproducer p = {.total = total, .chunk = chunk, .buf = malloc(chunk)};
    int result = 0;
    double t0 = now_s();
    if (!p.buf || cf_stream_fs_write_new(loop, dst, 0, 0, &p.w) < 0 ||
        cf_stream_on(p.w, CF_STREAM_EV_DRAIN, on_drain, &p) < 0 ||
        cf_stream_finished(p.w, NULL, on_done, &result) < 0)
        result = -1;
    if (result == 0) {
        wproduce(&p);
        cf_run(loop, CF_RUN_DEFAULT);
    }
    double t = now_s() - t0;
    if (p.w)
        cf_stream_close(p.w, NULL, NULL);
    cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    free(p.buf);
    return result == 1 ? t : -1;
}

static double node_write(const char *dst, size_t mib, size_t chunk, int repeat)
{
    const char *node = getenv("NODE");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "'%s' '%s/stream_write.js' '%s' %zu %zu %d",
             node && *node ? node : "/usr/bin/node", CF_BENCH_PEERS_DIR, dst, mib, chunk, repeat);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    double t = -1;
    if (fscanf(f, "%lf", &t) != 1)
        t = -1;
    pclose(f);
    return t;
}

static double median(double *t, int n);

static int bench_writes(const char *dst, size_t mib, size_t chunk, int repeat)
{
    double tc[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        tc[i] = cf_write(dst, mib << 20, chunk);
        unlink(dst);
    }
    double c = median(tc, repeat);
    double p = node_write(dst, mib, chunk, repeat);
    unlink(dst);
    char name[64];
    printf("%-32s %10s %10s %8s\n", "# name", "calcifer", "peer", "ratio");
    snprintf(name, sizeof name, "stream_write_%zuMiB_%zuB_vs_node", mib, chunk);
    printf("%-32s %10.4f %10.4f %8.2f\n", name, c, p, c > 0 && p > 0 ? p / c : 0.0);
    printf("# stream write MiB/s: calcifer %.0f, node %.0f (chunks of %zu bytes)\n",
           c > 0 ? (double)mib / c : 0.0, p > 0 ? (double)mib / p : 0.0, chunk);
    return c < 0 ? 1 : 0;
}

static double cat_copy(const char *src, const char *dst)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cat '%s' > '%s'", src, dst);
    double t0 = now_s();
    int rc = system(cmd);
    double t = now_s() - t0;
    return rc == 0 ? t : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[n / 2];
}

static double node_copy(const char *src, const char *dst, int repeat)
{
    const char *node = getenv("NODE");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "'%s' '%s/stream_copy.js' '%s' '%s' %d",
             node && *node ? node : "/usr/bin/node", CF_BENCH_PEERS_DIR, src, dst, repeat);
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
    if (!chunk) {
        fclose(f);
        return -1;
    }
    for (size_t i = 0; i < (1 << 20); i++)
        chunk[i] = (char)('a' + i % 26);
    int rc = 0;
    for (size_t i = 0; i < mib && rc == 0; i++)
        rc = fwrite(chunk, 1, 1 << 20, f) == (1 << 20) ? 0 : -1;
    free(chunk);
    return fclose(f) == 0 ? rc : -1;
}

int main(int argc, char **argv)
{
    int repeat = 3;
    size_t mib = 1024;
    size_t chunk_kib = 64;
    size_t write_chunk = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-r") == 0)
            repeat = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0)
            mib = (size_t)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-c") == 0)
            chunk_kib = (size_t)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-w") == 0)
            write_chunk = (size_t)strtol(argv[i + 1], NULL, 10);
    }
    repeat = repeat < 1 ? 1 : (repeat > MAX_REPEAT ? MAX_REPEAT : repeat);
    const char *tmp = getenv("TMPDIR");
    char src[4096];
    char dst[4200];
    snprintf(src, sizeof src, "%s/cf-bench-stream-%d.bin", tmp ? tmp : "/tmp", (int)getpid());
    snprintf(dst, sizeof dst, "%s.copy", src);
    if (write_chunk)
        return bench_writes(dst, mib, write_chunk, repeat);
    if (make_file(src, mib) < 0) {
        fprintf(stderr, "bench_stream: cannot write %s\n", src);
        return 1;
    }
    cat_copy(src, "/dev/null"); /* into the page cache */
    double tc[MAX_REPEAT];
    double tk[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        tc[i] = cf_copy(src, dst, chunk_kib * 1024);
        unlink(dst);
        tk[i] = cat_copy(src, dst);
        unlink(dst);
    }
    double c = median(tc, repeat);
    double k = median(tk, repeat);
    double p = node_copy(src, dst, repeat);
    unlink(dst);
    unlink(src);
    char name[64];
    printf("%-32s %10s %10s %8s\n", "# name", "calcifer", "peer", "ratio");
    snprintf(name, sizeof name, "stream_copy_%zuMiB_vs_node", mib);
    printf("%-32s %10.4f %10.4f %8.2f\n", name, c, p, c > 0 && p > 0 ? p / c : 0.0);
    snprintf(name, sizeof name, "stream_copy_%zuMiB_vs_cat", mib);
    printf("%-32s %10.4f %10.4f %8.2f\n", name, c, k, c > 0 && k > 0 ? k / c : 0.0);
    printf("# stream copy MiB/s: calcifer %.0f, node %.0f, cat %.0f (chunks of %zu KiB)\n",
           (double)mib / c, p > 0 ? (double)mib / p : 0.0, k > 0 ? (double)mib / k : 0.0,
           chunk_kib);
    return c < 0 ? 1 : 0;
}
