/*
 * TCP and Unix domain streams over loopback: echo with backpressure (100 MB), 1,000
 * connections on one loop, half-close, peer reset, writes to a closed peer, refused and
 * timed-out connects, Unix sockets, IPv6, host names, promise forms and close semantics.
 */
/* ctest-timeout: 300 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "harness.h"
#include "site_check.h"
#include "util/util.h"

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

static void close_free_data(void *data)
{
    (void)data;
}

/* ---- echo with backpressure ---- */

#define ECHO_TOTAL  ((size_t)100 << 20)
#define PATTERN_LEN (251 * 4096)

typedef struct echo_state {
    cf_tcp *server;
    cf_tcp *conn;   /* server side */
    cf_tcp *client; /* client side */
    char *pattern;
    size_t sent;
    size_t received;
    int client_full;
    int client_drains;
    int server_full;
    int server_drains;
    size_t server_max_queue;
    size_t client_max_queue;
    int mismatch;
} echo_state;

static void echo_conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                           size_t len, void *data);

static void echo_conn_resume(cf_tcp *t, void *data)
{
    echo_state *s = data;
    s->server_drains++;
    ASSERT_OK(cf_tcp_read_start(t, echo_conn_read, s));
}

static void echo_conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                           size_t len, void *data)
{
    echo_state *s = data;
    if (status < 0) {
        ASSERT_EQ(status, CF_EOF);
        ASSERT_PTR(err);
        cf_tcp_close(t, NULL, NULL);
        s->conn = NULL;
        return;
    }
    int rc = cf_tcp_write_copy(t, bytes, len);
    ASSERT(rc == 0 || rc == CF_TCP_FULL);
    size_t q = cf_tcp_write_queue_size(t);
    if (q > s->server_max_queue)
        s->server_max_queue = q;
    if (rc == CF_TCP_FULL) {
        s->server_full++;
        cf_tcp_read_stop(t);
        cf_tcp_on_drain(t, echo_conn_resume, s);
    }
}

static void echo_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                               void *data)
{
    (void)server;
    (void)err;
    echo_state *s = data;
    ASSERT_OK(status);
    s->conn = conn;
    cf_tcp_set_high_water(conn, 128 * 1024);
    ASSERT_OK(cf_tcp_read_start(conn, echo_conn_read, s));
    cf_tcp_close(s->server, NULL, NULL);
}

static void client_send_more(cf_tcp *t, void *data)
{
    echo_state *s = data;
    while (s->sent < ECHO_TOTAL) {
        size_t off = s->sent % PATTERN_LEN;
        size_t n = CF_MIN(PATTERN_LEN - off, ECHO_TOTAL - s->sent);
        n = CF_MIN(n, (size_t)64 * 1024);
        cf_buf b = {s->pattern + off, n};
        int rc = cf_tcp_write(t, &b, 1, NULL, NULL);
        ASSERT(rc == 0 || rc == CF_TCP_FULL);
        s->sent += n;
        size_t q = cf_tcp_write_queue_size(t);
        if (q > s->client_max_queue)
            s->client_max_queue = q;
        if (rc == CF_TCP_FULL) {
            s->client_full++;
            return; /* the drain callback resumes */
        }
    }
}

static void client_drain(cf_tcp *t, void *data)
{
    echo_state *s = data;
    s->client_drains++;
    client_send_more(t, data);
}

static void client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                        void *data)
{
    (void)err;
    echo_state *s = data;
    ASSERT_OK(status);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)bytes[i] != (unsigned char)((s->received + i) % 251))
            s->mismatch++;
    }
    s->received += len;
    if (s->received == ECHO_TOTAL)
        cf_tcp_close(t, NULL, NULL);
}

static void client_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    ASSERT_PTR(!err);
    ASSERT_OK(status);
    cf_tcp_set_high_water(t, 256 * 1024);
    cf_tcp_on_drain(t, client_drain, data);
    ASSERT_OK(cf_tcp_read_start(t, client_read, data));
    client_send_more(t, data);
}

static void test_tcp_echo_100mb_backpressure(void)
{
    cf_loop *loop = loop_new();
    echo_state s;
    memset(&s, 0, sizeof s);
    s.pattern = malloc(PATTERN_LEN);
    ASSERT_PTR(s.pattern);
    for (size_t i = 0; i < PATTERN_LEN; i++) {
        s.pattern[i] = (char)(i % 251);
    }
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 16, 0, echo_on_connection, &s));
    int port = cf_tcp_port(s.server);
    ASSERT(port > 0);
    ASSERT_OK(cf_tcp_new(loop, &s.client));
    ASSERT_OK(cf_tcp_connect(s.client, "127.0.0.1", port, NULL, client_connected, &s));
    loop_finish(loop);
    ASSERT_EQ(s.sent, ECHO_TOTAL);
    ASSERT_EQ(s.received, ECHO_TOTAL);
    ASSERT_EQ(s.mismatch, 0);
    /* Backpressure really happened on both sides, and memory stayed bounded. */
    ASSERT(s.client_full > 0);
    ASSERT(s.client_drains > 0);
    ASSERT(s.server_full > 0);
    ASSERT(s.server_drains > 0);
    ASSERT_LE(s.client_max_queue, 256 * 1024 + 64 * 1024);
    /* The server echoes what one read gave: up to the loop's read buffer (256 KiB), though
     * loopback reads are mostly 64 KiB or less. */
    ASSERT_LE(s.server_max_queue, 128 * 1024 + 256 * 1024);
    free(s.pattern);
}

/* ---- 1,000 connections ---- */

#define NCONN 1000

