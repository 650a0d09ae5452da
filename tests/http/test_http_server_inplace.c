/*
 * The HTTP server parses each request head where the socket read it (no copy), so the
 * request's strings must survive the input buffer moving on: pipelined requests arriving
 * behind a head whose handler has not answered yet, and a large second head that makes the
 * buffer grow. A raw client socket on 127.0.0.1, driven from the test between loop turns,
 * decides what arrives when.
 */
/* ctest-timeout: 60 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "harness.h"

#define BIG_VALUE 12000 /* the second head: three times the first input buffer */

typedef struct held {
    cf_loop *loop;
    cf_http_server *srv;
    cf_http_incoming *req[4];
    cf_http_res *res[4];
    const char *token[4]; /* pointers taken in the handler, checked later */
    const char *target[4];
    int n;
} held;

/* Keep every request unanswered, with the pointers to its strings. */
static void hold_handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    held *h = data;
    ASSERT(h->n < 4);
    h->req[h->n] = req;
    h->res[h->n] = res;
    h->token[h->n] = cf_http_incoming_header(req, "X-Token");
    h->target[h->n] = cf_http_incoming_target(req);
    h->n++;
}

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    ASSERT(rc == 0 || errno == EINPROGRESS);
    return fd;
}

/* Send everything, running the loop while the socket is full (bounded). */
static void client_send(cf_loop *loop, int fd, const char *s, size_t n)
{
    size_t off = 0;
    for (int i = 0; i < 100000 && off < n; i++) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else
            ASSERT(errno == EAGAIN || errno == EINTR || errno == ENOTCONN);
        ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
    }
    ASSERT_EQ(off, n);
}

/* Run the loop until `*n` reaches `want` (bounded). */
static void run_until(cf_loop *loop, const int *n, int want)
{
    for (int i = 0; i < 2000 && *n < want; i++) {
        ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
        poll(NULL, 0, 1);
    }
    ASSERT_EQ(*n, want);
}

/* Read until `needle` has arrived `count` times; returns what was read (static). */
static const char *client_wait(cf_loop *loop, int fd, const char *needle, int count)
{
    static char buf[65536];
    size_t len = 0;
    for (int i = 0; i < 5000; i++) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r > 0)
            len += (size_t)r;
        buf[len] = '\0';
        int seen = 0;
        for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++) {
            seen++;
        }
        if (seen >= count)
            return buf;
        ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
        poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 1);
    }
    CF_TEST_FAILF("'%s' did not arrive %d times; got: %.200s", needle, count, buf);
    return NULL;
}

static void server_start(held *h)
{
    memset(h, 0, sizeof *h);
    ASSERT_OK(cf_loop_new(&h->loop));
    ASSERT_OK(cf_http_server_new(h->loop, NULL, hold_handler, h, &h->srv));
    ASSERT_OK(cf_http_server_listen(h->srv, "127.0.0.1", 0));
}

static void server_stop(held *h, int fd)
{
    close(fd);
    ASSERT_OK(cf_http_server_close(h->srv, NULL, NULL));
    ASSERT_OK(cf_run(h->loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(h->loop));
}

/*
 * A held request's strings stay valid while a large pipelined head arrives behind it: the
 * input buffer has to grow (and the head it holds must not move), then the second request
 * comes with its own 12,000-byte header intact, and the responses arrive in order.
 */
static void test_http_server_head_survives_pipelined_growth(void)
{
    held h;
    server_start(&h);
    int fd = client_connect(cf_http_server_port(h.srv));
    static char reqs[BIG_VALUE + 512];
    int n = snprintf(reqs, sizeof reqs,
                     "GET /first?x=1 HTTP/1.1\r\nHost: a\r\nX-Token: alpha\r\n\r\n"
                     "GET /second HTTP/1.1\r\nHost: a\r\nX-Token: beta\r\nX-Big: ");
    memset(reqs + n, 'b', BIG_VALUE);
    n += BIG_VALUE;
    n += snprintf(reqs + n, sizeof reqs - (size_t)n, "\r\n\r\n");
    client_send(h.loop, fd, reqs, (size_t)n);
    run_until(h.loop, &h.n, 1);
    /* Let the server read the whole second head behind the first (it waits its turn). */
    for (int i = 0; i < 50; i++) {
        ASSERT(cf_run(h.loop, CF_RUN_NOWAIT) >= 0);
        poll(NULL, 0, 1);
    }
    ASSERT_EQ(h.n, 1);
    ASSERT_STR_EQ(h.token[0], "alpha");
    ASSERT_STR_EQ(h.target[0], "/first?x=1");
    ASSERT_STR_EQ(cf_http_incoming_header(h.req[0], "X-Token"), "alpha");
    ASSERT_STR_EQ(cf_http_incoming_target(h.req[0]), "/first?x=1");
    ASSERT_STR_EQ(cf_http_incoming_method_name(h.req[0]), "GET");
    ASSERT_OK(cf_http_res_end(h.res[0], "one", 3));
    run_until(h.loop, &h.n, 2);
    ASSERT_STR_EQ(h.token[1], "beta");
    ASSERT_STR_EQ(h.target[1], "/second");
    const char *big = cf_http_incoming_header(h.req[1], "X-Big");
    ASSERT_PTR(big);
    ASSERT_EQ(strlen(big), BIG_VALUE);
    ASSERT(big[0] == 'b' && big[BIG_VALUE - 1] == 'b');
    ASSERT_OK(cf_http_res_end(h.res[1], "two", 3));
    const char *got = client_wait(h.loop, fd, "HTTP/1.1 200 OK", 2);
    const char *one = strstr(got, "\r\n\r\none");
    const char *two = strstr(got, "\r\n\r\ntwo");
    ASSERT(one && two && one < two);
    server_stop(&h, fd);
}

/*
 * Many small pipelined requests in one send, each answered only after the next ones were
 * read: every request keeps its own token (the buffer compacts around the held head).
 */
static void test_http_server_heads_in_place_pipelined(void)
{
    held h;
    server_start(&h);
    int fd = client_connect(cf_http_server_port(h.srv));
    char reqs[1024];
    size_t n = 0;
    const char *tokens[4] = {"t0", "t1", "t2", "t3"};
    for (int i = 0; i < 4; i++) {
        n += (size_t)snprintf(reqs + n, sizeof reqs - n,
                              "GET /r%d HTTP/1.1\r\nHost: a\r\nX-Token: %s\r\n\r\n", i, tokens[i]);
    }
    client_send(h.loop, fd, reqs, n);
    for (int i = 0; i < 4; i++) {
        run_until(h.loop, &h.n, i + 1);
        ASSERT_STR_EQ(h.token[i], tokens[i]);
        char path[8];
        snprintf(path, sizeof path, "/r%d", i);
        ASSERT_STR_EQ(h.target[i], path);
        ASSERT_OK(cf_http_res_end(h.res[i], tokens[i], 2));
    }
    const char *got = client_wait(h.loop, fd, "HTTP/1.1 200 OK", 4);
    const char *p = got;
    for (int i = 0; i < 4; i++) {
        char body[8];
        snprintf(body, sizeof body, "\r\n\r\n%s", tokens[i]);
        p = strstr(p, body);
        ASSERT_PTR(p); /* in request order */
    }
    server_stop(&h, fd);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_head_survives_pipelined_growth);
    CF_TEST(test_http_server_heads_in_place_pipelined);
    return CF_TEST_END();
}
