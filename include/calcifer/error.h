/*
 * Calcifer: error codes.
 *
 * Every fallible function returns 0 (or a count) on success and a negative code on failure.
 * System errors are `-errno` (CF_ENOENT == -ENOENT on Linux); the library's own codes sit
 * below -4000. One X-macro list, CF_ERRNO_MAP, generates the constants, `cf_strerror` and
 * `cf_err_name` (model: libuv's UV_ERRNO_MAP). `errno` is never part of the API.
 */
#ifndef CALCIFER_ERROR_H
#define CALCIFER_ERROR_H

#include <errno.h>

#include "calcifer/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message) */
#define CF_ERRNO_MAP(XX)                                                                           \
    XX(E2BIG, -E2BIG, "argument list too long")                                                    \
    XX(EACCES, -EACCES, "permission denied")                                                       \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                                          \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                                     \
    XX(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")                                \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(EALREADY, -EALREADY, "connection already in progress")                                      \
    XX(EBADF, -EBADF, "bad file descriptor")                                                       \
    XX(EBUSY, -EBUSY, "resource busy or locked")                                                   \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                \
    XX(ECHILD, -ECHILD, "no child processes")                                                      \
    XX(ECONNABORTED, -ECONNABORTED, "software caused connection abort")                            \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                          \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                                        \
    XX(EEXIST, -EEXIST, "file already exists")                                                     \
    XX(EFAULT, -EFAULT, "bad address")                                                             \
    XX(EFBIG, -EFBIG, "file too large")                                                            \
    XX(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                                         \
    XX(EINTR, -EINTR, "interrupted system call")                                                   \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(EIO, -EIO, "i/o error")                                                                     \
    XX(EISCONN, -EISCONN, "socket is already connected")                                           \
    XX(EISDIR, -EISDIR, "illegal operation on a directory")                                        \
    XX(ELOOP, -ELOOP, "too many symbolic links encountered")                                       \
    XX(EMFILE, -EMFILE, "too many open files")                                                     \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                                                    \
    XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                                               \
    XX(ENETDOWN, -ENETDOWN, "network is down")                                                     \
    XX(ENETUNREACH, -ENETUNREACH, "network is unreachable")                                        \
    XX(ENFILE, -ENFILE, "file table overflow")                                                     \
    XX(ENOBUFS, -ENOBUFS, "no buffer space available")                                             \
    XX(ENODEV, -ENODEV, "no such device")                                                          \
    XX(ENOENT, -ENOENT, "no such file or directory")                                               \
    XX(ENOMEM, -ENOMEM, "not enough memory")                                                       \
    XX(ENOSPC, -ENOSPC, "no space left on device")                                                 \
    XX(ENOSYS, -ENOSYS, "function not implemented")                                                \
    XX(ENOTCONN, -ENOTCONN, "socket is not connected")                                             \
    XX(ENOTDIR, -ENOTDIR, "not a directory")                                                       \
    XX(ENOTEMPTY, -ENOTEMPTY, "directory not empty")                                               \
    XX(ENOTSOCK, -ENOTSOCK, "socket operation on non-socket")                                      \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                               \
    XX(ENXIO, -ENXIO, "no such device or address")                                                 \
    XX(EPERM, -EPERM, "operation not permitted")                                                   \
    XX(EPIPE, -EPIPE, "broken pipe")                                                               \
    XX(EPROTO, -EPROTO, "protocol error")                                                          \
    XX(ERANGE, -ERANGE, "result too large")                                                        \
    XX(EROFS, -EROFS, "read-only file system")                                                     \
    XX(ESPIPE, -ESPIPE, "invalid seek")                                                            \
    XX(ESRCH, -ESRCH, "no such process")                                                           \
    XX(ETIMEDOUT, -ETIMEDOUT, "connection timed out")                                              \
    XX(ETXTBSY, -ETXTBSY, "text file is busy")                                                     \
    XX(EXDEV, -EXDEV, "cross-device link not permitted")                                           \
    XX(EOF, -4095, "end of file")                                                                  \
    XX(EPARSE, -4094, "parse error")                                                               \
    XX(ETOOBIG, -4093, "size limit exceeded")                                                      \
    XX(ECLOSED, -4092, "handle is closed")                                                         \
    XX(EHTTP, -4091, "HTTP error status")                                                          \
    XX(ENOTFOUND, -4090, "host name not found")                                                    \
    XX(ETLS, -4089, "TLS error")                                                                   \
    XX(EURL, -4088, "malformed URL")                                                               \
    XX(EREDIRECTS, -4087, "too many redirects")                                                    \
    XX(EAGGREGATE, -4086, "all promises were rejected")                                            \
    XX(ECYCLE, -4085, "promise resolved with itself")                                              \
    XX(ENOTASK, -4084, "not inside an async task")                                                 \
    XX(EUNHANDLED, -4083, "unhandled promise rejection")                                           \
    XX(ESTACK, -4082, "task stack overflow")                                                       \
    XX(EDNSAGAIN, -4081, "temporary failure in name resolution")                                   \
    XX(EBADRESP, -4080, "malformed response")                                                      \
    XX(EAI_ADDRFAMILY, -4060, "host has no address in the requested family")                       \
    XX(EAI_BADFLAGS, -4059, "bad ai_flags value")                                                  \
    XX(EAI_FAIL, -4058, "permanent failure in name resolution")                                    \
    XX(EAI_FAMILY, -4057, "address family not supported by the resolver")                          \
    XX(EAI_NODATA, -4056, "host name has no address")                                              \
    XX(EAI_OVERFLOW, -4055, "name buffer overflow")                                                \
    XX(EAI_SERVICE, -4054, "service not available for socket type")                                \
    XX(EAI_SOCKTYPE, -4053, "socket type not supported")                                           \
    XX(EAI_IDN_ENCODE, -4052, "host name cannot be encoded as IDN")                                \
    XX(EUNKNOWN, -4001, "unknown error")

#define CF__ERR_ENUM(name, value, msg) CF_##name = (value),
enum cf_errno { CF_OK = 0, CF_ERRNO_MAP(CF__ERR_ENUM) CF__ERR_END = -4096 };
#undef CF__ERR_ENUM

/*
 * A short message for `code` ("no such file or directory"). Static storage; an unknown
 * code gives "unknown error". Thread: any.
 */
CF_EXTERN const char *cf_strerror(int code);

/* The code's name without the prefix's "CF_" ("ENOENT", "EPARSE"). Static storage. Thread: any. */
CF_EXTERN const char *cf_err_name(int code);

/*
 * Convert an `errno` value (positive) to a Calcifer code (negative). 0 stays 0.
 * Thread: any.
 */
CF_EXTERN int cf_translate_sys_error(int sys_errno);

/*
 * An error value: a code, a message that names what failed and with which input, and the
 * place (file, line, function) where the failing operation was started, so a rejection
 * printed at the top of a program says where it began (≈ a JavaScript Error with its stack's
 * first frame). Errors are plain heap objects with one owner; promises own the error they
 * were rejected with.
 */
typedef struct cf_error {
    int code;            /* negative CF_E* */
    const char *message; /* "open 'films.csv': permission denied"; owned by the error */
    const char *file;    /* static string (__FILE__, or a resolved site's: cf_site) or NULL */
    int line;
    const char *func;       /* static string (__func__, or a resolved site's) or NULL */
    struct cf_error *cause; /* what led to it (an abort's reason, say); owned; NULL when none */
    const struct cf_site *rethrown; /* where it was rethrown (cf_error_rethrow), first place
                                       first, chained by ->rethrown; owned; NULL when never */
} cf_error;

/*
 * Make an error whose message is exactly the formatted text (no code text appended); with
 * `fmt` NULL the message is `cf_strerror(code)`. Ownership: the caller owns the result and
 * frees it with `cf_error_free`. Returns NULL only when memory is exhausted.
 * `file` and `func` must be static strings (use CF_ERROR). Thread: any.
 */
CF_EXTERN cf_error *cf_error_new(int code, const char *file, int line, const char *func,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Like cf_error_new, but the message is the formatted text, ": ", and `cf_strerror(code)`:
 * `CF_ERROR_SYS(CF_EACCES, "open '%s'", path)` gives "open 'x.csv': permission denied".
 */
CF_EXTERN cf_error *cf_error_sys(int code, const char *file, int line, const char *func,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A deep copy of `e` (NULL for NULL or when memory is exhausted). Caller owns it. */
CF_EXTERN cf_error *cf_error_copy(const cf_error *e);

/*
 * Attach `cause` to `e` (≈ `new Error(msg, { cause })`): `e` takes `cause`, replacing (and
 * freeing) the cause it had. Returns `e`; with a NULL `e`, frees `cause` and returns NULL.
 * Thread: any.
 */
CF_EXTERN cf_error *cf_error_set_cause(cf_error *e, cf_error *cause);

/* The error that led to `e` (≈ error.cause), or NULL. Borrowed from `e`. Thread: any. */
CF_EXTERN const cf_error *cf_error_cause(const cf_error *e);

/* Free an error made by this API, with its causes. NULL is a no-op. Usable as a promise value
 * destructor. */
CF_EXTERN void cf_error_free(void *e);

/*
 * Write "message (at file:line in func)" and a newline to `stream` (a FILE *), then one line
 * "  rethrown at file:line in func" per rethrow (cf_error_rethrow), then one line per cause.
 * A site known only by its symbol prints as "(at sym+0x1c in /path/to/object)".
 */
CF_EXTERN void cf_error_print(const cf_error *e, void *stream);

/*
 * Accessors, for code that would rather call a function than read a field. The message names
 * what failed and with which input ("getaddrinfo EAI_SERVICE localhost, service x: service not
 * available for socket type"); it is borrowed from `e` and lives as long as `e` does. A NULL
 * `e` gives "no error"; an error without a message gives `cf_strerror(code)`. Thread: any.
 */
CF_EXTERN const char *cf_error_message(const cf_error *e);

/* The error's negative CF_E* code; 0 for NULL. Thread: any. */
CF_EXTERN int cf_error_code(const cf_error *e);

/*
 * The place a user's call was made. Every public function that starts an operation (one that
 * fails later, from the loop: a read, a connect, a lookup, a request, a task) records the code
 * address its caller returns to (no macro in the caller's code: the functions are plain
 * functions, and a pointer to one works the same). Only when an error is made is that address
 * resolved, once per address and cached, to the caller's file, line and function, which the
 * operation's errors then name. So a rejection printed at the top of a program says where the
 * failing operation began, not where inside the library it failed.
 *
 * What a program gets depends on how it was built:
 *  - with debug info (-g, any -O level; with clang, -g -gdwarf-aranges, since clang writes no
 *    address-range table by default): the source file, the exact line of the call and the
 *    calling function (the inlined one, when the call was inlined into another function);
 *  - without it: `file` is the object's path (the program or the shared library), `line` is 0
 *    and `func` the nearest symbol and the offset, "main+0x2c" (a static function of a program
 *    linked without -rdynamic may show as its neighbour, or as the address);
 *  - with no symbol at all (a stripped program): `func` is the address, "0x55d0c2a1b2c4".
 * A call in tail position (`return cf_fs_read(...);`) compiled with optimisation may be
 * reported at its caller's own call site, since the compiler reuses that frame.
 */
typedef struct cf_site {
    const char *file; /* static string (lives as long as the process), or NULL when none */
    int line;         /* 0 when unknown */
    const char *func; /* static string, or NULL */
    const void *pc;   /* the address in the caller's code the place comes from; NULL if none */
    const struct cf_site *rethrown; /* cf_error_site: where the error was rethrown, or NULL */
} cf_site;

/*
 * Where the failing operation `e` reports was started; all zero for NULL or when no place was
 * recorded. When `e` was rethrown (cf_error_rethrow), `.rethrown` points to the first place it
 * was rethrown at, and each such place's `.rethrown` to the next (borrowed from `e`).
 * Thread: any.
 */
CF_EXTERN cf_site cf_error_site(const cf_error *e);

/*
 * A copy of `e` (its message, site, causes and earlier rethrows) that also names this call's
 * caller as a place it was rethrown at (≈ `catch (e) { throw e; }` keeping the first stack):
 * cf_error_print adds "rethrown at file:line in func". Ownership: `e` is borrowed; the caller
 * owns the result (cf_error_free). NULL for a NULL `e` or when memory is exhausted.
 * Thread: any.
 */
CF_EXTERN cf_error *cf_error_rethrow(const cf_error *e);

/*
 * Like cf_error_new / cf_error_sys, at `site` when it holds a place (an address is resolved
 * then), else at file/line/func. `site` is as the library records it (the `pc` field alone).
 */
CF_EXTERN cf_error *cf_error_at(int code, cf_site site, const char *file, int line,
                                const char *func, int append_code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

#define CF_ERROR_AT(site, code, ...)                                                               \
    cf_error_at((code), (site), __FILE__, __LINE__, __func__, 0, __VA_ARGS__)
#define CF_ERROR_SYS_AT(site, code, ...)                                                           \
    cf_error_at((code), (site), __FILE__, __LINE__, __func__, 1, __VA_ARGS__)

#define CF_ERROR(code, ...)     cf_error_new((code), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define CF_ERROR_SYS(code, ...) cf_error_sys((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_ERROR_H */