typedef struct many_state {
    cf_tcp *server;
    int accepted;
    int server_closed_conns;
    int clients_done;
    int connected;
} many_state;

static void many_conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                           size_t len, void *data)
{
    (void)err;
    many_state *s = data;
    if (status < 0) {
        s->server_closed_conns++;
        cf_tcp_close(t, NULL, NULL);
        if (s->server_closed_conns == NCONN)
            cf_tcp_close(s->server, NULL, NULL);
        return;
    }
    ASSERT_OK(cf_tcp_write_copy(t, bytes, len) < 0);
}

static void many_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                               void *data)
{
    (void)server;
    (void)err;
    many_state *s = data;
    ASSERT_OK(status);
    s->accepted++;
    ASSERT_OK(cf_tcp_read_start(conn, many_conn_read, s));
}

static void many_client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data)
{
    (void)err;
    many_state *s = data;
    ASSERT_OK(status);
    ASSERT_EQ(len, 1);
    ASSERT_EQ(bytes[0], 'x');
    s->clients_done++;
    cf_tcp_close(t, NULL, NULL);
}

static void many_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    ASSERT_PTR(!err);
    ASSERT_OK(status);
    many_state *s = data;
    s->connected++;
    ASSERT_OK(cf_tcp_read_start(t, many_client_read, s));
    ASSERT_OK(cf_tcp_write_copy(t, "x", 1));
}

static void test_tcp_thousand_connections(void)
{
    struct rlimit rl;
    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_cur < 2 * NCONN + 64) {
        rl.rlim_cur = CF_MIN(rl.rlim_max, (rlim_t)(2 * NCONN + 64));
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    }
    ASSERT(rl.rlim_cur >= 2 * NCONN + 64);
    cf_loop *loop = loop_new();
    many_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 1024, 0, many_on_connection, &s));
    int port = cf_tcp_port(s.server);
    for (int i = 0; i < NCONN; i++) {
        cf_tcp *c;
        ASSERT_OK(cf_tcp_new(loop, &c));
        ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", port, NULL, many_connected, &s));
    }
    loop_finish(loop);
    ASSERT_EQ(s.accepted, NCONN);
    ASSERT_EQ(s.connected, NCONN);
    ASSERT_EQ(s.clients_done, NCONN);
    ASSERT_EQ(s.server_closed_conns, NCONN);
}

/* ---- half-close ---- */

typedef struct half_state {
    cf_tcp *server;
    char got_server[64];
    size_t n_server;
    char got_client[64];
    size_t n_client;
    int server_eof;
    int client_eof;
    int end_cbs;
} half_state;

static void half_end_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)err;
    half_state *s = data;
    ASSERT_OK(status);
    s->end_cbs++;
}

/* The server side is done both ways once its end completes: close it. */
static void half_server_end_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    half_end_cb(t, status, err, data);
    cf_tcp_close(t, NULL, NULL);
}

static void half_conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                           size_t len, void *data)
{
    (void)err;
    half_state *s = data;
    if (status == CF_EOF) {
        /* The client ended its side; this side can still write. */
        s->server_eof = 1;
        ASSERT_OK(cf_tcp_write_copy(t, "bye", 3) < 0);
        ASSERT_OK(cf_tcp_end(t, half_server_end_cb, s));
        /* After end, writing is refused with CF_EPIPE. */
        ASSERT_EQ(cf_tcp_write_copy(t, "x", 1), CF_EPIPE);
        return;
    }
    ASSERT_OK(status);
    memcpy(s->got_server + s->n_server, bytes, len);
    s->n_server += len;
}

static void half_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                               void *data)
{
    (void)err;
    half_state *s = data;
    ASSERT_OK(status);
    cf_tcp_set_data(conn, s);
    ASSERT_OK(cf_tcp_read_start(conn, half_conn_read, s));
    cf_tcp_close(server, NULL, NULL);
}

static void half_client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data)
{
    (void)err;
    half_state *s = data;
    if (status == CF_EOF) {
        s->client_eof = 1;
        cf_tcp_close(t, NULL, NULL);
        return;
    }
    ASSERT_OK(status);
    memcpy(s->got_client + s->n_client, bytes, len);
    s->n_client += len;
}

static void half_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_read_start(t, half_client_read, data));
    ASSERT_OK(cf_tcp_write_copy(t, "hello", 5));
    ASSERT_OK(cf_tcp_end(t, half_end_cb, data));
}

static void test_tcp_half_close(void)
{
    cf_loop *loop = loop_new();
    half_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, half_on_connection, &s));
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", cf_tcp_port(s.server), NULL, half_connected, &s));
    loop_finish(loop);
    ASSERT_EQ(s.n_server, 5);
    ASSERT_MEM_EQ(s.got_server, "hello", 5);
    ASSERT_EQ(s.n_client, 3);
    ASSERT_MEM_EQ(s.got_client, "bye", 3);
    ASSERT(s.server_eof && s.client_eof);
    ASSERT_EQ(s.end_cbs, 2);
}

/* ---- reset, closed peer, refused, timeout ---- */

typedef struct err_state {
    cf_tcp *server;
    int status;
    char message[256];
    size_t got;
    int writes_failed;
} err_state;

/* The first bytes from the client trigger the reset (so the client is surely connected). */
static void reset_conn_read(cf_tcp *conn, int status, const cf_error *err, const char *bytes,
                            size_t len, void *data)
{
    (void)err;
    (void)bytes;
    (void)len;
    (void)data;
    ASSERT_OK(status);
    /* Send a little, then reset: SO_LINGER with a zero timeout makes close send RST. */
    ASSERT_OK(cf_tcp_write_copy(conn, "partial", 7));
    struct linger lg = {1, 0};
    ASSERT_OK(setsockopt(cf_tcp_fd(conn), SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    cf_tcp_close(conn, NULL, NULL);
}

static void reset_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                                void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_read_start(conn, reset_conn_read, NULL));
    cf_tcp_close(server, NULL, NULL);
}

