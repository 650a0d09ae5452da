/*
 * Streams (calcifer/stream.h), the core: backpressure of write and push, the Transform's
 * deferred callback, pipeline errors and aborts, finished, bad input, and the await style
 * (cf_stream_write_p suspends a task until the drain; cf_stream_read_p gives chunk by chunk).
 * Event order against Node itself is checked by tests/conformance/streams/.
 */
#include "harness.h"

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

static void close_all(cf_loop *loop, cf_stream **st, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(cf_stream_close(st[i], NULL, NULL));
    loop_finish(loop);
}

/* A slow sink: each write completes on the next check phase; it records the peak length. */
typedef struct sink {
    cf_loop *loop;
    size_t bytes;
    size_t writes;
    size_t peak_length;
    char text[256];
} sink;

static void sink_done(void *data)
{
    cf_stream_done(data, NULL);
}

static void sink_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    sink *k = data;
    k->bytes += len;
    k->writes++;
    if (cf_stream_writable_length(s) > k->peak_length)
        k->peak_length = cf_stream_writable_length(s);
    size_t have = strlen(k->text);
    if (have + len < sizeof k->text)
        memcpy(k->text + have, chunk, len);
    ASSERT_OK(cf_set_immediate(k->loop, sink_done, s, NULL));
}

static const cf_stream_impl sink_impl = {.write = sink_write};

static int drains;

static void count_drain(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    (void)ev;
    (void)err;
    (void)data;
    drains++;
}

static void test_stream_write_full_then_drain(void)
{
    cf_loop *loop = loop_new();
    sink k = {.loop = loop};
    cf_stream *w;
    cf_stream_options o = {.high_water = 10};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, &o, &k, &w));
    drains = 0;
    ASSERT_OK(cf_stream_on(w, CF_STREAM_EV_DRAIN, count_drain, NULL));
    ASSERT_EQ(cf_stream_write(w, "1234", 4), 0);
    ASSERT_EQ(cf_stream_write(w, "5678", 4), 0);
    ASSERT_EQ(cf_stream_write(w, "9abc", 4), CF_STREAM_FULL); /* 12 >= 10 */
    ASSERT(cf_stream_needs_drain(w));
    ASSERT_EQ(cf_stream_writable_length(w), 12);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(drains, 1);
    ASSERT(!cf_stream_needs_drain(w));
    ASSERT_EQ(k.bytes, 12);
    ASSERT_STR_EQ(k.text, "123456789abc");
    close_all(loop, &w, 1);
}

/* A Transform whose output nobody reads stops taking input once its readable side is full. */
static size_t transforms;

static void copy_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    transforms++;
    cf_stream_push(s, chunk, len);
    cf_stream_done(s, NULL);
}

static const cf_stream_impl copy_impl = {.transform = copy_transform};

static void test_stream_transform_holds_back_without_reader(void)
{
    cf_loop *loop = loop_new();
    cf_stream *t;
    cf_stream_options o = {.high_water = 100};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &copy_impl, &o, NULL, &t));
    transforms = 0;
    char chunk[40] = {0};
    int full_at = -1;
    for (int i = 0; i < 50 && full_at < 0; i++) {
        if (cf_stream_write(t, chunk, sizeof chunk) == CF_STREAM_FULL)
            full_at = i;
    }
    ASSERT(full_at >= 0);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    /* The readable side took up to its mark (and one chunk more), then the writes waited. */
    ASSERT_LE(cf_stream_readable_length(t), 100 + sizeof chunk);
    ASSERT_LE(transforms, 4);
    ASSERT_GE(cf_stream_writable_length(t),
              (size_t)(full_at + 1) * sizeof chunk - 4 * sizeof chunk);
    close_all(loop, &t, 1);
}

/* ---- pipeline ---- */

typedef struct gen {
    size_t left;
    size_t chunk;
} gen;

static void gen_read(cf_stream *s, size_t size, void *data)
{
    gen *g = data;
    (void)size;
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (g->left > 0) {
        size_t n = g->left < g->chunk ? g->left : g->chunk;
        g->left -= n;
        if (cf_stream_push(s, buf, n) != 0)
            return;
    }
    cf_stream_push_end(s);
}

static const cf_stream_impl gen_impl = {.read = gen_read};

static int fail_after;

static void failing_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    if (--fail_after == 0) {
        cf_stream_done(s, CF_ERROR(CF_EIO, "stage failed"));
        return;
    }
    cf_stream_push(s, chunk, len);
    cf_stream_done(s, NULL);
}

