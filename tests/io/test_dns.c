/*
 * Name resolution on the pool: getaddrinfo and getnameinfo in both forms, errors worded as
 * Node's ("getaddrinfo ENOTFOUND host: ..."), one CF code for every EAI_* code, and
 * cancellation before and after a worker took the lookup. Only local names are resolved
 * (localhost from /etc/hosts, numeric addresses, the .invalid domain) and services are port
 * numbers, so that a minimal system without /etc/services passes too; the one service name
 * used is one no services file has. Cancelling is by abort signal: an aborted signal fails a
 * lookup from the loop, an abort before or after a worker took it reports the abort once,
 * with the reason as the error's cause, in both forms.
 */
/* ctest-labels: tsan */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "harness.h"
#include "site_check.h"

typedef struct dns_out {
    int calls;
    int status;
    int cause; /* the error's cause's code, when it has one */
    int has_site;
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
        o->cause = cf_error_cause(err) ? cf_error_cause(err)->code : 0;
        o->has_site = err->file != NULL;
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
        o->cause = cf_error_cause(err) ? cf_error_cause(err)->code : 0;
        ASSERT(host == NULL && service == NULL);
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
    ASSERT_OK(cf_dns_getaddrinfo(loop, "localhost", "80", &hints, NULL, on_addrinfo, &o));
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
    ASSERT_OK(cf_dns_getaddrinfo(loop, "no-such-host.invalid", NULL, NULL, NULL, on_addrinfo, &o));
    loop_finish(loop);
    ASSERT_EQ(o.calls, 1);
    /* A machine without a resolver may answer "try again" instead of "no such name". */
    if (o.status == CF_ENOTFOUND)
        ASSERT_STR_EQ(o.message, "getaddrinfo ENOTFOUND no-such-host.invalid: host name not found");
    else
        ASSERT_STR_EQ(o.message,
                      "getaddrinfo EAI_AGAIN no-such-host.invalid: temporary failure in name "
                      "resolution");
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
                                 NI_NUMERICHOST | NI_NUMERICSERV, NULL, on_nameinfo, &o));
    loop_finish(loop);
    ASSERT_OK(o.status);
    ASSERT_STR_EQ(o.host, "127.0.0.1");
    ASSERT_STR_EQ(o.service, "8080");
}

static void test_dns_bad_arguments(void)
{
    cf_loop *loop = loop_new();
    dns_out o = {0};
    ASSERT_EQ(cf_dns_getaddrinfo(loop, NULL, NULL, NULL, NULL, on_addrinfo, &o), CF_EINVAL);
    ASSERT_EQ(cf_dns_getaddrinfo(loop, "x", NULL, NULL, NULL, NULL, &o), CF_EINVAL);
    ASSERT_EQ(cf_dns_getnameinfo(loop, NULL, 0, 0, NULL, on_nameinfo, &o), CF_EINVAL);
    ASSERT_EQ(cf_dns_translate_error(EAI_NONAME), CF_ENOTFOUND);
    ASSERT_EQ(cf_dns_translate_error(EAI_AGAIN), CF_EDNSAGAIN);
    loop_finish(loop);
}

/*
 * Abort many lookups at once with one signal: those still queued never run, those a worker
 * already took are dropped when they come back; every callback reports the abort exactly
 * once, with the reason as its cause and the line that started it as its place.
 */
static void test_dns_abort(void)
{
    cf_loop *loop = loop_new();
    enum { N = 32 };
    dns_out o[N];
    memset(o, 0, sizeof o);
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    for (int i = 0; i < N; i++) {
        ASSERT_OK(cf_dns_getaddrinfo(loop, "localhost", NULL, NULL, cf_abort_get_signal(ctrl),
                                     on_addrinfo, &o[i]));
    }
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_EPERM, "enough")));
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(o[i].calls, 0); /* never inside cf_abort */
    }
    loop_finish(loop);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(o[i].calls, 1);
        ASSERT_EQ(o[i].status, CF_ECANCELED);
        ASSERT_STR_EQ(o[i].message, "The operation was aborted");
        ASSERT_EQ(o[i].cause, CF_EPERM);
        ASSERT(o[i].has_site);
    }
    cf_abort_free(ctrl); /* no lookup kept a reference: the harness counts the blocks */
}

/* A rejection handler that only marks the rejection as handled (the test inspects it). */
static void p_ignore(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
}

