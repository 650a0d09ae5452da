/*
 * Calcifer: TCP and Unix domain stream sockets (≈ Node's `net`).
 *
 * One handle type, `cf_tcp`, is a stream socket in one of three roles: a client that
 * connects (≈ net.connect), a server that listens and accepts (≈ net.Server), or a connection
 * that a server accepted. It carries TCP over IPv4 and IPv6, Unix domain sockets, and the
 * stdio pipes of child processes (calcifer/process.h), like Node's net.Socket.
 *
 * Lifecycle: cf_tcp_new → cf_tcp_connect / cf_tcp_listen (or a connection given by the
 * server's callback) → read / write / end → cf_tcp_close. Memory goes after the close
 * callback, in the close phase (≈ the 'close' event after destroy()).
 *
 * Reading: cf_tcp_read_start delivers chunks borrowed from a per-loop buffer (no allocation
 * per read) until cf_tcp_read_stop (pause) or the end (CF_EOF) or an error;
 * cf_tcp_read_start_into reads into memory the caller supplies before each read instead.
 * Writing: cf_tcp_write queues buffers (borrowed until their callback) and tries to send them
 * at once; it returns CF_TCP_FULL when the queue passed the high-water mark (≈ write()
 * returning false), and the drain callback runs once the queue is empty (≈ 'drain'). Bytes
 * the kernel took at once count toward the mark until the next loop turn, so a producer that
 * writes until CF_TCP_FULL sends about one mark's worth per turn. cf_tcp_write_copy(v) copy
 * what the kernel did not take at once (the caller's buffers are free on return);
 * cf_tcp_try_write and cf_tcp_try_send_file write only what the kernel takes now and leave the
 * rest to the caller. A failed read or write is the stream's sticky error (cf_tcp_error).
 *
 * Callback convention (docs/conventions.md): `int status` (0 or a negative CF_E*) and
 * `const cf_error *err` (NULL on success; otherwise a message with the address, "connect
 * 127.0.0.1:1: connection refused", borrowed until the callback returns); `data` last. Every
 * callback runs on the loop thread, never inside the call that scheduled it.
 *
 * Cancellation: the operations that wait (connect, the promise reads, writes and ends, and
 * cf_tcp_read_all) take a `cf_abort_signal *signal` (NULL: none). When it aborts, the
 * operation fails with cf_abort_signal_error(signal): CF_ECANCELED, "The operation was
 * aborted", the signal's reason as its cause and the line that started the operation as its
 * site; a signal that is already aborted fails the operation without starting it. The
 * operation stops listening to the signal when it completes, so it keeps no reference. A
 * deadline is cf_abort_signal_timeout (calcifer/abort.h). The callback forms cf_tcp_write and
 * cf_tcp_end take no signal: bytes handed to a stream cannot be taken back without breaking
 * it, so what cancels them is cf_tcp_close (they complete with CF_ECANCELED); their promise
 * forms take one to stop waiting (see cf_tcp_write_p).
 */
#ifndef CALCIFER_TCP_H
#define CALCIFER_TCP_H

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

/* A stream socket (TCP, Unix domain, or a child's stdio pipe). Opaque. */
typedef struct cf_tcp cf_tcp;

/* ---- callback types ---- */

/* Connect, end, write completion: `status` 0 or a negative CF_E*; `data` as registered. */
typedef void (*cf_tcp_cb)(cf_tcp *t, int status, const cf_error *err, void *data);

/*
 * A server accepted `conn` (≈ the 'connection' event). The callback owns `conn` (close it
 * with cf_tcp_close). On an accept error (CF_EMFILE, CF_ENFILE, CF_ENOMEM) `conn` is NULL,
 * `status` negative, and the server keeps listening.
 */
typedef void (*cf_tcp_connection_cb)(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                                     void *data);

/*
 * Bytes arrived (≈ the 'data' event): `status` 0 and `len` > 0 bytes at `bytes`, borrowed
 * until the callback returns. At the end of the stream (≈ 'end') `status` is CF_EOF; on an
 * error (CF_ECONNRESET, ...) a negative code; in both cases reading has stopped.
 */
typedef void (*cf_tcp_read_cb)(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                               size_t len, void *data);

