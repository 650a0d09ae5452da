/*
 * The HTTP client against real servers on 127.0.0.1: Python's http.server with the routes of
 * tests/peers/http_test_server.py, nginx, and openssl s_server for TLS.
 */
/* ctest-labels: slow */
/* ctest-timeout: 600 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ghibli_api.h"
#include "harness.h"
#include "peer.h"

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan keeps freed memory in a quarantine (256 MB by default), which would hide whether the
 * 1 GB streaming case really recycles its buffers; keep it small for this program.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=8";
}
#endif

static peer server;
static char base[128];

static void start_server(void)
{
    char script[512];
    char data[512];
    snprintf(script, sizeof script, "%s/tests/peers/http_test_server.py", CF_SOURCE_DIR);
    snprintf(data, sizeof data, "%s/data/ghibli.json", CF_SOURCE_DIR);
    const char *argv[] = {"python3", script, "--data", data, NULL};
    peer_start(&server, argv);
    peer_wait_port(&server);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", server.port);
}

static const char *url(const char *path)
{
    static char buf[8][256];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s%s", base, path);
    return buf[i];
}

/* Handle a promise's rejection (as a test awaits it): it is checked after the run. */
static void settled_ignore(cf_promise *p, void *data)
{
    (void)p;
    (void)data;
}

static cf_promise *handled(cf_promise *p)
{
    ASSERT_PTR(p);
    ASSERT_OK(cf_promise_on_settle(p, settled_ignore, NULL));
    return p;
}

/* ---- a callback-form result recorder ---- */

typedef struct result {
    int done;
    int status;
    int http_status;
    char message[512];
    char cause[256]; /* the error's cause's message, "" when none */
    char body[4096];
    size_t body_len;
    char ctype[128];
    char final_url[256];
} result;

static void on_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)req;
    result *r = data;
    r->done++;
    r->status = status;
    if (err)
        snprintf(r->message, sizeof r->message, "%s", err->message);
    if (err && cf_error_cause(err))
        snprintf(r->cause, sizeof r->cause, "%s", cf_error_message(cf_error_cause(err)));
    if (res) {
        r->http_status = cf_http_response_status(res);
        cf_buf b = cf_http_response_body(res);
        r->body_len = b.len;
        memcpy(r->body, b.base, b.len < sizeof r->body - 1 ? b.len : sizeof r->body - 1);
        const char *ct = cf_http_response_header(res, "CONTENT-type");
        snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
        snprintf(r->final_url, sizeof r->final_url, "%s", cf_http_response_url(res));
    }
}

static void fetch(const char *u, const cf_http_options *o, result *r)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    memset(r, 0, sizeof *r);
    ASSERT_OK(cf_http_request(loop, u, o, on_done, r, NULL));
    ASSERT_EQ(r->done, 0); /* never inside the call */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r->done, 1);
    ASSERT_OK(cf_loop_close(loop));
}

static const char json_body[] =
    "[{\"id\": 1, \"title\": \"a\"}, {\"id\": 2, \"title\": \"b\"}, {\"id\": 3, \"title\": \"c\"}]";

static void test_http_client_get_plain(void)
{
    result r;
    fetch(url("/json"), NULL, &r);
    ASSERT_OK(r.status);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_STR_EQ(r.body, json_body);
    ASSERT_STR_EQ(r.ctype, "application/json");
}

static void test_http_client_chunked_and_gzip(void)
{
    result r;
    fetch(url("/chunked"), NULL, &r);
    ASSERT_OK(r.status);
    ASSERT_STR_EQ(r.body, json_body);
    fetch(url("/gzip"), NULL, &r);
    ASSERT_OK(r.status);
    ASSERT_STR_EQ(r.body, json_body);
}

