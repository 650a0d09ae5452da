/*
 * Calcifer: the HTTP/1.1 server (≈ Node's http.createServer).
 *
 * A server listens on one address and calls a handler for each request with two objects:
 * the request (`cf_http_incoming` ≈ http.IncomingMessage: method, target, path and query,
 * headers with case-insensitive lookup, body) and the response (`cf_http_res` ≈
 * http.ServerResponse: status, headers, then write/end). A handler may answer at once, or
 * later: from a timer or any other callback, from a promise reaction, or from an async task
 * (cf_http_server_new_async runs each request as a task that can await).
 *
 * Lifecycle: cf_http_server_new → cf_http_server_listen → (requests) → cf_http_server_close
 * (graceful: stop accepting, let requests in flight finish, close idle connections; the
 * callback runs once every connection is gone; memory goes after it).
 *
 * Protocol: HTTP/1.0 and 1.1 with keep-alive (1.1 by default; 1.0 with `Connection:
 * keep-alive`), pipelining (requests are handled one after another, responses go out in
 * request order), `Expect: 100-continue` (answered with 100 Continue before the body is
 * read), request bodies with Content-Length or chunked, responses with Content-Length (when
 * the whole body is given to end) or chunked streaming (write before end; close-delimited for
 * HTTP/1.0), HEAD (headers only), and the `Date` and `Connection` headers filled in. Strict
 * parsing (calcifer/http_parser.h): a malformed or ambiguous request is answered with 400 (or
 * 413, 414, 417, 431, 501, 505) and `Connection: close`, and the connection is closed.
 *
 * Timeouts (≈ server.headersTimeout, requestTimeout, keepAliveTimeout): a request whose head
 * has not fully arrived after `headers_timeout_ms`, or whose body has not after
 * `request_timeout_ms` (both counted from its first byte; for a new connection, from the
 * accept), is answered with 408 Request Timeout and closed, as Node does (a connection that
 * never sent a byte is closed without an answer). A keep-alive connection idle for
 * `keep_alive_timeout_ms` (counted from the end of the previous response) is closed
 * silently. A response whose output waits in the socket's queue without the client taking
 * any of it for `send_timeout_ms` (≈ nginx's send_timeout; Node has none) is abandoned and
 * the connection closed: the check runs every `send_timeout_ms` while output waits, so a
 * client that stops reading is dropped between one and two send timeouts after the last
 * bytes it took; the response's finish callback and promises get CF_ETIMEDOUT. Every
 * deadline counts from the loop's clock when the event happened (the accept, the first
 * byte, the end of a response), however long the loop sat idle before.
 *
 * Memory: after warm-up a request costs no allocation. Each connection keeps only its socket
 * and a small state block while idle; the buffers a request needs (input, head, response
 * head, body) come from a per-server pool while the request is in progress.
 *
 * Lifetimes: `req` and `res` are borrowed from the handler call until the response has been
 * ended (any cf_http_res_end* call, which must be made exactly once per response, even after
 * the connection was lost). Everything is loop-thread only, but for the cf_http_balancer
 * functions (any thread).
 *
 * Many loops, one port (≈ Node's cluster, nginx's worker processes): run one server per loop,
 * one loop per thread, in either of two ways. CF_HTTP_SERVER_REUSEPORT gives each server its
 * own socket on the same port (SO_REUSEPORT) and the kernel spreads the connections by a hash
 * of their addresses: no shared state, but the spread of a few long-lived connections can be
 * uneven. A cf_http_balancer makes the servers share one listening socket, and each server
 * stops accepting while it has more open connections than the least loaded one plus a small
 * slack, so they stay within that slack of each other. Either way each server is closed on
 * its own loop (cf_http_server_close: graceful, as for one server).
 */
#ifndef CALCIFER_HTTP_SERVER_H
#define CALCIFER_HTTP_SERVER_H

#include <stdint.h>

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/task.h"
#include "calcifer/http_parser.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A server (≈ http.Server). Opaque. */
typedef struct cf_http_server cf_http_server;

