/*
 * The HTTP/1.1 server against real clients over loopback: curl, Python's http.client, the
 * project's own client, and raw sockets for malformed input, slow clients, pipelining,
 * 100-continue, HEAD, limits, timeouts and graceful shutdown.
 *
 * The server runs on the test's loop; blocking clients (curl, python, raw sockets) run as
 * jobs on the thread pool, and the job's completion (on the loop) closes the server, so the
 * loop ends once everything is done. A job records its first failed check in `fail`, which
 * the main thread asserts on after the loop.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 180 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "harness.h"
#include "util/util.h"

extern char **environ;

/* ---- the test's server ---- */

typedef struct ctx ctx;
typedef void (*job_fn)(ctx *x);

struct ctx {
    cf_loop *loop;
    cf_http_server *srv;
    int port;
    int handled;   /* requests the handler saw */
    int peers[64]; /* distinct client ports seen */
    int npeers;
    int close_on_slow;     /* /slow closes the server gracefully while in flight */
    int close_all_on_park; /* /later-gone closes every connection at once */
    int closed;            /* the server's close callback ran */
    int finish_status;     /* what cf_http_res_on_finish reported (/later-gone) */
    int finish_calls;
    int end_rc; /* what the late end returned */
    job_fn job;
    char fail[512];
    char tmp[256];
    char text[8192]; /* a job's captured output */
    uint64_t stream_bytes;
    cf_http_res *parked; /* a response answered later by the test */
    int file_fd;         /* /file: a memfd of file_len bytes, mapped at file_map */
    char *file_map;
    size_t file_len;
};