static void reset_client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                              size_t len, void *data)
{
    (void)bytes;
    err_state *s = data;
    if (status == 0) {
        s->got += len;
        return;
    }
    s->status = status;
    snprintf(s->message, sizeof s->message, "%s", err->message);
    cf_tcp_close(t, NULL, NULL);
}

static void reset_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_write_copy(t, "go", 2));
    ASSERT_OK(cf_tcp_read_start(t, reset_client_read, data));
}

static void test_tcp_peer_reset_mid_stream(void)
{
    cf_loop *loop = loop_new();
    err_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, reset_on_connection, &s));
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", cf_tcp_port(s.server), NULL, reset_connected, &s));
    loop_finish(loop);
    ASSERT_EQ(s.status, CF_ECONNRESET);
    ASSERT(strstr(s.message, "read 127.0.0.1:") != NULL);
    ASSERT(strstr(s.message, "connection reset by peer") != NULL);
}

static void closed_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                                 void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    cf_tcp_close(conn, NULL, NULL);
    cf_tcp_close(server, NULL, NULL);
}

static void closed_write_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    err_state *s = data;
    if (status == 0) {
        /* Keep writing until the kernel notices the peer is gone. */
        static char chunk[65536];
        cf_buf b = {chunk, sizeof chunk};
        int rc = cf_tcp_write(t, &b, 1, closed_write_cb, s);
        if (rc < 0) {
            s->status = rc;
            s->writes_failed++;
            cf_tcp_close(t, NULL, NULL);
        }
        return;
    }
    s->status = status;
    s->writes_failed++;
    snprintf(s->message, sizeof s->message, "%s", err->message);
    if (status != CF_ECANCELED)
        cf_tcp_close(t, NULL, NULL);
}

static void closed_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    ASSERT_OK(status);
    closed_write_cb(t, 0, NULL, data);
}

static void test_tcp_write_to_closed_peer(void)
{
    cf_loop *loop = loop_new();
    err_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, closed_on_connection, &s));
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", cf_tcp_port(s.server), NULL, closed_connected, &s));
    loop_finish(loop);
    /* No SIGPIPE death: the error comes back as a code. */
    ASSERT(s.status == CF_EPIPE || s.status == CF_ECONNRESET);
    ASSERT_EQ(s.writes_failed, 1);
}

static void refused_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    err_state *s = data;
    s->status = status;
    snprintf(s->message, sizeof s->message, "%s", err ? err->message : "");
    cf_tcp_close(t, NULL, NULL);
}

/* A port nothing listens on: bind one, read its number, close it. */
static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    socklen_t len = sizeof a;
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &len));
    close(fd);
    return ntohs(a.sin_port);
}

static void test_tcp_connect_refused(void)
{
    cf_loop *loop = loop_new();
    err_state s;
    memset(&s, 0, sizeof s);
    int port = unused_port();
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", port, NULL, refused_cb, &s));
    loop_finish(loop);
    ASSERT_EQ(s.status, CF_ECONNREFUSED);
    char want[128];
    snprintf(want, sizeof want, "connect 127.0.0.1:%d: connection refused", port);
    ASSERT_STR_EQ(s.message, want);
}

typedef struct timeout_state {
    cf_loop *loop;
    int port;
    int attempts;
    int connected;
    int status;
    char message[256];
    int cause_code;
    char cause[256];
    uint64_t started; /* the loop's clock when the hanging attempt began */
    uint64_t elapsed;
    cf_tcp *conns[64];
    cf_abort_signal *signals[64]; /* one deadline per attempt, released at the end */
} timeout_state;

static void timeout_try(timeout_state *s);

static void timeout_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    timeout_state *s = data;
    if (status == 0) {
        s->conns[s->connected++] = t;
        timeout_try(s);
        return;
    }
    s->status = status;
    s->elapsed = cf_now(s->loop) - s->started;
    snprintf(s->message, sizeof s->message, "%s", err->message);
    const cf_error *cause = cf_error_cause(err);
    s->cause_code = cf_error_code(cause);
    snprintf(s->cause, sizeof s->cause, "%s", cf_error_message(cause));
    cf_tcp_close(t, NULL, NULL);
    for (int i = 0; i < s->connected; i++) {
        cf_tcp_close(s->conns[i], NULL, NULL);
    }
}

static void timeout_try(timeout_state *s)
{
    ASSERT(s->attempts < 64);
    s->attempts++;
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(s->loop, &c));
    cf_abort_signal *deadline;
    ASSERT_OK(cf_abort_signal_timeout(s->loop, 300, &deadline));
    s->signals[s->attempts - 1] = deadline;
    s->started = cf_now(s->loop);
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", s->port, deadline, timeout_cb, s));
}

/*
 * A connect that never completes, without sending anything off the machine: a listener that
 * never accepts, with the smallest backlog, drops the SYNs of connections once its queue is
 * full, so one of a few connects hangs until its deadline, a timeout signal, aborts it: the
 * one abort error, with the deadline's reason as its cause, after 300 ms (not the kernel's
 * two minutes).
 */