/*
 * Servers on several loops sharing one listening socket, with accepts balanced on their open
 * connections (see the top of this file). Opaque; made with cf_http_balancer_new and given
 * to each server in its options.
 */
typedef struct cf_http_balancer cf_http_balancer;

/* A request as the server received it (≈ http.IncomingMessage). Opaque. */
typedef struct cf_http_incoming cf_http_incoming;

/* The response to one request (≈ http.ServerResponse). Opaque. */
typedef struct cf_http_res cf_http_res;

/* Server options. Zero-initialize: every zero field means its default. */
typedef struct cf_http_server_opts {
    unsigned flags;                 /* CF_HTTP_SERVER_* */
    int backlog;                    /* listen backlog; 0: 511 */
    size_t max_header_size;         /* request line + headers; 0: 16 KiB (→ 431) */
    size_t max_target_len;          /* request-target; 0: 8 KiB (→ 414) */
    size_t max_headers;             /* header fields per request; 0: 100 (→ 431) */
    uint64_t max_body_size;         /* 0: 1 MiB buffered, no limit streamed (→ 413) */
    uint64_t headers_timeout_ms;    /* 0: 60,000; CF_HTTP_NO_TIMEOUT: none */
    uint64_t request_timeout_ms;    /* 0: 300,000; CF_HTTP_NO_TIMEOUT: none */
    uint64_t keep_alive_timeout_ms; /* 0: 5,000; CF_HTTP_NO_TIMEOUT: none */
    size_t high_water; /* bytes queued before writes return CF_HTTP_RES_FULL; 0: 64 KiB */
    unsigned max_requests_per_connection; /* 0: no limit (≈ server.maxRequestsPerSocket) */
    uint64_t send_timeout_ms; /* output stalled; 0: 60,000 (nginx); CF_HTTP_NO_TIMEOUT: none */
    /*
     * Closes the server when it aborts (≈ server.listen({ signal })): from then on it stops
     * accepting, closes idle connections and lets requests in progress finish, as
     * cf_http_server_close does. The handle stays the caller's: cf_http_server_close still
     * frees it (it returns 0 and its callback runs once the last connection is gone). NULL:
     * none. The server keeps a reference from cf_http_server_new until cf_http_server_close.
     */
    cf_abort_signal *signal;
    /*
     * Balanced serving across loops (NULL: none). The first server of the balancer to listen
     * binds its host and port; each later one accepts from the same socket, and must listen
     * with the same port or 0. `balancer_index` is this server's place, 0 to nloops-1, one
     * server per place. Borrowed until the server's close callback has run.
     */
    cf_http_balancer *balancer;
    unsigned balancer_index;
} cf_http_server_opts;

/* ---- callback types ---- */

/*
 * Called for each request (≈ the 'request' event), from the loop. In the default (buffered)
 * mode it runs once the whole body has arrived (cf_http_incoming_body); with
 * CF_HTTP_SERVER_STREAM_BODY it runs when the head has arrived and the body is read with
 * cf_http_incoming_read. The handler must end `res` once, now or later. `data` is the pointer
 * given to cf_http_server_new, borrowed.
 */
typedef void (*cf_http_handler)(cf_http_incoming *req, cf_http_res *res, void *data);

/*
 * The body of a request handled as an async task (cf_http_server_new_async): it may
 * cf_await. It should end `res` before returning; if it returns without doing so the server
 * ends it: with an empty body when it returned 0, with 500 (or by closing the connection if
 * the head was already sent) when it returned a negative CF_E*.
 */
typedef int (*cf_http_async_handler)(cf_task *task, cf_http_incoming *req, cf_http_res *res,
                                     void *data);

/*
 * Streamed body (cf_http_incoming_read, ≈ the 'data' and 'end' events): `status` 0 with `len`
 * > 0 bytes at `bytes` (borrowed until the callback returns); CF_EOF once at the end; or an
 * error, after which nothing more comes: CF_ETOOBIG (body past max_body_size), CF_EPARSE
 * (malformed chunked coding), CF_ETIMEDOUT (request timeout), CF_ECONNRESET (the client went
 * away).
 */
