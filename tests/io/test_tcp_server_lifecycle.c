/*
 * A TCP server's lifecycle as Node's net.Server (the traces behind these orders are the
 * node-rules conformance scenarios 80-82): the listening callback from the nextTick queue,
 * close(cb) that stops accepting at once and calls back once the last accepted connection is
 * closed, from a tick, the connection count, closing every connection, and the documented
 * error of each misuse (a NULL callback, a hook registered twice, a closing handle, a second
 * close).
 */
/* ctest-labels: io */
/* ctest-timeout: 60 */
#include "harness.h"
#include "util/alloc.h"

/* ---- an event log: the whole sequence is compared ---- */

typedef struct events {
    const char *seq[32];
    int n;
} events;

static void rec(events *e, const char *what)
{
    ASSERT(e->n < 32);
    e->seq[e->n++] = what;
}

static void expect(const events *e, const char **want, int n)
{
    for (int i = 0; i < n && i < e->n; i++) {
        ASSERT_STR_EQ(e->seq[i], want[i]);
    }
    ASSERT_EQ(e->n, n);
}

typedef struct ctx {
    cf_loop *loop;
    events ev;
    cf_tcp *server;
    cf_tcp *conns[4];
    int naccepted;
    cf_tcp *clients[4];
    int nclients;
    size_t count;
    int per_conn_closed;
} ctx;

static void tick_rec(void *data);

typedef struct tick_arg {
    ctx *c;
    const char *what;
} tick_arg;

static void tick_rec(void *data)
{
    tick_arg *a = data;
    rec(&a->c->ev, a->what);
}

static void on_listening(cf_tcp *t, int status, const cf_error *err, void *data)
{
    ctx *c = data;
    ASSERT_EQ(status, 0);
    ASSERT(!err);
    ASSERT(t == c->server);
    rec(&c->ev, "listening");
}

static void on_server_closed(void *data)
{
    ctx *c = data;
    ASSERT_EQ(cf_tcp_connections(c->server), 0); /* still readable: freed after this */
    rec(&c->ev, "server closed");
}

static void keep_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                            void *data)
{
    (void)server;
    (void)err;
    ctx *c = data;
    ASSERT_OK(status);
    ASSERT(c->naccepted < 4);
    c->conns[c->naccepted++] = conn;
}

static void client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                        void *data)
{
    (void)err;
    (void)bytes;
    (void)len;
    (void)data;
    if (status < 0)
        cf_tcp_close(t, NULL, NULL); /* the server side went away */
}

static void client_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_read_start(t, client_read, NULL));
}

static void connect_clients(ctx *c, int n)
{
    for (int i = 0; i < n; i++) {
        ASSERT_OK(cf_tcp_new(c->loop, &c->clients[i]));
        ASSERT_OK(cf_tcp_connect(c->clients[i], "127.0.0.1", cf_tcp_port(c->server), NULL,
                                 client_connected, c));
    }
    c->nclients = n;
}

/* Run the loop until `n` connections were accepted (bounded). */
static void accept_n(ctx *c, int n)
{
    for (int i = 0; i < 1000 && c->naccepted < n; i++) {
        cf_run(c->loop, CF_RUN_ONCE);
    }
    ASSERT_EQ(c->naccepted, n);
}

static void ctx_open(ctx *c)
{
    memset(c, 0, sizeof *c);
    ASSERT_OK(cf_loop_new(&c->loop));
    ASSERT_OK(cf_tcp_new(c->loop, &c->server));
}

