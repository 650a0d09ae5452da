/*
 * Balanced serving across loops (cf_http_balancer): servers share one listening socket and
 * each stops accepting while it has more open connections than the least loaded one plus
 * the slack. Cases: the spread on one loop (two servers, deterministic), a closing server no
 * longer counts, two loops on two threads stopped by one signal, and the errors.
 */
/* ctest-labels: http tsan */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "harness.h"

#define SLACK 4

static void answer(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)req;
    (void)data;
    cf_http_res_send(res, 200, "text/plain", "ok", 2);
}

/* A blocking client socket connected to 127.0.0.1:port (the kernel completes the handshake
 * into the listen queue, before any accept), with a 10 s receive timeout. */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static cf_http_server *balanced_server(cf_loop *loop, cf_http_balancer *b, unsigned index)
{
    cf_http_server_opts o = {0};
    o.balancer = b;
    o.balancer_index = index;
    o.keep_alive_timeout_ms = CF_HTTP_NO_TIMEOUT;
    cf_http_server *srv;
    ASSERT_OK(cf_http_server_new(loop, &o, answer, NULL, &srv));
    return srv;
}

/* Run `loop` until the servers accepted `want` connections in all (bounded). */
static void accept_until(cf_loop *loop, cf_http_server **srv, int n, size_t want)
{
    for (int i = 0; i < 200000; i++) {
        size_t sum = 0;
        for (int k = 0; k < n; k++) {
            sum += cf_http_server_accepted(srv[k]);
        }
        if (sum >= want)
            return;
        cf_run(loop, CF_RUN_NOWAIT);
    }
    ASSERT(!"the servers did not accept every connection");
}

