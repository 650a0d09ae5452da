/*
 * Where atomic whole-file writes go (cf_fs_write_file with CF_FS_ATOMIC, and cf_fs_writer):
 * a new file, a regular file replaced with its mode and owner kept, symbolic links (one, a
 * chain, a dangling one) followed with the links left as they were, a FIFO and a character
 * device written through and still what they were, a descriptor of this process named by
 * /proc/self/fd/N or /dev/fd/N, what Node refuses (a read-only file, a folder, a missing
 * folder, any name ending in '/'), a descriptor that is not open, which names are descriptors
 * (cf_fs_descriptor_path), a file in a read-only folder written in place, an abort while a
 * FIFO has no reader,
 * and signals: a process killed in the middle of a write leaves no temporary file.
 *
 * Permission cases run as an ordinary user; when the tests run as root, they run in a child
 * process that drops to uid/gid 65534 first (root passes every permission check). Such
 * children, and the ones killed by a signal, are this same program started again with
 * "--child CASE ARGS" (a fresh process: a fork of a process with pool threads has none).
 */
/* ctest-labels: io */
/* ctest-timeout: 120 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "harness.h"

#define NOBODY 65534

static char self_exe[1024];

/* ---- writing, both ways ---- */

typedef struct done {
    int calls;
    int status;
    char message[512];
} done;

static void note(done *d, int status, const cf_error *err)
{
    d->calls++;
    d->status = status;
    snprintf(d->message, sizeof d->message, "%s", status < 0 && err ? err->message : "");
}

static void on_written(int status, const cf_error *err, void *data)
{
    note(data, status, err);
}

static void on_committed(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    note(data, status, err);
}

/* cf_fs_write_file(path, text, CF_FS_ATOMIC) on a loop of its own; the callback's status. */
static int write_atomic(const char *path, const char *text, done *d)
{
    memset(d, 0, sizeof *d);
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_fs_write_file(loop, path, text, strlen(text), CF_FS_ATOMIC, NULL, on_written, d));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(d->calls, 1);
    return d->status;
}

/* The same through a cf_fs_writer: open, write, commit; the commit's status. */
static int write_streamed(const char *path, const char *text, done *d)
{
    memset(d, 0, sizeof *d);
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    cf_fs_writer *w = NULL;
    ASSERT_OK(cf_fs_writer_open(loop, path, 0, NULL, &w));
    ASSERT(cf_fs_writer_write(w, text, strlen(text)) >= 0);
    ASSERT_OK(cf_fs_writer_commit(w, on_committed, d));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(d->calls, 1);
    return d->status;
}

typedef int (*write_fn)(const char *path, const char *text, done *d);
static const write_fn both_ways[] = {write_atomic, write_streamed};

/* ---- files ---- */

static void put(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ASSERT_OK(fchmod(fd, mode));
    ASSERT_OK(close(fd));
}

/* The file's bytes (up to 4 KiB) as a string in `buf`. */
static const char *contents(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ASSERT(fd >= 0);
    ssize_t n = read(fd, buf, len - 1);
    ASSERT(n >= 0);
    buf[n] = '\0';
    close(fd);
    return buf;
}

#define ASSERT_CONTENTS(path, text)                                                                \
    do {                                                                                           \
        char buf_[4096];                                                                           \
        ASSERT_STR_EQ(contents((path), buf_, sizeof buf_), (text));                                \
    } while (0)

/* How many names in `dir` contain ".tmp-" (temporary files of atomic writes). */
static int temps_in(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_PTR(d);
    int n = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        n += strstr(e->d_name, ".tmp-") != NULL;
    }
    closedir(d);
    return n;
}

static const char *in_tmp(char *out, size_t len, const char *name)
{
    return cf_test_path(out, len, name);
}

static void link_text(const char *path, char *buf, size_t len)
{
    ssize_t n = readlink(path, buf, len - 1);
    ASSERT(n > 0);
    buf[n] = '\0';
}

/* ---- cases ---- */

