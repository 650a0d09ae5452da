/*
 * Files on the thread pool (≈ Node's fs and fs.promises, libuv's src/unix/fs.c).
 *
 * Every operation is one `fs_req`: the loop thread fills in the inputs (paths copied), a pool
 * worker runs the system calls (`run_op`) and stores the outcome (`status`, a negative CF_E*
 * on failure, plus the op's result), and the done function, back on the loop thread, builds
 * the message ("open 'films.csv': permission denied") and calls the callback of the op's
 * kind. A request is touched by one thread at a time: the pool hands it over.
 *
 * Whole-file writes can be atomic (CF_FS_ATOMIC): a temporary file is created beside the
 * target with O_EXCL and a random name, written, fsync'ed, renamed over the target, and the
 * folder is fsync'ed; on any failure the temporary file is removed, so the target is either
 * the old file or the new one.
 *
 * The atomic streaming writer (cf_fs_writer) keeps two buffers: `fill`, appended to on the
 * loop thread, and `flight`, written by one pool job at a time; when a job ends the buffers
 * swap. At most one job per writer runs, so the buffers never race.
 */
#include "calcifer/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "async/fiber.h"
#include "core/loop.h"
#include "core/pool.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/sys.h"
#include "util/util.h"
#include "util/site.h"

/* One write(2) writes at most this much, so a long write is several calls. */
#define WRITE_CHUNK ((size_t)1 << 20)

enum fs_op {
    OP_OPEN,
    OP_CLOSE,
    OP_READ,
    OP_WRITE,
    OP_FSYNC,
    OP_READ_FILE,
    OP_WRITE_FILE,
    OP_APPEND_FILE,
    OP_RENAME,
    OP_UNLINK,
    OP_MKDIR,
    OP_RMDIR,
    OP_READDIR,
    OP_REALPATH,
    OP_MKSTEMP,
    OP_STAT,
    OP_LSTAT,
    OP_FSTAT,
    OP_COPY
};

static const char *const op_names[] = {"open",  "close", "read",    "write",          "fsync",
                                       "open",  "open",  "open",    "rename",         "unlink",
                                       "mkdir", "rmdir", "scandir", "realpath",       "mkstemp",
                                       "stat",  "lstat", "fstat",   "copy_file_range"};

enum cb_kind { CB_PLAIN, CB_DATA, CB_STAT, CB_DIR, CB_PATH };

typedef struct fs_req {
    cf__work work;
    cf_loop *loop;
    enum fs_op op;
    enum cb_kind kind;
    void *cb;
    void *data;
    cf_site site;            /* where the user started the operation: its error names it */
    cf_abort_signal *signal; /* borrowed until submitted (the pool job keeps a reference) */
    _Atomic int aborting;    /* set by the abort (loop thread): stop at the next step */
    _Atomic int fifo_wait;   /* 1 while the worker's open may wait for a FIFO's peer */
    int wake_fd;             /* a FIFO opened by the abort to end that wait, or -1 */
    cf__fs_out *o;           /* CF_FS_ATOMIC write_file's output (the abort can reach it) */
    char *path;
    char *path2;
    int fd;
    int fd2; /* copy: the output */
    int flags;
    int mode;
    void *buf;
    size_t len;
    int64_t off;
    int64_t off2; /* copy: the output's offset */
    /* outcome */
    int status;
    const char *failed; /* the system call that failed, when it is not the op's own name */
    cf_stat st;
    char *bytes; /* read_file: cf__malloc'ed, NUL-terminated */
    size_t nbytes;
    cf_dirlist *list;
    char *out; /* realpath, mkstemp */
} fs_req;

/* ---- system-call helpers (worker threads) ---- */

static int sys_err(void)
{
    return cf_translate_sys_error(errno);
}

static void stat_copy(cf_stat *d, const struct stat *s)
{
    d->dev = s->st_dev;
    d->ino = s->st_ino;
    d->mode = s->st_mode;
    d->nlink = (uint32_t)s->st_nlink;
    d->uid = s->st_uid;
    d->gid = s->st_gid;
    d->rdev = s->st_rdev;
    d->size = s->st_size;
    d->blksize = s->st_blksize;
    d->blocks = s->st_blocks;
    d->atime_ns = (int64_t)s->st_atim.tv_sec * 1000000000 + s->st_atim.tv_nsec;
    d->mtime_ns = (int64_t)s->st_mtim.tv_sec * 1000000000 + s->st_mtim.tv_nsec;
    d->ctime_ns = (int64_t)s->st_ctim.tv_sec * 1000000000 + s->st_ctim.tv_nsec;
}

/* Write all of `len` bytes at `off` (-1: the file position), in chunks. Returns 0 or a code. */
static int write_all(int fd, const char *p, size_t len, int64_t off)
{
    while (len) {
        size_t n = CF_MIN(len, WRITE_CHUNK);
        ssize_t w = off < 0 ? cf__sys_write(fd, p, n) : cf__sys_pwrite(fd, p, n, (off_t)off);
        if (w < 0)
            return (int)w;
        if (w == 0)
            return CF_EIO;
        p += w;
        len -= (size_t)w;
        if (off >= 0)
            off += w;
    }
    return 0;
}

static int close_fd(int fd)
{
    if (close(fd) < 0 && errno != EINTR)
        return sys_err();
    return 0;
}

/* The folder part of `path` ("." when it has none), into `out`. */
static void dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static int fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    int fd = cf__sys_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = fsync(fd) < 0 && errno != EINVAL ? sys_err() : 0;
    close(fd);
    return rc;
}

/* ---- the registry of temporary files, for signal handlers ---- */

/*
 * The temporary files of atomic writes that exist now, as pointers to their names (owned by
 * the write, which removes its entry before the name's memory changes or goes). A signal
 * handler can reach nothing but globals, so this is one process-wide table: a slot is taken
 * with a compare-and-swap and given back with a store, and `temp_cleaning` counts the
 * cleanups running, so that a write that gave its slot back waits before reusing the name
 * while a handler on another thread may still be reading it. Lock-free: a handler never waits.
 * A write finding the table full goes on without an entry (its file is then not removed on a
 * signal).
 */
#define TEMP_SLOTS 256

_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "the temp-file registry needs lock-free pointers");

static _Atomic(const char *) temp_slots[TEMP_SLOTS];
static atomic_int temp_cleaning;

/* Record `name`; its slot, or -1 when the table is full. */
static int temp_register(const char *name)
{
    for (int i = 0; i < TEMP_SLOTS; i++) {
        const char *expected = NULL;
        if (atomic_compare_exchange_strong(&temp_slots[i], &expected, name))
            return i;
    }
    return -1;
}

/* Forget `*slot` (then -1); returns once no cleanup can still be reading the name. */
static void temp_unregister(int *slot)
{
    if (*slot < 0)
        return;
    atomic_store(&temp_slots[*slot], NULL);
    *slot = -1;
    while (atomic_load(&temp_cleaning) > 0)
        sched_yield();
}

