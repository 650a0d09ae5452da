/*
 * Calcifer: files (≈ Node's `fs` and `fs.promises`).
 *
 * Every operation runs its system calls on the thread pool and reports on the loop thread, in
 * the poll phase. Each exists twice: a callback function (error first, ≈ `fs.readFile(path,
 * cb)`) and a `_p` function returning a promise (≈ `fs.promises.readFile`).
 *
 * Conventions shared by the whole library (docs/conventions.md):
 * - A callback function returns 0 when the operation started; then its callback runs exactly
 *   once, later, on the loop thread. A negative return (CF_EINVAL, CF_ENOMEM) means it did not
 *   start and the callback never runs.
 * - Cancelling: every operation takes a `cf_abort_signal *signal` (NULL: none) right before
 *   its callback, or last in the promise form. An aborted operation fails with CF_ECANCELED,
 *   "The operation was aborted", whose cause (cf_error_cause) is the signal's reason
 *   (CF_ETIMEDOUT for cf_abort_signal_timeout) and whose place is the line that started it.
 *   A signal already aborted: the operation does not start; it fails from the loop (the
 *   callback runs later, the promise rejects). Aborted while waiting for a pool thread: it is
 *   dropped and never runs. Aborted while a thread runs its system calls: those cannot be
 *   taken back, so they finish (what they did stays: a file written, renamed, removed) and
 *   the operation reports the abort all the same; what nobody would receive is given back
 *   (an open's descriptor is closed, mkstemp's file removed). An open waiting for a FIFO's
 *   peer is the exception: the abort ends the wait (opening the FIFO itself for an instant)
 *   and nothing is read or written. After the callback has run the signal is ignored; the
 *   operation keeps a reference to it only until then.
 * - Callbacks get `int status` first: 0 or a count on success, a negative CF_E* on failure,
 *   and `const cf_error *err`: NULL on success, otherwise the error with a message naming the
 *   operation and the path ("open 'films.csv': permission denied"). `err` is borrowed until
 *   the callback returns (copy it with cf_error_copy to keep it).
 * - `_p` functions never fail synchronously: every error rejects the promise with a cf_error.
 *   They return NULL only when the promise itself cannot be allocated.
 * - Paths are copied; buffers to write are borrowed until the callback runs or the promise
 *   settles; buffers to read into are borrowed the same way.
 */
#ifndef CALCIFER_FS_H
#define CALCIFER_FS_H

#include <stdint.h>

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* File metadata (≈ fs.Stats). A plain value; times are nanoseconds since the epoch. */
typedef struct cf_stat {
    uint64_t dev;
    uint64_t ino;
    uint32_t mode; /* type and permission bits: test with S_ISREG(mode), S_ISDIR(mode) */
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    uint64_t rdev;
    int64_t size;
    int64_t blksize;
    int64_t blocks;
    int64_t atime_ns;
    int64_t mtime_ns;
    int64_t ctime_ns;
} cf_stat;

/* Kinds of directory entries (≈ fs.Dirent's isFile() and friends). */
enum cf_dirent_type {
    CF_DIRENT_UNKNOWN = 0,
    CF_DIRENT_FILE,
    CF_DIRENT_DIR,
    CF_DIRENT_LINK,
    CF_DIRENT_FIFO,
    CF_DIRENT_SOCKET,
    CF_DIRENT_CHAR,
    CF_DIRENT_BLOCK
};

/* One directory entry (≈ fs.Dirent). `name` is borrowed from the list that holds it. */
typedef struct cf_dirent {
    const char *name;
    int type; /* enum cf_dirent_type */
} cf_dirent;

/*
 * A directory listing, the value `cf_fs_readdir_p` fulfils with: `count` entries sorted by
 * name, without "." and "..". Freed with `cf_free` (one block).
 */
typedef struct cf_dirlist {
    size_t count;
    cf_dirent *entries;
} cf_dirlist;

/* A temporary file just created: its descriptor and path, the value of `cf_fs_mkstemp_p`. */
typedef struct cf_fs_tempfile {
    int fd;
    char *path; /* in the same block */
} cf_fs_tempfile;

/* ---- callback types ---- */

