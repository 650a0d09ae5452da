/*
 * Socket, child-process and HTTP streams (calcifer/stream.h), built on the public calls of
 * calcifer/tcp.h, process.h, http_client.h and http_server.h.
 *
 * Socket (≈ net.Socket): reading runs while the readable side wants data and stops
 * (cf_tcp_read_stop) as soon as a push finds the buffer full, so the kernel's buffer and the
 * peer's TCP window hold the rest; the read hook starts it again. A write is done at once
 * when the socket's queue is under its mark and at the socket's drain otherwise, so at most
 * one socket mark of bytes waits beyond the stream's own. The end is a FIN (cf_tcp_end);
 * destroy closes the socket and reports once the close callback ran (the close completes
 * pending writes with CF_ECANCELED first; the stream ignores them, being destroyed).
 *
 * HTTP body (≈ IncomingMessage): the transfer is paused (cf_http_req_pause) when a push
 * finds the buffer full and resumed by the read hook. HTTP response (≈ ServerResponse): the
 * end waits for the response's finish callback, which is also how a lost connection is
 * noticed. Server request body (≈ the server's IncomingMessage): as the client's body, with
 * cf_http_incoming_pause/resume. Client request body (≈ ClientRequest): the request starts
 * with the stream and its body is fed to curl chunk by chunk; a write is done once curl has
 * taken its bytes, so the high-water mark bounds what waits in memory.
 */
#include <string.h>

#include "io/internal.h"
#include "io/stream.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/util.h"

/* Errors of the adapter name the line that made the stream (see cf__stream_at). */
#define AT_STREAM(e) cf__stream_at(a->s, (e))

/* ---- socket ---- */

typedef struct tcp_ad {
    cf_tcp *t;
    cf_stream *s;
    int reading;
    int draining;
} tcp_ad;

static void tcp_on_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                        void *data)
{
    tcp_ad *a = data;
    if (status == 0 && len > 0) {
        if (cf_stream_push(a->s, bytes, len) != 0) {
            cf_tcp_read_stop(t);
            a->reading = 0;
        }
        return;
    }
    if (status == 0)
        return;
    a->reading = 0;
    if (status == CF_EOF)
        cf_stream_push_end(a->s);
    else
        cf_stream_destroy(a->s,
                          err ? AT_STREAM(cf_error_copy(err)) : AT_STREAM(CF_ERROR(status, NULL)));
}

static void tcp_read(cf_stream *s, size_t size, void *data)
{
    tcp_ad *a = data;
    (void)size;
    if (a->reading)
        return;
    int rc = cf_tcp_read_start(a->t, tcp_on_read, a);
    if (rc == CF_EOF)
        cf_stream_push_end(s);
    else if (rc < 0)
        cf_stream_destroy(s, AT_STREAM(CF_ERROR(rc, "read: %s", cf_strerror(rc))));
    else
        a->reading = 1;
}

static void tcp_on_drain(cf_tcp *t, void *data)
{
    tcp_ad *a = data;
    (void)t;
    if (a->draining) {
        a->draining = 0;
        cf_stream_done(a->s, NULL);
    }
}

static void tcp_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    tcp_ad *a = data;
    int rc = cf_tcp_write_copy(a->t, chunk, len);
    if (rc == CF_TCP_FULL) {
        a->draining = 1; /* done at the socket's drain */
        return;
    }
    cf_stream_done(s, rc < 0 ? AT_STREAM(CF_ERROR(rc, "write: %s", cf_strerror(rc))) : NULL);
}

static void tcp_on_end(cf_tcp *t, int status, const cf_error *err, void *data)
{
    tcp_ad *a = data;
    (void)t;
    if (!cf_stream_is_destroyed(a->s))
        cf_stream_done(a->s, status < 0 ? AT_STREAM(cf_error_copy(err)) : NULL);
}

