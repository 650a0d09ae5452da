/*
 * Declarations shared by the files of the io layer (fs.c, tcp.c, dns.c, process.c).
 *
 * - Errors: every io callback gets `int status` and a `const cf_error *` that is NULL on
 *   success. cf__io_err builds that error and never returns NULL: when memory is exhausted it
 *   fills a caller-provided fallback with the code's text, so a callback always has a message.
 * - Per-loop state (slot CF__SLOT_IO): the shared read buffer of every stream (no allocation
 *   per read) and the reserve descriptor of the EMFILE trick of servers.
 * - Streams: process.c makes cf_tcp streams out of descriptors it created.
 * - An HTTP request whose body is fed piece by piece (defined in http/client.c, the one file
 *   that speaks to curl; declared here so that the stream adapters of this layer reach it
 *   without including the http layer).
 */
#ifndef CF_IO_INTERNAL_H
#define CF_IO_INTERNAL_H

#include <limits.h>
#include <sys/socket.h>

#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/tcp.h"
#include "calcifer/dns.h"
#include "calcifer/fs.h"
#include "calcifer/promise.h"
#include "calcifer/http_client.h"

/*
 * Size of the per-loop read buffer: one read takes at most this many bytes. 256 KiB (one per
 * loop, not per stream) takes a bulk transfer in a quarter of the reads 64 KiB would need, which
 * shows in bench_tcp's bulk line; ping-pong does not care.
 */
#define CF__IO_READ_BUF (256 * 1024)

typedef struct cf__io_loop {
    char *rbuf;     /* CF__IO_READ_BUF bytes, shared by every stream of the loop */
    int reserve_fd; /* an open descriptor given up to accept-and-drop under EMFILE, or -1 */
} cf__io_loop;

/* The loop's io state, created on first use. NULL only when memory is exhausted. */
cf__io_loop *cf__io_loop_get(cf_loop *loop);

/*
 * The error for a callback: "<formatted text>: <cf_strerror(code)>" (as CF_ERROR_SYS), or,
 * when memory is exhausted, `fb` filled with the code and its bare text. Its place is `site`,
 * where the user started the operation (no place when none was recorded). Never NULL.
 * Release it with cf__io_err_free(e, fb) after the callback returns.
 */
