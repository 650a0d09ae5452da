/*
 * The HTTP server's timeouts against the loop's clock, with real client sockets on 127.0.0.1
 * and the fake clock (cf__clock_block makes the loop sit idle in its wait for simulated
 * seconds before it sees a socket that is ready):
 *  - a connection accepted after the loop was idle 70 s is answered, and its headers
 *    timeout runs 60 s from the accept (also after a 20 s idle);
 *  - the keep-alive timeout runs from the end of the previous response;
 *  - the send timeout drops a client that stops reading (after one to two timeouts) and
 *    never one that keeps reading slowly.
 * The client sockets are non-blocking and driven from the test between loop iterations:
 * CF_RUN_NOWAIT lets no simulated time pass, CF_RUN_ONCE lets the clock jump to the next
 * timer when nothing is ready.
 */
/* ctest-labels: http */
/* ctest-timeout: 60 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "harness.h"
#include "core/internal.h"
#include "util/sys.h"

#define START_MS 1000u
#define BIG_LEN  (16u * 1024u * 1024u)

static cf_loop *L;
static cf_http_server *srv;
static int port;
static int handled;
static uint64_t handled_at; /* cf_now in the last handler call */
static int finish_status;
static int finish_calls;
static uint64_t finish_at;
static char big_body[BIG_LEN];

static void on_finish(cf_http_res *res, int status, void *data)
{
    (void)res;
    (void)data;
    finish_calls++;
    finish_status = status;
    finish_at = cf_now(L);
}

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)data;
    handled++;
    handled_at = cf_now(L);
    cf_http_res_on_finish(res, on_finish, NULL);
    if (strcmp(cf_http_incoming_target(req), "/big") == 0) {
        ASSERT_OK(cf_http_res_set_header(res, "Content-Type", "application/octet-stream"));
        ASSERT_OK(cf_http_res_end_ref(res, big_body, BIG_LEN));
        return;
    }
    ASSERT_OK(cf_http_res_send(res, 200, "text/plain", "hi\n", 3));
}

