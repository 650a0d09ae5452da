/*
 * Cancelling file operations with an abort signal: a signal already aborted fails every kind
 * of operation from the loop (callback and promise forms) without doing anything, the error
 * is CF_ECANCELED with the reason as its cause and the starting line as its place; a timeout
 * signal ends an open that waits for a FIFO's peer (open, read_file, write_file, atomic
 * write_file, the writer's open) with cause CF_ETIMEDOUT; a signal that outlives its
 * operations holds nothing of them.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 60 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

typedef struct seen {
    int calls;
    int status;
    int cause;
    int has_site;
    char message[256];
} seen;

static void note(seen *s, int status, const cf_error *err)
{
    s->calls++;
    s->status = status;
    ASSERT_EQ(err != NULL, status < 0);
    if (err) {
        snprintf(s->message, sizeof s->message, "%s", err->message);
        s->cause = cf_error_cause(err) ? cf_error_cause(err)->code : 0;
        s->has_site = err->file != NULL;
    }
}

static void on_plain(int status, const cf_error *err, void *data)
{
    note(data, status, err);
}

static void on_data(int status, const cf_error *err, const char *bytes, size_t len, void *data)
{
    ASSERT(status < 0 ? bytes == NULL && len == 0 : bytes != NULL);
    note(data, status, err);
}

static void on_stat(int status, const cf_error *err, const cf_stat *st, void *data)
{
    ASSERT(status < 0 ? st == NULL : st != NULL);
    note(data, status, err);
}

static void on_dir(int status, const cf_error *err, const cf_dirlist *list, void *data)
{
    ASSERT(status < 0 ? list == NULL : list != NULL);
    note(data, status, err);
}

static void on_path(int status, const cf_error *err, const char *path, void *data)
{
    ASSERT(status < 0 ? path == NULL : path != NULL);
    note(data, status, err);
}

static void expect_aborted(const seen *s, int cause)
{
    ASSERT_EQ(s->calls, 1);
    ASSERT_EQ(s->status, CF_ECANCELED);
    ASSERT_STR_EQ(s->message, "The operation was aborted");
    ASSERT_EQ(s->cause, cause);
    ASSERT(s->has_site);
}

enum { KINDS = 18 };

/* Every kind of operation, with a signal aborted before the call: none starts. */
static void test_fs_abort_already_aborted_every_kind(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    char file[512];
    char made[512];
    char dir[512];
    cf_test_path(file, sizeof file, "f.txt");
    cf_test_path(made, sizeof made, "made.txt");
    cf_test_path(dir, sizeof dir, "sub");
    FILE *f = fopen(file, "w");
    ASSERT_PTR(f);
    fputs("hello", f);
    fclose(f);
    int fd = open(file, O_RDWR | O_CLOEXEC);
    ASSERT(fd >= 0);
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_EPERM, "user stopped it")));
    cf_abort_signal *sig = cf_abort_get_signal(ctrl);
    seen s[KINDS];
    memset(s, 0, sizeof s);
    char buf[16];
    int k = 0;
    ASSERT_OK(cf_fs_open(loop, made, O_WRONLY | O_CREAT, 0644, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_close(loop, fd, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_read(loop, fd, buf, sizeof buf, 0, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_write(loop, fd, "x", 1, 0, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_fsync(loop, fd, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_read_file(loop, file, sig, on_data, &s[k++]));
    ASSERT_OK(cf_fs_write_file(loop, made, "a", 1, CF_FS_ATOMIC, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_append_file(loop, made, "a", 1, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_rename(loop, file, made, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_unlink(loop, file, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_mkdir(loop, dir, 0755, 0, sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_rmdir(loop, cf_test_tmpdir(), sig, on_plain, &s[k++]));
    ASSERT_OK(cf_fs_readdir(loop, cf_test_tmpdir(), sig, on_dir, &s[k++]));
    ASSERT_OK(cf_fs_realpath(loop, file, sig, on_path, &s[k++]));
    ASSERT_OK(cf_fs_mkstemp(loop, cf_test_tmpdir(), "t-", sig, on_path, &s[k++]));
    ASSERT_OK(cf_fs_stat(loop, file, sig, on_stat, &s[k++]));
    ASSERT_OK(cf_fs_lstat(loop, file, sig, on_stat, &s[k++]));
    ASSERT_OK(cf_fs_fstat(loop, fd, sig, on_stat, &s[k++]));
    ASSERT_EQ(k, KINDS);
    for (int i = 0; i < KINDS; i++) {
        ASSERT_EQ(s[i].calls, 0); /* never inside the call */
    }
    cf_abort_free(ctrl); /* the operations hold their own references */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    for (int i = 0; i < KINDS; i++) {
        expect_aborted(&s[i], CF_EPERM);
    }
    /* Nothing ran: the file is there, unchanged, and still open; nothing new was made. */
    struct stat st;
    ASSERT_OK(stat(file, &st));
    ASSERT_EQ(st.st_size, 5);
    ASSERT_EQ(stat(made, &st), -1);
    ASSERT_EQ(stat(dir, &st), -1);
    ASSERT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    close(fd);
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct p_seen {
    int state;
    int code;
    int cause;
} p_seen;

static void p_note(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    p_seen *o = data;
    o->state = cf_promise_state(settled);
    o->code = cf_promise_code(settled);
    const cf_error *e = cf_promise_error(settled);
    o->cause = e && cf_error_cause(e) ? cf_error_cause(e)->code : 0;
}

/* The promise forms reject the same way. */
static void test_fs_abort_promise_forms_reject(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    char file[512];
    cf_test_path(file, sizeof file, "p.txt");
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_EPERM, "no")));
    cf_abort_signal *sig = cf_abort_get_signal(ctrl);
    cf_promise *ps[5] = {
        cf_fs_read_file_p(loop, file, sig),
        cf_fs_write_file_p(loop, file, "x", 1, 0, sig),
        cf_fs_stat_p(loop, file, sig),
        cf_fs_readdir_p(loop, cf_test_tmpdir(), sig),
        cf_fs_mkstemp_p(loop, cf_test_tmpdir(), "t-", sig),
    };
    p_seen o[5];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 5; i++) {
        ASSERT_PTR(ps[i]);
        cf_promise_release(cf_promise_then(ps[i], p_note, p_note, &o[i]));
    }
    cf_abort_free(ctrl);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(o[i].state, CF_PROMISE_REJECTED);
        ASSERT_EQ(o[i].code, CF_ECANCELED);
        ASSERT_EQ(o[i].cause, CF_EPERM);
        cf_promise_release(ps[i]);
    }
    struct stat st;
    ASSERT_EQ(stat(file, &st), -1); /* the write never ran */
    ASSERT_OK(cf_loop_close(loop));
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void writer_done(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    note(data, status, err);
}

/*
 * Opens that wait for a FIFO's peer, which never comes, are ended by a timeout signal: each
 * reports the abort with cause CF_ETIMEDOUT, well before the test's own limit, and nothing is
 * left open (the harness counts the blocks; the loop closes).
 */
static void test_fs_abort_timeout_ends_fifo_wait(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    char fifo[512];  /* opened for writing only: no reader comes */
    char rfifo[512]; /* opened for reading only: no writer comes */
    cf_test_path(fifo, sizeof fifo, "pipe");
    cf_test_path(rfifo, sizeof rfifo, "rpipe");
    ASSERT_OK(mkfifo(fifo, 0600));
    ASSERT_OK(mkfifo(rfifo, 0600));
    cf_abort_signal *deadline;
    ASSERT_OK(cf_abort_signal_timeout(loop, 50, &deadline));
    seen s[5];
    memset(s, 0, sizeof s);
    ASSERT_OK(cf_fs_open(loop, fifo, O_WRONLY, 0, deadline, on_plain, &s[0]));
    ASSERT_OK(cf_fs_open(loop, rfifo, O_RDONLY, 0, deadline, on_plain, &s[1]));
    ASSERT_OK(cf_fs_write_file(loop, fifo, "data", 4, 0, deadline, on_plain, &s[2]));
    ASSERT_OK(cf_fs_write_file(loop, fifo, "data", 4, CF_FS_ATOMIC, deadline, on_plain, &s[3]));
    cf_fs_writer *w = NULL;
    ASSERT_OK(cf_fs_writer_open(loop, fifo, 0, deadline, &w));
    ASSERT_OK(cf_fs_writer_commit(w, writer_done, &s[4]));
    cf_promise *p = cf_fs_read_file_p(loop, rfifo, deadline);
    p_seen po = {0};
    cf_promise_release(cf_promise_then(p, p_note, p_note, &po));
    uint64_t t0 = now_ms();
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    uint64_t took = now_ms() - t0;
    ASSERT_GE(took, 40);
    ASSERT_LE(took, 5000);
    for (int i = 0; i < 5; i++) {
        expect_aborted(&s[i], CF_ETIMEDOUT);
    }
    ASSERT_EQ(po.state, CF_PROMISE_REJECTED);
    ASSERT_EQ(po.code, CF_ECANCELED);
    ASSERT_EQ(po.cause, CF_ETIMEDOUT);
    cf_promise_release(p);
    cf_abort_signal_release(deadline);
    /* Nothing was left beside the FIFO (no temporary file of the atomic forms). */
    DIR *d = opendir(cf_test_tmpdir());
    ASSERT_PTR(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        entries += e->d_name[0] != '.';
    }
    closedir(d);
    ASSERT_EQ(entries, 2);
    struct stat st;
    ASSERT_OK(stat(fifo, &st));
    ASSERT(S_ISFIFO(st.st_mode));
    ASSERT_OK(cf_loop_close(loop));
}

/* An abort after the operations completed changes nothing: no listener is left. */
static void test_fs_abort_after_completion_is_ignored(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    char file[512];
    cf_test_path(file, sizeof file, "done.txt");
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    seen a = {0};
    seen b = {0};
    ASSERT_OK(cf_fs_write_file(loop, file, "abc", 3, 0, cf_abort_get_signal(ctrl), on_plain, &a));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_fs_stat(loop, file, cf_abort_get_signal(ctrl), on_stat, &b));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_abort(ctrl, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(a.calls, 1);
    ASSERT_EQ(a.status, 0);
    ASSERT_EQ(b.calls, 1);
    ASSERT_EQ(b.status, 0);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_fs_abort_already_aborted_every_kind);
    CF_TEST(test_fs_abort_promise_forms_reject);
    CF_TEST(test_fs_abort_timeout_ends_fifo_wait);
    CF_TEST(test_fs_abort_after_completion_is_ignored);
    return CF_TEST_END();
}