/*
 * Where the next read lands (≈ libuv's uv_alloc_cb): set `buf->base` and `buf->len` to memory
 * the caller owns, at least 1 byte; `suggested` is the size the stream would read at most into
 * its own buffer. Leaving `buf->len` 0 stops reading: the read callback then gets CF_ENOBUFS.
 * The memory must stay valid until the read callback that follows returns.
 */
typedef void (*cf_tcp_alloc_cb)(cf_tcp *t, size_t suggested, cf_buf *buf, void *data);

/* The write queue emptied after cf_tcp_write returned CF_TCP_FULL (≈ 'drain'). */
typedef void (*cf_tcp_drain_cb)(cf_tcp *t, void *data);

/* A server's count of open connections (≈ server.getConnections(cb)). */
typedef void (*cf_tcp_count_cb)(cf_tcp *server, size_t count, void *data);

/* ---- constants ---- */

/* cf_tcp_write's result when the queue holds the high-water mark or more. */
#define CF_TCP_FULL 1
/* Default high-water mark of the write queue, in bytes (≈ writableHighWaterMark). */
#define CF_TCP_HIGH_WATER (64 * 1024)

/* cf_tcp_listen flags. */
#define CF_TCP_REUSEPORT 0x1 /* SO_REUSEPORT: several loops may listen on the same port */
#define CF_TCP_IPV6ONLY  0x2 /* an IPv6 listener does not accept IPv4 */

/* ---- create ---- */

/*
 * Make a stream socket handle, not yet connected or listening (≈ new net.Socket()).
 * Ownership: the caller owns `*out` and frees it with cf_tcp_close. Returns 0, CF_EINVAL,
 * CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_tcp_new(cf_loop *loop, cf_tcp **out);

/* The handle's user pointer (borrowed; never freed by the library). */
CF_EXTERN void cf_tcp_set_data(cf_tcp *t, void *data);
CF_EXTERN void *cf_tcp_get_data(const cf_tcp *t);
CF_EXTERN cf_loop *cf_tcp_loop(const cf_tcp *t);

/* ---- client ---- */

/*
 * Connect to `host`:`port` (≈ net.connect({host, port, signal})). `host` is a name or an
 * IPv4/IPv6 address; names are resolved on the thread pool and each address is tried in
 * turn. `signal` (NULL: none) bounds the whole attempt: when it aborts, the attempt stops
 * (the socket is closed) and the connect fails with the abort error (see the top); for a
 * deadline pass cf_abort_signal_timeout(loop, ms, &s). `cb` gets 0 once connected, or an
 * error naming the address: CF_ECONNREFUSED, CF_ETIMEDOUT (the kernel gave up),
 * CF_ENETUNREACH, CF_EHOSTUNREACH, CF_ENOTFOUND, CF_EDNSAGAIN, another CF_EAI_* code of the
 * host's resolution (docs/errors.md), CF_ECANCELED (aborted, or closed meanwhile), or
 * another -errno. With an already aborted `signal` nothing is started and `cb` gets the
 * abort error from the loop.
 * Returns 0, CF_EINVAL (NULL host or cb, a port outside 0..65535, a handle already in use),
 * CF_ECLOSED, CF_ENOMEM; then `cb` never runs.
 * Ownership: `host` copied; `signal` borrowed (the connect keeps its own reference until it
 * completes). Thread: loop only.
 */
CF_EXTERN int cf_tcp_connect(cf_tcp *t, const char *host, int port, cf_abort_signal *signal,
                             cf_tcp_cb cb, void *data);
/* Promise form: fulfils with `t` itself (borrowed: the caller still owns and closes it). */
CF_EXTERN cf_promise *cf_tcp_connect_p(cf_tcp *t, const char *host, int port,
                                       cf_abort_signal *signal);

/*
 * Connect to a Unix domain socket at `path` (≈ net.connect({path, signal})). Errors, signal
 * and ownership as cf_tcp_connect.
 */
CF_EXTERN int cf_tcp_connect_unix(cf_tcp *t, const char *path, cf_abort_signal *signal,
                                  cf_tcp_cb cb, void *data);
CF_EXTERN cf_promise *cf_tcp_connect_unix_p(cf_tcp *t, const char *path, cf_abort_signal *signal);

/* ---- server ---- */

