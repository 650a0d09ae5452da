/*
 * Bounded memory under backpressure (calcifer/stream.h): a producer far faster than its
 * consumer, which reads 1 KiB every millisecond, over a pipe (a child `cat` between them)
 * and over TCP on 127.0.0.1. The producer generates its bytes (nothing is stored); the
 * consumer checks every byte. The process's resident memory (VmRSS, /proc/self/status) must
 * stay within MEMORY_BOUND of what it was when the transfer started: the streams' and the
 * socket's high-water marks (16 KiB readable + 16 KiB writable per stream, a 64 KiB socket
 * queue, one 64 KiB socket read) plus a constant 4 MiB for the allocator's and the loop's
 * own slack (12 MiB under ASan). Without backpressure the producer would queue the whole transfer
 * in memory.
 *
 * This file moves STREAM_MEMORY_TOTAL bytes each way (16 MiB: about 17 s per transport at
 * 1 KiB/ms); test_stream_memory_full.c (run by `make test-stream-memory-full`) moves 1 GiB each way
 * (about 18 minutes per transport), or CF_STREAM_MEMORY_BYTES when set.
 */
/* ctest-timeout: 300 */
#include "harness.h"

#ifndef STREAM_MEMORY_TOTAL
#define STREAM_MEMORY_TOTAL ((uint64_t)16 << 20)
#endif

#ifdef CF_SANITIZE_BUILD
/* ASan keeps freed memory in quarantine, which would count as resident: keep it small. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=1:thread_local_quarantine_size_kb=64";
}
#endif

#define MARKS (16 * 1024 * 4 + 64 * 1024 * 2)
#ifdef CF_SANITIZE_BUILD
/* Shadow memory and redzones make ASan's constant larger; it still does not grow with size. */
#define MEMORY_BOUND ((long)MARKS + 12L * 1024 * 1024)
#else
#define MEMORY_BOUND ((long)MARKS + 4L * 1024 * 1024)
#endif

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ASSERT_PTR(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    ASSERT(kb > 0);
    return kb * 1024;
}

static uint64_t total_bytes(void)
{
    const char *env = getenv("CF_STREAM_MEMORY_BYTES");
    return env && *env ? strtoull(env, NULL, 10) : STREAM_MEMORY_TOTAL;
}

static unsigned char byte_at(uint64_t i)
{
    return (unsigned char)((i * 7 + (i >> 12)) & 0xff);
}

/* ---- the producer: as fast as the stream lets it ---- */

typedef struct producer {
    uint64_t left;
    uint64_t next;
    unsigned char buf[16384];
} producer;

static void produce(cf_stream *s, size_t size, void *data)
{
    producer *p = data;
    (void)size;
    while (p->left > 0) {
        size_t n = p->left < sizeof p->buf ? (size_t)p->left : sizeof p->buf;
        for (size_t i = 0; i < n; i++)
            p->buf[i] = byte_at(p->next + i);
        p->next += n;
        p->left -= n;
        if (cf_stream_push(s, p->buf, n) != 0)
            return;
    }
    cf_stream_push_end(s);
}

static const cf_stream_impl producer_impl = {.read = produce};

/* ---- the consumer: 1 KiB every millisecond ---- */

typedef struct consumer {
    cf_stream *s;
    cf_timer *timer;
    uint64_t got;
    uint64_t expected;
    long rss_start;
    long rss_peak;
    unsigned ticks;
    int mismatch;
    int done;
} consumer;

static void sample(consumer *c)
{
    long rss = rss_bytes();
    if (rss > c->rss_peak)
        c->rss_peak = rss;
}

static void consume_tick(cf_timer *t, void *data)
{
    consumer *c = data;
    (void)t;
    cf_buf b;
    int rc = cf_stream_read(c->s, 1024, &b);
    if (rc == 1) {
        for (size_t i = 0; i < b.len; i++)
            c->mismatch += b.base[i] != (char)byte_at(c->got + i);
        c->got += b.len;
        cf_free(b.base);
    }
    if (++c->ticks % 256 == 0)
        sample(c);
    if (c->got == c->expected) {
        c->done = 1;
        cf_timer_stop(c->timer);
    }
}

/* `rss_start` was taken before any stream existed, so whatever the producer queued counts. */
static void consumer_start(consumer *c, cf_loop *loop, cf_stream *s, uint64_t expected)
{
    c->s = s;
    c->expected = expected;
    sample(c);
    ASSERT_OK(cf_timer_new(loop, &c->timer));
    ASSERT_OK(cf_timer_start(c->timer, 1, 1, consume_tick, c));
}