/* A signal aborted before the call: neither lookup starts; both fail from the loop. */
static void test_dns_already_aborted(void)
{
    cf_loop *loop = loop_new();
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_ETIMEDOUT, "too late")));
    cf_abort_signal *sig = cf_abort_get_signal(ctrl);
    dns_out a = {0};
    dns_out n = {0};
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(cf_dns_getaddrinfo(loop, "localhost", "80", NULL, sig, on_addrinfo, &a));
    ASSERT_OK(cf_dns_getnameinfo(loop, (struct sockaddr *)&in, sizeof in, NI_NUMERICHOST, sig,
                                 on_nameinfo, &n));
    ASSERT_EQ(a.calls + n.calls, 0);
    cf_promise *pa = cf_dns_getaddrinfo_p(loop, "localhost", NULL, NULL, sig);
    cf_promise *pn = cf_dns_getnameinfo_p(loop, (struct sockaddr *)&in, sizeof in, 0, sig);
    ASSERT_PTR(pa);
    ASSERT_PTR(pn);
    cf_promise_release(cf_promise_catch(pa, p_ignore, NULL));
    cf_promise_release(cf_promise_catch(pn, p_ignore, NULL));
    cf_abort_free(ctrl);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(a.calls, 1);
    ASSERT_EQ(a.status, CF_ECANCELED);
    ASSERT_EQ(a.cause, CF_ETIMEDOUT);
    ASSERT_EQ(n.calls, 1);
    ASSERT_EQ(n.status, CF_ECANCELED);
    ASSERT_EQ(n.cause, CF_ETIMEDOUT);
    cf_promise *ps[2] = {pa, pn};
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(cf_promise_state(ps[i]), CF_PROMISE_REJECTED);
        ASSERT_EQ(cf_promise_code(ps[i]), CF_ECANCELED);
        const cf_error *e = cf_promise_error(ps[i]);
        ASSERT_STR_EQ(e->message, "The operation was aborted");
        ASSERT_EQ(cf_error_cause(e)->code, CF_ETIMEDOUT);
        cf_promise_release(ps[i]);
    }
    ASSERT_OK(cf_loop_close(loop));
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
    cf_promise *p = cf_dns_getaddrinfo_p(loop, "127.0.0.1", NULL, &hints, NULL);
    cf_promise_release(cf_promise_then(p, p_addr, p_addr, &a));
    cf_promise_release(p);
    p = cf_dns_getaddrinfo_p(loop, NULL, NULL, NULL, NULL); /* bad arguments reject too */
    cf_promise_release(cf_promise_then(p, p_addr, p_addr, &b));
    cf_promise_release(p);
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(443);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p = cf_dns_getnameinfo_p(loop, (struct sockaddr *)&in, sizeof in,
                             NI_NUMERICHOST | NI_NUMERICSERV, NULL);
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
    cf_result r = cf_await(cf_dns_getaddrinfo_p(cf_task_loop(task), "localhost", "80", NULL, NULL));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    for (const struct addrinfo *a = r.value; a; a = a->ai_next) {
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

static void on_addrinfo_keep(int status, const cf_error *err, const struct addrinfo *res,
                             void *data)
{
    (void)res;
    ASSERT(status < 0);
    ASSERT_PTR(err);
    *(cf_error **)data = cf_error_copy(err);
}

/*
 * Lookups that fail without asking a resolver: a service name where a number is required (the
 * service is the unknown name, so EAI_SERVICE, not ENOTFOUND).
 */
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
    ASSERT_OK(cf_dns_getaddrinfo(loop, NULL, "no-service", &hints, NULL, on_addrinfo_keep, &err));
    int p_line = __LINE__ + 1;
    cf_promise *p = handled(cf_dns_getaddrinfo_p(loop, NULL, "no-service", &hints, NULL));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = 255; /* no such address family */
    int name_line = __LINE__ + 2;
    cf_promise *name =
        handled(cf_dns_getnameinfo_p(loop, (struct sockaddr *)&ss, sizeof ss, 0, NULL));
    int bad_line = __LINE__ + 1;
    cf_promise *bad = handled(cf_dns_getaddrinfo_p(loop, NULL, NULL, NULL, NULL));
    int badn_line = __LINE__ + 1;
    cf_promise *badn = handled(cf_dns_getnameinfo_p(loop, NULL, 0, 0, NULL));
    ASSERT_EQ(cf_promise_state(bad), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(bad), me, bad_line);
    ASSERT_EQ(cf_promise_state(badn), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(badn), me, badn_line);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_PLACE(err, me, cb_line);
    ASSERT_EQ(err->code, CF_EAI_SERVICE);
    ASSERT_STR_EQ(err->message,
                  "getaddrinfo EAI_SERVICE service no-service: service not available for socket "
                  "type");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(p), me, p_line);
    ASSERT_EQ(cf_promise_state(name), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(name), me, name_line);
    cf_error_free(err);
    cf_promise_release(p);
    cf_promise_release(name);
    cf_promise_release(bad);
    cf_promise_release(badn);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- one code for every EAI_* code ---- */

