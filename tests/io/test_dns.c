/*
 * Name resolution on the pool: getaddrinfo and getnameinfo in both forms, errors worded as
 * Node's ("getaddrinfo ENOTFOUND host"), and cancellation before and after a worker took the
 * lookup. Only local names are resolved (localhost, numeric addresses, the .invalid domain).
 */
/* ctest-labels: tsan */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "harness.h"

typedef struct dns_out {
    int calls;
    int status;
    int v4;
    char message[256];
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
} dns_out;

static void on_addrinfo(int status, const cf_error *err, const struct addrinfo *res, void *data)
{
    dns_out *o = data;
    o->calls++;
    o->status = status;
    if (status < 0) {
        ASSERT_PTR(err);
        snprintf(o->message, sizeof o->message, "%s", err->message);
        ASSERT(res == NULL);
        return;
    }
    ASSERT(err == NULL);
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)a->ai_addr;
            o->v4 += in->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
        }
    }
}

static void on_nameinfo(int status, const cf_error *err, const char *host, const char *service,
                        void *data)
{
    dns_out *o = data;
    o->calls++;
    o->status = status;
    if (status < 0) {
        snprintf(o->message, sizeof o->message, "%s", err->message);
        return;
    }
    snprintf(o->host, sizeof o->host, "%s", host);
    snprintf(o->service, sizeof o->service, "%s", service);
}

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static void loop_finish(cf_loop *loop)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_dns_getaddrinfo_localhost(void)
{
    cf_loop *loop = loop_new();
    dns_out o = {0};
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    ASSERT_OK(cf_dns_getaddrinfo(loop, "localhost", "80", &hints, on_addrinfo, &o, NULL));
    ASSERT_EQ(o.calls, 0); /* never inside the call */
    loop_finish(loop);
    ASSERT_EQ(o.calls, 1);
    ASSERT_OK(o.status);
    ASSERT(o.v4 >= 1);
}

static void test_dns_not_found(void)
{
    cf_loop *loop = loop_new();
    dns_out o = {0};
    ASSERT_OK(cf_dns_getaddrinfo(loop, "no-such-host.invalid", NULL, NULL, on_addrinfo, &o, NULL));
    loop_finish(loop);
    ASSERT_EQ(o.calls, 1);
    /* A machine without a resolver may answer "try again" instead of "no such name". */
    if (o.status == CF_ENOTFOUND)
        ASSERT_STR_EQ(o.message, "getaddrinfo ENOTFOUND no-such-host.invalid");
    else
        ASSERT_STR_EQ(o.message, "getaddrinfo EDNSAGAIN no-such-host.invalid");
}

static void test_dns_getnameinfo_numeric(void)
{
    cf_loop *loop = loop_new();
    dns_out o = {0};
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(8080);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(cf_dns_getnameinfo(loop, (struct sockaddr *)&in, sizeof in,
                                 NI_NUMERICHOST | NI_NUMERICSERV, on_nameinfo, &o, NULL));
    loop_finish(loop);
    ASSERT_OK(o.status);
    ASSERT_STR_EQ(o.host, "127.0.0.1");
    ASSERT_STR_EQ(o.service, "8080");
}

static void test_dns_bad_arguments(void)
{
    cf_loop *loop = loop_new();
    dns_out o = {0};
    ASSERT_EQ(cf_dns_getaddrinfo(loop, NULL, NULL, NULL, on_addrinfo, &o, NULL), CF_EINVAL);
    ASSERT_EQ(cf_dns_getaddrinfo(loop, "x", NULL, NULL, NULL, &o, NULL), CF_EINVAL);
    ASSERT_EQ(cf_dns_getnameinfo(loop, NULL, 0, 0, on_nameinfo, &o, NULL), CF_EINVAL);
    ASSERT_EQ(cf_dns_cancel(NULL), CF_EINVAL);
    ASSERT_EQ(cf_dns_translate_error(EAI_NONAME), CF_ENOTFOUND);
    ASSERT_EQ(cf_dns_translate_error(EAI_AGAIN), CF_EDNSAGAIN);
    loop_finish(loop);
}

/*
 * Cancel many lookups at once: those still queued never run, those a worker already took are
 * dropped when they come back; every callback reports CF_ECANCELED exactly once.
 */
static void test_dns_cancel(void)
{
    cf_loop *loop = loop_new();
    enum { N = 32 };
    dns_out o[N];
    cf_dns_req *reqs[N];
    memset(o, 0, sizeof o);
    for (int i = 0; i < N; i++) {
        ASSERT_OK(cf_dns_getaddrinfo(loop, "localhost", NULL, NULL, on_addrinfo, &o[i], &reqs[i]));
    }
    for (int i = 0; i < N; i++) {
        ASSERT_OK(cf_dns_cancel(reqs[i]));
        ASSERT_EQ(o[i].calls, 0);
    }
    loop_finish(loop);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(o[i].calls, 1);
        ASSERT_EQ(o[i].status, CF_ECANCELED);
        ASSERT_STR_EQ(o[i].message, "getaddrinfo ECANCELED localhost");
    }
}

typedef struct p_out {
    int state;
    int code;
    int v4;
    char text[NI_MAXHOST + NI_MAXSERV + 2];
} p_out;

static void p_addr(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    p_out *o = data;
    o->state = cf_promise_state(settled);
    o->code = cf_promise_code(settled);
    if (o->state == CF_PROMISE_FULFILLED) {
        const struct addrinfo *res = cf_promise_value(settled);
        for (; res; res = res->ai_next) {
            o->v4 += res->ai_family == AF_INET;
        }
    } else {
        snprintf(o->text, sizeof o->text, "%s", cf_promise_error(settled)->message);
    }
}

