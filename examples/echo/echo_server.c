/*
 * An echo server written with async/await (≈ a Node `net.createServer` whose handler is an
 * async function reading with `for await (const chunk of socket)`).
 *
 *   echo_server PORT     serve on 127.0.0.1:PORT until killed
 *   echo_server          demo: serve on a free port, send one message from a client task,
 *                        print the echo, stop (what CI runs)
 *
 * Each accepted connection gets a task of its own: it awaits a chunk, awaits writing it
 * back, and repeats until the client ends the stream; then it awaits the close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer.h"

/* One connection: read a chunk, write it back, until the end of the stream. */
static int serve_connection(cf_task *task, void *arg)
{
    (void)task;
    cf_tcp *conn = arg;
    int rc = 0;
    for (;;) {
        cf_result r = cf_await(cf_tcp_read_p(conn, NULL));
        rc = r.status;
        if (rc < 0)
            break;
        const cf_buf *chunk = r.value; /* borrowed until the next await */
        if (chunk->len == 0)
            break; /* the client ended its side */
        /* The chunk lives until the next await; write a copy so it can be awaited safely. */
        rc = cf_tcp_write_copy(conn, chunk->base, chunk->len);
        if (rc == CF_TCP_FULL)
            rc = cf_await(cf_tcp_write_p(conn, "", 0, NULL))
                     .status; /* wait for the queue to drain */
        if (rc < 0)
            break;
    }
    (void)cf_await(cf_tcp_close_p(conn));
    return rc == CF_ECONNRESET ? 0 : rc;
}

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)data;
    if (status < 0) {
        fprintf(stderr, "echo_server: %s\n", err->message);
        return;
    }
    cf_promise_release(cf_async(cf_tcp_loop(server), serve_connection, conn));
}

/* The demo's client: connect, send, end, read everything back, then stop the server. */
static int demo_client(cf_task *task, void *arg)
{
    cf_tcp *server = arg;
    cf_tcp *t;
    int rc = cf_tcp_new(cf_task_loop(task), &t);
    if (rc < 0)
        return rc;
    const char *msg = "Hello from Calcifer!";
    cf_result r = cf_await(cf_tcp_connect_p(t, "127.0.0.1", cf_tcp_port(server), NULL));
    if (r.status == 0)
        r = cf_await(cf_tcp_write_p(t, msg, strlen(msg), NULL));
    if (r.status == 0)
        r = cf_await(cf_tcp_end_p(t, NULL));
    if (r.status == 0)
        r = cf_await(cf_tcp_read_all_p(t, 0, NULL));
    rc = r.status;
    if (rc == 0)
        printf("echo: %s\n", ((const cf_buf *)r.value)->base);
    else
        fprintf(stderr, "echo_server: %s\n", cf_error_message(r.error));
    (void)cf_await(cf_tcp_close_p(t));
    cf_tcp_close(server, NULL, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_tcp *server;
    int rc = cf_tcp_new(loop, &server);
    if (rc == 0)
        rc = cf_tcp_listen(server, "127.0.0.1", port, 0, 0, on_connection, NULL);
    if (rc < 0) {
        fprintf(stderr, "echo_server: listen 127.0.0.1:%d: %s\n", port, cf_strerror(rc));
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", cf_tcp_port(server));
    fflush(stdout);
    cf_promise *demo = NULL;
    if (argc <= 1)
        demo = cf_async(loop, demo_client, server);
    rc = cf_run(loop, CF_RUN_DEFAULT);
    int failed = rc < 0 || (demo && cf_promise_state(demo) != CF_PROMISE_FULFILLED);
    cf_promise_release(demo);
    cf_loop_close(loop);
    return failed ? 1 : 0;
}
