/*
 * The Studio Ghibli API stand-in as a program (≈ `node app.js` of the real API): serves the
 * bundled data set with the real API's routes until SIGINT or SIGTERM, then closes
 * gracefully (requests in flight finish first). The stand-in is application code, not the
 * library's: this program links apps/ghibli_api (ghibli_api.h).
 *
 *   ghibli_serve [--port N] [--host H] [--data PATH] [--keep-alive MS] [--busy-poll US]
 *                [--metrics] [--check]
 *
 * It prints `PORT <n>` on stdout once listening (port 0, the default, picks a free one).
 * The data file defaults to $CF_GHIBLI_DATA, else the copy found next to the program or in
 * the source tree (see ghibli_api_find_data). --keep-alive sets how long an idle connection is
 * kept (default 5000 ms; 0 keeps it forever). --busy-poll lets the loop poll for up to US
 * microseconds before it sleeps (cf_loop_set_busy_poll; off by default). --metrics turns the
 * loop's timed metrics on (cf_loop_metrics_enable; bench/http_observe.sh counts what they
 * cost). With --check it fetches /films from itself with the project's HTTP client, prints how
 * many films it got, and stops (what CI runs).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer.h"
#include "ghibli_api.h"

typedef struct app {
    ghibli_server *server;
    cf_signal *sigint;
    cf_signal *sigterm;
    int failed;
} app;

static void stop(app *a)
{
    if (!a->server)
        return;
    ghibli_server_close(a->server, NULL, NULL);
    a->server = NULL;
    cf_signal_close(a->sigint, NULL, NULL);
    cf_signal_close(a->sigterm, NULL, NULL);
}

static void on_signal(cf_signal *sig, int signum, void *data)
{
    (void)sig;
    fprintf(stderr, "ghibli_serve: %s, closing\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    stop(data);
}

/* --check: GET /films from ourselves, count the films, stop. */
static void on_films(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                     void *data)
{
    (void)req;
    app *a = data;
    if (status < 0) {
        fprintf(stderr, "ghibli_serve: %s\n", err->message);
        a->failed = 1;
    } else {
        cf_buf body = cf_http_response_body(res);
        cf_json *films = NULL;
        if (cf_json_parse(body.base, body.len, NULL, &films, NULL) == 0) {
            printf("GET /films: %d, %zu films\n", cf_http_response_status(res),
                   cf_json_size(films));
        } else {
            a->failed = 1;
        }
        cf_json_free(films);
    }
    stop(a);
}

int main(int argc, char **argv)
{
    ghibli_server_opts opts = {0};
    cf_http_server_opts http = {0};
    opts.http = &http;
    int check = 0;
    long busy_poll = 0;
    int metrics = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            opts.port = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            opts.host = argv[++i];
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            opts.data_path = argv[++i];
        } else if (strcmp(argv[i], "--keep-alive") == 0 && i + 1 < argc) {
            long ms = strtol(argv[++i], NULL, 10);
            http.keep_alive_timeout_ms = ms > 0 ? (uint64_t)ms : CF_HTTP_NO_TIMEOUT;
        } else if (strcmp(argv[i], "--busy-poll") == 0 && i + 1 < argc) {
            char *end;
            busy_poll = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end)
                busy_poll = -1; /* not a number: refused below */
        } else if (strcmp(argv[i], "--metrics") == 0) {
            metrics = 1;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "usage: ghibli_serve [--port N] [--host H] [--data PATH] "
                            "[--keep-alive MS] [--busy-poll US] [--metrics] [--check]\n");
            return 2;
        }
    }
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    if (busy_poll < 0 || busy_poll > (long)CF_LOOP_BUSY_POLL_MAX ||
        cf_loop_set_busy_poll(loop, (unsigned)busy_poll) != 0) {
        fprintf(stderr, "ghibli_serve: --busy-poll takes 0 to %u microseconds\n",
                CF_LOOP_BUSY_POLL_MAX);
        cf_loop_close(loop);
        return 2;
    }
    if (metrics && cf_loop_metrics_enable(loop, 1) != 0) {
        fprintf(stderr, "ghibli_serve: cannot turn the timed metrics on\n");
        cf_loop_close(loop);
        return 1;
    }
    app a = {0};
    cf_error *err = NULL;
    int rc = ghibli_server_start(loop, &opts, &a.server, &err);
    if (rc < 0) {
        fprintf(stderr, "ghibli_serve: %s\n", err ? err->message : cf_strerror(rc));
        cf_error_free(err);
        cf_loop_close(loop);
        return 1;
    }
    printf("PORT %d\n", ghibli_server_port(a.server));
    fflush(stdout);
    cf_signal_new(loop, &a.sigint);
    cf_signal_new(loop, &a.sigterm);
    cf_signal_start(a.sigint, SIGINT, on_signal, &a);
    cf_signal_start(a.sigterm, SIGTERM, on_signal, &a);
    if (check) {
        char url[160];
        snprintf(url, sizeof url, "%s/films", ghibli_server_url(a.server));
        rc = cf_http_request(loop, url, NULL, on_films, &a, NULL);
        if (rc < 0) {
            a.failed = 1;
            stop(&a);
        }
    }
    rc = cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return rc < 0 || a.failed ? 1 : 0;
}