typedef struct eai_row {
    int eai;
    int code;
    const char *name;
    const char *message;
} eai_row;

static const eai_row eai_rows[] = {
    {EAI_ADDRFAMILY, CF_EAI_ADDRFAMILY, "EAI_ADDRFAMILY",
     "host has no address in the requested family"},
    {EAI_AGAIN, CF_EDNSAGAIN, "EDNSAGAIN", "temporary failure in name resolution"},
    {EAI_BADFLAGS, CF_EAI_BADFLAGS, "EAI_BADFLAGS", "bad ai_flags value"},
    {EAI_FAIL, CF_EAI_FAIL, "EAI_FAIL", "permanent failure in name resolution"},
    {EAI_FAMILY, CF_EAI_FAMILY, "EAI_FAMILY", "address family not supported by the resolver"},
    {EAI_MEMORY, CF_ENOMEM, "ENOMEM", "not enough memory"},
    {EAI_NODATA, CF_EAI_NODATA, "EAI_NODATA", "host name has no address"},
    {EAI_NONAME, CF_ENOTFOUND, "ENOTFOUND", "host name not found"},
    {EAI_OVERFLOW, CF_EAI_OVERFLOW, "EAI_OVERFLOW", "name buffer overflow"},
    {EAI_SERVICE, CF_EAI_SERVICE, "EAI_SERVICE", "service not available for socket type"},
    {EAI_SOCKTYPE, CF_EAI_SOCKTYPE, "EAI_SOCKTYPE", "socket type not supported"},
    {EAI_CANCELED, CF_ECANCELED, "ECANCELED", "operation canceled"},
    {EAI_INTR, CF_EINTR, "EINTR", "interrupted system call"},
    {EAI_IDN_ENCODE, CF_EAI_IDN_ENCODE, "EAI_IDN_ENCODE", "host name cannot be encoded as IDN"},
};

/* Every EAI_* code has its own CF code, with a name and a message of its own. */
static void test_dns_translate_every_code(void)
{
    size_t n = sizeof eai_rows / sizeof eai_rows[0];
    for (size_t i = 0; i < n; i++) {
        const eai_row *r = &eai_rows[i];
        ASSERT_EQ(cf_dns_translate_error(r->eai), r->code);
        ASSERT_STR_EQ(cf_err_name(r->code), r->name);
        ASSERT_STR_EQ(cf_strerror(r->code), r->message);
        for (size_t j = 0; j < i; j++) {
            ASSERT(eai_rows[j].code != r->code);
        }
    }
    ASSERT_EQ(cf_dns_translate_error(0), 0);
    errno = EACCES; /* EAI_SYSTEM: the error is errno's */
    ASSERT_EQ(cf_dns_translate_error(EAI_SYSTEM), CF_EACCES);
    errno = EMFILE;
    ASSERT_EQ(cf_dns_translate_error(EAI_SYSTEM), CF_EMFILE);
    errno = 0;
    ASSERT_EQ(cf_dns_translate_error(EAI_SYSTEM), CF_EIO);
    ASSERT_EQ(cf_dns_translate_error(EAI_INPROGRESS), CF_EUNKNOWN); /* getaddrinfo_a statuses */
    ASSERT_EQ(cf_dns_translate_error(EAI_ALLDONE), CF_EUNKNOWN);
    ASSERT_EQ(cf_dns_translate_error(-9999), CF_EUNKNOWN);
}

/* One real lookup with these hints; its status and message land in `o`. */
static void lookup(dns_out *o, const char *host, const char *service, int family, int socktype,
                   int flags)
{
    cf_loop *loop = loop_new();
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_flags = flags;
    memset(o, 0, sizeof *o);
    ASSERT_OK(cf_dns_getaddrinfo(loop, host, service, &hints, NULL, on_addrinfo, o));
    loop_finish(loop);
    ASSERT_EQ(o->calls, 1);
}

