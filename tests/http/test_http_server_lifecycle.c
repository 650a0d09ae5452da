/*
 * The HTTP server's lifecycle as Node's http.Server (the traces behind these orders are the
 * node-rules conformance scenarios 83-85): the listening callback, close(cb) delivered from a
 * tick once the last connection is gone, getConnections, closeIdleConnections and
 * closeAllConnections against raw keep-alive clients on loopback, and the documented error of
 * each misuse.
 */
/* ctest-labels: http */
/* ctest-timeout: 60 */
#include "harness.h"
#include "util/alloc.h"

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

/* A raw keep-alive client: sends its request, keeps what comes back, closes at the end. */
typedef struct client {
    cf_tcp *t;
    const char *request;
    char got[2048];
    size_t len;
    int eof;
} client;

typedef struct ctx {
    cf_loop *loop;
    cf_http_server *srv;
    events ev;
    client a;
    client b;
    cf_http_res *held;
    int nrequests;
    int finish_status;
    size_t count;
} ctx;

typedef struct tick_arg {
    ctx *c;
    const char *what;
} tick_arg;

static void tick_rec(void *data)
{
    tick_arg *a = data;
    rec(&a->c->ev, a->what);
}

static void client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                        void *data)
{
    (void)err;
    client *cl = data;
    if (status < 0) {
        cl->eof = 1;
        cf_tcp_close(t, NULL, NULL);
        cl->t = NULL;
        return;
    }
    size_t room = sizeof cl->got - 1 - cl->len;
    size_t n = len < room ? len : room;
    memcpy(cl->got + cl->len, bytes, n);
    cl->len += n;
    cl->got[cl->len] = '\0';
}

static void client_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    client *cl = data;
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_read_start(t, client_read, cl));
    ASSERT(cf_tcp_write_copy(t, cl->request, strlen(cl->request)) >= 0);
}

static void client_start(ctx *c, client *cl, const char *request)
{
    cl->request = request;
    ASSERT_OK(cf_tcp_new(c->loop, &cl->t));
    ASSERT_OK(cf_tcp_connect(cl->t, "127.0.0.1", cf_http_server_port(c->srv), NULL,
                             client_connected, cl));
}

/* Run the loop until `*flag` (bounded). */
static void run_until(ctx *c, const int *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++) {
        cf_run(c->loop, CF_RUN_ONCE);
    }
    ASSERT(*flag);
}

static void run_until_len(ctx *c, client *cl, const char *end)
{
    for (int i = 0; i < 2000; i++) {
        if (cl->len >= strlen(end) && !strcmp(cl->got + cl->len - strlen(end), end))
            return;
        cf_run(c->loop, CF_RUN_ONCE);
    }
    CF_TEST_FAILF("no response ending with '%s'; got '%s'", end, cl->got);
}

static void on_finish(cf_http_res *res, int status, void *data)
{
    (void)res;
    ctx *c = data;
    c->finish_status = status;
}

/* "/hold" keeps its response open (a request in progress); anything else answers "ok". */
static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    ctx *c = data;
    c->nrequests++;
    if (!strcmp(cf_http_incoming_target(req), "/hold")) {
        c->held = res;
        cf_http_res_on_finish(res, on_finish, c);
        return;
    }
    cf_http_res_end(res, "ok", 2);
}

static void on_closed(void *data)
{
    ctx *c = data;
    ASSERT_EQ(cf_http_server_connections(c->srv), 0); /* still readable: freed after this */
    rec(&c->ev, "closed");
}

static void on_listening(cf_http_server *srv, void *data)
{
    ctx *c = data;
    ASSERT(srv == c->srv);
    rec(&c->ev, "listening");
}

static void on_count(cf_http_server *srv, size_t n, void *data)
{
    ctx *c = data;
    ASSERT(srv == c->srv);
    c->count = n;
    rec(&c->ev, "count");
}

static void ctx_open(ctx *c)
{
    memset(c, 0, sizeof *c);
    ASSERT_OK(cf_loop_new(&c->loop));
    ASSERT_OK(cf_http_server_new(c->loop, NULL, handler, c, &c->srv));
}

