/* 82: a TCP server's close callback waits for its last connection, then comes from a tick
 * queued when that connection is closed, before the connection's own close (program.js). */
#include "server_scenario.h"

static cf_tcp *server;

static void on_server_closed(void *data)
{
    (void)data;
    say("server close callback undefined");
}

static void on_sock_closed(void *data)
{
    (void)data;
    say("server socket close");
}

static void on_count(cf_tcp *s, size_t n, void *data)
{
    (void)s;
    (void)data;
    printf("getConnections %zu\n", n);
}

static void on_immediate(void *data)
{
    cf_tcp *sock = data;
    say("immediate");
    tick_say("tick before destroy");
    CHECK(cf_tcp_close(sock, on_sock_closed, NULL));
    say("destroy returned");
    tick_say("tick after destroy");
    promise_say("promise after destroy");
    immediate(log_cb, LABEL("immediate after destroy"));
}

static void on_connection(cf_tcp *s, int status, const cf_error *err, cf_tcp *sock, void *data)
{
    (void)s;
    (void)err;
    (void)data;
    check(status, "accept");
    say("connection");
    CHECK(cf_tcp_close(server, on_server_closed, NULL));
    say("close returned, listening false");
    CHECK(cf_tcp_get_connections(server, on_count, NULL));
    immediate(on_immediate, sock);
}

static void on_listening(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)status;
    (void)err;
    (void)data;
    say("listening");
    raw_connect(cf_tcp_port(t), NULL, NULL, NULL, NULL);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_tcp_new(loop, &server));
    CHECK(cf_tcp_on_listening(server, on_listening, NULL));
    CHECK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, NULL));
    return scenario_end();
}
