/* 80: the listening callback of a TCP server that listens on 127.0.0.1 comes from a tick
 * queued by a tick; getConnections' callback is a tick (program.js). */
#include "server_scenario.h"

static cf_tcp *server;

static void on_connection(cf_tcp *s, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)s;
    (void)status;
    (void)err;
    (void)data;
    if (conn)
        cf_tcp_close(conn, NULL, NULL);
}

static void on_closed(void *data)
{
    (void)data;
    say("closed");
}

static void on_immediate(void *data)
{
    (void)data;
    say("immediate");
    CHECK(cf_tcp_close(server, on_closed, NULL));
}

static void on_count(cf_tcp *s, size_t n, void *data)
{
    (void)s;
    (void)data;
    printf("getConnections null %zu\n", n);
}

static void on_listening(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)status;
    (void)err;
    (void)data;
    say("listening");
    tick_say("tick in listening");
    promise_say("promise in listening");
    CHECK(cf_tcp_get_connections(server, on_count, NULL));
    tick_say("tick after getConnections");
    immediate(on_immediate, NULL);
}

static void nested_tick(void *data)
{
    (void)data;
    tick_say("tick queued by a tick");
}

int main(void)
{
    scenario_begin();
    CHECK(cf_tcp_new(loop, &server));
    tick_say("tick before listen");
    promise_say("promise before listen");
    CHECK(cf_tcp_on_listening(server, on_listening, NULL));
    CHECK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, NULL));
    tick_say("tick after listen");
    CHECK(cf_next_tick(loop, nested_tick, NULL));
    promise_say("promise after listen");
    say("main end");
    return scenario_end();
}