static void tcp_final(cf_stream *s, void *data)
{
    tcp_ad *a = data;
    int rc = cf_tcp_end(a->t, tcp_on_end, a);
    if (rc < 0)
        cf_stream_done(s, AT_STREAM(CF_ERROR(rc, "end: %s", cf_strerror(rc))));
}

static void tcp_closed(void *data)
{
    tcp_ad *a = data;
    a->t = NULL;
    cf_stream_destroy_done(a->s);
}

static void tcp_destroy(cf_stream *s, const cf_error *err, void *data)
{
    tcp_ad *a = data;
    (void)err;
    a->draining = 0;
    if (!a->t || cf_tcp_close(a->t, tcp_closed, a) < 0)
        cf_stream_destroy_done(s);
}

static void tcp_free(void *data)
{
    cf__free(data);
}

static const cf_stream_impl tcp_impl = {.read = tcp_read,
                                        .write = tcp_write,
                                        .final = tcp_final,
                                        .destroy = tcp_destroy,
                                        .free_data = tcp_free};

static int tcp_stream(cf_site site, cf_tcp *t, cf_stream_kind kind, size_t high_water,
                      cf_stream **out)
{
    if (!t || !out)
        return CF_EINVAL;
    tcp_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return CF_ENOMEM;
    a->t = t;
    cf_stream_options o = {.high_water = high_water};
    int rc = cf__stream_new_at(site, cf_tcp_loop(t), kind, &tcp_impl, &o, a, &a->s);
    if (rc < 0) {
        cf__free(a);
        return rc;
    }
    cf_tcp_on_drain(t, tcp_on_drain, a);
    *out = a->s;
    return 0;
}

CF__NOINLINE int cf_stream_tcp_new(cf_tcp *t, size_t high_water, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    return tcp_stream(site, t, CF_STREAM_DUPLEX, high_water, out);
}

CF__NOINLINE int cf_stream_process_stdio_new(cf_process *p, int fd, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!p || fd < 0 || fd > 2)
        return CF_EINVAL;
    cf_tcp *t = cf_process_stdio(p, fd);
    if (!t)
        return CF_EINVAL;
    return tcp_stream(site, t, fd == 0 ? CF_STREAM_WRITABLE : CF_STREAM_READABLE, 0, out);
}

/* ---- HTTP response body (client) ---- */

typedef struct body_ad {
    cf_stream *s;
    cf_http_req *req; /* NULL once the request completed */
    int paused;
    int destroying;
} body_ad;

static int body_on_data(cf_http_req *req, const char *data, size_t len, void *ctx)
{
    body_ad *a = ctx;
    int rc = cf_stream_push(a->s, data, len);
    if (rc < 0)
        return rc == CF_ENOMEM ? rc : CF_ECANCELED;
    if (rc == CF_STREAM_FULL && !a->paused && cf_http_req_pause(req) == 0)
        a->paused = 1;
    return 0;
}

static void body_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                      void *data)
{
    body_ad *a = data;
    (void)req;
    (void)res;
    a->req = NULL;
    if (a->destroying)
        cf_stream_destroy_done(a->s);
    else if (status < 0)
        cf_stream_destroy(a->s,
                          err ? AT_STREAM(cf_error_copy(err)) : AT_STREAM(CF_ERROR(status, NULL)));
    else
        cf_stream_push_end(a->s);
}

static void body_read(cf_stream *s, size_t size, void *data)
{
    body_ad *a = data;
    (void)s;
    (void)size;
    if (a->paused && a->req) {
        a->paused = 0;
        cf_http_req_resume(a->req);
    }
}

static void body_destroy(cf_stream *s, const cf_error *err, void *data)
{
    body_ad *a = data;
    (void)err;
    if (!a->req) {
        cf_stream_destroy_done(s);
        return;
    }
    a->destroying = 1; /* body_done reports, with CF_ECANCELED */
    cf_http_req_cancel(a->req);
}