typedef void (*cf_http_body_cb)(cf_http_incoming *req, int status, const char *bytes, size_t len,
                                void *data);

/*
 * A response's outcome (≈ 'finish' / 'close'): `status` 0 once all of it was handed to the
 * kernel, or a negative CF_E* when the connection was lost first (CF_ECONNRESET, CF_EPIPE,
 * CF_ECANCELED when the server closed it, CF_ETIMEDOUT when the client took none of the
 * output for `send_timeout_ms`). Runs at most once, from the loop.
 */
typedef void (*cf_http_res_cb)(cf_http_res *res, int status, void *data);

/* The response's queue emptied after a write returned CF_HTTP_RES_FULL (≈ 'drain'). */
typedef void (*cf_http_res_drain_cb)(cf_http_res *res, void *data);

/* The server listens (≈ the 'listening' event). */
typedef void (*cf_http_server_listening_cb)(cf_http_server *srv, void *data);

/* The count of open connections (≈ server.getConnections(cb)). */
typedef void (*cf_http_server_count_cb)(cf_http_server *srv, size_t count, void *data);

/* ---- constants ---- */

/* cf_http_server_opts.flags */
enum {
    CF_HTTP_SERVER_REUSEPORT = 1 << 0,    /* SO_REUSEPORT: one port served by several loops */
    CF_HTTP_SERVER_STREAM_BODY = 1 << 1,  /* call the handler at the head; stream the body */
    CF_HTTP_SERVER_NO_HOST_CHECK = 1 << 2 /* accept HTTP/1.1 requests without Host */
};

/* A timeout field with this value disables that timeout. */
#define CF_HTTP_NO_TIMEOUT UINT64_MAX

/* cf_http_res_write's result when the queue holds the high-water mark or more. */
#define CF_HTTP_RES_FULL 1

/* ---- balancer: one socket, several loops (thread-safe) ---- */

/*
 * Make a balancer for `nloops` servers (1 to 1024), each of which pauses accepting while its
 * open connections exceed those of the least loaded accepting server by more than `slack`
 * (0: 4). A server that is not listening, or is closing, does not count. Returns 0,
 * CF_EINVAL (NULL out, nloops out of range) or CF_ENOMEM. The caller owns `*out` and frees
 * it with cf_http_balancer_free. Thread: any.
 */
CF_EXTERN int cf_http_balancer_new(unsigned nloops, unsigned slack, cf_http_balancer **out);

/* The port its socket is bound to, 0 before the first server listens. Thread: any. */
CF_EXTERN int cf_http_balancer_port(cf_http_balancer *b);

/*
 * Free the balancer and close its copy of the socket (each server closes its own). Call it
 * once every server given it has been closed (its close callback has run). NULL is a no-op.
 * Thread: any.
 */
CF_EXTERN void cf_http_balancer_free(cf_http_balancer *b);

/* ---- server: create, listen, close ---- */

/*
 * Make a server (≈ http.createServer(opts, handler)). Nothing is listening yet.
 * Ownership: `opts` is copied (NULL: defaults); `data` is borrowed until the close callback;
 * the caller owns `*out` and frees it with cf_http_server_close.
 * Returns 0, CF_EINVAL (NULL loop, handler or out) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_http_server_new(cf_loop *loop, const cf_http_server_opts *opts,
                                 cf_http_handler handler, void *data, cf_http_server **out);

/*
 * Same, but each request runs `handler` as an async task (≈ an `async (req, res) => {...}`
 * handler) that may await promises. Tasks use the loop's default stack (calcifer/task.h).
 */
CF_EXTERN int cf_http_server_new_async(cf_loop *loop, const cf_http_server_opts *opts,
                                       cf_http_async_handler handler, void *data,
                                       cf_http_server **out);