int cf_fs_temp_cleanup(void)
{
    int removed = 0;
    atomic_fetch_add(&temp_cleaning, 1);
    for (int i = 0; i < TEMP_SLOTS; i++) {
        const char *name = atomic_load(&temp_slots[i]);
        if (name && unlink(name) == 0)
            removed++;
    }
    atomic_fetch_sub(&temp_cleaning, 1);
    return removed;
}

/* Remove the temporary files, then die of `sig` as if no handler had been installed. */
static void cleanup_and_reraise(int sig)
{
    int saved = errno;
    cf_fs_temp_cleanup();
    struct sigaction dfl;
    dfl.sa_handler = SIG_DFL;
    dfl.sa_flags = 0;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    errno = saved;
}

int cf_fs_temp_cleanup_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) < 0)
            return sys_err();
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
            continue; /* ignored, or the program's own handler: left alone */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cleanup_and_reraise;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < sizeof sigs / sizeof sigs[0]; j++) {
            sigaddset(&sa.sa_mask, sigs[j]);
        }
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return sys_err();
    }
    return 0;
}

/*
 * Create `<base><6 random letters>` with O_EXCL (mode applies with the umask). `name` must
 * hold strlen(base) + 7 bytes. With `slot`, the name is in the registry from before the file
 * exists until the caller unregisters it (on failure: unregistered here), so that no signal
 * can fall between the creation and the record. Returns the descriptor or a code.
 */
static int create_unique(const char *base, char *name, size_t len, int flags, int mode, int *slot)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int tries = 0; tries < 100; tries++) {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
            uintptr_t x = (uintptr_t)name ^ (uintptr_t)tries * 2654435761u ^ (uintptr_t)getpid();
            for (size_t i = 0; i < sizeof rnd; i++) {
                rnd[i] = (unsigned char)(x >> (i * 5));
            }
        }
        char suffix[7];
        for (size_t i = 0; i < 6; i++) {
            suffix[i] = alnum[rnd[i] % (sizeof alnum - 1)];
        }
        suffix[6] = '\0';
        if ((size_t)snprintf(name, len, "%s%s", base, suffix) >= len)
            return CF_ENAMETOOLONG;
        if (slot)
            *slot = temp_register(name);
        int fd = cf__sys_open(name, flags | O_CREAT | O_EXCL, (mode_t)mode);
        if (fd >= 0)
            return fd;
        if (slot)
            temp_unregister(slot);
        if (fd != CF_EEXIST)
            return fd;
    }
    return CF_EEXIST;
}

/* ---- where an atomic write goes (cf__fs_out, worker threads) ---- */

/* Symbolic links followed before giving up with CF_ELOOP, as the kernel does. */
#define MAX_LINKS 40

void cf__fs_out_init(cf__fs_out *o)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->slot = -1;
}

