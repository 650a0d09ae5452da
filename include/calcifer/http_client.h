/*
 * Calcifer: the HTTP(S) client (≈ Node's fetch, or the `request` and `axios` modules).
 *
 * Requests run on libcurl's multi_socket interface driven by the loop: any number of
 * transfers share the one loop thread, with keep-alive connections reused per host, HTTP/2
 * when the server offers it over TLS, automatic decompression (gzip, deflate, br, zstd), proxy
 * settings from the environment (http_proxy, https_proxy, no_proxy) and a User-Agent naming
 * Calcifer and its version. TLS verification is on by default against the system's CA store.
 *
 * A request completes once: its callback runs (callback form) or its promise settles (promise
 * form) on the loop thread, from the loop, never inside the call that started it and never
 * inside a libcurl callback. A response with any status is a success unless
 * CF_HTTP_FAIL_ON_STATUS is given (≈ fetch: a 404 is not a network error); then a non-2xx
 * status fails with CF_EHTTP.
 *
 * Errors are distinct: CF_EURL (bad URL), CF_ENOTFOUND (the host name does not resolve),
 * CF_ECONNREFUSED / CF_EHOSTUNREACH / CF_ENETUNREACH (connect failed), CF_ETIMEDOUT
 * ("connection timed out" while connecting, "timed out after 1 s waiting for the response"
 * once connected), CF_ETLS (the message says why), CF_EREDIRECTS ("too many redirects (more
 * than 20)"), CF_ETOOBIG (the body passed max_body), CF_ECONNRESET (reset, closed mid-body,
 * or closed with no reply: the message says which), CF_EBADRESP (a reply that is not HTTP,
 * headers over curl's limits of 300 KiB in all or 100 KiB for one line, or garbage),
 * CF_EHTTP (non-2xx, when asked), CF_ECANCELED (cancelled, or aborted: see below), CF_ENOMEM.
 * Every error message is one line and starts with the method and the URL: "GET
 * http://127.0.0.1:1/films: connection refused"; control characters and bytes that are not
 * valid UTF-8 in it are escaped (\r, \xNN) and a URL's credentials are shown as "***@". A
 * detail in parentheses is curl's, and only ever that of the final attempt: curl's words
 * about an attempt it retried (a reused connection found closed) are dropped.
 *
 * Cancellation: `opts.signal` (NULL: none). When it aborts, the request stops (its connection
 * is dropped) and fails with cf_abort_signal_error(signal): CF_ECANCELED, "The operation was
 * aborted", the signal's reason as its cause and the line that started the request as its
 * site (the one abort error of the library; a deadline is cf_abort_signal_timeout). A signal
 * that is already aborted fails the request from the loop before anything is sent. The
 * request stops listening to the signal when it completes.
 *
 * No libcurl type appears here. Everything is loop-thread only.
 */
#ifndef CALCIFER_HTTP_CLIENT_H
#define CALCIFER_HTTP_CLIENT_H

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/abort.h"
#include "calcifer/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A request in flight. Opaque; owned by the library until its completion callback returns. */
typedef struct cf_http_req cf_http_req;

/* A response: status, headers, body. Opaque. */
typedef struct cf_http_response cf_http_response;

/* One request header; both strings are copied when the request starts. */
typedef struct cf_http_header {
    const char *name;
    const char *value;
} cf_http_header;

/*
 * Streaming body callback (an event callback, ≈ 'data'): `len` bytes of the (decoded) body at
 * `bytes`, borrowed until it returns; `data` is the options' `on_data_ctx`. Return 0 to go
 * on, or a negative CF_E* to fail the request with that code. Call cf_http_req_pause(req)
 * inside it to stop the flow until cf_http_req_resume (backpressure).
 */
typedef int (*cf_http_data_cb)(cf_http_req *req, const char *bytes, size_t len, void *data);

/*
 * Completion callback. `status` is 0 or a negative CF_E*; `err` (NULL on success) says what
 * failed; `res` is the response (non-NULL on success, and on CF_EHTTP; may be NULL on other
 * errors). Both are borrowed until the callback returns (use cf_http_response_take to keep the
 * response).
 */
typedef void (*cf_http_cb)(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                           void *data);

/* Flags for cf_http_options.flags. */
enum {
    CF_HTTP_FAIL_ON_STATUS = 1 << 0, /* a non-2xx status fails with CF_EHTTP */
    CF_HTTP_NO_FOLLOW = 1 << 1,      /* do not follow redirects (the 3xx is the response) */
    CF_HTTP_INSECURE = 1 << 2,       /* turn TLS verification off (logged on stderr) */
    CF_HTTP_NO_DECOMPRESS = 1 << 3,  /* ask for and keep the body as the server encodes it */
    CF_HTTP_HTTP1_ONLY = 1 << 4      /* never negotiate HTTP/2 */
};

/*
 * Options of one request (≈ fetch's init object). Zero-initialize, then set what you need;
 * every zero field means its default. Strings and header arrays are copied when the request
 * starts; `body` is borrowed until the request completes.
 */
