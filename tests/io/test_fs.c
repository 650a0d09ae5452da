/*
 * Files on the pool: every operation in callback and promise form, messages that name the
 * operation and the path, a full disk (/dev/full), a write that must fail (a read-only
 * folder, or for root a file used as a folder), offsets past 2 GiB on sparse files, atomic
 * replace that fails half way (the old file intact), and the atomic streaming writer.
 */
/* ctest-labels: tsan */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "harness.h"
#include "site_check.h"
#include "util/util.h"
#include "util/sys.h"

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

/* What a callback saw. */
typedef struct outcome {
    int calls;
    int status;
    char message[512];
    char bytes[4096];
    size_t len;
    cf_stat st;
    char names[8][64];
    int types[8];
    size_t count;
} outcome;

static void note(outcome *o, int status, const cf_error *err)
{
    o->calls++;
    o->status = status;
    if (status < 0) {
        ASSERT_PTR(err);
        ASSERT_EQ(err->code, status);
        snprintf(o->message, sizeof o->message, "%s", err->message);
    } else {
        ASSERT(err == NULL);
    }
}

static void on_plain(int status, const cf_error *err, void *data)
{
    note(data, status, err);
}

static void on_data(int status, const cf_error *err, const char *bytes, size_t len, void *data)
{
    outcome *o = data;
    note(o, status, err);
    if (status == 0) {
        ASSERT_EQ(bytes[len], '\0');
        o->len = len;
        memcpy(o->bytes, bytes, CF_MIN(len, sizeof o->bytes));
    }
}

static void on_stat(int status, const cf_error *err, const cf_stat *st, void *data)
{
    outcome *o = data;
    note(o, status, err);
    if (status == 0)
        o->st = *st;
}

static void on_dir(int status, const cf_error *err, const cf_dirlist *list, void *data)
{
    outcome *o = data;
    note(o, status, err);
    if (status == 0) {
        o->count = list->count;
        for (size_t i = 0; i < list->count && i < 8; i++) {
            snprintf(o->names[i], sizeof o->names[i], "%s", list->entries[i].name);
            o->types[i] = list->entries[i].type;
        }
    }
}

static void on_path(int status, const cf_error *err, const char *path, void *data)
{
    outcome *o = data;
    note(o, status, err);
    if (status >= 0)
        snprintf(o->bytes, sizeof o->bytes, "%s", path);
}

/* Run the loop until the callback has run once. */
static void wait_for(cf_loop *loop, outcome *o)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o->calls, 1);
}

static void write_plain_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ASSERT_PTR(f);
    fputs(text, f);
    fclose(f);
}