const cf_error *cf__io_err(cf_error *fb, cf_site site, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cf__io_err_free(const cf_error *e, const cf_error *fb);

/* Same, but the message is exactly the formatted text (no code text appended). */
const cf_error *cf__io_err_plain(cf_error *fb, cf_site site, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A socket address as text: "127.0.0.1:80", "[::1]:80", a Unix socket path, or "?" when it
 * cannot be told. Always NUL-terminates `buf` (len >= 1).
 */
void cf__io_addr_text(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len);

/*
 * Wrap a connected, non-blocking stream socket `fd` (a Unix socket pair end made by
 * process.c) into a cf_tcp. On success the stream owns `fd`; on failure the caller still does.
 * `name` (static) is what error messages call the stream ("stdin", ...).
 * Returns 0 or CF_ENOMEM.
 */
int cf__tcp_open_fd(cf_loop *loop, int fd, const char *name, cf_tcp **out);

/*
 * A hook run when a stream's memory is about to go (after its close callback), so that an
 * owner (a process object) forgets its pointer. One hook per stream.
 */
void cf__tcp_set_free_hook(cf_tcp *t, void (*hook)(cf_tcp *t, void *arg), void *arg);

/* Non-zero once close was requested on `t`. */
int cf__tcp_is_closing(const cf_tcp *t);

/*
 * Reject a tcp stream's pending promise reads with CF_ECANCELED (its close). tcp.c.
 */
void cf__tcp_reader_cancel(cf_tcp *t);

/*
 * ---- the public calls that start an operation, for callers inside the library ----
 *
 * Each takes the site its errors name (util/site.h): the user's call that led to it, or
 * CF__SITE_NONE. The public functions would take the library's own line for the user's.
 */

int cf__fs_writer_open_at(cf_loop *loop, const char *path, size_t high_water,
                          cf_abort_signal *signal, cf_fs_writer **out, cf_site site);
int cf__fs_writer_commit_at(cf_fs_writer *w, cf_fs_writer_cb cb, void *data, cf_site site);
/*
 * For a copy that bypasses the queue (stream_fs.c): `cb` runs once the output exists and no
 * job runs (status 0; then cf__fs_writer_fd gives its descriptor), or with the writer's error,
 * or CF_ECLOSED when it is committed or aborted first. It takes the drain callback's place.
 */
int cf__fs_writer_idle(cf_fs_writer *w, cf_fs_writer_cb cb, void *data);
/* The output's descriptor while the writer is open, idle and unfailed, else -1. */
int cf__fs_writer_fd(const cf_fs_writer *w);
int cf__dns_getaddrinfo_at(cf_loop *loop, const char *host, const char *service,
                           const struct addrinfo *hints, cf_abort_signal *signal,
                           cf_dns_addrinfo_cb cb, void *data, cf_site site);
int cf__tcp_read_start_into_at(cf_tcp *t, cf_tcp_alloc_cb alloc, cf_tcp_read_cb cb, void *data,
                               cf_site site);
int cf__tcp_write_at(cf_tcp *t, const cf_buf *bufs, size_t nbufs, cf_tcp_cb cb, void *data,
                     cf_site site);
int cf__tcp_end_at(cf_tcp *t, cf_tcp_cb cb, void *data, cf_site site);
int cf__tcp_listen_at(cf_tcp *t, const char *host, int port, int backlog, int flags,
                      cf_tcp_connection_cb cb, void *data, cf_site site);
/*
 * Accept from `fd`, a socket that already listens (taken: closed on failure too), as
 * cf_tcp_listen does after its bind; for servers of several loops sharing one socket, each
 * with its own duplicate. Returns 0, CF_EINVAL, or the errors of the poller.
 */
int cf__tcp_listen_fd_at(cf_tcp *t, int fd, cf_tcp_connection_cb cb, void *data, cf_site site);
/* Stop (`paused` non-zero) or resume accepting, still listening: the connections wait in the
 * kernel's queue for whichever handle accepts. Returns 0, CF_EINVAL (not listening). */
int cf__tcp_accept_pause(cf_tcp *t, int paused);

/* ---- an HTTP request with a streamed body (http/client.c; for stream_net.c) ---- */

/*
 * Runs from the loop, never inside a curl callback, once curl has taken every byte handed to
 * cf__http_req_body_write: the caller may reuse its memory and hand over the next piece.
 */
typedef void (*cf__http_sent_cb)(cf_http_req *req, void *data);

/*
 * Start a request (as cf_http_request, `opts` copied, `signal` retained) whose body is
 * fed later: POST by default (opts->method), sent as it comes, with `Transfer-Encoding:
 * chunked` over HTTP/1.1, without `Expect: 100-continue` and without following redirects (the
 * body cannot be sent twice). opts->body and opts->body_file must be unset. `sent(req,
 * data)` runs as above; `cb` as cf_http_request's, once. When the server gives its final
 * answer before the whole body was taken, the request fails: CF_EHTTP for a non-2xx status,
 * CF_EPIPE otherwise, or the connection's error, each message naming the status.
 * Returns 0, CF_EINVAL, CF_EURL or CF_ENOMEM (then no callback runs). Thread: loop only.
 */
int cf__http_upload_at(cf_loop *loop, const char *url, const cf_http_options *opts, cf_http_cb cb,
                       cf__http_sent_cb sent, void *data, cf_http_req **out, cf_site site);

/*
 * Hand `len` > 0 bytes of the body to the request: borrowed until `sent` runs, or until the
 * request's callback, whichever comes first. One piece at a time. A request that has finished
 * (its callback is due) ignores the piece. Returns 0 or CF_EINVAL (NULL, a piece pending, the
 * body ended). Thread: loop only, never from inside a curl callback.
 */
int cf__http_req_body_write(cf_http_req *req, const void *bytes, size_t len);

/* End the body: once the pending piece is taken, curl ends it. Returns 0 or CF_EINVAL. */
int cf__http_req_body_end(cf_http_req *req);

/* ---- where whole-file writes go (fs.c; used by fs_writer.c too) ---- */

/*
 * The output of an atomic whole-file write: CF_FS_ATOMIC or cf_fs_writer, chosen on a worker
 * by cf__fs_out_open: a temporary file beside the target, renamed over it by
 * cf__fs_out_commit, or the target itself, written through (a device, a FIFO, a descriptor
 * of this process named by /dev/stdout or /proc/self/fd/N, a file whose folder refuses new
 * names). Symbolic links are followed: `target` is what gets replaced. The temporary file is
 * in the registry that cf_fs_temp_cleanup empties from a signal handler. Zero-initialize with
 * cf__fs_out_init; one thread at a time, except `fifo_wait` (see cf__fs_out_wake).
 */
typedef struct cf__fs_out {
    int fd;                  /* the temporary file or the target; -1 once closed */
    int through;             /* 1: `fd` is the target itself (no temporary file, no rename) */
    int slot;                /* the temporary file's registry slot, or -1 */
    _Atomic int fifo_wait;   /* 1 while the worker waits for a FIFO's reader */
    _Atomic int cancel;      /* set by cf__fs_out_wake: do not start waiting for a reader */
    const char *step;        /* the system call that failed, for the message */
    char target[PATH_MAX];   /* the path with its symbolic links followed */
    char tmp[PATH_MAX + 16]; /* "<target>.tmp-XXXXXX", or "" when there is none */
} cf__fs_out;

void cf__fs_out_init(cf__fs_out *o);
/* Worker: decide and open. Returns 0 (then `fd` is open) or a code; `step` names the call. */
int cf__fs_out_open(cf__fs_out *o, const char *path);
/* Worker: fsync, close and, for a temporary file, rename it over the target, fsync the folder. */
int cf__fs_out_commit(cf__fs_out *o);
/* Worker: close what is open and remove the temporary file. Never fails. */
void cf__fs_out_discard(cf__fs_out *o);
/*
 * Loop thread, while cf__fs_out_open may run (an abort): a wait for a FIFO's reader that has
 * not begun will not (cf__fs_out_open fails with CF_ECANCELED); one that has is ended by
 * opening the FIFO for reading (non-blocking). Returns that descriptor, for the caller to
 * close once the job is done, or -1.
 */
int cf__fs_out_wake(cf__fs_out *o);

/* ---- promise forms (io.c) ---- */

/*
 * The promisify glue. A `_p` function takes its caller's site (CF__SITE_CALLER) first, makes `p`,
 * passes the callback form's static helper an extra reference (cf_promise_retain(p)) as its
 * data and the site, and ends with `return cf__io_p_started(p, site, rc, ...)`: when the
 * callback form failed (rc < 0), `p` is rejected with "<formatted text>: <cf_strerror(rc)>" at
 * `site` and the callback's reference is dropped. Returns `p`.
 */
cf_promise *cf__io_p_started(cf_promise *p, cf_site site, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * In the callback: settle `p` with `value`/`dtor` (status >= 0) or a copy of `err` (status <
 * 0; `value` is then destroyed), and drop the callback's reference. Takes `value`.
 */
void cf__io_settle(cf_promise *p, int status, const cf_error *err, void *value,
                   void (*dtor)(void *));

/* A `cf_buf` and a NUL-terminated copy of `len` bytes in one cf__malloc block (free: cf_free). */
cf_buf *cf__io_buf_new(const void *bytes, size_t len);

#endif