static void failf(ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(ctx *x, const char *fmt, ...)
{
    if (x->fail[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->fail, sizeof x->fail, fmt, ap);
    va_end(ap);
}

#define CHECK(x, cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            failf((x), "%s:%d: check failed: %s", __FILE__, __LINE__, #cond);                      \
    } while (0)

static void note_peer(ctx *x, cf_http_incoming *req)
{
    char name[64];
    if (cf_http_incoming_peer_name(req, name, sizeof name) != 0)
        return;
    const char *colon = strrchr(name, ':');
    int port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
    for (int i = 0; i < x->npeers; i++) {
        if (x->peers[i] == port)
            return;
    }
    if (x->npeers < 64)
        x->peers[x->npeers++] = port;
}

static void answer_later(void *data)
{
    ctx *x = data;
    cf_http_res *res = x->parked;
    x->parked = NULL;
    x->end_rc = cf_http_res_send(res, 200, "text/plain", "later\n", 6);
}

static void on_finish(cf_http_res *res, int status, void *data)
{
    (void)res;
    ctx *x = data;
    x->finish_calls++;
    x->finish_status = status;
}

static void big_write(cf_http_res *res, void *data);
static void on_server_closed(void *data);

typedef struct big {
    size_t left;
    size_t off;
    int fulls; /* writes that returned CF_HTTP_RES_FULL */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled at the first FULL */
} big;

static big big_state = {0, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

/* Write big_state.left bytes ('a' + offset % 26) in 16 KiB pieces, obeying backpressure. */
static void big_write(cf_http_res *res, void *data)
{
    (void)data;
    char chunk[16384];
    while (big_state.left > 0) {
        size_t n = CF_MIN(sizeof chunk, big_state.left);
        for (size_t i = 0; i < n; i++) {
            chunk[i] = (char)('a' + (big_state.off + i) % 26);
        }
        big_state.left -= n;
        big_state.off += n;
        int rc = cf_http_res_write(res, chunk, n);
        if (rc < 0) {
            cf_http_res_end(res, NULL, 0);
            return;
        }
        if (rc == CF_HTTP_RES_FULL) {
            pthread_mutex_lock(&big_state.mu);
            big_state.fulls++;
            pthread_cond_broadcast(&big_state.cv);
            pthread_mutex_unlock(&big_state.mu);
            return; /* the drain callback calls us again */
        }
    }
    cf_http_res_end(res, NULL, 0);
}

/* The handler of most cases: a few routes, described at each branch. */
static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    ctx *x = data;
    x->handled++;
    note_peer(x, req);
    size_t plen;
    const char *path = cf_http_incoming_path(req, &plen);
    char p[256];
    snprintf(p, sizeof p, "%.*s", (int)plen, path);
    if (strcmp(p, "/hello") == 0) {
        cf_http_res_send(res, 200, "text/plain", "hello\n", 6);
    } else if (strcmp(p, "/echo") == 0) {
        /* "METHOD target\nX-Test: v\n<body>" */
        size_t blen;
        const char *body = cf_http_incoming_body(req, &blen);
        const char *xt = cf_http_incoming_header(req, "x-test");
        char *out = malloc(blen + 512);
        int n = snprintf(out, 512, "%s %s\nX-Test: %s\n", cf_http_incoming_method_name(req),
                         cf_http_incoming_target(req), xt ? xt : "-");
        memcpy(out + n, body, blen);
        cf_http_res_send(res, 200, "text/plain", out, (size_t)n + blen);
        free(out);
    } else if (strcmp(p, "/vary") == 0) {
        /* Heads that differ by status, headers and length, for the head cache. */
        size_t qlen;
        const char *q = cf_http_incoming_query(req, &qlen);
        int n = (int)strtol(q, NULL, 10);
        char v[16];
        snprintf(v, sizeof v, "%d", n);
        if (n % 3 == 1)
            cf_http_res_set_header(res, "X-N", v);
        cf_http_res_send(res, n % 3 == 1 ? 201 : 200,
                         n % 3 == 2 ? "application/json" : "text/plain", "ccc",
                         (size_t)(n % 3 + 1));
    } else if (strcmp(p, "/chunks") == 0) {
        cf_http_res_write(res, "a", 1);
        cf_http_res_write(res, "bb", 2);
        cf_http_res_write(res, "ccc", 3);
        cf_http_res_end(res, NULL, 0);
    } else if (strcmp(p, "/later") == 0 || strcmp(p, "/later-gone") == 0) {
        cf_http_res_on_finish(res, on_finish, x);
        x->parked = res;
        if (strcmp(p, "/later") == 0)
            cf_set_timeout(x->loop, 20, answer_later, x, NULL);
        else if (x->close_all_on_park)
            cf_http_server_close_all_connections(x->srv);
    } else if (strcmp(p, "/slow") == 0) {
        if (x->close_on_slow)
            cf_http_server_close(x->srv, on_server_closed, x);
        x->parked = res;
        cf_set_timeout(x->loop, 50, answer_later, x, NULL);
    } else if (strcmp(p, "/big") == 0) {
        size_t qlen;
        const char *q = cf_http_incoming_query(req, &qlen);
        big_state.left = (size_t)strtoull(q, NULL, 10);
        big_state.off = 0;
        cf_http_res_on_drain(res, big_write, NULL);
        big_write(res, NULL);
    } else if (strcmp(p, "/file") == 0) {
        cf_http_res_set_header(res, "Content-Type", "application/octet-stream");
        cf_http_res_end_file(res, x->file_fd, 0, x->file_map, x->file_len);
    } else if (strcmp(p, "/nocontent") == 0) {
        cf_http_res_send(res, 204, NULL, "ignored", 7);
    } else {
        cf_http_res_send(res, 404, "text/plain", "not found\n", 10);
    }
}

/* A promise from cf_http_server_close_p is released when it settles. */
static void release_close_p(cf_promise *p)
{
    cf_promise_release(p);
}

static void on_server_closed(void *data)
{
    ctx *x = data;
    x->closed = 1;
}

static void start(ctx *x, const cf_http_server_opts *o)
{
    memset(x, 0, sizeof *x);
    ASSERT_OK(cf_loop_new(&x->loop));
    ASSERT_OK(cf_http_server_new(x->loop, o, handler, x, &x->srv));
    ASSERT_OK(cf_http_server_listen(x->srv, "127.0.0.1", 0));
    x->port = cf_http_server_port(x->srv);
    ASSERT(x->port > 0);
    snprintf(x->tmp, sizeof x->tmp, "%s", cf_test_tmpdir());
}

static void job_work(void *data)
{
    ctx *x = data;
    x->job(x);
}

static void job_done(int status, const cf_error *err, void *data)
{
    (void)err;
    ctx *x = data;
    if (status < 0)
        failf(x, "job did not run: %s", cf_strerror(status));
    if (x->parked) {
        /* A response the job abandoned: end it now (its connection may be gone). */
        cf_http_res *res = x->parked;
        x->parked = NULL;
        x->end_rc = cf_http_res_end(res, NULL, 0);
    }
    if (!x->closed && x->srv)
        cf_http_server_close(x->srv, on_server_closed, x);
}

/* Run `fn` on the pool while the loop serves; the server closes when it is done. */
static void run_job(ctx *x, job_fn fn)
{
    x->job = fn;
    ASSERT_OK(cf_work(x->loop, job_work, NULL, job_done, x));
    ASSERT_OK(cf_run(x->loop, CF_RUN_DEFAULT));
    ASSERT(x->closed);
    if (x->fail[0])
        CF_TEST_FAILF("%s", x->fail);
    ASSERT_OK(cf_loop_close(x->loop));
}

/* ---- blocking clients (run on the pool) ---- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {10, 0}; /* a bound for a broken server, not a synchronization */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void raw_sends(int fd, const char *s)
{
    raw_send(fd, s, strlen(s));
}

/* Bytes read past a response, kept for the next raw_response on the same socket. */
static struct {
    int fd;
    size_t len;
    char data[16384];
} stash_[8];

static size_t stash_take(int fd, char *buf, size_t cap)
{
    for (size_t i = 0; i < 8; i++) {
        if (stash_[i].len && stash_[i].fd == fd) {
            size_t n = stash_[i].len < cap ? stash_[i].len : cap;
            memcpy(buf, stash_[i].data, n);
            stash_[i].len = 0;
            return n;
        }
    }
    return 0;
}

static void stash_put(int fd, const char *bytes, size_t len)
{
    for (size_t i = 0; len && i < 8; i++) {
        if (!stash_[i].len) {
            stash_[i].fd = fd;
            stash_[i].len = len < sizeof stash_[i].data ? len : sizeof stash_[i].data;
            memcpy(stash_[i].data, bytes, stash_[i].len);
            return;
        }
    }
}

static void raw_close(int fd)
{
    char b[1];
    stash_take(fd, b, sizeof b);
    close(fd);
}

/*
 * Read one response (head, then a Content-Length or chunked body, or none for HEAD) into
 * `buf` using the library's response parser. Returns its length, 0 at EOF before a byte, or
 * -1 on a timeout or malformed response. `*status` gets the status.
 */
static long raw_response(int fd, char *buf, size_t cap, int head_req, int *status)
{
    cf_http_parser p;
    cf_http_parser_init(&p, CF_HTTP_PARSER_RESPONSE, NULL);
    cf_http_field fields[32];
    cf_http_response_head h;
    memset(&h, 0, sizeof h);
    h.headers = fields;
    h.max_headers = 32;
    h.request_method = head_req ? CF_HTTP_METHOD_HEAD : CF_HTTP_METHOD_NONE;
    size_t len = stash_take(fd, buf, cap);
    long head = 0;
    size_t off = 0;
    for (;;) {
        if (!head) {
            head = cf_http_parse_response(&p, buf, len, &h);
            if (head < 0)
                return -1;
            if (head > 0) {
                *status = h.status;
                if (h.status == 100) {
                    /* Interim response: return it alone. */
                    stash_put(fd, buf + head, len - (size_t)head);
                    return head;
                }
                off = (size_t)head;
            }
        }
        while (head > 0) {
            cf_http_body_event ev;
            int rc = cf_http_parse_body(&p, buf + off, len - off, &ev);
            off += ev.consumed;
            if (rc == CF_HTTP_BODY_END) {
                stash_put(fd, buf + off, len - off);
                return (long)off;
            }
            if (rc < 0)
                return -1;
            if (rc == CF_HTTP_BODY_NEED_MORE)
                break;
        }
        if (len == cap)
            return -1;
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r == 0 && len == 0)
            return 0;
        if (r <= 0) {
            if (r == 0 && head > 0 && cf_http_parse_finish(&p) == CF_HTTP_BODY_END)
                return (long)len;
            return -1;
        }
        len += (size_t)r;
    }
}

