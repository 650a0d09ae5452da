/*
 * File-to-file copies in the kernel: cf_fs_copy_file_range (both forms, the copy through
 * memory where copy_file_range is refused, the abort), and the fast path it gives a pipe or
 * pipeline from a file read stream straight into a file write stream: the bytes arrive
 * identical, the streams emit the same events in the same order as an ordinary pipe, a failed
 * copy fails the pipeline, and an abort in the middle leaves no partial atomic output.
 */
/* ctest-timeout: 300 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "util/sys.h"

#define MIB (1024 * 1024)

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 131 + i / 4093) & 0xff);
}

static void write_pattern(const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_PTR(f);
    static unsigned char block[65536];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof block ? len - done : sizeof block;
        for (size_t i = 0; i < n; i++)
            block[i] = pattern_byte(done + i);
        ASSERT_EQ(fwrite(block, 1, n, f), n);
        done += n;
    }
    ASSERT_OK(fclose(f));
}

static void check_pattern(const char *path, size_t len)
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

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ASSERT_PTR(f);
    fputs(text, f);
    ASSERT_OK(fclose(f));
}

static void check_text(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    ASSERT_PTR(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    ASSERT_STR_EQ(buf, text);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_PTR(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- cf_fs_copy_file_range ---- */

typedef struct copier {
    cf_loop *loop;
    int in, out;
    int64_t off;
    int calls;
    int status;
    size_t total;
} copier;

static void on_copied(int status, const cf_error *err, void *data)
{
    copier *c = data;
    c->calls++;
    c->status = status;
    ASSERT((status < 0) == (err != NULL));
    if (status <= 0)
        return;
    c->total += (size_t)status;
    c->off += status;
    /* 1 MiB a call, so that a 3 MiB file takes several calls from advancing offsets */
    ASSERT_OK(cf_fs_copy_file_range(c->loop, c->in, c->off, c->out, -1, MIB, NULL, on_copied, c));
}

static void copy_whole(cf_loop *loop, const char *in, const char *out, copier *c)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->in = open(in, O_RDONLY | O_CLOEXEC);
    c->out = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT(c->in >= 0 && c->out >= 0);
    ASSERT_OK(cf_fs_copy_file_range(loop, c->in, 0, c->out, -1, MIB, NULL, on_copied, c));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    close(c->in);
    close(c->out);
}