static void ctx_finish(ctx *c)
{
    ASSERT_OK(cf_run(c->loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(c->loop));
}

/* ---- listening ---- */

/* With a host, 'listening' is a tick queued by a tick; without one, a tick (Node's order). */
static void test_tcp_server_listening_is_a_tick(void)
{
    ctx c;
    ctx_open(&c);
    tick_arg before = {&c, "tick before"};
    tick_arg after = {&c, "tick after"};
    ASSERT_OK(cf_tcp_on_listening(c.server, on_listening, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &before));
    ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    ASSERT_EQ(c.ev.n, 0); /* never inside the call */
    cf_loop_drain(c.loop);
    const char *want[] = {"tick before", "tick after", "listening"};
    expect(&c.ev, want, 3);
    ASSERT_OK(cf_tcp_close(c.server, NULL, NULL));
    ctx_finish(&c);

    ctx_open(&c);
    ASSERT_OK(cf_tcp_on_listening(c.server, on_listening, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &before));
    ASSERT_OK(cf_tcp_listen(c.server, NULL, 0, 0, 0, keep_connection, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    cf_loop_drain(c.loop);
    const char *want2[] = {"tick before", "listening", "tick after"};
    expect(&c.ev, want2, 3);
    ASSERT_OK(cf_tcp_close(c.server, NULL, NULL));
    ctx_finish(&c);
}

/* Closed before its tick: no listening callback, the close callback still runs, no leak. */
static void test_tcp_server_closed_before_listening(void)
{
    ctx c;
    ctx_open(&c);
    ASSERT_OK(cf_tcp_on_listening(c.server, on_listening, &c));
    ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
    ASSERT_OK(cf_tcp_close(c.server, on_server_closed, &c));
    ctx_finish(&c);
    const char *want[] = {"server closed"};
    expect(&c.ev, want, 1);
}

/* ---- close ---- */

static void conn_closed(void *data)
{
    ctx *c = data;
    c->per_conn_closed++;
    rec(&c->ev, "connection closed");
}

/*
 * close(cb) stops accepting at once and waits for the accepted connections; the callback
 * comes from a tick queued when the last one is closed, before that one's own close callback
 * (close phase).
 */
static void test_tcp_server_close_waits_for_connections(void)
{
    ctx c;
    ctx_open(&c);
    ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
    int port = cf_tcp_port(c.server);
    connect_clients(&c, 2);
    accept_n(&c, 2);
    ASSERT_EQ(cf_tcp_connections(c.server), 2);
    ASSERT_OK(cf_tcp_close(c.server, on_server_closed, &c));
    ASSERT_EQ(cf_tcp_connections(c.server), 2);

    /* Not accepting any more: a new connect is refused. */
    cf_tcp *late;
    ASSERT_OK(cf_tcp_new(c.loop, &late));
    cf_promise *p = cf_tcp_connect_p(late, "127.0.0.1", port, NULL);
    for (int i = 0; i < 1000 && cf_promise_state(p) == CF_PROMISE_PENDING; i++) {
        cf_run(c.loop, CF_RUN_ONCE);
    }
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_error(p)->code, CF_ECONNREFUSED);
    cf_promise_release(p);
    cf_tcp_close(late, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        cf_run(c.loop, CF_RUN_NOWAIT);
    }
    ASSERT_EQ(c.ev.n, 0); /* two connections still open */

    ASSERT_OK(cf_tcp_close(c.conns[0], conn_closed, &c));
    ASSERT_EQ(cf_tcp_connections(c.server), 1);
    cf_run(c.loop, CF_RUN_NOWAIT);
    const char *want1[] = {"connection closed"};
    expect(&c.ev, want1, 1);

    tick_arg after = {&c, "tick after"};
    ASSERT_OK(cf_tcp_close(c.conns[1], conn_closed, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    ASSERT_EQ(c.ev.n, 1); /* not inside the call */
    cf_loop_drain(c.loop);
    const char *want2[] = {"connection closed", "server closed", "tick after"};
    expect(&c.ev, want2, 3);
    ctx_finish(&c);
    const char *want3[] = {"connection closed", "server closed", "tick after", "connection closed"};
    expect(&c.ev, want3, 4);
}

/* With no connection open the callback is a tick queued by the close, before the close phase. */
static void test_tcp_server_close_without_connections(void)
{
    ctx c;
    ctx_open(&c);
    ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
    tick_arg before = {&c, "tick before"};
    tick_arg after = {&c, "tick after"};
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &before));
    ASSERT_OK(cf_tcp_close(c.server, on_server_closed, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    ASSERT_EQ(c.ev.n, 0);
    cf_loop_drain(c.loop);
    const char *want[] = {"tick before", "server closed", "tick after"};
    expect(&c.ev, want, 3);
    ctx_finish(&c);
}

static void on_count(cf_tcp *server, size_t n, void *data)
{
    ctx *c = data;
    ASSERT(server == c->server);
    c->count = n;
    rec(&c->ev, "count");
}

/* getConnections: the count at the call, from a tick; also while closing. */
static void test_tcp_server_get_connections(void)
{
    ctx c;
    ctx_open(&c);
    ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
    connect_clients(&c, 3);
    accept_n(&c, 3);
    ASSERT_OK(cf_tcp_get_connections(c.server, on_count, &c));
    ASSERT_OK(cf_tcp_close(c.conns[2], NULL, NULL)); /* after the call: not counted there */
    ASSERT_EQ(c.ev.n, 0);
    cf_loop_drain(c.loop);
    ASSERT_EQ(c.count, 3);
    ASSERT_EQ(cf_tcp_connections(c.server), 2);

    /* Closing every connection: the count goes to 0 and the close callback follows. */
    ASSERT_OK(cf_tcp_close(c.server, on_server_closed, &c));
    ASSERT_OK(cf_tcp_get_connections(c.server, on_count, &c));
    ASSERT_EQ(cf_tcp_close_connections(c.server, conn_closed, &c), 2);
    ASSERT_EQ(cf_tcp_close_connections(c.server, conn_closed, &c), 0);
    ASSERT_EQ(cf_tcp_connections(c.server), 0);
    ctx_finish(&c);
    ASSERT_EQ(c.count, 2);
    ASSERT_EQ(c.per_conn_closed, 2);
    const char *want[] = {"count", "count", "server closed", "connection closed",
                          "connection closed"};
    expect(&c.ev, want, 5);
}

/* ---- misuse: documented codes, never a crash ---- */

static void test_tcp_server_misuse(void)
{
    ctx c;
    ctx_open(&c);
    cf_tcp *fresh;
    ASSERT_OK(cf_tcp_new(c.loop, &fresh));
    ASSERT_EQ(cf_tcp_on_listening(NULL, on_listening, &c), CF_EINVAL);
    ASSERT_EQ(cf_tcp_on_listening(c.server, NULL, &c), CF_EINVAL);
    ASSERT_OK(cf_tcp_on_listening(c.server, on_listening, &c));
    ASSERT_EQ(cf_tcp_on_listening(c.server, on_listening, &c), CF_EBUSY); /* twice */
    ASSERT_EQ(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, NULL, &c), CF_EINVAL);
    ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
    ASSERT_EQ(cf_tcp_on_listening(fresh, NULL, NULL), CF_EINVAL);
    /* Never listened: not a server. */
    ASSERT_EQ(cf_tcp_get_connections(fresh, on_count, &c), CF_EINVAL);
    ASSERT_EQ(cf_tcp_close_connections(fresh, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_connections(fresh), 0);
    ASSERT_EQ(cf_tcp_get_connections(NULL, on_count, &c), CF_EINVAL);
    ASSERT_EQ(cf_tcp_get_connections(c.server, NULL, &c), CF_EINVAL);
    ASSERT_EQ(cf_tcp_close_connections(NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_connections(NULL), 0);
    ASSERT_EQ(cf_tcp_close(NULL, NULL, NULL), CF_EINVAL);

    ASSERT_OK(cf_tcp_close(fresh, NULL, NULL));
    ASSERT_EQ(cf_tcp_on_listening(fresh, on_listening, &c), CF_ECLOSED);
    ASSERT_OK(cf_tcp_close(c.server, on_server_closed, &c));
    ASSERT_EQ(cf_tcp_close(c.server, on_server_closed, &c), CF_ECLOSED); /* a second close */
    ASSERT_EQ(cf_tcp_on_listening(c.server, on_listening, &c), CF_ECLOSED);
    ASSERT_EQ(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c), CF_ECLOSED);
    ctx_finish(&c);
    const char *want[] = {"server closed"}; /* once; never 'listening' */
    expect(&c.ev, want, 1);
}

/*
 * Out of memory for the close tick: the callback still runs exactly once (from the pending
 * phase then) and nothing leaks. Every allocation from the n-th on fails, n = 1, 2, ...
 */
static void test_tcp_server_close_out_of_memory(void)
{
    for (long n = 1; n <= 8; n++) {
        ctx c;
        ctx_open(&c);
        ASSERT_OK(cf_tcp_listen(c.server, "127.0.0.1", 0, 0, 0, keep_connection, &c));
        cf__alloc_fail_after(n, 1);
        int rc = cf_tcp_get_connections(c.server, on_count, &c);
        ASSERT(rc == 0 || rc == CF_ENOMEM);
        ASSERT_OK(cf_tcp_close(c.server, on_server_closed, &c));
        cf__alloc_fail_after(0, 0);
        ctx_finish(&c);
        ASSERT_EQ(c.ev.n, rc == 0 ? 2 : 1);
        ASSERT_STR_EQ(c.ev.seq[c.ev.n - 1], "server closed");
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_tcp_server_listening_is_a_tick);
    CF_TEST(test_tcp_server_closed_before_listening);
    CF_TEST(test_tcp_server_close_waits_for_connections);
    CF_TEST(test_tcp_server_close_without_connections);
    CF_TEST(test_tcp_server_get_connections);
    CF_TEST(test_tcp_server_misuse);
    CF_TEST(test_tcp_server_close_out_of_memory);
    return CF_TEST_END();
}
