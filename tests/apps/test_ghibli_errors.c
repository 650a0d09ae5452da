/*
 * `ghibli`'s errors, run as a user runs it against servers that misbehave on purpose on
 * 127.0.0.1 (tests/apps/hostile_server.py): each failure ends with the exit status of
 * ghibli(1) and one line on standard error that says what happened, with control characters
 * escaped and credentials hidden, and nothing on standard output. Also: the usage errors of
 * --fields, --max-body, --timeout and --csv-guard, and that --offline writes the same bytes
 * every run.
 */
/* ctest-timeout: 300 */
#include "flagship.h"

/* Run ghibli with `args` (NULL-terminated, at most 16) in the case's folder. */
static void ghibli(outcome *o, const char *const *args)
{
    const char *argv[20] = {build_path("bin/ghibli")};
    size_t n = 1;
    for (; args[n - 1] && n < 19; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    run_program(o, cf_test_tmpdir(), NULL, argv);
}

static int start_hostile(peer *p)
{
    const char *argv[] = {"python3", source_path("tests/apps/hostile_server.py"), NULL};
    peer_start(p, argv);
    return peer_wait_port(p);
}

/* A URL on the hostile server (static storage, one of four). */
static const char *at(int port, const char *route)
{
    static char urls[4][256];
    static int next;
    char *u = urls[next++ % 4];
    snprintf(u, sizeof urls[0], "http://127.0.0.1:%d%s", port, route);
    return u;
}

/* The outcome is a failure with `status`, no output, and exactly `message` on stderr. */
static void expect_failure(const char *const *args, int status, const char *message)
{
    outcome o;
    ghibli(&o, args);
    ASSERT_STR_EQ(o.err, message);
    ASSERT_EQ(o.status, status);
    ASSERT_STR_EQ(o.out, "");
    outcome_free(&o);
}

/* The message expected for `route`: "ghibli: GET <url>: <what>\n" (static storage). */
static const char *msg(int port, const char *route, const char *what)
{
    static char text[2][1024];
    static int next;
    char *t = text[next++ % 2];
    snprintf(t, sizeof text[0], "ghibli: GET http://127.0.0.1:%d%s: %s\n", port, route, what);
    return t;
}

static void test_ghibli_errors_not_http_and_closes(void)
{
    peer srv;
    int port = start_hostile(&srv);
    const char *hello[] = {"films", "--url", at(port, "/hello"), NULL};
    expect_failure(
        hello, 5,
        msg(port, "/hello", "the reply is not HTTP (Received HTTP/0.9 when not allowed)"));
    const char *closed[] = {"films", "--url", at(port, "/close"), NULL};
    expect_failure(closed, 5, msg(port, "/close", "server closed the connection without replying"));
    const char *reset[] = {"films", "--url", at(port, "/reset"), NULL};
    expect_failure(
        reset, 5,
        msg(port, "/reset", "connection reset by peer (Recv failure: Connection reset by peer)"));
    peer_stop(&srv);
}

static void test_ghibli_errors_limits(void)
{
    peer srv;
    int port = start_hostile(&srv);
    const char *header[] = {"films", "--url", at(port, "/bigheader"), NULL};
    expect_failure(header, 5,
                   msg(port, "/bigheader", "a response header line too long (more than 100 KiB)"));
    /* Many lines: curl's limit on all the headers, which it reports as a receive error. */
    const char *many[] = {"films", "--url", at(port, "/manyheaders"), NULL};
    expect_failure(many, 5,
                   msg(port, "/manyheaders", "response headers too large (more than 300 KiB)"));
    /* The default limit, 64 MiB, and a smaller one given with a suffix. */
    const char *big[] = {"films", "--url", at(port, "/bigbody/67108866"), NULL};
    expect_failure(big, 8,
                   msg(port, "/bigbody/67108866",
                       "response body larger than the limit of 64 MiB (67108864 bytes); "
                       "--max-body raises it"));
    const char *small[] = {"films", "--url", at(port, "/bigbody/2000"), "--max-body", "1k", NULL};
    expect_failure(small, 8,
                   msg(port, "/bigbody/2000",
                       "response body larger than the limit of 1024 bytes; --max-body raises "
                       "it"));
    /* A body just under the limit is read, and is an empty list. */
    outcome o;
    const char *fits[] = {"films", "--url", at(port, "/bigbody/1024"), "-m", "1Ki", NULL};
    ghibli(&o, fits);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.out, "title,release_date\r\n");
    outcome_free(&o);
    /* Lookups of --with obey the limit too. */
    const char *fan[] = {
        "people", "--url", at(port, "/people/1/5000"), "--with", "films", "--max-body", "2k", NULL};
    expect_failure(fan, 8,
                   msg(port, "/films/0/5000",
                       "response body larger than the limit of 2048 bytes; --max-body raises "
                       "it"));
    peer_stop(&srv);
}

