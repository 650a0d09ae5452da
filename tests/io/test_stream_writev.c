/*
 * Batched writes and handing objects on (calcifer/stream.h): the writev hook (≈ Node's
 * _writev) gets the chunks queued behind a write in one call and completes or fails them
 * together; the file write streams use it, so many small writes make few system calls (counted
 * through the fault seam of util/sys.h) and the right file, a short write goes on where it
 * stopped, and a failure in the middle of a batch (a fault, a real file size limit) is the
 * stream's error with everything reported written in the file. cf_stream_take_object lets an
 * object-mode transform push on the object it was given.
 */
/* ctest-timeout: 120 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "harness.h"
#include "util/sys.h"

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static void close_and_finish(cf_loop *loop, cf_stream *s)
{
    ASSERT_OK(cf_stream_close(s, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 131 + i / 4093) & 0xff);
}

/* ---- the hook itself ---- */

/* A sink with both hooks; each completes on the next check phase, with `fail` for writev. */
typedef struct vsink {
    cf_loop *loop;
    cf_stream *s;
    char text[256];
    size_t len;
    int writes;
    int batches;
    size_t last_n;
    int fail;
    char events[64];
} vsink;

static void vsink_done(void *data)
{
    vsink *k = data;
    cf_stream_done(k->s, k->fail ? CF_ERROR(CF_EIO, "disk on fire") : NULL);
}

static void vsink_add(vsink *k, const void *p, size_t n)
{
    ASSERT(k->len + n < sizeof k->text);
    memcpy(k->text + k->len, p, n);
    k->len += n;
}

static void vsink_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    vsink *k = data;
    k->s = s;
    k->writes++;
    vsink_add(k, chunk, len);
    ASSERT_OK(cf_set_immediate(k->loop, vsink_done, k, NULL));
}

static void vsink_writev(cf_stream *s, const cf_buf *chunks, size_t n, void *data)
{
    vsink *k = data;
    k->s = s;
    k->batches++;
    k->last_n = n;
    ASSERT(n >= 2);
    for (size_t i = 0; i < n; i++)
        vsink_add(k, chunks[i].base, chunks[i].len);
    ASSERT_OK(cf_set_immediate(k->loop, vsink_done, k, NULL));
}

static const cf_stream_impl vsink_impl = {.write = vsink_write, .writev = vsink_writev};

static void note(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    vsink *k = data;
    (void)s;
    static const char names[] = "DR!DPFEC";
    size_t n = strlen(k->events);
    ASSERT(n + 1 < sizeof k->events);
    k->events[n] = names[ev];
    if (ev == CF_STREAM_EV_ERROR)
        ASSERT_STR_EQ(err->message, "disk on fire");
}

static cf_stream *vsink_new(cf_loop *loop, vsink *k)
{
    cf_stream *w;
    cf_stream_options o = {.high_water = 8};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_WRITABLE, &vsink_impl, &o, k, &w));
    cf_stream_event evs[] = {CF_STREAM_EV_DRAIN, CF_STREAM_EV_FINISH, CF_STREAM_EV_ERROR,
                             CF_STREAM_EV_CLOSE};
    for (size_t i = 0; i < 4; i++)
        ASSERT_OK(cf_stream_on(w, evs[i], note, k));
    return w;
}

/* The first write goes alone; what queues behind it comes in one writev, in order. */
static void test_stream_writev_gets_the_queued_chunks(void)
{
    cf_loop *loop = loop_new();
    vsink k = {.loop = loop};
    cf_stream *w = vsink_new(loop, &k);
    const char *parts[] = {"ab", "cd", "ef", "gh", "ij", "kl"};
    for (size_t i = 0; i < 6; i++)
        ASSERT_EQ(cf_stream_write(w, parts[i], 2), i < 3 ? 0 : CF_STREAM_FULL);
    ASSERT_EQ(cf_stream_writable_length(w), 12);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(k.writes, 1);
    ASSERT_EQ(k.batches, 1);
    ASSERT_EQ(k.last_n, 5);
    ASSERT_STR_EQ(k.text, "abcdefghijkl");
    ASSERT_EQ(cf_stream_writable_length(w), 0);
    ASSERT_STR_EQ(k.events, "D"); /* one drain, once all of the batch was written */
    /* a lone chunk is a plain write; then the end: finish and close, as without writev */
    ASSERT_OK(cf_stream_write(w, "m", 1));
    ASSERT_OK(cf_stream_end(w));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(k.writes, 2);
    ASSERT_STR_EQ(k.text, "abcdefghijklm");
    ASSERT_STR_EQ(k.events, "DFC");
    ASSERT(cf_stream_writable_finished(w));
    close_and_finish(loop, w);
}