static void test_fs_copy_file_range_callback(void)
{
    cf_loop *loop = loop_new();
    char in[512], out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    size_t len = 3 * MIB + 17;
    write_pattern(in, len);
    copier c;
    copy_whole(loop, in, out, &c);
    ASSERT_EQ(c.status, 0); /* the last call reports the end of the input */
    ASSERT_EQ(c.calls, 5);
    ASSERT_EQ(c.total, len);
    check_pattern(out, len);
    /* copy_file_range refused (another file system, say): the bytes go through memory */
    cf__sys_fault_set(CF__SYS_COPY, 2, CF_EXDEV);
    copy_whole(loop, in, out, &c);
    cf__sys_fault_clear();
    ASSERT_EQ(c.status, 0);
    ASSERT_EQ(c.total, len);
    check_pattern(out, len);
    /* a real failure is reported, naming the call */
    cf__sys_fault_set(CF__SYS_COPY, 1, CF_EIO);
    copy_whole(loop, in, out, &c);
    cf__sys_fault_clear();
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.status, CF_EIO);
    /* bad arguments do not start */
    ASSERT_EQ(cf_fs_copy_file_range(loop, -1, 0, 1, 0, 1, NULL, on_copied, &c), CF_EINVAL);
    ASSERT_EQ(cf_fs_copy_file_range(loop, 0, -2, 1, 0, 1, NULL, on_copied, &c), CF_EINVAL);
    ASSERT_EQ(cf_fs_copy_file_range(loop, 0, 0, 1, 0, 1, NULL, NULL, &c), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

static void settled_ignore(cf_promise *settled, void *data)
{
    (void)settled;
    (void)data;
}

/* `p` with a handler, so that its rejection is not reported as unhandled. */
static cf_promise *handled(cf_promise *p)
{
    ASSERT_PTR(p);
    ASSERT_OK(cf_promise_on_settle(p, settled_ignore, NULL));
    return p;
}

static void test_fs_copy_file_range_promise_and_abort(void)
{
    cf_loop *loop = loop_new();
    char in[512], out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    write_pattern(in, 100000);
    int fi = open(in, O_RDONLY | O_CLOEXEC);
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT(fi >= 0 && fo >= 0);
    cf_promise *p = cf_fs_copy_file_range_p(loop, fi, 0, fo, 0, 1 << 20, NULL);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_EQ((intptr_t)cf_promise_value(p), 100000);
    cf_promise_release(p);
    check_pattern(out, 100000);
    /* an aborted signal: nothing is copied, the promise rejects with the abort */
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, NULL));
    ASSERT_OK(ftruncate(fo, 0));
    p = handled(cf_fs_copy_file_range_p(loop, fi, 0, fo, 0, 1 << 20, cf_abort_get_signal(ctrl)));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    cf_promise_release(p);
    struct stat st;
    ASSERT_OK(fstat(fo, &st));
    ASSERT_EQ(st.st_size, 0);
    /* a bad descriptor rejects, never fails synchronously */
    p = handled(cf_fs_copy_file_range_p(loop, -1, 0, fo, 0, 1, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(p), CF_EINVAL);
    cf_promise_release(p);
    cf_abort_free(ctrl);
    close(fi);
    close(fo);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the fast path of pipe and pipeline ---- */

typedef struct trace {
    char log[512];
    int calls;
    int status;
    char message[256];
    size_t data_events;
} trace;

static void on_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    trace *t = data;
    static const char *const names[] = {"data",   "readable", "end",   "drain", "prefinish",
                                        "finish", "error",    "close", "pause", "resume"};
    (void)err;
    if (ev == CF_STREAM_EV_DRAIN || ev == CF_STREAM_EV_PAUSE || ev == CF_STREAM_EV_RESUME)
        return; /* backpressure: chunk by chunk only, none when nothing is chunked */
    size_t n = strlen(t->log);
    snprintf(t->log + n, sizeof t->log - n, "%s%c:%s", n ? " " : "",
             cf_stream_get_kind(s) == CF_STREAM_READABLE ? 'r' : 'w', names[ev]);
}

static void listen_all(cf_stream *s, trace *t)
{
    for (int ev = CF_STREAM_EV_READABLE + 1; ev < CF_STREAM_EV_COUNT; ev++)
        ASSERT_OK(cf_stream_on(s, (cf_stream_event)ev, on_event, t));
}

static void on_done(cf_stream *s, int status, const cf_error *err, void *data)
{
    trace *t = data;
    (void)s;
    t->calls++;
    t->status = status;
    snprintf(t->message, sizeof t->message, "%s", err ? cf_error_message(err) : "");
    size_t n = strlen(t->log);
    snprintf(t->log + n, sizeof t->log - n, " done");
}

static void count_data(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)s, (void)chunk, (void)len;
    ((trace *)data)->data_events++;
}

/*
 * Copy `in` to `out` through a pipeline of two file streams and return its trace; `slow`
 * adds a second reader (a 'data' listener) to the source, which keeps the ordinary path.
 */