static void test_fs_output_new_file(void)
{
    mode_t old = umask(022);
    for (size_t i = 0; i < 2; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/new-%zu.csv", cf_test_tmpdir(), i);
        done d;
        ASSERT_OK(both_ways[i](path, "a,b\r\n", &d));
        ASSERT_CONTENTS(path, "a,b\r\n");
        struct stat st;
        ASSERT_OK(lstat(path, &st));
        ASSERT(S_ISREG(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0644);
    }
    umask(old);
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
}

/*
 * A regular file is replaced (a new inode: the old one is never half written) and keeps its
 * mode; as root also its owner and group, given to another user beforehand.
 */
static void test_fs_output_regular_file_keeps_mode_and_owner(void)
{
    for (size_t i = 0; i < 2; i++) {
        char path[600];
        in_tmp(path, sizeof path, "keep.csv");
        put(path, "old\n", 0640);
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (geteuid() == 0) {
            uid = NOBODY;
            gid = NOBODY;
            ASSERT_OK(chown(path, uid, gid));
        }
        struct stat before;
        ASSERT_OK(stat(path, &before));
        done d;
        ASSERT_OK(both_ways[i](path, "new\n", &d));
        ASSERT_CONTENTS(path, "new\n");
        struct stat after;
        ASSERT_OK(stat(path, &after));
        ASSERT_EQ(after.st_mode & 07777, 0640);
        ASSERT_EQ(after.st_uid, uid);
        ASSERT_EQ(after.st_gid, gid);
        ASSERT_NE(after.st_ino, before.st_ino);
        ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
    }
}

static void test_fs_output_symlink_to_file(void)
{
    for (size_t i = 0; i < 2; i++) {
        char target[600];
        char link[600];
        in_tmp(target, sizeof target, "target.csv");
        in_tmp(link, sizeof link, "link.csv");
        put(target, "old\n", 0644);
        unlink(link);
        ASSERT_OK(symlink("target.csv", link));
        done d;
        ASSERT_OK(both_ways[i](link, "new\n", &d));
        struct stat st;
        ASSERT_OK(lstat(link, &st));
        ASSERT(S_ISLNK(st.st_mode));
        char text[256];
        link_text(link, text, sizeof text);
        ASSERT_STR_EQ(text, "target.csv");
        ASSERT_CONTENTS(target, "new\n");
        ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
    }
}

/* a -> b -> sub/c (relative to b's folder): both links stay, c is replaced in sub/. */
static void test_fs_output_symlink_chain(void)
{
    char sub[600];
    char c[600];
    char b[600];
    char a[600];
    in_tmp(sub, sizeof sub, "sub");
    ASSERT_OK(mkdir(sub, 0755));
    in_tmp(c, sizeof c, "sub/c.csv");
    in_tmp(b, sizeof b, "b.csv");
    in_tmp(a, sizeof a, "a.csv");
    ASSERT_OK(symlink("sub/c.csv", b));
    ASSERT_OK(symlink(b, a)); /* absolute */
    for (size_t i = 0; i < 2; i++) {
        put(c, "old\n", 0600);
        done d;
        ASSERT_OK(both_ways[i](a, i ? "streamed\n" : "atomic\n", &d));
        ASSERT_CONTENTS(c, i ? "streamed\n" : "atomic\n");
        char text[700];
        link_text(a, text, sizeof text);
        ASSERT_STR_EQ(text, b);
        link_text(b, text, sizeof text);
        ASSERT_STR_EQ(text, "sub/c.csv");
        struct stat st;
        ASSERT_OK(stat(c, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
        ASSERT_EQ(temps_in(sub), 0);
    }
}

/* A link to nothing: its target is created (as Node does), the link stays; a loop fails. */
static void test_fs_output_dangling_symlink(void)
{
    for (size_t i = 0; i < 2; i++) {
        char link[600];
        char target[600];
        snprintf(link, sizeof link, "%s/dangling-%zu", cf_test_tmpdir(), i);
        snprintf(target, sizeof target, "%s/created-%zu.csv", cf_test_tmpdir(), i);
        ASSERT_OK(symlink(strrchr(target, '/') + 1, link));
        done d;
        ASSERT_OK(both_ways[i](link, "made\n", &d));
        struct stat st;
        ASSERT_OK(lstat(link, &st));
        ASSERT(S_ISLNK(st.st_mode));
        ASSERT_CONTENTS(target, "made\n");
    }
    char loop1[600];
    char loop2[600];
    in_tmp(loop1, sizeof loop1, "loop1");
    in_tmp(loop2, sizeof loop2, "loop2");
    ASSERT_OK(symlink("loop2", loop1));
    ASSERT_OK(symlink("loop1", loop2));
    for (size_t i = 0; i < 2; i++) {
        done d;
        ASSERT_EQ(both_ways[i](loop1, "x", &d), CF_ELOOP);
    }
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
}

/* A reader thread: opens the FIFO, reads to the end. */
typedef struct reader {
    const char *path;
    char got[256];
    size_t len;
} reader;

static void *read_fifo(void *arg)
{
    reader *r = arg;
    int fd = open(r->path, O_RDONLY);
    if (fd < 0)
        return NULL;
    for (;;) {
        ssize_t n = read(fd, r->got + r->len, sizeof r->got - 1 - r->len);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->got[r->len] = '\0';
    close(fd);
    return NULL;
}

static void test_fs_output_fifo_with_reader(void)
{
    char path[600];
    in_tmp(path, sizeof path, "fifo");
    ASSERT_OK(mkfifo(path, 0600));
    for (size_t i = 0; i < 2; i++) {
        reader r = {.path = path};
        pthread_t t;
        ASSERT_OK(pthread_create(&t, NULL, read_fifo, &r));
        done d;
        ASSERT_OK(both_ways[i](path, "through the pipe\n", &d));
        ASSERT_OK(pthread_join(t, NULL));
        ASSERT_STR_EQ(r.got, "through the pipe\n");
        struct stat st;
        ASSERT_OK(lstat(path, &st));
        ASSERT(S_ISFIFO(st.st_mode));
    }
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
}

/* A FIFO nobody reads: the loop keeps running timers meanwhile, and an abort ends the wait. */
typedef struct fifo_wait {
    cf_fs_writer *w;
    cf_timer *timer;
    int ticks;
    int aborted;
} fifo_wait;

static void on_aborted(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    (void)err;
    fifo_wait *f = data;
    ASSERT_OK(status);
    f->aborted++;
}

static void on_tick(cf_timer *t, void *data)
{
    fifo_wait *f = data;
    if (++f->ticks < 3)
        return;
    ASSERT_OK(cf_fs_writer_abort(f->w, on_aborted, f));
    cf_timer_close(t, NULL, NULL);
}

static void test_fs_output_fifo_without_reader_abort(void)
{
    char path[600];
    in_tmp(path, sizeof path, "lonely-fifo");
    ASSERT_OK(mkfifo(path, 0600));
    for (int at_once = 0; at_once < 2; at_once++) {
        cf_loop *loop = NULL;
        ASSERT_OK(cf_loop_new(&loop));
        fifo_wait f = {0};
        ASSERT_OK(cf_fs_writer_open(loop, path, 0, NULL, &f.w));
        ASSERT(cf_fs_writer_write(f.w, "nobody hears\n", 13) >= 0);
        if (at_once) {
            ASSERT_OK(cf_fs_writer_abort(f.w, on_aborted, &f));
        } else {
            ASSERT_OK(cf_timer_new(loop, &f.timer));
            ASSERT_OK(cf_timer_start(f.timer, 20, 20, on_tick, &f));
        }
        ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
        ASSERT_EQ(f.aborted, 1);
        ASSERT_EQ(f.ticks, at_once ? 0 : 3);
        ASSERT_OK(cf_loop_close(loop));
        struct stat st;
        ASSERT_OK(lstat(path, &st));
        ASSERT(S_ISFIFO(st.st_mode));
    }
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
}

/* /dev/null is written through and stays the same character device (no temp in /dev). */
static void test_fs_output_character_device(void)
{
    struct stat before;
    ASSERT_OK(lstat("/dev/null", &before));
    ASSERT(S_ISCHR(before.st_mode));
    for (size_t i = 0; i < 2; i++) {
        done d;
        ASSERT_OK(both_ways[i]("/dev/null", "discarded\n", &d));
        struct stat after;
        ASSERT_OK(lstat("/dev/null", &after));
        ASSERT(S_ISCHR(after.st_mode));
        ASSERT_EQ(after.st_rdev, before.st_rdev);
        ASSERT_EQ(major(after.st_rdev), 1);
        ASSERT_EQ(minor(after.st_rdev), 3);
        ASSERT_EQ(after.st_ino, before.st_ino);
        ASSERT_EQ(after.st_mode, before.st_mode);
    }
    DIR *d = opendir("/dev");
    ASSERT_PTR(d);
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        ASSERT(strncmp(e->d_name, "null.tmp-", 9) != 0);
    }
    closedir(d);
}

/*
 * /proc/self/fd/N and /dev/fd/N name this process's descriptor N: the bytes go to that open
 * file (a pipe; a regular file opened to append keeps what it had), not to a new file.
 */
static void test_fs_output_own_descriptor(void)
{
    int p[2];
    ASSERT_OK(pipe(p));
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", p[1]);
    done d;
    ASSERT_OK(write_atomic(name, "via proc\n", &d));
    snprintf(name, sizeof name, "/dev/fd/%d", p[1]);
    ASSERT_OK(write_streamed(name, "via dev\n", &d));
    close(p[1]);
    char got[64] = {0};
    ASSERT_EQ(read(p[0], got, sizeof got - 1), 17);
    ASSERT_STR_EQ(got, "via proc\nvia dev\n");
    close(p[0]);

    char path[600];
    in_tmp(path, sizeof path, "log.txt");
    put(path, "kept\n", 0644);
    struct stat before;
    ASSERT_OK(stat(path, &before));
    int fd = open(path, O_WRONLY | O_APPEND);
    ASSERT(fd >= 0);
    snprintf(name, sizeof name, "/dev/fd/%d", fd);
    ASSERT_OK(write_atomic(name, "appended\n", &d));
    close(fd);
    ASSERT_CONTENTS(path, "kept\nappended\n");
    struct stat after;
    ASSERT_OK(stat(path, &after));
    ASSERT_EQ(after.st_ino, before.st_ino);
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
}

static void test_fs_output_refusals(void)
{
    char folder[600];
    char missing[600];
    in_tmp(folder, sizeof folder, "folder");
    in_tmp(missing, sizeof missing, "no/such/folder.csv");
    ASSERT_OK(mkdir(folder, 0755));
    for (size_t i = 0; i < 2; i++) {
        done d;
        ASSERT_EQ(both_ways[i](folder, "x", &d), CF_EISDIR);
        ASSERT(strstr(d.message, "folder': illegal operation on a directory") != NULL);
        struct stat st;
        ASSERT_OK(lstat(folder, &st));
        ASSERT(S_ISDIR(st.st_mode));
        ASSERT_EQ(both_ways[i](missing, "x", &d), CF_ENOENT);
        ASSERT(strstr(d.message, "open '") == d.message);
    }
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
}

/*
 * A folder, and every name ending in '/', fail before anything is created with Node's code
 * and words for each ("open 'd/': illegal operation on a directory"): ".", an existing
 * folder with and without the slash, a new name with a slash, a file with a slash, a link to
 * a folder. A slash after a missing folder is that folder's ENOENT, as in Node.
 */
static void test_fs_output_folder_names(void)
{
    char cwd[1024];
    ASSERT_PTR(getcwd(cwd, sizeof cwd));
    ASSERT_OK(chdir(cf_test_tmpdir()));
    ASSERT_OK(mkdir("d", 0755));
    put("file", "kept\n", 0644);
    ASSERT_OK(symlink("d", "dlink"));
    const char *names[] = {".", "d", "d/", "newfile/", "file/", "dlink", "dlink/", "./d//"};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        for (size_t i = 0; i < 2; i++) {
            done d;
            ASSERT_EQ(both_ways[i](names[n], "x", &d), CF_EISDIR);
            char want[128];
            snprintf(want, sizeof want, "open '%s': illegal operation on a directory", names[n]);
            ASSERT_STR_EQ(d.message, want);
        }
    }
    done d;
    ASSERT_EQ(write_streamed("nodir/new/", "x", &d), CF_ENOENT);
    ASSERT_STR_EQ(d.message, "open 'nodir/new/': no such file or directory");
    ASSERT_CONTENTS("file", "kept\n");
    struct stat st;
    ASSERT(lstat("newfile", &st) < 0 && errno == ENOENT);
    ASSERT_EQ(temps_in("."), 0);
    ASSERT_EQ(temps_in("d"), 0);
    ASSERT_OK(chdir(cwd));
}

/* The lowest descriptor number at or above `from` that is not open. */
static int closed_fd(int from)
{
    int fd = from;
    while (fcntl(fd, F_GETFD) >= 0)
        fd++;
    return fd;
}

/*
 * /dev/fd/N and /proc/self/fd/N of a descriptor that is not open: CF_EBADF, nothing created
 * (before, the write tried to create "/dev/fd/N.tmp-XXXXXX" and failed with a misleading
 * error).
 */
static void test_fs_output_descriptor_not_open(void)
{
    int fd = closed_fd(200);
    char names[2][64];
    snprintf(names[0], sizeof names[0], "/dev/fd/%d", fd);
    snprintf(names[1], sizeof names[1], "/proc/self/fd/%d", fd);
    for (size_t n = 0; n < 2; n++) {
        for (size_t i = 0; i < 2; i++) {
            done d;
            ASSERT_EQ(both_ways[i](names[n], "x", &d), CF_EBADF);
            char want[160];
            snprintf(want, sizeof want, "open '%s': bad file descriptor", names[n]);
            ASSERT_STR_EQ(d.message, want);
        }
    }
}

/* Which names are this process's descriptors, open or not, through links too. */
static void test_fs_output_descriptor_path(void)
{
    int fd = closed_fd(300);
    char name[700];
    snprintf(name, sizeof name, "/dev/fd/%d", fd);
    ASSERT_EQ(cf_fs_descriptor_path(name), fd);
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    ASSERT_EQ(cf_fs_descriptor_path(name), fd);
    snprintf(name, sizeof name, "/proc/%d/fd/7", (int)getpid());
    ASSERT_EQ(cf_fs_descriptor_path(name), 7);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/stdin"), 0);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/stdout"), 1);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/stderr"), 2);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/fd/1"), 1);
    /* a chain of links ending at /dev/stderr */
    char a[600];
    char b[600];
    in_tmp(a, sizeof a, "err-a");
    in_tmp(b, sizeof b, "err-b");
    ASSERT_OK(symlink("/dev/stderr", b));
    ASSERT_OK(symlink("err-b", a));
    ASSERT_EQ(cf_fs_descriptor_path(a), 2);
    /* not descriptors of this process */
    in_tmp(name, sizeof name, "plain.csv");
    ASSERT_EQ(cf_fs_descriptor_path(name), CF_ENOENT);
    put(name, "x", 0644);
    ASSERT_EQ(cf_fs_descriptor_path(name), CF_ENOENT);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/null"), CF_ENOENT);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/fd"), CF_ENOENT);
    ASSERT_EQ(cf_fs_descriptor_path("/dev/fd/x1"), CF_ENOENT);
    if (getpid() != 1)
        ASSERT_EQ(cf_fs_descriptor_path("/proc/1/fd/1"), CF_ENOENT);
    ASSERT_EQ(cf_fs_descriptor_path(NULL), CF_EINVAL);
    ASSERT_EQ(cf_fs_descriptor_path(""), CF_EINVAL);
}

