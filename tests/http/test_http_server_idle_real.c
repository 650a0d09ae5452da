/*
 * The HTTP server's timeouts after the loop really sat idle (the real clock, real sleeps): a
 * client thread waits longer than the server's headers and keep-alive timeouts while the loop
 * is blocked in its poll wait with nothing else to do, then connects, sends its request a few
 * milliseconds later, and sends a second request on the same connection well within the
 * keep-alive timeout. Both must be answered: a deadline set in the accept or read callback
 * counts from the moment the wait returned, not from before the loop blocked (which would make
 * it already past, and the server would drop the connection at once).
 * The fake-clock variants, with minutes of idle, are in test_http_server_timeouts.c.
 */
/* ctest-labels: http */
/* ctest-timeout: 60 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"

#define IDLE_MS    1500 /* longer than both timeouts below */
#define TIMEOUT_MS 1000 /* headers and keep-alive */
#define GAP_MS     400  /* between the two requests: well within the keep-alive timeout */

typedef struct client {
    int port;
    int answered; /* responses read: 0, 1 or 2 */
    char last[512];
} client;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Read one small response ("...\r\n\r\nhi\n"); 1 when it came whole, 0 at EOF first. */
static int read_response(int fd, client *c)
{
    size_t len = 0;
    c->last[0] = '\0';
    while (len < sizeof c->last - 1) {
        ssize_t r = recv(fd, c->last + len, sizeof c->last - 1 - len, 0);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        c->last[len] = '\0';
        if (strstr(c->last, "\r\n\r\nhi\n"))
            return 1;
    }
    return 0;
}

static void *client_main(void *arg)
{
    client *c = arg;
    sleep_ms(IDLE_MS);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {10, 0}; /* bounded: a broken server fails the test, never hangs it */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        sleep_ms(5); /* the request comes a moment after the connection, as in the field */
        if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1) &&
            read_response(fd, c)) {
            c->answered = 1;
            sleep_ms(GAP_MS);
            if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1) &&
                read_response(fd, c))
                c->answered = 2;
        }
    }
    close(fd);
    return NULL;
}

static cf_http_server *srv;

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)req;
    (void)data;
    ASSERT_OK(cf_http_res_send(res, 200, "text/plain", "hi\n", 3));
}

static void stop_server(void *data)
{
    (void)data;
    cf_http_server_close(srv, NULL, NULL);
}

/* Poll for the client thread's end from the loop (a timer), then close the server. */
static void check_done(void *data)
{
    client *c = data;
    static int rounds;
    if (c->answered == 2 || ++rounds > 100) {
        cf_set_immediate(cf_http_server_loop(srv), stop_server, NULL, NULL);
        return;
    }
    cf_set_timeout(cf_http_server_loop(srv), 100, check_done, c, NULL);
}

static void test_http_server_real_idle_then_two_requests(void)
{
    cf_loop *loop;
    client c = {0};
    cf_http_server_opts o = {0};
    o.headers_timeout_ms = TIMEOUT_MS;
    o.request_timeout_ms = TIMEOUT_MS;
    o.keep_alive_timeout_ms = TIMEOUT_MS;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_http_server_new(loop, &o, handler, &c, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    c.port = cf_http_server_port(srv);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, client_main, &c), 0);
    /* The first check comes after the client is done: until then the loop only waits. */
    ASSERT_OK(cf_set_timeout(loop, IDLE_MS + GAP_MS + 600, check_done, &c, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_OK(cf_loop_close(loop));
    if (c.answered != 2)
        CF_TEST_FAILF("after %d ms idle the server answered %d of 2 requests (last read: %.80s)",
                      IDLE_MS, c.answered, c.last);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_real_idle_then_two_requests);
    return CF_TEST_END();
}
