/*
 * A small HTTP server (≈ Node's `http.createServer((req, res) => ...)`), answering three ways:
 *
 *   GET /        at once:                "Hello from Calcifer!"
 *   GET /later   later, from a timer:    "Sorry to keep you waiting."
 *   GET /count   streamed, chunked:      the numbers 1 to 5, one line each
 *   anything else                        404
 *
 *   hello_server PORT   serve on 127.0.0.1:PORT until Ctrl-C
 *   hello_server        demo: serve on a free port, fetch the three routes with the
 *                       project's HTTP client, print the answers, close (what CI runs)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer.h"

/* /later: the response is kept and ended from a timer callback. */
static void answer_later(void *data)
{
    cf_http_res *res = data;
    const char *text = "Sorry to keep you waiting.\n";
    cf_http_res_send(res, 200, "text/plain; charset=utf-8", text, strlen(text));
}

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)data;
    const char *target = cf_http_incoming_target(req);
    if (strcmp(target, "/") == 0) {
        const char *text = "Hello from Calcifer!\n";
        cf_http_res_send(res, 200, "text/plain; charset=utf-8", text, strlen(text));
    } else if (strcmp(target, "/later") == 0) {
        cf_set_timeout(cf_http_server_loop(cf_http_incoming_server(req)), 100, answer_later, res,
                       NULL);
    } else if (strcmp(target, "/count") == 0) {
        cf_http_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
        for (int i = 1; i <= 5; i++) {
            char line[16];
            int n = snprintf(line, sizeof line, "%d\n", i);
            cf_http_res_write(res, line, (size_t)n); /* copied: `line` may go */
        }
        cf_http_res_end(res, NULL, 0);
    } else {
        cf_http_res_send(res, 404, "text/plain; charset=utf-8", "Not Found\n", 10);
    }
}

/* ---- the demo client ---- */

typedef struct demo {
    cf_http_server *server;
    int pending;
    int failed;
} demo;

static void on_response(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                        void *data)
{
    (void)req;
    demo *d = data;
    if (status < 0) {
        fprintf(stderr, "hello_server: %s\n", err->message);
        d->failed = 1;
    } else {
        cf_buf body = cf_http_response_body(res);
        printf("%s -> %d %.*s", cf_http_response_url(res), cf_http_response_status(res),
               (int)body.len, body.base);
    }
    if (--d->pending == 0)
        cf_http_server_close(d->server, NULL, NULL);
}

static void on_signal(cf_signal *sig, int signum, void *data)
{
    (void)signum;
    cf_http_server_close(data, NULL, NULL);
    cf_signal_close(sig, NULL, NULL);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_http_server *server;
    int rc = cf_http_server_new(loop, NULL, handler, NULL, &server);
    if (rc == 0)
        rc = cf_http_server_listen(server, "127.0.0.1", port);
    if (rc < 0) {
        fprintf(stderr, "hello_server: listen 127.0.0.1:%d: %s\n", port, cf_strerror(rc));
        return 1;
    }
    printf("listening on http://127.0.0.1:%d/\n", cf_http_server_port(server));
    fflush(stdout);
    demo d = {server, 0, 0};
    if (argc > 1) {
        cf_signal *sig;
        cf_signal_new(loop, &sig);
        cf_signal_start(sig, SIGINT, on_signal, server);
    } else {
        const char *paths[] = {"/", "/later", "/count"};
        for (size_t i = 0; i < 3; i++) {
            char url[96];
            snprintf(url, sizeof url, "http://127.0.0.1:%d%s", cf_http_server_port(server),
                     paths[i]);
            if (cf_http_request(loop, url, NULL, on_response, &d, NULL) == 0)
                d.pending++;
        }
    }
    rc = cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return rc < 0 || d.failed ? 1 : 0;
}