static void copy_pipeline(const char *in, const char *out, unsigned flags, int slow, trace *t)
{
    cf_loop *loop = loop_new();
    memset(t, 0, sizeof *t);
    cf_stream *st[2];
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 0, &st[0]));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, flags, 0, &st[1]));
    listen_all(st[0], t);
    listen_all(st[1], t);
    if (slow)
        ASSERT_OK(cf_stream_on_data(st[0], count_data, t));
    ASSERT_OK(cf_stream_pipeline(st, 2, NULL, on_done, t));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(t->calls, 1);
    ASSERT_OK(cf_stream_close(st[0], NULL, NULL));
    ASSERT_OK(cf_stream_close(st[1], NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* The events of one side ('r' or 'w') of a trace, in order. */
static void side_events(const char *log, char side, char *out, size_t len)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", log);
    out[0] = '\0';
    for (char *save, *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        size_t n = strlen(out);
        if (tok[0] == side)
            snprintf(out + n, len - n, "%s%s", n ? " " : "", tok);
    }
}

static void test_stream_copy_fast_path_plain_and_atomic(void)
{
    char in[512], out[512], out2[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    cf_test_path(out2, sizeof out2, "out2.bin");
    size_t len = 40 * MIB + 17; /* three 16 MiB copies, the last one short */
    write_pattern(in, len);
    static const unsigned modes[] = {0, CF_STREAM_FS_ATOMIC};
    for (size_t m = 0; m < 2; m++) {
        trace fast, slow;
        copy_pipeline(in, out, modes[m], 0, &fast);
        copy_pipeline(in, out2, modes[m], 1, &slow);
        ASSERT_EQ(fast.status, 0);
        ASSERT_EQ(slow.status, 0);
        check_pattern(out, len);
        check_pattern(out2, len);
        ASSERT(slow.data_events > 0);
        /* each stream emits the same events, in the same order, as on the ordinary path, and
         * the pipeline's callback comes after them all (how the two streams' events
         * interleave depends on which pool job ends first: closing the source's file or
         * committing the output) */
        char fr[256], fw[256], sr[256], sw[256];
        side_events(fast.log, 'r', fr, sizeof fr);
        side_events(fast.log, 'w', fw, sizeof fw);
        side_events(slow.log, 'r', sr, sizeof sr);
        side_events(slow.log, 'w', sw, sizeof sw);
        ASSERT_STR_EQ(fr, "r:end r:close");
        ASSERT_STR_EQ(fw, "w:prefinish w:finish w:close");
        ASSERT_STR_EQ(sr, fr);
        ASSERT_STR_EQ(sw, fw);
        ASSERT(strlen(fast.log) > 5 && strcmp(fast.log + strlen(fast.log) - 5, " done") == 0);
        ASSERT_EQ(entries(cf_test_tmpdir()), 3); /* no temporary file left */
    }
    /* an O_APPEND output: copy_file_range refuses it, the copy goes through memory */
    write_text(out, "head");
    trace ap;
    copy_pipeline(in, out, CF_STREAM_FS_APPEND, 0, &ap);
    ASSERT_EQ(ap.status, 0);
    FILE *f = fopen(out, "rb");
    ASSERT_PTR(f);
    char head[4];
    ASSERT_EQ(fread(head, 1, 4, f), 4);
    ASSERT(memcmp(head, "head", 4) == 0);
    ASSERT_OK(fseek(f, 0, SEEK_END));
    ASSERT_EQ((size_t)ftell(f), len + 4);
    fclose(f);
    /* an empty file copies to an empty file */
    write_text(in, "");
    trace t;
    copy_pipeline(in, out, CF_STREAM_FS_ATOMIC, 0, &t);
    ASSERT_EQ(t.status, 0);
    check_text(out, "");
}

static void test_stream_copy_fast_path_failure(void)
{
    char in[512], out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    write_pattern(in, 100000);
    write_text(out, "previous");
    /* the copy fails (only the fast path calls copy_file_range): the pipeline fails with a
     * message naming both files, and the atomic output keeps the previous file */
    cf__sys_fault_set(CF__SYS_COPY, 1, CF_EIO);
    trace t;
    copy_pipeline(in, out, CF_STREAM_FS_ATOMIC, 0, &t);
    cf__sys_fault_clear();
    ASSERT_EQ(t.status, CF_EIO);
    ASSERT(strstr(t.message, "copy '") && strstr(t.message, "in.bin' to '") &&
           strstr(t.message, "out.bin'"));
    check_text(out, "previous");
    ASSERT_EQ(entries(cf_test_tmpdir()), 2);
    /* refused by the kernel: the copy goes through memory and succeeds */
    cf__sys_fault_set(CF__SYS_COPY, 1, CF_EXDEV);
    copy_pipeline(in, out, CF_STREAM_FS_ATOMIC, 0, &t);
    cf__sys_fault_clear();
    ASSERT_EQ(t.status, 0);
    check_pattern(out, 100000);
    /* the output's folder does not exist: the write stream's error, as without the fast path */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir.bin", cf_test_tmpdir());
    copy_pipeline(in, bad, 0, 0, &t);
    ASSERT_EQ(t.status, CF_ENOENT);
    copy_pipeline(in, bad, CF_STREAM_FS_ATOMIC, 0, &t);
    ASSERT_EQ(t.status, CF_ENOENT);
}

/* The temporary file beside `out` grew past 0 bytes (the copy has begun and not ended). */
static int temp_written(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_PTR(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".tmp-"))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        found |= stat(p, &st) == 0 && st.st_size > 0;
    }
    closedir(d);
    return found;
}

