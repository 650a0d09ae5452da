/*
 * TCP benchmarks over loopback, Calcifer against libuv in the same run:
 *
 *   tcp_pingpong   N round trips of a 64-byte message on one connection (TCP_NODELAY)
 *   tcp_bulk       1 GiB streamed one way on one connection, 64 KiB writes, backpressure on
 *
 *     bench_tcp [-r REPEAT] [NAME...]
 *
 * Server and client run on one loop on both sides. Prints `name calcifer peer ratio`, times
 * in seconds (medians of REPEAT runs, default 3), ratio = peer / calcifer; then the rates
 * (round trips per second, MiB per second) as comment lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calcifer.h"
#include "peers/libuv_tcp.h"

#define N_PINGPONG 100000
#define MSG_LEN    64
#define BULK_TOTAL ((size_t)1 << 30)
#define MAX_REPEAT 15

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_tcp: %s: %s\n", what, cf_strerror(rc));
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0)                                                                               \
            die(#call, rc_);                                                                       \
    } while (0)

typedef struct bench {
    cf_loop *loop;
    cf_tcp *server;
    cf_tcp *conn;
    cf_tcp *client;
    char *msg;
    size_t msg_len;
    size_t n;
    size_t count;
    size_t got;
    size_t total;
    size_t sent;
    int bulk;
} bench;

static void close_all(bench *B)
{
    cf_tcp_close(B->client, NULL, NULL);
    cf_tcp_close(B->conn, NULL, NULL);
    cf_tcp_close(B->server, NULL, NULL);
}

static void server_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                        void *data)
{
    (void)err;
    bench *B = data;
    if (status < 0)
        return;
    if (B->bulk) {
        B->got += len;
        if (B->got == B->total)
            close_all(B);
        return;
    }
    CHECK(cf_tcp_write_copy(t, bytes, len));
}

static void send_ping(bench *B)
{
    cf_buf b = {B->msg, B->msg_len};
    CHECK(cf_tcp_write(B->client, &b, 1, NULL, NULL));
}

static void client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                        void *data)
{
    (void)t;
    (void)bytes;
    bench *B = data;
    if (status < 0)
        die(err->message, status);
    B->got += len;
    if (B->got < B->msg_len)
        return;
    B->got = 0;
    if (++B->count == B->n) {
        close_all(B);
        return;
    }
    send_ping(B);
}

/* Write until the queue passes its high-water mark (256 KiB); the drain callback resumes. */
static void pump(cf_tcp *t, void *data)
{
    bench *B = data;
    while (B->sent < B->total) {
        size_t n = B->total - B->sent < 65536 ? B->total - B->sent : 65536;
        cf_buf b = {B->msg, n};
        int rc = cf_tcp_write(t, &b, 1, NULL, NULL);
        if (rc < 0)
            die("write", rc);
        B->sent += n;
        if (rc == CF_TCP_FULL)
            return;
    }
}

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)server;
    (void)err;
    bench *B = data;
    CHECK(status);
    B->conn = conn;
    CHECK(cf_tcp_nodelay(conn, 1));
    CHECK(cf_tcp_read_start(conn, server_read, B));
}

static void on_connect(cf_tcp *t, int status, const cf_error *err, void *data)
{
    bench *B = data;
    if (status < 0)
        die(err->message, status);
    CHECK(cf_tcp_nodelay(t, 1));
    if (B->bulk) {
        cf_tcp_set_high_water(t, 256 * 1024);
        cf_tcp_on_drain(t, pump, B);
        pump(t, B);
        return;
    }
    CHECK(cf_tcp_read_start(t, client_read, B));
    send_ping(B);
}

static double run(bench *B)
{
    CHECK(cf_loop_new(&B->loop));
    CHECK(cf_tcp_new(B->loop, &B->server));
    CHECK(cf_tcp_listen(B->server, "127.0.0.1", 0, 128, 0, on_connection, B));
    CHECK(cf_tcp_new(B->loop, &B->client));
    double t0 = now_s();
    CHECK(cf_tcp_connect(B->client, "127.0.0.1", cf_tcp_port(B->server), NULL, on_connect, B));
    CHECK(cf_run(B->loop, CF_RUN_DEFAULT));
    double t = now_s() - t0;
    CHECK(cf_loop_close(B->loop));
    return t;
}

static double cf_pingpong(void)
{
    bench B;
    memset(&B, 0, sizeof B);
    B.msg = calloc(1, MSG_LEN);
    B.msg_len = MSG_LEN;
    B.n = N_PINGPONG;
    double t = run(&B);
    free(B.msg);
    return t;
}

static double cf_bulk(void)
{

    bench B;
    memset(&B, 0, sizeof B);
    B.msg = calloc(1, 65536);
    B.bulk = 1;
    B.total = BULK_TOTAL;
    double t = run(&B);
    free(B.msg);
    return t;
}

static double uv_pingpong(void)
{
    return uvb_tcp_pingpong(N_PINGPONG, MSG_LEN);
}

static double uv_bulk(void)
{
    return uvb_tcp_bulk(BULK_TOTAL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double (*fn)(void), int repeat)
{
    double t[MAX_REPEAT];
    for (int i = 0; i < repeat; i++) {
        t[i] = fn();
        if (t[i] < 0)
            return -1;
    }
    qsort(t, (size_t)repeat, sizeof t[0], cmp_double);
    return t[repeat / 2];
}

static int wanted(int argc, char **argv, int first, const char *name)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], name) == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int repeat = 3;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-r") == 0) {
        repeat = (int)strtol(argv[2], NULL, 10);
        repeat = repeat < 1 ? 1 : (repeat > MAX_REPEAT ? MAX_REPEAT : repeat);
        first = 3;
    }
    printf("%-28s %10s %10s %8s\n", "# name", "calcifer", "peer", "ratio");
    if (wanted(argc, argv, first, "tcp_pingpong")) {
        double c = median(cf_pingpong, repeat);
        double p = median(uv_pingpong, repeat);
        printf("%-28s %10.4f %10.4f %8.2f\n", "tcp_pingpong_100k", c, p, p / c);
        printf("# tcp_pingpong round trips/s: calcifer %.0f, libuv %.0f\n", N_PINGPONG / c,
               N_PINGPONG / p);
    }
    if (wanted(argc, argv, first, "tcp_bulk")) {
        double cpu0 = cpu_s();
        double c = median(cf_bulk, repeat);
        double cpu1 = cpu_s();
        double p = median(uv_bulk, repeat);
        double cpu2 = cpu_s();
        printf("%-28s %10.4f %10.4f %8.2f\n", "tcp_bulk_1GiB", c, p, p / c);
        printf("# tcp_bulk MiB/s: calcifer %.0f, libuv %.0f\n", 1024 / c, 1024 / p);
        printf("# tcp_bulk CPU s per run: calcifer %.3f, libuv %.3f\n", (cpu1 - cpu0) / repeat,
               (cpu2 - cpu1) / repeat);
    }
    return 0;
}