static void setup(const cf_http_server_opts *o)
{
    handled = finish_calls = 0;
    handled_at = finish_at = 0;
    finish_status = 1;
    ASSERT_OK(cf_loop_new(&L));
    cf__clock_fake(L, 1, START_MS);
    ASSERT_OK(cf_http_server_new(L, o, handler, NULL, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    port = cf_http_server_port(srv);
    ASSERT(port > 0);
}

static void teardown(void)
{
    ASSERT_OK(cf_http_server_close(srv, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
}

/* A client connected to the server (the kernel completes the handshake on its own). */
static int client(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(fd >= 0);
    if (rcvbuf)
        ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    ASSERT_EQ(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read what is there: bytes (appended at buf[*len]), 0 at EOF or reset, -1 when none yet. */
static ssize_t take(int fd, char *buf, size_t cap, size_t *len)
{
    ssize_t total = -1;
    while (*len < cap - 1) {
        ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (r > 0) {
            *len += (size_t)r;
            total = total < 0 ? r : total + r;
            continue;
        }
        if (r == 0 || errno == ECONNRESET)
            return total > 0 ? total : 0;
        break;
    }
    buf[*len] = '\0';
    return total;
}

/* Let the loop handle what is ready, with no simulated time passing. */
static void pump(void)
{
    for (int i = 0; i < 8; i++) {
        ASSERT(cf_run(L, CF_RUN_NOWAIT) >= 0);
    }
}

/*
 * Pump, with no simulated time passing, until the server has sent more to `fd` (or finished):
 * the room a client's read makes reaches the server's socket a moment later, and on a loaded
 * machine that moment can miss a plain pump (up to 2 s of real time).
 */
static void pump_until_sent(int fd)
{
    for (int i = 0; i < 2000 && !finish_calls; i++) {
        pump();
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1) > 0)
            return;
    }
}

/* Pump until the client has a whole small response; returns 0, or -1 if it got EOF first. */
static int response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < 50; i++) {
        pump();
        ssize_t r = take(fd, buf, cap, &len);
        if (strstr(buf, "\r\n\r\nhi\n"))
            return 0;
        if (r == 0)
            return -1;
    }
    CF_TEST_FAILF("no response after 50 rounds: \"%s\"", buf);
    return -1;
}

/* Run iterations (the clock jumps to each timer) until the server closes `fd`; returns when. */
static uint64_t closed_at(int fd)
{
    char buf[256];
    for (int i = 0; i < 50; i++) {
        ASSERT(cf_run(L, CF_RUN_ONCE) >= 0);
        size_t len = 0;
        if (take(fd, buf, sizeof buf, &len) == 0)
            return cf_now(L);
        ASSERT_EQ(len, 0);
    }
    CF_TEST_FAILF("the server never closed the connection");
    return 0;
}

/* Accept a connection after the loop sat idle `idle_ms`; returns the client's socket. */
static int accept_after_idle_rcvbuf(uint64_t idle_ms, int rcvbuf)
{
    size_t before = cf_http_server_connections(srv);
    int fd = client(rcvbuf);
    cf__clock_block(L, idle_ms);
    uint64_t t0 = cf_now(L);
    ASSERT(cf_run(L, CF_RUN_ONCE) > 0);
    ASSERT_EQ(cf_http_server_connections(srv), before + 1);
    ASSERT_EQ(cf_now(L), t0 + idle_ms);
    return fd;
}

static int accept_after_idle(uint64_t idle_ms)
{
    return accept_after_idle_rcvbuf(idle_ms, 0);
}

/* One iteration whose poll sits idle `ms` before it sees the sockets that are ready. */
static void idle(uint64_t ms)
{
    cf__clock_block(L, ms);
    ASSERT(cf_run(L, CF_RUN_ONCE) > 0);
}

/* ---- headers timeout: from the accept, however long the loop sat idle before ---- */

static void test_http_server_answers_after_long_idle(void)
{
    setup(NULL);
    pump();
    int fd = accept_after_idle(70000);
    cf__clock_advance(L, 5);
    send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[1024];
    ASSERT_OK(response(fd, buf, sizeof buf));
    ASSERT(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_EQ(handled, 1);
    ASSERT_EQ(handled_at, START_MS + 70005);
    close(fd);
    teardown();
}

static void headers_timeout_after_idle(uint64_t idle_ms)
{
    setup(NULL);
    pump();
    int fd = accept_after_idle(idle_ms);
    uint64_t accepted = cf_now(L);
    uint64_t closed = closed_at(fd);
    ASSERT_EQ(closed - accepted, 60000); /* the default headers timeout, from the accept */
    ASSERT_EQ(handled, 0);
    close(fd);
    teardown();
}

static void test_http_server_headers_timeout_from_accept_after_70s_idle(void)
{
    headers_timeout_after_idle(70000);
}

static void test_http_server_headers_timeout_from_accept_after_20s_idle(void)
{
    headers_timeout_after_idle(20000);
}

/* ---- keep-alive: from the end of the previous response ---- */

static void test_http_server_keep_alive_from_previous_response(void)
{
    setup(NULL);
    pump();
    int fd = accept_after_idle(0);
    uint64_t t0 = cf_now(L);
    char buf[1024];
    /* The first request comes 4 s after the accept. */
    send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    idle(4000);
    ASSERT_OK(response(fd, buf, sizeof buf));
    ASSERT(strstr(buf, "Keep-Alive: timeout=5\r\n") != NULL);
    ASSERT_EQ(handled_at, t0 + 4000);
    /* The next one 4.5 s after that response: within the advertised 5 s. */
    send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    idle(4500);
    ASSERT_OK(response(fd, buf, sizeof buf));
    ASSERT_EQ(handled, 2);
    ASSERT_EQ(handled_at, t0 + 8500);
    /* Then silence: closed 5 s after the second response. */
    ASSERT_EQ(closed_at(fd), t0 + 13500);
    close(fd);
    teardown();
}

/* ---- send timeout ---- */

/* Send a request for BIG_LEN bytes and pump until the server has filled the socket. */
static int request_big(int rcvbuf)
{
    int fd = accept_after_idle_rcvbuf(0, rcvbuf);
    send_str(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    pump();
    ASSERT_EQ(handled, 1);
    return fd;
}

/*
 * Blocking reads (5 s at most each) until `want` bytes have come or the server closed; returns
 * the byte count. The server has handed everything to the kernel by then: no loop is needed.
 */
static size_t read_until(int fd, size_t want)
{
    ASSERT_EQ(fcntl(fd, F_SETFL, 0), 0);
    struct timeval tv = {5, 0};
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    static char buf[65536];
    size_t total = 0;
    while (total < want) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) {
            ASSERT(r == 0 || errno == ECONNRESET);
            break;
        }
        total += (size_t)r;
    }
    return total;
}

/* A client that never reads: the response is abandoned after one to two send timeouts. */
static void test_http_server_send_timeout_drops_stalled_client(void)
{
    setup(NULL); /* the default send timeout: 60 s */
    pump();
    int fd = request_big(4096);
    uint64_t started = handled_at;
    for (int i = 0; i < 300 && !finish_calls; i++) {
        cf__clock_advance(L, 1000); /* 5 simulated minutes at most */
        pump();
    }
    ASSERT_EQ(finish_calls, 1);
    ASSERT_EQ(finish_status, CF_ETIMEDOUT);
    ASSERT_GE(finish_at - started, 60000);
    ASSERT_LE(finish_at - started, 121000);
    pump();
    ASSERT_EQ(cf_http_server_connections(srv), 0);
    size_t got = read_until(fd, SIZE_MAX);
    printf("# stalled client dropped %.1f s after the response started; it got %zu of %u bytes\n",
           (double)(finish_at - started) / 1000, got, BIG_LEN);
    ASSERT(got < BIG_LEN); /* what was still queued in the server never went out */
    close(fd);
    teardown();
}

/* A client that keeps reading, slowly, is never dropped: the response completes. */
static void test_http_server_send_timeout_spares_slow_reader(void)
{
    cf_http_server_opts o = {0};
    o.send_timeout_ms = 1000;
    setup(&o);
    pump();
    int fd = request_big(0);
    static char buf[1 << 20];
    size_t total = 0;
    for (int i = 0; i < 2000 && !finish_calls; i++) {
        cf__clock_advance(L, 600); /* a read every 0.6 s: progress in every 1 s window */
        size_t len = 0;
        ssize_t r = take(fd, buf, sizeof buf, &len);
        ASSERT(r != 0);
        total += len;
        pump_until_sent(fd);
    }
    ASSERT_EQ(finish_calls, 1);
    ASSERT_EQ(finish_status, 0);
    ASSERT_GE(cf_now(L) - handled_at, 2000); /* it took several send timeouts */
    printf("# slow reader: %u bytes in %.1f simulated s with a 1 s send timeout\n", BIG_LEN,
           (double)(cf_now(L) - handled_at) / 1000);
    if (total < BIG_LEN + 64)
        total += read_until(fd, BIG_LEN + 64 - total); /* the head is longer than 64 bytes */
    ASSERT(total >= BIG_LEN + 64);
    ASSERT_EQ(cf_http_server_connections(srv), 1); /* still open: keep-alive */
    close(fd);
    teardown();
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_answers_after_long_idle);
    CF_TEST(test_http_server_headers_timeout_from_accept_after_70s_idle);
    CF_TEST(test_http_server_headers_timeout_from_accept_after_20s_idle);
    CF_TEST(test_http_server_keep_alive_from_previous_response);
    CF_TEST(test_http_server_send_timeout_drops_stalled_client);
    CF_TEST(test_http_server_send_timeout_spares_slow_reader);
    return CF_TEST_END();
}