/*
 * Listen on `host`:`port` (≈ server.listen(port, host)); `host` NULL or "" means every IPv4
 * address, `port` 0 picks a free one (cf_http_server_port). With a balancer in the options,
 * only its first server binds: the later ones take its socket (their `host` is ignored).
 * Synchronous: returns 0, CF_EADDRINUSE, CF_EACCES, CF_EADDRNOTAVAIL, CF_EINVAL (bad
 * address, already listening, closing; with a balancer: an index out of range, or a port
 * other than 0 and the balancer's, or a place that listened already), CF_ENOMEM,
 * CF_ECANCELED (the options' `signal` is already aborted: nothing was started; close the
 * server as usual), or another -errno. `host` is copied. While listening, the server watches
 * the options' `signal` (see cf_http_server_opts). Thread: loop only.
 */
CF_EXTERN int cf_http_server_listen(cf_http_server *srv, const char *host, int port);

/*
 * Whether the listening socket keeps the loop alive (≈ server.ref()/unref()/hasRef()):
 * referenced by default; the setting carries over to a later listen. Connections in progress
 * keep the loop alive either way. NULL is a no-op (has_ref: 0). Thread: loop only.
 */
CF_EXTERN void cf_http_server_ref(cf_http_server *srv);
CF_EXTERN void cf_http_server_unref(cf_http_server *srv);
CF_EXTERN int cf_http_server_has_ref(const cf_http_server *srv);

/* Non-zero while the server listens and is not closing (≈ server.listening). Thread: loop only. */
CF_EXTERN int cf_http_server_is_active(const cf_http_server *srv);

/*
 * Register the listening callback (≈ server.on('listening') / listen's callback), before
 * cf_http_server_listen. After a successful listen `cb` runs from the nextTick queue as
 * Node emits 'listening' (see cf_tcp_on_listening: with a host, a tick queued by a tick);
 * never if the listen fails or the server is closed first.
 * Returns 0, CF_EINVAL (NULL `srv` or `cb`), CF_ECLOSED (closing), CF_EBUSY (a listening
 * callback is already registered, or the server already listens). Ownership: `data`
 * borrowed until `cb` runs or the server is closed. Thread: loop only.
 */
CF_EXTERN int cf_http_server_on_listening(cf_http_server *srv, cf_http_server_listening_cb cb,
                                          void *data);

/* The bound port (≈ server.address().port); 0 before listen. */
CF_EXTERN int cf_http_server_port(const cf_http_server *srv);

/* The loop the server runs on. */
CF_EXTERN cf_loop *cf_http_server_loop(const cf_http_server *srv);

/*
 * Connections accepted since the server was made (≈ nginx's stub_status `accepts`): the
 * spread of connections across the loops of one port. 0 for NULL. Thread: loop only.
 */
CF_EXTERN size_t cf_http_server_accepted(const cf_http_server *srv);

/*
 * Connections currently open (≈ server._connections): each counts from its accept until the
 * server closes it (it ended, failed, timed out, or was closed by one of the calls below),
 * not until its socket's close phase. 0 for NULL. Thread: loop only.
 */
CF_EXTERN size_t cf_http_server_connections(const cf_http_server *srv);

/*
 * Callback form (≈ server.getConnections(cb)): `cb` gets the count as it is now, from the
 * nextTick queue as Node delivers it; also while the server is closing, until its close
 * callback has run. Returns 0, CF_EINVAL (NULL `srv` or `cb`), CF_ENOMEM (then `cb` never
 * runs). Ownership: `data` borrowed until `cb` runs. Thread: loop only.
 */
CF_EXTERN int cf_http_server_get_connections(cf_http_server *srv, cf_http_server_count_cb cb,
                                             void *data);

/*
 * Close gracefully (≈ server.close(cb), which in Node 19+ also runs closeIdleConnections()):
 * stop accepting, close idle keep-alive connections at once, let every request in progress
 * finish (its response says `Connection: close`), then close those connections too. `cb(data)`
 * (may be NULL) runs as Node delivers 'close': from a tick queued when the last connection
 * is closed, or by this call when none is open (never inside it, never in the close phase);
 * the server is gone when it runs and its memory goes after it. A server that never listened
 * closes the same way (Node passes ERR_SERVER_NOT_RUNNING to its callback there), and so does
 * one its `signal` already closed (the close then only waits for what is left). This is also
 * how a server is freed. Returns 0, CF_EINVAL (NULL) or CF_ECLOSED (a second close; `cb` will
 * not run). Thread: loop only.
 */