static void test_tcp_connect_timeout(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(lfd, (struct sockaddr *)&a, sizeof a));
    ASSERT_OK(listen(lfd, 0));
    socklen_t len = sizeof a;
    ASSERT_OK(getsockname(lfd, (struct sockaddr *)&a, &len));
    cf_loop *loop = loop_new();
    timeout_state s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    s.port = ntohs(a.sin_port);
    timeout_try(&s);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    close(lfd);
    ASSERT_EQ(s.status, CF_ECANCELED);
    ASSERT_STR_EQ(s.message, "The operation was aborted");
    ASSERT_EQ(s.cause_code, CF_ETIMEDOUT);
    ASSERT_STR_EQ(s.cause, "The operation was aborted due to timeout");
    ASSERT_GE(s.elapsed, 290);
    ASSERT_LE(s.elapsed, 3000);
    for (int i = 0; i < s.attempts; i++) {
        cf_abort_signal_release(s.signals[i]); /* the last reference: the connects kept none */
    }
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- Unix sockets, IPv6, names ---- */

typedef struct simple_state {
    cf_tcp *server;
    char got[64];
    size_t n;
    int ok;
} simple_state;

static void simple_conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data)
{
    (void)err;
    (void)data;
    if (status < 0) {
        cf_tcp_close(t, NULL, NULL);
        return;
    }
    ASSERT_OK(cf_tcp_write_copy(t, bytes, len) < 0);
}

static void simple_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                                 void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    char peer[128];
    ASSERT_OK(cf_tcp_peer_name(conn, peer, sizeof peer));
    ASSERT_OK(cf_tcp_read_start(conn, simple_conn_read, NULL));
    cf_tcp_close(server, NULL, NULL);
}

static void simple_client_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                               size_t len, void *data)
{
    (void)err;
    simple_state *s = data;
    ASSERT_OK(status);
    memcpy(s->got + s->n, bytes, len);
    s->n += len;
    if (s->n == 4) {
        s->ok = memcmp(s->got, "ping", 4) == 0;
        cf_tcp_close(t, NULL, NULL);
    }
}

static void simple_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    ASSERT_PTR(!err);
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_read_start(t, simple_client_read, data));
    cf_buf bufs[2] = {{(char *)"pi", 2}, {(char *)"ng", 2}};
    ASSERT_OK(cf_tcp_write(t, bufs, 2, NULL, NULL));
}

static void test_tcp_unix_socket(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "echo.sock");
    cf_loop *loop = loop_new();
    simple_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen_unix(s.server, path, 0, simple_on_connection, &s));
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect_unix(c, path, NULL, simple_connected, &s));
    loop_finish(loop);
    ASSERT(s.ok);
}

static void test_tcp_ipv6_loopback(void)
{
    cf_loop *loop = loop_new();
    simple_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    int rc = cf_tcp_listen(s.server, "::1", 0, 0, 0, simple_on_connection, &s);
    if (rc == CF_EADDRNOTAVAIL || rc == CF_EAFNOSUPPORT) {
        /* No IPv6 loopback on this machine: nothing to test. */
        cf_tcp_close(s.server, NULL, NULL);
        loop_finish(loop);
        return;
    }
    ASSERT_OK(rc);
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "::1", cf_tcp_port(s.server), NULL, simple_connected, &s));
    loop_finish(loop);
    ASSERT(s.ok);
}

/* "localhost" goes through getaddrinfo on the pool; addresses are tried in turn (::1 first
 * may be refused, as the server listens on 127.0.0.1 only). */
static void test_tcp_connect_by_name(void)
{
    cf_loop *loop = loop_new();
    simple_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, simple_on_connection, &s));
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "localhost", cf_tcp_port(s.server), NULL, simple_connected, &s));
    loop_finish(loop);
    ASSERT(s.ok);
}

static void test_tcp_connect_unknown_host(void)
{
    cf_loop *loop = loop_new();
    err_state s;
    memset(&s, 0, sizeof s);
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "no-such-host.invalid", 80, NULL, refused_cb, &s));
    loop_finish(loop);
    ASSERT(s.status == CF_ENOTFOUND || s.status == CF_EDNSAGAIN);
    ASSERT(strstr(s.message, "no-such-host.invalid") != NULL);
}

/* ---- close semantics ---- */

typedef struct cancel_state {
    int write_status;
    int connect_status;
    int closed;
    int order[4];
    int n;
} cancel_state;

static void cancel_write_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)err;
    cancel_state *s = data;
    if (status < 0) {
        s->write_status = status;
        s->order[s->n++] = 1;
    }
}

static void cancel_close_cb(void *data)
{
    cancel_state *s = data;
    s->closed++;
    s->order[s->n++] = 2;
}

static void cancel_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                                 void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    cf_tcp_set_data(server, conn);
}

static void cancel_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    ASSERT_OK(status);
    /* The peer never reads: fill the kernel buffers until a write queues, then close. */
    static char chunk[1 << 20];
    cf_buf b = {chunk, sizeof chunk};
    int rc;
    do {
        rc = cf_tcp_write(t, &b, 1, cancel_write_cb, data);
        ASSERT(rc >= 0);
    } while (cf_tcp_write_queue_size(t) == 0);
    ASSERT_OK(cf_tcp_close(t, cancel_close_cb, data));
    ASSERT_EQ(cf_tcp_close(t, NULL, NULL), CF_ECLOSED);
}

static void test_tcp_close_cancels_pending(void)
{
    cf_loop *loop = loop_new();
    cancel_state s;
    memset(&s, 0, sizeof s);
    cf_tcp *server;
    ASSERT_OK(cf_tcp_new(loop, &server));
    ASSERT_OK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, cancel_on_connection, &s));
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", cf_tcp_port(server), NULL, cancel_connected, &s));
    while (s.closed == 0) {
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT_EQ(s.write_status, CF_ECANCELED);
    /* Pending writes complete (cancelled) before the close callback. */
    ASSERT_EQ(s.order[0], 1);
    ASSERT_EQ(s.order[s.n - 1], 2);
    cf_tcp *conn = cf_tcp_get_data(server);
    if (conn)
        cf_tcp_close(conn, NULL, NULL);
    cf_tcp_close(server, NULL, NULL);
    loop_finish(loop);
}

