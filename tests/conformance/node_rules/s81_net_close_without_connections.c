/* 81: a TCP server that never had a connection: the close callback comes from a tick queued
 * by the close, neither inside it nor in the close phase (program.js). */
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
    say("close callback undefined");
}

static void on_count(cf_tcp *s, size_t n, void *data)
{
    (void)s;
    (void)data;
    printf("getConnections after close %zu\n", n);
}

static void on_immediate(void *data)
{
    (void)data;
    say("immediate");
    tick_say("tick before close");
    promise_say("promise before close");
    CHECK(cf_tcp_close(server, on_closed, NULL));
    say("close returned, listening false");
    CHECK(cf_tcp_get_connections(server, on_count, NULL));
    tick_say("tick after close");
    promise_say("promise after close");
    immediate(log_cb, LABEL("immediate after close"));
}

static void on_listening(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)status;
    (void)err;
    (void)data;
    say("listening");
    immediate(on_immediate, NULL);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_tcp_new(loop, &server));
    CHECK(cf_tcp_on_listening(server, on_listening, NULL));
    CHECK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, NULL));
    return scenario_end();
}