/* Non-zero when the server closes the connection (EOF) with nothing more to read. */
static int raw_closed(int fd)
{
    char b[64];
    if (stash_take(fd, b, sizeof b))
        return 0;
    ssize_t r = recv(fd, b, sizeof b, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* Run a program with stdout and stderr to files; returns its exit status. */
static int run_cmd(const char *const argv[], const char *out, const char *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Read a whole (small) file into x->text. */
static size_t slurp(ctx *x, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(x->text, 1, sizeof x->text - 1, f);
    fclose(f);
    x->text[n] = '\0';
    return n;
}

static void url(ctx *x, char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", x->port, path);
}

/* ---- curl ---- */

static void job_curl(ctx *x)
{
    char u1[128], u2[128], out[300], err[300];
    url(x, u1, sizeof u1, "/hello");
    url(x, u2, sizeof u2, "/echo?x=1");
    snprintf(out, sizeof out, "%s/out", x->tmp);
    snprintf(err, sizeof err, "%s/err", x->tmp);
    /* Two URLs in one invocation: the second reuses the connection. */
    const char *argv[] = {"curl", "-sv", "-H", "X-Test: curl", u1, u2, NULL};
    CHECK(x, run_cmd(argv, out, err) == 0);
    slurp(x, out);
    CHECK(x, strcmp(x->text, "hello\nGET /echo?x=1\nX-Test: curl\n") == 0);
    slurp(x, err);
    CHECK(x, strstr(x->text, "Re-using existing") != NULL);
    CHECK(x, strstr(x->text, "< Content-Length: 6") != NULL);
    CHECK(x, strstr(x->text, "< Date: ") != NULL);
    CHECK(x, strstr(x->text, "< Connection: keep-alive") != NULL);
    CHECK(x, strstr(x->text, "< Content-Type: text/plain") != NULL);
}

static void test_http_server_curl_keep_alive(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_curl);
    ASSERT_EQ(x.handled, 2);
    ASSERT_EQ(x.npeers, 1); /* one connection for both requests */
}

static void job_curl_next(ctx *x)
{
    char u1[128], u2[128], u3[128], out[300], err[300];
    url(x, u1, sizeof u1, "/hello");
    url(x, u2, sizeof u2, "/echo");
    url(x, u3, sizeof u3, "/chunks");
    snprintf(out, sizeof out, "%s/out", x->tmp);
    snprintf(err, sizeof err, "%s/err", x->tmp);
    const char *argv[] = {"curl",          "-sv",     u1, "--next", "-X", "POST",
                          "--data-binary", "payload", u2, "--next", u3,   NULL};
    CHECK(x, run_cmd(argv, out, err) == 0);
    slurp(x, out);
    CHECK(x, strcmp(x->text, "hello\nPOST /echo\nX-Test: -\npayloadabbccc") == 0);
    slurp(x, err);
    CHECK(x, strstr(x->text, "Re-using existing") != NULL);
    CHECK(x, strstr(x->text, "< Transfer-Encoding: chunked") != NULL);
}

static void test_http_server_curl_next(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_curl_next);
    ASSERT_EQ(x.handled, 3);
    ASSERT_EQ(x.npeers, 1);
}

static void job_curl_head(ctx *x)
{
    char u[128], out[300], err[300];
    url(x, u, sizeof u, "/hello");
    snprintf(out, sizeof out, "%s/out", x->tmp);
    snprintf(err, sizeof err, "%s/err", x->tmp);
    const char *argv[] = {"curl", "-sI", u, NULL};
    CHECK(x, run_cmd(argv, out, err) == 0);
    slurp(x, out);
    CHECK(x, strncmp(x->text, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(x, strstr(x->text, "Content-Length: 6\r\n") != NULL);
    CHECK(x, strstr(x->text, "hello") == NULL);
}

static void test_http_server_curl_head(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_curl_head);
    ASSERT_EQ(x.handled, 1);
}

/* ---- Python's http.client ---- */

static void job_python(ctx *x)
{
    char port[16], out[300], err[300];
    snprintf(port, sizeof port, "%d", x->port);
    snprintf(out, sizeof out, "%s/out", x->tmp);
    snprintf(err, sizeof err, "%s/err", x->tmp);
    const char *argv[] = {"python3", CF_SOURCE_DIR "/tests/http/server_client.py", port, NULL};
    int rc = run_cmd(argv, out, err);
    slurp(x, out);
    const char *want = "GET 200 6 hello\n"
                       "POST 200 POST /echo|X-Test: yes|from python\n"
                       "same-connection True\n"
                       "CHUNKED 200 PUT /echo|X-Test: -|one,two,three\n"
                       "HEAD 200 6 0\n"
                       "STREAM 200 chunked abbccc\n"
                       "same-connection True\n";
    if (rc != 0 || strcmp(x->text, want) != 0)
        failf(x, "python exited %d with:\n%s", rc, x->text);
}

static void test_http_server_python(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_python);
    ASSERT_EQ(x.handled, 5);
    ASSERT_EQ(x.npeers, 1);
}

/* ---- raw sockets: pipelining, HEAD, 100-continue, chunked bodies, HTTP/1.0 ---- */

static void job_pipeline(ctx *x)
{
    int fd = raw_connect(x->port);
    CHECK(x, fd >= 0);
    /* Four requests in one write; HEAD in the middle must not send a body. */
    raw_sends(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                  "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                  "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                  "GET /later HTTP/1.1\r\nHost: a\r\n\r\n"
                  "GET /chunks HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    char buf[4096];
    int st = 0;
    long n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 6, "hello\n", 6) == 0);
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 4, "\nabc", 4) == 0);
    n = raw_response(fd, buf, sizeof buf, 1, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    CHECK(x, n > 0 && strstr(buf, "Content-Length: 6\r\n") != NULL);
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 6, "later\n", 6) == 0);
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 200 && strstr(buf, "Connection: close\r\n") != NULL);
    CHECK(x, n > 0 && strstr(buf, "1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n") != NULL);
    CHECK(x, raw_closed(fd));
    raw_close(fd);
}