static const cf_stream_impl body_impl = {
    .read = body_read, .destroy = body_destroy, .free_data = tcp_free};

CF__NOINLINE int cf_stream_http_body_new(cf_loop *loop, const char *url,
                                         const cf_http_options *opts, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !url || !out)
        return CF_EINVAL;
    body_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return CF_ENOMEM;
    int rc = cf__stream_new_at(site, loop, CF_STREAM_READABLE, &body_impl, NULL, a, &a->s);
    if (rc < 0) {
        cf__free(a);
        return rc;
    }
    cf_http_options o = {0};
    if (opts)
        o = *opts;
    o.on_data = body_on_data;
    o.on_data_ctx = a;
    rc = cf_http_request(loop, url, &o, body_done, a, &a->req);
    if (rc < 0) {
        a->req = NULL;
        cf_stream_close(a->s, NULL, NULL);
        return rc;
    }
    *out = a->s;
    return 0;
}

/* ---- HTTP server response ---- */

typedef struct res_ad {
    cf_stream *s;
    cf_http_res *res; /* NULL once the response finished or failed */
    int draining;
    int ending;
    int destroying;
} res_ad;

static void res_on_finish(cf_http_res *res, int status, void *data)
{
    res_ad *a = data;
    (void)res;
    a->res = NULL;
    cf_error *err =
        status < 0 ? AT_STREAM(CF_ERROR(status, "response: %s", cf_strerror(status))) : NULL;
    if (a->destroying) {
        cf_error_free(err);
        cf_stream_destroy_done(a->s);
    } else if (a->ending || a->draining) {
        a->ending = 0;
        a->draining = 0;
        cf_stream_done(a->s, err);
    } else if (err) {
        cf_stream_destroy(a->s, err);
    }
}

static void res_on_drain(cf_http_res *res, void *data)
{
    res_ad *a = data;
    (void)res;
    if (a->draining) {
        a->draining = 0;
        cf_stream_done(a->s, NULL);
    }
}

static void res_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    res_ad *a = data;
    int rc = a->res ? cf_http_res_write(a->res, chunk, len) : CF_ECLOSED;
    if (rc == CF_HTTP_RES_FULL) {
        a->draining = 1;
        return;
    }
    cf_stream_done(s,
                   rc < 0 ? AT_STREAM(CF_ERROR(rc, "response write: %s", cf_strerror(rc))) : NULL);
}

static void res_final(cf_stream *s, void *data)
{
    res_ad *a = data;
    int rc = a->res ? cf_http_res_end(a->res, NULL, 0) : CF_ECLOSED;
    if (rc < 0) {
        cf_stream_done(s, AT_STREAM(CF_ERROR(rc, "response end: %s", cf_strerror(rc))));
        return;
    }
    a->ending = 1; /* done at the response's finish */
}

static void res_destroy(cf_stream *s, const cf_error *err, void *data)
{
    res_ad *a = data;
    (void)err;
    if (!a->res) {
        cf_stream_destroy_done(s);
        return;
    }
    /* No call aborts one response: end it, so that its finish callback comes. */
    a->destroying = 1;
    cf_http_res_on_drain(a->res, NULL, NULL);
    if (!a->ending)
        cf_http_res_end(a->res, NULL, 0);
}

static const cf_stream_impl res_impl = {
    .write = res_write, .final = res_final, .destroy = res_destroy, .free_data = tcp_free};

CF__NOINLINE int cf_stream_http_res_new(cf_http_res *res, cf_loop *loop, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!res || !loop || !out)
        return CF_EINVAL;
    res_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return CF_ENOMEM;
    a->res = res;
    int rc = cf__stream_new_at(site, loop, CF_STREAM_WRITABLE, &res_impl, NULL, a, &a->s);
    if (rc < 0) {
        cf__free(a);
        return rc;
    }
    cf_http_res_on_drain(res, res_on_drain, a);
    cf_http_res_on_finish(res, res_on_finish, a);
    *out = a->s;
    return 0;
}