/*
 * A service name no services file has: the service, not the host, is what failed, and the
 * message names both. Also where AI_NUMERICSERV wants a number and gets a name.
 */
static void test_dns_unknown_service(void)
{
    dns_out o;
    lookup(&o, "127.0.0.1", "no-such-service-xyz", AF_UNSPEC, SOCK_STREAM, 0);
    ASSERT_EQ(o.status, CF_EAI_SERVICE);
    ASSERT_STR_EQ(o.message, "getaddrinfo EAI_SERVICE 127.0.0.1, service no-such-service-xyz: "
                             "service not available for socket type");
    lookup(&o, "localhost", "no-such-service-xyz", AF_UNSPEC, SOCK_STREAM, 0);
    ASSERT_EQ(o.status, CF_EAI_SERVICE);
    ASSERT(strstr(o.message, "localhost, service no-such-service-xyz") != NULL);
    lookup(&o, "127.0.0.1", "no-such-service-xyz", AF_INET, SOCK_STREAM, AI_NUMERICSERV);
    ASSERT_EQ(o.status, CF_EAI_SERVICE);
    lookup(&o, "127.0.0.1", "80", AF_INET, SOCK_STREAM, AI_NUMERICSERV); /* a number is fine */
    ASSERT_OK(o.status);
    ASSERT_EQ(o.v4, 1);
}

/* A host name where AI_NUMERICHOST wants an address: the host is the unknown name. */
static void test_dns_numeric_host_flag(void)
{
    dns_out o;
    lookup(&o, "localhost", "80", AF_UNSPEC, SOCK_STREAM, AI_NUMERICHOST);
    ASSERT_EQ(o.status, CF_ENOTFOUND);
    ASSERT_STR_EQ(o.message, "getaddrinfo ENOTFOUND localhost, service 80: host name not found");
    lookup(&o, "127.0.0.1", "80", AF_INET6, SOCK_STREAM, AI_NUMERICHOST);
    ASSERT_EQ(o.status, CF_EAI_ADDRFAMILY);
    ASSERT_STR_EQ(o.message, "getaddrinfo EAI_ADDRFAMILY 127.0.0.1, service 80: host has no "
                             "address in the requested family");
}

/* Hints the resolver refuses, each with its own code. */
static void test_dns_bad_hints(void)
{
    dns_out o;
    lookup(&o, "127.0.0.1", "80", AF_UNSPEC, SOCK_STREAM, 0x40000000);
    ASSERT_EQ(o.status, CF_EAI_BADFLAGS);
    ASSERT_STR_EQ(o.message, "getaddrinfo EAI_BADFLAGS 127.0.0.1, service 80: bad ai_flags value");
    lookup(&o, NULL, "80", AF_UNSPEC, SOCK_STREAM, AI_CANONNAME); /* no name to canonicalise */
    ASSERT_EQ(o.status, CF_EAI_BADFLAGS);
    lookup(&o, "127.0.0.1", "80", 12345, SOCK_STREAM, 0);
    ASSERT_EQ(o.status, CF_EAI_FAMILY);
    ASSERT(strstr(o.message, "EAI_FAMILY 127.0.0.1, service 80") != NULL);
    lookup(&o, "127.0.0.1", "80", AF_UNSPEC, 12345, 0);
    ASSERT_EQ(o.status, CF_EAI_SOCKTYPE);
    ASSERT(strstr(o.message, ": socket type not supported") != NULL);
    lookup(&o, "\xff\xfe.invalid", "80", AF_UNSPEC, SOCK_STREAM, AI_IDN);
    ASSERT_EQ(o.status, CF_EAI_IDN_ENCODE);
    /* getnameinfo: an address family the resolver does not know. */
    cf_loop *loop = loop_new();
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = 255;
    memset(&o, 0, sizeof o);
    ASSERT_OK(
        cf_dns_getnameinfo(loop, (struct sockaddr *)&ss, sizeof ss, 0, NULL, on_nameinfo, &o));
    loop_finish(loop);
    ASSERT_EQ(o.status, CF_EAI_FAMILY);
    ASSERT_STR_EQ(o.message,
                  "getnameinfo EAI_FAMILY ?: address family not supported by the resolver");
}