static void test_http_client_redirects(void)
{
    result r;
    fetch(url("/redirect/3"), NULL, &r);
    ASSERT_OK(r.status);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_STR_EQ(r.final_url, url("/json"));
    cf_http_options o = {.flags = CF_HTTP_NO_FOLLOW};
    fetch(url("/redirect/3"), &o, &r);
    ASSERT_OK(r.status);
    ASSERT_EQ(r.http_status, 302);
    fetch(url("/loop"), NULL, &r);
    ASSERT_EQ(r.status, CF_EREDIRECTS);
    ASSERT(strstr(r.message, "/loop") != NULL);
    cf_http_options few = {.max_redirects = 2};
    fetch(url("/redirect/3"), &few, &r);
    ASSERT_EQ(r.status, CF_EREDIRECTS);
}

static void test_http_client_error_statuses(void)
{
    result r;
    fetch(url("/status/404"), NULL, &r);
    ASSERT_OK(r.status); /* a 404 is a response, not a transport error */
    ASSERT_EQ(r.http_status, 404);
    cf_http_options o = {.flags = CF_HTTP_FAIL_ON_STATUS};
    fetch(url("/status/500"), &o, &r);
    ASSERT_EQ(r.status, CF_EHTTP);
    ASSERT_EQ(r.http_status, 500);
    ASSERT(strstr(r.message, "HTTP 500 Internal Server Error") != NULL);
    ASSERT(strncmp(r.message, "GET http://127.0.0.1:", 21) == 0);
}

static void test_http_client_server_closes_mid_body(void)
{
    result r;
    fetch(url("/close-mid-body"), NULL, &r);
    ASSERT_EQ(r.status, CF_ECONNRESET);
}

static void test_http_client_timeout(void)
{
    result r;
    cf_http_options o = {.timeout_ms = 300};
    fetch(url("/hang"), &o, &r);
    ASSERT_EQ(r.status, CF_ETIMEDOUT);
    ASSERT(strstr(r.message, "timed out") != NULL);
}

/* A port nobody listens on: bind one, read it, close it. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_http_client_refused_and_dns(void)
{
    result r;
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/films", free_port());
    fetch(u, NULL, &r);
    ASSERT_EQ(r.status, CF_ECONNREFUSED);
    ASSERT(strstr(r.message, u) != NULL);
    ASSERT(strstr(r.message, "connection refused") != NULL);
    fetch("http://no-such-host.invalid/films", NULL, &r);
    ASSERT_EQ(r.status, CF_ENOTFOUND);
    ASSERT(strstr(r.message, "no-such-host.invalid") != NULL);
}

static void noop_cb(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)req;
    (void)status;
    (void)err;
    (void)res;
    (void)data;
}

static void test_http_client_bad_urls_fail_synchronously(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_EQ(cf_http_request(loop, "ftp://example.com/x", NULL, noop_cb, NULL, NULL), CF_EURL);
    ASSERT_EQ(cf_http_request(loop, "not a url", NULL, noop_cb, NULL, NULL), CF_EURL);
    ASSERT_EQ(cf_http_request(loop, "http://", NULL, noop_cb, NULL, NULL), CF_EURL);
    ASSERT_EQ(cf_http_request(loop, NULL, NULL, noop_cb, NULL, NULL), CF_EINVAL);
    cf_http_options bad = {.method = "GE T"};
    ASSERT_EQ(cf_http_request(loop, url("/json"), &bad, noop_cb, NULL, NULL), CF_EINVAL);
    cf_http_header h = {"X-Bad", "a\r\nInjected: yes"};
    cf_http_options inj = {.headers = &h, .header_count = 1};
    ASSERT_EQ(cf_http_request(loop, url("/json"), &inj, noop_cb, NULL, NULL), CF_EINVAL);
    /* The promise form never fails synchronously: it rejects. */
    cf_promise *p = handled(cf_http_request_p(loop, "ftp://example.com/x", NULL));
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_code(p), CF_EURL);
    ASSERT_STR_EQ(cf_promise_error(p)->message, "GET ftp://example.com/x: malformed URL");
    /* The error names the line that started the request, not a line of the library. */
    ASSERT(strstr(cf_promise_error(p)->file, "test_http_client.c") != NULL);
    ASSERT_STR_EQ(cf_promise_error(p)->func, "test_http_client_bad_urls_fail_synchronously");
    cf_promise_release(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_http_client_headers_and_user_agent(void)
{
    result r;
    cf_http_header hs[] = {{"X-Calcifer-Test", "yes"}, {"Accept", "application/json"}};
    cf_http_options o = {.headers = hs, .header_count = 2};
    fetch(url("/echo-headers"), &o, &r);
    ASSERT_OK(r.status);
    ASSERT(strstr(r.body, "\"x-calcifer-test\": \"yes\"") != NULL);
    ASSERT(strstr(r.body, "\"user-agent\": \"calcifer/" CF_VERSION_STRING "\"") != NULL);
}

/* ---- many in flight ---- */

typedef struct many {
    int done;
    int ok;
} many;

static void on_many(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)req;
    (void)err;
    many *m = data;
    m->done++;
    if (status == 0 && cf_http_response_status(res) == 200 &&
        cf_http_response_body(res).len == strlen(json_body))
        m->ok++;
}