/*
 * Bind to `host`:`port` and listen (≈ server.listen(port, host)). `host` is a numeric address
 * ("127.0.0.1", "::1"), "localhost", or NULL/"" for every IPv4 address; `port` 0 picks a free
 * one (read it with cf_tcp_port). SO_REUSEADDR is always set; CF_TCP_REUSEPORT adds
 * SO_REUSEPORT. `backlog` <= 0 means 511. Each accepted connection goes to `cb` (which owns
 * it); the server accepts until the kernel has no more waiting (accept4 until EAGAIN).
 * Binding is synchronous: errors come back here: CF_EADDRINUSE, CF_EACCES, CF_EADDRNOTAVAIL,
 * CF_EINVAL (bad address, handle in use), CF_ENOMEM, or another -errno. `data` is passed to
 * `cb`. Thread: loop only.
 */
CF_EXTERN int cf_tcp_listen(cf_tcp *t, const char *host, int port, int backlog, int flags,
                            cf_tcp_connection_cb cb, void *data);

/* Listen on a Unix domain socket at `path` (it must not exist). Errors as cf_tcp_listen. */
CF_EXTERN int cf_tcp_listen_unix(cf_tcp *t, const char *path, int backlog, cf_tcp_connection_cb cb,
                                 void *data);

/*
 * Register the listening callback (≈ server.on('listening') / listen's callback), before
 * cf_tcp_listen. After a successful listen `cb` runs with status 0 from the nextTick queue,
 * as Node emits 'listening': with a host, from a tick queued by a tick queued at the listen
 * (Node looks the host up first, and even an address is answered from a tick); with a NULL
 * or "" host and for cf_tcp_listen_unix, from a tick queued at the listen. It never runs if
 * the listen fails or the server is closed before the tick.
 * Returns 0, CF_EINVAL (NULL `t` or `cb`), CF_ECLOSED (the handle is closing), CF_EBUSY (a
 * listening callback is already registered, or the handle already listens or connects).
 * Ownership: `data` borrowed until `cb` runs or the server is closed. Thread: loop only.
 */
CF_EXTERN int cf_tcp_on_listening(cf_tcp *t, cf_tcp_cb cb, void *data);

/*
 * The server's accepted connections that are not yet closed (≈ server._connections): each
 * counts from its accept until cf_tcp_close is called on it. 0 for NULL or a non-server.
 * Thread: loop only.
 */
CF_EXTERN size_t cf_tcp_connections(const cf_tcp *server);

/*
 * Callback form (≈ server.getConnections(cb)): `cb` gets the count as it is now, from the
 * nextTick queue, as Node delivers it; also while the server is closing, until its close
 * callback has run. Returns 0, CF_EINVAL (NULL `server` or `cb`, or a handle that never
 * listened), CF_ENOMEM (then `cb` never runs). Ownership: `data` borrowed until `cb` runs.
 * Thread: loop only.
 */
CF_EXTERN int cf_tcp_get_connections(cf_tcp *server, cf_tcp_count_cb cb, void *data);

/*
 * Close every connection the server accepted that is still open, as cf_tcp_close(conn, cb,
 * data) on each (≈ destroying each socket; http.Server's closeAllConnections for TCP):
 * `cb(data)` (may be NULL) runs once per connection, in the close phase (free what a
 * connection's user pointer holds before this call; count the calls to know when every
 * connection is gone). Allowed while the server is closing, the usual way to
 * make its close callback run soon. Returns the number of connections closed, or CF_EINVAL
 * (NULL, or a handle that never listened). Thread: loop only.
 */
CF_EXTERN int cf_tcp_close_connections(cf_tcp *server, cf_close_cb cb, void *data);

/* ---- reading ---- */

/*
 * Start (or resume) delivering received bytes to `cb` (≈ socket.on('data') / resume()).
 * Calling it again replaces the callback. Returns 0, CF_ENOTCONN, CF_ECLOSED. Thread: loop only.
 */
CF_EXTERN int cf_tcp_read_start(cf_tcp *t, cf_tcp_read_cb cb, void *data);