/* ---- HTTP server request body ---- */

/*
 * The server delivers the body to the callback until CF_EOF or an error, with no call to
 * stop it: the adapter outlives a stream destroyed first (`s` NULL) and goes with the last
 * delivery.
 */
typedef struct inc_ad {
    cf_stream *s;
    cf_http_incoming *req;
    int reading;    /* cf_http_incoming_read started */
    int delivering; /* the server may still call inc_on_body */
    int paused;
} inc_ad;

static void inc_on_body(cf_http_incoming *req, int status, const char *bytes, size_t len,
                        void *data)
{
    inc_ad *a = data;
    if (status != 0)
        a->delivering = 0;
    if (!a->s) {
        if (!a->delivering)
            cf__free(a);
        return;
    }
    if (status == 0) {
        if (cf_stream_push(a->s, bytes, len) == CF_STREAM_FULL && !a->paused) {
            a->paused = 1;
            cf_http_incoming_pause(req);
        }
    } else if (status == CF_EOF) {
        cf_stream_push_end(a->s);
    } else {
        cf_stream_destroy(a->s,
                          AT_STREAM(CF_ERROR(status, "request body: %s", cf_strerror(status))));
    }
}

static void inc_read(cf_stream *s, size_t size, void *data)
{
    inc_ad *a = data;
    (void)size;
    if (!a->reading) {
        a->reading = 1;
        a->delivering = 1;
        int rc = cf_http_incoming_read(a->req, inc_on_body, a);
        if (rc < 0) {
            a->delivering = 0;
            cf_stream_destroy(s, AT_STREAM(CF_ERROR(rc, "request body: %s", cf_strerror(rc))));
        }
    } else if (a->paused) {
        a->paused = 0;
        cf_http_incoming_resume(a->req);
    }
}

static void inc_destroy(cf_stream *s, const cf_error *err, void *data)
{
    inc_ad *a = data;
    (void)err;
    /* Let the rest of the body drain, so that the server's delivery reaches its end. */
    if (a->delivering && a->paused) {
        a->paused = 0;
        cf_http_incoming_resume(a->req);
    }
    cf_stream_destroy_done(s);
}

static void inc_free(void *data)
{
    inc_ad *a = data;
    a->s = NULL;
    if (!a->delivering)
        cf__free(a);
}

static const cf_stream_impl inc_impl = {
    .read = inc_read, .destroy = inc_destroy, .free_data = inc_free};

CF__NOINLINE int cf_stream_http_incoming_new(cf_http_incoming *req, cf_loop *loop,
                                             size_t high_water, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!req || !loop || !out)
        return CF_EINVAL;
    inc_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return CF_ENOMEM;
    a->req = req;
    cf_stream_options o = {.high_water = high_water};
    int rc = cf__stream_new_at(site, loop, CF_STREAM_READABLE, &inc_impl, &o, a, &a->s);
    if (rc < 0) {
        cf__free(a);
        return rc;
    }
    *out = a->s;
    return 0;
}

/* ---- HTTP client request body ---- */

/*
 * The request starts with the stream, as Node's ClientRequest connects and sends its head at
 * once: a refused connection or a bad URL shows before the program produces any body. Each
 * write hands its chunk to the client (cf__http_req_body_write), borrowed, and is done when
 * curl has taken all of it (upl_sent), so the bytes waiting are the stream's own (at most its
 * mark and the chunk being sent) plus curl's upload buffer. The end ends the body; final is
 * done when the request completed. `op` is the hook waiting for its cf_stream_done.
 */
enum { UPL_IDLE, UPL_WRITE, UPL_FINAL };

typedef struct upl_ad {
    cf_stream *s;
    cf_http_req *req; /* NULL once the request completed */
    cf_http_cb cb;
    void *cb_data;
    int op;
    int destroying;
    int orphan; /* the stream could not be made: the request is cancelled, `a` freed at its end */
} upl_ad;