static void consumer_check(consumer *c, const char *how)
{
    sample(c);
    long grown = c->rss_peak - c->rss_start;
    printf("# %s: %llu bytes, resident memory grew by %ld KiB at most (bound %ld KiB)\n", how,
           (unsigned long long)c->got, grown / 1024, MEMORY_BOUND / 1024);
    ASSERT(c->done);
    ASSERT_EQ(c->got, c->expected);
    ASSERT_EQ(c->mismatch, 0);
    ASSERT_LE(grown, MEMORY_BOUND);
}

typedef struct outcome {
    int calls;
    int status;
} outcome;

static void record(cf_stream *s, int status, const cf_error *err, void *data)
{
    outcome *o = data;
    (void)s;
    (void)err;
    o->calls++;
    o->status = status;
}

/* ---- over a pipe: producer → cat's stdin; cat's stdout → consumer ---- */

static void test_stream_memory_bounded_over_pipe(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    static const char *const args[] = {"cat", NULL};
    cf_process_options po = {.file = "cat", .args = args};
    po.stdio[0] = CF_STDIO_PIPE;
    po.stdio[1] = CF_STDIO_PIPE;
    cf_process *child;
    ASSERT_OK(cf_process_spawn(loop, &po, NULL, NULL, &child, NULL));
    consumer c = {0};
    c.rss_start = c.rss_peak = rss_bytes();
    uint64_t total = total_bytes();
    producer *p = cf_calloc(1, sizeof *p);
    ASSERT_PTR(p);
    p->left = total;
    cf_stream *st[3];
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &producer_impl, NULL, p, &st[0]));
    ASSERT_OK(cf_stream_process_stdio_new(child, 0, &st[1]));
    ASSERT_OK(cf_stream_process_stdio_new(child, 1, &st[2]));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, NULL, record, &o));
    consumer_start(&c, loop, st[2], total);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    consumer_check(&c, "pipe");
    ASSERT_EQ(o.status, 0);
    ASSERT_OK(cf_timer_close(c.timer, NULL, NULL));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(cf_stream_close(st[i], NULL, NULL));
    ASSERT_OK(cf_process_close(child, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    cf_free(p);
}

/* ---- over TCP: producer → accepted socket; client socket → consumer ---- */

typedef struct tcp_side {
    cf_loop *loop;
    cf_tcp *server;
    cf_stream *st[2];
    producer *p;
    outcome o;
} tcp_side;

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    tcp_side *ts = data;
    (void)server;
    (void)err;
    ASSERT_OK(status);
    ASSERT_OK(cf_stream_new(ts->loop, CF_STREAM_READABLE, &producer_impl, NULL, ts->p, &ts->st[0]));
    ASSERT_OK(cf_stream_tcp_new(conn, 0, &ts->st[1]));
    ASSERT_OK(cf_stream_pipeline(ts->st, 2, NULL, record, &ts->o));
    ASSERT_OK(cf_tcp_close(ts->server, NULL, NULL));
}

static void on_connect(cf_tcp *t, int status, const cf_error *err, void *data)
{
    cf_stream **client = data;
    (void)err;
    ASSERT_OK(status);
    ASSERT_OK(cf_stream_tcp_new(t, 0, client));
}

static void test_stream_memory_bounded_over_tcp(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    uint64_t total = total_bytes();
    tcp_side ts = {.loop = loop};
    ts.p = cf_calloc(1, sizeof *ts.p);
    ASSERT_PTR(ts.p);
    ts.p->left = total;
    ASSERT_OK(cf_tcp_new(loop, &ts.server));
    ASSERT_OK(cf_tcp_listen(ts.server, "127.0.0.1", 0, 16, 0, on_connection, &ts));
    consumer c = {0};
    c.rss_start = c.rss_peak = rss_bytes();
    cf_tcp *t;
    cf_stream *client = NULL;
    ASSERT_OK(cf_tcp_new(loop, &t));
    ASSERT_OK(cf_tcp_connect(t, "127.0.0.1", cf_tcp_port(ts.server), NULL, on_connect, &client));
    while (!client || !ts.st[1])
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    consumer_start(&c, loop, client, total);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    consumer_check(&c, "tcp");
    ASSERT_EQ(ts.o.status, 0);
    ASSERT_OK(cf_timer_close(c.timer, NULL, NULL));
    ASSERT_OK(cf_stream_close(client, NULL, NULL));
    ASSERT_OK(cf_stream_close(ts.st[0], NULL, NULL));
    ASSERT_OK(cf_stream_close(ts.st[1], NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    cf_free(ts.p);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_stream_memory_bounded_over_pipe);
    CF_TEST(test_stream_memory_bounded_over_tcp);
    return CF_TEST_END();
}