static void cancel_connect_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)err;
    cancel_state *s = data;
    s->connect_status = status;
    s->order[s->n++] = 1;
}

/* Closing during the DNS step: the connect callback gets CF_ECANCELED before the close one. */
static void test_tcp_close_during_connect(void)
{
    cf_loop *loop = loop_new();
    cancel_state s;
    memset(&s, 0, sizeof s);
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    ASSERT_OK(cf_tcp_connect(c, "localhost", 9, NULL, cancel_connect_cb, &s));
    ASSERT_OK(cf_tcp_close(c, cancel_close_cb, &s));
    loop_finish(loop);
    ASSERT_EQ(s.connect_status, CF_ECANCELED);
    ASSERT_EQ(s.n, 2);
    ASSERT_EQ(s.order[0], 1);
    ASSERT_EQ(s.order[1], 2);
}

static void test_tcp_bad_arguments(void)
{
    cf_loop *loop = loop_new();
    cf_tcp *t;
    ASSERT_OK(cf_tcp_new(loop, &t));
    ASSERT_EQ(cf_tcp_connect(t, NULL, 80, NULL, refused_cb, NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_connect(t, "127.0.0.1", 70000, NULL, refused_cb, NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_write_copy(t, "x", 1), CF_ENOTCONN);
    ASSERT_EQ(cf_tcp_read_start(t, simple_client_read, NULL), CF_ENOTCONN);
    ASSERT_EQ(cf_tcp_end(t, NULL, NULL), CF_ENOTCONN);
    ASSERT_EQ(cf_tcp_listen(t, "not an address", 0, 0, 0, simple_on_connection, NULL), CF_EINVAL);
    /* A second listener on a port in use. */
    cf_tcp *a;
    ASSERT_OK(cf_tcp_new(loop, &a));
    ASSERT_OK(cf_tcp_listen(a, "127.0.0.1", 0, 0, 0, simple_on_connection, NULL));
    ASSERT_EQ(cf_tcp_listen(t, "127.0.0.1", cf_tcp_port(a), 0, 0, simple_on_connection, NULL),
              CF_EADDRINUSE);
    cf_tcp_close(a, close_free_data, NULL);
    cf_tcp_close(t, NULL, NULL);
    loop_finish(loop);
}

/* ---- promise forms ---- */

typedef struct prom_state {
    cf_loop *loop;
    cf_tcp *server;
    cf_tcp *client;
    cf_tcp *refused;
    char reply[64];
    int done;
    int close_fulfilled;
    int rejected_code;
} prom_state;

static void prom_conn_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                           size_t len, void *data)
{
    (void)err;
    (void)data;
    if (status == CF_EOF) {
        ASSERT_OK(cf_tcp_end(t, NULL, NULL));
        return;
    }
    if (status < 0) {
        cf_tcp_close(t, NULL, NULL);
        return;
    }
    ASSERT_OK(cf_tcp_write_copy(t, bytes, len) < 0);
}

static void prom_conn_closer(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data);

static void prom_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                               void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    ASSERT_OK(cf_tcp_read_start(conn, prom_conn_closer, NULL));
    cf_tcp_close(server, NULL, NULL);
}

/* Echo; at the client's end, end too, and close when the client is gone. */
static void prom_conn_closer(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data)
{
    if (status == CF_EOF) {
        ASSERT_OK(cf_tcp_end(t, NULL, NULL));
        cf_tcp_close(t, NULL, NULL);
        return;
    }
    prom_conn_read(t, status, err, bytes, len, data);
}

static void prom_closed(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    prom_state *s = data;
    ASSERT_EQ(cf_promise_state(settled), CF_PROMISE_FULFILLED);
    s->close_fulfilled = 1;
}

static void prom_all_read(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    prom_state *s = data;
    const cf_buf *b = cf_promise_value(settled);
    ASSERT_PTR(b);
    snprintf(s->reply, sizeof s->reply, "%s", b->base);
    s->done = 1;
    cf_promise_release(cf_promise_then(cf_tcp_close_p(s->client), prom_closed, NULL, s));
}

static void prom_ended(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    prom_state *s = data;
    cf_promise_release(
        cf_promise_then(cf_tcp_read_all_p(s->client, 0, NULL), prom_all_read, NULL, s));
}

static void prom_written(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    prom_state *s = data;
    cf_promise_release(cf_promise_then(cf_tcp_end_p(s->client, NULL), prom_ended, NULL, s));
}

static void prom_connected(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    prom_state *s = data;
    ASSERT(cf_promise_value(settled) == s->client);
    cf_promise_release(
        cf_promise_then(cf_tcp_write_p(s->client, "promised", 8, NULL), prom_written, NULL, s));
}

static void prom_rejected(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    prom_state *s = data;
    s->rejected_code = cf_promise_code(settled);
    ASSERT(strstr(cf_promise_error(settled)->message, "connect 127.0.0.1:") != NULL);
    cf_tcp_close(s->refused, NULL, NULL);
}

