/*
 * The stream calls a server writes and reads with, over real sockets on 127.0.0.1: gathered
 * writes that go out at once and copy only the rest (cf_tcp_write_copyv), writes of what the
 * kernel takes now (cf_tcp_try_write), head + file with sendfile (cf_tcp_try_send_file), the
 * sticky error without a write (cf_tcp_error), and reads into the caller's memory
 * (cf_tcp_read_start_into). The peer is a plain socket driven by the test, so the test decides
 * when the kernel's buffers fill and empty.
 */
/* ctest-timeout: 120 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "harness.h"

/* A server-side stream and the raw client socket at its other end. */
typedef struct pair {
    cf_loop *loop;
    cf_tcp *server;
    cf_tcp *conn;
    int client;
} pair;

static void on_conn(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)server;
    (void)err;
    ASSERT_OK(status);
    pair *p = data;
    p->conn = conn;
}

/* Listen, connect a plain non-blocking socket, and run the loop until the accept. */
static void pair_open(pair *p)
{
    memset(p, 0, sizeof *p);
    ASSERT_OK(cf_loop_new(&p->loop));
    ASSERT_OK(cf_tcp_new(p->loop, &p->server));
    ASSERT_OK(cf_tcp_listen(p->server, "127.0.0.1", 0, 0, 0, on_conn, p));
    p->client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT(p->client >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)cf_tcp_port(p->server))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(p->client, (struct sockaddr *)&a, sizeof a);
    ASSERT(rc == 0 || errno == EINPROGRESS);
    for (int i = 0; i < 1000 && !p->conn; i++) {
        ASSERT(cf_run(p->loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT_PTR(p->conn);
}

static void pair_close(pair *p)
{
    if (p->client >= 0)
        close(p->client);
    if (p->conn)
        cf_tcp_close(p->conn, NULL, NULL);
    cf_tcp_close(p->server, NULL, NULL);
    ASSERT_OK(cf_run(p->loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(p->loop));
}

/*
 * A small send buffer on the server's side, so that a few MiB the client does not read yet
 * fill the kernel's buffers. (A small receive buffer would too, but slows loopback TCP down
 * to its persist timer.)
 */
static void pair_small_buffers(pair *p)
{
    int sz = 4096;
    ASSERT_OK(setsockopt(cf_tcp_fd(p->conn), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz));
}

/* Read what the client has now into `out` at `*got` (at most `cap`); 0 at EOF or error. */
static int client_read_some(pair *p, char *out, size_t cap, size_t *got)
{
    ssize_t n = recv(p->client, out + *got, cap - *got, 0);
    if (n > 0) {
        *got += (size_t)n;
        return 1;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

/* Read until `want` bytes arrived, running the loop meanwhile (bounded). */
static void client_read_all(pair *p, char *out, size_t want)
{
    size_t got = 0;
    for (int i = 0; i < 200000 && got < want; i++) {
        size_t before = got;
        ASSERT(client_read_some(p, out, want, &got));
        ASSERT(cf_run(p->loop, CF_RUN_NOWAIT) >= 0);
        if (got == before)
            poll(&(struct pollfd){.fd = p->client, .events = POLLIN}, 1, 1);
    }
    ASSERT_EQ(got, want);
}

static char *pattern_new(size_t len, unsigned seed)
{
    char *b = malloc(len);
    ASSERT_PTR(b);
    for (size_t i = 0; i < len; i++) {
        b[i] = (char)((i * 131 + seed) % 251);
    }
    return b;
}

static void count_drain(cf_tcp *t, void *data)
{
    (void)t;
    (*(int *)data)++;
}

/* ---- cf_tcp_write_copyv ---- */

/* A gathered write into an empty queue goes out at once: nothing is queued or copied. */
static void test_tcp_write_copyv_small_goes_out_at_once(void)
{
    pair p;
    pair_open(&p);
    cf_buf b[3] = {{(char *)"GET ", 4}, {(char *)"/films", 6}, {(char *)" HTTP/1.1\r\n", 11}};
    ASSERT_OK(cf_tcp_write_copyv(p.conn, b, 3));
    ASSERT_EQ(cf_tcp_write_queue_size(p.conn), 0);
    char got[21];
    client_read_all(&p, got, sizeof got);
    ASSERT_MEM_EQ(got, "GET /films HTTP/1.1\r\n", sizeof got);
    pair_close(&p);
}

/*
 * Against a full socket: the kernel takes part at once, only the rest is queued, and it is a
 * copy (the caller's buffers are scribbled over right after the call). A second write goes
 * behind the first without trying the socket, the drain callback runs once both are out,
 * and the client reads every byte in order.
 */
static void test_tcp_write_copyv_copies_only_the_rest(void)
{
    pair p;
    pair_open(&p);
    pair_small_buffers(&p);
    int drains = 0;
    cf_tcp_on_drain(p.conn, count_drain, &drains);
    size_t n1 = (size_t)2 << 20;
    size_t n2 = 1000;
    char *a = pattern_new(n1, 1);
    char *b = pattern_new(n2, 7);
    char *expect = malloc(n1 + n2);
    ASSERT_PTR(expect);
    memcpy(expect, a, n1);
    memcpy(expect + n1, b, n2);
    cf_buf bufs[2] = {{a, n1 / 2}, {a + n1 / 2, n1 - n1 / 2}};
    ASSERT_EQ(cf_tcp_write_copyv(p.conn, bufs, 2), CF_TCP_FULL);
    size_t queued = cf_tcp_write_queue_size(p.conn);
    ASSERT(queued > 0 && queued < n1); /* some went out at once, not all */
    memset(a, 'x', n1);
    cf_buf one = {b, n2};
    ASSERT_EQ(cf_tcp_write_copyv(p.conn, &one, 1), CF_TCP_FULL);
    ASSERT_EQ(cf_tcp_write_queue_size(p.conn), queued + n2); /* queued behind, not tried */
    memset(b, 'y', n2);
    char *got = malloc(n1 + n2);
    ASSERT_PTR(got);
    client_read_all(&p, got, n1 + n2);
    ASSERT(memcmp(got, expect, n1 + n2) == 0);
    for (int i = 0; i < 100 && drains == 0; i++) {
        ASSERT(cf_run(p.loop, CF_RUN_NOWAIT) >= 0);
    }
    ASSERT_EQ(drains, 1);
    ASSERT_EQ(cf_tcp_write_queue_size(p.conn), 0);
    free(a);
    free(b);
    free(expect);
    free(got);
    pair_close(&p);
}

/* ---- cf_tcp_try_write ---- */

/*
 * try_write takes what the kernel takes and queues nothing: all of a small write, part of a
 * large one against a full socket, nothing while writes are queued (they go first). Its bytes
 * never arm the drain callback, even with a high-water mark of 1.
 */
static void test_tcp_try_write_queues_nothing(void)
{
    pair p;
    pair_open(&p);
    int drains = 0;
    cf_tcp_on_drain(p.conn, count_drain, &drains);
    cf_tcp_set_high_water(p.conn, 1);
    cf_buf hi[2] = {{(char *)"hel", 3}, {(char *)"lo", 2}};
    size_t w = 99;
    ASSERT_OK(cf_tcp_try_write(p.conn, hi, 2, &w));
    ASSERT_EQ(w, 5);
    for (int i = 0; i < 5; i++) {
        ASSERT(cf_run(p.loop, CF_RUN_NOWAIT) >= 0);
    }
    ASSERT_EQ(drains, 0);
    char got5[5];
    client_read_all(&p, got5, 5);
    ASSERT_MEM_EQ(got5, "hello", 5);

    pair_small_buffers(&p);
    size_t big = (size_t)2 << 20;
    char *a = pattern_new(big, 3);
    cf_buf b = {a, big};
    ASSERT_OK(cf_tcp_try_write(p.conn, &b, 1, &w));
    ASSERT(w > 0 && w < big);
    ASSERT_EQ(cf_tcp_write_queue_size(p.conn), 0);
    /* The rest goes through the queue; a try meanwhile must not jump ahead of it. */
    cf_buf rest = {a + w, big - w};
    ASSERT_EQ(cf_tcp_write_copyv(p.conn, &rest, 1), CF_TCP_FULL);
    size_t w2 = 99;
    cf_buf late = {(char *)"!", 1};
    ASSERT_OK(cf_tcp_try_write(p.conn, &late, 1, &w2));
    ASSERT_EQ(w2, 0);
    char *got = malloc(big);
    ASSERT_PTR(got);
    client_read_all(&p, got, big);
    ASSERT(memcmp(got, a, big) == 0);
    free(a);
    free(got);
    pair_close(&p);
}

/* ---- cf_tcp_error ---- */

/*
 * The sticky error is 0 on a healthy stream and after the peer's end, and becomes the code of
 * the write that failed once the peer reset the connection; writes then return it too.
 */
static void test_tcp_error_without_writing(void)
{
    pair p;
    pair_open(&p);
    ASSERT_EQ(cf_tcp_error(NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_error(p.conn), 0);
    struct linger lg = {1, 0}; /* close with RST */
    ASSERT_OK(setsockopt(p.client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    close(p.client);
    p.client = -1;
    cf_buf b = {(char *)"ping\n", 5};
    int rc = 0;
    for (int i = 0; i < 1000 && rc >= 0; i++) {
        size_t w;
        rc = cf_tcp_try_write(p.conn, &b, 1, &w);
        if (rc >= 0)
            usleep(1000);
    }
    ASSERT(rc == CF_ECONNRESET || rc == CF_EPIPE);
    ASSERT_EQ(cf_tcp_error(p.conn), rc);
    ASSERT_EQ(cf_tcp_write_copyv(p.conn, &b, 1), rc);
    pair_close(&p);
}

/* ---- cf_tcp_read_start_into ---- */

typedef struct into_state {
    char mem[7]; /* small on purpose: one message takes several reads */
    char got[64];
    size_t len;
    int allocs;
    int empty;   /* reads that found nothing after alloc (len 0) */
    int foreign; /* deliveries that did not point into `mem` */
    int status;
    int give_none; /* the alloc callback gives no memory */
    char msg[160];
} into_state;

static void into_alloc(cf_tcp *t, size_t suggested, cf_buf *buf, void *data)
{
    (void)t;
    into_state *s = data;
    ASSERT(suggested > 0);
    s->allocs++;
    if (s->give_none)
        return;
    buf->base = s->mem;
    buf->len = sizeof s->mem;
}

static void into_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                      void *data)
{
    (void)t;
    into_state *s = data;
    if (status < 0) {
        s->status = status;
        ASSERT_PTR(err);
        snprintf(s->msg, sizeof s->msg, "%s", cf_error_message(err));
        return;
    }
    if (len == 0) {
        s->empty++;
        return;
    }
    if (bytes < s->mem || bytes + len > s->mem + sizeof s->mem)
        s->foreign++;
    ASSERT(s->len + len <= sizeof s->got);
    memcpy(s->got + s->len, bytes, len);
    s->len += len;
}

/*
 * The bytes land in the reader's memory (no copy of the stream's own), a message longer than
 * that memory comes in several reads, and a read that finds nothing after the alloc callback
 * is reported with len 0 so the memory can be taken back.
 */
static void test_tcp_read_start_into_reads_into_caller_memory(void)
{
    pair p;
    pair_open(&p);
    into_state s = {0};
    ASSERT_OK(cf_tcp_read_start_into(p.conn, into_alloc, into_read, &s));
    const char msg[] = "0123456789abcd"; /* 14 bytes: exactly two full reads of 7 */
    ASSERT_EQ(send(p.client, msg, 14, 0), 14);
    for (int i = 0; i < 1000 && s.len < 14; i++) {
        ASSERT(cf_run(p.loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT_EQ(s.len, 14);
    ASSERT_MEM_EQ(s.got, msg, 14);
    ASSERT_EQ(s.foreign, 0);
    ASSERT_GE(s.allocs, 3);
    ASSERT_GE(s.empty, 1); /* the third read found the socket empty */
    shutdown(p.client, SHUT_WR);
    for (int i = 0; i < 1000 && s.status == 0; i++) {
        ASSERT(cf_run(p.loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT_EQ(s.status, CF_EOF);
    ASSERT_EQ(cf_tcp_error(p.conn), 0);
    pair_close(&p);
}

/*
 * An alloc callback that gives no memory stops reading with CF_ENOBUFS and a message that
 * says so; the stream itself is unharmed (no sticky error, writes go on).
 */
static void test_tcp_read_start_into_no_memory(void)
{
    pair p;
    pair_open(&p);
    into_state s = {0};
    s.give_none = 1;
    ASSERT_EQ(cf_tcp_read_start_into(p.conn, NULL, into_read, &s), CF_EINVAL);
    ASSERT_OK(cf_tcp_read_start_into(p.conn, into_alloc, into_read, &s));
    ASSERT_EQ(send(p.client, "x", 1, 0), 1);
    for (int i = 0; i < 1000 && s.status == 0; i++) {
        ASSERT(cf_run(p.loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT_EQ(s.status, CF_ENOBUFS);
    ASSERT(strstr(s.msg, "alloc callback") != NULL);
    ASSERT_EQ(s.len, 0);
    ASSERT_EQ(cf_tcp_error(p.conn), 0);
    ASSERT_OK(cf_tcp_write_copy(p.conn, "ok", 2));
    char got[2];
    client_read_all(&p, got, 2);
    ASSERT_MEM_EQ(got, "ok", 2);
    /* Reading resumes into the caller's memory once it has some again. */
    s.give_none = 0;
    s.status = 0;
    ASSERT_OK(cf_tcp_read_start_into(p.conn, into_alloc, into_read, &s));
    for (int i = 0; i < 1000 && s.len < 1; i++) {
        ASSERT(cf_run(p.loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT_MEM_EQ(s.got, "x", 1);
    pair_close(&p);
}

/* ---- cf_tcp_try_send_file ---- */

/*
 * Head + file: the client reads the head then the file's bytes from the offset given, the
 * file's own offset does not move, and against small buffers the call takes part and is
 * called again from where it stopped (bounded).
 */
static void test_tcp_try_send_file_head_and_file(void)
{
    pair p;
    pair_open(&p);
    pair_small_buffers(&p);
    size_t flen = (size_t)1 << 20;
    char *data = pattern_new(flen, 5);
    char path[512];
    cf_test_path(path, sizeof path, "body.bin");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, data, flen), (ssize_t)flen);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1048476\r\n\r\n";
    size_t hlen = sizeof head - 1;
    size_t skip = 100; /* the file's bytes start at this offset */
    size_t want = hlen + flen - skip;
    char *got = malloc(want);
    ASSERT_PTR(got);
    size_t sent = 0;
    size_t rcvd = 0;
    int calls = 0;
    for (int i = 0; i < 100000 && rcvd < want; i++) {
        size_t before = rcvd;
        if (sent < want) {
            size_t w = 0;
            size_t hs = sent < hlen ? sent : hlen;
            cf_buf h = {(char *)head + hs, hlen - hs};
            uint64_t off = skip + (sent > hlen ? sent - hlen : 0);
            ASSERT_OK(cf_tcp_try_send_file(p.conn, &h, h.len ? 1 : 0, fd, off, flen - (off), &w));
            sent += w;
            calls++;
        }
        ASSERT(client_read_some(&p, got, want, &rcvd));
        if (rcvd == before)
            poll(&(struct pollfd){.fd = p.client, .events = POLLIN}, 1, 1);
    }
    ASSERT_EQ(rcvd, want);
    ASSERT_GE(calls, 2); /* the small buffers made it stop short at least once */
    ASSERT_MEM_EQ(got, head, hlen);
    ASSERT(memcmp(got + hlen, data + skip, flen - skip) == 0);
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    ASSERT_EQ(cf_tcp_write_queue_size(p.conn), 0);
    close(fd);
    free(data);
    free(got);
    pair_close(&p);
}

/*
 * A descriptor that cannot be sent from fails with the file's error and leaves the stream
 * usable; bad arguments fail with CF_EINVAL; nothing is tried while writes are queued.
 */
static void test_tcp_try_send_file_errors(void)
{
    pair p;
    pair_open(&p);
    size_t w = 99;
    ASSERT_EQ(cf_tcp_try_send_file(p.conn, NULL, 0, -1, 0, 1, &w), CF_EINVAL);
    ASSERT_EQ(w, 0);
    ASSERT_EQ(cf_tcp_try_send_file(p.conn, NULL, 0, 0, 0, 1, NULL), CF_EINVAL);
    int dir = open(cf_test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT(dir >= 0);
    int rc = cf_tcp_try_send_file(p.conn, NULL, 0, dir, 0, 10, &w);
    ASSERT(rc < 0);
    ASSERT_EQ(w, 0);
    ASSERT_EQ(cf_tcp_error(p.conn), 0);
    ASSERT_OK(cf_tcp_write_copy(p.conn, "still", 5));
    char got[5];
    client_read_all(&p, got, 5);
    ASSERT_MEM_EQ(got, "still", 5);
    close(dir);
    pair_close(&p);
}

/* ---- arguments ---- */

static void test_tcp_server_io_bad_arguments(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_tcp *t;
    ASSERT_OK(cf_tcp_new(loop, &t));
    cf_buf b = {(char *)"x", 1};
    size_t w = 99;
    ASSERT_EQ(cf_tcp_write_copyv(NULL, &b, 1), CF_EINVAL);
    ASSERT_EQ(cf_tcp_write_copyv(t, NULL, 1), CF_EINVAL);
    ASSERT_EQ(cf_tcp_write_copyv(t, &b, 1), CF_ENOTCONN);
    ASSERT_EQ(cf_tcp_try_write(t, &b, 1, NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_try_write(t, &b, 1, &w), CF_ENOTCONN);
    ASSERT_EQ(w, 0);
    ASSERT_EQ(cf_tcp_read_start_into(t, into_alloc, into_read, NULL), CF_ENOTCONN);
    ASSERT_EQ(cf_tcp_read_start_into(NULL, into_alloc, into_read, NULL), CF_EINVAL);
    ASSERT_EQ(cf_tcp_error(t), 0);
    cf_tcp_close(t, NULL, NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_tcp_server_io_bad_arguments);
    CF_TEST(test_tcp_write_copyv_small_goes_out_at_once);
    CF_TEST(test_tcp_write_copyv_copies_only_the_rest);
    CF_TEST(test_tcp_try_write_queues_nothing);
    CF_TEST(test_tcp_error_without_writing);
    CF_TEST(test_tcp_read_start_into_reads_into_caller_memory);
    CF_TEST(test_tcp_read_start_into_no_memory);
    CF_TEST(test_tcp_try_send_file_head_and_file);
    CF_TEST(test_tcp_try_send_file_errors);
    return CF_TEST_END();
}