static void ctx_finish(ctx *c)
{
    ASSERT_OK(cf_run(c->loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(c->loop));
}

/* ---- listening and misuse ---- */

static void test_http_server_listening_and_misuse(void)
{
    ctx c;
    ctx_open(&c);
    tick_arg before = {&c, "tick before"};
    tick_arg after = {&c, "tick after"};
    ASSERT_EQ(cf_http_server_on_listening(NULL, on_listening, &c), CF_EINVAL);
    ASSERT_EQ(cf_http_server_on_listening(c.srv, NULL, &c), CF_EINVAL);
    ASSERT_OK(cf_http_server_on_listening(c.srv, on_listening, &c));
    ASSERT_EQ(cf_http_server_on_listening(c.srv, on_listening, &c), CF_EBUSY); /* twice */
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &before));
    ASSERT_OK(cf_http_server_listen(c.srv, "127.0.0.1", 0));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    ASSERT_EQ(c.ev.n, 0);
    cf_loop_drain(c.loop);
    const char *want[] = {"tick before", "tick after", "listening"};
    expect(&c.ev, want, 3);

    ASSERT_EQ(cf_http_server_get_connections(NULL, on_count, &c), CF_EINVAL);
    ASSERT_EQ(cf_http_server_get_connections(c.srv, NULL, &c), CF_EINVAL);
    ASSERT_EQ(cf_http_server_close_idle_connections(NULL), CF_EINVAL);
    ASSERT_EQ(cf_http_server_close_idle_connections(c.srv), 0);
    ASSERT_EQ(cf_http_server_close(NULL, on_closed, &c), CF_EINVAL);
    cf_http_server_close_all_connections(NULL);
    ASSERT_EQ(cf_http_server_connections(NULL), 0);
    ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c));
    ASSERT_EQ(cf_http_server_close(c.srv, on_closed, &c), CF_ECLOSED); /* a second close */
    ASSERT_EQ(cf_http_server_on_listening(c.srv, on_listening, &c), CF_ECLOSED);
    ASSERT_EQ(cf_http_server_listen(c.srv, "127.0.0.1", 0), CF_EINVAL);
    ASSERT_OK(cf_http_server_get_connections(c.srv, on_count, &c)); /* closing: still answers */
    ctx_finish(&c);
    const char *want2[] = {"tick before", "tick after", "listening", "closed", "count"};
    expect(&c.ev, want2, 5);
    ASSERT_EQ(c.count, 0);
}

/* A server that never listened closes the same way: from a tick queued by the close. */
static void test_http_server_close_never_listened(void)
{
    ctx c;
    ctx_open(&c);
    ASSERT_OK(cf_http_server_on_listening(c.srv, on_listening, &c));
    tick_arg before = {&c, "tick before"};
    tick_arg after = {&c, "tick after"};
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &before));
    ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c));
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    ASSERT_EQ(c.ev.n, 0);
    ctx_finish(&c);
    const char *want[] = {"tick before", "closed", "tick after"};
    expect(&c.ev, want, 3);
}

/* ---- closing connections ---- */

#define REQ_A    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define REQ_HOLD "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"

/* Two connections: A idle after a keep-alive response, B with its request in progress. */
static void open_idle_and_active(ctx *c)
{
    ASSERT_OK(cf_http_server_listen(c->srv, "127.0.0.1", 0));
    client_start(c, &c->a, REQ_A);
    run_until_len(c, &c->a, "\r\n\r\nok");
    ASSERT(strstr(c->a.got, "Connection: keep-alive"));
    client_start(c, &c->b, REQ_HOLD);
    for (int i = 0; i < 2000 && !c->held; i++) {
        cf_run(c->loop, CF_RUN_ONCE);
    }
    ASSERT(c->held);
    ASSERT_EQ(cf_http_server_connections(c->srv), 2);
}

/*
 * closeIdleConnections closes A only; close(cb) then waits for B's request: its response says
 * Connection: close, and the callback comes once B's connection is gone.
 */