static const cf_stream_impl failing_impl = {.transform = failing_transform};

typedef struct outcome {
    int calls;
    int status;
    char message[64];
} outcome;

static void record(cf_stream *s, int status, const cf_error *err, void *data)
{
    outcome *o = data;
    (void)s;
    o->calls++;
    o->status = status;
    snprintf(o->message, sizeof o->message, "%s", err ? cf_error_message(err) : "");
}

static void test_stream_pipeline_first_error_destroys_all(void)
{
    cf_loop *loop = loop_new();
    gen g = {.left = 1 << 20, .chunk = 1000};
    sink k = {.loop = loop};
    cf_stream *st[3];
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &st[0]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &failing_impl, NULL, NULL, &st[1]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, &k, &st[2]));
    fail_after = 3;
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 3, NULL, record, &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.calls, 1);
    ASSERT_EQ(o.status, CF_EIO);
    ASSERT_STR_EQ(o.message, "stage failed");
    for (int i = 0; i < 3; i++) {
        ASSERT(cf_stream_is_destroyed(st[i]));
        ASSERT_EQ(cf_error_code(cf_stream_error(st[i])), CF_EIO);
    }
    /* The chunks before the failure at most; the one queued in the sink is dropped. */
    ASSERT_GE(k.bytes, 1000);
    ASSERT_LE(k.bytes, 2000);
    close_all(loop, st, 3);
}

static void test_stream_pipeline_abort_signal(void)
{
    cf_loop *loop = loop_new();
    gen g = {.left = (size_t)1 << 30, .chunk = 4096};
    sink k = {.loop = loop};
    cf_stream *st[2];
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &st[0]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, &k, &st[1]));
    cf_abort_signal *deadline;
    ASSERT_OK(cf_abort_signal_timeout(loop, 20, &deadline));
    outcome o = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, deadline, record, &o));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.calls, 1);
    ASSERT_EQ(o.status, CF_ECANCELED);
    ASSERT_STR_EQ(o.message, "The operation was aborted");
    ASSERT(k.bytes > 0 && k.bytes < ((size_t)1 << 30));
    cf_abort_signal_release(deadline);
    close_all(loop, st, 2);
}

static void test_stream_finished_premature_close(void)
{
    cf_loop *loop = loop_new();
    sink k = {.loop = loop};
    cf_stream *w;
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, &k, &w));
    outcome o = {0};
    ASSERT_OK(cf_stream_finished(w, NULL, record, &o));
    ASSERT_OK(cf_stream_write(w, "abc", 3));
    ASSERT_OK(cf_stream_destroy(w, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.calls, 1);
    ASSERT_EQ(o.status, CF_EPIPE);
    ASSERT_STR_EQ(o.message, "Premature close");
    close_all(loop, &w, 1);
}

static int errors_seen;

static void count_error(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    (void)ev;
    (void)data;
    ASSERT_EQ(cf_error_code(err), CF_EPIPE);
    ASSERT_STR_EQ(cf_error_message(err), "write after end");
    errors_seen++;
}

static void test_stream_write_after_end_fails(void)
{
    cf_loop *loop = loop_new();
    sink k = {.loop = loop};
    cf_stream *w;
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, &k, &w));
    errors_seen = 0;
    ASSERT_OK(cf_stream_on(w, CF_STREAM_EV_ERROR, count_error, NULL));
    ASSERT_OK(cf_stream_end(w));
    ASSERT_EQ(cf_stream_write(w, "x", 1), CF_EPIPE);
    ASSERT_EQ(cf_stream_end(w), CF_EPIPE);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(errors_seen, 1);
    ASSERT(cf_stream_is_destroyed(w));
    close_all(loop, &w, 1);
}