/* A failed writev fails every chunk of its batch and the stream; what queued later is dropped. */
static void test_stream_writev_error_fails_the_batch(void)
{
    cf_loop *loop = loop_new();
    vsink k = {.loop = loop};
    cf_stream *w = vsink_new(loop, &k);
    ASSERT_OK(cf_stream_write(w, "ab", 2));
    ASSERT_OK(cf_stream_write(w, "cd", 2));
    ASSERT_OK(cf_stream_write(w, "ef", 2));
    for (int i = 0; i < 10 && k.batches == 0; i++)
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0); /* the first write completes: the batch starts */
    ASSERT_EQ(k.batches, 1);
    k.fail = 1;
    ASSERT_EQ(cf_stream_write(w, "gh", 2), 0); /* queued behind the batch */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(k.batches, 1);
    ASSERT_STR_EQ(k.text, "abcdef");
    ASSERT_STR_EQ(k.events, "EC");
    ASSERT(cf_stream_is_destroyed(w));
    ASSERT(!cf_stream_writable_finished(w));
    ASSERT_EQ(cf_stream_error(w)->code, CF_EIO);
    ASSERT_EQ(cf_stream_write(w, "ij", 2), CF_ECLOSED);
    close_and_finish(loop, w);
}

/* ---- cf_stream_take_object ---- */

static void free_tag(void *obj)
{
    cf_free(obj);
}

static void *tag_new(int v)
{
    int *p = cf_malloc(sizeof *p);
    ASSERT_PTR(p);
    *p = v;
    return p;
}

/* Passes every even object on as it is, drops the odd ones (which the stream frees). */
static void even_transform(cf_stream *s, const void *obj, size_t len, void *data)
{
    (void)data;
    ASSERT_EQ(len, 1);
    if (*(const int *)obj % 2 == 0) {
        void *mine = cf_stream_take_object(s);
        ASSERT(mine == obj);
        ASSERT(!cf_stream_take_object(s)); /* taken already */
        ASSERT(cf_stream_push_object(s, mine) >= 0);
    }
    cf_stream_done(s, NULL);
    ASSERT(!cf_stream_take_object(s)); /* nothing pending any more */
}

static const cf_stream_impl even_impl = {.transform = even_transform};

typedef struct seen {
    const void *ptrs[16];
    int vals[16];
    int n;
} seen;

static void on_obj(cf_stream *s, const void *obj, size_t len, void *data)
{
    seen *q = data;
    (void)s;
    (void)len;
    ASSERT(q->n < 16);
    q->ptrs[q->n] = obj;
    q->vals[q->n++] = *(const int *)obj;
}

static void test_stream_take_object_passes_it_on(void)
{
    cf_loop *loop = loop_new();
    cf_stream *t;
    cf_stream_options o = {.flags = CF_STREAM_OBJECTS, .free_object = free_tag};
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &even_impl, &o, NULL, &t));
    ASSERT(!cf_stream_take_object(t)); /* no transform running */
    seen q = {0};
    ASSERT_OK(cf_stream_on_data(t, on_obj, &q));
    void *sent[6];
    for (int i = 0; i < 6; i++) {
        sent[i] = tag_new(i);
        ASSERT(cf_stream_write_object(t, sent[i]) >= 0);
    }
    ASSERT_OK(cf_stream_end(t));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(q.n, 3);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(q.vals[i], 2 * i);
        ASSERT(q.ptrs[i] == sent[2 * i]); /* the very object written: no copy */
    }
    /* a bytes stream has no object to give */
    cf_stream *b;
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &even_impl, NULL, NULL, &b));
    ASSERT(!cf_stream_take_object(b));
    ASSERT(!cf_stream_take_object(NULL));
    ASSERT_OK(cf_stream_close(b, NULL, NULL));
    close_and_finish(loop, t); /* the harness finds no leak: every object freed once */
}

