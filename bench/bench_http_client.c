/*
 * HTTP client throughput: GET the Ghibli films JSON from a local nginx (one worker) N times
 * with 32 requests in flight, with Calcifer's client, Node's built-in fetch, axios, and wrk as
 * the ceiling, all in one run. Prints `name calcifer peer ratio` in requests per second
 * (ratio = calcifer / peer: above 1, Calcifer is faster).
 *
 *   bench_http_client [N] [INFLIGHT]     (defaults: 20000 32)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calcifer.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Write the films array, as the API serves it, to `path`. */
static int write_films(const char *path)
{
    FILE *f = fopen(CF_BENCH_DATA, "rb");
    if (!f)
        return -1;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cf_json *root = NULL;
    if (cf_json_parse(buf, n, NULL, &root, NULL) != 0)
        return -1;
    char *out = NULL;
    size_t len = 0;
    cf_json_stringify(cf_json_get(root, "films"), CF_JSON_PRETTY, &out, &len);
    FILE *o = fopen(path, "wb");
    fwrite(out, 1, len, o);
    fclose(o);
    cf_free(out);
    cf_json_free(root);
    return 0;
}

static pid_t start_nginx(const char *dir, int port)
{
    char conf[600];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "daemon off; master_process off; worker_processes 1; pid %s/nginx.pid;\n"
            "error_log %s/error.log; events { worker_connections 4096; }\n"
            "http { access_log off; keepalive_requests 1000000;\n"
            "  types { application/json json; }\n"
            "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
            "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
            "  server { listen 127.0.0.1:%d; root %s; } }\n",
            dir, dir, dir, dir, dir, dir, dir, port, dir);
    fclose(f);
    pid_t pid;
    const char *argv[] = {"/usr/sbin/nginx", "-c", conf, "-p", dir, NULL};
    if (posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ) != 0)
        return -1;
    return pid;
}

/* ---- Calcifer's side: keep `inflight` requests going until `n` are done ---- */

typedef struct run {
    cf_loop *loop;
    const char *url;
    int n;
    int started;
    int done;
    int failed;
    size_t bytes;
} run;

static void on_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data);

static void start_one(run *r)
{
    r->started++;
    if (cf_http_request(r->loop, r->url, NULL, on_done, r, NULL) != 0)
        r->failed++;
}

static void on_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)req;
    run *r = data;
    r->done++;
    if (status) {
        if (r->failed++ == 0)
            fprintf(stderr, "bench_http_client: %s\n", err->message);
    } else {
        r->bytes += cf_http_response_body(res).len;
    }
    if (r->started < r->n)
        start_one(r);
}

static double calcifer_rate(const char *url, int n, int inflight)
{
    run r = {.url = url, .n = n};
    cf_loop_new(&r.loop);
    cf_http_set_limits(r.loop, inflight, 0);
    double t0 = now_s();
    for (int i = 0; i < inflight && i < n; i++)
        start_one(&r);
    cf_run(r.loop, CF_RUN_DEFAULT);
    double secs = now_s() - t0;
    cf_loop_close(r.loop);
    if (r.failed)
        fprintf(stderr, "bench_http_client: %d requests failed\n", r.failed);
    return r.done / secs;
}

/* Run a command and read the first number it prints. */
static double command_rate(const char *cmd, const char *marker)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[512];
    double rate = 0;
    while (fgets(line, sizeof line, p)) {
        const char *at = marker ? strstr(line, marker) : line;
        if (at && rate == 0)
            rate = strtod(at + (marker ? strlen(marker) : 0), NULL);
    }
    pclose(p);
    return rate;
}

static void report(const char *name, double calcifer, double peer)
{
    if (peer > 0)
        printf("%-28s %12.0f %12.0f %8.2f\n", name, calcifer, peer, calcifer / peer);
    else
        printf("%-28s %12.0f %12s %8s\n", name, calcifer, "n/a", "-");
}

int main(int argc, char **argv)
{
    /* Positional numbers only; options meant for other benchmarks (bench/run.sh -r) are ignored. */
    int n = argc > 1 && argv[1][0] != '-' ? (int)strtol(argv[1], NULL, 10) : 20000;
    int inflight = argc > 2 && argv[2][0] != '-' ? (int)strtol(argv[2], NULL, 10) : 32;
    char dir[] = "/tmp/cf-bench-http-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char films[600];
    snprintf(films, sizeof films, "%s/films.json", dir);
    if (write_films(films) != 0) {
        fprintf(stderr, "bench_http_client: cannot read %s\n", CF_BENCH_DATA);
        return 1;
    }
    int port = free_port();
    pid_t ng = start_nginx(dir, port);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/films.json", port);
    usleep(300000);
    calcifer_rate(url, 500, inflight); /* warm-up */
    double ours = calcifer_rate(url, n, inflight);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "node %s/http_client.js fetch %s %d %d", CF_BENCH_PEERS_DIR, url, n,
             inflight);
    double fetch = command_rate(cmd, NULL);
    double axios = 0;
    char axios_dir[600];
    snprintf(axios_dir, sizeof axios_dir, "%s/node_modules/axios", CF_BENCH_PEERS_DIR);
    if (access(axios_dir, R_OK) == 0) {
        snprintf(cmd, sizeof cmd, "node %s/http_client.js axios %s %d %d", CF_BENCH_PEERS_DIR, url,
                 n, inflight);
        axios = command_rate(cmd, NULL);
    } else {
        fprintf(stderr, "bench_http_client: axios not installed (make bench installs it)\n");
    }
    snprintf(cmd, sizeof cmd, "wrk -t1 -c%d -d5s %s 2>/dev/null", inflight, url);
    double wrk = command_rate(cmd, "Requests/sec:");
    printf("%-28s %12s %12s %8s\n", "name (requests/s)", "calcifer", "peer", "ratio");
    report("http_get vs node fetch", ours, fetch);
    report("http_get vs axios", ours, axios);
    report("http_get vs wrk (ceiling)", ours, wrk);
    kill(ng, SIGTERM);
    waitpid(ng, NULL, 0);
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    return system(rm) == 0 ? 0 : 1;
}