static void test_stream_bad_input(void)
{
    cf_loop *loop = loop_new();
    cf_stream *s = NULL;
    ASSERT_EQ(cf_stream_new(loop, CF_STREAM_READABLE, NULL, NULL, NULL, &s), CF_EINVAL);
    ASSERT_EQ(cf_stream_new(loop, CF_STREAM_READABLE, &sink_impl, NULL, NULL, &s), CF_EINVAL);
    ASSERT_EQ(cf_stream_new(loop, (cf_stream_kind)5, &gen_impl, NULL, NULL, &s), CF_EINVAL);
    ASSERT_EQ(cf_stream_new(NULL, CF_STREAM_READABLE, &gen_impl, NULL, NULL, &s), CF_EINVAL);
    gen g = {.left = 0, .chunk = 1};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &s));
    ASSERT_EQ(cf_stream_write(s, "x", 1), CF_EINVAL); /* no writable side */
    ASSERT_EQ(cf_stream_end(s), CF_EINVAL);
    static int obj;
    ASSERT_EQ(cf_stream_push_object(s, &obj), CF_EINVAL); /* not in object mode */
    ASSERT_EQ(cf_stream_on(s, CF_STREAM_EV_DATA, count_drain, NULL), CF_EINVAL);
    ASSERT_EQ(cf_stream_off(s, CF_STREAM_EV_END, count_drain, NULL), CF_ENOENT);
    cf_stream *pair[2] = {s, s};
    ASSERT_EQ(cf_stream_pipeline(pair, 2, NULL, record, NULL), CF_EINVAL);
    ASSERT_EQ(cf_stream_pipeline(pair, 1, NULL, record, NULL), CF_EINVAL);
    ASSERT_EQ(cf_stream_done(s, NULL), CF_EINVAL); /* nothing pending */
    ASSERT_OK(cf_stream_close(s, NULL, NULL));
    ASSERT_EQ(cf_stream_close(s, NULL, NULL), CF_ECLOSED);
    loop_finish(loop);
}

/* ---- the await style ---- */

typedef struct writer_task {
    cf_stream *w;
    sink *k;
    size_t chunks;
    size_t waited; /* awaits that found the stream full */
    size_t peak;
} writer_task;

static int write_all(cf_task *task, void *arg)
{
    writer_task *wt = arg;
    char chunk[1000];
    memset(chunk, 'y', sizeof chunk);
    for (size_t i = 0; i < wt->chunks; i++) {
        int full = cf_stream_writable_length(wt->w) + sizeof chunk >= 4000;
        cf_result r = cf_await(cf_stream_write_p(wt->w, chunk, sizeof chunk, NULL));
        if (r.status < 0)
            return cf_task_rethrow(task, r.error);
        wt->waited += full;
        if (cf_stream_writable_length(wt->w) > wt->peak)
            wt->peak = cf_stream_writable_length(wt->w);
    }
    cf_stream_end(wt->w);
    cf_result r = cf_await(cf_stream_finished_p(wt->w, NULL));
    return r.status < 0 ? cf_task_rethrow(task, r.error) : 0;
}

static void test_stream_write_p_suspends_until_drain(void)
{
    cf_loop *loop = loop_new();
    sink k = {.loop = loop};
    cf_stream *w;
    cf_stream_options o = {.high_water = 4000};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, &o, &k, &w));
    writer_task wt = {.w = w, .k = &k, .chunks = 500};
    cf_promise *p = cf_async(loop, write_all, &wt);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_EQ(k.bytes, 500 * 1000);
    /* Backpressure held: never more than the mark waited, and the task did wait. */
    ASSERT_LE(wt.peak, 4000);
    ASSERT_LE(k.peak_length, 4000);
    ASSERT_GE(wt.waited, 100);
    close_all(loop, &w, 1);
}

typedef struct reader_task {
    cf_stream *r;
    size_t bytes;
    size_t chunks;
    int status;
} reader_task;

static int read_all(cf_task *task, void *arg)
{
    reader_task *rt = arg;
    (void)task;
    for (;;) {
        cf_result r = cf_await(cf_stream_read_p(rt->r, NULL));
        if (r.status < 0) {
            rt->status = r.status;
            return 0;
        }
        const cf_buf *chunk = r.value;
        if (!chunk)
            return 0; /* the end */
        for (size_t i = 0; i < chunk->len; i++)
            ASSERT_EQ(chunk->base[i], 'x');
        rt->bytes += chunk->len;
        rt->chunks++;
    }
}

static void test_stream_read_p_chunk_by_chunk(void)
{
    cf_loop *loop = loop_new();
    gen g = {.left = 300000, .chunk = 3000};
    cf_stream *r;
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &r));
    reader_task rt = {.r = r};
    cf_promise *p = cf_async(loop, read_all, &rt);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(p);
    ASSERT_EQ(rt.status, 0);
    ASSERT_EQ(rt.bytes, 300000);
    ASSERT_GE(rt.chunks, 300000 / (16 * 1024 + 3000));
    close_all(loop, &r, 1);
}

static void fail_later(void *data)
{
    cf_stream_destroy(data, CF_ERROR(CF_ECONNRESET, "peer went away"));
}