static void p_name(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    p_out *o = data;
    o->state = cf_promise_state(settled);
    const cf_dns_name *n = cf_promise_value(settled);
    snprintf(o->text, sizeof o->text, "%s:%s", n->host, n->service);
}

static void test_dns_promise_forms(void)
{
    cf_loop *loop = loop_new();
    p_out a = {0};
    p_out b = {0};
    p_out c = {0};
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    cf_promise *p = cf_dns_getaddrinfo_p(loop, "127.0.0.1", NULL, &hints);
    cf_promise_release(cf_promise_then(p, p_addr, p_addr, &a));
    cf_promise_release(p);
    p = cf_dns_getaddrinfo_p(loop, NULL, NULL, NULL); /* bad arguments reject too */
    cf_promise_release(cf_promise_then(p, p_addr, p_addr, &b));
    cf_promise_release(p);
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(443);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p = cf_dns_getnameinfo_p(loop, (struct sockaddr *)&in, sizeof in,
                             NI_NUMERICHOST | NI_NUMERICSERV);
    cf_promise_release(cf_promise_then(p, p_name, NULL, &c));
    cf_promise_release(p);
    loop_finish(loop);
    ASSERT_EQ(a.state, CF_PROMISE_FULFILLED);
    ASSERT(a.v4 >= 1);
    ASSERT_EQ(b.state, CF_PROMISE_REJECTED);
    ASSERT_EQ(b.code, CF_EINVAL);
    ASSERT_EQ(c.state, CF_PROMISE_FULFILLED);
    ASSERT_STR_EQ(c.text, "127.0.0.1:443");
}

static int await_lookup(cf_task *task, void *arg)
{
    p_out *o = arg;
    void *v;
    int rc = cf_await(cf_dns_getaddrinfo_p(cf_task_loop(task), "localhost", "http", NULL), &v);
    if (rc < 0)
        return rc;
    for (const struct addrinfo *a = v; a; a = a->ai_next) {
        o->v4 += a->ai_family == AF_INET;
    }
    return 0;
}

static void test_dns_async_await(void)
{
    cf_loop *loop = loop_new();
    p_out o = {0};
    cf_promise *p = cf_async(loop, await_lookup, &o);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT(o.v4 >= 1);
}

/* ---- the place an error names ---- */

static void settled_ignore(cf_promise *settled, void *data)
{
    (void)settled;
    (void)data;
}

/* `p` with a handler, so that its rejection is not reported as unhandled. */
static cf_promise *handled(cf_promise *p)
{
    ASSERT_PTR(p);
    ASSERT_OK(cf_promise_on_settle(p, settled_ignore, NULL));
    return p;
}

/* `e` names this file, the function `func` and the line `line`. */
static void assert_place(const cf_error *e, const char *func, int line)
{
    ASSERT_PTR(e);
    ASSERT_PTR(e->file);
    ASSERT(strstr(e->file, "test_dns.c") != NULL);
    ASSERT_PTR(e->func);
    ASSERT(strcmp(e->func, func) == 0);
    ASSERT_EQ(e->line, line);
}

static void on_addrinfo_keep(int status, const cf_error *err, const struct addrinfo *res,
                             void *data)
{
    (void)res;
    ASSERT(status < 0);
    ASSERT_PTR(err);
    *(cf_error **)data = cf_error_copy(err);
}

/* Lookups that fail without asking a resolver: a service name where a number is required. */
static void test_dns_errors_name_the_call(void)
{
    const char *me = "test_dns_errors_name_the_call";
    cf_loop *loop = loop_new();
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    cf_error *err = NULL;
    int cb_line = __LINE__ + 1;
    ASSERT_OK(cf_dns_getaddrinfo(loop, NULL, "no-service", &hints, on_addrinfo_keep, &err, NULL));
    int p_line = __LINE__ + 1;
    cf_promise *p = handled(cf_dns_getaddrinfo_p(loop, NULL, "no-service", &hints));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = 255; /* no such address family */
    int name_line = __LINE__ + 1;
    cf_promise *name = handled(cf_dns_getnameinfo_p(loop, (struct sockaddr *)&ss, sizeof ss, 0));
    int bad_line = __LINE__ + 1;
    cf_promise *bad = handled(cf_dns_getaddrinfo_p(loop, NULL, NULL, NULL));
    int badn_line = __LINE__ + 1;
    cf_promise *badn = handled(cf_dns_getnameinfo_p(loop, NULL, 0, 0));
    ASSERT_EQ(cf_promise_state(bad), CF_PROMISE_REJECTED);
    assert_place(cf_promise_error(bad), me, bad_line);
    ASSERT_EQ(cf_promise_state(badn), CF_PROMISE_REJECTED);
    assert_place(cf_promise_error(badn), me, badn_line);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    assert_place(err, me, cb_line);
    ASSERT_STR_EQ(err->message, "getaddrinfo ENOTFOUND no-service");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    assert_place(cf_promise_error(p), me, p_line);
    ASSERT_EQ(cf_promise_state(name), CF_PROMISE_REJECTED);
    assert_place(cf_promise_error(name), me, name_line);
    cf_error_free(err);
    cf_promise_release(p);
    cf_promise_release(name);
    cf_promise_release(bad);
    cf_promise_release(badn);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_dns_getaddrinfo_localhost);
    CF_TEST(test_dns_not_found);
    CF_TEST(test_dns_getnameinfo_numeric);
    CF_TEST(test_dns_bad_arguments);
    CF_TEST(test_dns_cancel);
    CF_TEST(test_dns_promise_forms);
    CF_TEST(test_dns_async_await);
    CF_TEST(test_dns_errors_name_the_call);
    return CF_TEST_END();
}