/* Whether the folder holding `path` is on procfs: its links are the kernel's, not text. */
static int on_procfs(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    struct statfs sf;
    return statfs(dir, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

/*
 * N when `path` is /proc/self/fd/N, /proc/<our pid>/fd/N or /dev/fd/N (the folder is this
 * process's fd folder, compared by inode), else -1.
 */
static int own_fd_link(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *end;
    long n = strtol(base, &end, 10);
    if (!*base || *end || n < 0 || n > INT_MAX || base[0] < '0' || base[0] > '9')
        return -1;
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    struct stat a;
    struct stat b;
    if (stat(dir, &a) != 0 || stat("/proc/self/fd", &b) != 0)
        return -1;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? (int)n : -1;
}

/* Replace the link `cur` with what it points to (relative to its folder). */
static int next_link(char *cur, size_t len)
{
    char to[PATH_MAX];
    ssize_t n = readlink(cur, to, sizeof to);
    if (n < 0)
        return sys_err();
    if ((size_t)n >= sizeof to)
        return CF_ENAMETOOLONG;
    to[n] = '\0';
    if (to[0] == '/') {
        memcpy(cur, to, (size_t)n + 1);
        return 0;
    }
    char dir[PATH_MAX];
    dir_of(cur, dir, sizeof dir);
    if ((size_t)snprintf(cur, len, "%s/%s", dir, to) >= len)
        return CF_ENAMETOOLONG;
    return 0;
}

/*
 * Follow `o->target`'s symbolic links, chains included. On return `st` describes what is
 * there (*exists 0: nothing, a new file or a dangling link's target), *own_fd is N for a link
 * to this process's descriptor N, and *kernel is 1 for another procfs link, which opening
 * follows but readlink's text does not name ("pipe:[123]").
 */
static int follow_links(cf__fs_out *o, struct stat *st, int *exists, int *own_fd, int *kernel)
{
    for (int hops = 0; hops <= MAX_LINKS; hops++) {
        if (lstat(o->target, st) < 0) {
            int rc = sys_err();
            *exists = 0;
            return rc == CF_ENOENT ? 0 : rc;
        }
        *exists = 1;
        if (!S_ISLNK(st->st_mode))
            return 0;
        if (on_procfs(o->target)) {
            *own_fd = own_fd_link(o->target);
            *kernel = 1;
            return stat(o->target, st) < 0 ? sys_err() : 0;
        }
        int rc = next_link(o->target, sizeof o->target);
        if (rc < 0)
            return rc;
    }
    return CF_ELOOP;
}

int cf_fs_descriptor_path(const char *path)
{
    if (!path || !*path)
        return CF_EINVAL;
    char cur[PATH_MAX];
    if ((size_t)snprintf(cur, sizeof cur, "%s", path) >= sizeof cur)
        return CF_ENAMETOOLONG;
    for (int hops = 0; hops <= MAX_LINKS; hops++) {
        /* By name first: the link of a descriptor that is not open does not exist. */
        int n = own_fd_link(cur);
        if (n >= 0)
            return n;
        struct stat st;
        if (lstat(cur, &st) < 0 || !S_ISLNK(st.st_mode) || on_procfs(cur))
            return CF_ENOENT;
        int rc = next_link(cur, sizeof cur);
        if (rc < 0)
            return rc;
    }
    return CF_ELOOP;
}

/* Give the new file the replaced one's owner and group (as far as allowed) and mode. */
static void keep_owner_and_mode(int fd, const struct stat *st)
{
    if (st->st_uid != geteuid() || st->st_gid != getegid()) {
        /* Only root may give a file away; others can still keep the group if they are in it. */
        if (fchown(fd, st->st_uid, st->st_gid) < 0) {
            int ignored = fchown(fd, (uid_t)-1, st->st_gid);
            (void)ignored;
        }
    }
    fchmod(fd, st->st_mode & 07777); /* after fchown, which clears set-user-ID bits */
}

/* A temporary file beside the target; `st`: the file it replaces (NULL: none). */
static int out_temp(cf__fs_out *o, const struct stat *st)
{
    char base[PATH_MAX + 8];
    if ((size_t)snprintf(base, sizeof base, "%s.tmp-", o->target) >= sizeof base)
        return CF_ENAMETOOLONG;
    int fd = create_unique(base, o->tmp, sizeof o->tmp, O_WRONLY, 0666, &o->slot);
    if (fd < 0) {
        o->tmp[0] = '\0';
        return fd;
    }
    if (st)
        keep_owner_and_mode(fd, st);
    o->fd = fd;
    o->through = 0;
    return 0;
}

/* Write through `path`: a device or a FIFO (whose open waits for a reader, on this worker). */
static int out_through(cf__fs_out *o, const struct stat *st)
{
    if (S_ISFIFO(st->st_mode)) {
        /* With cf__fs_out_wake's stores in the other order, one of the two sees the other. */
        atomic_store(&o->fifo_wait, 1);
        if (atomic_load(&o->cancel)) {
            atomic_store(&o->fifo_wait, 0);
            return CF_ECANCELED;
        }
    }
    int fd = cf__sys_open(o->target, O_WRONLY | O_TRUNC | O_NOCTTY, 0);
    atomic_store(&o->fifo_wait, 0);
    if (fd < 0)
        return fd;
    o->fd = fd;
    o->through = 1;
    return 0;
}

/*
 * Whether renaming over the regular file `st` is allowed in its folder, as far as the modes
 * tell: in a sticky folder (/tmp) only the owner of the file or of the folder may.
 */
static int rename_allowed(const char *target, const struct stat *st)
{
    char dir[PATH_MAX];
    dir_of(target, dir, sizeof dir);
    struct stat ds;
    if (stat(dir, &ds) != 0 || !(ds.st_mode & S_ISVTX))
        return 1;
    uid_t me = geteuid();
    return me == 0 || st->st_uid == me || ds.st_uid == me;
}

/*
 * Replace the regular file `st`. First the kernel's own check, the one Node's opening with
 * O_WRONLY|O_CREAT|O_TRUNC makes: opening for writing, without truncating (a read-only file:
 * CF_EACCES; root passes, except where the kernel refuses root too). When its folder takes no new
 * name, the file is truncated and written in place, as Node does, which is not atomic.
 */
static int out_replace(cf__fs_out *o, const struct stat *st)
{
    int fd = cf__sys_open(o->target, O_WRONLY | O_NOCTTY, 0);
    if (fd < 0)
        return fd;
    int rc = rename_allowed(o->target, st) ? out_temp(o, st) : CF_EPERM;
    if (rc != CF_EACCES && rc != CF_EPERM) {
        close(fd);
        return rc;
    }
    o->step = "ftruncate";
    if (ftruncate(fd, 0) < 0) {
        rc = sys_err();
        close(fd);
        return rc;
    }
    o->fd = fd;
    o->through = 1;
    return 0;
}

/*
 * A name ending in '/' names a folder, which a file cannot replace: Node's opening with O_CREAT
 * fails with EISDIR there, whatever is at the name, or with the error of the path leading
 * to it (ENOENT, ENOTDIR). The kernel's own answer to that open is taken; it creates
 * nothing, since no file can have a name ending in '/'.
 */
static int out_trailing_slash(const char *path)
{
    int fd = cf__sys_open(path, O_WRONLY | O_CREAT | O_NOCTTY, 0666);
    if (fd < 0)
        return fd;
    close(fd);
    return CF_EISDIR;
}

int cf__fs_out_open(cf__fs_out *o, const char *path)
{
    o->step = "open";
    if ((size_t)snprintf(o->target, sizeof o->target, "%s", path) >= sizeof o->target)
        return CF_ENAMETOOLONG;
    size_t len = strlen(path);
    if (len && path[len - 1] == '/')
        return out_trailing_slash(path);
    struct stat st;
    int exists = 0;
    int own_fd = -1;
    int kernel = 0;
    int rc = follow_links(o, &st, &exists, &own_fd, &kernel);
    if (rc < 0)
        return rc;
    /* /dev/fd/N of a descriptor that is not open: not a file to create (Node: EBADF). */
    if (!exists && own_fd_link(o->target) >= 0)
        return CF_EBADF;
    if (own_fd >= 0) {
        /* The same open file as the descriptor: its offset and flags (O_APPEND), as `>&N`. */
        int fd = fcntl(own_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return sys_err();
        o->fd = fd;
        o->through = 1;
        return 0;
    }
    if (S_ISDIR(st.st_mode) && exists)
        return CF_EISDIR; /* Node's open of a folder for writing: "illegal operation on a ..." */
    if (!exists)
        return out_temp(o, NULL);
    if (S_ISREG(st.st_mode) && !kernel)
        return out_replace(o, &st);
    return out_through(o, &st);
}

int cf__fs_out_commit(cf__fs_out *o)
{
    o->step = "fsync";
    if (fsync(o->fd) < 0) {
        int rc = sys_err();
        /* Pipes, terminals and some devices cannot be synced: nothing is lost there. */
        if (!o->through || (rc != CF_EINVAL && rc != CF_EROFS && rc != CF_ENOTSUP))
            return rc;
    }
    o->step = "close";
    int fd = o->fd;
    o->fd = -1;
    int rc = close_fd(fd);
    if (rc < 0 || o->through)
        return rc;
    o->step = "rename";
    if (rename(o->tmp, o->target) < 0)
        return sys_err();
    temp_unregister(&o->slot);
    o->tmp[0] = '\0';
    o->step = "fsync";
    return fsync_dir(o->target);
}

void cf__fs_out_discard(cf__fs_out *o)
{
    if (o->fd >= 0) {
        close(o->fd);
        o->fd = -1;
    }
    if (o->tmp[0]) {
        unlink(o->tmp);
        temp_unregister(&o->slot);
        o->tmp[0] = '\0';
    }
}

int cf__fs_out_wake(cf__fs_out *o)
{
    atomic_store(&o->cancel, 1);
    if (!atomic_load(&o->fifo_wait))
        return -1;
    int fd = cf__sys_open(o->target, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the operations (worker threads) ---- */

/*
 * Open `r->path` for an operation that an abort may interrupt: a FIFO's open waits for its
 * peer, which may never come, so while the open may wait `fifo_wait` is 1, and the abort
 * (fifo_wake, loop thread) opens the FIFO itself to end the wait. The abort sets `aborting`
 * before it reads `fifo_wait`, and the open clears `fifo_wait` before it reads `aborting`
 * (sequentially consistent): either the open sees the abort and gives up, or the abort sees
 * no wait and opens nothing. Returns the descriptor or a code (CF_ECANCELED when aborted).
 */
static int open_abortable(fs_req *r, int flags, int mode)
{
    atomic_store(&r->fifo_wait, 1);
    int fd = atomic_load(&r->aborting) ? CF_ECANCELED : cf__sys_open(r->path, flags, (mode_t)mode);
    atomic_store(&r->fifo_wait, 0);
    if (fd >= 0 && atomic_load(&r->aborting)) {
        close(fd);
        return CF_ECANCELED;
    }
    return fd;
}

static void op_read_file(fs_req *r)
{
    int fd = open_abortable(r, O_RDONLY, 0);
    if (fd < 0) {
        r->status = fd;
        return;
    }
    struct stat st;
    size_t cap = 64 * 1024;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        r->status = CF_EISDIR;
        r->failed = "read";
        close(fd);
        return;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uint64_t)st.st_size > CF_FS_READ_FILE_MAX) {
            r->status = CF_ETOOBIG;
            r->failed = "read";
            close(fd);
            return;
        }
        cap = (size_t)st.st_size + 1;
    }
    char *buf = cf__malloc(cap);
    size_t len = 0;
    int rc = buf ? 0 : CF_ENOMEM;
    while (rc == 0) {
        if (len + 1 == cap) {
            size_t ncap = cap * 2;
            char *nb = ncap - 1 > CF_FS_READ_FILE_MAX ? NULL : cf__realloc(buf, ncap);
            if (!nb) {
                rc = ncap - 1 > CF_FS_READ_FILE_MAX ? CF_ETOOBIG : CF_ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = cf__sys_read(fd, buf + len, CF_MIN(cap - 1 - len, (size_t)1 << 30));
        if (n < 0)
            rc = (int)n;
        else if (n == 0)
            break;
        else
            len += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        cf__free(buf);
        r->status = rc;
        r->failed = "read";
        return;
    }
    buf[len] = '\0';
    r->bytes = buf;
    r->nbytes = len;
}

static void op_write_file_atomic(fs_req *r)
{
    cf__fs_out *o = r->o;
    int rc = cf__fs_out_open(o, r->path);
    if (rc == 0 && atomic_load(&o->cancel))
        rc = CF_ECANCELED; /* the abort ended a FIFO's wait: write nothing into it */
    if (rc == 0) {
        o->step = "write";
        rc = write_all(o->fd, r->buf, r->len, -1);
    }
    if (rc == 0)
        rc = cf__fs_out_commit(o);
    if (rc < 0) {
        r->status = rc;
        r->failed = o->step;
    }
    cf__fs_out_discard(o);
}

static void op_write_file(fs_req *r, int append)
{
    if (!append && (r->flags & CF_FS_ATOMIC)) {
        op_write_file_atomic(r);
        return;
    }
    int oflags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    int fd = open_abortable(r, oflags, 0666);
    if (fd < 0) {
        r->status = fd;
        return;
    }
    int rc = write_all(fd, r->buf, r->len, -1);
    r->failed = "write";
    if (rc == 0 && (r->flags & CF_FS_FSYNC)) {
        r->failed = "fsync";
        rc = fsync(fd) < 0 ? sys_err() : 0;
    }
    int crc = close_fd(fd);
    if (rc == 0 && crc < 0) {
        r->failed = "close";
        rc = crc;
    }
    r->status = rc;
}

static int mkdir_one(const char *path, int mode, int exist_ok)
{
    if (mkdir(path, (mode_t)mode) == 0)
        return 0;
    int rc = sys_err();
    if (rc == CF_EEXIST && exist_ok) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return CF_EEXIST;
    }
    return rc;
}

static int mkdir_p(const char *path, int mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return CF_ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/')
            continue;
        buf[i] = '\0';
        int rc = mkdir_one(buf, mode, 1);
        buf[i] = '/';
        if (rc < 0 && rc != CF_EEXIST)
            return rc;
        if (rc == CF_EEXIST)
            return CF_ENOTDIR;
    }
    return mkdir_one(buf, mode, 1);
}

static int dirent_type(unsigned char t)
{
    switch (t) {
    case DT_REG:
        return CF_DIRENT_FILE;
    case DT_DIR:
        return CF_DIRENT_DIR;
    case DT_LNK:
        return CF_DIRENT_LINK;
    case DT_FIFO:
        return CF_DIRENT_FIFO;
    case DT_SOCK:
        return CF_DIRENT_SOCKET;
    case DT_CHR:
        return CF_DIRENT_CHAR;
    case DT_BLK:
        return CF_DIRENT_BLOCK;
    default:
        return CF_DIRENT_UNKNOWN;
    }
}

static int cmp_dirent(const void *a, const void *b)
{
    return strcmp(((const cf_dirent *)a)->name, ((const cf_dirent *)b)->name);
}

/*
 * List a folder into one block: the cf_dirlist, the entries, then the names. Names are
 * gathered in a growable buffer first (offsets in `name` until the block is made).
 */
static void op_readdir(fs_req *r)
{
    DIR *d = opendir(r->path);
    if (!d) {
        r->status = sys_err();
        return;
    }
    cf_dbuf names;
    cf__dbuf_init(&names, 0);
    cf_dbuf ents;
    cf__dbuf_init(&ents, 0);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cf_dirent de = {(const char *)(uintptr_t)names.len, dirent_type(e->d_type)};
        rc = cf__dbuf_add(&names, e->d_name, strlen(e->d_name) + 1);
        if (rc == 0)
            rc = cf__dbuf_add(&ents, &de, sizeof de);
    }
    if (rc == 0 && errno)
        rc = sys_err();
    closedir(d);
    size_t count = ents.len / sizeof(cf_dirent);
    cf_dirlist *list = NULL;
    if (rc == 0) {
        list = cf__malloc(sizeof *list + ents.len + names.len + 1);
        rc = list ? 0 : CF_ENOMEM;
    }
    if (rc == 0) {
        list->count = count;
        list->entries = (cf_dirent *)(list + 1);
        char *nm = (char *)(list->entries + count);
        if (count)
            memcpy(list->entries, ents.data, ents.len);
        if (names.len)
            memcpy(nm, names.data, names.len);
        for (size_t i = 0; i < count; i++) {
            list->entries[i].name = nm + (uintptr_t)list->entries[i].name;
        }
        qsort(list->entries, count, sizeof(cf_dirent), cmp_dirent);
    }
    cf__dbuf_free(&names);
    cf__dbuf_free(&ents);
    r->status = rc;
    r->list = list;
}

static void op_mkstemp(fs_req *r)
{
    char base[PATH_MAX];
    char name[PATH_MAX + 8];
    if ((size_t)snprintf(base, sizeof base, "%s/%s", r->path, r->path2 ? r->path2 : "tmp-") >=
        sizeof base) {
        r->status = CF_ENAMETOOLONG;
        return;
    }
    int fd = create_unique(base, name, sizeof name, O_RDWR, 0600, NULL);
    if (fd < 0) {
        r->status = fd;
        return;
    }
    r->out = cf__strdup(name);
    if (!r->out) {
        close(fd);
        unlink(name);
        r->status = CF_ENOMEM;
        return;
    }
    r->status = fd;
}

static void op_realpath(fs_req *r)
{
    char buf[PATH_MAX];
    if (!realpath(r->path, buf)) {
        r->status = sys_err();
        return;
    }
    r->out = cf__strdup(buf);
    r->status = r->out ? 0 : CF_ENOMEM;
}

static void op_stat(fs_req *r)
{
    struct stat st;
    int rc;
    if (r->op == OP_STAT)
        rc = stat(r->path, &st);
    else if (r->op == OP_LSTAT)
        rc = lstat(r->path, &st);
    else
        rc = fstat(r->fd, &st);
    if (rc < 0) {
        r->status = sys_err();
        return;
    }
    stat_copy(&r->st, &st);
}

static void op_rw(fs_req *r)
{
    size_t len = CF_MIN(r->len, (size_t)1 << 30);
    ssize_t n;
    if (r->op == OP_READ) {
        n = r->off < 0 ? cf__sys_read(r->fd, r->buf, len)
                       : cf__sys_pread(r->fd, r->buf, len, (off_t)r->off);
        r->status = (int)n;
        return;
    }
    int rc = write_all(r->fd, r->buf, r->len, r->off);
    r->status = rc < 0 ? rc : (int)CF_MIN(r->len, (size_t)INT_MAX);
}

/* The errors of copy_file_range that mean "not here" rather than "failed": copy through memory. */
static int copy_unsupported(ssize_t rc)
{
    return rc == CF_EXDEV || rc == CF_EINVAL || rc == CF_ENOSYS || rc == CF_ENOTSUP ||
           rc == CF_EBADF || rc == -EOPNOTSUPP;
}

/* The copy through memory: one read of at most 1 MiB, then all of it written. */
static void op_copy_fallback(fs_req *r, size_t len)
{
    len = CF_MIN(len, WRITE_CHUNK);
    char *buf = cf__malloc(len ? len : 1);
    if (!buf) {
        r->status = CF_ENOMEM;
        return;
    }
    ssize_t n =
        r->off < 0 ? cf__sys_read(r->fd, buf, len) : cf__sys_pread(r->fd, buf, len, (off_t)r->off);
    if (n < 0) {
        r->failed = "read";
        r->status = (int)n;
    } else {
        int rc = n ? write_all(r->fd2, buf, (size_t)n, r->off2) : 0;
        r->failed = rc < 0 ? "write" : NULL;
        r->status = rc < 0 ? rc : (int)n;
    }
    cf__free(buf);
}

/*
 * copy_file_range, or the copy through memory where the kernel cannot. A 0 is checked with a
 * read: some files (procfs, sysfs) report 0 to copy_file_range whatever they hold, and at the
 * real end of the input the read costs one system call.
 */
static void op_copy(fs_req *r)
{
    size_t len = CF_MIN(r->len, (size_t)1 << 30);
    off_t in = (off_t)r->off, out = (off_t)r->off2;
    ssize_t n = cf__sys_copy_file_range(r->fd, r->off < 0 ? NULL : &in, r->fd2,
                                        r->off2 < 0 ? NULL : &out, len);
    if (copy_unsupported(n) || (n == 0 && len)) {
        op_copy_fallback(r, len);
        return;
    }
    r->status = (int)n;
}

/* The system calls of `r`, on a worker thread. */
static void run_op(fs_req *r)
{
    switch (r->op) {
    case OP_OPEN:
        r->status = open_abortable(r, r->flags, r->mode);
        break;
    case OP_CLOSE:
        r->status = close_fd(r->fd);
        break;
    case OP_READ:
    case OP_WRITE:
        op_rw(r);
        break;
    case OP_FSYNC:
        r->status = fsync(r->fd) < 0 ? sys_err() : 0;
        break;
    case OP_READ_FILE:
        op_read_file(r);
        break;
    case OP_WRITE_FILE:
    case OP_APPEND_FILE:
        op_write_file(r, r->op == OP_APPEND_FILE);
        break;
    case OP_RENAME:
        r->status = rename(r->path, r->path2) < 0 ? sys_err() : 0;
        break;
    case OP_UNLINK:
        r->status = unlink(r->path) < 0 ? sys_err() : 0;
        break;
    case OP_MKDIR:
        r->status = (r->flags & CF_FS_RECURSIVE) ? mkdir_p(r->path, r->mode)
                                                 : mkdir_one(r->path, r->mode, 0);
        break;
    case OP_RMDIR:
        r->status = rmdir(r->path) < 0 ? sys_err() : 0;
        break;
    case OP_READDIR:
        op_readdir(r);
        break;
    case OP_REALPATH:
        op_realpath(r);
        break;
    case OP_MKSTEMP:
        op_mkstemp(r);
        break;
    case OP_STAT:
    case OP_LSTAT:
    case OP_FSTAT:
        op_stat(r);
        break;
    case OP_COPY:
        op_copy(r);
        break;
    }
}

/* ---- requests (loop thread) ---- */

static void req_free(fs_req *r)
{
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    cf__free(r->o);
    cf__free(r->path);
    cf__free(r->path2);
    cf__free(r->bytes);
    cf__free(r->list);
    cf__free(r->out);
    cf__free(r);
}

static void work_fn(cf__work *w)
{
    run_op(CF_CONTAINER_OF(w, fs_req, work));
}

/* The message of a failed request: "<call> '<path>'", "rename 'a' -> 'b'", "read (fd 3)". */
static const cf_error *req_error(fs_req *r, cf_error *fb)
{
    const char *call = r->failed ? r->failed : op_names[r->op];
    if (r->op == OP_RENAME)
        return cf__io_err(fb, r->site, r->status, "%s '%s' -> '%s'", call, r->path, r->path2);
    if (r->path)
        return cf__io_err(fb, r->site, r->status, "%s '%s'", call, r->path);
    if (r->op == OP_COPY)
        return cf__io_err(fb, r->site, r->status, "%s (fd %d -> fd %d)", call, r->fd, r->fd2);
    return cf__io_err(fb, r->site, r->status, "%s (fd %d)", call, r->fd);
}

static void call_back(fs_req *r, const cf_error *e)
{
    int ok = r->status >= 0;
    switch (r->kind) {
    case CB_PLAIN:
        ((cf_fs_cb)r->cb)(r->status, e, r->data);
        break;
    case CB_DATA:
        ((cf_fs_data_cb)r->cb)(r->status, e, ok ? r->bytes : NULL, ok ? r->nbytes : 0, r->data);
        break;
    case CB_STAT:
        ((cf_fs_stat_cb)r->cb)(r->status, e, ok ? &r->st : NULL, r->data);
        break;
    case CB_DIR:
        ((cf_fs_readdir_cb)r->cb)(r->status, e, ok ? r->list : NULL, r->data);
        break;
    case CB_PATH:
        ((cf_fs_path_cb)r->cb)(r->status, e, ok ? r->out : NULL, r->data);
        break;
    }
}

/*
 * An aborted request reports the abort, whatever it did: give back what it made and nobody
 * will receive (the descriptor of an open; mkstemp's file, whose name nobody learns).
 */
static void drop_results(fs_req *r)
{
    if (r->status >= 0 && (r->op == OP_OPEN || r->op == OP_MKSTEMP))
        close(r->status);
    if (r->status >= 0 && r->op == OP_MKSTEMP && r->out)
        unlink(r->out);
    r->status = CF_ECANCELED;
}

static void done_fn(cf__work *w, int status)
{
    fs_req *r = CF_CONTAINER_OF(w, fs_req, work);
    cf_error fb;
    const cf_error *e = NULL;
    cf_error *abort_err = NULL;
    if (status == CF_ECANCELED && cf_abort_signal_aborted(w->signal)) {
        drop_results(r);
        abort_err = cf__work_abort_error(w, r->site);
        e = abort_err ? abort_err : cf__io_err(&fb, r->site, CF_ECANCELED, "%s", op_names[r->op]);
    } else {
        if (status < 0 && r->status >= 0)
            r->status = status; /* the pool could not run it */
        e = r->status < 0 ? req_error(r, &fb) : NULL;
    }
    call_back(r, e);
    if (abort_err)
        cf_error_free(abort_err);
    else
        cf__io_err_free(e, &fb);
    req_free(r);
}

/* The signal aborted while a worker runs the request (loop thread): end a FIFO's wait. */
static void fifo_wake(fs_req *r)
{
    atomic_store(&r->aborting, 1);
    if (r->wake_fd >= 0)
        return;
    if (r->o) {
        r->wake_fd = cf__fs_out_wake(r->o);
        return;
    }
    struct stat st;
    if (!atomic_load(&r->fifo_wait) || stat(r->path, &st) != 0 || !S_ISFIFO(st.st_mode))
        return;
    /* Read-write: a peer for an open that waits for a reader or for a writer alike. */
    int fd = cf__sys_open(r->path, O_RDWR | O_NONBLOCK | O_NOCTTY, 0);
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))) {
        close(fd);
        fd = -1;
    }
    r->wake_fd = fd;
}