static void test_fs_write_then_read_file(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "films.csv");
    outcome o = {0};
    ASSERT_OK(cf_fs_write_file(loop, path, "id,title\r\n", 10, 0, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_append_file(loop, path, "1,Totoro\r\n", 10, NULL, on_plain, &o));
    wait_for(loop, &o);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_read_file(loop, path, NULL, on_data, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    ASSERT_EQ(o.len, 20);
    ASSERT_MEM_EQ(o.bytes, "id,title\r\n1,Totoro\r\n", 20);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_fs_missing_file_message(void)
{
    cf_loop *loop = loop_new();
    outcome o = {0};
    ASSERT_OK(cf_fs_read_file(loop, "no-such-dir/films.csv", NULL, on_data, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_ENOENT);
    ASSERT_STR_EQ(o.message, "open 'no-such-dir/films.csv': no such file or directory");
    ASSERT_EQ(cf_fs_read_file(loop, NULL, NULL, on_data, &o), CF_EINVAL);
    ASSERT_EQ(cf_fs_read_file(loop, "x", NULL, NULL, &o), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_fs_read_file_of_a_folder(void)
{
    cf_loop *loop = loop_new();
    outcome o = {0};
    ASSERT_OK(cf_fs_read_file(loop, cf_test_tmpdir(), NULL, on_data, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_EISDIR);
    ASSERT(strstr(o.message, "read '") == o.message);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_fs_full_disk(void)
{
    cf_loop *loop = loop_new();
    outcome o = {0};
    ASSERT_OK(cf_fs_write_file(loop, "/dev/full", "data", 4, 0, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_ENOSPC);
    ASSERT_STR_EQ(o.message, "write '/dev/full': no space left on device");
    ASSERT_OK(cf_loop_close(loop));
}

/*
 * A write that the system refuses. As an ordinary user: a folder with mode 0555. As root,
 * permission bits are not checked, so the folder trick cannot fail; a regular file used as a
 * folder component fails for everyone (CF_ENOTDIR), and the test uses it then.
 */
static void test_fs_write_refused(void)
{
    cf_loop *loop = loop_new();
    char dir[512];
    char path[600];
    int expect;
    if (geteuid() != 0) {
        cf_test_path(dir, sizeof dir, "readonly");
        ASSERT_OK(mkdir(dir, 0555));
        snprintf(path, sizeof path, "%s/out.csv", dir);
        expect = CF_EACCES;
    } else {
        cf_test_path(dir, sizeof dir, "plain-file");
        write_plain_file(dir, "x");
        snprintf(path, sizeof path, "%s/out.csv", dir);
        expect = CF_ENOTDIR;
    }
    outcome o = {0};
    ASSERT_OK(cf_fs_write_file(loop, path, "x", 1, CF_FS_ATOMIC, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, expect);
    ASSERT(strstr(o.message, "out.csv") != NULL);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_write_file(loop, path, "x", 1, 0, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, expect);
    char want[700];
    snprintf(want, sizeof want, "open '%s': %s", path, cf_strerror(expect));
    ASSERT_STR_EQ(o.message, want);
    if (geteuid() != 0)
        chmod(dir, 0755);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_fs_sparse_beyond_2gib(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "sparse.bin");
    outcome o = {0};
    ASSERT_OK(cf_fs_open(loop, path, O_RDWR | O_CREAT | O_TRUNC, 0644, NULL, on_plain, &o));
    wait_for(loop, &o);
    int fd = o.status;
    ASSERT(fd >= 0);
    const int64_t off = ((int64_t)5 << 30) + 123; /* 5 GiB: past every 32-bit limit */
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_write(loop, fd, "far away", 8, off, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, 8);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_fstat(loop, fd, NULL, on_stat, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.st.size, off + 8);
    ASSERT(o.st.blocks * 512 < ((int64_t)1 << 30)); /* sparse: almost nothing allocated */
    char buf[16] = {0};
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_read(loop, fd, buf, sizeof buf, off, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, 8);
    ASSERT_MEM_EQ(buf, "far away", 8);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_read(loop, fd, buf, sizeof buf, off + 8, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, 0); /* end of file */
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_fsync(loop, fd, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_close(loop, fd, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_close(loop, fd, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_EBADF);
    char want[64];
    snprintf(want, sizeof want, "close (fd %d): bad file descriptor", fd);
    ASSERT_STR_EQ(o.message, want);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_fs_atomic_replace(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "films.csv");
    write_plain_file(path, "old contents\n");
    chmod(path, 0640);
    outcome o = {0};
    ASSERT_OK(cf_fs_write_file(loop, path, "new contents\n", 13, CF_FS_ATOMIC, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_read_file(loop, path, NULL, on_data, &o));
    wait_for(loop, &o);
    ASSERT_MEM_EQ(o.bytes, "new contents\n", 13);
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0640); /* the mode of the file it replaced */
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_readdir(loop, cf_test_tmpdir(), NULL, on_dir, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.count, 1); /* no temporary file left behind */
    ASSERT_OK(cf_loop_close(loop));
}

/*
 * The write fails half way (an I/O error injected on the second write(2) of a 3 MiB file,
 * which is written 1 MiB at a time): the target keeps its old contents and the temporary file
 * is gone.
 */
static void test_fs_atomic_replace_fails_half_way(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "films.csv");
    write_plain_file(path, "old contents\n");
    size_t len = (size_t)3 << 20;
    char *big = malloc(len);
    ASSERT_PTR(big);
    memset(big, 'n', len);
    outcome o = {0};
    cf__sys_fault_set(CF__SYS_WRITE, 2, CF_EIO);
    ASSERT_OK(cf_fs_write_file(loop, path, big, len, CF_FS_ATOMIC, NULL, on_plain, &o));
    wait_for(loop, &o);
    cf__sys_fault_clear();
    ASSERT_EQ(o.status, CF_EIO);
    char want[600];
    snprintf(want, sizeof want, "write '%s': i/o error", path);
    ASSERT_STR_EQ(o.message, want);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_read_file(loop, path, NULL, on_data, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.len, 13);
    ASSERT_MEM_EQ(o.bytes, "old contents\n", 13);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_readdir(loop, cf_test_tmpdir(), NULL, on_dir, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.count, 1);
    ASSERT_STR_EQ(o.names[0], "films.csv");
    free(big);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_fs_folders_and_names(void)
{
    cf_loop *loop = loop_new();
    char deep[512];
    cf_test_path(deep, sizeof deep, "a/b/c");
    outcome o = {0};
    ASSERT_OK(cf_fs_mkdir(loop, deep, 0755, 0, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_ENOENT);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_mkdir(loop, deep, 0755, CF_FS_RECURSIVE, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_mkdir(loop, deep, 0755, CF_FS_RECURSIVE, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status); /* exists: fine when recursive */
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_mkdir(loop, deep, 0755, 0, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_EEXIST);

    char f1[512];
    char f2[512];
    cf_test_path(f1, sizeof f1, "a/one.txt");
    cf_test_path(f2, sizeof f2, "a/two.txt");
    write_plain_file(f1, "1");
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_rename(loop, f1, f2, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_rename(loop, f1, f2, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_ENOENT);
    char want[1200];
    snprintf(want, sizeof want, "rename '%s' -> '%s': no such file or directory", f1, f2);
    ASSERT_STR_EQ(o.message, want);

    char a[512];
    cf_test_path(a, sizeof a, "a");
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_readdir(loop, a, NULL, on_dir, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.count, 2);
    ASSERT_STR_EQ(o.names[0], "b");
    ASSERT_EQ(o.types[0], CF_DIRENT_DIR);
    ASSERT_STR_EQ(o.names[1], "two.txt");
    ASSERT_EQ(o.types[1], CF_DIRENT_FILE);

    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_rmdir(loop, a, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_EQ(o.status, CF_ENOTEMPTY);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_unlink(loop, f2, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_rmdir(loop, deep, NULL, on_plain, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);

    memset(&o, 0, sizeof o);
    char rel[600];
    snprintf(rel, sizeof rel, "%s/a/b/../b", cf_test_tmpdir());
    ASSERT_OK(cf_fs_realpath(loop, rel, NULL, on_path, &o));
    wait_for(loop, &o);
    ASSERT_OK(o.status);
    ASSERT(strstr(o.bytes, "/a/b") != NULL && strstr(o.bytes, "..") == NULL);

    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_stat(loop, a, NULL, on_stat, &o));
    wait_for(loop, &o);
    ASSERT(S_ISDIR(o.st.mode));
    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_lstat(loop, "/no/such/thing", NULL, on_stat, &o));
    wait_for(loop, &o);
    ASSERT_STR_EQ(o.message, "lstat '/no/such/thing': no such file or directory");

    memset(&o, 0, sizeof o);
    ASSERT_OK(cf_fs_mkstemp(loop, a, "films-", NULL, on_path, &o));
    wait_for(loop, &o);
    ASSERT(o.status > 0);
    close(o.status);
    ASSERT(strstr(o.bytes, "/a/films-") != NULL);
    ASSERT_EQ(access(o.bytes, F_OK), 0);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- promise forms ---- */

typedef struct pstate {
    int fulfilled;
    int rejected;
    char text[512];
    int64_t number;
} pstate;

static void p_ok_buf(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    pstate *s = data;
    const cf_buf *b = cf_promise_value(settled);
    s->fulfilled++;
    snprintf(s->text, sizeof s->text, "%.*s", (int)b->len, b->base);
}

static void p_ok_stat(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    pstate *s = data;
    const cf_stat *st = cf_promise_value(settled);
    s->fulfilled++;
    s->number = st->size;
}

static void p_ok_int(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    pstate *s = data;
    s->fulfilled++;
    s->number = (intptr_t)cf_promise_value(settled);
}

static void p_ok_dir(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    pstate *s = data;
    const cf_dirlist *l = cf_promise_value(settled);
    s->fulfilled++;
    s->number = (int64_t)l->count;
}

static void p_ok_temp(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    pstate *s = data;
    const cf_fs_tempfile *tf = cf_promise_value(settled);
    s->fulfilled++;
    close(tf->fd);
    snprintf(s->text, sizeof s->text, "%s", tf->path);
}

static void p_err(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    pstate *s = data;
    s->rejected++;
    s->number = cf_promise_code(settled);
    snprintf(s->text, sizeof s->text, "%s", cf_promise_error(settled)->message);
}

/* Attach handlers, drop our references, run the loop. */
static void run_p(cf_loop *loop, cf_promise *p, cf_promise_cb ok, pstate *s)
{
    ASSERT_PTR(p);
    memset(s, 0, sizeof *s);
    cf_promise_release(cf_promise_then(p, ok, p_err, s));
    cf_promise_release(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s->fulfilled + s->rejected, 1);
}

static void test_fs_promise_forms(void)
{
    cf_loop *loop = loop_new();
    pstate s;
    char path[512];
    char path2[512];
    char dir[512];
    cf_test_path(path, sizeof path, "p.txt");
    cf_test_path(path2, sizeof path2, "q.txt");
    cf_test_path(dir, sizeof dir, "d/e");

    run_p(loop, cf_fs_write_file_p(loop, path, "hello", 5, CF_FS_ATOMIC, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_append_file_p(loop, path, " world", 6, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_read_file_p(loop, path, NULL), p_ok_buf, &s);
    ASSERT_STR_EQ(s.text, "hello world");
    run_p(loop, cf_fs_stat_p(loop, path, NULL), p_ok_stat, &s);
    ASSERT_EQ(s.number, 11);
    run_p(loop, cf_fs_lstat_p(loop, path, NULL), p_ok_stat, &s);
    ASSERT_EQ(s.number, 11);
    run_p(loop, cf_fs_rename_p(loop, path, path2, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_open_p(loop, path2, O_RDONLY, 0, NULL), p_ok_int, &s);
    int fd = (int)s.number;
    ASSERT(fd > 0);
    char buf[8];
    run_p(loop, cf_fs_read_p(loop, fd, buf, 5, 6, NULL), p_ok_int, &s);
    ASSERT_EQ(s.number, 5);
    ASSERT_MEM_EQ(buf, "world", 5);
    run_p(loop, cf_fs_fstat_p(loop, fd, NULL), p_ok_stat, &s);
    ASSERT_EQ(s.number, 11);
    run_p(loop, cf_fs_close_p(loop, fd, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_mkdir_p(loop, dir, 0755, CF_FS_RECURSIVE, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_mkstemp_p(loop, dir, "t-", NULL), p_ok_temp, &s);
    ASSERT(strstr(s.text, "/d/e/t-") != NULL);
    run_p(loop, cf_fs_unlink_p(loop, s.text, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_readdir_p(loop, cf_test_tmpdir(), NULL), p_ok_dir, &s);
    ASSERT_EQ(s.number, 2);
    run_p(loop, cf_fs_rmdir_p(loop, dir, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_realpath_p(loop, cf_test_tmpdir(), NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);
    run_p(loop, cf_fs_unlink_p(loop, path2, NULL), p_ok_int, &s);
    ASSERT_EQ(s.fulfilled, 1);

    /* Errors reject, bad arguments included; nothing fails synchronously. */
    run_p(loop, cf_fs_read_file_p(loop, path2, NULL), p_ok_buf, &s);
    ASSERT_EQ(s.number, CF_ENOENT);
    char want[600];
    snprintf(want, sizeof want, "open '%s': no such file or directory", path2);
    ASSERT_STR_EQ(s.text, want);
    run_p(loop, cf_fs_read_file_p(loop, NULL, NULL), p_ok_buf, &s);
    ASSERT_EQ(s.number, CF_EINVAL);
    run_p(loop, cf_fs_write_p(loop, -1, "x", 1, 0, NULL), p_ok_int, &s);
    ASSERT_EQ(s.number, CF_EINVAL);
    run_p(loop, cf_fs_write_file_p(loop, "/dev/full", "x", 1, 0, NULL), p_ok_int, &s);
    ASSERT_EQ(s.number, CF_ENOSPC);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the atomic streaming writer ---- */

typedef struct wstate {
    cf_fs_writer *w;
    size_t written;
    size_t total;
    int fulls;
    int drains;
    int committed;
    int status;
    char message[512];
} wstate;

static void w_pump(wstate *s);

static void w_on_drain(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    wstate *s = data;
    if (status < 0) {
        s->status = status;
        snprintf(s->message, sizeof s->message, "%s", err->message);
        cf_fs_writer_abort(s->w, NULL, NULL);
        return;
    }
    s->drains++;
    w_pump(s);
}

static void w_on_commit(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    wstate *s = data;
    s->committed = 1;
    s->status = status;
    if (err)
        snprintf(s->message, sizeof s->message, "%s", err->message);
}

/* Write numbered lines until the total, waiting for drain whenever the queue is full. */
static void w_pump(wstate *s)
{
    char line[64];
    while (s->written < s->total) {
        int n = snprintf(line, sizeof line, "%08zu\n", s->written / 9);
        int rc = cf_fs_writer_write(s->w, line, (size_t)n);
        if (rc < 0) {
            s->status = rc;
            cf_fs_writer_abort(s->w, NULL, NULL);
            return;
        }
        s->written += (size_t)n;
        if (rc == CF_FS_WRITER_FULL) {
            s->fulls++;
            ASSERT_OK(cf_fs_writer_drain(s->w, w_on_drain, s));
            return;
        }
    }
    ASSERT_OK(cf_fs_writer_commit(s->w, w_on_commit, s));
}

static void test_fs_writer_streams_with_backpressure(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "out.csv");
    write_plain_file(path, "old\n");
    wstate s;
    memset(&s, 0, sizeof s);
    s.total = 9 * 200000; /* 1.8 MB of 9-byte lines */
    ASSERT_OK(cf_fs_writer_open(loop, path, 64 * 1024, NULL, &s.w));
    w_pump(&s);
    /* Until the commit, readers see the old file. */
    FILE *f = fopen(path, "rb");
    char head[8] = {0};
    ASSERT_EQ(fread(head, 1, 4, f), 4);
    fclose(f);
    ASSERT_MEM_EQ(head, "old\n", 4);
    loop_finish(loop);
    ASSERT(s.committed);
    ASSERT_OK(s.status);
    ASSERT(s.fulls > 0);
    ASSERT_EQ(s.drains, s.fulls);
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_size, (off_t)s.total);
    f = fopen(path, "rb");
    char last[16] = {0};
    fseek(f, -9, SEEK_END);
    ASSERT_EQ(fread(last, 1, 9, f), 9);
    fclose(f);
    ASSERT_STR_EQ(last, "00199999\n");
}

/* A failing write: the error comes back through drain or commit; the old file stays. */
static void test_fs_writer_failure_keeps_old_file(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "out.csv");
    write_plain_file(path, "old\n");
    wstate s;
    memset(&s, 0, sizeof s);
    s.total = 9 * 200000;
    /* The first chunk is the first write(2) (the pool's wakeups do not count). */
    cf__sys_fault_set(CF__SYS_WRITE, 1, CF_ENOSPC);
    ASSERT_OK(cf_fs_writer_open(loop, path, 64 * 1024, NULL, &s.w));
    w_pump(&s);
    loop_finish(loop);
    cf__sys_fault_clear();
    ASSERT_EQ(s.status, CF_ENOSPC);
    char want[600];
    snprintf(want, sizeof want, "write '%s': no space left on device", path);
    ASSERT_STR_EQ(s.message, want);
    FILE *f = fopen(path, "rb");
    char all[16] = {0};
    ASSERT_EQ(fread(all, 1, sizeof all, f), 4);
    fclose(f);
    ASSERT_STR_EQ(all, "old\n");
    DIR *d = opendir(cf_test_tmpdir());
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    ASSERT_EQ(n, 1); /* the temporary file is gone */
}

static void w_abort_cb(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    (void)err;
    wstate *s = data;
    s->status = status;
    s->committed = -1;
}

static void test_fs_writer_abort(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "never.csv");
    cf_fs_writer *w;
    ASSERT_OK(cf_fs_writer_open(loop, path, 0, NULL, &w));
    ASSERT_OK(cf_fs_writer_sink("a,b\r\n", 5, w));
    wstate s;
    memset(&s, 0, sizeof s);
    ASSERT_OK(cf_fs_writer_abort(w, w_abort_cb, &s));
    loop_finish(loop);
    ASSERT_EQ(s.committed, -1);
    ASSERT_OK(s.status);
    ASSERT(access(path, F_OK) != 0);
    DIR *d = opendir(cf_test_tmpdir());
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    ASSERT_EQ(n, 0);
}

typedef struct await_w {
    const char *path;
    int rc;
} await_w;

static int writer_task(cf_task *task, void *arg)
{
    await_w *a = arg;
    cf_fs_writer *w;
    int rc = cf_fs_writer_open(cf_task_loop(task), a->path, 1024, NULL, &w);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 1000 && rc >= 0; i++) {
        rc = cf_fs_writer_write(w, "0123456789abcdef", 16);
        if (rc == CF_FS_WRITER_FULL)
            rc = cf_await(cf_fs_writer_drain_p(w)).status;
    }
    if (rc < 0) {
        cf_fs_writer_abort(w, NULL, NULL);
        return rc;
    }
    return cf_await(cf_fs_writer_commit_p(w)).status;
}

static void test_fs_writer_async_await(void)
{
    cf_loop *loop = loop_new();
    char path[512];
    cf_test_path(path, sizeof path, "awaited.txt");
    await_w a = {path, 0};
    cf_promise *p = cf_async(loop, writer_task, &a);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_size, 16000);
}

/* ---- the place an error names ---- */

/* A copy of the error a callback saw (its file and func are static strings). */
typedef struct placed {
    int calls;
    cf_error *err;
} placed;

static void placed_keep(placed *pl, int status, const cf_error *err)
{
    pl->calls++;
    ASSERT(status < 0);
    ASSERT_PTR(err);
    ASSERT_EQ(err->code, status);
    pl->err = cf_error_copy(err);
}

static void on_placed(int status, const cf_error *err, void *data)
{
    placed_keep(data, status, err);
}

static void on_placed_data(int status, const cf_error *err, const char *bytes, size_t len,
                           void *data)
{
    (void)bytes;
    (void)len;
    placed_keep(data, status, err);
}

static void on_placed_stat(int status, const cf_error *err, const cf_stat *st, void *data)
{
    (void)st;
    placed_keep(data, status, err);
}

static void on_placed_writer(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    placed_keep(data, status, err);
}

static void test_fs_errors_name_the_call(void)
{
    const char *me = "test_fs_errors_name_the_call";
    cf_loop *loop = loop_new();
    char missing[512];
    char nodir[512];
    char folder[512];
    char inside[512];
    cf_test_path(missing, sizeof missing, "missing.txt");
    cf_test_path(nodir, sizeof nodir, "no/such/folder/out.txt");
    cf_test_path(folder, sizeof folder, "folder");
    cf_test_path(inside, sizeof inside, "folder/keep");
    ASSERT_OK(mkdir(folder, 0700));
    ASSERT_OK(close(open(inside, O_WRONLY | O_CREAT, 0600)));

    /* Callback forms: the error, reported from the loop, names the line of the call. */
    placed rd = {0};
    placed st = {0};
    placed un = {0};
    placed wopen = {0};
    placed wcommit = {0};
    int rd_line = __LINE__ + 1;
    ASSERT_OK(cf_fs_read_file(loop, missing, NULL, on_placed_data, &rd));
    int st_line = __LINE__ + 1;
    ASSERT_OK(cf_fs_stat(loop, missing, NULL, on_placed_stat, &st));
    int un_line = __LINE__ + 1;
    ASSERT_OK(cf_fs_unlink(loop, missing, NULL, on_placed, &un));

    /* The writer: a failed creation names the open, a failed commit the commit. */
    cf_fs_writer *w1 = NULL;
    cf_fs_writer *w2 = NULL;
    int wopen_line = __LINE__ + 1;
    ASSERT_OK(cf_fs_writer_open(loop, nodir, 0, NULL, &w1));
    ASSERT_OK(cf_fs_writer_commit(w1, on_placed_writer, &wopen));
    /* A folder is refused when the writer opens (Node's EISDIR), reported at the open. */
    int wcommit_line = __LINE__ + 1;
    ASSERT_OK(cf_fs_writer_open(loop, folder, 0, NULL, &w2));
    ASSERT_OK(cf_fs_writer_write(w2, "x", 1) < 0);
    ASSERT_OK(cf_fs_writer_commit(w2, on_placed_writer, &wcommit));

    /* Promise forms: rejected later, and rejected at once (bad arguments, closed writer). */
    cf_fs_writer *w3 = NULL;
    int pc_line = __LINE__ + 1; /* the folder is refused at the open: the error names it */
    ASSERT_OK(cf_fs_writer_open(loop, folder, 0, NULL, &w3));
    int p_line = __LINE__ + 1;
    cf_promise *p = handled(cf_fs_read_file_p(loop, missing, NULL));
    int ps_line = __LINE__ + 1;
    cf_promise *ps = handled(cf_fs_lstat_p(loop, missing, NULL));
    cf_promise *pc = handled(cf_fs_writer_commit_p(w3));
    int pd_line = __LINE__ + 1;
    cf_promise *pd = handled(cf_fs_writer_drain_p(w3));
    int bad_line = __LINE__ + 1;
    cf_promise *bad = handled(cf_fs_open_p(loop, NULL, O_RDONLY, 0, NULL));
    int badw_line = __LINE__ + 1;
    cf_promise *badw = handled(cf_fs_write_p(loop, -1, "x", 1, 0, NULL));
    ASSERT_EQ(cf_promise_state(bad), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(bad), me, bad_line);
    ASSERT_STR_EQ(cf_promise_error(bad)->message, "open '(null)': invalid argument");
    ASSERT_EQ(cf_promise_state(badw), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(badw), me, badw_line);
    ASSERT_EQ(cf_promise_state(pd), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(pd), me, pd_line);
    ASSERT_EQ(cf_promise_error(pd)->code, CF_ECLOSED);

    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));

    ASSERT_EQ(rd.calls, 1);
    ASSERT_PLACE(rd.err, me, rd_line);
    ASSERT_EQ(rd.err->code, CF_ENOENT);
    ASSERT_PLACE(st.err, me, st_line);
    ASSERT_PLACE(un.err, me, un_line);
    ASSERT_EQ(wopen.calls, 1);
    ASSERT_PLACE(wopen.err, me, wopen_line);
    ASSERT_EQ(wopen.err->code, CF_ENOENT);
    ASSERT_EQ(wcommit.calls, 1);
    ASSERT_PLACE(wcommit.err, me, wcommit_line);
    ASSERT_EQ(wcommit.err->code, CF_EISDIR);
    ASSERT(strncmp(wcommit.err->message, "open '", 6) == 0);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(p), me, p_line);
    ASSERT_EQ(cf_promise_error(p)->code, CF_ENOENT);
    ASSERT_PLACE(cf_promise_error(ps), me, ps_line);
    ASSERT_EQ(cf_promise_state(pc), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(pc), me, pc_line);

    cf_promise *all[] = {p, ps, pc, pd, bad, badw};
    for (size_t i = 0; i < CF_ARRAY_LEN(all); i++) {
        cf_promise_release(all[i]);
    }
    placed *kept[] = {&rd, &st, &un, &wopen, &wcommit};
    for (size_t i = 0; i < CF_ARRAY_LEN(kept); i++) {
        cf_error_free(kept[i]->err);
    }
    ASSERT_OK(cf_loop_close(loop));
}

/* A task that awaits a failing read passes its error up: the error names the awaited call. */
static int await_line;

static int read_missing_task(cf_task *task, void *arg)
{
    await_line = __LINE__ + 1;
    return cf_await(cf_fs_read_file_p(cf_task_loop(task), arg, NULL)).status;
}

/* A task that fails on its own: its error names the cf_async call. */
static int fail_alone_task(cf_task *task, void *arg)
{
    (void)task;
    (void)arg;
    return CF_EINVAL;
}

static void test_fs_task_errors_name_their_place(void)
{
    cf_loop *loop = loop_new();
    char missing[512];
    cf_test_path(missing, sizeof missing, "missing.txt");
    cf_promise *awaited = handled(cf_async(loop, read_missing_task, missing));
    int alone_line = __LINE__ + 1;
    cf_promise *alone = handled(cf_async(loop, fail_alone_task, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(awaited), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(awaited), "read_missing_task", await_line);
    ASSERT_EQ(cf_promise_state(alone), CF_PROMISE_REJECTED);
    ASSERT_PLACE(cf_promise_error(alone), "test_fs_task_errors_name_their_place", alone_line);
    ASSERT_EQ(cf_promise_error(alone)->code, CF_EINVAL);
    cf_promise_release(awaited);
    cf_promise_release(alone);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_fs_write_then_read_file);
    CF_TEST(test_fs_missing_file_message);
    CF_TEST(test_fs_read_file_of_a_folder);
    CF_TEST(test_fs_full_disk);
    CF_TEST(test_fs_write_refused);
    CF_TEST(test_fs_sparse_beyond_2gib);
    CF_TEST(test_fs_atomic_replace);
    CF_TEST(test_fs_atomic_replace_fails_half_way);
    CF_TEST(test_fs_folders_and_names);
    CF_TEST(test_fs_promise_forms);
    CF_TEST(test_fs_writer_streams_with_backpressure);
    CF_TEST(test_fs_writer_failure_keeps_old_file);
    CF_TEST(test_fs_writer_abort);
    CF_TEST(test_fs_writer_async_await);
    CF_TEST(test_fs_errors_name_the_call);
    CF_TEST(test_fs_task_errors_name_their_place);
    return CF_TEST_END();
}