/* Operations with no result beyond a number: `status` is the descriptor, byte count or 0. */
typedef void (*cf_fs_cb)(int status, const cf_error *err, void *data);
/* Whole-file read: `bytes` (NUL-terminated, `len` bytes) is borrowed until the callback returns. */
typedef void (*cf_fs_data_cb)(int status, const cf_error *err, const char *bytes, size_t len,
                              void *data);
/* stat/lstat/fstat: `st` is borrowed until the callback returns; NULL on error. */
typedef void (*cf_fs_stat_cb)(int status, const cf_error *err, const cf_stat *st, void *data);
/* readdir: `list` is borrowed until the callback returns; NULL on error. */
typedef void (*cf_fs_readdir_cb)(int status, const cf_error *err, const cf_dirlist *list,
                                 void *data);
/*
 * realpath and mkstemp: `path` is borrowed until the callback returns; for mkstemp `status` is
 * the new descriptor (which the callback owns).
 */
typedef void (*cf_fs_path_cb)(int status, const cf_error *err, const char *path, void *data);

/* ---- flags ---- */

/*
 * cf_fs_write_file: write a temporary file, fsync it, rename it over the target, fsync the
 * folder (for a regular file or a new one; see cf_fs_write_file for the others).
 */
#define CF_FS_ATOMIC 0x1
/* cf_fs_write_file: fsync the file before reporting (implied by CF_FS_ATOMIC). */
#define CF_FS_FSYNC 0x2
/* cf_fs_mkdir: create missing parents, and succeed when the folder exists (≈ {recursive:true}). */
#define CF_FS_RECURSIVE 0x4

/* Largest whole file cf_fs_read_file accepts (≈ buffer.constants.MAX_LENGTH); CF_ETOOBIG past it.
 */
#define CF_FS_READ_FILE_MAX ((size_t)1 << 31)

/* ---- descriptors: open, read, write, fsync, close ---- */

/*
 * Open a file (≈ fs.open). `flags` are open(2) flags (O_RDONLY, O_WRONLY|O_CREAT|O_TRUNC, ...;
 * O_CLOEXEC is always added); `mode` applies when creating. `cb` gets the descriptor as
 * `status`; the callback owns it and closes it with cf_fs_close.
 * Errors: CF_ENOENT, CF_EACCES, CF_EEXIST, CF_EISDIR, CF_ENOTDIR, CF_EMFILE, or another -errno;
 * CF_EINVAL (NULL path), CF_ENOMEM. Ownership: `path` copied. Thread: loop only.
 */
CF_EXTERN int cf_fs_open(cf_loop *loop, const char *path, int flags, int mode,
                         cf_abort_signal *signal, cf_fs_cb cb, void *data);
/* Promise form: fulfils with the descriptor as `(void *)(intptr_t)fd` (no destructor). */
CF_EXTERN cf_promise *cf_fs_open_p(cf_loop *loop, const char *path, int flags, int mode,
                                   cf_abort_signal *signal);

/*
 * Close a descriptor (≈ fs.close). Errors: CF_EBADF, CF_EIO. Thread: loop only.
 */
CF_EXTERN int cf_fs_close(cf_loop *loop, int fd, cf_abort_signal *signal, cf_fs_cb cb, void *data);
/* Promise form: fulfils with no value. */
CF_EXTERN cf_promise *cf_fs_close_p(cf_loop *loop, int fd, cf_abort_signal *signal);

/*
 * Read up to `len` bytes at `offset` (≈ fs.read with a position); `offset` -1 reads at the
 * file position. 64-bit offsets: files past 2 GiB work. `status` is the number of bytes read
 * (0 at end of file); `len` is capped at 1 GiB per call.
 * Ownership: `buf` is borrowed until the callback runs. Errors: CF_EBADF, CF_EISDIR, CF_EIO,
 * or another -errno; CF_EINVAL. Thread: loop only.
 */
CF_EXTERN int cf_fs_read(cf_loop *loop, int fd, void *buf, size_t len, int64_t offset,
                         cf_abort_signal *signal, cf_fs_cb cb, void *data);