static void on_abort(cf__work *w)
{
    fifo_wake(CF_CONTAINER_OF(w, fs_req, work));
}

static fs_req *req_new(cf_loop *loop, enum fs_op op, enum cb_kind kind, void *cb, void *data,
                       cf_abort_signal *signal, cf_site site)
{
    fs_req *r = cf__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->signal = signal;
    r->wake_fd = -1;
    r->work.on_abort = on_abort;
    r->loop = loop;
    r->op = op;
    r->kind = kind;
    r->cb = cb;
    r->data = data;
    r->site = site;
    r->fd = -1;
    return r;
}

/* Copy the paths in and submit. On failure `r` is freed. Returns 0, CF_ENOMEM, ... */
static int req_submit(fs_req *r, const char *path, const char *path2)
{
    if (path && !(r->path = cf__strdup(path)))
        goto nomem;
    if (path2 && !(r->path2 = cf__strdup(path2)))
        goto nomem;
    int rc = cf__work_submit(r->loop, &r->work, r->signal, work_fn, done_fn);
    if (rc < 0) {
        req_free(r);
        return rc;
    }
    return 0;
nomem:
    req_free(r);
    return CF_ENOMEM;
}

/* The common start of a callback form: check, allocate. */
#define REQ_NEW(r, loop, op, kind, cb, data, signal, site)                                         \
    do {                                                                                           \
        if (!(loop) || !(cb))                                                                      \
            return CF_EINVAL;                                                                      \
        (r) = req_new((loop), (op), (kind), (void *)(cb), (data), (signal), (site));               \
        if (!(r))                                                                                  \
            return CF_ENOMEM;                                                                      \
    } while (0)

