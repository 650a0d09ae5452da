/*
 * The libuv peer of bench/bench_tcp.c: the same ping-pong and bulk transfer, written as a
 * libuv program would be (uv_tcp_t, uv_read_start with a reused buffer, uv_write), server and
 * client on one loop, as the Calcifer side.
 */
#include "peers/libuv_tcp.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct bench {
    uv_loop_t loop;
    uv_tcp_t server;
    uv_tcp_t conn;
    uv_tcp_t client;
    uv_connect_t creq;
    char rbuf_s[65536];
    char rbuf_c[65536];
    char *msg;
    size_t msg_len;
    size_t n;
    size_t count;
    size_t got; /* bytes of the current message (ping-pong) or all bytes (bulk) */
    size_t total;
    size_t sent;
    int failed;
    int bulk;
} bench;

static void alloc_s(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    bench *B = h->data;
    *b = uv_buf_init(B->rbuf_s, sizeof B->rbuf_s);
}

static void alloc_c(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    bench *B = h->data;
    *b = uv_buf_init(B->rbuf_c, sizeof B->rbuf_c);
}

static void write_free(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Echo: copy the bytes into the request (the read buffer is reused). */
static void echo_write(uv_stream_t *s, const char *p, size_t n)
{
    uv_write_t *req = malloc(sizeof *req + n);
    memcpy(req + 1, p, n);
    uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)n);
    uv_write(req, s, &b, 1, write_free);
}

static void close_all(bench *B)
{
    uv_close((uv_handle_t *)&B->client, NULL);
    uv_close((uv_handle_t *)&B->conn, NULL);
    uv_close((uv_handle_t *)&B->server, NULL);
}

static void server_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    bench *B = s->data;
    if (n < 0)
        return;
    if (B->bulk) {
        B->got += (size_t)n;
        if (B->got == B->total)
            close_all(B);
        return;
    }
    echo_write(s, b->base, (size_t)n);
}

static void send_ping(bench *B)
{
    uv_write_t *req = malloc(sizeof *req);
    uv_buf_t b = uv_buf_init(B->msg, (unsigned)B->msg_len);
    uv_write(req, (uv_stream_t *)&B->client, &b, 1, write_free);
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    bench *B = s->data;
    if (n < 0) {
        B->failed = 1;
        return;
    }
    B->got += (size_t)n;
    if (B->got < B->msg_len)
        return;
    B->got = 0;
    if (++B->count == B->n) {
        close_all(B);
        return;
    }
    send_ping(B);
}

static void pump(bench *B);

static void bulk_written(uv_write_t *req, int status)
{
    bench *B = req->data;
    free(req);
    if (status < 0) {
        B->failed = 1;
        return;
    }
    pump(B);
}

/* Keep about 256 KiB queued in libuv, as the Calcifer side keeps its high-water mark. */
static void pump(bench *B)
{
    uv_stream_t *s = (uv_stream_t *)&B->client;
    while (B->sent < B->total && uv_stream_get_write_queue_size(s) < 256 * 1024) {
        size_t n = B->total - B->sent < 65536 ? B->total - B->sent : 65536;
        uv_write_t *req = malloc(sizeof *req);
        req->data = B;
        uv_buf_t b = uv_buf_init(B->msg, (unsigned)n);
        B->sent += n;
        uv_write(req, s, &b, 1, bulk_written);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    bench *B = server->data;
    if (status < 0) {
        B->failed = 1;
        return;
    }
    uv_tcp_init(&B->loop, &B->conn);
    B->conn.data = B;
    uv_accept(server, (uv_stream_t *)&B->conn);
    uv_tcp_nodelay(&B->conn, 1);
    uv_read_start((uv_stream_t *)&B->conn, alloc_s, server_read);
}

static void on_connect(uv_connect_t *req, int status)
{
    bench *B = req->data;
    if (status < 0) {
        B->failed = 1;
        return;
    }
    uv_tcp_nodelay(&B->client, 1);
    if (B->bulk) {
        pump(B);
        return;
    }
    uv_read_start((uv_stream_t *)&B->client, alloc_c, client_read);
    send_ping(B);
}

static double run(bench *B)
{
    uv_loop_init(&B->loop);
    uv_tcp_init(&B->loop, &B->server);
    uv_tcp_init(&B->loop, &B->client);
    B->server.data = B;
    B->client.data = B;
    B->creq.data = B;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&B->server, (struct sockaddr *)&a, 0);
    if (uv_listen((uv_stream_t *)&B->server, 128, on_connection) < 0)
        return -1;
    int len = sizeof a;
    uv_tcp_getsockname(&B->server, (struct sockaddr *)&a, &len);
    double t0 = now_s();
    uv_tcp_connect(&B->creq, &B->client, (struct sockaddr *)&a, on_connect);
    uv_run(&B->loop, UV_RUN_DEFAULT);
    double t = now_s() - t0;
    uv_loop_close(&B->loop);
    return B->failed ? -1 : t;
}

double uvb_tcp_pingpong(size_t n, size_t msg)
{
    bench *B = calloc(1, sizeof *B);
    B->msg = calloc(1, msg);
    B->msg_len = msg;
    B->n = n;
    double t = run(B);
    free(B->msg);
    free(B);
    return t;
}

double uvb_tcp_bulk(size_t total)
{
    bench *B = calloc(1, sizeof *B);
    B->msg = calloc(1, 65536);
    B->bulk = 1;
    B->total = total;
    double t = run(B);
    if (B->got != total)
        t = -1;
    free(B->msg);
    free(B);
    return t;
}
