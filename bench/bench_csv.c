/*
 * JSON array → CSV with chosen columns: Calcifer's streaming converter (cf_csv_json: the push
 * parser, one row written as soon as each element is complete) against Node.js (JSON.parse
 * plus building the CSV string, bench/peers/json_to_csv.js) and jq (`.[] | [...] | @csv`).
 * The `select_write` line is the other streaming path: cf_json_select builds each element as
 * a DOM value and cf_csv_write_json_record writes it. The `stream_pipeline` lines run the
 * stream pipeline cf_stream_fs_read_new → cf_stream_json_elements_new → cf_stream_csv_new →
 * cf_stream_fs_write_new (plain, or CF_STREAM_FS_ATOMIC) on the same input, with cf_csv_json
 * writing to the same place as the peer (ratio = pipeline / converter); in the atomic case
 * the converter commits its file as the atomic stream does (a temporary file, fsync, rename,
 * fsync of the directory), so that both give the same guarantee. The two sides run
 * alternately, and each side's figure is its best run (see best_pairs).
 *
 *   bench_csv [--runs N | -r N] [--no-1gb] [--columns title,release_date] [--stream-only]
 *
 * Inputs are made once by bench/gen_films.py in $CF_BENCH_DATA (default
 * $TMPDIR/calcifer-bench): 200,000 film-like objects (~250 MB), a 100 MB file and a 1 GB
 * file. Every side runs as a process of its own, reads the file, converts, and writes the CSV
 * to /dev/null; its peak resident memory is the ru_maxrss that wait4 reports. MB/s is input
 * bytes (10^6) per second, the median of N runs (default 3): Calcifer and Node time
 * themselves (start-up excluded), jq is timed around its process. Prints
 * `name calcifer peer ratio`, where ratio above 1 means Calcifer is faster or smaller. Node
 * and jq are not run on 1 GB: V8 cannot hold a string that long, and jq keeps the whole
 * document in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calcifer.h"

extern char **environ;

#define MAX_RUNS 9

typedef struct result {
    double seconds; /* conversion time */
    double rss_mib; /* peak resident memory of the process */
    long long out_bytes;
    int ok;
} result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- the Calcifer side, run as `bench_csv --convert FILE COLUMNS` ---- */

typedef struct out_file {
    FILE *f;
    long long bytes;
} out_file;

static int to_file(const char *p, size_t len, void *ctx)
{
    out_file *o = ctx;
    o->bytes += (long long)len;
    return fwrite(p, 1, len, o->f) == len ? 0 : CF_EIO;
}

/* One conversion: through cf_csv_json, or through cf_json_select and the writer. */
typedef struct job {
    cf_csv_writer w;
    cf_csv_json *conv;
    cf_json_select *sel;
    const char *cols[64];
    size_t n;
} job;

static int on_element(cf_json *item, size_t index, void *data)
{
    job *j = data;
    (void)index;
    return cf_csv_write_json_record(&j->w, item, j->cols, j->n);
}

static int job_start(job *j, int selector)
{
    if (!selector)
        return cf_csv_json_new(&j->conv, &j->w, NULL, j->cols, j->n, 1, NULL);
    int rc = cf_csv_write_json_header(&j->w, j->cols, j->n);
    return rc ? rc : cf_json_select_new(&j->sel, NULL, NULL, on_element, j);
}

static int job_feed(job *j, const char *p, size_t len)
{
    return j->sel ? cf_json_select_feed(j->sel, p, len) : cf_csv_json_feed(j->conv, p, len);
}

static int job_finish(job *j)
{
    if (!j->sel)
        return cf_csv_json_finish(j->conv);
    int rc = cf_json_select_finish(j->sel);
    return rc ? rc : cf_csv_writer_flush(&j->w);
}

/*
 * The commit an atomic file needs, done by hand for the direct converter so that it is
 * compared with the atomic stream on equal terms: the data on disk (fsync), the name moved
 * over the destination (rename), the directory entry on disk (fsync of the directory), as
 * cf_fs_writer_commit does.
 */
static int commit_by_hand(FILE *out, const char *tmp, const char *dest)
{
    if (fflush(out) != 0 || fsync(fileno(out)) != 0 || rename(tmp, dest) != 0)
        return -1;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dest);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
    if (dfd >= 0)
        close(dfd);
    return rc;
}

