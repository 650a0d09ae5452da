/*
 * JSON parsing speed: Calcifer's streaming parser against Node's JSON.parse on one file.
 *
 *   bench_json [FILE]    (options such as bench/run.sh's -r N are ignored)
 *
 * FILE is a JSON array of film-like objects; when it is not given, films.json in the current
 * folder is used, generated first with bench/gen_films.py (200,000 records) if absent.
 * Prints `name calcifer peer ratio` where ratio is calcifer / peer for speeds (MB/s, above 1:
 * Calcifer is faster) and peer / calcifer for memory (above 1: Calcifer is smaller). Speeds
 * are the best of three runs, MB = 10^6 bytes of input.
 *
 *   json_parse_events_MBps   push parser over the file in memory, 64 KiB chunks, events
 *                            counted (no tree); peer: JSON.parse of the same text
 *   json_select_records_MBps the selector: read(2) in 64 KiB chunks, each array element built
 *                            as a DOM value and freed; peer: JSON.parse
 *   json_dom_parse_MBps      cf_json_parse of the whole text into one tree; peer: JSON.parse
 *   json_select_peak_rss_MB  peak resident memory of the process after the selector run
 *                            (before the file is loaded into memory); peer: Node's RSS after
 *                            JSON.parse (text and tree held)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/json.h"

#define CHUNK (64 * 1024)
#define RUNS  3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_line(const char *name, double ours, double peer, int higher_is_better)
{
    if (peer <= 0) {
        printf("%-28s %10.1f %10s %8s\n", name, ours, "-", "-");
        return;
    }
    double ratio = higher_is_better ? ours / peer : peer / ours;
    printf("%-28s %10.1f %10.1f %7.2fx\n", name, ours, peer, ratio);
}

static int count_event(const cf_json_event *ev, void *data)
{
    (void)ev;
    ++*(size_t *)data;
    return 0;
}

static double parse_events(const char *text, size_t len, size_t *events)
{
    static char scratch[1 << 20];
    cf_json_parser p;
    cf_json_parser_init(&p, count_event, events, scratch, sizeof scratch);
    double t = now_s();
    int rc = 0;
    for (size_t at = 0; at < len && rc >= 0; at += CHUNK)
        rc = cf_json_parser_feed(&p, text + at, len - at < CHUNK ? len - at : CHUNK);
    if (rc >= 0)
        rc = cf_json_parser_finish(&p);
    if (rc) {
        fprintf(stderr, "bench_json: %s\n", cf_json_parser_error(&p));
        exit(1);
    }
    return now_s() - t;
}

static int count_item(cf_json *item, size_t index, void *data)
{
    (void)index;
    *(size_t *)data += cf_json_size(item);
    return 0;
}

static double select_file(const char *path, size_t *fields)
{
    static char buf[CHUNK];
    cf_json_select *s;
    if (cf_json_select_new(&s, NULL, NULL, count_item, fields))
        exit(1);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    double t = now_s();
    int rc = 0;
    ssize_t n;
    while (rc >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
        rc = cf_json_select_feed(s, buf, (size_t)n);
    if (rc >= 0)
        rc = cf_json_select_finish(s);
    double d = now_s() - t;
    if (rc) {
        fprintf(stderr, "bench_json: %s\n", cf_json_select_error(s));
        exit(1);
    }
    close(fd);
    cf_json_select_free(s);
    return d;
}

static double dom_parse(const char *text, size_t len)
{
    cf_json *v = NULL;
    cf_json_limits lim = {.max_string = 1 << 20};
    double t = now_s();
    if (cf_json_parse(text, len, &lim, &v, NULL))
        exit(1);
    double d = now_s() - t;
    cf_json_free(v);
    return d;
}

static char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(*len + 1);
    if (!text || fread(text, 1, *len, f) != *len)
        exit(1);
    fclose(f);
    return text;
}

/* Node's JSON.parse speed (MB/s, best of three) and RSS after it, or 0 without node. */
static void node_peer(const char *path, double *mbps, double *rss_mb)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "node -e 'const fs=require(\"fs\");const s=fs.readFileSync(process.argv[1],\"utf8\");"
             "const n=Buffer.byteLength(s);let best=1e9,keep;for(let i=0;i<%d;i++){"
             "const t=process.hrtime.bigint();keep=JSON.parse(s);"
             "best=Math.min(best,Number(process.hrtime.bigint()-t)/1e9);}"
             "console.log(n/1e6/best,process.memoryUsage().rss/1e6,keep.length>0)' '%s' "
             "2>/dev/null",
             RUNS, path);
    *mbps = 0;
    *rss_mb = 0;
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fscanf(p, "%lf %lf", mbps, rss_mb) != 2) {
        *mbps = 0;
        *rss_mb = 0;
    }
    pclose(p);
}

static const char *default_file(void)
{
    struct stat st;
    if (stat("films.json", &st) == 0)
        return "films.json";
    char cmd[4096];
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    snprintf(cmd, sizeof cmd, "python3 '%s/gen_films.py' films.json", slash ? dir : "bench");
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_json: cannot generate films.json (%s)\n", cmd);
        exit(1);
    }
    return "films.json";
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            i++; /* bench/run.sh's repeat option: this benchmark takes the best of three */
        else if (argv[i][0] != '-')
            path = argv[i];
    }
    if (!path)
        path = default_file();
    size_t fields = 0;
    double best_select = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double d = select_file(path, &fields);
        best_select = d < best_select ? d : best_select;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double select_rss = (double)ru.ru_maxrss / 1e3;

    size_t len;
    char *text = load(path, &len);
    size_t events = 0;
    double best_events = 1e9;
    double best_dom = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double d = parse_events(text, len, &events);
        best_events = d < best_events ? d : best_events;
        d = dom_parse(text, len);
        best_dom = d < best_dom ? d : best_dom;
    }
    free(text);

    double node_mbps;
    double node_rss;
    node_peer(path, &node_mbps, &node_rss);
    double mb = (double)len / 1e6;
    printf("# %s: %.1f MB, %zu events per parse\n", path, mb, events / RUNS);
    printf("%-28s %10s %10s %8s\n", "name", "calcifer", "node", "ratio");
    print_line("json_parse_events_MBps", mb / best_events, node_mbps, 1);
    print_line("json_select_records_MBps", mb / best_select, node_mbps, 1);
    print_line("json_dom_parse_MBps", mb / best_dom, node_mbps, 1);
    print_line("json_select_peak_rss_MB", select_rss, node_rss, 0);
    return 0;
}