/* The request completed before the body was all sent, with status 0 (the client fails it). */
static cf_error *upl_cut_short(upl_ad *a)
{
    return AT_STREAM(CF_ERROR(CF_EPIPE, "request body: the request completed before the whole "
                                        "body was sent"));
}

static void upl_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                     void *data)
{
    upl_ad *a = data;
    a->req = NULL;
    if (a->orphan) {
        cf__free(a);
        return;
    }
    if (a->cb)
        a->cb(req, status, err, res, a->cb_data);
    if (a->destroying) {
        cf_stream_destroy_done(a->s);
        return;
    }
    cf_error *e = NULL;
    if (status < 0)
        e = err ? AT_STREAM(cf_error_copy(err)) : AT_STREAM(CF_ERROR(status, NULL));
    int op = a->op;
    a->op = UPL_IDLE;
    if (op == UPL_FINAL)
        cf_stream_done(a->s, e);
    else if (op == UPL_WRITE)
        cf_stream_done(a->s, e ? e : upl_cut_short(a));
    else
        cf_stream_destroy(a->s, e ? e : upl_cut_short(a));
}

/* curl took the whole chunk: the write is done (from the loop, after curl returned). */
static void upl_sent(cf_http_req *req, void *data)
{
    upl_ad *a = data;
    (void)req;
    if (a->op != UPL_WRITE)
        return;
    a->op = UPL_IDLE;
    cf_stream_done(a->s, NULL);
}

static void upl_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    upl_ad *a = data;
    if (len == 0) {
        cf_stream_done(s, NULL);
        return;
    }
    a->op = UPL_WRITE;
    int rc = cf__http_req_body_write(a->req, chunk, len);
    if (rc < 0) {
        a->op = UPL_IDLE;
        cf_stream_done(s, AT_STREAM(CF_ERROR(rc, "request body: %s", cf_strerror(rc))));
    }
}

static void upl_final(cf_stream *s, void *data)
{
    upl_ad *a = data;
    a->op = UPL_FINAL;
    int rc = cf__http_req_body_end(a->req);
    if (rc < 0) {
        a->op = UPL_IDLE;
        cf_stream_done(s, AT_STREAM(CF_ERROR(rc, "request body: %s", cf_strerror(rc))));
    }
}

static void upl_destroy(cf_stream *s, const cf_error *err, void *data)
{
    upl_ad *a = data;
    (void)err;
    if (!a->req) {
        cf_stream_destroy_done(s);
        return;
    }
    a->destroying = 1; /* upl_done reports, with CF_ECANCELED */
    cf_http_req_cancel(a->req);
}

static void upl_free(void *data)
{
    cf__free(data);
}

static const cf_stream_impl upl_impl = {
    .write = upl_write, .final = upl_final, .destroy = upl_destroy, .free_data = upl_free};

CF__NOINLINE int cf_stream_http_req_new(cf_loop *loop, const char *url, const cf_http_options *opts,
                                        cf_http_cb cb, void *data, cf_stream **out)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !url || !out || (opts && (opts->body || opts->body_file)))
        return CF_EINVAL;
    upl_ad *a = cf__calloc(1, sizeof *a);
    if (!a)
        return CF_ENOMEM;
    a->cb = cb;
    a->cb_data = data;
    int rc = cf__http_upload_at(loop, url, opts, upl_done, upl_sent, a, &a->req, site);
    if (rc < 0) {
        cf__free(a);
        return rc;
    }
    rc = cf__stream_new_at(site, loop, CF_STREAM_WRITABLE, &upl_impl, NULL, a, &a->s);
    if (rc < 0) {
        a->orphan = 1; /* upl_done frees `a` when the cancelled request reports */
        cf_http_req_cancel(a->req);
        return rc;
    }
    *out = a->s;
    return 0;
}