/*
 * Promise form: fulfils with the byte count as `(void *)(intptr_t)n`; `buf` is borrowed until
 * the promise settles.
 */
CF_EXTERN cf_promise *cf_fs_read_p(cf_loop *loop, int fd, void *buf, size_t len, int64_t offset,
                                   cf_abort_signal *signal);

/*
 * Write all `len` bytes at `offset` (≈ fs.write, repeated until everything is written);
 * `offset` -1 writes at the file position (appends with O_APPEND). `status` is the number of
 * bytes written. Ownership: `buf` is borrowed until the callback runs. Errors: CF_ENOSPC,
 * CF_EBADF, CF_EFBIG, CF_EIO, or another -errno; CF_EINVAL. Thread: loop only.
 */
CF_EXTERN int cf_fs_write(cf_loop *loop, int fd, const void *buf, size_t len, int64_t offset,
                          cf_abort_signal *signal, cf_fs_cb cb, void *data);
/* Promise form: fulfils with the byte count as `(void *)(intptr_t)n`. */
CF_EXTERN cf_promise *cf_fs_write_p(cf_loop *loop, int fd, const void *buf, size_t len,
                                    int64_t offset, cf_abort_signal *signal);

/*
 * Copy up to `len` bytes from `fd_in` at `off_in` to `fd_out` at `off_out` inside the kernel
 * (copy_file_range(2), ≈ what `cat` and `cp` do), on the pool; an offset of -1 uses (and
 * advances) that descriptor's file position. Where the kernel cannot (CF_EXDEV, CF_EINVAL,
 * CF_ENOSYS, CF_ENOTSUP, CF_EBADF: another file system, a pipe or device, an O_APPEND output,
 * an old kernel) the bytes go through memory instead (read, then write everything read), so a
 * caller never has to fall back itself. `status` is the number of bytes copied, 0 at the end
 * of the input; `len` is capped at 1 GiB per call, and a call may copy fewer bytes than asked
 * (call again from the new offsets). An abort stops the copy before it starts; one already in
 * the kernel finishes its chunk, and the callback then reports the abort (CF_ECANCELED): the
 * bytes it moved stay written. Errors: CF_EBADF (not open for reading / writing), CF_EISDIR,
 * CF_ENOSPC, CF_EFBIG, CF_EIO, or another -errno; CF_EINVAL (negative descriptor, offset below
 * -1). Ownership: the descriptors are borrowed until the callback runs. Thread: loop only.
 */
CF_EXTERN int cf_fs_copy_file_range(cf_loop *loop, int fd_in, int64_t off_in, int fd_out,
                                    int64_t off_out, size_t len, cf_abort_signal *signal,
                                    cf_fs_cb cb, void *data);
/* Promise form: fulfils with the byte count as `(void *)(intptr_t)n`. */
CF_EXTERN cf_promise *cf_fs_copy_file_range_p(cf_loop *loop, int fd_in, int64_t off_in, int fd_out,
                                              int64_t off_out, size_t len, cf_abort_signal *signal);

/* Flush a descriptor to the disk (≈ fs.fsync). Errors: CF_EBADF, CF_EIO, CF_ENOSPC. */
CF_EXTERN int cf_fs_fsync(cf_loop *loop, int fd, cf_abort_signal *signal, cf_fs_cb cb, void *data);
CF_EXTERN cf_promise *cf_fs_fsync_p(cf_loop *loop, int fd, cf_abort_signal *signal);

/* ---- whole files ---- */

/*
 * Read a whole file (≈ fs.readFile). `cb` gets the bytes, NUL-terminated.
 * Errors: CF_ENOENT, CF_EACCES, CF_EISDIR, CF_ETOOBIG (over CF_FS_READ_FILE_MAX), CF_ENOMEM,
 * or another -errno; CF_EINVAL. Ownership: `path` copied; the bytes are borrowed until `cb`
 * returns. Thread: loop only. On a non-zero return `cb` is never called.
 */
CF_EXTERN int cf_fs_read_file(cf_loop *loop, const char *path, cf_abort_signal *signal,
                              cf_fs_data_cb cb, void *data);