static void test_tcp_promise_forms(void)
{
    cf_loop *loop = loop_new();
    prom_state s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, prom_on_connection, &s));
    ASSERT_OK(cf_tcp_new(loop, &s.client));
    cf_promise *p = cf_tcp_connect_p(s.client, "127.0.0.1", cf_tcp_port(s.server), NULL);
    cf_promise_release(cf_promise_then(p, prom_connected, NULL, &s));
    cf_promise_release(p);

    /* A refused connect rejects with the address in the message. */
    ASSERT_OK(cf_tcp_new(loop, &s.refused));
    p = cf_tcp_connect_p(s.refused, "127.0.0.1", unused_port(), NULL);
    cf_promise_release(cf_promise_catch(p, prom_rejected, &s));
    cf_promise_release(p);
    loop_finish(loop);
    ASSERT(s.done);
    ASSERT_STR_EQ(s.reply, "promised");
    ASSERT(s.close_fulfilled);
    ASSERT_EQ(s.rejected_code, CF_ECONNREFUSED);
}

/* ---- async/await ---- */

typedef struct await_state {
    int port;
    char reply[64];
} await_state;

static int await_client(cf_task *task, void *arg)
{
    await_state *s = arg;
    cf_loop *loop = cf_task_loop(task);
    cf_tcp *t;
    int rc = cf_tcp_new(loop, &t);
    if (rc < 0)
        return rc;
    rc = cf_await(cf_tcp_connect_p(t, "127.0.0.1", s->port, NULL)).status;
    if (rc == 0)
        rc = cf_await(cf_tcp_write_p(t, "awaited", 7, NULL)).status;
    if (rc == 0) {
        cf_result r = cf_await(cf_tcp_read_p(t, NULL));
        rc = r.status;
        if (rc == 0)
            snprintf(s->reply, sizeof s->reply, "%s", ((const cf_buf *)r.value)->base);
    }
    int rc2 = cf_await(cf_tcp_close_p(t)).status;
    return rc ? rc : rc2;
}

static void test_tcp_async_await(void)
{
    cf_loop *loop = loop_new();
    simple_state srv;
    memset(&srv, 0, sizeof srv);
    ASSERT_OK(cf_tcp_new(loop, &srv.server));
    ASSERT_OK(cf_tcp_listen(srv.server, "127.0.0.1", 0, 0, 0, simple_on_connection, &srv));
    await_state s;
    memset(&s, 0, sizeof s);
    s.port = cf_tcp_port(srv.server);
    cf_promise *p = cf_async(loop, await_client, &s);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_STR_EQ(s.reply, "awaited");
}

/* ---- the place an error names ---- */

typedef struct place_state {
    int read_line;
    cf_error *connect_err;
    cf_error *write_err;
    cf_error *end_err;
    cf_error *read_err;
} place_state;

static cf_error *keep(const cf_error *err)
{
    ASSERT_PTR(err);
    return cf_error_copy(err);
}

static void place_refused(cf_tcp *t, int status, const cf_error *err, void *data)
{
    place_state *s = data;
    ASSERT_EQ(status, CF_ECONNREFUSED);
    s->connect_err = keep(err);
    cf_tcp_close(t, NULL, NULL);
}

static void place_write_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    place_state *s = data;
    ASSERT_EQ(status, CF_ECONNREFUSED);
    s->write_err = keep(err);
}

static void place_end_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    place_state *s = data;
    ASSERT_EQ(status, CF_ECANCELED);
    s->end_err = keep(err);
}

static void place_on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                                void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    cf_tcp_close(conn, NULL, NULL); /* the client reads the end of the stream */
    cf_tcp_close(server, NULL, NULL);
}

static void place_read_cb(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                          void *data)
{
    (void)bytes;
    (void)len;
    place_state *s = data;
    ASSERT_EQ(status, CF_EOF);
    s->read_err = keep(err);
    cf_tcp_close(t, NULL, NULL);
}

static void place_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    place_state *s = data;
    ASSERT_OK(status);
    ASSERT(err == NULL);
    s->read_line = __LINE__ + 1;
    ASSERT_OK(cf_tcp_read_start(t, place_read_cb, s));
}