/*
 * ---- callback forms ----
 *
 * Each public function takes its caller's site (CF__SITE_CALLER, util/site.h) and
 * calls a helper that takes the site as an argument; the promise forms call the same helpers
 * with their own caller's site, never the public functions.
 */

static int open_op(cf_loop *loop, const char *path, int flags, int mode, cf_fs_cb cb, void *data,
                   cf_abort_signal *signal, cf_site site)
{
    if (!path)
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, OP_OPEN, CB_PLAIN, cb, data, signal, site);
    r->flags = flags;
    r->mode = mode;
    return req_submit(r, path, NULL);
}

CF__NOINLINE int cf_fs_open(cf_loop *loop, const char *path, int flags, int mode,
                            cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return open_op(loop, path, flags, mode, cb, data, signal, CF__SITE_CALLER());
}

static int fd_op(cf_loop *loop, int fd, enum fs_op op, enum cb_kind kind, void *cb, void *data,
                 cf_abort_signal *signal, cf_site site)
{
    if (fd < 0)
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, op, kind, cb, data, signal, site);
    r->fd = fd;
    return req_submit(r, NULL, NULL);
}

CF__NOINLINE int cf_fs_close(cf_loop *loop, int fd, cf_abort_signal *signal, cf_fs_cb cb,
                             void *data)
{
    return fd_op(loop, fd, OP_CLOSE, CB_PLAIN, (void *)cb, data, signal, CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_fsync(cf_loop *loop, int fd, cf_abort_signal *signal, cf_fs_cb cb,
                             void *data)
{
    return fd_op(loop, fd, OP_FSYNC, CB_PLAIN, (void *)cb, data, signal, CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_fstat(cf_loop *loop, int fd, cf_abort_signal *signal, cf_fs_stat_cb cb,
                             void *data)
{
    return fd_op(loop, fd, OP_FSTAT, CB_STAT, (void *)cb, data, signal, CF__SITE_CALLER());
}

static int rw_op(cf_loop *loop, enum fs_op op, int fd, void *buf, size_t len, int64_t offset,
                 cf_fs_cb cb, void *data, cf_abort_signal *signal, cf_site site)
{
    if ((op == OP_WRITE && len > INT_MAX) || fd < 0 || (!buf && len) || offset < -1 ||
        cf__ptr_on_movable_stack(buf))
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, op, CB_PLAIN, cb, data, signal, site);
    r->fd = fd;
    r->buf = buf;
    r->len = len;
    r->off = offset;
    return req_submit(r, NULL, NULL);
}

CF__NOINLINE int cf_fs_read(cf_loop *loop, int fd, void *buf, size_t len, int64_t offset,
                            cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return rw_op(loop, OP_READ, fd, buf, len, offset, cb, data, signal, CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_write(cf_loop *loop, int fd, const void *buf, size_t len, int64_t offset,
                             cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return rw_op(loop, OP_WRITE, fd, (void *)buf, len, offset, cb, data, signal, CF__SITE_CALLER());
}

static int copy_op(cf_loop *loop, int fd_in, int64_t off_in, int fd_out, int64_t off_out,
                   size_t len, cf_fs_cb cb, void *data, cf_abort_signal *signal, cf_site site)
{
    if (fd_in < 0 || fd_out < 0 || off_in < -1 || off_out < -1)
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, OP_COPY, CB_PLAIN, cb, data, signal, site);
    r->fd = fd_in;
    r->fd2 = fd_out;
    r->off = off_in;
    r->off2 = off_out;
    r->len = len;
    return req_submit(r, NULL, NULL);
}

CF__NOINLINE int cf_fs_copy_file_range(cf_loop *loop, int fd_in, int64_t off_in, int fd_out,
                                       int64_t off_out, size_t len, cf_abort_signal *signal,
                                       cf_fs_cb cb, void *data)
{
    return copy_op(loop, fd_in, off_in, fd_out, off_out, len, cb, data, signal, CF__SITE_CALLER());
}

static int write_file(cf_loop *loop, enum fs_op op, const char *path, const void *bytes, size_t len,
                      int flags, cf_fs_cb cb, void *data, cf_abort_signal *signal, cf_site site)
{
    if (!path || (!bytes && len) || cf__ptr_on_movable_stack(bytes))
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, op, CB_PLAIN, cb, data, signal, site);
    r->buf = (void *)bytes;
    r->len = len;
    r->flags = flags;
    if (op == OP_WRITE_FILE && (flags & CF_FS_ATOMIC)) {
        r->o = cf__malloc(sizeof *r->o); /* here, so that an abort can reach it */
        if (!r->o) {
            req_free(r);
            return CF_ENOMEM;
        }
        cf__fs_out_init(r->o);
    }
    return req_submit(r, path, NULL);
}

CF__NOINLINE int cf_fs_write_file(cf_loop *loop, const char *path, const void *bytes, size_t len,
                                  int flags, cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return write_file(loop, OP_WRITE_FILE, path, bytes, len, flags, cb, data, signal,
                      CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_append_file(cf_loop *loop, const char *path, const void *bytes, size_t len,
                                   cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return write_file(loop, OP_APPEND_FILE, path, bytes, len, 0, cb, data, signal,
                      CF__SITE_CALLER());
}

static int path_op(cf_loop *loop, enum fs_op op, enum cb_kind kind, const char *path,
                   const char *path2, void *cb, void *data, cf_abort_signal *signal, cf_site site)
{
    if (!path || (op == OP_RENAME && !path2))
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, op, kind, cb, data, signal, site);
    return req_submit(r, path, path2);
}

CF__NOINLINE int cf_fs_read_file(cf_loop *loop, const char *path, cf_abort_signal *signal,
                                 cf_fs_data_cb cb, void *data)
{
    return path_op(loop, OP_READ_FILE, CB_DATA, path, NULL, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_rename(cf_loop *loop, const char *from, const char *to,
                              cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return path_op(loop, OP_RENAME, CB_PLAIN, from, to, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_unlink(cf_loop *loop, const char *path, cf_abort_signal *signal, cf_fs_cb cb,
                              void *data)
{
    return path_op(loop, OP_UNLINK, CB_PLAIN, path, NULL, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_rmdir(cf_loop *loop, const char *path, cf_abort_signal *signal, cf_fs_cb cb,
                             void *data)
{
    return path_op(loop, OP_RMDIR, CB_PLAIN, path, NULL, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_readdir(cf_loop *loop, const char *path, cf_abort_signal *signal,
                               cf_fs_readdir_cb cb, void *data)
{
    return path_op(loop, OP_READDIR, CB_DIR, path, NULL, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_realpath(cf_loop *loop, const char *path, cf_abort_signal *signal,
                                cf_fs_path_cb cb, void *data)
{
    return path_op(loop, OP_REALPATH, CB_PATH, path, NULL, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_stat(cf_loop *loop, const char *path, cf_abort_signal *signal,
                            cf_fs_stat_cb cb, void *data)
{
    return path_op(loop, OP_STAT, CB_STAT, path, NULL, (void *)cb, data, signal, CF__SITE_CALLER());
}

CF__NOINLINE int cf_fs_lstat(cf_loop *loop, const char *path, cf_abort_signal *signal,
                             cf_fs_stat_cb cb, void *data)
{
    return path_op(loop, OP_LSTAT, CB_STAT, path, NULL, (void *)cb, data, signal,
                   CF__SITE_CALLER());
}

static int mkstemp_op(cf_loop *loop, const char *dir, const char *prefix, cf_fs_path_cb cb,
                      void *data, cf_abort_signal *signal, cf_site site)
{
    if (prefix && strchr(prefix, '/'))
        return CF_EINVAL;
    return path_op(loop, OP_MKSTEMP, CB_PATH, dir, prefix, (void *)cb, data, signal, site);
}

CF__NOINLINE int cf_fs_mkstemp(cf_loop *loop, const char *dir, const char *prefix,
                               cf_abort_signal *signal, cf_fs_path_cb cb, void *data)
{
    return mkstemp_op(loop, dir, prefix, cb, data, signal, CF__SITE_CALLER());
}

static int mkdir_op(cf_loop *loop, const char *path, int mode, int flags, cf_fs_cb cb, void *data,
                    cf_abort_signal *signal, cf_site site)
{
    if (!path)
        return CF_EINVAL;
    fs_req *r;
    REQ_NEW(r, loop, OP_MKDIR, CB_PLAIN, cb, data, signal, site);
    r->mode = mode;
    r->flags = flags;
    return req_submit(r, path, NULL);
}

CF__NOINLINE int cf_fs_mkdir(cf_loop *loop, const char *path, int mode, int flags,
                             cf_abort_signal *signal, cf_fs_cb cb, void *data)
{
    return mkdir_op(loop, path, mode, flags, cb, data, signal, CF__SITE_CALLER());
}

/* ---- promise forms ---- */

static void p_int_cb(int status, const cf_error *err, void *data)
{
    cf__io_settle(data, status, err, (void *)(intptr_t)(status > 0 ? status : 0), NULL);
}

static void p_data_cb(int status, const cf_error *err, const char *bytes, size_t len, void *data)
{
    cf_buf *b = NULL;
    if (status >= 0) {
        b = cf__io_buf_new(bytes, len);
        if (!b) {
            cf_promise *p = data;
            cf_promise_reject(p, CF_ERROR(CF_ENOMEM, NULL));
            cf_promise_release(p);
            return;
        }
    }
    cf__io_settle(data, status, err, b, cf_free);
}

static void p_stat_cb(int status, const cf_error *err, const cf_stat *st, void *data)
{
    cf_stat *copy = NULL;
    if (status >= 0 && (copy = cf__memdup(st, sizeof *st)) == NULL) {
        status = CF_ENOMEM;
        err = NULL;
    }
    cf__io_settle(data, status, err, copy, cf_free);
}

static void p_dir_cb(int status, const cf_error *err, const cf_dirlist *list, void *data)
{
    cf_dirlist *copy = NULL;
    if (status >= 0) {
        size_t size = sizeof *copy + list->count * sizeof(cf_dirent);
        for (size_t i = 0; i < list->count; i++) {
            size += strlen(list->entries[i].name) + 1;
        }
        copy = cf__malloc(size);
        if (!copy) {
            status = CF_ENOMEM;
            err = NULL;
        } else {
            copy->count = list->count;
            copy->entries = (cf_dirent *)(copy + 1);
            char *nm = (char *)(copy->entries + list->count);
            for (size_t i = 0; i < list->count; i++) {
                size_t n = strlen(list->entries[i].name) + 1;
                memcpy(nm, list->entries[i].name, n);
                copy->entries[i].name = nm;
                copy->entries[i].type = list->entries[i].type;
                nm += n;
            }
        }
    }
    cf__io_settle(data, status, err, copy, cf_free);
}

static void p_path_cb(int status, const cf_error *err, const char *path, void *data)
{
    char *copy = NULL;
    if (status >= 0 && (copy = cf__strdup(path)) == NULL) {
        status = CF_ENOMEM;
        err = NULL;
    }
    cf__io_settle(data, status, err, copy, cf_free);
}

static void p_temp_cb(int status, const cf_error *err, const char *path, void *data)
{
    cf_fs_tempfile *tf = NULL;
    if (status >= 0) {
        size_t n = strlen(path) + 1;
        tf = cf__malloc(sizeof *tf + n);
        if (!tf) {
            close(status);
            unlink(path);
            status = CF_ENOMEM;
            err = NULL;
        } else {
            tf->fd = status;
            tf->path = (char *)(tf + 1);
            memcpy(tf->path, path, n);
        }
    }
    cf__io_settle(data, status, err, tf, cf_free);
}

/*
 * The start of every `_p`: take the caller's site (first, so that it is never left for a later
 * operation), then a promise, or NULL when it cannot be allocated.
 */
#define P_NEW(p, site, loop)                                                                       \
    cf_site site = CF__SITE_CALLER();                                                              \
    cf_promise *p = cf_promise_new(loop);                                                          \
    if (!p)                                                                                        \
    return NULL

#define P_ARG(x) ((x) ? (x) : "(null)")

CF__NOINLINE cf_promise *cf_fs_open_p(cf_loop *loop, const char *path, int flags, int mode,
                                      cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = open_op(loop, path, flags, mode, p_int_cb, cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "open '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_close_p(cf_loop *loop, int fd, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc =
        fd_op(loop, fd, OP_CLOSE, CB_PLAIN, (void *)p_int_cb, cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "close (fd %d)", fd);
}

CF__NOINLINE cf_promise *cf_fs_read_p(cf_loop *loop, int fd, void *buf, size_t len, int64_t offset,
                                      cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc =
        rw_op(loop, OP_READ, fd, buf, len, offset, p_int_cb, cf_promise_retain(p), signal, site);
    if (cf__ptr_on_movable_stack(buf))
        return cf__io_p_started(p, site, rc, "read (fd %d): %s", fd, CF__MOVABLE_STACK_RULE);
    return cf__io_p_started(p, site, rc, "read (fd %d)", fd);
}

CF__NOINLINE cf_promise *cf_fs_write_p(cf_loop *loop, int fd, const void *buf, size_t len,
                                       int64_t offset, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = rw_op(loop, OP_WRITE, fd, (void *)buf, len, offset, p_int_cb, cf_promise_retain(p),
                   signal, site);
    if (cf__ptr_on_movable_stack(buf))
        return cf__io_p_started(p, site, rc, "write (fd %d): %s", fd, CF__MOVABLE_STACK_RULE);
    return cf__io_p_started(p, site, rc, "write (fd %d)", fd);
}

CF__NOINLINE cf_promise *cf_fs_copy_file_range_p(cf_loop *loop, int fd_in, int64_t off_in,
                                                 int fd_out, int64_t off_out, size_t len,
                                                 cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = copy_op(loop, fd_in, off_in, fd_out, off_out, len, p_int_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "copy_file_range (fd %d -> fd %d)", fd_in, fd_out);
}

CF__NOINLINE cf_promise *cf_fs_fsync_p(cf_loop *loop, int fd, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc =
        fd_op(loop, fd, OP_FSYNC, CB_PLAIN, (void *)p_int_cb, cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "fsync (fd %d)", fd);
}

CF__NOINLINE cf_promise *cf_fs_read_file_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_READ_FILE, CB_DATA, path, NULL, (void *)p_data_cb,
                     cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "open '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_write_file_p(cf_loop *loop, const char *path, const void *bytes,
                                            size_t len, int flags, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = write_file(loop, OP_WRITE_FILE, path, bytes, len, flags, p_int_cb,
                        cf_promise_retain(p), signal, site);
    if (cf__ptr_on_movable_stack(bytes))
        return cf__io_p_started(p, site, rc, "write '%s': %s", P_ARG(path), CF__MOVABLE_STACK_RULE);
    return cf__io_p_started(p, site, rc, "open '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_append_file_p(cf_loop *loop, const char *path, const void *bytes,
                                             size_t len, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = write_file(loop, OP_APPEND_FILE, path, bytes, len, 0, p_int_cb, cf_promise_retain(p),
                        signal, site);
    if (cf__ptr_on_movable_stack(bytes))
        return cf__io_p_started(p, site, rc, "append '%s': %s", P_ARG(path),
                                CF__MOVABLE_STACK_RULE);
    return cf__io_p_started(p, site, rc, "open '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_rename_p(cf_loop *loop, const char *from, const char *to,
                                        cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_RENAME, CB_PLAIN, from, to, (void *)p_int_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "rename '%s' -> '%s'", P_ARG(from), P_ARG(to));
}

CF__NOINLINE cf_promise *cf_fs_unlink_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_UNLINK, CB_PLAIN, path, NULL, (void *)p_int_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "unlink '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_mkdir_p(cf_loop *loop, const char *path, int mode, int flags,
                                       cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = mkdir_op(loop, path, mode, flags, p_int_cb, cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "mkdir '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_rmdir_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_RMDIR, CB_PLAIN, path, NULL, (void *)p_int_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "rmdir '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_readdir_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_READDIR, CB_DIR, path, NULL, (void *)p_dir_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "scandir '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_realpath_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_REALPATH, CB_PATH, path, NULL, (void *)p_path_cb,
                     cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "realpath '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_mkstemp_p(cf_loop *loop, const char *dir, const char *prefix,
                                         cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = mkstemp_op(loop, dir, prefix, p_temp_cb, cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "mkstemp '%s'", P_ARG(dir));
}

CF__NOINLINE cf_promise *cf_fs_stat_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_STAT, CB_STAT, path, NULL, (void *)p_stat_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "stat '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_lstat_p(cf_loop *loop, const char *path, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc = path_op(loop, OP_LSTAT, CB_STAT, path, NULL, (void *)p_stat_cb, cf_promise_retain(p),
                     signal, site);
    return cf__io_p_started(p, site, rc, "lstat '%s'", P_ARG(path));
}

CF__NOINLINE cf_promise *cf_fs_fstat_p(cf_loop *loop, int fd, cf_abort_signal *signal)
{
    P_NEW(p, site, loop);
    int rc =
        fd_op(loop, fd, OP_FSTAT, CB_STAT, (void *)p_stat_cb, cf_promise_retain(p), signal, site);
    return cf__io_p_started(p, site, rc, "fstat (fd %d)", fd);
}