/* Promise form: fulfils with a `cf_buf *` (base NUL-terminated) that the promise owns. */
CF_EXTERN cf_promise *cf_fs_read_file_p(cf_loop *loop, const char *path, cf_abort_signal *signal);

/*
 * Write a whole file, creating or truncating it (≈ fs.writeFile), mode 0666 less the umask.
 * With CF_FS_ATOMIC the bytes go to a temporary file `<target>.tmp-XXXXXX` in the target's
 * folder, which is fsync'ed and renamed over the target, then the folder is fsync'ed: a
 * reader sees the old file or the new one, never a part, and a failure leaves the old file as
 * it was (the temporary file is removed). What is replaced, and how (docs/fs.md, "Where
 * atomic writes go"): a new file or an existing regular file (which keeps its mode, and its
 * owner and group where allowed); a symbolic link's target, at the end of a chain, never the
 * link; a read-only file is refused (CF_EACCES) as Node refuses it; a file in a folder that
 * takes no new name is written in place, not atomically, as Node would; devices, FIFOs and
 * /dev/stdout-like names of this process's descriptors are written through, without a
 * temporary file (a FIFO's open waits on the pool for a reader, as Node's does); such a name
 * means the descriptor N at the time of the write (cf_fs_descriptor_path), and one that is
 * not open fails with CF_EBADF. A folder, or a name ending in '/', fails with CF_EISDIR, as
 * Node's open does ("open 'out': illegal operation on a directory").
 * Errors: CF_ENOSPC, CF_EACCES, CF_ENOENT, CF_ENOTDIR, CF_EISDIR, CF_EBADF, CF_ELOOP, CF_EIO,
 * or another -errno; CF_EINVAL. Ownership: `path` copied; `bytes` borrowed until the callback runs.
 * Thread: loop only.
 */
CF_EXTERN int cf_fs_write_file(cf_loop *loop, const char *path, const void *bytes, size_t len,
                               int flags, cf_abort_signal *signal, cf_fs_cb cb, void *data);
/* Promise form: fulfils with no value; `bytes` borrowed until it settles. */
CF_EXTERN cf_promise *cf_fs_write_file_p(cf_loop *loop, const char *path, const void *bytes,
                                         size_t len, int flags, cf_abort_signal *signal);

/*
 * Append bytes to a file, creating it if needed (≈ fs.appendFile). Errors as cf_fs_write_file.
 */
CF_EXTERN int cf_fs_append_file(cf_loop *loop, const char *path, const void *bytes, size_t len,
                                cf_abort_signal *signal, cf_fs_cb cb, void *data);
CF_EXTERN cf_promise *cf_fs_append_file_p(cf_loop *loop, const char *path, const void *bytes,
                                          size_t len, cf_abort_signal *signal);

/* ---- names and folders ---- */

/*
 * Rename `from` to `to`, replacing `to` atomically (≈ fs.rename). The message names both
 * paths. Errors: CF_ENOENT, CF_EACCES, CF_EXDEV, CF_EISDIR, CF_ENOTEMPTY, or another -errno.
 */
CF_EXTERN int cf_fs_rename(cf_loop *loop, const char *from, const char *to, cf_abort_signal *signal,
                           cf_fs_cb cb, void *data);
CF_EXTERN cf_promise *cf_fs_rename_p(cf_loop *loop, const char *from, const char *to,
                                     cf_abort_signal *signal);

/* Remove a file (≈ fs.unlink). Errors: CF_ENOENT, CF_EACCES, CF_EISDIR, or another -errno. */
CF_EXTERN int cf_fs_unlink(cf_loop *loop, const char *path, cf_abort_signal *signal, cf_fs_cb cb,
                           void *data);
CF_EXTERN cf_promise *cf_fs_unlink_p(cf_loop *loop, const char *path, cf_abort_signal *signal);

/*
 * Create a folder (≈ fs.mkdir); with CF_FS_RECURSIVE create the missing parents too and
 * accept a folder that exists. Errors: CF_EEXIST, CF_ENOENT, CF_ENOTDIR, CF_EACCES, or
 * another -errno.
 */