/* ---- cases run as an ordinary user ---- */

/* Run "--child NAME DIR" as an ordinary user (uid 65534 when we are root); 0 if it passed. */
static void run_child_as_user(const char *name, const char *dir)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
            _exit(125);
        if (geteuid() == 0)
            _exit(124); /* the drop did not happen: the case would prove nothing */
        execl(self_exe, self_exe, "--child", name, dir, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}

/*
 * A folder the child's user may write (so a rename would succeed), holding `name`: for root,
 * owned by 65534, inside the case's folder opened for others to cross.
 */
static void user_folder(char *dir, size_t len, const char *name)
{
    ASSERT_OK(chmod(cf_test_tmpdir(), 0755));
    cf_test_path(dir, len, name);
    ASSERT_OK(mkdir(dir, 0755));
    if (geteuid() == 0)
        ASSERT_OK(chown(dir, NOBODY, NOBODY));
}

/* A read-only file: refused with CF_EACCES as Node refuses it, left as it was. */
static void child_read_only_file(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/ro.csv", dir);
    for (size_t i = 0; i < 2; i++) {
        done d;
        ASSERT_EQ(both_ways[i](path, "new\n", &d), CF_EACCES);
        ASSERT(strstr(d.message, "open '") == d.message);
        ASSERT(strstr(d.message, "ro.csv': permission denied") != NULL);
    }
}

