/*
 * One loop per thread, one port: two servers with CF_HTTP_SERVER_REUSEPORT on two threads
 * share a port and the kernel spreads the connections between them. The main thread is a
 * plain blocking client.
 */
/* ctest-labels: tsan */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "harness.h"

typedef struct worker {
    char name;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *port;  /* shared: 0 until the first server listens */
    int *ready; /* shared: servers listening */
    int served; /* requests answered (read by main after join) */
    int rc;     /* first error of the thread, 0 if none */
    cf_http_server *srv;
} worker;

static void handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    worker *w = data;
    if (strcmp(cf_http_incoming_target(req), "/quit") == 0) {
        cf_http_res_send(res, 200, "text/plain", "bye", 3);
        cf_http_server_close(w->srv, NULL, NULL);
        return;
    }
    w->served++;
    char body[2] = {w->name, '\n'};
    cf_http_res_send(res, 200, "text/plain", body, 2);
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    cf_loop *loop;
    w->rc = cf_loop_new(&loop);
    if (w->rc < 0)
        return NULL;
    cf_http_server_opts o = {0};
    o.flags = CF_HTTP_SERVER_REUSEPORT;
    w->rc = cf_http_server_new(loop, &o, handler, w, &w->srv);
    pthread_mutex_lock(w->mu);
    while (w->name == 'B' && *w->port == 0) {
        pthread_cond_wait(w->cv, w->mu);
    }
    int port = *w->port;
    pthread_mutex_unlock(w->mu);
    if (w->rc == 0)
        w->rc = cf_http_server_listen(w->srv, "127.0.0.1", port);
    pthread_mutex_lock(w->mu);
    if (w->rc == 0 && port == 0)
        *w->port = cf_http_server_port(w->srv);
    (*w->ready)++;
    pthread_cond_broadcast(w->cv);
    pthread_mutex_unlock(w->mu);
    if (w->rc == 0) {
        w->rc = cf_run(loop, CF_RUN_DEFAULT);
    } else if (w->srv) {
        cf_http_server_close(w->srv, NULL, NULL);
        cf_run(loop, CF_RUN_DEFAULT);
    }
    int rc = cf_loop_close(loop);
    if (w->rc == 0)
        w->rc = rc;
    return NULL;
}

/* One request on a new connection; returns the first byte of the body, or 0 on failure. */
static char ask(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char out = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        char req[128];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                         path);
        send(fd, req, (size_t)n, MSG_NOSIGNAL);
        char buf[1024];
        size_t len = 0;
        ssize_t r;
        while (len < sizeof buf - 1 && (r = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0) {
            len += (size_t)r;
        }
        buf[len] = '\0';
        const char *body = strstr(buf, "\r\n\r\n");
        if (strncmp(buf, "HTTP/1.1 200", 12) == 0 && body)
            out = body[4];
    } else {
        out = -1; /* refused: nobody listens any more */
    }
    close(fd);
    return out;
}

static void test_http_server_reuseport_two_loops(void)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int port = 0;
    int ready = 0;
    worker w[2] = {{'A', &mu, &cv, &port, &ready, 0, 0, NULL},
                   {'B', &mu, &cv, &port, &ready, 0, 0, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
    }
    pthread_mutex_lock(&mu);
    while (ready < 2) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    int seen[2] = {0, 0};
    int failed = 0;
    for (int i = 0; i < 64 && w[0].rc == 0 && w[1].rc == 0; i++) {
        char who = ask(port, "/who");
        if (who == 'A' || who == 'B')
            seen[who - 'A']++;
        else
            failed++;
    }
    /* Stop both: each /quit closes the server that gets it; then the port refuses. */
    int quits = 0;
    for (int i = 0; i < 100 && quits < 2; i++) {
        char r = ask(port, "/quit");
        if (r == 'b')
            quits++;
        if (r == -1)
            break;
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    ASSERT_OK(w[0].rc);
    ASSERT_OK(w[1].rc);
    ASSERT_EQ(failed, 0);
    ASSERT_EQ(seen[0] + seen[1], 64);
    ASSERT_EQ(w[0].served + w[1].served, 64);
    /* 64 connections hashed over two listeners: both get some (the odds otherwise: 2^-63). */
    ASSERT(seen[0] > 0 && seen[1] > 0);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_http_server_reuseport_two_loops);
    return CF_TEST_END();
}