CF_EXTERN int cf_fs_mkdir(cf_loop *loop, const char *path, int mode, int flags,
                          cf_abort_signal *signal, cf_fs_cb cb, void *data);
CF_EXTERN cf_promise *cf_fs_mkdir_p(cf_loop *loop, const char *path, int mode, int flags,
                                    cf_abort_signal *signal);

/* Remove an empty folder (≈ fs.rmdir). Errors: CF_ENOENT, CF_ENOTEMPTY, CF_ENOTDIR, or another
 * -errno. */
CF_EXTERN int cf_fs_rmdir(cf_loop *loop, const char *path, cf_abort_signal *signal, cf_fs_cb cb,
                          void *data);
CF_EXTERN cf_promise *cf_fs_rmdir_p(cf_loop *loop, const char *path, cf_abort_signal *signal);

/*
 * List a folder (≈ fs.readdir with {withFileTypes:true}), sorted by name, without "." and "..".
 * Errors: CF_ENOENT, CF_ENOTDIR, CF_EACCES, CF_ENOMEM, or another -errno.
 */
CF_EXTERN int cf_fs_readdir(cf_loop *loop, const char *path, cf_abort_signal *signal,
                            cf_fs_readdir_cb cb, void *data);
/* Promise form: fulfils with a `cf_dirlist *` the promise owns. */
CF_EXTERN cf_promise *cf_fs_readdir_p(cf_loop *loop, const char *path, cf_abort_signal *signal);

/* Resolve a path to its absolute, canonical form (≈ fs.realpath). Errors: CF_ENOENT, CF_ELOOP, ...
 */
CF_EXTERN int cf_fs_realpath(cf_loop *loop, const char *path, cf_abort_signal *signal,
                             cf_fs_path_cb cb, void *data);
/* Promise form: fulfils with a `char *` path the promise owns. */
CF_EXTERN cf_promise *cf_fs_realpath_p(cf_loop *loop, const char *path, cf_abort_signal *signal);

/*
 * Create a new temporary file `<dir>/<prefix>XXXXXX`, opened read-write with mode 0600
 * (≈ mkstemp; fs.mkdtemp is its folder cousin). `status` is the descriptor, which the
 * callback owns; `path` is borrowed until it returns. Errors: CF_ENOENT, CF_EACCES, CF_EEXIST,
 * or another -errno; CF_EINVAL. Ownership: `dir` and `prefix` copied. Thread: loop only.
 */
CF_EXTERN int cf_fs_mkstemp(cf_loop *loop, const char *dir, const char *prefix,
                            cf_abort_signal *signal, cf_fs_path_cb cb, void *data);
/* Promise form: fulfils with a `cf_fs_tempfile *` the promise owns (the descriptor is the
 * caller's). */
CF_EXTERN cf_promise *cf_fs_mkstemp_p(cf_loop *loop, const char *dir, const char *prefix,
                                      cf_abort_signal *signal);

/* ---- metadata ---- */

/* File metadata, following symbolic links (≈ fs.stat). Errors: CF_ENOENT, CF_ENOTDIR, CF_EACCES,
 * ... */
CF_EXTERN int cf_fs_stat(cf_loop *loop, const char *path, cf_abort_signal *signal, cf_fs_stat_cb cb,
                         void *data);
/* Metadata of the link itself (≈ fs.lstat). */
CF_EXTERN int cf_fs_lstat(cf_loop *loop, const char *path, cf_abort_signal *signal,
                          cf_fs_stat_cb cb, void *data);
/* Metadata of an open descriptor (≈ fs.fstat). Errors: CF_EBADF. */
CF_EXTERN int cf_fs_fstat(cf_loop *loop, int fd, cf_abort_signal *signal, cf_fs_stat_cb cb,
                          void *data);
/* Promise forms: fulfil with a `cf_stat *` the promise owns. */
CF_EXTERN cf_promise *cf_fs_stat_p(cf_loop *loop, const char *path, cf_abort_signal *signal);
CF_EXTERN cf_promise *cf_fs_lstat_p(cf_loop *loop, const char *path, cf_abort_signal *signal);
CF_EXTERN cf_promise *cf_fs_fstat_p(cf_loop *loop, int fd, cf_abort_signal *signal);