static void test_http_server_close_idle_then_active(void)
{
    ctx c;
    ctx_open(&c);
    open_idle_and_active(&c);
    ASSERT_EQ(cf_http_server_close_idle_connections(c.srv), 1);
    ASSERT_EQ(cf_http_server_connections(c.srv), 1);
    run_until(&c, &c.a.eof); /* the client sees its idle connection end */
    ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c));
    for (int i = 0; i < 5; i++) {
        cf_run(c.loop, CF_RUN_NOWAIT);
    }
    ASSERT_EQ(c.ev.n, 0); /* B's request is still in progress */
    ASSERT_EQ(cf_http_server_connections(c.srv), 1);
    ASSERT_OK(cf_http_res_end(c.held, "ok", 2));
    ctx_finish(&c);
    ASSERT(strstr(c.b.got, "Connection: close"));
    ASSERT(c.b.eof);
    ASSERT_EQ(c.finish_status, 0);
    const char *want[] = {"closed"};
    expect(&c.ev, want, 1);
}

/* closeAllConnections closes B too; the held response fails with CF_ECANCELED. */
static void test_http_server_close_all_connections(void)
{
    ctx c;
    ctx_open(&c);
    open_idle_and_active(&c);
    ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c));
    ASSERT_EQ(cf_http_server_connections(c.srv), 1); /* close closed the idle one */
    ASSERT_OK(cf_http_server_get_connections(c.srv, on_count, &c));
    tick_arg after = {&c, "tick after"};
    cf_http_server_close_all_connections(c.srv);
    ASSERT_OK(cf_next_tick(c.loop, tick_rec, &after));
    ASSERT_EQ(cf_http_server_connections(c.srv), 0);
    ASSERT_EQ(c.ev.n, 0);
    cf_loop_drain(c.loop);
    const char *want[] = {"count", "closed", "tick after"};
    expect(&c.ev, want, 3);
    ASSERT_EQ(c.count, 1);
    ASSERT_EQ(cf_http_res_end(c.held, NULL, 0), CF_ECLOSED);
    ctx_finish(&c);
    ASSERT_EQ(c.finish_status, CF_ECANCELED);
    ASSERT(c.a.eof && c.b.eof);
}

/*
 * Out of memory for the close tick (every allocation from the n-th on fails): the callback
 * still runs exactly once, when the server's memory goes, and nothing leaks.
 */
static void test_http_server_close_out_of_memory(void)
{
    for (long n = 1; n <= 8; n++) {
        ctx c;
        ctx_open(&c);
        ASSERT_OK(cf_http_server_listen(c.srv, "127.0.0.1", 0));
        cf__alloc_fail_after(n, 1);
        int rc = cf_http_server_get_connections(c.srv, on_count, &c);
        ASSERT(rc == 0 || rc == CF_ENOMEM);
        ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c));
        cf__alloc_fail_after(0, 0);
        ctx_finish(&c);
        ASSERT_EQ(c.ev.n, rc == 0 ? 2 : 1);
        ASSERT_STR_EQ(c.ev.seq[c.ev.n - 1], "closed");
    }
}

/* ---- the listen signal (≈ server.listen({ signal })) ---- */

static void refused_connect(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    int *code = data;
    *code = status;
    cf_tcp_close(t, NULL, NULL);
}

/*
 * The signal closes the server while a request is in flight: the idle connection goes at
 * once, new connections are refused, the request in flight finishes (its response says
 * Connection: close), and only then does the close callback run. The handle stays the
 * caller's until cf_http_server_close, which the signal does not replace.
 */