/*
 * Start (or resume) reading into the caller's memory (≈ uv_read_start with an alloc callback):
 * before each read(2) `alloc` says where the bytes land, and `cb` then gets `bytes` pointing
 * into that memory, so a reader that parses in place needs no copy of its own. `cb` also runs
 * with status 0 and `len` 0 when a read found nothing after `alloc` ran (the memory may then be
 * reused or given back); end and errors as cf_tcp_read_start, plus CF_ENOBUFS when `alloc`
 * gave no memory (reading has stopped; the stream is otherwise unharmed).
 * Calling it, or cf_tcp_read_start, again replaces both callbacks; `data` goes to both.
 * Returns 0, CF_EINVAL (NULL `t`, `alloc` or `cb`), CF_ENOTCONN, CF_ECLOSED, CF_EOF (the
 * peer already ended). Ownership: the memory stays the caller's. Thread: loop only.
 */
CF_EXTERN int cf_tcp_read_start_into(cf_tcp *t, cf_tcp_alloc_cb alloc, cf_tcp_read_cb cb,
                                     void *data);

/* Stop delivering bytes; the kernel buffers them meanwhile (≈ socket.pause()). Returns 0. */
CF_EXTERN int cf_tcp_read_stop(cf_tcp *t);

/*
 * Promise form of one read: fulfils with the next chunk as a `cf_buf *` the promise owns
 * (len 0 at the end of the stream), rejects on error. One read at a time; do not mix with
 * cf_tcp_read_start. Errors: CF_ECONNRESET, CF_ECLOSED, CF_EBUSY (a read is pending), ...;
 * when `signal` (NULL: none) aborts, reading stops and the promise rejects with the abort
 * error; the bytes not read stay in the kernel for the next read. Its callback form is
 * cf_tcp_read_start: reading is a stream of events, and one chunk is the first of them
 * (cf_tcp_read_stop in the callback). Thread: loop only.
 */
CF_EXTERN cf_promise *cf_tcp_read_p(cf_tcp *t, cf_abort_signal *signal);

/*
 * Read until the peer ends the stream (≈ collecting 'data' until 'end'): `cb` gets status 0
 * with every byte (`bytes`, NUL-terminated, `len` of them, borrowed until it returns), or an
 * error: CF_ETOOBIG past `max` bytes (0: 64 MiB), the stream's errors, CF_ECANCELED (closed
 * meanwhile, or `signal` aborted: the abort error). Reading stops either way.
 * Returns 0, or CF_EINVAL (NULL `t` or `cb`), CF_EBUSY (already reading), CF_ECLOSED,
 * CF_ENOTCONN, CF_ENOMEM, the stream's earlier error; then `cb` never runs. Ownership:
 * `signal` borrowed (a reference is kept until completion). Thread: loop only.
 */
CF_EXTERN int cf_tcp_read_all(cf_tcp *t, size_t max, cf_abort_signal *signal, cf_tcp_read_cb cb,
                              void *data);
/* Promise form: fulfils with every byte as a `cf_buf *` the promise owns (NUL-terminated). */
CF_EXTERN cf_promise *cf_tcp_read_all_p(cf_tcp *t, size_t max, cf_abort_signal *signal);

/* ---- writing ---- */

/*
 * Write `nbufs` buffers in order, with one completion (≈ socket.write / writev). The bytes
 * are sent at once when the queue is empty, else queued. `cb` (may be NULL) runs once they
 * are all handed to the kernel (status 0), or with the error (CF_EPIPE, CF_ECONNRESET,
 * CF_ECANCELED when the handle is closed first).
 * Returns 0, CF_TCP_FULL when the queue now holds the high-water mark or more (the write is
 * queued all the same; wait for the drain callback), or a negative code when nothing was
 * queued and `cb` will not run: CF_EINVAL, CF_ENOTCONN, CF_EPIPE (after end), CF_ECLOSED,
 * CF_ENOMEM, or the connection's earlier error.
 * Ownership: the buffers' bytes are borrowed until `cb` runs (the `bufs` array is copied).
 * Thread: loop only.
 */
CF_EXTERN int cf_tcp_write(cf_tcp *t, const cf_buf *bufs, size_t nbufs, cf_tcp_cb cb, void *data);

/*
 * Write a copy of `len` bytes (no completion callback): what the kernel does not take at once
 * is copied into the queue, so `bytes` may be reused as soon as this returns. Results as
 * cf_tcp_write.
 */
CF_EXTERN int cf_tcp_write_copy(cf_tcp *t, const void *bytes, size_t len);