CF_EXTERN int cf_http_server_close(cf_http_server *srv, cf_close_cb cb, void *data);

/* Promise form: fulfils with no value once closed; rejects with CF_ECLOSED if already closing. */
CF_EXTERN cf_promise *cf_http_server_close_p(cf_http_server *srv);

/*
 * Close every connection now, requests in progress included (≈ closeAllConnections()): their
 * finish callbacks get CF_ECANCELED and their writes CF_ECLOSED; the handlers must still end
 * their responses. Thread: loop only.
 */
CF_EXTERN void cf_http_server_close_all_connections(cf_http_server *srv);

/*
 * Close every connection with no request in progress now (≈ closeIdleConnections()): idle
 * keep-alive connections and ones that have not sent a byte of a request. A closing server's
 * close callback then comes as in cf_http_server_close. Returns the number closed, or
 * CF_EINVAL (NULL). Thread: loop only.
 */
CF_EXTERN int cf_http_server_close_idle_connections(cf_http_server *srv);

/* ---- the request (borrowed until the response is ended) ---- */

/* The method (CF_HTTP_METHOD_GET, ...) and its token ("GET", NUL-terminated). */
CF_EXTERN cf_http_method cf_http_incoming_method(const cf_http_incoming *req);
CF_EXTERN const char *cf_http_incoming_method_name(const cf_http_incoming *req);

/* The request-target as sent (≈ req.url), NUL-terminated: "/films?limit=2". */
CF_EXTERN const char *cf_http_incoming_target(const cf_http_incoming *req);

/*
 * The path part of the target, before any '?', still percent-encoded (`*len` gets its length;
 * it is NOT NUL-terminated at the '?'). Decode with cf_http_url_decode.
 */
CF_EXTERN const char *cf_http_incoming_path(const cf_http_incoming *req, size_t *len);

/* The query after the '?' (NUL-terminated, "" when none; `len` may be NULL). */
CF_EXTERN const char *cf_http_incoming_query(const cf_http_incoming *req, size_t *len);

/* The HTTP version as 10 or 11 (≈ req.httpVersion). */
CF_EXTERN int cf_http_incoming_version(const cf_http_incoming *req);

/*
 * The value of the first header named `name`, compared ASCII case-insensitively
 * (≈ req.headers[name]), NUL-terminated and without surrounding whitespace; NULL if absent.
 */
CF_EXTERN const char *cf_http_incoming_header(const cf_http_incoming *req, const char *name);

/* Every header field in order (≈ req.rawHeaders); names and values are NUL-terminated. */
CF_EXTERN const cf_http_field *cf_http_incoming_headers(const cf_http_incoming *req, size_t *n);

/* Non-zero when the connection stays open after this request (as far as the client asked). */
CF_EXTERN int cf_http_incoming_keep_alive(const cf_http_incoming *req);

/*
 * The whole body in the buffered mode (NUL-terminated; "" when there is none; `len` may be
 * NULL). In the streaming mode: NULL.
 */
CF_EXTERN const char *cf_http_incoming_body(const cf_http_incoming *req, size_t *len);

/*
 * The client's address as text ("127.0.0.1:53412"). Returns 0, CF_ENOTCONN, CF_ENOBUFS.
 */
CF_EXTERN int cf_http_incoming_peer_name(const cf_http_incoming *req, char *buf, size_t len);

/* The server that received the request. */
CF_EXTERN cf_http_server *cf_http_incoming_server(const cf_http_incoming *req);

/* ---- the request body, streamed (CF_HTTP_SERVER_STREAM_BODY) ---- */

/*
 * Deliver the body to `cb` as it arrives (≈ req.on('data') + req.on('end')), starting from
 * the loop (never inside this call), then CF_EOF. A body that is already complete (none, or
 * all received) is delivered the same way. Returns 0, CF_EINVAL (buffered mode, NULL cb,
 * already reading). Ownership: `data` borrowed until CF_EOF or an error was delivered.
 */
CF_EXTERN int cf_http_incoming_read(cf_http_incoming *req, cf_http_body_cb cb, void *data);