static void test_http_client_200_in_flight(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_http_set_limits(loop, 16, 0));
    many m = {0};
    for (int i = 0; i < 200; i++) {
        ASSERT_OK(
            cf_http_request(loop, url(i % 2 ? "/json" : "/chunked"), NULL, on_many, &m, NULL));
    }
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(m.done, 200);
    ASSERT_EQ(m.ok, 200);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- cancellation ---- */

static void cancel_soon(void *data)
{
    cf_http_req_cancel(data);
}

static void test_http_client_cancel_and_abort(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    result r = {0};
    cf_http_req *req = NULL;
    ASSERT_OK(cf_http_request(loop, url("/hang"), NULL, on_done, &r, &req));
    ASSERT_OK(cf_set_timeout(loop, 50, cancel_soon, req, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r.done, 1);
    ASSERT_EQ(r.status, CF_ECANCELED);

    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_http_options o = {.signal = cf_abort_get_signal(ctrl)};
    cf_promise *p = handled(cf_http_request_p(loop, url("/hang"), &o));
    ASSERT_PTR(p);
    ASSERT_OK(cf_abort(ctrl, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    ASSERT(strstr(cf_promise_error(p)->message, "aborted") != NULL);
    cf_promise_release(p);
    /* An already aborted signal rejects without sending anything. */
    cf_promise *q = handled(cf_http_request_p(loop, url("/json"), &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(q), CF_ECANCELED);
    cf_promise_release(q);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- promise helpers: JSON, streaming, download ---- */

static void test_http_client_get_json_p(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_promise *p = handled(cf_http_get_json_p(loop, url("/films"), NULL));
    cf_promise *bad = handled(cf_http_get_json_p(loop, url("/not-json"), NULL));
    cf_promise *missing = handled(cf_http_get_json_p(loop, url("/status/404"), NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_json *films = cf_promise_value(p);
    ASSERT_EQ(cf_json_size(films), 22);
    ASSERT_STR_EQ(cf_json_string(cf_json_path(films, "[0].title"), NULL), "Castle in the Sky");
    ASSERT_EQ(cf_promise_code(bad), CF_EPARSE);
    ASSERT(strstr(cf_promise_error(bad)->message, "/not-json: JSON") != NULL);
    ASSERT_EQ(cf_promise_code(missing), CF_EHTTP);
    ASSERT_STR_EQ(cf_promise_error(missing)->func, "test_http_client_get_json_p");
    cf_promise_release(p);
    cf_promise_release(bad);
    cf_promise_release(missing);
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct titles {
    int count;
    char last[128];
} titles;

static int on_film(cf_json *film, size_t index, void *ctx)
{
    titles *t = ctx;
    ASSERT_EQ(index, (size_t)t->count);
    t->count++;
    const char *s = cf_json_string(cf_json_get(film, "title"), NULL);
    snprintf(t->last, sizeof t->last, "%s", s ? s : "");
    return 0;
}

static void test_http_client_stream_json_array(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    titles t = {0};
    titles t2 = {0};
    cf_promise *p = handled(cf_http_stream_json_p(loop, url("/films"), NULL, NULL, on_film, &t));
    cf_promise *obj =
        handled(cf_http_stream_json_p(loop, url("/object"), NULL, NULL, on_film, &t2));
    cf_promise *txt =
        handled(cf_http_stream_json_p(loop, url("/not-json"), NULL, NULL, on_film, &t2));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_EQ(t.count, 22);
    ASSERT_STR_EQ(t.last, "Earwig and the Witch");
    ASSERT_EQ(cf_promise_code(obj), CF_EPARSE);
    ASSERT_EQ(cf_promise_code(txt), CF_EPARSE);
    ASSERT_EQ(t2.count, 0);
    cf_promise_release(p);
    cf_promise_release(obj);
    cf_promise_release(txt);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the split stream_json: callback form, and both forms aborted mid-stream ---- */

typedef struct stream_run {
    titles t;
    cf_abort_controller *ctrl; /* aborted after `abort_after` elements, when set */
    int abort_after;
    int done;
    int status;
    char message[256];
    char cause[256];
} stream_run;

static int on_film_run(cf_json *film, size_t index, void *data)
{
    stream_run *r = data;
    ASSERT_EQ(r->done, 0); /* elements come before the completion */
    on_film(film, index, &r->t);
    if (r->ctrl && r->t.count == r->abort_after)
        ASSERT_OK(cf_abort(r->ctrl, CF_ERROR(CF_ECANCELED, "seen enough films")));
    return 0;
}

static void on_stream_run_done(int status, const cf_error *err, void *data)
{
    stream_run *r = data;
    r->done++;
    r->status = status;
    ASSERT_EQ(err == NULL, status == 0);
    if (err) {
        snprintf(r->message, sizeof r->message, "%s", cf_error_message(err));
        const cf_error *cause = cf_error_cause(err);
        snprintf(r->cause, sizeof r->cause, "%s", cause ? cf_error_message(cause) : "");
    }
}

static void test_http_client_stream_json_split(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    /* Callback form: every element, then `done` once with 0. */
    stream_run all = {0};
    ASSERT_OK(cf_http_stream_json(loop, url("/films"), NULL, NULL, on_film_run, on_stream_run_done,
                                  &all));
    ASSERT_EQ(all.done, 0); /* never inside the call */
    /* Callback form aborted after three elements: the one abort error, the reason as cause. */
    stream_run cut = {.abort_after = 3};
    ASSERT_OK(cf_abort_new(&cut.ctrl));
    cf_http_options o = {.signal = cf_abort_get_signal(cut.ctrl)};
    ASSERT_OK(
        cf_http_stream_json(loop, url("/films"), NULL, &o, on_film_run, on_stream_run_done, &cut));
    /* Promise form aborted the same way: the promise is the completion. */
    stream_run pcut = {.abort_after = 2};
    ASSERT_OK(cf_abort_new(&pcut.ctrl));
    cf_http_options po = {.signal = cf_abort_get_signal(pcut.ctrl)};
    cf_promise *p =
        handled(cf_http_stream_json_p(loop, url("/films"), NULL, &po, on_film_run, &pcut));
    /* Bad arguments are refused at once, and no callback runs. */
    stream_run none = {0};
    ASSERT_EQ(cf_http_stream_json(loop, url("/films"), NULL, NULL, on_film_run, NULL, &none),
              CF_EINVAL);
    ASSERT_EQ(cf_http_stream_json(loop, url("/films"), NULL, NULL, NULL, on_stream_run_done, &none),
              CF_EINVAL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(all.done, 1);
    ASSERT_OK(all.status);
    ASSERT_EQ(all.t.count, 22);
    ASSERT_STR_EQ(all.t.last, "Earwig and the Witch");
    ASSERT_EQ(cut.done, 1);
    ASSERT_EQ(cut.status, CF_ECANCELED);
    ASSERT_EQ(cut.t.count, 3);
    ASSERT_STR_EQ(cut.message, "The operation was aborted");
    ASSERT_STR_EQ(cut.cause, "seen enough films");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    ASSERT_STR_EQ(cf_error_message(cf_error_cause(cf_promise_error(p))), "seen enough films");
    ASSERT_EQ(pcut.t.count, 2);
    ASSERT_EQ(none.done, 0);
    cf_promise_release(p);
    cf_abort_free(cut.ctrl);
    cf_abort_free(pcut.ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- aborted mid-body, and by a deadline ---- */

typedef struct midbody {
    cf_abort_controller *ctrl;
    size_t got;
    int calls;
} midbody;

static int abort_on_first_bytes(cf_http_req *req, const char *bytes, size_t len, void *data)
{
    (void)req;
    (void)bytes;
    midbody *m = data;
    m->got += len;
    if (m->calls++ == 0)
        ASSERT_OK(cf_abort(m->ctrl, CF_ERROR(CF_ECANCELED, "enough bytes")));
    return 0;
}

/*
 * A 100 MB body, aborted by its signal once the first bytes arrived: the request fails with
 * the one abort error (the reason as cause), having received only part of the body; then a
 * request with a deadline (a timeout signal) on a server that never answers fails the same
 * way, with the timeout's reason.
 */
static void test_http_client_abort_mid_body(void)
{
    midbody m = {0};
    ASSERT_OK(cf_abort_new(&m.ctrl));
    cf_http_options o = {
        .signal = cf_abort_get_signal(m.ctrl), .on_data = abort_on_first_bytes, .on_data_ctx = &m};
    result r;
    fetch(url("/bytes/100000000"), &o, &r);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_STR_EQ(r.message, "The operation was aborted");
    ASSERT_STR_EQ(r.cause, "enough bytes");
    ASSERT_GE(m.got, 1);
    ASSERT(m.got < 100000000);
    cf_abort_free(m.ctrl);

    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_abort_signal *deadline;
    ASSERT_OK(cf_abort_signal_timeout(loop, 100, &deadline));
    cf_http_options d = {.signal = deadline};
    cf_promise *p = handled(cf_http_request_p(loop, url("/hang"), &d));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    const cf_error *cause = cf_error_cause(cf_promise_error(p));
    ASSERT_EQ(cf_error_code(cause), CF_ETIMEDOUT);
    ASSERT_STR_EQ(cf_error_message(cause), "The operation was aborted due to timeout");
    cf_promise_release(p);
    cf_abort_signal_release(deadline); /* the last reference: the request kept none */
    ASSERT_OK(cf_loop_close(loop));
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_http_client_download_atomic(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "films.json");
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_promise *bad = handled(cf_http_download_p(loop, url("/status/404"), path, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(bad), CF_EHTTP);
    ASSERT_EQ(file_size(path), 3); /* the old file is intact */
    cf_promise *cut = handled(cf_http_download_p(loop, url("/close-mid-body"), path, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(cut), CF_ECONNRESET);
    ASSERT_EQ(file_size(path), 3);
    cf_promise *ok = handled(cf_http_download_p(loop, url("/bytes/3000000"), path, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(ok), CF_PROMISE_FULFILLED);
    ASSERT_EQ(*(size_t *)cf_promise_value(ok), 3000000);
    ASSERT_EQ(file_size(path), 3000000);
    cf_promise_release(bad);
    cf_promise_release(cut);
    cf_promise_release(ok);
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct download_run {
    int done;
    int status;
    size_t written;
    char message[256];
    char cause[128];
} download_run;

static void on_downloaded(int status, const cf_error *err, size_t written, void *data)
{
    download_run *d = data;
    d->done++;
    d->status = status;
    d->written = written;
    ASSERT_EQ(err == NULL, status == 0);
    if (err) {
        snprintf(d->message, sizeof d->message, "%s", cf_error_message(err));
        const cf_error *cause = cf_error_cause(err);
        snprintf(d->cause, sizeof d->cause, "%s", cause ? cf_error_message(cause) : "");
    }
}

/*
 * The callback form of the download: the byte count on success; the status error leaves the
 * old file; an already aborted signal fails it with the abort error, the old file intact.
 */
static void test_http_client_download_callback_form(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "films-cb.json");
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    download_run bad = {0};
    ASSERT_OK(cf_http_download(loop, url("/status/404"), path, NULL, on_downloaded, &bad));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_ECANCELED, "not now")));
    cf_http_options o = {.signal = cf_abort_get_signal(ctrl)};
    download_run aborted = {0};
    ASSERT_OK(cf_http_download(loop, url("/json"), path, &o, on_downloaded, &aborted));
    ASSERT_EQ(bad.done + aborted.done, 0); /* never inside the call */
    ASSERT_EQ(cf_http_download(loop, url("/json"), NULL, NULL, on_downloaded, &bad), CF_EINVAL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(bad.done, 1);
    ASSERT_EQ(bad.status, CF_EHTTP);
    ASSERT_EQ(aborted.done, 1);
    ASSERT_EQ(aborted.status, CF_ECANCELED);
    ASSERT_STR_EQ(aborted.message, "The operation was aborted");
    ASSERT_STR_EQ(aborted.cause, "not now");
    ASSERT_EQ(file_size(path), 3); /* the old file is intact */
    download_run ok = {0};
    ASSERT_OK(cf_http_download(loop, url("/json"), path, NULL, on_downloaded, &ok));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(ok.done, 1);
    ASSERT_OK(ok.status);
    ASSERT_EQ(ok.written, sizeof json_body - 1);
    ASSERT_EQ(file_size(path), (long)(sizeof json_body - 1));
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- a 1 GB download through a slow consumer: memory stays bounded ---- */

typedef struct slow {
    cf_loop *loop;
    cf_http_req *req;
    uint64_t bytes;
    size_t biggest;
    long peak_live;
    int pauses;
    unsigned char expect;
    int bad;
} slow;

static void resume_later(void *data)
{
    slow *s = data;
    cf_http_req_resume(s->req);
}

static int slow_data(cf_http_req *req, const char *data, size_t len, void *ctx)
{
    slow *s = ctx;
    s->req = req;
    for (size_t i = 0; i < len; i += 4093) {
        if ((unsigned char)data[i] != (unsigned char)((s->bytes + i) & 0xff))
            s->bad = 1;
    }
    s->bytes += len;
    if (len > s->biggest)
        s->biggest = len;
    long live = cf_live_allocations();
    if (live > s->peak_live)
        s->peak_live = live;
    /* Every 64th chunk, stop the flow for a moment: the consumer is slow. */
    if (++s->pauses % 64 == 0) {
        cf_http_req_pause(req);
        cf_set_timeout(s->loop, 1, resume_later, s, NULL);
    }
    return 0;
}

static long rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_http_client_1gb_stream_bounded_memory(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    slow s = {.loop = loop};
    result r = {0};
    cf_http_options o = {.on_data = slow_data, .on_data_ctx = &s, .flags = CF_HTTP_HTTP1_ONLY};
    long rss_before = rss_kb();
    ASSERT_OK(cf_http_request(loop, url("/bytes/1073741824"), &o, on_done, &r, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(r.status);
    ASSERT_EQ(s.bytes, 1073741824ULL);
    ASSERT_EQ(s.bad, 0);
    ASSERT_EQ(r.body_len, 0); /* streamed, not buffered */
    ASSERT_LE(s.biggest, 512 * 1024);
    ASSERT_LE(rss_kb() - rss_before, 64 * 1024); /* far below the 1 GB that went through */
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- upload ---- */

static void test_http_client_upload_file_and_bytes(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "upload.bin");
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 300000; i++)
        fputc(i * 7 & 0xff, f);
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sha256sum %s", path);
    FILE *sh = popen(cmd, "r");
    char sum[65] = {0};
    ASSERT(fread(sum, 1, 64, sh) == 64);
    pclose(sh);
    char expect[128];
    snprintf(expect, sizeof expect, "300000 %s", sum);
    result r;
    cf_http_options o = {.body_file = path};
    fetch(url("/upload"), &o, &r);
    ASSERT_OK(r.status);
    ASSERT_STR_EQ(r.body, expect);
    cf_http_options put = {.method = "PUT", .body = "hello", .body_len = 5};
    fetch(url("/upload"), &put, &r);
    ASSERT_OK(r.status);
    ASSERT_STR_EQ(r.body, "5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    cf_http_options missing = {.body_file = "/nonexistent/file"};
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_EQ(cf_http_request(loop, url("/upload"), &missing, noop_cb, NULL, NULL), CF_ENOENT);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- nginx: keep-alive and gzip from a production server ---- */

static void test_http_client_against_nginx(void)
{
    if (access("/usr/sbin/nginx", X_OK) != 0)
        CF_TEST_FAILF("nginx is not installed (scripts/install-deps.sh installs nginx-light)");
    char conf[512];
    char root[512];
    char films[600];
    cf_test_path(conf, sizeof conf, "nginx.conf");
    cf_test_path(root, sizeof root, "www");
    mkdir(root, 0755);
    snprintf(films, sizeof films, "%s/films.json", root);
    char src[512];
    snprintf(src, sizeof src, "%s/data/ghibli.json", CF_SOURCE_DIR);
    const char *cp[] = {"cp", src, films, NULL};
    ASSERT_EQ(peer_run(cp), 0);
    int port = free_port();
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "daemon off; master_process off; worker_processes 1; pid %s/nginx.pid;\n"
            "error_log %s/error.log;\n"
            "events { worker_connections 256; }\n"
            "http { access_log off; gzip on; gzip_types application/json; gzip_min_length 1;\n"
            "  types { application/json json; }\n"
            "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
            "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
            "  server { listen 127.0.0.1:%d; root %s; } }\n",
            cf_test_tmpdir(), cf_test_tmpdir(), cf_test_tmpdir(), cf_test_tmpdir(),
            cf_test_tmpdir(), cf_test_tmpdir(), cf_test_tmpdir(), port, root);
    fclose(f);
    peer ng = {0};
    const char *argv[] = {"/usr/sbin/nginx", "-c", conf, "-p", cf_test_tmpdir(), NULL};
    peer_start(&ng, argv);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/films.json", port);
    /* nginx binds asynchronously to our start: retry refused connects for a moment. */
    result r = {0};
    for (int i = 0; i < 200; i++) {
        fetch(u, NULL, &r);
        if (r.status != CF_ECONNREFUSED)
            break;
        usleep(10000);
    }
    ASSERT_OK(r.status);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_EQ(r.body_len, file_size(films) < 4095 ? (size_t)file_size(films) : r.body_len);
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    many m = {0};
    for (int i = 0; i < 50; i++) {
        cf_http_request(loop, u, NULL, on_many, &m, NULL);
    }
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(m.done, 50);
    ASSERT_OK(cf_loop_close(loop));
    peer_stop(&ng);
}

/* ---- HTTPS against openssl s_server with a certificate made here ---- */

static void make_cert(const char *dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
             "-days 2 -subj /CN=calcifer-test-ca >/dev/null 2>&1 && "
             "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
             "-subj /CN=127.0.0.1 >/dev/null 2>&1 && "
             "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 2 -extfile ext.cnf >/dev/null 2>&1 && echo hi > index.html",
             dir);
    ASSERT_EQ(system(cmd), 0);
}

static void test_http_client_tls_verification(void)
{
    const char *dir = cf_test_tmpdir();
    make_cert(dir);
    int port = free_port();
    char accept[64];
    char cert[600];
    char key[600];
    char ca[600];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
    snprintf(cert, sizeof cert, "%s/srv.pem", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    ASSERT_EQ(chdir(dir), 0);
    peer tls = {0};
    const char *argv[] = {"openssl", "s_server", "-accept", accept,   "-cert", cert,
                          "-key",    key,        "-WWW",    "-quiet", NULL};
    peer_start(&tls, argv);
    char u[128];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/index.html", port);
    result r = {0};
    for (int i = 0; i < 200; i++) {
        fetch(u, NULL, &r);
        if (r.status != CF_ECONNREFUSED)
            break;
        usleep(10000);
    }
    ASSERT_EQ(r.status, CF_ETLS); /* an unknown CA: verification fails by default */
    ASSERT(strstr(r.message, "TLS") != NULL || strstr(r.message, "certificate") != NULL);
    cf_http_options o = {.ca_file = ca};
    fetch(u, &o, &r);
    ASSERT_OK(r.status);
    ASSERT_EQ(r.http_status, 200);
    ASSERT_STR_EQ(r.body, "hi\n");
    peer_stop(&tls);
    ASSERT_EQ(chdir("/"), 0);
}

/* ---- the project's own server: the Ghibli API stand-in, in the same loop ---- */

typedef struct own {
    ghibli_server *srv;
    int films;
    int done;
    int ok;
} own;

static void own_closed(void *data)
{
    (void)data;
}

static void own_films(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                      void *data)
{
    (void)req;
    (void)err;
    own *o = data;
    o->done++;
    if (status == 0 && cf_http_response_status(res) == 200 &&
        strstr(cf_http_response_header(res, "content-type"), "application/json"))
        o->ok++;
    if (o->done == 50)
        ghibli_server_close(o->srv, own_closed, NULL);
}

static void test_http_client_against_own_server(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    char data[512];
    snprintf(data, sizeof data, "%s/data/ghibli.json", CF_SOURCE_DIR);
    ghibli_server_opts so = {.data_path = data};
    own o = {0};
    ASSERT_OK(ghibli_server_start(loop, &so, &o.srv, NULL));
    char u[256];
    snprintf(u, sizeof u, "%s/films", ghibli_server_url(o.srv));
    /* Streamed, element by element, from a server in the same loop. */
    titles t = {0};
    cf_promise *p = handled(cf_http_stream_json_p(loop, u, NULL, NULL, on_film, &t));
    for (int i = 0; i < 50; i++)
        ASSERT_OK(cf_http_request(loop, u, NULL, own_films, &o, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_EQ(t.count, 22);
    ASSERT_STR_EQ(t.last, "Earwig and the Witch");
    ASSERT_EQ(o.ok, 50);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    start_server();
    CF_TEST(test_http_client_get_plain);
    CF_TEST(test_http_client_chunked_and_gzip);
    CF_TEST(test_http_client_redirects);
    CF_TEST(test_http_client_error_statuses);
    CF_TEST(test_http_client_server_closes_mid_body);
    CF_TEST(test_http_client_timeout);
    CF_TEST(test_http_client_refused_and_dns);
    CF_TEST(test_http_client_bad_urls_fail_synchronously);
    CF_TEST(test_http_client_headers_and_user_agent);
    CF_TEST(test_http_client_200_in_flight);
    CF_TEST(test_http_client_cancel_and_abort);
    CF_TEST(test_http_client_get_json_p);
    CF_TEST(test_http_client_stream_json_array);
    CF_TEST(test_http_client_stream_json_split);
    CF_TEST(test_http_client_abort_mid_body);
    CF_TEST(test_http_client_download_atomic);
    CF_TEST(test_http_client_download_callback_form);
    CF_TEST(test_http_client_upload_file_and_bytes);
    CF_TEST(test_http_client_1gb_stream_bounded_memory);
    CF_TEST(test_http_client_against_nginx);
    CF_TEST(test_http_client_tls_verification);
    CF_TEST(test_http_client_against_own_server);
    peer_stop(&server);
    return CF_TEST_END();
}
