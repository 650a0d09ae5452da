/*
 * How the HTTP client reports a server that misbehaves (tests/apps/hostile_server.py on
 * 127.0.0.1): curl's outcome mapped to the code that says what happened, and a one-line
 * message with the network's text escaped and credentials hidden.
 */
/* ctest-timeout: 300 */
#include "harness.h"
#include "peer.h"

static peer server;
static int port;

static void start_server(void)
{
    char script[512];
    snprintf(script, sizeof script, "%s/tests/apps/hostile_server.py", CF_SOURCE_DIR);
    const char *argv[] = {"python3", script, NULL};
    peer_start(&server, argv);
    port = peer_wait_port(&server);
}

static const char *url(const char *path)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "http://127.0.0.1:%d%s", port, path);
    return buf[i];
}

typedef struct result {
    int done;
    int status;
    int http_status;
    char message[512];
    size_t streamed;
} result;

static void on_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)req;
    result *r = data;
    r->done++;
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", err ? err->message : "");
    r->http_status = res ? cf_http_response_status(res) : 0;
}

static int count_data(cf_http_req *req, const char *data, size_t len, void *ctx)
{
    (void)req, (void)data;
    ((result *)ctx)->streamed += len;
    return 0;
}

static void settled_ignore(cf_promise *p, void *data)
{
    (void)p, (void)data;
}

static void fetch(const char *u, const cf_http_options *o, result *r)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_http_request(loop, u, o, on_done, r, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r->done, 1);
    ASSERT_OK(cf_loop_close(loop));
}

/* `path` fails with `code` and exactly "GET <url>: <what>". */
static void expect(const char *path, const cf_http_options *o, int code, const char *what)
{
    result r = {0};
    fetch(url(path), o, &r);
    char message[512];
    snprintf(message, sizeof message, "GET %s: %s", url(path), what);
    ASSERT_STR_EQ(r.message, message);
    ASSERT_EQ(r.status, code);
}

static void test_http_client_errors_not_http(void)
{
    /* curl says CURLE_UNSUPPORTED_PROTOCOL ("HTTP/0.9"): a bad reply, not a bad URL. */
    expect("/hello", NULL, CF_EBADRESP,
           "the reply is not HTTP (Received HTTP/0.9 when not allowed)");
}

static void test_http_client_errors_closed_and_reset(void)
{
    expect("/close", NULL, CF_ECONNRESET, "server closed the connection without replying");
    expect("/reset", NULL, CF_ECONNRESET,
           "connection reset by peer (Recv failure: Connection reset by peer)");
}

static void test_http_client_errors_header_too_large(void)
{
    /* curl's header limit, not a memory failure of ours. */
    expect("/bigheader", NULL, CF_EBADRESP, "a response header line too long (more than 100 KiB)");
    /* All the headers over 300 KiB: curl says CURLE_RECV_ERROR, "Too large response headers". */
    expect("/manyheaders", NULL, CF_EBADRESP, "response headers too large (more than 300 KiB)");
}

/*
 * The server closes every connection after its 302 but only when the next request comes on
 * it, so each reuse fails and curl retries it on a new connection. curl keeps the first
 * failure in its error buffer: the retried attempt's "Recv failure" must not become the
 * detail of the outcome. Three redirects allowed: three retries, then too many redirects.
 * Twenty: curl gives up retrying after five, a reset.
 */
static void test_http_client_errors_redirect_loop_detail(void)
{
    cf_http_options o = {.max_redirects = 3};
    for (int i = 0; i < 3; i++)
        expect("/lazyloop/0", &o, CF_EREDIRECTS, "too many redirects (more than 3)");
    expect("/lazyloop/0", NULL, CF_ECONNRESET, "connection reset by peer");
}

