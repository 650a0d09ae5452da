/*
 * 43: a client socket destroyed in its connect callback reports close in the close phase,
 * after the immediates of the same iteration; the server's close comes last.
 */
#include "scenario.h"

static cf_tcp *server;

/* The accepted socket ignores errors and goes away when the client does (nothing logged). */
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

static void client_closed(void *data)
{
    (void)data;
    say("client close");
    CHECK(cf_tcp_close(server, server_closed, NULL));
}

static void connected(cf_tcp *client, int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    CHECK(status);
    say("connected");
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate"), NULL));
    resolved_then(log_then, LABEL("microtask"));
    CHECK(cf_next_tick(loop, log_cb, LABEL("nextTick")));
    CHECK(cf_tcp_close(client, client_closed, NULL)); /* destroy, with the 'close' listener */
    say("destroy called");
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