static void test_ghibli_errors_printed_safely(void)
{
    peer srv;
    int port = start_hostile(&srv);
    const char *reason[] = {"films", "--url", at(port, "/reason"), NULL};
    expect_failure(reason, 7, msg(port, "/reason", "HTTP 500 \\x1b[31mBoom\\x1b]0;owned\\x07"));
    /* A raw 8-bit CSI (0x9b) and other bytes that are not UTF-8 are escaped; UTF-8 is kept. */
    const char *c1[] = {"films", "--url", at(port, "/c1"), NULL};
    expect_failure(
        c1, 7, msg(port, "/c1", "HTTP 500 Bad \\x9b31m raw C1 \\xc2\\x9b \\xff\\xc3 caf\xc3\xa9"));
    /* A URL with CR LF: one line, and the password is never echoed. */
    char url[256];
    snprintf(url, sizeof url, "http://alice:s3cret@127.0.0.1:%d/x\r\ny", port);
    const char *crlf[] = {"films", "--url", url, NULL};
    char expected[256];
    snprintf(expected, sizeof expected,
             "ghibli: GET http://***@127.0.0.1:%d/x\\r\\ny: malformed URL\n", port);
    expect_failure(crlf, 3, expected);
    snprintf(url, sizeof url, "http://alice:s3cret@127.0.0.1:%d/close", port);
    const char *creds[] = {"films", "--url", url, NULL};
    snprintf(expected, sizeof expected,
             "ghibli: GET http://***@127.0.0.1:%d/close: server closed the connection without "
             "replying\n",
             port);
    expect_failure(creds, 5, expected);
    peer_stop(&srv);
}

static void test_ghibli_errors_bad_records(void)
{
    peer srv;
    int port = start_hostile(&srv);
    static const char *const styles[] = {"callbacks", "promises", "async"};
    for (size_t s = 0; s < 3; s++) {
        const char *mixed[] = {"films", "--url", at(port, "/mixed"), "--style", styles[s], NULL};
        expect_failure(mixed, 9,
                       msg(port, "/mixed", "element 2 of the list is a number, not an object"));
        const char *nul[] = {"films", "--url", at(port, "/nul"), "--style", styles[s], NULL};
        expect_failure(nul, 9,
                       msg(port, "/nul",
                           "element 1, field 'title', holds a NUL character, which CSV cannot "
                           "carry"));
    }
    const char *fan[] = {"films", "--url", at(port, "/mixed"), "--with", "people", NULL};
    expect_failure(fan, 9, msg(port, "/mixed", "element 2 of the list is a number, not an object"));
    peer_stop(&srv);
}

static void test_ghibli_errors_csv_guard(void)
{
    peer srv;
    int port = start_hostile(&srv);
    outcome o;
    const char *plain[] = {"films", "--url", at(port, "/formula"), NULL};
    ghibli(&o, plain);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.out, "title,release_date\r\n=1+2,1986\r\n+x,1986\r\n-5,1986\r\n"
                         "@SUM(A1),1986\r\n\tt,1986\r\n\"\rr\",1986\r\nok,1986\r\n");
    outcome_free(&o);
    const char *guarded[] = {"films", "--url", at(port, "/formula"), "--csv-guard", NULL};
    ghibli(&o, guarded);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.err, "");
    ASSERT_STR_EQ(o.out, "title,release_date\r\n'=1+2,1986\r\n'+x,1986\r\n'-5,1986\r\n"
                         "'@SUM(A1),1986\r\n'\tt,1986\r\n\"'\rr\",1986\r\nok,1986\r\n");
    outcome_free(&o);
    peer_stop(&srv);
}