/* Test builds' fault seam (src/io/dns.c): lookups answer this EAI_* code; 0 turns it off. */
void cf__dns_fault_set(int eai);

/*
 * Messages use Node's code names: EAI_AGAIN (not the library's CF_EDNSAGAIN name),
 * ENOTFOUND, EAI_FAIL, for getaddrinfo and getnameinfo alike. The resolver is asked for
 * none of these: the fault seam gives its answer, as no test machine can on demand.
 */
static void test_dns_node_code_names(void)
{
    static const struct {
        int eai;
        int code;
        const char *words;
    } rows[] = {
        {EAI_AGAIN, CF_EDNSAGAIN, "EAI_AGAIN example.com: temporary failure in name resolution"},
        {EAI_NONAME, CF_ENOTFOUND, "ENOTFOUND example.com: host name not found"},
        {EAI_FAIL, CF_EAI_FAIL, "EAI_FAIL example.com: permanent failure in name resolution"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cf__dns_fault_set(rows[i].eai);
        dns_out o;
        lookup(&o, "example.com", NULL, AF_UNSPEC, SOCK_STREAM, 0);
        cf__dns_fault_set(0);
        ASSERT_EQ(o.status, rows[i].code);
        char want[160];
        snprintf(want, sizeof want, "getaddrinfo %s", rows[i].words);
        ASSERT_STR_EQ(o.message, want);
    }
    cf_loop *loop = loop_new();
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(80);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dns_out o = {0};
    cf__dns_fault_set(EAI_AGAIN);
    ASSERT_OK(
        cf_dns_getnameinfo(loop, (struct sockaddr *)&in, sizeof in, 0, NULL, on_nameinfo, &o));
    loop_finish(loop);
    cf__dns_fault_set(0);
    ASSERT_EQ(o.status, CF_EDNSAGAIN);
    ASSERT_STR_EQ(o.message,
                  "getnameinfo EAI_AGAIN 127.0.0.1:80: temporary failure in name resolution");
}

/* The promise form refused at once says what was wrong with the arguments. */
static void test_dns_promise_bad_arguments_message(void)
{
    cf_loop *loop = loop_new();
    cf_promise *none = cf_dns_getaddrinfo_p(loop, NULL, NULL, NULL, NULL);
    ASSERT_PTR(none);
    ASSERT_OK(cf_promise_on_settle(none, settled_ignore, NULL)); /* checked below */
    ASSERT_EQ(cf_promise_code(none), CF_EINVAL);
    ASSERT_STR_EQ(cf_promise_error(none)->message,
                  "getaddrinfo: no host and no service given: invalid argument");
    cf_promise_release(none);
    loop_finish(loop);
}

/* The promise form rejects with the same code and message; cf_error_message reads it. */
static void test_dns_unknown_service_promise(void)
{
    cf_loop *loop = loop_new();
    p_out o = {0};
    cf_promise *p = cf_dns_getaddrinfo_p(loop, "localhost", "no-such-service-xyz", NULL, NULL);
    cf_promise_release(cf_promise_then(p, p_addr, p_addr, &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.state, CF_PROMISE_REJECTED);
    ASSERT_EQ(o.code, CF_EAI_SERVICE);
    ASSERT_EQ(cf_error_code(cf_promise_error(p)), CF_EAI_SERVICE);
    ASSERT_STR_EQ(cf_error_message(cf_promise_error(p)), o.text);
    ASSERT_STR_EQ(o.text, "getaddrinfo EAI_SERVICE localhost, service no-such-service-xyz: "
                          "service not available for socket type");
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_dns_getaddrinfo_localhost);
    CF_TEST(test_dns_not_found);
    CF_TEST(test_dns_getnameinfo_numeric);
    CF_TEST(test_dns_bad_arguments);
    CF_TEST(test_dns_abort);
    CF_TEST(test_dns_already_aborted);
    CF_TEST(test_dns_promise_forms);
    CF_TEST(test_dns_async_await);
    CF_TEST(test_dns_errors_name_the_call);
    CF_TEST(test_dns_translate_every_code);
    CF_TEST(test_dns_node_code_names);
    CF_TEST(test_dns_promise_bad_arguments_message);
    CF_TEST(test_dns_unknown_service);
    CF_TEST(test_dns_numeric_host_flag);
    CF_TEST(test_dns_bad_hints);
    CF_TEST(test_dns_unknown_service_promise);
    return CF_TEST_END();
}