static void test_fs_output_read_only_file(void)
{
    char dir[600];
    user_folder(dir, sizeof dir, "user");
    char path[700];
    snprintf(path, sizeof path, "%s/ro.csv", dir);
    put(path, "old\n", 0444); /* root's when we are root: the user may not write it */
    struct stat before;
    ASSERT_OK(stat(path, &before));
    run_child_as_user("read-only-file", dir);
    ASSERT_CONTENTS(path, "old\n");
    struct stat after;
    ASSERT_OK(stat(path, &after));
    ASSERT_EQ(after.st_ino, before.st_ino);
    ASSERT_EQ(after.st_mode, before.st_mode);
    ASSERT_EQ(temps_in(dir), 0);
}

/* A writable file in a folder that takes no new name: written in place, as Node does. */
static void child_read_only_folder(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/f.csv", dir);
    done d;
    ASSERT_OK(write_atomic(path, "first, a longer text\n", &d));
    ASSERT_CONTENTS(path, "first, a longer text\n");
    ASSERT_OK(write_streamed(path, "second\n", &d));
    ASSERT_CONTENTS(path, "second\n");
}

static void test_fs_output_read_only_folder(void)
{
    char dir[600];
    user_folder(dir, sizeof dir, "rodir");
    char path[700];
    snprintf(path, sizeof path, "%s/f.csv", dir);
    put(path, "old\n", 0666);
    if (geteuid() == 0) {
        ASSERT_OK(chown(dir, 0, 0)); /* root's folder: the user may not add names */
        ASSERT_OK(chown(path, NOBODY, NOBODY));
        ASSERT_OK(chmod(path, 0644));
    } else {
        ASSERT_OK(chmod(dir, 0555));
    }
    struct stat before;
    ASSERT_OK(stat(path, &before));
    run_child_as_user("read-only-folder", dir);
    ASSERT_CONTENTS(path, "second\n");
    struct stat after;
    ASSERT_OK(stat(path, &after));
    ASSERT_EQ(after.st_ino, before.st_ino);
    ASSERT_EQ(temps_in(dir), 0);
    chmod(dir, 0755);
}