/* Stop / restart delivering the body (≈ req.pause()/resume()); the socket stops reading. */
CF_EXTERN void cf_http_incoming_pause(cf_http_incoming *req);
CF_EXTERN void cf_http_incoming_resume(cf_http_incoming *req);

/*
 * Promise form of reading the next piece of the body: fulfils with a `cf_buf *` the promise
 * owns (a copy; len 0 at the end of the body), or rejects with the body error. One read at a
 * time; do not mix with cf_http_incoming_read. In buffered mode it fulfils with the whole
 * body, then with len 0.
 */
CF_EXTERN cf_promise *cf_http_incoming_read_p(cf_http_incoming *req);
/* (Its callback form is cf_http_incoming_read: the body is a stream of events.) */

/* ---- the response: status and headers ---- */

/*
 * Set the status (≈ res.statusCode / statusMessage); `reason` NULL means the standard phrase.
 * Returns 0, CF_EINVAL (status outside 100..999, NULL res, a reason with CR or LF) or
 * CF_EBUSY (the head was already sent). `reason` is copied.
 */
CF_EXTERN int cf_http_res_set_status(cf_http_res *res, int status, const char *reason);

/* The status that will be (or was) sent. */
CF_EXTERN int cf_http_res_status(const cf_http_res *res);

/*
 * Set a header, replacing every header of that name (≈ res.setHeader); cf_http_res_add_header
 * adds one more line with the name (Set-Cookie). A Content-Length makes the body fixed-length
 * (writes past it fail with CF_EINVAL); `Connection: close` closes the connection after this
 * response; Date is filled in unless set. Returns 0, CF_EINVAL (a name that is not a token, a
 * value with CR, LF or NUL), CF_EBUSY (head sent), CF_ENOMEM. Both strings are copied.
 */
CF_EXTERN int cf_http_res_set_header(cf_http_res *res, const char *name, const char *value);
CF_EXTERN int cf_http_res_add_header(cf_http_res *res, const char *name, const char *value);

/* Remove every header of that name (≈ res.removeHeader). Returns 0, CF_EBUSY (head sent). */
CF_EXTERN int cf_http_res_remove_header(cf_http_res *res, const char *name);

/* Non-zero when a header of that name is set (≈ res.hasHeader). */
CF_EXTERN int cf_http_res_has_header(const cf_http_res *res, const char *name);

/* Non-zero once the head was sent (≈ res.headersSent). */
CF_EXTERN int cf_http_res_headers_sent(const cf_http_res *res);

/* The request this response answers. */
CF_EXTERN cf_http_incoming *cf_http_res_request(const cf_http_res *res);

/* ---- the response: body ---- */

/*
 * Send a piece of the body (≈ res.write(chunk)); the head goes first, and without a
 * Content-Length header the body is chunked (close-delimited for an HTTP/1.0 client). The
 * bytes are sent at once when the socket takes them; what it does not is copied, so `bytes`
 * may be reused when this returns. For HEAD requests and 204/304 responses they are dropped.
 * Returns 0, CF_HTTP_RES_FULL (queued bytes reached the high-water mark: wait for the drain
 * callback or cf_http_res_drain_p before writing more), or a negative code with nothing
 * sent: CF_EINVAL (already ended, or past the Content-Length), CF_ECLOSED (the connection is
 * gone), CF_EPIPE / CF_ECONNRESET (it was just lost), CF_ENOMEM.
 */
CF_EXTERN int cf_http_res_write(cf_http_res *res, const void *bytes, size_t len);

/*
 * Like cf_http_res_write, without copying: the bytes are borrowed until the response has
 * finished or failed (cf_http_res_on_finish / cf_http_res_end_p), so they must outlive it
 * (static or long-lived data: precomputed bodies, mapped files).
 */
CF_EXTERN int cf_http_res_write_ref(cf_http_res *res, const void *bytes, size_t len);