/*
 * Write `nbufs` buffers with one writev(2) now and copy only what the kernel did not take
 * (≈ socket.write(data), whose result says whether to wait for 'drain'; libuv's uv_try_write
 * plus queueing). When writes are already queued nothing is tried: the bytes are copied behind
 * them, keeping the order. No completion callback: the bytes are the stream's once this
 * returns, so every buffer may be reused at once. Results as cf_tcp_write: 0, CF_TCP_FULL
 * (queued all the same; wait for the drain callback), or a negative code and nothing of the
 * buffers written or queued: CF_EINVAL (NULL `t`, NULL `bufs` with `nbufs` > 0, more than
 * IOV_MAX buffers), CF_ENOTCONN, CF_EPIPE (after end, or the peer is gone), CF_ECONNRESET,
 * CF_ECLOSED, CF_ENOMEM, or the connection's earlier error (see cf_tcp_error); an error of the
 * write itself also becomes the connection's error. Ownership: `bufs` and their bytes are
 * borrowed for the call only. Thread: loop only.
 */
CF_EXTERN int cf_tcp_write_copyv(cf_tcp *t, const cf_buf *bufs, size_t nbufs);

/*
 * Write what the kernel takes now and nothing else (≈ uv_try_write): one writev(2) of `nbufs`
 * buffers when no write is queued; `*written` gets the bytes it took, from 0 (the socket's
 * buffer is full, or writes are queued, which go first) to all of them. What is left is the
 * caller's to queue (cf_tcp_write, cf_tcp_write_copyv) or drop. Bytes written here do not count
 * toward the high-water mark: the caller is its own backpressure. Returns 0 or a negative code
 * with `*written` 0: CF_EINVAL, CF_ENOTCONN, CF_EPIPE, CF_ECONNRESET, CF_ECLOSED, or the
 * connection's earlier error; an error of the write itself also becomes the connection's error.
 * Ownership: nothing is kept. Thread: loop only.
 */
CF_EXTERN int cf_tcp_try_write(cf_tcp *t, const cf_buf *bufs, size_t nbufs, size_t *written);

/*
 * Like cf_tcp_try_write with a file's bytes after the head (≈ nginx's sendfile with
 * tcp_nopush): the `nhead` head buffers go first (MSG_MORE on TCP, so head and file leave in
 * full packets), then `len` bytes of the file `fd` from `offset` with sendfile(2), which hands
 * the file's pages to the socket without copying them through user memory. `*written` gets
 * the bytes taken, head then file, in every case (even with an error). Nothing is tried when
 * writes are queued. Returns 0, or a negative code: the stream's errors as cf_tcp_try_write,
 * which become the connection's error, or the file's (CF_EBADF, CF_EINVAL: `fd` cannot be
 * sent from, CF_EIO, ...), which leave the stream usable. Ownership: `fd` stays the caller's
 * (not closed; its offset is not moved). Thread: loop only.
 */
CF_EXTERN int cf_tcp_try_send_file(cf_tcp *t, const cf_buf *head, size_t nhead, int fd,
                                   uint64_t offset, size_t len, size_t *written);

/*
 * Promise form of cf_tcp_write with one buffer: fulfils when it is sent. `bytes` is copied
 * (free on return). When `signal` (NULL: none) aborts first, the promise rejects with the
 * abort error at once; the bytes stay queued and are still sent, in order (a stream cannot
 * take back part of what it was given: close it to drop them). Thread: loop only.
 */
CF_EXTERN cf_promise *cf_tcp_write_p(cf_tcp *t, const void *bytes, size_t len,
                                     cf_abort_signal *signal);

/* Register the drain callback (≈ socket.on('drain')); NULL removes it. */
CF_EXTERN void cf_tcp_on_drain(cf_tcp *t, cf_tcp_drain_cb cb, void *data);

/* Set the write queue's high-water mark in bytes (0: CF_TCP_HIGH_WATER). */
CF_EXTERN void cf_tcp_set_high_water(cf_tcp *t, size_t bytes);

/* Bytes queued and not yet taken by the kernel (≈ socket.writableLength). */
CF_EXTERN size_t cf_tcp_write_queue_size(const cf_tcp *t);

/*
 * The connection's sticky error without writing (≈ socket.errored): 0, or the code of the read
 * or write that failed (CF_EPIPE, CF_ECONNRESET, ...), which every later write returns too.
 * The end of the stream (CF_EOF) is not an error. Thread: loop only.
 */
CF_EXTERN int cf_tcp_error(const cf_tcp *t);