static void test_http_server_closed_by_signal(void)
{
    ctx c;
    memset(&c, 0, sizeof c);
    ASSERT_OK(cf_loop_new(&c.loop));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_http_server_opts o = {.signal = cf_abort_get_signal(ctrl)};
    ASSERT_OK(cf_http_server_new(c.loop, &o, handler, &c, &c.srv));
    open_idle_and_active(&c);
    int port = cf_http_server_port(c.srv);
    ASSERT(cf_http_server_is_active(c.srv));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_ECANCELED, "shutting down")));
    ASSERT(!cf_http_server_is_active(c.srv));
    run_until(&c, &c.a.eof); /* the idle connection was closed */
    cf_tcp *late;
    int late_status = 1;
    ASSERT_OK(cf_tcp_new(c.loop, &late));
    ASSERT_OK(cf_tcp_connect(late, "127.0.0.1", port, NULL, refused_connect, &late_status));
    for (int i = 0; i < 2000 && late_status == 1; i++) {
        cf_run(c.loop, CF_RUN_ONCE);
    }
    ASSERT_EQ(late_status, CF_ECONNREFUSED);
    ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c)); /* still the caller's to free */
    ASSERT_EQ(cf_http_server_close(c.srv, on_closed, &c), CF_ECLOSED);
    for (int i = 0; i < 5; i++) {
        cf_run(c.loop, CF_RUN_NOWAIT);
    }
    ASSERT_EQ(c.ev.n, 0); /* the request is still in flight */
    ASSERT_EQ(cf_http_server_connections(c.srv), 1);
    rec(&c.ev, "response ended");
    ASSERT_OK(cf_http_res_end(c.held, "ok", 2));
    ctx_finish(&c);
    ASSERT(strstr(c.b.got, "Connection: close"));
    ASSERT(strstr(c.b.got, "\r\n\r\nok"));
    ASSERT(c.b.eof);
    ASSERT_EQ(c.finish_status, 0);
    const char *want[] = {"response ended", "closed"};
    expect(&c.ev, want, 2);
    cf_abort_free(ctrl); /* the signal's last reference: the server kept none */
}

/*
 * An already aborted signal: listen fails with CF_ECANCELED and starts nothing (the reason
 * stays the signal's); the server is closed and freed as usual. Reference accounting: an
 * unref'd server does not keep the loop alive.
 */
static void test_http_server_signal_already_aborted_and_ref(void)
{
    ctx c;
    memset(&c, 0, sizeof c);
    ASSERT_OK(cf_loop_new(&c.loop));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_ECANCELED, "not today")));
    cf_http_server_opts o = {.signal = cf_abort_get_signal(ctrl)};
    ASSERT_OK(cf_http_server_new(c.loop, &o, handler, &c, &c.srv));
    ASSERT_EQ(cf_http_server_listen(c.srv, "127.0.0.1", 0), CF_ECANCELED);
    ASSERT_STR_EQ(cf_error_message(cf_abort_signal_reason(o.signal)), "not today");
    ASSERT_EQ(cf_http_server_port(c.srv), 0);
    ASSERT(!cf_http_server_is_active(c.srv));
    ASSERT_OK(cf_http_server_close(c.srv, on_closed, &c));
    ASSERT_OK(cf_run(c.loop, CF_RUN_DEFAULT));
    const char *want[] = {"closed"};
    expect(&c.ev, want, 1);
    cf_abort_free(ctrl);

    /* unref: a listening server alone does not keep cf_run going. */
    cf_http_server *srv;
    ASSERT_OK(cf_http_server_new(c.loop, NULL, handler, &c, &srv));
    ASSERT(cf_http_server_has_ref(srv));
    cf_http_server_unref(srv);
    ASSERT(!cf_http_server_has_ref(srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    ASSERT(cf_http_server_is_active(srv));
    ASSERT_OK(cf_run(c.loop, CF_RUN_DEFAULT)); /* returns: nothing referenced */
    cf_http_server_ref(srv);
    ASSERT(cf_http_server_has_ref(srv));
    ASSERT_OK(cf_http_server_close(srv, NULL, NULL));
    ctx_finish(&c);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_listening_and_misuse);
    CF_TEST(test_http_server_close_never_listened);
    CF_TEST(test_http_server_close_idle_then_active);
    CF_TEST(test_http_server_close_all_connections);
    CF_TEST(test_http_server_close_out_of_memory);
    CF_TEST(test_http_server_closed_by_signal);
    CF_TEST(test_http_server_signal_already_aborted_and_ref);
    return CF_TEST_END();
}