static void test_tcp_errors_name_the_call(void)
{
    const char *me = "test_tcp_errors_name_the_call";
    cf_loop *loop = loop_new();
    place_state s;
    memset(&s, 0, sizeof s);
    int port = unused_port();

    /* A refused connect, with a write and an end queued while it was in progress. */
    cf_tcp *c;
    ASSERT_OK(cf_tcp_new(loop, &c));
    int connect_line = __LINE__ + 1;
    ASSERT_OK(cf_tcp_connect(c, "127.0.0.1", port, NULL, place_refused, &s));
    cf_buf b = {(char *)"x", 1};
    int write_line = __LINE__ + 1;
    ASSERT_OK(cf_tcp_write(c, &b, 1, place_write_cb, &s));
    int end_line = __LINE__ + 1;
    ASSERT_OK(cf_tcp_end(c, place_end_cb, &s));

    /* The end of the stream, reported to a reader started in a callback. */
    cf_tcp *server;
    cf_tcp *reader;
    ASSERT_OK(cf_tcp_new(loop, &server));
    ASSERT_OK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, place_on_connection, &s));
    ASSERT_OK(cf_tcp_new(loop, &reader));
    ASSERT_OK(cf_tcp_connect(reader, "127.0.0.1", cf_tcp_port(server), NULL, place_connected, &s));

    /* Promise forms: a refused connect rejects later; misuse rejects at once. */
    cf_tcp *d;
    ASSERT_OK(cf_tcp_new(loop, &d));
    int pconnect_line = __LINE__ + 1;
    cf_promise *pconnect = handled(cf_tcp_connect_p(d, "127.0.0.1", port, NULL));
    cf_tcp *e;
    ASSERT_OK(cf_tcp_new(loop, &e));
    int pread_line = __LINE__ + 1;
    cf_promise *pread = handled(cf_tcp_read_p(e, NULL));
    int pall_line = __LINE__ + 1;
    cf_promise *pall = handled(cf_tcp_read_all_p(e, 0, NULL));
    int pwrite_line = __LINE__ + 1;
    cf_promise *pwrite = handled(cf_tcp_write_p(e, "x", 1, NULL));
    int pend_line = __LINE__ + 1;
    cf_promise *pend = handled(cf_tcp_end_p(e, NULL));
    ASSERT_OK(cf_tcp_close(e, NULL, NULL));
    int pclose_line = __LINE__ + 1;
    cf_promise *pclose = handled(cf_tcp_close_p(e));
    cf_promise *now[] = {pread, pall, pwrite, pend, pclose};
    int now_lines[] = {pread_line, pall_line, pwrite_line, pend_line, pclose_line};
    for (size_t i = 0; i < CF_ARRAY_LEN(now); i++) {
        ASSERT_EQ(cf_promise_state(now[i]), CF_PROMISE_REJECTED);
        ASSERT_PLACE(cf_promise_error(now[i]), me, now_lines[i]);
    }
    ASSERT_EQ(cf_promise_code(pread), CF_ENOTCONN);
    ASSERT_EQ(cf_promise_code(pclose), CF_ECLOSED);

    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_PLACE(s.connect_err, me, connect_line);
    ASSERT_PLACE(s.write_err, me, write_line);
    ASSERT_PLACE(s.end_err, me, end_line);
    ASSERT_PLACE(s.read_err, "place_connected", s.read_line);
    ASSERT_EQ(s.read_err->code, CF_EOF);
    ASSERT_EQ(cf_promise_state(pconnect), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(pconnect), me, pconnect_line);
    ASSERT_EQ(cf_promise_code(pconnect), CF_ECONNREFUSED);

    cf_tcp_close(d, NULL, NULL);
    cf_promise_release(pconnect);
    for (size_t i = 0; i < CF_ARRAY_LEN(now); i++) {
        cf_promise_release(now[i]);
    }
    cf_error *kept[] = {s.connect_err, s.write_err, s.end_err, s.read_err};
    for (size_t i = 0; i < CF_ARRAY_LEN(kept); i++) {
        cf_error_free(kept[i]);
    }
    loop_finish(loop);
}

/* ---- abort signals ---- */

/* The cause's message of an abort error, checking the error's own words on the way. */
static void check_abort_error(const cf_error *err, const char *cause_message)
{
    ASSERT_PTR(err);
    ASSERT_EQ(cf_error_code(err), CF_ECANCELED);
    ASSERT_STR_EQ(cf_error_message(err), "The operation was aborted");
    const cf_error *cause = cf_error_cause(err);
    ASSERT_PTR(cause);
    ASSERT_STR_EQ(cf_error_message(cause), cause_message);
}

typedef struct abort_state {
    cf_loop *loop;
    cf_tcp *server;
    cf_tcp *client;
    cf_tcp *conn; /* the server's side */
    cf_abort_controller *ctrl;
    int accepted;
    int calls;
    int inside_abort; /* set around cf_abort: a callback must not run inside it */
    int status;
    char cause[128];
    char late[16];
} abort_state;

static void abort_count_accept(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                               void *data)
{
    (void)server;
    (void)err;
    abort_state *s = data;
    ASSERT_OK(status);
    s->accepted++;
    s->conn = conn;
}

static void aborted_connect_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    abort_state *s = data;
    ASSERT_EQ(t, s->client);
    s->calls++;
    s->status = status;
    check_abort_error(err, "user gave up");
    ASSERT(!cf_tcp_is_active(t));
    cf_tcp_close(t, NULL, NULL);
    cf_tcp_close(s->server, NULL, NULL);
}

/*
 * An already aborted signal fails the connect without starting it: no connection reaches the
 * listening server; the callback comes from the loop, never inside the call, with the one
 * abort error and the reason as its cause; the promise form rejects the same way.
 */
static void test_tcp_connect_already_aborted(void)
{
    cf_loop *loop = loop_new();
    abort_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_abort_new(&s.ctrl));
    ASSERT_OK(cf_abort(s.ctrl, CF_ERROR(CF_ECANCELED, "user gave up")));
    cf_abort_signal *signal = cf_abort_get_signal(s.ctrl);
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, abort_count_accept, &s));
    int port = cf_tcp_port(s.server);
    ASSERT_OK(cf_tcp_new(loop, &s.client));
    ASSERT_OK(cf_tcp_connect(s.client, "127.0.0.1", port, signal, aborted_connect_cb, &s));
    ASSERT_EQ(s.calls, 0); /* not inside the call */
    cf_tcp *t;
    ASSERT_OK(cf_tcp_new(loop, &t));
    cf_promise *p = handled(cf_tcp_connect_p(t, "127.0.0.1", port, signal));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.calls, 1);
    ASSERT_EQ(s.status, CF_ECANCELED);
    ASSERT_EQ(s.accepted, 0);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    check_abort_error(cf_promise_error(p), "user gave up");
    cf_promise_release(p);
    ASSERT_OK(cf_tcp_close(t, NULL, NULL));
    cf_abort_free(s.ctrl); /* the signal's last reference: nothing kept one */
    loop_finish(loop);
}

static void abort_now(void *data)
{
    abort_state *s = data;
    s->inside_abort = 1;
    ASSERT_OK(cf_abort(s->ctrl, CF_ERROR(CF_ECANCELED, "stop reading")));
    s->inside_abort = 0;
}

static void late_read(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    abort_state *s = data;
    const cf_buf *b = cf_promise_value(settled);
    ASSERT_PTR(b);
    snprintf(s->late, sizeof s->late, "%.*s", (int)b->len, b->base);
    cf_tcp_close(s->client, NULL, NULL);
    cf_tcp_close(s->conn, NULL, NULL);
    cf_tcp_close(s->server, NULL, NULL);
}