/* ---- the file write streams ---- */

/*
 * Writes `total` bytes of the pattern in small chunks (1 to 61 bytes), waiting for the drain
 * whenever a write says the stream is full, then ends it. `reported` is what the stream has
 * reported written: everything sent before its last drain.
 */
typedef struct producer {
    cf_stream *w;
    size_t total;
    size_t sent;
    size_t chunks;
    size_t reported;
    int finished;
    int error;
    char message[512];
} producer;

static void produce(producer *p)
{
    while (p->sent < p->total) {
        size_t n = 1 + (p->chunks * 7) % 61;
        if (n > p->total - p->sent)
            n = p->total - p->sent;
        unsigned char buf[64];
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern_byte(p->sent + i);
        int rc = cf_stream_write(p->w, buf, n);
        p->sent += n;
        p->chunks++;
        if (rc != 0)
            return; /* full: the drain goes on; failed: the error event says why */
    }
    ASSERT_OK(cf_stream_end(p->w));
}

static void on_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    producer *p = data;
    (void)s;
    if (ev == CF_STREAM_EV_DRAIN) {
        p->reported = p->sent;
        produce(p);
    } else if (ev == CF_STREAM_EV_FINISH) {
        p->finished = 1;
        p->reported = p->sent;
    } else if (ev == CF_STREAM_EV_ERROR) {
        p->error = err->code;
        snprintf(p->message, sizeof p->message, "%s", err->message);
    }
}

/* Run the producer into a new write stream on `path`; returns the write system calls made. */
static long run_producer(const char *path, unsigned flags, producer *p)
{
    cf_loop *loop = loop_new();
    p->sent = p->chunks = p->reported = 0;
    p->finished = p->error = 0;
    ASSERT_OK(cf_stream_fs_write_new(loop, path, flags, 0, &p->w));
    ASSERT_OK(cf_stream_on(p->w, CF_STREAM_EV_DRAIN, on_event, p));
    ASSERT_OK(cf_stream_on(p->w, CF_STREAM_EV_FINISH, on_event, p));
    ASSERT_OK(cf_stream_on(p->w, CF_STREAM_EV_ERROR, on_event, p));
    long before = cf__sys_calls(CF__SYS_WRITE);
    produce(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    long calls = cf__sys_calls(CF__SYS_WRITE) - before;
    close_and_finish(loop, p->w);
    return calls;
}

/* The file holds the first `len` bytes of the pattern, nothing else. */
static void check_prefix(const char *path, size_t len)
{
    FILE *f = fopen(path, "rb");
    ASSERT_PTR(f);
    static unsigned char block[65536];
    size_t i = 0, n;
    while ((n = fread(block, 1, sizeof block, f)) > 0) {
        for (size_t k = 0; k < n; k++, i++)
            if (block[k] != pattern_byte(i))
                CF_TEST_FAILF("%s: byte %zu differs", path, i);
    }
    fclose(f);
    ASSERT_EQ(i, len);
}

static void test_stream_fs_write_batches_small_writes(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "out.bin");
    producer p = {.total = 1 << 20};
    long calls = run_producer(path, 0, &p);
    ASSERT(p.finished);
    ASSERT_EQ(p.error, 0);
    check_prefix(path, p.total);
    /* ~33,800 chunks; one writev per batch of up to CF_STREAM_WRITEV_MAX of them */
    ASSERT(p.chunks > 30000);
    ASSERT_GE(calls, (long)(p.chunks / CF_STREAM_WRITEV_MAX));
    ASSERT_LE(calls, (long)(p.chunks / 200));
    /* the atomic stream takes the same batches into its writer: the same file */
    char apath[512];
    cf_test_path(apath, sizeof apath, "atomic.bin");
    calls = run_producer(apath, CF_STREAM_FS_ATOMIC, &p);
    ASSERT(p.finished);
    check_prefix(apath, p.total);
    ASSERT_LE(calls, (long)(p.chunks / 200));
}