typedef struct cf_http_options {
    const char *method;            /* NULL: "GET" */
    const cf_http_header *headers; /* extra request headers */
    size_t header_count;
    const void *body; /* request body bytes (borrowed) */
    size_t body_len;
    const char *body_file;       /* or: stream the body from this file */
    uint64_t connect_timeout_ms; /* 0: 30,000 ms */
    uint64_t timeout_ms;         /* whole transfer; 0: none */
    long max_redirects;          /* 0: 20 */
    size_t max_body;             /* body limit (CF_ETOOBIG past it); 0: 64 MiB when the
                                    body is buffered, no limit when it goes to on_data */
    unsigned flags;              /* CF_HTTP_* */
    const char *ca_file;         /* PEM bundle to verify the server with, instead of the system's */
    cf_abort_signal *signal;     /* aborting it fails the request with the abort error;
                                    borrowed (a reference is kept until completion) */
    cf_http_data_cb on_data;     /* stream the body here instead of buffering it */
    void *on_data_ctx;
} cf_http_options;

/* ---- per-loop settings ---- */

/*
 * Connection limits of the loop's client (≈ an http.Agent's maxSockets): at most
 * `per_host` connections to one host and `total` in all (0 keeps a limit's current value;
 * defaults: 6 per host, 64 in all). Requests beyond the limits wait their turn.
 * Returns 0, CF_EINVAL or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_http_set_limits(cf_loop *loop, long per_host, long total);

/* ---- requests: callback form ---- */

/*
 * Start a request for `url` (≈ fetch(url, init) or request(url, cb)). `cb` runs once, later,
 * from the loop. `*out` (if `out` is not NULL) receives the request, for pause, resume and
 * cancel; it is valid until `cb` returns.
 * Returns 0, CF_EINVAL (NULL loop, url or cb), CF_EURL (the URL is not http or https, or is
 * malformed), or CF_ENOMEM; on a non-zero return `cb` never runs.
 * Ownership: `url` and `opts` are copied (except `opts->body`, borrowed until `cb` runs);
 * `data` is borrowed until `cb` runs. Thread: loop only.
 */
CF_EXTERN int cf_http_request(cf_loop *loop, const char *url, const cf_http_options *opts,
                              cf_http_cb cb, void *data, cf_http_req **out);

/*
 * Stop delivering body data (≈ pausing a readable stream): no on_data call until
 * cf_http_req_resume. The transfer stops reading from the socket, so memory stays bounded.
 * Returns 0, CF_EINVAL (NULL or finished request). Thread: loop only.
 */
CF_EXTERN int cf_http_req_pause(cf_http_req *req);

/* Resume a paused request. Returns 0 or CF_EINVAL. Thread: loop only. */
CF_EXTERN int cf_http_req_resume(cf_http_req *req);

/*
 * Cancel a request (≈ controller.abort()): its callback runs later, from the loop, with
 * CF_ECANCELED. Cancelling a finished or cancelled request does nothing.
 * Returns 0 or CF_EINVAL (NULL). Thread: loop only.
 */
CF_EXTERN int cf_http_req_cancel(cf_http_req *req);

/* ---- requests: promise form ---- */

/*
 * Promise form of cf_http_request: fulfils with the cf_http_response (owned by the promise;
 * borrow it while you hold the promise, or move it out with cf_promise_take), rejects with
 * the errors listed at the top. Never fails synchronously; NULL only when the promise cannot
 * be allocated. Ownership: `url` and `opts` are copied (`opts->body` borrowed until the
 * promise settles). Thread: loop only.
 */
CF_EXTERN cf_promise *cf_http_request_p(cf_loop *loop, const char *url,
                                        const cf_http_options *opts);

/*
 * GET `url` and parse the body as JSON (≈ axios.get(url) or fetch(url).then(r => r.json())):
 * fulfils with the cf_json * root (owned by the promise). Rejects as cf_http_request_p
 * does, with CF_EHTTP for a non-2xx status, and with CF_EPARSE when the body is not JSON
 * ("GET <url>: JSON: expected ... at line 1, column 1 (byte 0)"). `opts` may be NULL.
 */
CF_EXTERN cf_promise *cf_http_get_json_p(cf_loop *loop, const char *url,
                                         const cf_http_options *opts);

/* Callback form of cf_http_get_json_p: `value` is borrowed until `cb` returns. */
typedef void (*cf_http_json_cb)(int status, const cf_error *err, cf_json *value, void *data);
CF_EXTERN int cf_http_get_json(cf_loop *loop, const char *url, const cf_http_options *opts,
                               cf_http_json_cb cb, void *data);

/*
 * An event callback, run with each element of the streamed JSON array as soon as it is
 * complete; `value` is borrowed until the callback returns. Return 0 to go on, a negative CF_E*
 * to stop the transfer with that error.
 */
typedef int (*cf_http_element_cb)(cf_json *value, size_t index, void *data);

