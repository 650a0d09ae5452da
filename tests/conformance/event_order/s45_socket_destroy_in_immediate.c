/*
 * 45: a socket destroyed inside an immediate reports close in the close phase of the same
 * iteration, before an immediate scheduled by that immediate (it waits for the next one).
 */
#include "scenario.h"

static cf_tcp *server;
static cf_tcp *client;

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

static void client_closed(void *data)
{
    (void)data;
    say("client close");
    CHECK(cf_tcp_close(server, NULL, NULL));
}

static void immediate1(void *data)
{
    (void)data;
    say("immediate 1");
    CHECK(cf_tcp_close(client, client_closed, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 3 (scheduled by immediate 1)"), NULL));
}

static void connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)err;
    (void)data;
    CHECK(status);
    say("connected");
    CHECK(cf_set_immediate(loop, immediate1, NULL, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 2"), NULL));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_tcp_new(loop, &server));
    CHECK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, NULL));
    CHECK(cf_tcp_new(loop, &client));
    CHECK(cf_tcp_connect(client, "127.0.0.1", cf_tcp_port(server), NULL, connected, NULL));
    scenario_run();
    return scenario_end();
}