/* ---- atomic streaming writer ---- */

/*
 * A file written in chunks through the pool and put in place atomically (≈ a fs.WriteStream
 * to a temporary file, then fs.rename): chunks are copied into a queue and written in order
 * by the pool; commit flushes, fsyncs, renames over the target and fsyncs the folder; abort
 * (or any failure) removes the temporary file and leaves the target as it was. The target is
 * chosen as for cf_fs_write_file with CF_FS_ATOMIC: links followed, read-only files refused,
 * devices, FIFOs and descriptors written through (then abort cannot take back what was
 * written, and a commit only fsyncs where it can and closes).
 */
typedef struct cf_fs_writer cf_fs_writer;

/* Writer completions: drain, commit and abort. `err` as everywhere in this header. */
typedef void (*cf_fs_writer_cb)(cf_fs_writer *w, int status, const cf_error *err, void *data);

/* cf_fs_writer_write's "the queue passed the high-water mark" result (≈ write() returning false).
 */
#define CF_FS_WRITER_FULL 1
/* Default high-water mark of the queue (bytes). */
#define CF_FS_WRITER_HIGH_WATER (64 * 1024)

/*
 * Start writing `path` atomically: a temporary file `<target>.tmp-XXXXXX` is created in the
 * target's folder, on the pool (or the target is opened, when it is written through: a FIFO's
 * open waits there for a reader; cf_fs_writer_abort ends that wait). `high_water` is the queue size
 * past which writes report CF_FS_WRITER_FULL (0: CF_FS_WRITER_HIGH_WATER). Errors of the creation
 * come through the first failing call or callback (write, drain, commit); the error objects of the
 * creation and of the writes name the place of this call, those of the commit's fsync and rename
 * the commit's. `signal` (NULL: none) cancels the creation (not the writer once created): an
 * abort before the output is open (a signal already aborted, or one that aborts while the
 * creation waits for a pool thread or for a FIFO's reader) makes the abort error, CF_ECANCELED
 * with the signal's reason as its cause, the writer's error, reported by the next write, drain
 * or commit; the temporary file, if one was made, is removed. The writer keeps a reference to
 * `signal` until the creation is done. Returns 0, CF_EINVAL, CF_ENOMEM. Ownership: `path`
 * copied; the caller owns the writer until it calls commit or abort, which free it after their
 * callback. Thread: loop only.
 */
CF_EXTERN int cf_fs_writer_open(cf_loop *loop, const char *path, size_t high_water,
                                cf_abort_signal *signal, cf_fs_writer **out);

/*
 * Queue `len` bytes (copied). Returns 0 when the caller may go on, CF_FS_WRITER_FULL when
 * the queue holds `high_water` bytes or more (the bytes are queued all the same; wait for the
 * drain callback before writing more), or the writer's error: the first failure of the
 * creation or of a write (CF_ENOSPC, CF_EIO, ...), CF_ENOMEM, CF_ECLOSED after commit/abort.
 * Thread: loop only.
 */
CF_EXTERN int cf_fs_writer_write(cf_fs_writer *w, const void *bytes, size_t len);

/*
 * The same, in the shape of every sink (the CSV writer's among them), `int (*)(const char
 * *bytes, size_t len, void *data)`: `data` is the writer. Returns 0 (also when the queue is
 * full: check cf_fs_writer_full) or the writer's error.
 */
CF_EXTERN int cf_fs_writer_sink(const char *bytes, size_t len, void *data);

/* Non-zero while the queue holds `high_water` bytes or more. Thread: loop only. */
CF_EXTERN int cf_fs_writer_full(const cf_fs_writer *w);

/*
 * Wait for the queue to fall under the high-water mark (≈ `await once(stream, 'drain')`):
 * `cb` runs once, with status 0, or with the writer's error if a write fails first (or
 * CF_ECLOSED when the writer is committed or aborted before). If the queue is not full it runs
 * on a later loop turn. Replaces an earlier drain callback. Returns 0, CF_EINVAL (NULL
 * writer or callback) or CF_ECLOSED. Thread: loop only.
 */