/* The same exchanges, one byte per send: every split point of heads and chunked bodies. */
static void job_byte_by_byte(ctx *x)
{
    int fd = raw_connect(x->port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const char *reqs = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\n"
                       "PUT /echo?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody";
    for (const char *p = reqs; *p; p++) {
        raw_send(fd, p, 1);
    }
    char buf[2048];
    int st = 0;
    long n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 6, "hello\n", 6) == 0);
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 12 && st == 200 && memcmp(buf + n - 12, "\nhello world", 12) == 0);
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 5, "\nbody", 5) == 0);
    raw_close(fd);
}

static void test_http_server_byte_by_byte(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_byte_by_byte);
    ASSERT_EQ(x.handled, 3);
}

/* Responses that differ only a little, one after another on one connection: each head is its own.
 */
static void job_vary(ctx *x)
{
    int fd = raw_connect(x->port);
    int order[] = {0, 0, 1, 2, 1, 4, 0, 2, 2, 7, 3};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char rq[128];
        snprintf(rq, sizeof rq, "GET /vary?%d HTTP/1.1\r\nHost: a\r\n\r\n", order[i]);
        raw_sends(fd, rq);
        char buf[2048];
        int st = 0;
        long n = raw_response(fd, buf, sizeof buf - 1, 0, &st);
        CHECK(x, n > 0);
        if (n <= 0)
            break;
        buf[n] = '\0';
        int k = order[i] % 3;
        char want[64];
        snprintf(want, sizeof want, "Content-Length: %d\r\n", k + 1);
        CHECK(x, st == (k == 1 ? 201 : 200));
        CHECK(x, strstr(buf, want) != NULL);
        CHECK(x, strstr(buf, k == 2 ? "application/json" : "text/plain") != NULL);
        snprintf(want, sizeof want, "X-N: %d\r\n", order[i]);
        CHECK(x, (strstr(buf, want) != NULL) == (k == 1));
        CHECK(x, (strstr(buf, "X-N:") != NULL) == (k == 1));
        CHECK(x, strstr(buf, "Date: ") != NULL && strstr(buf, "Connection: keep-alive") != NULL);
    }
    raw_close(fd);
}

static void test_http_server_heads_differ_per_response(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_vary);
    ASSERT_EQ(x.handled, 11);
}

static void test_http_server_pipelining(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_pipeline);
    ASSERT_EQ(x.handled, 5);
    ASSERT_EQ(x.finish_calls, 1);
    ASSERT_EQ(x.finish_status, 0);
}

static void job_continue(ctx *x)
{
    int fd = raw_connect(x->port);
    raw_sends(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                  "Content-Length: 5\r\n\r\n");
    char buf[2048];
    int st = 0;
    long n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n == 25 && st == 100);
    raw_sends(fd, "hello");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 6, "\nhello", 6) == 0);
    /* Chunked with an extension and a trailer. */
    raw_sends(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3;ext=1\r\nabc\r\n"
                  "4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200 && memcmp(buf + n - 8, "\nabcdefg", 8) == 0);
    raw_close(fd);
}

static void test_http_server_continue_and_chunked(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_continue);
    ASSERT_EQ(x.handled, 2);
}

static void job_http10(ctx *x)
{
    char buf[2048];
    int st = 0;
    int fd = raw_connect(x->port);
    raw_sends(fd, "GET /hello HTTP/1.0\r\n\r\n");
    long n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 200 && strstr(buf, "Connection: close\r\n"));
    CHECK(x, raw_closed(fd));
    raw_close(fd);
    /* Keep-alive asked: kept; a streamed body ends with the connection (no chunked in 1.0). */
    fd = raw_connect(x->port);
    raw_sends(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 200 && strstr(buf, "Connection: keep-alive\r\n"));
    raw_sends(fd, "GET /chunks HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 200 && strstr(buf, "Connection: close\r\n"));
    CHECK(x, n > 6 && strcmp(buf + n - 6, "abbccc") == 0 && !strstr(buf, "chunked"));
    raw_close(fd);
    /* 204: no body even when the handler gives one. */
    fd = raw_connect(x->port);
    raw_sends(fd,
              "GET /nocontent HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 204 && !strstr(buf, "Content-Length") && !strstr(buf, "ignored"));
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 200);
    raw_close(fd);
}

static void test_http_server_http10_and_204(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_http10);
    ASSERT_EQ(x.handled, 5);
}

/* ---- malformed input: each rejection class gives its status and closes ---- */

typedef struct bad_case {
    const char *name;
    int status;
    const char *request; /* NULL: built by the job (long inputs) */
} bad_case;