/* ---- signals ---- */

static void on_drained(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    (void)err;
    ASSERT_OK(status);
    printf("READY\n");
    fflush(stdout);
    (void)data;
}

static void on_give_up(cf_timer *t, void *data)
{
    (void)data;
    cf_timer_close(t, NULL, NULL);
}

/*
 * The killed process: handlers installed, a writer on `path` that has created its temporary
 * file and written a first chunk (the drain says so), then waiting (at most 60 s) for more.
 */
static int child_signal_writer(const char *path)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        signal(sigs[i], SIG_DFL); /* as a fresh program starts, whatever the test runner did */
    }
    ASSERT_OK(cf_fs_temp_cleanup_on_signals());
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    cf_fs_writer *w = NULL;
    ASSERT_OK(cf_fs_writer_open(loop, path, 16, NULL, &w));
    ASSERT_EQ(cf_fs_writer_write(w, "the new text, half written\n", 27), CF_FS_WRITER_FULL);
    ASSERT_OK(cf_fs_writer_drain(w, on_drained, NULL));
    cf_timer *t = NULL;
    ASSERT_OK(cf_timer_new(loop, &t));
    ASSERT_OK(cf_timer_start(t, 60000, 0, on_give_up, NULL));
    cf_run(loop, CF_RUN_DEFAULT);
    return 3; /* not killed: the parent fails */
}