/*
 * Half-close: once the queue is written, shut the sending side down (≈ socket.end(); the peer
 * reads CF_EOF); reading goes on. `cb` (may be NULL) runs after shutdown(2). Returns 0,
 * CF_ENOTCONN, CF_ECLOSED, CF_EPIPE (already ended).
 */
CF_EXTERN int cf_tcp_end(cf_tcp *t, cf_tcp_cb cb, void *data);
/*
 * Promise form: fulfils after shutdown(2). When `signal` (NULL: none) aborts first, it
 * rejects with the abort error at once; the end stays requested (as with cf_tcp_write_p).
 */
CF_EXTERN cf_promise *cf_tcp_end_p(cf_tcp *t, cf_abort_signal *signal);

/* ---- options and addresses ---- */

/* TCP_NODELAY on or off (≈ socket.setNoDelay). Returns 0 or -errno; CF_ENOTSUP on Unix sockets. */
CF_EXTERN int cf_tcp_nodelay(cf_tcp *t, int on);
/* SO_KEEPALIVE with the first probe after `delay_s` seconds (≈ socket.setKeepAlive). */
CF_EXTERN int cf_tcp_keepalive(cf_tcp *t, int on, unsigned delay_s);

/*
 * The peer's or the local address as text ("127.0.0.1:8080", "[::1]:8080", a Unix path;
 * ≈ socket.remoteAddress + remotePort). Writes at most `len` bytes with the NUL. Returns 0,
 * CF_ENOTCONN, CF_ENOBUFS (too short).
 */
CF_EXTERN int cf_tcp_peer_name(const cf_tcp *t, char *buf, size_t len);
CF_EXTERN int cf_tcp_sock_name(const cf_tcp *t, char *buf, size_t len);
/* The local port (≈ server.address().port); 0 for Unix sockets or an unbound handle. */
CF_EXTERN int cf_tcp_port(const cf_tcp *t);
/* The socket's descriptor, -1 before connect or listen (borrowed: do not close it). */
CF_EXTERN int cf_tcp_fd(const cf_tcp *t);

/*
 * Whether the handle keeps the loop alive while active (≈ socket.ref()/unref()/hasRef());
 * referenced by default. NULL is a no-op (cf_tcp_has_ref: 0). Thread: loop only.
 */
CF_EXTERN void cf_tcp_ref(cf_tcp *t);
CF_EXTERN void cf_tcp_unref(cf_tcp *t);
CF_EXTERN int cf_tcp_has_ref(const cf_tcp *t);

/*
 * Non-zero while the handle is doing something: connecting, listening, reading, writing or
 * ending (≈ uv_is_active). 0 for NULL and once closing. Thread: loop only.
 */
CF_EXTERN int cf_tcp_is_active(const cf_tcp *t);

/* ---- close ---- */

/*
 * Close the socket at once (≈ socket.destroy()). Queued writes, a pending end and a pending
 * connect complete first with CF_ECANCELED; then `cb(data)` (may be NULL) runs in the close
 * phase and the memory goes after it (the handle is gone when `cb` runs).
 * A server (a handle that listened) closes as Node's server.close(cb): it stops accepting at
 * once, and `cb` runs once the last connection it accepted has been closed (cf_tcp_close on
 * it, or cf_tcp_close_connections), from a tick queued right then; with no connection open,
 * from a tick queued by this call (never inside it, never in the close phase). Accepted
 * connections stay the caller's to close. Returns 0, CF_EINVAL (NULL) or CF_ECLOSED (already
 * closing: a second close). Thread: loop only.
 */
CF_EXTERN int cf_tcp_close(cf_tcp *t, cf_close_cb cb, void *data);
/* Promise form: fulfils with no value once closed; rejects with CF_ECLOSED if already closing. */
CF_EXTERN cf_promise *cf_tcp_close_p(cf_tcp *t);

/*
 * The functions that start an operation record their caller's place (calcifer/error.h,
 * cf_site), so the error they report later names the line that started it: a connect's, a
 * write's, an end's, the reads' (cf_tcp_read_start, cf_tcp_read_start_into, cf_tcp_read_p,
 * cf_tcp_read_all, cf_tcp_read_all_p) and a server's accept errors (cf_tcp_listen); the close
 * errors of those it cancels and the abort errors too.
 */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_TCP_H */