/* Connected, then no answer within timeout_ms: the words say so, not "connection timed out". */
static void test_http_client_errors_response_timeout(void)
{
    cf_http_options o = {.timeout_ms = 300};
    expect("/slow", &o, CF_ETIMEDOUT, "timed out after 0.3 s waiting for the response");
    /* A body that stops half-way. */
    o.timeout_ms = 1500;
    expect("/stall", &o, CF_ETIMEDOUT, "timed out after 1.5 s receiving the response body");
}

static void test_http_client_errors_body_limit(void)
{
    cf_http_options o = {.max_body = 4096};
    expect("/bigbody/5000", &o, CF_ETOOBIG, "response body larger than the limit of 4096 bytes");
    o.max_body = (size_t)1 << 20;
    expect("/bigbody/1048577", &o, CF_ETOOBIG,
           "response body larger than the limit of 1 MiB (1048576 bytes)");
    result r = {0};
    fetch(url("/bigbody/1048576"), &o, &r);
    ASSERT_OK(r.status);
    /* A streamed body obeys a max_body it is given, and has no limit without one. */
    o.on_data = count_data;
    o.on_data_ctx = &r;
    o.max_body = 4096;
    memset(&r, 0, sizeof r);
    fetch(url("/bigbody/5000"), &o, &r);
    ASSERT_EQ(r.status, CF_ETOOBIG);
    ASSERT(r.streamed <= 4096);
    char message[256];
    snprintf(message, sizeof message, "GET %s: response body larger than the limit of 4096 bytes",
             url("/bigbody/5000"));
    ASSERT_STR_EQ(r.message, message);
    o.max_body = 0;
    memset(&r, 0, sizeof r);
    fetch(url("/bigbody/100000"), &o, &r);
    ASSERT_OK(r.status);
    ASSERT_EQ(r.streamed, 100000);
}

static void test_http_client_errors_reason_escaped(void)
{
    cf_http_options o = {.flags = CF_HTTP_FAIL_ON_STATUS};
    expect("/reason", &o, CF_EHTTP, "HTTP 500 \\x1b[31mBoom\\x1b]0;owned\\x07");
    /* Bytes that are not UTF-8 (a raw 8-bit CSI, 0x9b) are escaped too; UTF-8 text is kept. */
    expect("/c1", &o, CF_EHTTP, "HTTP 500 Bad \\x9b31m raw C1 \\xc2\\x9b \\xff\\xc3 caf\xc3\xa9");
}

static void test_http_client_errors_credentials_hidden(void)
{
    char u[256];
    snprintf(u, sizeof u, "http://alice:s3cret@127.0.0.1:%d/close", port);
    result r = {0};
    fetch(u, NULL, &r);
    ASSERT_EQ(r.status, CF_ECONNRESET);
    char message[256];
    snprintf(message, sizeof message,
             "GET http://***@127.0.0.1:%d/close: server closed the connection without replying",
             port);
    ASSERT_STR_EQ(r.message, message);
    /* A URL refused at the start: the promise's message hides and escapes it too. */
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_promise *p = cf_http_request_p(loop, "http://bob:pw@127.0.0.1:1/a\r\nb\x1b", NULL);
    ASSERT_PTR(p);
    ASSERT_OK(cf_promise_on_settle(p, settled_ignore, NULL)); /* checked below */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(p), CF_EURL);
    ASSERT_STR_EQ(cf_promise_error(p)->message,
                  "GET http://***@127.0.0.1:1/a\\r\\nb\\x1b: malformed URL");
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    start_server();
    CF_TEST(test_http_client_errors_not_http);
    CF_TEST(test_http_client_errors_closed_and_reset);
    CF_TEST(test_http_client_errors_header_too_large);
    CF_TEST(test_http_client_errors_redirect_loop_detail);
    CF_TEST(test_http_client_errors_response_timeout);
    CF_TEST(test_http_client_errors_body_limit);
    CF_TEST(test_http_client_errors_reason_escaped);
    CF_TEST(test_http_client_errors_credentials_hidden);
    peer_stop(&server);
    return CF_TEST_END();
}