/* A short write in a batch: the rest of the batch follows from where it stopped. */
static void test_stream_fs_write_short_write_goes_on(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "out.bin");
    producer p = {.total = 200000};
    /* call 1 is the lone first write; call 2 the first batch, cut after 1 byte */
    cf__sys_fault_set(CF__SYS_WRITE, 2, 1);
    long calls = run_producer(path, 0, &p);
    cf__sys_fault_clear();
    ASSERT(p.finished);
    ASSERT_EQ(p.error, 0);
    check_prefix(path, p.total);
    ASSERT_LE(calls, (long)(p.chunks / 200) + 1);
}

/* A write that fails in the middle of the run: the stream's error; no later write happens. */
static void test_stream_fs_write_batch_error(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "out.bin");
    producer p = {.total = 1 << 20};
    /* call 1 is the lone first write, then batches of up to 1024 chunks; a drain comes after
     * every ~64 KiB, so by call 10 some bytes have been reported written */
    cf__sys_fault_set(CF__SYS_WRITE, 10, CF_ENOSPC);
    long calls = run_producer(path, 0, &p);
    cf__sys_fault_clear();
    ASSERT(!p.finished);
    ASSERT_EQ(p.error, CF_ENOSPC);
    ASSERT(strstr(p.message, "write '"));
    ASSERT(strstr(p.message, "out.bin"));
    ASSERT_EQ(calls, 10);
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_GE((size_t)st.st_size, p.reported); /* nothing reported written is missing */
    ASSERT(p.reported > 0);
    check_prefix(path, (size_t)st.st_size);
}

/*
 * A real file size limit (RLIMIT_FSIZE) reached inside a batch: the kernel writes up to the
 * limit (a short writev), the next call fails with EFBIG, which is the stream's error. The
 * file holds exactly the bytes up to the limit, in order.
 */
static void test_stream_fs_write_file_size_limit_mid_batch(void)
{
    char path[512];
    cf_test_path(path, sizeof path, "out.bin");
    const size_t limit = 100003; /* not on a chunk boundary */
    struct rlimit old;
    ASSERT_OK(getrlimit(RLIMIT_FSIZE, &old));
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < limit) {
        printf("# RLIMIT_FSIZE already below %zu: skipped\n", limit);
        return;
    }
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = limit, .rlim_max = old.rlim_max};
    ASSERT_OK(setrlimit(RLIMIT_FSIZE, &lim));
    producer p = {.total = 1 << 20};
    run_producer(path, 0, &p);
    ASSERT_OK(setrlimit(RLIMIT_FSIZE, &old));
    signal(SIGXFSZ, prev);
    ASSERT(!p.finished);
    ASSERT_EQ(p.error, CF_EFBIG);
    ASSERT(strstr(p.message, "out.bin"));
    ASSERT_LE(p.reported, limit);
    ASSERT(p.sent > limit);
    check_prefix(path, limit);
}

static void on_close_count(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    (void)ev;
    (void)err;
    (*(int *)data)++;
}

/* Destroyed while a write waits for its batch to start: nothing more is written, no leak. */
static void test_stream_fs_write_destroy_before_the_batch(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "out.txt");
    cf_stream *w;
    ASSERT_OK(cf_stream_fs_write_new(loop, path, 0, 0, &w));
    int closes = 0;
    ASSERT_OK(cf_stream_on(w, CF_STREAM_EV_CLOSE, on_close_count, &closes));
    ASSERT_OK(cf_stream_write(w, "first,", 6));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* the file is open and holds the first chunk */
    ASSERT_OK(cf_stream_write(w, "second,", 7));
    ASSERT_OK(cf_stream_write(w, "third", 5));
    ASSERT_OK(cf_stream_destroy(w, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(closes, 1);
    ASSERT(!cf_stream_writable_finished(w));
    FILE *f = fopen(path, "rb");
    ASSERT_PTR(f);
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    ASSERT_STR_EQ(buf, "first,");
    close_and_finish(loop, w);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_stream_writev_gets_the_queued_chunks);
    CF_TEST(test_stream_writev_error_fails_the_batch);
    CF_TEST(test_stream_take_object_passes_it_on);
    CF_TEST(test_stream_fs_write_batches_small_writes);
    CF_TEST(test_stream_fs_write_short_write_goes_on);
    CF_TEST(test_stream_fs_write_batch_error);
    CF_TEST(test_stream_fs_write_file_size_limit_mid_batch);
    CF_TEST(test_stream_fs_write_destroy_before_the_batch);
    return CF_TEST_END();
}