static void test_stream_copy_abort_mid_copy(void)
{
    cf_loop *loop = loop_new();
    char in[512], out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    write_pattern(in, 96 * MIB); /* six copies of 16 MiB */
    write_text(out, "previous");
    cf_stream *st[2];
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 0, &st[0]));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, CF_STREAM_FS_ATOMIC, 0, &st[1]));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    trace t = {0};
    ASSERT_OK(cf_stream_pipeline(st, 2, cf_abort_get_signal(ctrl), on_done, &t));
    int aborted = 0;
    for (int turns = 0; t.calls == 0 && turns < 100000; turns++) {
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
        if (!aborted && t.calls == 0 && temp_written(cf_test_tmpdir())) {
            ASSERT_OK(cf_abort(ctrl, NULL));
            aborted = 1;
        }
    }
    ASSERT(aborted);
    ASSERT_EQ(t.calls, 1);
    ASSERT_EQ(t.status, CF_ECANCELED);
    ASSERT_OK(cf_stream_close(st[0], NULL, NULL));
    ASSERT_OK(cf_stream_close(st[1], NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    /* no partial output: the previous file is whole, the temporary file is gone */
    check_text(out, "previous");
    ASSERT_EQ(entries(cf_test_tmpdir()), 2);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct finish_rec {
    int finished;
} finish_rec;

static void on_finish(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s, (void)ev, (void)err;
    ((finish_rec *)data)->finished++;
}

static void test_stream_copy_fast_path_bare_pipe(void)
{
    cf_loop *loop = loop_new();
    char in[512], out[512];
    cf_test_path(in, sizeof in, "in.bin");
    cf_test_path(out, sizeof out, "out.bin");
    size_t len = 5 * MIB + 3;
    write_pattern(in, len);
    cf_stream *r, *w;
    ASSERT_OK(cf_stream_fs_read_new(loop, in, 0, &r));
    ASSERT_OK(cf_stream_fs_write_new(loop, out, 0, 0, &w));
    finish_rec f = {0};
    ASSERT_OK(cf_stream_on(w, CF_STREAM_EV_FINISH, on_finish, &f));
    ASSERT_OK(cf_stream_pipe(r, w));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(f.finished, 1);
    ASSERT(cf_stream_writable_finished(w));
    check_pattern(out, len);
    ASSERT_OK(cf_stream_close(r, NULL, NULL));
    ASSERT_OK(cf_stream_close(w, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_fs_copy_file_range_callback);
    CF_TEST(test_fs_copy_file_range_promise_and_abort);
    CF_TEST(test_stream_copy_fast_path_plain_and_atomic);
    CF_TEST(test_stream_copy_fast_path_failure);
    CF_TEST(test_stream_copy_abort_mid_copy);
    CF_TEST(test_stream_copy_fast_path_bare_pipe);
    return CF_TEST_END();
}