static void read_all_aborted(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data)
{
    (void)bytes;
    (void)len;
    abort_state *s = data;
    ASSERT_EQ(t, s->client);
    ASSERT(!s->inside_abort); /* from the loop, after cf_abort returned */
    ASSERT_EQ(status, CF_ECANCELED);
    check_abort_error(err, "stop reading");
    s->calls++;
    cf_abort_free(s->ctrl);
    s->ctrl = NULL;
    /* The stream is unharmed: what the peer sends next is read. */
    ASSERT_EQ(cf_tcp_write_copy(s->conn, "late", 4), 0);
    cf_promise *p = cf_tcp_read_p(t, NULL);
    cf_promise_release(cf_promise_then(p, late_read, NULL, s));
    cf_promise_release(p);
}

static void read_p_aborted(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    abort_state *s = data;
    s->status = cf_promise_code(settled);
    check_abort_error(cf_promise_error(settled), "stop reading");
    s->calls++;
    /* Now the callback form of a whole read, aborted the same way. */
    cf_abort_free(s->ctrl);
    ASSERT_OK(cf_abort_new(&s->ctrl));
    ASSERT_OK(cf_tcp_read_all(s->client, 0, cf_abort_get_signal(s->ctrl), read_all_aborted, s));
    ASSERT_OK(cf_set_timeout(s->loop, 20, abort_now, s, NULL));
}

static void abort_read_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    abort_state *s = data;
    ASSERT_OK(status);
    cf_promise *p = cf_tcp_read_p(t, cf_abort_get_signal(s->ctrl));
    cf_promise_release(cf_promise_catch(p, read_p_aborted, s));
    cf_promise_release(p);
    cf_promise *busy = handled(cf_tcp_read_p(t, NULL)); /* one read at a time */
    ASSERT_EQ(cf_promise_code(busy), CF_EBUSY);
    cf_promise_release(busy);
    ASSERT_OK(cf_set_timeout(s->loop, 50, abort_now, s, NULL));
}

/*
 * A read waiting on a silent peer is aborted: cf_tcp_read_p rejects, then cf_tcp_read_all's
 * callback gets the abort error from the loop; each time reading stops and the stream stays
 * usable, so the peer's next bytes are read by the next read.
 */
static void test_tcp_read_aborted(void)
{
    cf_loop *loop = loop_new();
    abort_state s;
    memset(&s, 0, sizeof s);
    s.loop = loop;
    ASSERT_OK(cf_abort_new(&s.ctrl));
    ASSERT_OK(cf_tcp_new(loop, &s.server));
    ASSERT_OK(cf_tcp_listen(s.server, "127.0.0.1", 0, 0, 0, abort_count_accept, &s));
    ASSERT_OK(cf_tcp_new(loop, &s.client));
    ASSERT_OK(cf_tcp_connect(s.client, "127.0.0.1", cf_tcp_port(s.server), NULL,
                             abort_read_connected, &s));
    loop_finish(loop);
    ASSERT_EQ(s.calls, 2);
    ASSERT_EQ(s.status, CF_ECANCELED);
    ASSERT_STR_EQ(s.late, "late");
}

/* Promise writes and ends with an aborted signal reject with the abort error, sending nothing. */
static void test_tcp_write_end_aborted(void)
{
    cf_loop *loop = loop_new();
    abort_state s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_abort_new(&s.ctrl));
    ASSERT_OK(cf_abort(s.ctrl, CF_ERROR(CF_ECANCELED, "no more")));
    cf_tcp *t;
    ASSERT_OK(cf_tcp_new(loop, &t));
    cf_promise *w = handled(cf_tcp_write_p(t, "x", 1, cf_abort_get_signal(s.ctrl)));
    cf_promise *e = handled(cf_tcp_end_p(t, cf_abort_get_signal(s.ctrl)));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    check_abort_error(cf_promise_error(w), "no more");
    check_abort_error(cf_promise_error(e), "no more");
    cf_promise_release(w);
    cf_promise_release(e);
    ASSERT(!cf_tcp_is_active(t));
    ASSERT(cf_tcp_has_ref(t));
    cf_tcp_unref(t);
    ASSERT(!cf_tcp_has_ref(t));
    ASSERT_OK(cf_tcp_close(t, NULL, NULL));
    cf_abort_free(s.ctrl);
    loop_finish(loop);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_tcp_bad_arguments);
    CF_TEST(test_tcp_connect_refused);
    CF_TEST(test_tcp_unix_socket);
    CF_TEST(test_tcp_ipv6_loopback);
    CF_TEST(test_tcp_connect_by_name);
    CF_TEST(test_tcp_connect_unknown_host);
    CF_TEST(test_tcp_half_close);
    CF_TEST(test_tcp_peer_reset_mid_stream);
    CF_TEST(test_tcp_write_to_closed_peer);
    CF_TEST(test_tcp_close_cancels_pending);
    CF_TEST(test_tcp_close_during_connect);
    CF_TEST(test_tcp_errors_name_the_call);
    CF_TEST(test_tcp_connect_timeout);
    CF_TEST(test_tcp_connect_already_aborted);
    CF_TEST(test_tcp_read_aborted);
    CF_TEST(test_tcp_write_end_aborted);
    CF_TEST(test_tcp_promise_forms);
    CF_TEST(test_tcp_async_await);
    CF_TEST(test_tcp_thousand_connections);
    CF_TEST(test_tcp_echo_100mb_backpressure);
    return CF_TEST_END();
}