static const bad_case BAD[] = {
    {"CL+TE", 400,
     "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
    {"two CL", 400,
     "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc"},
    {"bad CL", 400, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc"},
    {"bare LF", 400, "GET /hello HTTP/1.1\nHost: a\n\n"},
    {"bare CR", 400, "GET /hello HTTP/1.1\rHost: a\r\n\r\n"},
    {"obs-fold", 400, "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"},
    {"header char", 400, "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n"},
    {"space before colon", 400, "GET /hello HTTP/1.1\r\nHost : a\r\n\r\n"},
    {"no host", 400, "GET /hello HTTP/1.1\r\n\r\n"},
    {"bad chunk", 400,
     "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
    {"TE not final", 400,
     "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"},
    {"method", 501, "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n"},
    {"version", 505, "GET /hello HTTP/2.0\r\nHost: a\r\n\r\n"},
    {"expect", 417, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx"},
    {"body too large", 413, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"},
    {"chunked too large", 413,
     "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "100000\r\n"},
    {"URI too long", 414, NULL},
    {"head too large", 431, NULL},
    {"too many headers", 431, NULL},
};

static void build_long(int which, char *buf, size_t cap)
{
    size_t n;
    if (which == 0) {
        n = (size_t)snprintf(buf, cap, "GET /");
        memset(buf + n, 'u', 9000);
        n += 9000;
        n += (size_t)snprintf(buf + n, cap - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    } else if (which == 1) {
        n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
        memset(buf + n, 'v', 17000);
        n += 17000;
        n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    } else {
        n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
        for (int i = 0; i < 120; i++) {
            n += (size_t)snprintf(buf + n, cap - n, "X-H%d: v\r\n", i);
        }
        n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    }
}

static void job_bad(ctx *x)
{
    static char req[32768];
    int longs = 0;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const char *r = BAD[i].request;
        if (!r) {
            build_long(longs++, req, sizeof req);
            r = req;
        }
        int fd = raw_connect(x->port);
        raw_sends(fd, r);
        char buf[2048];
        int st = 0;
        long n = raw_response(fd, buf, sizeof buf, 0, &st);
        buf[n > 0 ? n : 0] = '\0';
        if (n <= 0 || st != BAD[i].status || !strstr(buf, "Connection: close\r\n"))
            failf(x, "%s: expected %d, got %d (%ld bytes)", BAD[i].name, BAD[i].status, st, n);
        if (!raw_closed(fd))
            failf(x, "%s: connection left open", BAD[i].name);
        raw_close(fd);
    }
}

static void test_http_server_rejects_malformed(void)
{
    ctx x;
    cf_http_server_opts o = {0};
    o.max_body_size = 65536;
    start(&x, &o);
    run_job(&x, job_bad);
    ASSERT_EQ(x.handled, 0);
}

/* ---- timeouts ---- */

static void job_timeouts(ctx *x)
{
    char buf[2048];
    int st = 0;
    /* Slowloris: a head that never ends → 408, close. */
    int fd = raw_connect(x->port);
    raw_sends(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n");
    long n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 408);
    CHECK(x, raw_closed(fd));
    raw_close(fd);
    /* Half-sent body → 408 (request timeout), close. */
    fd = raw_connect(x->port);
    raw_sends(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    CHECK(x, n > 0 && st == 408);
    CHECK(x, raw_closed(fd));
    raw_close(fd);
    /* Idle keep-alive: closed silently after the keep-alive timeout. */
    fd = raw_connect(x->port);
    raw_sends(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 200 && strstr(buf, "Keep-Alive: timeout=0\r\n"));
    CHECK(x, raw_closed(fd));
    raw_close(fd);
    /* A connection that never sends anything: closed without an answer. */
    fd = raw_connect(x->port);
    CHECK(x, raw_closed(fd));
    raw_close(fd);
}

static void test_http_server_timeouts(void)
{
    ctx x;
    cf_http_server_opts o = {0};
    o.headers_timeout_ms = 150;
    o.request_timeout_ms = 300;
    o.keep_alive_timeout_ms = 200;
    start(&x, &o);
    run_job(&x, job_timeouts);
    ASSERT_EQ(x.handled, 1);
}

/* ---- graceful shutdown with a request in flight ---- */

static void job_shutdown(ctx *x)
{
    int idle = raw_connect(x->port);
    int busy = raw_connect(x->port);
    CHECK(x, idle >= 0 && busy >= 0);
    raw_sends(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    char buf[2048];
    int st = 0;
    long n = raw_response(busy, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && st == 200 && strstr(buf, "Connection: close\r\n") && strstr(buf, "later"));
    CHECK(x, raw_closed(busy));
    CHECK(x, raw_closed(idle));
    raw_close(busy);
    raw_close(idle);
    CHECK(x, raw_connect(x->port) < 0); /* no longer listening */
}

static void test_http_server_graceful_close(void)
{
    ctx x;
    start(&x, NULL);
    x.close_on_slow = 1;
    x.job = job_shutdown;
    ASSERT_OK(cf_work(x.loop, job_work, NULL, NULL, &x));
    /* The handler closes the server (close_p); the loop ends once it is closed. */
    ASSERT_OK(cf_run(x.loop, CF_RUN_DEFAULT));
    if (x.fail[0])
        CF_TEST_FAILF("%s", x.fail);
    ASSERT_EQ(x.handled, 1);
    ASSERT_EQ(x.end_rc, 0);
    ASSERT_OK(cf_loop_close(x.loop));
}

/* ---- the client goes away before a late answer ---- */

static void job_gone(ctx *x)
{
    int fd = raw_connect(x->port);
    raw_sends(fd, "GET /later-gone HTTP/1.1\r\nHost: a\r\n\r\n");
    /* The client ends its side before the answer (≈ Node: the request is aborted). */
    shutdown(fd, SHUT_WR);
    CHECK(x, raw_closed(fd));
    raw_close(fd);
}

static void test_http_server_client_gone(void)
{
    ctx x;
    start(&x, NULL);
    run_job(&x, job_gone);
    ASSERT_EQ(x.handled, 1);
    ASSERT_EQ(x.finish_calls, 1);
    ASSERT(x.finish_status < 0);
    ASSERT_EQ(x.end_rc, CF_ECLOSED);
}

/* ---- backpressure: a large streamed response ---- */

/* Read a whole response, checking that its body is 'a' + offset % 26; returns its length. */
static size_t drain_pattern(ctx *x, int fd)
{
    cf_http_parser p;
    cf_http_parser_init(&p, CF_HTTP_PARSER_RESPONSE, NULL);
    cf_http_field fields[32];
    cf_http_response_head h;
    memset(&h, 0, sizeof h);
    h.headers = fields;
    h.max_headers = 32;
    static char buf[65536];
    size_t len = 0;
    size_t total = 0;
    int head = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
        if (r <= 0)
            return total;
        len += (size_t)r;
        size_t off = 0;
        if (!head) {
            int n = cf_http_parse_response(&p, buf, len, &h);
            if (n <= 0)
                continue;
            head = 1;
            off = (size_t)n;
        }
        cf_http_body_event ev;
        int rc;
        while ((rc = cf_http_parse_body(&p, buf + off, len - off, &ev)) > 0) {
            off += ev.consumed;
            if (rc == CF_HTTP_BODY_END)
                return total;
            for (size_t i = 0; rc == CF_HTTP_BODY_DATA && i < ev.len; i++, total++) {
                if (ev.data[i] != 'a' + (int)(total % 26)) {
                    failf(x, "wrong byte at %zu", total);
                    return total;
                }
            }
        }
        off += ev.consumed;
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}

static void job_big(ctx *x)
{
    /* Ask for more than the kernel buffers hold, and read nothing until the server's queue
     * passed its high-water mark. */
    int fd = raw_connect(x->port);
    raw_sends(fd, "GET /big?16000000 HTTP/1.1\r\nHost: a\r\n\r\n");
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30; /* a bound for a broken server, not a synchronization */
    pthread_mutex_lock(&big_state.mu);
    while (big_state.fulls == 0) {
        if (pthread_cond_timedwait(&big_state.cv, &big_state.mu, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&big_state.mu);
    CHECK(x, drain_pattern(x, fd) == 16000000);
    raw_close(fd);
}

static void test_http_server_backpressure(void)
{
    ctx x;
    start(&x, NULL);
    big_state.fulls = 0;
    run_job(&x, job_big);
    ASSERT_EQ(x.handled, 1);
    ASSERT(big_state.fulls > 0);
}

/* A body sent with sendfile(2) from a memfd; the slow client makes it queue the rest. */
static void job_file(ctx *x)
{
    char u[128], out[300], err[300];
    url(x, u, sizeof u, "/file");
    snprintf(out, sizeof out, "%s/file", x->tmp);
    snprintf(err, sizeof err, "%s/err", x->tmp);
    const char *argv[] = {"curl", "-s", "--limit-rate", "20M", "-o", out,
                          u,      "-o", "/dev/null",    u,     NULL};
    CHECK(x, run_cmd(argv, "/dev/null", err) == 0);
    FILE *f = fopen(out, "rb");
    CHECK(x, f != NULL);
    if (!f)
        return;
    size_t total = 0;
    int ok = 1;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        ok &= ch == 'a' + (int)(total % 26);
        total++;
    }
    fclose(f);
    CHECK(x, ok && total == x->file_len);
}

static void test_http_server_sendfile(void)
{
    ctx x;
    start(&x, NULL);
    x.file_len = 6000000;
    x.file_fd = memfd_create("test", MFD_CLOEXEC);
    ASSERT(x.file_fd >= 0);
    char *buf = malloc(x.file_len);
    for (size_t i = 0; i < x.file_len; i++) {
        buf[i] = (char)('a' + i % 26);
    }
    ASSERT_EQ(write(x.file_fd, buf, x.file_len), (ssize_t)x.file_len);
    free(buf);
    x.file_map = mmap(NULL, x.file_len, PROT_READ, MAP_SHARED, x.file_fd, 0);
    ASSERT(x.file_map != MAP_FAILED);
    run_job(&x, job_file);
    ASSERT_EQ(x.handled, 2);
    munmap(x.file_map, x.file_len);
    close(x.file_fd);
}

/* Pipelined requests to async handlers: each task's response, in order. */
static int async_echo(cf_task *task, cf_http_incoming *req, cf_http_res *res, void *data)
{
    ctx *x = data;
    x->handled++;
    char msg[128];
    int n = snprintf(msg, sizeof msg, "%s", cf_http_incoming_target(req));
    int rc = cf_await(cf_sleep_p(cf_task_loop(task), 3, NULL)).status;
    if (rc == 0)
        rc = cf_await(cf_http_res_end_p(res, msg, (size_t)n)).status;
    /* The response is finished; the next request may already be running in another task. */
    return rc == 0 && strcmp(msg, "/fail-after") == 0 ? CF_EIO : rc;
}

static void job_async_pipeline(ctx *x)
{
    int fd = raw_connect(x->port);
    raw_sends(fd, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                  "GET /fail-after HTTP/1.1\r\nHost: a\r\n\r\n"
                  "GET /three HTTP/1.1\r\nHost: a\r\n\r\n");
    const char *want[] = {"/one", "/fail-after", "/three"};
    for (int i = 0; i < 3; i++) {
        char buf[2048];
        int st = 0;
        long n = raw_response(fd, buf, sizeof buf, 0, &st);
        size_t wl = strlen(want[i]);
        if (n <= 0 || st != 200 || (size_t)n < wl || memcmp(buf + n - wl, want[i], wl) != 0)
            failf(x, "response %d: status %d, %ld bytes", i, st, n);
    }
    raw_close(fd);
}

static void test_http_server_async_pipelining(void)
{
    ctx x;
    memset(&x, 0, sizeof x);
    ASSERT_OK(cf_loop_new(&x.loop));
    ASSERT_OK(cf_http_server_new_async(x.loop, NULL, async_echo, &x, &x.srv));
    ASSERT_OK(cf_http_server_listen(x.srv, "127.0.0.1", 0));
    x.port = cf_http_server_port(x.srv);
    run_job(&x, job_async_pipeline);
    ASSERT_EQ(x.handled, 3);
}

/* ---- the project's own client, and an async handler ---- */

static int async_handler(cf_task *task, cf_http_incoming *req, cf_http_res *res, void *data)
{
    ctx *x = data;
    x->handled++;
    int rc = cf_await(cf_sleep_p(cf_task_loop(task), 5, NULL)).status;
    if (rc < 0)
        return rc;
    if (strcmp(cf_http_incoming_target(req), "/fail") == 0)
        return CF_EIO; /* the server answers 500 */
    if (strcmp(cf_http_incoming_target(req), "/big") == 0) {
        /* 4 MB in 64 KiB writes, waiting for the drain whenever the queue is full. */
        static char chunk[65536];
        memset(chunk, 'w', sizeof chunk);
        for (int i = 0; i < 64 && rc == 0; i++) {
            rc = cf_http_res_write(res, chunk, sizeof chunk);
            if (rc == CF_HTTP_RES_FULL)
                rc = cf_await(cf_http_res_drain_p(res)).status;
        }
        return rc < 0 ? rc : cf_await(cf_http_res_end_p(res, NULL, 0)).status;
    }
    size_t blen;
    cf_http_incoming_body(req, &blen);
    cf_http_res_set_header(res, "Content-Type", "text/plain");
    char msg[64];
    int n = snprintf(msg, sizeof msg, "async got %zu bytes", blen);
    return cf_await(cf_http_res_end_p(res, msg, (size_t)n)).status;
}

typedef struct client_run {
    ctx *x;
    int pending;
    int statuses[4];
    char bodies[4][64];
    size_t lens[4];
} client_run;

typedef struct one_req {
    client_run *run;
    int i;
} one_req;

static void on_client(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                      void *data)
{
    (void)req;
    (void)err;
    one_req *o = data;
    client_run *r = o->run;
    if (status == 0) {
        r->statuses[o->i] = cf_http_response_status(res);
        cf_buf b = cf_http_response_body(res);
        snprintf(r->bodies[o->i], sizeof r->bodies[o->i], "%.*s", (int)b.len, b.base);
        r->lens[o->i] = b.len;
    }
    if (--r->pending == 0)
        cf_http_server_close(r->x->srv, on_server_closed, r->x);
}

static void test_http_server_async_handler_own_client(void)
{
    ctx x;
    memset(&x, 0, sizeof x);
    ASSERT_OK(cf_loop_new(&x.loop));
    ASSERT_OK(cf_http_server_new_async(x.loop, NULL, async_handler, &x, &x.srv));
    ASSERT_OK(cf_http_server_listen(x.srv, "127.0.0.1", 0));
    x.port = cf_http_server_port(x.srv);
    client_run run = {&x, 0, {0}, {{0}}, {0}};
    one_req reqs[4];
    static char body[100000];
    memset(body, 'z', sizeof body);
    cf_http_options post = {0};
    post.method = "POST";
    post.body = body;
    post.body_len = sizeof body;
    const char *paths[] = {"/a", "/fail", "/b", "/big"};
    for (int i = 0; i < 4; i++) {
        char u[128];
        url(&x, u, sizeof u, paths[i]);
        reqs[i] = (one_req){&run, i};
        ASSERT_OK(cf_http_request(x.loop, u, i == 2 ? &post : NULL, on_client, &reqs[i], NULL));
        run.pending++;
    }
    ASSERT_OK(cf_run(x.loop, CF_RUN_DEFAULT));
    ASSERT(x.closed);
    ASSERT_EQ(run.statuses[0], 200);
    ASSERT_STR_EQ(run.bodies[0], "async got 0 bytes");
    ASSERT_EQ(run.statuses[1], 500);
    ASSERT_EQ(run.statuses[2], 200);
    ASSERT_STR_EQ(run.bodies[2], "async got 100000 bytes");
    ASSERT_EQ(run.statuses[3], 200);
    ASSERT_EQ(run.lens[3], 64 * 65536);
    ASSERT_OK(cf_loop_close(x.loop));
}

/* ---- streamed request bodies ---- */

static void resume_body(void *data)
{
    cf_http_incoming_resume(data);
}

static void on_body(cf_http_incoming *req, int status, const char *bytes, size_t len, void *data)
{
    (void)bytes;
    cf_http_res *res = data;
    if (status == 0) {
        big_state.off += len;
        if (big_state.off >= 300000 && big_state.left == 0) {
            /* Pause a moment: the rest waits in the socket, then comes on resume. */
            big_state.left = 1;
            cf_http_incoming_pause(req);
            cf_set_timeout(cf_http_server_loop(cf_http_incoming_server(req)), 10, resume_body, req,
                           NULL);
        }
        return;
    }
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%s %zu", status == CF_EOF ? "EOF" : cf_err_name(status),
                     big_state.off);
    cf_http_res_send(res, 200, "text/plain", msg, (size_t)n);
}

static void stream_handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    ctx *x = data;
    x->handled++;
    big_state.off = 0;
    big_state.left = 0;
    ASSERT(cf_http_incoming_body(req, NULL) == NULL);
    ASSERT_OK(cf_http_incoming_read(req, on_body, res));
}

static void test_http_server_stream_body(void)
{
    ctx x;
    memset(&x, 0, sizeof x);
    cf_http_server_opts o = {0};
    o.flags = CF_HTTP_SERVER_STREAM_BODY;
    ASSERT_OK(cf_loop_new(&x.loop));
    ASSERT_OK(cf_http_server_new(x.loop, &o, stream_handler, &x, &x.srv));
    ASSERT_OK(cf_http_server_listen(x.srv, "127.0.0.1", 0));
    x.port = cf_http_server_port(x.srv);
    client_run run = {&x, 1, {0}, {{0}}, {0}};
    one_req r0 = {&run, 0};
    static char body[1000000];
    memset(body, 'q', sizeof body);
    cf_http_options post = {0};
    post.method = "POST";
    post.body = body;
    post.body_len = sizeof body;
    char u[128];
    url(&x, u, sizeof u, "/upload");
    ASSERT_OK(cf_http_request(x.loop, u, &post, on_client, &r0, NULL));
    ASSERT_OK(cf_run(x.loop, CF_RUN_DEFAULT));
    ASSERT_EQ(run.statuses[0], 200);
    ASSERT_STR_EQ(run.bodies[0], "EOF 1000000");
    ASSERT_OK(cf_loop_close(x.loop));
}

/* ---- requests per connection, close_all ---- */

static void job_max_requests(ctx *x)
{
    int fd = raw_connect(x->port);
    char buf[2048];
    int st = 0;
    raw_sends(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    long n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && strstr(buf, "Connection: keep-alive"));
    n = raw_response(fd, buf, sizeof buf, 0, &st);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(x, n > 0 && strstr(buf, "Connection: close"));
    CHECK(x, raw_closed(fd));
    raw_close(fd);
}

static void test_http_server_max_requests(void)
{
    ctx x;
    cf_http_server_opts o = {0};
    o.max_requests_per_connection = 2;
    start(&x, &o);
    run_job(&x, job_max_requests);
    ASSERT_EQ(x.handled, 2);
}

static void job_close_all(ctx *x)
{
    int fd = raw_connect(x->port);
    raw_sends(fd, "GET /later-gone HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(x, raw_closed(fd)); /* the handler closes every connection */
    raw_close(fd);
}

static void test_http_server_close_all(void)
{
    ctx x;
    start(&x, NULL);
    x.close_all_on_park = 1;
    run_job(&x, job_close_all);
    ASSERT_EQ(x.finish_status, CF_ECANCELED);
    ASSERT_EQ(x.end_rc, CF_ECLOSED);
}

/* ---- helpers ---- */

static void test_http_server_query_helpers(void)
{
    const char *q = "fields=id,title&&limit=2&name=Cat%20Bus&flag&x=a+b";
    size_t pos = 0;
    cf_http_field p;
    const char *want[][2] = {
        {"fields", "id,title"}, {"limit", "2"}, {"name", "Cat%20Bus"}, {"flag", ""}, {"x", "a+b"}};
    for (size_t i = 0; i < 5; i++) {
        ASSERT_EQ(cf_http_query_next(q, strlen(q), &pos, &p), 1);
        ASSERT_EQ(p.name_len, strlen(want[i][0]));
        ASSERT_MEM_EQ(p.name, want[i][0], p.name_len);
        ASSERT_EQ(p.value_len, strlen(want[i][1]));
        ASSERT_MEM_EQ(p.value, want[i][1], p.value_len);
    }
    ASSERT_EQ(cf_http_query_next(q, strlen(q), &pos, &p), 0);
    char out[32];
    ASSERT_EQ(cf_http_url_decode("Cat%20Bus+x", 11, out, 1), 9);
    ASSERT_MEM_EQ(out, "Cat Bus x", 9);
    ASSERT_EQ(cf_http_url_decode("a+b%2F", 6, out, 0), 4);
    ASSERT_MEM_EQ(out, "a+b/", 4);
    ASSERT_EQ(cf_http_url_decode("%4", 2, out, 0), CF_EINVAL);
    ASSERT_EQ(cf_http_url_decode("%zz", 3, out, 0), CF_EINVAL);
}

static void test_http_server_api_errors(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_http_server *srv;
    ASSERT_EQ(cf_http_server_new(NULL, NULL, handler, NULL, &srv), CF_EINVAL);
    ASSERT_EQ(cf_http_server_new(loop, NULL, NULL, NULL, &srv), CF_EINVAL);
    ASSERT_OK(cf_http_server_new(loop, NULL, handler, NULL, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    ASSERT_EQ(cf_http_server_listen(srv, "127.0.0.1", 0), CF_EINVAL);
    cf_http_server *other;
    ASSERT_OK(cf_http_server_new(loop, NULL, handler, NULL, &other));
    ASSERT_EQ(cf_http_server_listen(other, "127.0.0.1", cf_http_server_port(srv)), CF_EADDRINUSE);
    ASSERT_OK(cf_http_server_close(other, NULL, NULL));
    cf_promise *p = cf_http_server_close_p(srv);
    ASSERT_PTR(p);
    ASSERT_EQ(cf_http_server_close(srv, NULL, NULL), CF_ECLOSED);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    release_close_p(p);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_query_helpers);
    CF_TEST(test_http_server_api_errors);
    CF_TEST(test_http_server_curl_keep_alive);
    CF_TEST(test_http_server_curl_next);
    CF_TEST(test_http_server_curl_head);
    CF_TEST(test_http_server_python);
    CF_TEST(test_http_server_pipelining);
    CF_TEST(test_http_server_heads_differ_per_response);
    CF_TEST(test_http_server_byte_by_byte);
    CF_TEST(test_http_server_continue_and_chunked);
    CF_TEST(test_http_server_http10_and_204);
    CF_TEST(test_http_server_rejects_malformed);
    CF_TEST(test_http_server_timeouts);
    CF_TEST(test_http_server_graceful_close);
    CF_TEST(test_http_server_client_gone);
    CF_TEST(test_http_server_backpressure);
    CF_TEST(test_http_server_sendfile);
    CF_TEST(test_http_server_async_pipelining);
    CF_TEST(test_http_server_async_handler_own_client);
    CF_TEST(test_http_server_stream_body);
    CF_TEST(test_http_server_max_requests);
    CF_TEST(test_http_server_close_all);
    return CF_TEST_END();
}