static int convert(const char *path, char *columns, int selector, const char *dest, int atomic)
{
    static job j;
    for (char *save = NULL, *c = strtok_r(columns, ",", &save); c && j.n < 64;
         c = strtok_r(NULL, ",", &save))
        j.cols[j.n++] = c;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.convert-tmp", dest);
    FILE *out = fopen(atomic ? tmp : dest, "wb");
    int fd = open(path, O_RDONLY);
    static char buf[1 << 20];
    static char outbuf[1 << 20];
    if (!out || fd < 0 || setvbuf(out, outbuf, _IOFBF, sizeof outbuf) != 0)
        return 1;
    double start = now_s();
    out_file o = {out, 0};
    int rc = cf_csv_writer_init(&j.w, 0, to_file, &o);
    if (!rc)
        rc = job_start(&j, selector);
    ssize_t got;
    while (rc >= 0 && (got = read(fd, buf, sizeof buf)) > 0)
        rc = job_feed(&j, buf, (size_t)got);
    if (rc >= 0)
        rc = job_finish(&j);
    if (atomic && rc >= 0 && commit_by_hand(out, tmp, dest) != 0) {
        fprintf(stderr, "bench_csv: commit '%s': %s\n", dest, strerror(errno));
        return 1;
    }
    fflush(out);
    double elapsed = now_s() - start;
    if (rc) {
        fprintf(stderr, "bench_csv: %s\n",
                j.sel ? cf_json_select_error(j.sel) : cf_csv_json_error(j.conv));
        return 1;
    }
    printf("%.6f %lld\n", elapsed, o.bytes);
    cf_csv_json_free(j.conv);
    cf_json_select_free(j.sel);
    close(fd);
    fclose(out);
    return 0;
}

/* ---- the stream pipeline, run as `bench_csv --stream FILE COLUMNS OUT plain|atomic` ---- */

static void stream_done(cf_stream *last, int status, const cf_error *err, void *data)
{
    (void)last;
    if (status < 0)
        fprintf(stderr, "bench_csv: %s\n", cf_error_message(err));
    *(int *)data = status < 0 ? -1 : 1;
}

static int stream_convert(const char *path, char *columns, const char *dest, int atomic)
{
    const char *cols[64];
    size_t n = 0;
    for (char *save = NULL, *c = strtok_r(columns, ",", &save); c && n < 64;
         c = strtok_r(NULL, ",", &save))
        cols[n++] = c;
    cf_loop *loop;
    if (cf_loop_new(&loop) < 0)
        return 1;
    cf_stream *st[4] = {0};
    int outcome = 0;
    double start = now_s();
    const char *kib = getenv("CF_BENCH_STREAM_CHUNK_KIB"); /* the read chunk; default 64 KiB */
    size_t chunk = kib ? (size_t)strtoul(kib, NULL, 10) << 10 : 0;
    if (cf_stream_fs_read_new(loop, path, chunk, &st[0]) < 0 ||
        cf_stream_json_elements_new(loop, NULL, NULL, &st[1]) < 0 ||
        cf_stream_csv_new(loop, 0, cols, n, 1, &st[2]) < 0 ||
        cf_stream_fs_write_new(loop, dest, atomic ? CF_STREAM_FS_ATOMIC : 0, 0, &st[3]) < 0 ||
        cf_stream_pipeline(st, 4, NULL, stream_done, &outcome) < 0 ||
        cf_run(loop, CF_RUN_DEFAULT) < 0)
        outcome = -1;
    double elapsed = now_s() - start;
    for (int i = 0; i < 4; i++) {
        if (st[i])
            cf_stream_close(st[i], NULL, NULL);
    }
    cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    if (outcome != 1)
        return 1;
    struct stat sb;
    long long bytes = stat(dest, &sb) == 0 && S_ISREG(sb.st_mode) ? (long long)sb.st_size : -1;
    printf("%.6f %lld\n", elapsed, bytes);
    return 0;
}

/* ---- running a side ---- */

/*
 * Run argv with stdout to a pipe (or /dev/null) and wait for it. The time is what the
 * program printed first on stdout (seconds, or milliseconds when `ms`), or the wall time
 * around it when `timed_outside`; a second number, if printed, is the output size.
 */