static void nop_read(cf_stream *s, size_t size, void *data)
{
    (void)s;
    (void)size;
    (void)data;
}

static const cf_stream_impl idle_impl = {.read = nop_read};

static void test_stream_read_p_rejects_on_error(void)
{
    cf_loop *loop = loop_new();
    cf_stream *r;
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &idle_impl, NULL, NULL, &r));
    ASSERT_OK(cf_stream_push(r, "xx", 2));
    reader_task rt = {.r = r};
    cf_promise *p = cf_async(loop, read_all, &rt);
    ASSERT_OK(cf_set_timeout(loop, 5, fail_later, r, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(p);
    ASSERT_EQ(rt.bytes, 2);
    ASSERT_EQ(rt.status, CF_ECONNRESET);
    close_all(loop, &r, 1);
}

typedef struct pipeline_task {
    cf_stream *st[3];
    size_t n;
    int status;
    char message[64];
} pipeline_task;

static int run_pipeline(cf_task *task, void *arg)
{
    pipeline_task *pt = arg;
    (void)task;
    cf_result r = cf_await(cf_stream_pipeline_p(pt->st, pt->n, NULL));
    pt->status = r.status;
    snprintf(pt->message, sizeof pt->message, "%s", r.error ? cf_error_message(r.error) : "");
    return 0;
}

static void test_stream_pipeline_p_awaited(void)
{
    cf_loop *loop = loop_new();
    gen g = {.left = 100000, .chunk = 1000};
    sink k = {.loop = loop};
    pipeline_task ok = {.n = 2};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g, &ok.st[0]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, &k, &ok.st[1]));
    gen g2 = {.left = 100000, .chunk = 1000};
    sink k2 = {.loop = loop};
    pipeline_task bad = {.n = 3};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &gen_impl, NULL, &g2, &bad.st[0]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &failing_impl, NULL, NULL, &bad.st[1]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, &k2, &bad.st[2]));
    fail_after = 5;
    cf_promise *p1 = cf_async(loop, run_pipeline, &ok);
    cf_promise *p2 = cf_async(loop, run_pipeline, &bad);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(p1);
    cf_promise_release(p2);
    ASSERT_EQ(ok.status, 0);
    ASSERT_EQ(k.bytes, 100000);
    ASSERT_EQ(bad.status, CF_EIO);
    ASSERT_STR_EQ(bad.message, "stage failed");
    for (int i = 0; i < 2; i++)
        ASSERT_OK(cf_stream_close(ok.st[i], NULL, NULL));
    close_all(loop, bad.st, 3);
}

static void test_stream_object_mode_counts_objects(void)
{
    cf_loop *loop = loop_new();
    cf_stream *r;
    cf_stream_options o = {.high_water = 3, .flags = CF_STREAM_OBJECTS, .free_object = cf_free};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_READABLE, &idle_impl, &o, NULL, &r));
    ASSERT_EQ(cf_stream_push_object(r, cf_malloc(100)), 0);
    ASSERT_EQ(cf_stream_push_object(r, cf_malloc(100)), 0);
    ASSERT_EQ(cf_stream_push_object(r, cf_malloc(100)), CF_STREAM_FULL);
    ASSERT_EQ(cf_stream_readable_length(r), 3);
    ASSERT_EQ(cf_stream_push(r, "x", 1), CF_EINVAL);
    void *obj = NULL;
    ASSERT_EQ(cf_stream_read_object(r, &obj), 1);
    ASSERT_PTR(obj);
    cf_free(obj);
    ASSERT_EQ(cf_stream_readable_length(r), 2);
    close_all(loop, &r, 1); /* the two objects left are freed with the stream */
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_stream_write_full_then_drain);
    CF_TEST(test_stream_transform_holds_back_without_reader);
    CF_TEST(test_stream_pipeline_first_error_destroys_all);
    CF_TEST(test_stream_pipeline_abort_signal);
    CF_TEST(test_stream_finished_premature_close);
    CF_TEST(test_stream_write_after_end_fails);
    CF_TEST(test_stream_bad_input);
    CF_TEST(test_stream_write_p_suspends_until_drain);
    CF_TEST(test_stream_read_p_chunk_by_chunk);
    CF_TEST(test_stream_read_p_rejects_on_error);
    CF_TEST(test_stream_pipeline_p_awaited);
    CF_TEST(test_stream_object_mode_counts_objects);
    return CF_TEST_END();
}