/* A completion without a result: `status` 0 or a negative CF_E*; `err` NULL exactly on 0. */
typedef void (*cf_http_done_cb)(int status, const cf_error *err, void *data);

/*
 * GET `url` and stream the elements of the JSON array at `path` ("" or NULL: the top-level
 * array; "data.items": the array at that path) to `element_cb`, one at a time, with memory
 * bounded by the largest element (≈ piping a response through a streaming JSON parser).
 * `element_cb` is an event callback (it runs once per element); the completion is `done`,
 * which runs once, after the last element with status 0, or with an error: as
 * cf_http_get_json, the error `element_cb` returned, CF_EPARSE when the body is not JSON or
 * holds no array at `path`, or the abort error of `opts->signal`. `data` goes to both.
 * Returns 0, CF_EINVAL (NULL loop, url, on_element or done), CF_EURL, CF_ENOMEM; then no
 * callback runs. Ownership: `url`, `path` and `opts` copied; `data` borrowed until `done` has
 * run. `opts` may be NULL. Thread: loop only.
 */
CF_EXTERN int cf_http_stream_json(cf_loop *loop, const char *url, const char *path,
                                  const cf_http_options *opts, cf_http_element_cb element_cb,
                                  cf_http_done_cb done, void *data);

/*
 * Promise form: the elements still go to the event callback `element_cb`; the promise is the
 * completion: it fulfils with NULL after the last element and rejects with the errors of
 * cf_http_stream_json. Ownership: `data` borrowed until the promise settles.
 */
CF_EXTERN cf_promise *cf_http_stream_json_p(cf_loop *loop, const char *url, const char *path,
                                            const cf_http_options *opts,
                                            cf_http_element_cb element_cb, void *data);

/*
 * GET `url` into the file `path`, replaced atomically: the body goes to a temporary file in
 * the same folder, which is synced and renamed over `path` only when the whole body arrived
 * with a 2xx status; on any failure the previous file is left as it was (≈ curl -o with
 * atomic replace). `cb(status, err, written, data)` runs once: status 0 with the number of
 * body bytes written, or the error (as cf_http_request's, CF_EHTTP for a non-2xx status, the
 * file's, or the abort error of `opts->signal`). Returns 0, CF_EINVAL (NULL loop, url, path or
 * cb), CF_EURL, the file's error opening the temporary file, CF_ENOMEM; then `cb` never runs.
 * Ownership: `url`, `path`, `opts` copied; `data` borrowed until `cb` has run. `opts` may be
 * NULL. Thread: loop only.
 */
typedef void (*cf_http_download_cb)(int status, const cf_error *err, size_t written, void *data);
CF_EXTERN int cf_http_download(cf_loop *loop, const char *url, const char *path,
                               const cf_http_options *opts, cf_http_download_cb cb, void *data);

/*
 * Promise form: fulfils with the number of body bytes written, as a (size_t *) owned by the
 * promise.
 */
CF_EXTERN cf_promise *cf_http_download_p(cf_loop *loop, const char *url, const char *path,
                                         const cf_http_options *opts);

/* ---- responses ---- */

/* The status code (200, 404, ...). */
CF_EXTERN int cf_http_response_status(const cf_http_response *res);

/* The reason phrase the server sent, or "" (HTTP/2 has none). Borrowed with `res`. */
CF_EXTERN const char *cf_http_response_reason(const cf_http_response *res);

/*
 * The first value of header `name`, compared case-insensitively (≈ headers.get(name)), or
 * NULL. Borrowed with `res`.
 */
CF_EXTERN const char *cf_http_response_header(const cf_http_response *res, const char *name);

/* Number of response headers, and the i-th one's name and value (borrowed with `res`). */
CF_EXTERN size_t cf_http_response_header_count(const cf_http_response *res);
CF_EXTERN int cf_http_response_header_at(const cf_http_response *res, size_t i, const char **name,
                                         const char **value);

/* The buffered body (empty when it was streamed). Borrowed with `res`; NUL-terminated. */
CF_EXTERN cf_buf cf_http_response_body(const cf_http_response *res);

/* The URL that answered, after redirects. Borrowed with `res`. */
CF_EXTERN const char *cf_http_response_url(const cf_http_response *res);

/* The protocol version of the response: 10, 11, 20 or 30 (HTTP/1.0 ... HTTP/3). */
CF_EXTERN int cf_http_response_version(const cf_http_response *res);

/*
 * Move the response out of a completion callback: the caller then owns it and frees it with
 * cf_http_response_free. Returns NULL when called twice. Thread: loop only.
 */
CF_EXTERN cf_http_response *cf_http_response_take(cf_http_req *req);

/* Free a response the caller owns (after cf_http_response_take or cf_promise_take). */
CF_EXTERN void cf_http_response_free(void *res);

/*
 * The functions that start a request record their caller's place (calcifer/error.h, cf_site),
 * so an error they report later names the line that started the request.
 */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_HTTP_CLIENT_H */
