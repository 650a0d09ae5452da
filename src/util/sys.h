/*
 * The only place raw system calls that move bytes or create descriptors are made. Every
 * wrapper returns the call's result or a negative Calcifer code (never sets the caller's
 * errno contract), retries EINTR where that is always right, and in CF_TESTING builds goes
 * through a fault seam so tests can inject EIO, EMFILE, EINTR, EAGAIN and short transfers
 * (model: SQLite's VFS fault injection).
 */
#ifndef CF_UTIL_SYS_H
#define CF_UTIL_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "calcifer/error.h"

/* Which wrapper a fault is aimed at. */
enum cf__sys_op {
    CF__SYS_READ,
    CF__SYS_WRITE,
    CF__SYS_OPEN,
    CF__SYS_ACCEPT,
    CF__SYS_CONNECT,
    CF__SYS_COPY, /* copy_file_range */
    CF__SYS_OP_COUNT
};

#ifdef CF_TESTING
/*
 * Fault seam: when armed for `op`, the nth call (1-based) returns `code` (a negative CF_E*)
 * instead of calling the system; for read/write a positive `code` instead caps the transfer
 * at that many bytes (a short read or write). Thread: set before the scenario runs.
 */
void cf__sys_fault_set(enum cf__sys_op op, long nth, long code);
void cf__sys_fault_clear(void);
/* Returns 0 to proceed, a negative code to fail, or a positive byte cap. */
long cf__sys_fault_check(enum cf__sys_op op);
/*
 * How many calls of `op` went through the seam since the process started (a test compares
 * two readings; never reset, so parallel scenarios only add). Thread: any.
 */
long cf__sys_calls(enum cf__sys_op op);
#else
static inline long cf__sys_fault_check(enum cf__sys_op op)
{
    (void)op;
    return 0;
}
#endif

static inline ssize_t cf__sys_read(int fd, void *buf, size_t len)
{
    long f = cf__sys_fault_check(CF__SYS_READ);
    if (f < 0)
        return f;
    if (f > 0 && (size_t)f < len)
        len = (size_t)f;
    ssize_t n;
    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? cf_translate_sys_error(errno) : n;
}

static inline ssize_t cf__sys_pread(int fd, void *buf, size_t len, off_t off)
{
    long f = cf__sys_fault_check(CF__SYS_READ);
    if (f < 0)
        return f;
    if (f > 0 && (size_t)f < len)
        len = (size_t)f;
    ssize_t n;
    do {
        n = pread(fd, buf, len, off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? cf_translate_sys_error(errno) : n;
}

static inline ssize_t cf__sys_write(int fd, const void *buf, size_t len)
{
    long f = cf__sys_fault_check(CF__SYS_WRITE);
    if (f < 0)
        return f;
    if (f > 0 && (size_t)f < len)
        len = (size_t)f;
    ssize_t n;
    do {
        n = write(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? cf_translate_sys_error(errno) : n;
}

static inline ssize_t cf__sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    long f = cf__sys_fault_check(CF__SYS_WRITE);
    if (f < 0)
        return f;
    if (f > 0 && (size_t)f < len)
        len = (size_t)f;
    ssize_t n;
    do {
        n = pwrite(fd, buf, len, off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? cf_translate_sys_error(errno) : n;
}

/* copy_file_range(2); NULL offsets use the file positions. Returns bytes copied or a code. */
static inline ssize_t cf__sys_copy_file_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out,
                                              size_t len)
{
    long f = cf__sys_fault_check(CF__SYS_COPY);
    if (f < 0)
        return f;
    if (f > 0 && (size_t)f < len)
        len = (size_t)f;
    ssize_t n;
    do {
        n = copy_file_range(fd_in, off_in, fd_out, off_out, len, 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? cf_translate_sys_error(errno) : n;
}

static inline ssize_t cf__sys_writev(int fd, const struct iovec *iov, int cnt)
{
    long f = cf__sys_fault_check(CF__SYS_WRITE);
    if (f < 0)
        return f;
    if (f > 0 && cnt > 0 && iov[0].iov_len > (size_t)f) {
        return cf__sys_write(fd, iov[0].iov_base, (size_t)f);
    }
    ssize_t n;
    do {
        n = writev(fd, iov, cnt);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? cf_translate_sys_error(errno) : n;
}

/*
 * Wake a loop: add 1 to the counter of the eventfd `fd` (non-blocking). No fault seam: a
 * wakeup is the loop's own machinery, not I/O a caller asked for, so fault tests that count
 * CF__SYS_WRITE calls see only the writes they aim at. A full counter (EAGAIN) already means
 * "awake". Thread: any (thread-safe).
 */
static inline void cf__sys_wakeup(int fd)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(fd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
}

/* Reset the counter of the non-blocking eventfd `fd` (no fault seam either). Thread: any. */
static inline void cf__sys_wakeup_clear(int fd)
{
    uint64_t count;
    ssize_t n;
    do {
        n = read(fd, &count, sizeof count);
    } while (n < 0 && errno == EINTR);
}

/* open(2) with O_CLOEXEC always added. Returns the descriptor or a negative code. */
static inline int cf__sys_open(const char *path, int flags, mode_t mode)
{
    long f = cf__sys_fault_check(CF__SYS_OPEN);
    if (f < 0)
        return (int)f;
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? cf_translate_sys_error(errno) : fd;
}

static inline int cf__sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    long f = cf__sys_fault_check(CF__SYS_OPEN);
    if (f < 0)
        return (int)f;
    int fd;
    do {
        fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? cf_translate_sys_error(errno) : fd;
}

/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC. EINTR is retried; EAGAIN is returned as is. */
static inline int cf__sys_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    long f = cf__sys_fault_check(CF__SYS_ACCEPT);
    if (f < 0)
        return (int)f;
    int c;
    do {
        c = accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (c < 0 && errno == EINTR);
    return c < 0 ? cf_translate_sys_error(errno) : c;
}

/* connect(2); a non-blocking socket reports CF_EINPROGRESS as -EINPROGRESS. */
static inline int cf__sys_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    long f = cf__sys_fault_check(CF__SYS_CONNECT);
    if (f < 0)
        return (int)f;
    int r;
    do {
        r = connect(fd, addr, len);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

#endif