static void test_fs_output_signal_leaves_no_temp(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};
    char path[600];
    in_tmp(path, sizeof path, "films.csv");
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        put(path, "old\n", 0644);
        int out[2];
        ASSERT_OK(pipe(out));
        fflush(stdout);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            dup2(out[1], 1);
            close(out[0]);
            close(out[1]);
            alarm(100);
            execl(self_exe, self_exe, "--child", "signal-writer", path, (char *)NULL);
            _exit(127);
        }
        close(out[1]);
        char line[16] = {0};
        ASSERT_EQ(read(out[0], line, 6), 6); /* "READY\n" */
        ASSERT_STR_EQ(line, "READY\n");
        ASSERT_EQ(temps_in(cf_test_tmpdir()), 1); /* caught in the middle of the write */
        ASSERT_OK(kill(pid, sigs[i]));
        int st = 0;
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        close(out[0]);
        ASSERT(WIFSIGNALED(st));
        ASSERT_EQ(WTERMSIG(st), sigs[i]);
        ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
        ASSERT_CONTENTS(path, "old\n");
    }
}

/* In-process: the cleanup removes a live temporary file and counts it; a signal left alone. */
static void on_drained_here(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)err;
    ASSERT_OK(status);
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 1);
    *(int *)data = cf_fs_temp_cleanup();
    ASSERT_EQ(temps_in(cf_test_tmpdir()), 0);
    ASSERT_OK(cf_fs_writer_abort(w, NULL, NULL));
}

