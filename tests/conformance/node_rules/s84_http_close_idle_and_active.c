/* 84: closeIdleConnections closes the idle connection, not the one with a request in
 * progress; the close callback waits for that request and its connection (program.js). */
#include "server_scenario.h"

static cf_http_server *server;
static cf_http_res *slow;

static void on_count(cf_http_server *srv, size_t n, void *data)
{
    (void)srv;
    printf("%s %zu\n", (const char *)data, n);
}

static void on_closed(void *data)
{
    (void)data;
    say("server close callback undefined");
}

static void end_slow(void *data)
{
    (void)data;
    say("ending the slow response");
    cf_http_res_end(slow, "ok", 2);
}

static void close_step(void *data)
{
    (void)data;
    say("close");
    CHECK(cf_http_server_close(server, on_closed, NULL));
    immediate(end_slow, NULL);
}

static void close_idle_step(void *data)
{
    (void)data;
    say("closeIdleConnections");
    CHECK(cf_http_server_close_idle_connections(server));
    CHECK(cf_http_server_get_connections(server, on_count,
                                         LABEL("connections after closeIdleConnections")));
    immediate(close_step, NULL);
}

static void close_steps(void *data)
{
    (void)data;
    CHECK(cf_http_server_get_connections(server, on_count, LABEL("connections")));
    immediate(close_idle_step, NULL);
}

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)data;
    const char *target = cf_http_incoming_target(req);
    printf("request %s\n", target);
    if (!strcmp(target, "/slow")) {
        slow = res;
        immediate(close_steps, NULL);
        return;
    }
    cf_http_res_end(res, "ok", 2);
}

static void on_first_response(void *data)
{
    (void)data;
    raw_connect(cf_http_server_port(server), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL,
                NULL);
}

static void on_listening(cf_http_server *srv, void *data)
{
    (void)data;
    say("listening");
    raw_connect(cf_http_server_port(srv), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nok",
                on_first_response, NULL);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_http_server_new(loop, NULL, handler, NULL, &server));
    CHECK(cf_http_server_on_listening(server, on_listening, NULL));
    CHECK(cf_http_server_listen(server, "127.0.0.1", 0));
    return scenario_end();
}
