/*
 * 44: the close phase of an iteration comes before the next timers phase: a socket destroyed
 * in its connect callback reports close before a 0 ms timer created in that callback.
 */
#include "scenario.h"

static cf_tcp *server;

static void conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                      void *data)
{
    (void)err;
    (void)bytes;
    (void)len;
    (void)data;
    if (status < 0)
        cf_tcp_close(t, NULL, NULL);
}

static void on_connection(cf_tcp *s, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)s;
    (void)err;
    (void)data;
    if (status == 0)
        CHECK(cf_tcp_read_start(conn, conn_read, NULL));
}

static void server_closed(void *data)
{
    (void)data;
    say("server close");
}

static void on_timeout(void *data)
{
    (void)data;
    say("timeout");
    CHECK(cf_tcp_close(server, server_closed, NULL));
}

static void client_closed(void *data)
{
    (void)data;
    say("client close");
}

static void connected(cf_tcp *client, int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    CHECK(status);
    say("connected");
    CHECK(cf_set_timeout(loop, 0, on_timeout, NULL, NULL));
    CHECK(cf_tcp_close(client, client_closed, NULL));
}

int main(void)
{
    scenario_begin();
    cf_tcp *client;
    CHECK(cf_tcp_new(loop, &server));
    CHECK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, NULL));
    CHECK(cf_tcp_new(loop, &client));
    CHECK(cf_tcp_connect(client, "127.0.0.1", cf_tcp_port(server), NULL, connected, NULL));
    scenario_run();
    return scenario_end();
}