CF_EXTERN int cf_fs_writer_drain(cf_fs_writer *w, cf_fs_writer_cb cb, void *data);
/* Promise form: fulfils when the queue is under the mark (at once if it is), rejects on error. */
CF_EXTERN cf_promise *cf_fs_writer_drain_p(cf_fs_writer *w);

/*
 * Finish: write what is queued, fsync, rename over the target, fsync the folder. `cb` gets
 * 0 or the first error (then the temporary file is removed and the target untouched). The
 * writer is freed after `cb` returns. Returns 0, CF_ECLOSED (already committed or aborted).
 */
CF_EXTERN int cf_fs_writer_commit(cf_fs_writer *w, cf_fs_writer_cb cb, void *data);
/* Promise form: fulfils with no value; the writer is freed either way. */
CF_EXTERN cf_promise *cf_fs_writer_commit_p(cf_fs_writer *w);

/*
 * Give up: drop the queue, remove the temporary file, leave the target as it was (written
 * through: close it; what was written stays). While the creation waits for a FIFO's reader,
 * the wait is ended (the writer opens the FIFO for reading itself, for an instant). `cb` (may
 * be NULL) runs with 0 once done; the writer is freed after it. Returns 0 or CF_ECLOSED.
 */
CF_EXTERN int cf_fs_writer_abort(cf_fs_writer *w, cf_fs_writer_cb cb, void *data);

/*
 * N when `path` names this process's descriptor N: /dev/fd/N, /proc/self/fd/N,
 * /proc/<this pid>/fd/N, /dev/stdin, /dev/stdout, /dev/stderr, or a symbolic link (chain)
 * to one of these, whether or not N is open now. cf_fs_write_file (CF_FS_ATOMIC) and
 * cf_fs_writer write such a name through a duplicate of the descriptor N open at the time of
 * the write, so a program that takes output names from its user checks with this function,
 * before it opens anything, that N is one it owns (fcntl(N, F_GETFD) succeeds): descriptors
 * the program or the library opened since, such as the loop's own, must not receive output.
 * Errors: CF_ENOENT (`path` names no descriptor), CF_EINVAL (NULL or empty), CF_ELOOP,
 * CF_ENAMETOOLONG. Blocks on lstat(2) and readlink(2) of the names on the way: call it at
 * startup rather than from a loop callback. Ownership: `path` borrowed for the call.
 * Thread: any.
 */
CF_EXTERN int cf_fs_descriptor_path(const char *path);

/* ---- temporary files and signals ---- */

/*
 * Remove every temporary file that this process's atomic writes (CF_FS_ATOMIC, cf_fs_writer)
 * have created and not yet renamed or removed, and return how many were removed. Meant for a
 * handler of a signal that ends the process: the writes still running then fail (their
 * rename finds no file), so call it only on the way out. Up to 256 temporary files at once
 * are known; more are written all the same, unknown to this function.
 * Thread: any; thread-safe and async-signal-safe (it only reads a lock-free table and calls
 * unlink(2)).
 */
CF_EXTERN int cf_fs_temp_cleanup(void);

/*
 * Install, for each of SIGINT, SIGTERM, SIGHUP and SIGPIPE whose disposition is the default,
 * a handler that calls cf_fs_temp_cleanup, restores the default disposition and raises the
 * signal again, so that the process still ends by that signal (a shell sees 128 + N) and no
 * `<file>.tmp-XXXXXX` is left. Signals that are ignored or already handled are left alone
 * (such a handler may call cf_fs_temp_cleanup itself). A cf_signal watcher started later on
 * one of these signals replaces the handler while it watches, and restores it after. The io
 * layer ignores SIGPIPE when it opens its first socket only if SIGPIPE is still at its
 * default, so call this after that if sockets should get CF_EPIPE rather than end the process.
 * Returns 0 or a negative errno from sigaction(2). Thread: any; call it before starting
 * threads of your own that change signal dispositions. Idempotent.
 */
CF_EXTERN int cf_fs_temp_cleanup_on_signals(void);

/*
 * The functions that start an operation record their caller's place (calcifer/error.h,
 * cf_site), so the error they report later names the line that started the operation.
 */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_FS_H */
