/*
 * HTTP/1.1 request parsing speed: cf_http_parse_request/_body against Node's own parser
 * (llhttp, through process.binding('http_parser'), as node:http's server drives it; the peer
 * is bench/peers/http_parse.js) on the same bytes.
 *
 *   bench_http_parse [N]
 *
 * Each workload is N pipelined requests (default 20,000) in one byte stream; both sides take
 * it in 64 KiB slices, as a server reads a socket. Calcifer appends each slice to a work
 * buffer after the bytes the parser left unconsumed (what a connection does), parses the
 * heads and decodes the bodies; Node's parser creates its header strings and body slices and
 * calls its JS callbacks. Best of five runs each.
 *
 *   wrk_get        wrk's default request: request line + Host (45 bytes)
 *   browser_get    a Firefox GET with nine header fields (365 bytes)
 *   post_length    Content-Length body of 1 KiB
 *   post_chunked   chunked body: four 256-byte chunks with an extension, and a trailer
 *
 * Prints `name calcifer peer ratio`: requests in millions per second and input MB/s
 * (10^6 bytes), ratio = calcifer / peer (above 1: Calcifer is faster). The peer column is
 * "-" when `node` cannot be run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/http_parser.h"

#include "bench_util.h"

#define SLICE (64 * 1024)
#define RUNS  5

typedef struct counts {
    size_t messages, headers, body;
} counts;

typedef struct conn {
    cf_http_parser p;
    cf_http_field hdrs[32];
    int in_body;
} conn;

/* Parse what the buffer holds; returns the bytes consumed. Exits on a parse error. */
static size_t pump(conn *c, const char *buf, size_t len, counts *n)
{
    size_t off = 0;
    for (;;) {
        if (!c->in_body) {
            cf_http_request_head req = {.headers = c->hdrs, .max_headers = 32};
            int r = cf_http_parse_request(&c->p, buf + off, len - off, &req);
            if (r == 0)
                return off;
            if (r < 0) {
                fprintf(stderr, "parse error: %s\n",
                        cf_http_parse_error_message(cf_http_parser_error(&c->p)));
                exit(1);
            }
            off += (size_t)r;
            n->headers += req.num_headers;
            c->in_body = 1;
        }
        cf_http_body_event ev;
        int k = cf_http_parse_body(&c->p, buf + off, len - off, &ev);
        off += ev.consumed;
        if (k == CF_HTTP_BODY_DATA) {
            n->body += ev.len;
        } else if (k == CF_HTTP_BODY_END) {
            n->messages++;
            c->in_body = 0;
        } else if (k == CF_HTTP_BODY_NEED_MORE) {
            return off;
        } else if (k < 0) {
            fprintf(stderr, "body error\n");
            exit(1);
        }
    }
}

/* One pass over the stream, 64 KiB at a time; returns milliseconds. */
static double run_ours(const char *data, size_t len, counts *n)
{
    static char work[SLICE + CF_HTTP_DEFAULT_MAX_HEAD_LEN + 4096];
    conn c;
    memset(&c, 0, sizeof(c));
    memset(n, 0, sizeof(*n));
    size_t have = 0;
    double t0 = now_ms();
    for (size_t in = 0; in < len;) {
        size_t k = len - in < SLICE ? len - in : SLICE;
        memcpy(work + have, data + in, k);
        have += k;
        in += k;
        size_t used = pump(&c, work, have, n);
        memmove(work, work + used, have - used);
        have -= used;
    }
    return now_ms() - t0;
}

static char *repeat(const char *req, size_t req_len, size_t n, size_t *len)
{
    char *data = malloc(req_len * n);
    if (!data)
        exit(1);
    for (size_t i = 0; i < n; i++)
        memcpy(data + i * req_len, req, req_len);
    *len = req_len * n;
    return data;
}

/* Node's time for the same bytes (best of RUNS), or 0 when it cannot run. */
static double run_node(const char *data, size_t len, size_t expect)
{
    char path[] = "/tmp/cf-bench-http-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    FILE *f = fdopen(fd, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        if (f)
            fclose(f);
        unlink(path);
        return 0;
    }
    fclose(f);
    char cmd[8192];
    const char *node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "node";
    snprintf(cmd, sizeof cmd, "%s %s/peers/http_parse.js %s %d 2>/dev/null", node, bench_dir(),
             path, RUNS);
    double ms = 0;
    double requests = 0;
    FILE *p = popen(cmd, "r");
    if (p) {
        char name[32];
        double v;
        while (fscanf(p, "%31s %lf", name, &v) == 2) {
            if (strcmp(name, "ms") == 0)
                ms = v;
            else if (strcmp(name, "requests") == 0)
                requests = v;
        }
        pclose(p);
    }
    unlink(path);
    if ((size_t)requests != expect) /* the peer must have parsed the same messages */
        return 0;
    return ms;
}

static void print_line(const char *name, double ours, double peer)
{
    if (peer <= 0) {
        printf("%-26s %10.2f %10s %8s\n", name, ours, "-", "-");
        return;
    }
    printf("%-26s %10.2f %10.2f %7.2fx\n", name, ours, peer, ours / peer);
}

static void workload(const char *name, const char *req, size_t n)
{
    size_t len;
    char *data = repeat(req, strlen(req), n, &len);
    counts c;
    double best = 1e30;
    for (int i = 0; i < RUNS; i++) {
        double ms = run_ours(data, len, &c);
        best = ms < best ? ms : best;
    }
    if (c.messages != n) {
        fprintf(stderr, "%s: parsed %zu requests of %zu\n", name, c.messages, n);
        exit(1);
    }
    double node = run_node(data, len, n);
    char label[64];
    snprintf(label, sizeof label, "%s_Mreq_s", name);
    print_line(label, (double)n / best / 1e3, node > 0 ? (double)n / node / 1e3 : 0);
    snprintf(label, sizeof label, "%s_MBps", name);
    print_line(label, (double)len / best / 1e3, node > 0 ? (double)len / node / 1e3 : 0);
    free(data);
}

static char *chunked_post(void)
{
    static char buf[4096];
    char chunk[257];
    memset(chunk, 'x', 256);
    chunk[256] = 0;
    int n = snprintf(buf, sizeof buf,
                     "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: "
                     "application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 4; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "100;part=%d\r\n%s\r\n", i, chunk);
    snprintf(buf + n, sizeof buf - (size_t)n, "0\r\nX-Checksum: 1234\r\n\r\n");
    return buf;
}

static char *length_post(void)
{
    static char buf[4096];
    int n = snprintf(buf, sizeof buf,
                     "POST /films HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: "
                     "application/json\r\nContent-Length: 1024\r\n\r\n");
    memset(buf + n, 'j', 1024);
    buf[n + 1024] = 0;
    return buf;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000;
    if (n == 0)
        n = 20000;
    printf("%-26s %10s %10s %8s\n", "name", "calcifer", "node", "ratio");
    workload("wrk_get", "GET /films HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", n);
    workload("browser_get",
             "GET /favicon.ico HTTP/1.1\r\nHost: 0.0.0.0=5000\r\nUser-Agent: Mozilla/5.0 (X11; U; "
             "Linux i686; en-US; rv:1.9) Gecko/2008061015 Firefox/3.0\r\nAccept: "
             "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
             "Accept-Language: en-us,en;q=0.5\r\nAccept-Encoding: gzip,deflate\r\n"
             "Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\nKeep-Alive: 300\r\n"
             "Connection: keep-alive\r\n\r\n",
             n);
    workload("post_length", length_post(), n);
    workload("post_chunked", chunked_post(), n);
    return 0;
}