static void test_ghibli_errors_fields_usage(void)
{
    static const struct {
        const char *fields;
        const char *message;
    } cases[] = {
        {"[\"odd", "ghibli: --fields: malformed path '[\"odd' (keys a.b, indexes a[0], other "
                   "keys [\"k\"]) (try 'ghibli --help')\n"},
        {"title,people[0", "ghibli: --fields: malformed path 'people[0' (keys a.b, indexes "
                           "a[0], other keys [\"k\"]) (try 'ghibli --help')\n"},
        {"]", "ghibli: --fields: malformed path ']' (keys a.b, indexes a[0], other keys "
              "[\"k\"]) (try 'ghibli --help')\n"},
        {"people[-1]", "ghibli: --fields: malformed path 'people[-1]' (keys a.b, indexes a[0], "
                       "other keys [\"k\"]) (try 'ghibli --help')\n"},
        {"title, director", "ghibli: --fields: blank around ' director' (no spaces after "
                            "commas; write a key with spaces as [\"key\"]) (try 'ghibli "
                            "--help')\n"},
        {"title,", "ghibli: an empty name in --fields or --with (try 'ghibli --help')\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"films", "--offline", "--fields", cases[i].fields, NULL};
        expect_failure(args, 2, cases[i].message);
    }
    const char *twice[] = {"films", "--offline", "--fields", "title", "-f", "director", NULL};
    expect_failure(twice, 2,
                   "ghibli: --fields given more than once (give one comma-separated list) "
                   "(try 'ghibli --help')\n");
    const char *size[] = {"films", "--offline", "--max-body", "12X", NULL};
    expect_failure(size, 2,
                   "ghibli: --max-body wants a size from 1 to 1024G bytes (e.g. 512k, 64M), "
                   "not '12X' (try 'ghibli --help')\n");
    const char *zero[] = {"films", "--offline", "--max-body", "0", NULL};
    expect_failure(zero, 2,
                   "ghibli: --max-body wants a size from 1 to 1024G bytes (e.g. 512k, 64M), "
                   "not '0' (try 'ghibli --help')\n");
    const char *timeout[] = {"films", "--offline", "--timeout", "-1", NULL};
    expect_failure(timeout, 2,
                   "ghibli: --timeout wants seconds (0 <= s <= 86400; 0: never), not '-1' "
                   "(try 'ghibli --help')\n");
    const char *serve[] = {"serve", "--csv-guard", NULL};
    expect_failure(serve, 2,
                   "ghibli: serve takes only --port, --workers, --balance and --trace (try "
                   "'ghibli --help')\n");
}

/*
 * A redirect loop whose server closes each connection after its 302: curl retries each dead
 * reused connection on a new one, and the failure of a retried attempt must not become the
 * detail of the outcome ("too many redirects (Recv failure: ...)"). With every reuse failing
 * (/lazyloop) the outcome is deterministic; with the server's close racing curl's reuse
 * (/loop) it is one of two, each with its own status and words.
 */
static void test_ghibli_errors_redirect_loop(void)
{
    peer srv;
    int port = start_hostile(&srv);
    const char *lazy[] = {"films", "--url", at(port, "/lazyloop/0"), NULL};
    for (int i = 0; i < 3; i++)
        expect_failure(lazy, 5, msg(port, "/lazyloop/0", "connection reset by peer"));
    for (int i = 0; i < 6; i++) {
        outcome o;
        const char *racy[] = {"films", "--url", at(port, "/loop/0"), NULL};
        ghibli(&o, racy);
        if (o.status == 7)
            ASSERT_STR_EQ(o.err, msg(port, "/loop/0", "too many redirects (more than 20)"));
        else if (o.status == 5)
            ASSERT_STR_EQ(o.err, msg(port, "/loop/0", "connection reset by peer"));
        else
            CF_TEST_FAILF("status %d: %s", o.status, o.err);
        outcome_free(&o);
    }
    peer_stop(&srv);
}

/* A server that accepted the connection and does not answer: not a connection timeout. */
static void test_ghibli_errors_response_timeout(void)
{
    peer srv;
    int port = start_hostile(&srv);
    const char *slow[] = {"films", "--url", at(port, "/slow"), "--timeout", "1", NULL};
    expect_failure(slow, 6, msg(port, "/slow", "timed out after 1 s waiting for the response"));
    peer_stop(&srv);
}

static void test_ghibli_errors_timeout_zero_waits(void)
{
    /* --timeout 0 is no limit: a reply that comes late is still taken. */
    peer srv;
    int port = start_hostile(&srv);
    outcome o;
    const char *args[] = {"films", "--url", at(port, "/json"), "--timeout", "0", NULL};
    ghibli(&o, args);
    ASSERT_EQ(o.status, 0);
    ASSERT_STR_EQ(o.err, "");
    ASSERT_STR_EQ(o.out, "title,release_date\r\nCastle in the Sky,1986\r\n");
    outcome_free(&o);
    peer_stop(&srv);
}

static void test_ghibli_errors_offline_is_deterministic(void)
{
    const char *films[] = {"films", "--offline", "--fields", "title,url,people", NULL};
    const char *people[] = {"people", "--offline", "--with", "films", "-j", "3", NULL};
    const char *const *runs[] = {films, people};
    for (size_t r = 0; r < 2; r++) {
        outcome a;
        outcome b;
        ghibli(&a, runs[r]);
        ghibli(&b, runs[r]);
        ASSERT_EQ(a.status, 0);
        ASSERT_EQ(b.status, 0);
        ASSERT(a.out_len > 1000);
        ASSERT_EQ(a.out_len, b.out_len);
        ASSERT_MEM_EQ(a.out, b.out, a.out_len);
        ASSERT(!strstr(a.out, "127.0.0.1"));
        outcome_free(&a);
        outcome_free(&b);
    }
    outcome o;
    ghibli(&o, films);
    ASSERT(strstr(o.out, "\r\nCastle in the Sky,https://ghibliapi.vercel.app/films/"));
    outcome_free(&o);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_ghibli_errors_not_http_and_closes);
    CF_TEST(test_ghibli_errors_limits);
    CF_TEST(test_ghibli_errors_printed_safely);
    CF_TEST(test_ghibli_errors_bad_records);
    CF_TEST(test_ghibli_errors_csv_guard);
    CF_TEST(test_ghibli_errors_fields_usage);
    CF_TEST(test_ghibli_errors_redirect_loop);
    CF_TEST(test_ghibli_errors_response_timeout);
    CF_TEST(test_ghibli_errors_timeout_zero_waits);
    CF_TEST(test_ghibli_errors_offline_is_deterministic);
    return CF_TEST_END();
}