static void test_http_server_balance_spread_and_leave(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_http_balancer *b;
    ASSERT_OK(cf_http_balancer_new(2, SLACK, &b));
    cf_http_server *srv[2] = {balanced_server(loop, b, 0), balanced_server(loop, b, 1)};
    ASSERT_OK(cf_http_server_listen(srv[0], "127.0.0.1", 0));
    int port = cf_http_server_port(srv[0]);
    ASSERT_EQ(cf_http_balancer_port(b), port);
    ASSERT_OK(cf_http_server_listen(srv[1], "127.0.0.1", port));
    ASSERT_EQ(cf_http_server_port(srv[1]), port);
    int fds[60];
    for (int i = 0; i < 40; i++) {
        fds[i] = dial(port);
    }
    /* Both watch the same ready socket; each pauses past the other's count plus the slack. */
    accept_until(loop, srv, 2, 40);
    size_t a = cf_http_server_accepted(srv[0]);
    size_t c = cf_http_server_accepted(srv[1]);
    ASSERT_EQ(a + c, 40);
    ASSERT(a <= c + SLACK + 1 && c <= a + SLACK + 1);
    /* A closing server no longer counts: the other takes every new connection. */
    ASSERT_OK(cf_http_server_close(srv[0], NULL, NULL));
    for (int i = 40; i < 60; i++) {
        fds[i] = dial(port);
    }
    accept_until(loop, &srv[1], 1, c + 20);
    ASSERT_EQ(cf_http_server_accepted(srv[1]), c + 20);
    for (int i = 0; i < 60; i++) {
        close(fds[i]);
    }
    ASSERT_OK(cf_http_server_close(srv[1], NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    cf_http_balancer_free(b);
}

static void test_http_server_balance_errors(void)
{
    cf_http_balancer *b = NULL;
    ASSERT_EQ(cf_http_balancer_new(0, 0, &b), CF_EINVAL);
    ASSERT_EQ(cf_http_balancer_new(1025, 0, &b), CF_EINVAL);
    ASSERT_EQ(cf_http_balancer_new(2, 0, NULL), CF_EINVAL);
    ASSERT_EQ(cf_http_balancer_port(NULL), 0);
    cf_http_balancer_free(NULL);
    ASSERT_OK(cf_http_balancer_new(2, 0, &b));
    ASSERT_EQ(cf_http_balancer_port(b), 0);
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_http_server *bad = balanced_server(loop, b, 2); /* places are 0 and 1 */
    ASSERT_EQ(cf_http_server_listen(bad, "127.0.0.1", 0), CF_EINVAL);
    cf_http_server *first = balanced_server(loop, b, 0);
    cf_http_server *second = balanced_server(loop, b, 1);
    ASSERT_OK(cf_http_server_listen(first, "127.0.0.1", 0));
    int port = cf_http_server_port(first);
    ASSERT_EQ(cf_http_server_listen(second, "127.0.0.1", port == 65535 ? 1 : port + 1),
              CF_EINVAL); /* not the balancer's port */
    ASSERT_OK(cf_http_server_listen(second, NULL, 0));
    ASSERT_EQ(cf_http_server_port(second), port);
    ASSERT_OK(cf_http_server_close(bad, NULL, NULL));
    ASSERT_OK(cf_http_server_close(first, NULL, NULL));
    ASSERT_OK(cf_http_server_close(second, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    cf_http_balancer_free(b);
}

/* ---- two loops on two threads ---- */

typedef struct worker {
    unsigned index;
    cf_http_balancer *b;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *ready; /* shared: servers listening */
    int rc;
    int timed_out;
    size_t accepted; /* at the signal (read by main after join) */
    size_t open;
    cf_http_server *srv;
    cf_signal *sig;
    cf_timer *timer;
} worker;

static void worker_stop(worker *w)
{
    w->accepted = cf_http_server_accepted(w->srv);
    w->open = cf_http_server_connections(w->srv);
    cf_http_server_close(w->srv, NULL, NULL);
    cf_signal_close(w->sig, NULL, NULL);
    cf_timer_close(w->timer, NULL, NULL);
}

static void on_stop(cf_signal *sig, int signum, void *data)
{
    (void)sig;
    (void)signum;
    worker_stop(data);
}

static void on_timeout(cf_timer *t, void *data)
{
    (void)t;
    worker *w = data;
    w->timed_out = 1;
    worker_stop(w);
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    cf_loop *loop;
    w->rc = cf_loop_new(&loop);
    if (w->rc < 0)
        return NULL;
    w->srv = balanced_server(loop, w->b, w->index);
    pthread_mutex_lock(w->mu);
    while (w->index == 1 && *w->ready == 0) { /* the first binds, the second joins */
        pthread_cond_wait(w->cv, w->mu);
    }
    pthread_mutex_unlock(w->mu);
    w->rc = cf_http_server_listen(w->srv, "127.0.0.1", 0);
    if (w->rc == 0)
        w->rc = cf_signal_new(loop, &w->sig);
    if (w->rc == 0)
        w->rc = cf_signal_start(w->sig, SIGUSR1, on_stop, w);
    if (w->rc == 0)
        w->rc = cf_timer_new(loop, &w->timer);
    if (w->rc == 0)
        w->rc = cf_timer_start(w->timer, 20000, 0, on_timeout, w);
    pthread_mutex_lock(w->mu);
    (*w->ready)++;
    pthread_cond_broadcast(w->cv);
    pthread_mutex_unlock(w->mu);
    if (w->rc == 0)
        w->rc = cf_run(loop, CF_RUN_DEFAULT);
    int rc = cf_loop_close(loop);
    w->rc = w->rc ? w->rc : rc;
    return NULL;
}

/* One keep-alive request on `fd`; non-zero when the answer is a 200 with the body "ok". */
static int ask(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        return 0;
    char buf[512];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
        const char *body = strstr(buf, "\r\n\r\n");
        if (body && strlen(body + 4) >= 2)
            return strncmp(buf, "HTTP/1.1 200", 12) == 0 && strcmp(body + 4, "ok") == 0;
    }
    return 0;
}

static void test_http_server_balance_two_loops(void)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int ready = 0;
    cf_http_balancer *b;
    ASSERT_OK(cf_http_balancer_new(2, SLACK, &b));
    worker w[2];
    pthread_t th[2];
    sigset_t set;
    sigset_t old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0); /* until both loops watch it */
    for (unsigned i = 0; i < 2; i++) {
        w[i] = (worker){.index = i, .b = b, .mu = &mu, .cv = &cv, .ready = &ready};
        ASSERT_EQ(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
    }
    pthread_mutex_lock(&mu);
    while (ready < 2) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    ASSERT_OK(w[0].rc);
    ASSERT_OK(w[1].rc);
    int port = cf_http_balancer_port(b);
    int fds[64];
    int answered = 0;
    for (int i = 0; i < 64; i++) {
        fds[i] = dial(port);
    }
    for (int i = 0; i < 64; i++) {
        answered += ask(fds[i]); /* every connection stays open: keep-alive, no timeout */
    }
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0); /* one signal stops both loops */
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    for (int i = 0; i < 64; i++) {
        close(fds[i]);
    }
    cf_http_balancer_free(b);
    ASSERT_EQ(answered, 64);
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(w[i].rc);
        ASSERT_EQ(w[i].timed_out, 0);
        ASSERT_EQ(w[i].open, w[i].accepted); /* all still open at the signal */
    }
    ASSERT_EQ(w[0].accepted + w[1].accepted, 64);
    size_t lo = w[0].accepted < w[1].accepted ? w[0].accepted : w[1].accepted;
    size_t hi = w[0].accepted + w[1].accepted - lo;
    ASSERT(lo > 0 && hi * 2 < lo * 3); /* max/min under 1.5 */
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_balance_spread_and_leave);
    CF_TEST(test_http_server_balance_errors);
    CF_TEST(test_http_server_balance_two_loops);
    return CF_TEST_END();
}