/*
 * Finish the response with a last piece (may be NULL/0) (≈ res.end(chunk)). When nothing was
 * written before and no Content-Length was set, `Content-Length: len` is sent, so a whole
 * response is one head and one body in a single writev. Must be called exactly once per
 * response; `req` and `res` must not be used afterwards. Returns 0 (also when a write is
 * still queued), or, the response being ended all the same: CF_ECLOSED (connection gone),
 * CF_EPIPE / CF_ECONNRESET, CF_ENOMEM (the connection is then closed), CF_EINVAL (already
 * ended, NULL res: nothing happens then).
 */
CF_EXTERN int cf_http_res_end(cf_http_res *res, const void *bytes, size_t len);

/* cf_http_res_end without copying; `bytes` borrowed as in cf_http_res_write_ref. */
CF_EXTERN int cf_http_res_end_ref(cf_http_res *res, const void *bytes, size_t len);

/*
 * cf_http_res_end_ref for bytes that are also the contents of the file `fd` at `offset` (a
 * read-only mapping of it, say): the server may send them with sendfile(2), which spares
 * the copy into the socket (≈ what nginx does for static files). `fd`, `bytes` and the file's
 * contents are borrowed until the response finishes. Returns as cf_http_res_end; CF_EINVAL
 * also for a negative `fd`.
 */
CF_EXTERN int cf_http_res_end_file(cf_http_res *res, int fd, uint64_t offset, const void *bytes,
                                   size_t len);

/*
 * Promise form of cf_http_res_end (copies `bytes`): fulfils with no value once the whole
 * response was handed to the kernel, rejects with CF_ECONNRESET, CF_EPIPE, CF_ECLOSED or
 * CF_ECANCELED when the connection is lost first. The response is ended either way.
 */
CF_EXTERN cf_promise *cf_http_res_end_p(cf_http_res *res, const void *bytes, size_t len);
/* (Its callback form is cf_http_res_on_finish, registered before cf_http_res_end.) */

/*
 * Shorthand for a whole response: status, Content-Type (NULL: none), body (copied), end.
 * Returns as cf_http_res_end, or CF_EINVAL / CF_EBUSY from setting the status.
 */
CF_EXTERN int cf_http_res_send(cf_http_res *res, int status, const char *content_type,
                               const void *body, size_t len);

/*
 * Call `cb` when the queue has emptied after a write returned CF_HTTP_RES_FULL
 * (≈ res.on('drain')); NULL removes it. `data` borrowed while registered.
 */
CF_EXTERN void cf_http_res_on_drain(cf_http_res *res, cf_http_res_drain_cb cb, void *data);

/*
 * Promise form: fulfils when writing may go on (at once, in a microtask, when no write has
 * returned CF_HTTP_RES_FULL since the last drain), rejects with CF_ECLOSED / CF_ECONNRESET
 * when the connection is lost.
 */
CF_EXTERN cf_promise *cf_http_res_drain_p(cf_http_res *res);
/* (Its callback form is cf_http_res_on_drain: draining is an event, which may come again.) */

/*
 * Call `cb` once with the response's outcome (see cf_http_res_cb), from the loop, never
 * inside a call of this API. Register it before ending. `data` borrowed until it runs.
 */
CF_EXTERN void cf_http_res_on_finish(cf_http_res *res, cf_http_res_cb cb, void *data);

/* ---- query strings and URLs (thread-safe, no state) ---- */

/*
 * Iterate over `key=value` pairs of a query string (`&`-separated; a pair without `=` has an
 * empty value): `*pos` starts at 0; each call fills `param` with the raw (still encoded)
 * spans of the next pair and returns 1, or returns 0 at the end. Empty pairs are skipped.
 */
CF_EXTERN int cf_http_query_next(const char *query, size_t len, size_t *pos, cf_http_field *param);

/*
 * Percent-decode `len` bytes of `src` into `dst` (which may be `src`; it needs `len` bytes, no
 * NUL is added); with `form` non-zero '+' decodes to a space (query strings). Returns the
 * decoded length, or CF_EINVAL for a '%' not followed by two hex digits.
 */
CF_EXTERN long cf_http_url_decode(const char *src, size_t len, char *dst, int form);

/* The promise forms record their caller's place (calcifer/error.h, cf_site) for their errors. */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_HTTP_SERVER_H */