static result run(char *const argv[], int ms, int timed_outside)
{
    result r = {0};
    int fds[2];
    if (pipe(fds) != 0)
        return r;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (timed_outside)
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    else
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    double start = now_s();
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err) {
        close(fds[0]);
        return r;
    }
    char text[256] = "";
    size_t len = 0;
    ssize_t got;
    while (len < sizeof text - 1 && (got = read(fds[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)got;
    text[len] = '\0';
    close(fds[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return r;
    double wall = now_s() - start;
    double t = 0;
    long long out = -1;
    if (!timed_outside && sscanf(text, "%lf %lld", &t, &out) < 1)
        return r;
    r.seconds = timed_outside ? wall : ms ? t / 1000 : t;
    r.out_bytes = out;
    r.rss_mib = (double)ru.ru_maxrss / 1024;
    r.ok = 1;
    return r;
}

static int cmp_result(const void *a, const void *b)
{
    double x = ((const result *)a)->seconds;
    double y = ((const result *)b)->seconds;
    return (x > y) - (x < y);
}

/* The median run by time; its memory is the largest seen over all runs. */
static result median_of(char *const argv[], int ms, int timed_outside, int runs)
{
    result rs[MAX_RUNS];
    double rss = 0;
    for (int i = 0; i < runs; i++) {
        rs[i] = run(argv, ms, timed_outside);
        if (!rs[i].ok)
            return rs[i];
        rss = rs[i].rss_mib > rss ? rs[i].rss_mib : rss;
    }
    qsort(rs, (size_t)runs, sizeof rs[0], cmp_result);
    result m = rs[runs / 2];
    m.rss_mib = rss;
    return m;
}

/*
 * Two sides run alternately, `runs` times each; each side's figure is its best run. This VM
 * runs a process at one of two speeds, about 1.7x apart (the host places its virtual CPU),
 * from one process to the next: medians mix the two, and a best of several is each side's
 * speed at the faster one.
 */
static int best_pairs(char *const a_argv[], char *const b_argv[], int runs, result *a, result *b)
{
    for (int i = 0; i < runs; i++) {
        result ra = run(a_argv, 0, 0);
        result rb = run(b_argv, 0, 0);
        if (!ra.ok || !rb.ok)
            return -1;
        if (i == 0 || ra.seconds < a->seconds)
            *a = ra;
        if (i == 0 || rb.seconds < b->seconds)
            *b = rb;
    }
    return 0;
}

static void print_line(const char *name, double ours, double peer, int higher_is_better)
{
    if (peer > 0)
        printf("%-34s %10.1f %10.1f %8.2fx\n", name, ours, peer,
               higher_is_better ? ours / peer : peer / ours);
    else
        printf("%-34s %10.1f %10s %9s\n", name, ours, "-", "-");
}

/* ---- inputs ---- */

static int ensure_input(const char *gen, const char *path, const char *flag, const char *value)
{
    if (file_size(path) > 0)
        return 0;
    fprintf(stderr, "bench_csv: generating %s\n", path);
    char *argv[] = {(char *)"python3", (char *)gen,  (char *)flag,
                    (char *)value,     (char *)path, NULL};
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, "python3", NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_csv: could not run %s\n", gen);
        return -1;
    }
    return 0;
}

static int have(const char *prog)
{
    char *argv[] = {(char *)prog, (char *)"--version", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int status = 1;
    int err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (!err)
        waitpid(pid, &status, 0);
    return !err && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* What a run of the benchmark needs: its options and the paths it works with. */
typedef struct setup {
    int runs;
    int big;
    char columns[256];
    char self[4096];
    char gen[4200];
    char peer_js[4200];
    char f200k[4200];
    char f100[4200];
    char f1g[4200];
    char filter[1024];  /* jq's: .[] | [.a,.b] | @csv */
    char out_csv[4200]; /* a CSV file written by the stream comparison */
    int has_node;
    int has_jq;
    int stream_only;
} setup;

/* Find the programs and scripts, make the inputs when missing, build jq's filter. */
static int prepare(setup *s)
{
    ssize_t n = readlink("/proc/self/exe", s->self, sizeof s->self - 1);
    if (n <= 0)
        return -1;
    s->self[n] = '\0';
    char here[4096];
    snprintf(here, sizeof here, "%s", __FILE__);
    const char *bench_dir = dirname(here);
    snprintf(s->gen, sizeof s->gen, "%s/gen_films.py", bench_dir);
    snprintf(s->peer_js, sizeof s->peer_js, "%s/peers/json_to_csv.js", bench_dir);
    const char *data = getenv("CF_BENCH_DATA");
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s",
             data  ? data
             : tmp ? tmp
                   : "/tmp",
             data ? "" : "/calcifer-bench");
    mkdir(dir, 0755);
    snprintf(s->f200k, sizeof s->f200k, "%s/films-200k.json", dir);
    snprintf(s->f100, sizeof s->f100, "%s/films-100mb.json", dir);
    snprintf(s->f1g, sizeof s->f1g, "%s/films-1gb.json", dir);
    snprintf(s->out_csv, sizeof s->out_csv, "%s/bench-csv-out-%d.csv", dir, (int)getpid());
    if (ensure_input(s->gen, s->f200k, "--count", "200000") ||
        ensure_input(s->gen, s->f100, "--mb", "100") ||
        (s->big && ensure_input(s->gen, s->f1g, "--mb", "1000")))
        return -1;
    char cols[256];
    snprintf(cols, sizeof cols, "%s", s->columns);
    snprintf(s->filter, sizeof s->filter, ".[] | [");
    for (char *save = NULL, *c = strtok_r(cols, ",", &save); c; c = strtok_r(NULL, ",", &save))
        snprintf(s->filter + strlen(s->filter), sizeof s->filter - strlen(s->filter), "%s.%s",
                 s->filter[strlen(s->filter) - 1] == '[' ? "" : ",", c);
    snprintf(s->filter + strlen(s->filter), sizeof s->filter - strlen(s->filter), "] | @csv");
    s->has_node = have("node");
    s->has_jq = have("jq");
    return 0;
}

/* Speed and memory on the 200k-record file, every side. */
static int compare_200k(setup *s, result *cf_out)
{
    char *cf_argv[] = {s->self, (char *)"--convert", s->f200k, s->columns, NULL};
    char *sel_argv[] = {s->self, (char *)"--convert-select", s->f200k, s->columns, NULL};
    char *node_argv[] = {(char *)"node",      s->peer_js, s->f200k,
                         (char *)"/dev/null", s->columns, NULL};
    char *jq_argv[] = {(char *)"jq", (char *)"-r", s->filter, s->f200k, NULL};
    double mb = (double)file_size(s->f200k) / 1e6;
    printf("# input: %s (%.0f MB), columns %s, median of %d runs\n", s->f200k, mb, s->columns,
           s->runs);
    printf("%-34s %10s %10s %9s\n", "name", "calcifer", "peer", "ratio");
    result cf = median_of(cf_argv, 0, 0, s->runs);
    result sel = median_of(sel_argv, 0, 0, s->runs);
    if (!cf.ok || !sel.ok) {
        fprintf(stderr, "bench_csv: the Calcifer conversion failed\n");
        return -1;
    }
    result nd = s->has_node ? median_of(node_argv, 1, 0, s->runs) : (result){0};
    result jq = s->has_jq ? median_of(jq_argv, 0, 1, s->runs) : (result){0};
    print_line("json_to_csv_200k_MBps_vs_node", mb / cf.seconds, nd.ok ? mb / nd.seconds : 0, 1);
    print_line("json_to_csv_200k_MBps_vs_jq", mb / cf.seconds, jq.ok ? mb / jq.seconds : 0, 1);
    print_line("select_write_200k_MBps_vs_node", mb / sel.seconds, nd.ok ? mb / nd.seconds : 0, 1);
    print_line("peak_rss_MiB_200k_vs_node", cf.rss_mib, nd.ok ? nd.rss_mib : 0, 0);
    print_line("peak_rss_MiB_200k_vs_jq", cf.rss_mib, jq.ok ? jq.rss_mib : 0, 0);
    if (sel.out_bytes != cf.out_bytes)
        printf("# warning: the two Calcifer paths wrote %lld and %lld bytes\n", cf.out_bytes,
               sel.out_bytes);
    if (nd.ok && nd.out_bytes != cf.out_bytes)
        printf("# warning: CSV sizes differ: calcifer %lld bytes, node %lld bytes\n", cf.out_bytes,
               nd.out_bytes);
    *cf_out = cf;
    return 0;
}

/*
 * The stream pipeline against cf_csv_json on the 200k file, both writing to the same place:
 * /dev/null (the plain write stream), then a file (plain, then the atomic stream).
 */
static int compare_stream(setup *s)
{
    double mb = (double)file_size(s->f200k) / 1e6;
    struct {
        const char *name, *dest, *mode;
    } cases[] = {
        {"stream_pipeline_200k_MBps_devnull", "/dev/null", "plain"},
        {"stream_pipeline_200k_MBps_file", s->out_csv, "plain"},
        {"stream_pipeline_200k_MBps_atomic", s->out_csv, "atomic"},
    };
    if (s->stream_only)
        printf("%-34s %10s %10s %9s\n", "name (peer: cf_csv_json)", "calcifer", "peer", "ratio");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *st_argv[] = {s->self,    (char *)"--stream",    s->f200k,
                           s->columns, (char *)cases[i].dest, (char *)cases[i].mode,
                           NULL};
        char *cf_argv[] = {s->self,    (char *)"--convert",   s->f200k,
                           s->columns, (char *)cases[i].dest, (char *)cases[i].mode,
                           NULL};
        result st = {0};
        result cf = {0};
        if (best_pairs(st_argv, cf_argv, s->runs, &st, &cf) != 0) {
            fprintf(stderr, "bench_csv: the stream comparison failed (%s)\n", cases[i].name);
            unlink(s->out_csv);
            return -1;
        }
        print_line(cases[i].name, mb / st.seconds, mb / cf.seconds, 1);
        if (st.out_bytes >= 0 && st.out_bytes != cf.out_bytes) /* -1: not a regular file */
            printf("# warning: the pipeline wrote %lld bytes, cf_csv_json %lld\n", st.out_bytes,
                   cf.out_bytes);
    }
    unlink(s->out_csv);
    return 0;
}

/* Memory against input size: 100 MB (with Node), then 1 GB (Calcifer alone). */
static void compare_sizes(setup *s)
{
    char *cf_argv[] = {s->self, (char *)"--convert", s->f100, s->columns, NULL};
    char *node_argv[] = {(char *)"node",      s->peer_js, s->f100,
                         (char *)"/dev/null", s->columns, NULL};
    result cf100 = median_of(cf_argv, 0, 0, 1);
    result nd100 = s->has_node ? median_of(node_argv, 1, 0, 1) : (result){0};
    print_line("peak_rss_MiB_100MB_vs_node", cf100.rss_mib, nd100.ok ? nd100.rss_mib : 0, 0);
    if (!s->big)
        return;
    cf_argv[2] = s->f1g;
    result cf1g = median_of(cf_argv, 0, 0, 1);
    double mb1g = (double)file_size(s->f1g) / 1e6;
    print_line("json_to_csv_1GB_MBps", cf1g.ok ? mb1g / cf1g.seconds : 0, 0, 1);
    print_line("peak_rss_MiB_1GB", cf1g.rss_mib, 0, 0);
    print_line("peak_rss_MiB_1GB_vs_calcifer_100MB", cf1g.rss_mib, cf100.rss_mib, 0);
}

int main(int argc, char **argv)
{
    static setup s = {.runs = 3, .big = 1, .columns = "title,release_date"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--convert") && i + 2 < argc)
            return convert(argv[i + 1], argv[i + 2], 0, i + 3 < argc ? argv[i + 3] : "/dev/null",
                           i + 4 < argc && !strcmp(argv[i + 4], "atomic"));
        if (!strcmp(argv[i], "--convert-select") && i + 2 < argc)
            return convert(argv[i + 1], argv[i + 2], 1, "/dev/null", 0);
        if (!strcmp(argv[i], "--stream") && i + 4 < argc)
            return stream_convert(argv[i + 1], argv[i + 2], argv[i + 3],
                                  !strcmp(argv[i + 4], "atomic"));
        if ((!strcmp(argv[i], "--runs") || !strcmp(argv[i], "-r")) && i + 1 < argc)
            s.runs = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-1gb"))
            s.big = 0;
        else if (!strcmp(argv[i], "--stream-only"))
            s.stream_only = 1;
        else if (!strcmp(argv[i], "--columns") && i + 1 < argc)
            snprintf(s.columns, sizeof s.columns, "%s", argv[++i]);
    }
    s.runs = s.runs < 1 ? 1 : s.runs > MAX_RUNS ? MAX_RUNS : s.runs;
    result cf;
    if (s.stream_only) {
        s.big = 0;
        return prepare(&s) || compare_stream(&s) ? 1 : 0;
    }
    if (prepare(&s) || compare_200k(&s, &cf) || compare_stream(&s))
        return 1;
    compare_sizes(&s);
    return 0;
}
