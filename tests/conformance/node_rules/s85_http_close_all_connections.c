/* 85: closeAllConnections closes a connection whose request is in progress too; after the
 * close that makes the close callback come from a tick queued right then (program.js). */
#include "server_scenario.h"

static cf_http_server *server;

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

static void close_steps(void *data)
{
    cf_http_res *res = data;
    tick_say("tick before close");
    CHECK(cf_http_server_close(server, on_closed, NULL));
    CHECK(cf_http_server_get_connections(server, on_count, LABEL("connections after close")));
    cf_http_server_close_all_connections(server);
    say("closeAllConnections returned");
    CHECK(cf_http_server_get_connections(server, on_count,
                                         LABEL("connections after closeAllConnections")));
    tick_say("tick after closeAllConnections");
    promise_say("promise after closeAllConnections");
    immediate(log_cb, LABEL("immediate after closeAllConnections"));
    cf_http_res_end(res, NULL, 0); /* the connection is gone; the response must still end */
}

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)data;
    printf("request %s\n", cf_http_incoming_target(req));
    immediate(close_steps, res);
}

static void on_listening(cf_http_server *srv, void *data)
{
    (void)data;
    say("listening");
    raw_connect(cf_http_server_port(srv), "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL, NULL);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_http_server_new(loop, NULL, handler, NULL, &server));
    CHECK(cf_http_server_on_listening(server, on_listening, NULL));
    CHECK(cf_http_server_listen(server, "127.0.0.1", 0));
    return scenario_end();
}
