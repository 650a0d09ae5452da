/* 83: closing an HTTP server closes its idle keep-alive connection at once; with nothing else
 * open the close callback comes from a tick queued by the close (program.js). */
#include "server_scenario.h"

static cf_http_server *server;

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)data;
    printf("request %s\n", cf_http_incoming_target(req));
    cf_http_res_end(res, "ok", 2);
}

static void on_closed(void *data)
{
    (void)data;
    say("server close callback undefined");
}

static void on_count(cf_http_server *srv, size_t n, void *data)
{
    (void)srv;
    printf("%s %zu\n", (const char *)data, n);
}

static void on_immediate(void *data)
{
    (void)data;
    tick_say("tick before close");
    CHECK(cf_http_server_close(server, on_closed, NULL));
    say("close returned");
    tick_say("tick after close");
    promise_say("promise after close");
    CHECK(cf_http_server_get_connections(server, on_count, LABEL("connections after close")));
}

static void on_response(void *data)
{
    (void)data;
    say("response received");
    CHECK(cf_http_server_get_connections(server, on_count, LABEL("connections")));
    immediate(on_immediate, NULL);
}

static void on_listening(cf_http_server *srv, void *data)
{
    (void)data;
    say("listening");
    raw_connect(cf_http_server_port(srv), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nok",
                on_response, NULL);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_http_server_new(loop, NULL, handler, NULL, &server));
    CHECK(cf_http_server_on_listening(server, on_listening, NULL));
    CHECK(cf_http_server_listen(server, "127.0.0.1", 0));
    return scenario_end();
}