static void test_fs_output_cleanup_in_process(void)
{
    char path[600];
    in_tmp(path, sizeof path, "x.csv");
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    cf_fs_writer *w = NULL;
    ASSERT_OK(cf_fs_writer_open(loop, path, 4, NULL, &w));
    ASSERT_EQ(cf_fs_writer_write(w, "12345", 5), CF_FS_WRITER_FULL);
    int removed = -1;
    ASSERT_OK(cf_fs_writer_drain(w, on_drained_here, &removed));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(removed, 1);
    ASSERT_EQ(cf_fs_temp_cleanup(), 0);
    ASSERT(access(path, F_OK) != 0);

    /* An ignored signal stays ignored. */
    struct sigaction old;
    ASSERT_OK(sigaction(SIGHUP, NULL, &old));
    signal(SIGHUP, SIG_IGN);
    ASSERT_OK(cf_fs_temp_cleanup_on_signals());
    struct sigaction now;
    ASSERT_OK(sigaction(SIGHUP, NULL, &now));
    ASSERT(now.sa_handler == SIG_IGN);
    ASSERT_OK(sigaction(SIGHUP, &old, NULL));
}

static int child_main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    const char *name = argv[2];
    if (strcmp(name, "signal-writer") == 0)
        return child_signal_writer(argv[3]);
    if (strcmp(name, "read-only-file") == 0)
        child_read_only_file(argv[3]);
    else if (strcmp(name, "read-only-folder") == 0)
        child_read_only_folder(argv[3]);
    else
        return 2;
    return 0;
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_fs_output_new_file);
    CF_TEST(test_fs_output_regular_file_keeps_mode_and_owner);
    CF_TEST(test_fs_output_symlink_to_file);
    CF_TEST(test_fs_output_symlink_chain);
    CF_TEST(test_fs_output_dangling_symlink);
    CF_TEST(test_fs_output_fifo_with_reader);
    CF_TEST(test_fs_output_fifo_without_reader_abort);
    CF_TEST(test_fs_output_character_device);
    CF_TEST(test_fs_output_own_descriptor);
    CF_TEST(test_fs_output_refusals);
    CF_TEST(test_fs_output_folder_names);
    CF_TEST(test_fs_output_descriptor_not_open);
    CF_TEST(test_fs_output_descriptor_path);
    CF_TEST(test_fs_output_read_only_file);
    CF_TEST(test_fs_output_read_only_folder);
    CF_TEST(test_fs_output_signal_leaves_no_temp);
    CF_TEST(test_fs_output_cleanup_in_process);
    return CF_TEST_END();
}
