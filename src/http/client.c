/*
 * The HTTP client: libcurl's multi_socket interface driven by the loop (model: curl's
 * docs/examples/multi-uv.c). This is the only file that includes <curl/curl.h>.
 *
 * Per loop there is one `client` (in the loop's CF__SLOT_HTTP_CLIENT slot, made on first use):
 * a CURLM, one loop timer, and one internal fd watcher (cf__io) per socket curl asks about.
 * Curl's contract, followed to the letter:
 *   - CURLMOPT_SOCKETFUNCTION: the watcher of the socket follows IN/OUT/INOUT; REMOVE closes
 *     it. The watcher is found again through curl_multi_assign.
 *   - CURLMOPT_TIMERFUNCTION: one non-repeating timer; -1 stops it; 0 starts it with 0 ms,
 *     so the timeout is acted on from the loop's timers phase, not from inside the callback
 *     and without a 1 ms penalty.
 *   - after every curl_multi_socket_action, curl_multi_info_read is drained.
 * Nothing of ours that can reach user code runs inside a curl callback: body bytes are
 * buffered by the write callback and handed to the user after curl returns, and completions
 * run after curl_multi_info_read, so promise reactions run from the microtask queue after curl
 * has returned.
 *
 * Keep-alive: the timer and the watchers never keep the loop alive (they are internal); each
 * request in flight does (cf__loop_req_start). An idle loop with no transfers does not wake:
 * curl stops its timer (-1) when nothing is left to do.
 *
 * A request (`cf_http_req`) lives from cf_http_request until its completion callback returns.
 * Invariant: `req->easy` is in the multi handle iff `req->state == REQ_RUNNING`.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calcifer/fs.h"
#include "calcifer/http_client.h"
#include "calcifer/timer.h"
#include "async/fiber.h"
#include "core/loop.h"
#include "core/watch.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/queue.h"
#include "util/sys.h"
#include "util/util.h"
#include "util/site.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 30000
#define DEFAULT_MAX_REDIRECTS      20
#define DEFAULT_MAX_BODY           ((size_t)64 << 20)
#define STREAM_HIGH_WATER          ((size_t)256 << 10)
#define DEFAULT_PER_HOST           32
#define USER_AGENT                 "calcifer/" CF_VERSION_STRING

typedef struct client client;

enum req_state { REQ_RUNNING, REQ_DONE };

typedef struct header {
    char *name;
    char *value;
} header;

struct cf_http_response {
    int status;
    int version;
    char *reason;
    char *url;
    header *headers;
    size_t nheaders;
    size_t cap_headers;
    cf_dbuf body;
};

struct cf_http_req {
    client *c;
    CURL *easy;
    enum req_state state;
    char *method;
    char *url;
    char *shown_url; /* the URL as messages show it: escaped, credentials hidden */
    struct curl_slist *headers;
    unsigned flags;
    cf_http_response *res;
    cf_http_cb cb;
    void *cb_data;
    /* streaming */
    cf_http_data_cb on_data;
    void *on_data_ctx;
    cf_dbuf pending;   /* body bytes not yet handed to on_data */
    size_t max_stream; /* streamed body limit (opts->max_body); 0: none */
    size_t streamed;   /* streamed body bytes so far */
    int user_paused;   /* cf_http_req_pause */
    int curl_paused;   /* we returned CURL_WRITEFUNC_PAUSE */
    cf_queue dirty;    /* in client->dirty while it has pending bytes (self-linked if not) */
    /* upload from a file */
    int body_fd;
    int64_t body_off;
    /* a body fed piece by piece (cf__http_upload_at) */
    int upload;         /* the body comes from cf__http_req_body_write */
    const char *up_buf; /* the piece handed over, borrowed until `up_sent` runs */
    size_t up_len;      /* its length, 0 when none is pending */
    size_t up_off;      /* how much of it curl has taken */
    uint64_t up_total;  /* body bytes curl has taken in all */
    int up_ended;       /* cf__http_req_body_end: the read callback then ends the body */
    int up_done;        /* the read callback ended the body: curl has all of it */
    int up_paused;      /* the read callback returned CURL_READFUNC_PAUSE */
    cf__http_sent_cb up_sent;
    cf_queue sent_link; /* in client->sent while an `up_sent` call is due */
    /* outcome */
    int fail_code;       /* set before curl finishes: too big, user error, cancelled */
    int headers_done;    /* the blank line ending the current header block arrived */
    int header_overflow; /* curl refused the header block as too large: HEADERS_* */
    int over_limit;      /* the body passed max_body */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE]; /* curl's detail, emptied when an attempt is retried */
    long max_redirects;           /* as set: its words for CURLE_TOO_MANY_REDIRECTS */
    uint64_t timeout_ms;          /* the whole transfer's limit, 0: none */
    cf_queue done_link;           /* in client->done once finished */
    cf_queue all_link;            /* in client->reqs from its start to its completion */
    cf_abort_signal *signal;
    int aborted; /* the signal aborted it: it fails with the one abort error */
    cf_abort_listener abort_listener;
    cf_site site; /* where the user started the request: errors name it */
};

typedef struct sock {
    cf__io io;
    client *c;
    curl_socket_t fd;
} sock;

struct client {
    cf_loop *loop;
    CURLM *multi;
    cf_timer *timer;
    cf_immediate *kick;     /* runs completions and deliveries requested outside curl */
    cf_queue dirty;         /* requests with body bytes to deliver */
    cf_queue done;          /* finished requests whose callback has not run */
    cf_queue sent;          /* uploads whose piece curl has taken: their `up_sent` is due */
    cf_queue reqs;          /* every started request whose callback has not run */
    cf__loop_closer closer; /* cf__loop_close_all cancels the transfers */
    int in_curl;            /* inside curl_multi_socket_action: no reentry */
};

static void process(client *c);

/* ---- global init ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- responses ---- */

static cf_http_response *response_new(void)
{
    cf_http_response *r = cf__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    cf__dbuf_init(&r->body, 0);
    return r;
}

static void response_clear_headers(cf_http_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        cf__free(r->headers[i].name);
    }
    r->nheaders = 0;
}

void cf_http_response_free(void *p)
{
    cf_http_response *r = p;
    if (!r)
        return;
    response_clear_headers(r);
    cf__free(r->headers);
    cf__free(r->reason);
    cf__free(r->url);
    cf__dbuf_free(&r->body);
    cf__free(r);
}

/* Store "Name: value" (without CRLF). Name and value share one allocation. */
static int response_add_header(cf_http_response *r, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return 0;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (r->nheaders == r->cap_headers) {
        size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
        header *h = cf__realloc(r->headers, cap * sizeof *h);
        if (!h)
            return CF_ENOMEM;
        r->headers = h;
        r->cap_headers = cap;
    }
    size_t vlen = (size_t)(end - v);
    char *mem = cf__malloc(nlen + vlen + 2);
    if (!mem)
        return CF_ENOMEM;
    memcpy(mem, line, nlen);
    mem[nlen] = '\0';
    memcpy(mem + nlen + 1, v, vlen);
    mem[nlen + 1 + vlen] = '\0';
    r->headers[r->nheaders].name = mem;
    r->headers[r->nheaders].value = mem + nlen + 1;
    r->nheaders++;
    return 0;
}

/* A status line starts a new header block (redirects and 1xx responses have their own). */
static int response_status_line(cf_http_response *r, const char *line, size_t len)
{
    response_clear_headers(r);
    const char *sp = memchr(line, ' ', len);
    if (!sp)
        return 0;
    const char *rest = sp + 1;
    size_t rlen = len - (size_t)(rest - line);
    /* The status is known from here on, so streamed bodies can check it before completion. */
    int status = 0;
    for (size_t i = 0; i < rlen && i < 3 && rest[i] >= '0' && rest[i] <= '9'; i++)
        status = status * 10 + (rest[i] - '0');
    r->status = status;
    const char *sp2 = memchr(rest, ' ', rlen);
    const char *reason = sp2 ? sp2 + 1 : rest + rlen;
    size_t reason_len = (size_t)(line + len - reason);
    char *copy = cf__strndup(reason, reason_len);
    if (!copy)
        return CF_ENOMEM;
    cf__free(r->reason);
    r->reason = copy;
    return 0;
}

int cf_http_response_status(const cf_http_response *res)
{
    return res ? res->status : 0;
}

const char *cf_http_response_reason(const cf_http_response *res)
{
    return res && res->reason ? res->reason : "";
}

const char *cf_http_response_header(const cf_http_response *res, const char *name)
{
    if (!res || !name)
        return NULL;
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    }
    return NULL;
}

size_t cf_http_response_header_count(const cf_http_response *res)
{
    return res ? res->nheaders : 0;
}

int cf_http_response_header_at(const cf_http_response *res, size_t i, const char **name,
                               const char **value)
{
    if (!res || i >= res->nheaders)
        return CF_EINVAL;
    if (name)
        *name = res->headers[i].name;
    if (value)
        *value = res->headers[i].value;
    return 0;
}

cf_buf cf_http_response_body(const cf_http_response *res)
{
    cf_buf b = {NULL, 0};
    if (!res)
        return b;
    b.base = res->body.data ? res->body.data : (char *)"";
    b.len = res->body.len;
    return b;
}

const char *cf_http_response_url(const cf_http_response *res)
{
    return res && res->url ? res->url : "";
}

int cf_http_response_version(const cf_http_response *res)
{
    return res ? res->version : 0;
}

cf_http_response *cf_http_response_take(cf_http_req *req)
{
    if (!req)
        return NULL;
    cf_http_response *r = req->res;
    req->res = NULL;
    return r;
}

/* ---- the per-loop client: sockets and the timer ---- */

static void on_socket_ready(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)loop;
    sock *s = CF_CONTAINER_OF(io, sock, io);
    client *c = s->c;
    int flags = 0;
    if (revents & CF__IO_IN)
        flags |= CURL_CSELECT_IN;
    if (revents & CF__IO_OUT)
        flags |= CURL_CSELECT_OUT;
    if (revents & CF__IO_ERR)
        flags |= CURL_CSELECT_ERR;
    int running = 0;
    c->in_curl = 1;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    c->in_curl = 0;
    process(c);
}

/* CURLMOPT_SOCKETFUNCTION: make the socket's watcher follow what curl wants. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    client *c = userp;
    sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            cf__io_close(c->loop, &s->io);
            curl_multi_assign(c->multi, fd, NULL);
            cf__free(s);
        }
        return 0;
    }
    if (!s) {
        s = cf__calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->c = c;
        s->fd = fd;
        cf__io_init(&s->io, fd, on_socket_ready);
        curl_multi_assign(c->multi, fd, s);
    }
    unsigned want = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        want |= CF__IO_IN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        want |= CF__IO_OUT;
    cf__io_stop(c->loop, &s->io, (CF__IO_IN | CF__IO_OUT) & ~want);
    if (want && cf__io_start(c->loop, &s->io, want) != 0)
        return -1;
    return 0;
}

static void on_timeout(cf_timer *t, void *data)
{
    (void)t;
    client *c = data;
    int running = 0;
    c->in_curl = 1;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->in_curl = 0;
    process(c);
}

/* CURLMOPT_TIMERFUNCTION: one non-repeating timer; 0 ms runs from the next timers phase. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    client *c = userp;
    if (timeout_ms < 0) {
        cf_timer_stop(c->timer);
        return 0;
    }
    return cf_timer_start(c->timer, (uint64_t)timeout_ms, 0, on_timeout, c) == 0 ? 0 : -1;
}

static void client_free(void *p)
{
    client *c = p;
    if (!c)
        return;
    cf__loop_closer_remove(&c->closer);
    /* No request is in flight (each keeps the loop alive), so only cached connections remain. */
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->timer)
        cf__timer_free_internal(c->timer);
    cf__free(c);
}

static void on_kick(void *data)
{
    client *c = data;
    c->kick = NULL;
    process(c);
}

/* Ask for `process` to run soon, from the loop (for work requested outside curl). */
static int client_kick(client *c)
{
    if (c->kick)
        return 0;
    return cf_set_immediate(c->loop, on_kick, c, &c->kick);
}

static void req_finish(cf_http_req *req, int fail_code);

/*
 * cf__loop_close_all: every transfer ends with CF_ECANCELED, as cf_http_req_cancel does, and
 * one held back by a pause with bytes left is released; the callbacks run from the loop.
 */
static void client_close_all(cf__loop_closer *cl)
{
    client *c = CF_CONTAINER_OF(cl, client, closer);
    for (cf_queue *q = c->reqs.next; q != &c->reqs; q = q->next) {
        cf_http_req *req = cf_queue_data(q, cf_http_req, all_link);
        if (req->state == REQ_RUNNING) {
            req_finish(req, CF_ECANCELED);
        } else if (req->user_paused && !req->fail_code) {
            req->fail_code = CF_ECANCELED;
            cf__dbuf_reset(&req->pending);
        }
    }
    if (!cf_queue_empty(&c->reqs))
        (void)client_kick(c);
}

static int client_get(cf_loop *loop, client **out)
{
    client *c = cf__loop_slot(loop, CF__SLOT_HTTP_CLIENT);
    if (c) {
        *out = c;
        return 0;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return CF_ENOMEM;
    c = cf__calloc(1, sizeof *c);
    if (!c)
        return CF_ENOMEM;
    c->loop = loop;
    cf_queue_init(&c->dirty);
    cf_queue_init(&c->done);
    cf_queue_init(&c->sent);
    cf_queue_init(&c->reqs);
    cf_queue_init(&c->closer.link);
    c->multi = curl_multi_init();
    if (!c->multi || cf__timer_new_internal(loop, &c->timer) != 0) {
        client_free(c);
        return CF_ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)DEFAULT_PER_HOST);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    cf__loop_slot_set(loop, CF__SLOT_HTTP_CLIENT, c, client_free);
    cf__loop_closer_add(loop, &c->closer, client_close_all);
    *out = c;
    return 0;
}

int cf_http_set_limits(cf_loop *loop, long per_host, long total)
{
    if (!loop || per_host < 0 || total < 0)
        return CF_EINVAL;
    client *c = NULL;
    int rc = client_get(loop, &c);
    if (rc)
        return rc;
    if (per_host)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
    if (total)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
    return 0;
}

/* ---- curl callbacks of one transfer (they only buffer; no user code runs here) ---- */

static void mark_dirty(cf_http_req *req)
{
    if (cf_queue_empty(&req->dirty))
        cf_queue_insert_tail(&req->c->dirty, &req->dirty);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    cf_http_req *req = userp;
    size_t n = size * nmemb;
    if (req->on_data) {
        /* Past the high-water mark curl keeps the bytes and stops reading the socket. */
        if (req->user_paused || req->pending.len >= STREAM_HIGH_WATER) {
            req->curl_paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        if (req->max_stream && n > req->max_stream - req->streamed) {
            req->fail_code = CF_ETOOBIG;
            req->over_limit = 1;
            return 0;
        }
        req->streamed += n;
        if (cf__dbuf_add(&req->pending, ptr, n) != 0) {
            req->fail_code = CF_ENOMEM;
            return 0;
        }
        mark_dirty(req);
        return n;
    }
    int rc = cf__dbuf_add(&req->res->body, ptr, n);
    if (rc) {
        req->fail_code = rc;
        req->over_limit = rc == CF_ETOOBIG;
        return 0;
    }
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    cf_http_req *req = userp;
    size_t n = size * nitems;
    size_t len = n;
    while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
        len--;
    int rc = 0;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /*
         * A new response: whatever curl wrote in the error buffer before it belongs to an
         * attempt that was retried (a reused connection found dead), not to the outcome.
         */
        req->errbuf[0] = '\0';
        req->headers_done = 0;
        rc = response_status_line(req->res, buf, len);
    } else if (len) {
        rc = response_add_header(req->res, buf, len);
    } else {
        req->headers_done = 1;
    }
    if (rc) {
        req->fail_code = rc;
        return 0;
    }
    return n;
}

/*
 * A new connection for this transfer. curl keeps the first error of a transfer in the error
 * buffer and never overwrites it, so a failure of an attempt that curl then retries (a reused
 * connection that the server had closed) would be shown as the detail of the final outcome,
 * whatever that is: it is dropped when the retry connects.
 */
static int sockopt_cb(void *userp, curl_socket_t fd, curlsocktype purpose)
{
    (void)fd, (void)purpose;
    cf_http_req *req = userp;
    req->errbuf[0] = '\0';
    return CURL_SOCKOPT_OK;
}

/* Upload from a file: positional reads, so a retried request can rewind. */
static size_t read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    cf_http_req *req = userp;
    ssize_t n = cf__sys_pread(req->body_fd, buf, size * nitems, (off_t)req->body_off);
    if (n < 0)
        return CURL_READFUNC_ABORT;
    req->body_off += n;
    return (size_t)n;
}

static int seek_cb(void *userp, curl_off_t offset, int origin)
{
    cf_http_req *req = userp;
    if (origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    req->body_off = offset;
    return CURL_SEEKFUNC_OK;
}

/*
 * A body fed piece by piece: copy from the piece handed over; once curl has all of it, its
 * `up_sent` is queued (process runs it after curl returns, so the caller's memory stays valid
 * until then). With no piece, sending pauses until cf__http_req_body_write brings one; after
 * cf__http_req_body_end, 0 ends the body (curl sends the last chunk).
 */
static size_t upload_read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    cf_http_req *req = userp;
    size_t room = size * nitems;
    if (req->up_off < req->up_len) {
        size_t n = req->up_len - req->up_off;
        if (n > room)
            n = room;
        memcpy(buf, req->up_buf + req->up_off, n);
        req->up_off += n;
        req->up_total += n;
        if (req->up_off == req->up_len) {
            req->up_buf = NULL;
            req->up_len = 0;
            req->up_off = 0;
            if (cf_queue_empty(&req->sent_link))
                cf_queue_insert_tail(&req->c->sent, &req->sent_link);
        }
        return n;
    }
    if (req->up_ended) {
        req->up_done = 1;
        return 0;
    }
    req->up_paused = 1;
    return CURL_READFUNC_PAUSE;
}

/* ---- errors ---- */

/*
 * The length of the valid UTF-8 sequence that starts at s[i] (2 to 4 bytes: no overlong
 * form, no surrogate, nothing past U+10FFFF), or 0 when the bytes there are not one.
 */
static size_t utf8_len(const unsigned char *s, size_t i, size_t len)
{
    unsigned c = s[i];
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!n || n > len - i)
        return 0;
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++) {
        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
            return 0;
    }
    return n;
}

/*
 * Messages carry text that came from the network or from the user (the URL, the reason
 * phrase, curl's detail). They are made safe to print on one terminal line: C0 controls, DEL,
 * the UTF-8 forms of the C1 controls (U+0080..U+009F, which some terminals obey as escapes)
 * and every byte that is not part of valid UTF-8 (a raw 0x9b is the 8-bit CSI) become \r,
 * \n, \t or \xNN; valid UTF-8 is kept, so text in any language stays readable.
 */
static int add_safe(cf_dbuf *out, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    int rc = 0;
    for (size_t i = 0; i < len && !rc; i++) {
        unsigned char c = u[i];
        size_t n = c >= 0x80 ? utf8_len(u, i, len) : 1;
        if (c == '\r' || c == '\n' || c == '\t') {
            rc = cf__dbuf_printf(out, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
        } else if (c < 0x20 || c == 0x7f || n == 0) {
            rc = cf__dbuf_printf(out, "\\x%02x", c);
        } else if (c == 0xc2 && u[i + 1] <= 0x9f) {
            rc = cf__dbuf_printf(out, "\\xc2\\x%02x", u[++i]);
        } else {
            rc = cf__dbuf_add(out, s + i, n);
            i += n - 1;
        }
    }
    return rc;
}

/*
 * The URL as messages show it: escaped as add_safe does, and with any credentials
 * ("user:password@") replaced by "***@", so a password never reaches a log or a terminal.
 * Returns a new string, or NULL when memory is exhausted.
 */
static char *shown_url(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    const char *auth = scheme_end ? scheme_end + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++) {
        if (*p == '@')
            at = p;
    }
    cf_dbuf out;
    cf__dbuf_init(&out, 0);
    int rc = add_safe(&out, url, (size_t)(auth - url));
    if (!rc && at)
        rc = cf__dbuf_adds(&out, "***");
    const char *rest = at ? at : auth;
    if (!rc)
        rc = add_safe(&out, rest, strlen(rest));
    if (!rc)
        rc = cf__dbuf_addc(&out, '\0');
    if (rc) {
        cf__dbuf_free(&out);
        return NULL;
    }
    return cf__dbuf_take(&out, NULL);
}

/* An escaped copy of `s` (add_safe), or NULL when memory is exhausted. */
static char *safe_copy(const char *s)
{
    cf_dbuf out;
    cf__dbuf_init(&out, 0);
    int rc = add_safe(&out, s, strlen(s));
    if (!rc)
        rc = cf__dbuf_addc(&out, '\0');
    if (rc) {
        cf__dbuf_free(&out);
        return NULL;
    }
    return cf__dbuf_take(&out, NULL);
}

/*
 * CURLE_UNSUPPORTED_PROTOCOL after the URL was checked at the start means either a redirect
 * to another scheme (a URL problem) or a reply that is not HTTP at all: curl reports a
 * reply without a status line as "HTTP/0.9", which it refuses.
 */
static int map_unsupported(const cf_http_req *req)
{
    return strstr(req->errbuf, "HTTP/0.9") ? CF_EBADRESP : CF_EURL;
}

/* Which of curl's two header limits a response passed (header_overflow). */
enum { HEADERS_FIT, HEADERS_LINE_TOO_LONG, HEADERS_TOO_LARGE };

/* curl's limit on one header line (CURL_MAX_HTTP_HEADER) and on a response's headers. */
#define HEADER_LINE_MAX_KIB 100
#define HEADERS_MAX_KIB     300

/*
 * curl's "out of memory" (CURLE_TOO_LARGE from curl 8.6) while the header block is still
 * arriving is its limit on one header line (CURL_MAX_HTTP_HEADER, 100 KiB), or, with the
 * detail "Too large response headers", its limit on all the headers of a response (300 KiB,
 * MAX_HTTP_RESP_HEADER_SIZE): the response is then refused as unusable, not as a memory
 * failure of ours.
 */
static int map_out_of_memory(cf_http_req *req)
{
    if (!req->headers_done) {
        req->header_overflow = strstr(req->errbuf, "Too large response headers")
                                   ? HEADERS_TOO_LARGE
                                   : HEADERS_LINE_TOO_LONG;
        return CF_EBADRESP;
    }
    return CF_ENOMEM;
}

/*
 * A receive failure: the system's error, or curl's limit on the size of all the headers of
 * a response, which curl reports as a receive error ("Too large response headers: 308099 >
 * 307200"); that is the server's doing, not a reset.
 */
static int map_recv_error(cf_http_req *req)
{
    if (!req->headers_done && strstr(req->errbuf, "Too large response headers")) {
        req->header_overflow = HEADERS_TOO_LARGE;
        return CF_EBADRESP;
    }
    long os = 0;
    curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os);
    return os > 0 ? cf_translate_sys_error((int)os) : CF_ECONNRESET;
}

static int map_tls(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return CF_ETLS;
    default:
        return CF_EBADRESP;
    }
}

static int map_curl_code(cf_http_req *req)
{
    long os = 0;
    switch (req->result) {
    case CURLE_UNSUPPORTED_PROTOCOL:
        return map_unsupported(req);
    case CURLE_URL_MALFORMAT:
        return CF_EURL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return CF_ENOTFOUND;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os);
        return os > 0 ? cf_translate_sys_error((int)os) : CF_ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return CF_ETIMEDOUT;
    case CURLE_TOO_MANY_REDIRECTS:
        return CF_EREDIRECTS;
    case CURLE_RECV_ERROR:
        return map_recv_error(req);
    case CURLE_SEND_ERROR:
        curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os);
        return os > 0 ? cf_translate_sys_error((int)os) : CF_ECONNRESET;
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
        return CF_ECONNRESET; /* ≈ Node's ECONNRESET "socket hang up"; the message says which */
    case CURLE_OUT_OF_MEMORY:
        return map_out_of_memory(req);
#if LIBCURL_VERSION_NUM >= 0x080600
    case CURLE_TOO_LARGE:
        return map_out_of_memory(req);
#endif
    case CURLE_READ_ERROR:
    case CURLE_WRITE_ERROR:
        return CF_EIO;
    case CURLE_ABORTED_BY_CALLBACK:
        return CF_ECANCELED;
    case CURLE_SEND_FAIL_REWIND:
        return CF_ECONNRESET; /* a streamed body cannot be sent again on a new connection */
    default:
        return map_tls(req->result);
    }
}

/* A size for messages: "64 MiB" when it is a whole number of MiB, else "N bytes". */
static void size_text(char *buf, size_t len, size_t n)
{
    if (n >= ((size_t)1 << 20) && n % ((size_t)1 << 20) == 0)
        snprintf(buf, len, "%zu MiB (%zu bytes)", n >> 20, n);
    else
        snprintf(buf, len, "%zu bytes", n);
}

/* A time limit in words: "1 s", "0.5 s", "30 s". */
static void seconds_text(char *buf, size_t len, uint64_t ms)
{
    snprintf(buf, len, "%g s", (double)ms / 1000.0);
}

/*
 * A timeout in words: one that struck once the request was sent (curl had connected) waited
 * for the response or for the rest of it, not for the connection. NULL: still connecting,
 * which the code's own words ("connection timed out") and curl's detail say.
 */
static const char *timeout_words(const cf_http_req *req, char *buf, size_t len)
{
    curl_off_t sent_us = 0;
    curl_easy_getinfo(req->easy, CURLINFO_PRETRANSFER_TIME_T, &sent_us);
    if (sent_us <= 0 || !req->timeout_ms)
        return NULL;
    char limit[32];
    seconds_text(limit, sizeof limit, req->timeout_ms);
    int body_started = req->res->body.len || req->streamed;
    snprintf(buf, len, "timed out after %s %s", limit,
             body_started ? "receiving the response body" : "waiting for the response");
    return buf;
}

/*
 * What happened, in words, when the code alone would mislead: a clean close is not a reset,
 * a header over curl's limits is not a memory failure, a timeout after connecting is not a
 * connection timeout. NULL: the code's own words. *detail says whether curl's detail may
 * follow in parentheses: not where these words already say all of it.
 */
static const char *what_happened(const cf_http_req *req, int code, char *buf, size_t len,
                                 int *detail)
{
    *detail = !req->fail_code && req->result != CURLE_GOT_NOTHING;
    if (req->fail_code)
        return NULL;
    if (req->result == CURLE_GOT_NOTHING)
        return "server closed the connection without replying";
    if (req->result == CURLE_PARTIAL_FILE)
        return "connection closed before the whole body arrived";
    if (code == CF_EBADRESP && req->header_overflow) {
        *detail = 0;
        snprintf(buf, len, "%s (more than %d KiB)",
                 req->header_overflow == HEADERS_TOO_LARGE ? "response headers too large"
                                                           : "a response header line too long",
                 req->header_overflow == HEADERS_TOO_LARGE ? HEADERS_MAX_KIB : HEADER_LINE_MAX_KIB);
        return buf;
    }
    if (code == CF_EBADRESP && req->result == CURLE_UNSUPPORTED_PROTOCOL)
        return "the reply is not HTTP";
    if (code == CF_EREDIRECTS) {
        *detail = 0;
        snprintf(buf, len, "too many redirects (more than %ld)", req->max_redirects);
        return buf;
    }
    if (code == CF_ETIMEDOUT && timeout_words(req, buf, len)) {
        *detail = 0;
        return buf;
    }
    return NULL;
}

/*
 * Non-zero when the server gave its final answer to a streamed body before it had all of it
 * (a 413 after the first megabyte, say): that answer is what went wrong, not the end of the
 * connection that may follow it.
 */
static int answered_early(const cf_http_req *req, int code)
{
    return req->upload && !req->up_done && req->res->status >= 200 && code != CF_ECANCELED &&
           code != CF_ETIMEDOUT;
}

/* "<METHOD> <url>: the server answered HTTP 413 Payload Too Large before ...", one line. */
static cf_error *early_answer_error(cf_http_req *req, int code)
{
    char *reason = safe_copy(req->res->reason ? req->res->reason : "");
    char then[96] = "";
    if (req->result != CURLE_OK)
        snprintf(then, sizeof then, "; then: %s", cf_strerror(code));
    cf_error *e =
        CF_ERROR_AT(req->site, code,
                    "%s %s: the server answered HTTP %d%s%s before the whole request "
                    "body was sent (%llu bytes sent%s)",
                    req->method, req->shown_url, req->res->status, reason && *reason ? " " : "",
                    reason ? reason : "", (unsigned long long)req->up_total, then);
    cf__free(reason);
    return e;
}

/* The error of a finished request: "<METHOD> <url>: <what> (<curl's detail>)", one line. */
static cf_error *make_error(cf_http_req *req, int code)
{
    const char *m = req->method;
    const char *u = req->shown_url;
    if (answered_early(req, code))
        return early_answer_error(req, code);
    if (code == CF_EHTTP) {
        int st = req->res->status;
        char *reason = safe_copy(req->res->reason ? req->res->reason : "");
        cf_error *e = CF_ERROR_AT(req->site, code, "%s %s: HTTP %d%s%s", m, u, st,
                                  reason && *reason ? " " : "", reason ? reason : "");
        cf__free(reason);
        return e;
    }
    size_t limit = req->on_data ? req->max_stream : req->res->body.max;
    if (code == CF_ETOOBIG && limit && req->over_limit) {
        char size[64];
        size_text(size, sizeof size, limit);
        return CF_ERROR_AT(req->site, code, "%s %s: response body larger than the limit of %s", m,
                           u, size);
    }
    if (req->aborted && code == CF_ECANCELED) {
        cf_error *e = cf_abort_signal_error(req->signal);
        if (e)
            return cf__error_set_site(e, req->site);
    }
    char words[160];
    int detail = 0;
    const char *what = what_happened(req, code, words, sizeof words, &detail);
    if (!what)
        what = cf_strerror(code);
    if (!detail || !req->errbuf[0])
        return CF_ERROR_AT(req->site, code, "%s %s: %s", m, u, what);
    char *text = safe_copy(req->errbuf);
    cf_error *e = CF_ERROR_AT(req->site, code, "%s %s: %s (%s)", m, u, what, text ? text : "");
    cf__free(text);
    return e;
}

/* ---- completion ---- */

static void req_free(cf_http_req *req)
{
    if (req->signal) {
        cf_abort_signal_unlisten(&req->abort_listener);
        cf_abort_signal_release(req->signal);
    }
    if (req->easy)
        curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    if (req->body_fd >= 0)
        close(req->body_fd);
    cf_http_response_free(req->res);
    cf__dbuf_free(&req->pending);
    cf_queue_remove(&req->sent_link);
    cf_queue_remove(&req->all_link);
    cf_loop *loop = req->c->loop;
    cf__free(req->method);
    cf__free(req->url);
    cf__free(req->shown_url);
    cf__free(req);
    cf__loop_req_done(loop);
}

static void fill_response(cf_http_req *req)
{
    long status = 0;
    long version = 0;
    char *url = NULL;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(req->easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &url);
    req->res->status = (int)status;
    switch (version) {
    case CURL_HTTP_VERSION_1_0:
        req->res->version = 10;
        break;
    case CURL_HTTP_VERSION_2_0:
        req->res->version = 20;
        break;
    case CURL_HTTP_VERSION_3:
        req->res->version = 30;
        break;
    default:
        req->res->version = 11;
        break;
    }
    cf__free(req->res->url);
    req->res->url = cf__strdup(url ? url : req->url);
}

/* Take the transfer out of curl and queue its completion. */
static void req_finish(cf_http_req *req, int fail_code)
{
    if (req->state != REQ_RUNNING)
        return;
    curl_multi_remove_handle(req->c->multi, req->easy);
    req->state = REQ_DONE;
    req->up_buf = NULL; /* curl is done with it; the completion reports the piece's fate */
    req->up_len = 0;
    if (fail_code && !req->fail_code)
        req->fail_code = fail_code;
    fill_response(req);
    cf_queue_insert_tail(&req->c->done, &req->done_link);
}

static int req_status(cf_http_req *req)
{
    if (req->fail_code)
        return req->fail_code;
    if (req->result != CURLE_OK)
        return map_curl_code(req);
    int st = req->res->status;
    if (req->upload && !req->up_done) /* curl stopped sending at a final answer */
        return st >= 200 && st <= 299 ? CF_EPIPE : CF_EHTTP;
    if ((req->flags & CF_HTTP_FAIL_ON_STATUS) && (st < 200 || st > 299))
        return CF_EHTTP;
    return 0;
}

static void req_complete(cf_http_req *req)
{
    cf_abort_signal_unlisten(&req->abort_listener); /* completion: an abort changes nothing now */
    int code = req_status(req);
    cf_error *err = code ? make_error(req, code) : NULL;
    cf_http_response *res = req->res;
    if (code && code != CF_EHTTP && res && res->status == 0)
        res = NULL;
    req->cb(req, code, err, res, req->cb_data);
    cf_error_free(err);
    req_free(req);
}

static void drain_info(client *c)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        cf_http_req *req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        req->result = msg->data.result;
        req_finish(req, 0);
    }
}

/* Hand buffered body bytes to the user, then let curl go on if it was held back. */
static void deliver(cf_http_req *req)
{
    while (req->pending.len && !req->user_paused) {
        int rc = req->on_data(req, req->pending.data, req->pending.len, req->on_data_ctx);
        cf__dbuf_reset(&req->pending);
        if (rc) {
            if (!req->fail_code)
                req->fail_code = rc;
            req_finish(req, 0);
            return;
        }
        if (req->state == REQ_RUNNING && req->curl_paused && !req->user_paused) {
            req->curl_paused = 0;
            curl_easy_pause(req->easy, CURLPAUSE_CONT);
        }
    }
    if (req->state == REQ_RUNNING && req->curl_paused && !req->user_paused) {
        req->curl_paused = 0;
        curl_easy_pause(req->easy, CURLPAUSE_CONT);
    }
}

static void deliver_all(client *c)
{
    while (!cf_queue_empty(&c->dirty)) {
        cf_http_req *req = cf_queue_data(cf_queue_head(&c->dirty), cf_http_req, dirty);
        cf_queue_remove(&req->dirty);
        deliver(req);
    }
}

/* Run the callbacks of finished requests; one paused with bytes left waits for resume. */
static void run_done(client *c)
{
    cf_queue ready;
    cf_queue_init(&ready);
    cf_queue *q = cf_queue_head(&c->done);
    while (q != &c->done) {
        cf_http_req *req = cf_queue_data(q, cf_http_req, done_link);
        q = q->next;
        if (req->pending.len && req->user_paused && !req->fail_code)
            continue;
        cf_queue_remove(&req->done_link);
        cf_queue_insert_tail(&ready, &req->done_link);
    }
    while (!cf_queue_empty(&ready)) {
        cf_http_req *req = cf_queue_data(cf_queue_head(&ready), cf_http_req, done_link);
        cf_queue_remove(&req->done_link);
        if (!req->fail_code && req->pending.len)
            deliver(req);
        cf_queue_remove(&req->dirty);
        req_complete(req);
    }
}

/* Tell the feeders of streamed bodies that curl took their pieces (a finished one: no). */
static void run_sent(client *c)
{
    while (!cf_queue_empty(&c->sent)) {
        cf_http_req *req = cf_queue_data(cf_queue_head(&c->sent), cf_http_req, sent_link);
        cf_queue_remove(&req->sent_link);
        if (req->state == REQ_RUNNING)
            req->up_sent(req, req->cb_data);
    }
}

static void process(client *c)
{
    if (c->in_curl)
        return;
    drain_info(c);
    deliver_all(c);
    run_sent(c);
    drain_info(c);
    run_done(c);
}

/* ---- starting a request ---- */

/* Accept only absolute http and https URLs; curl would otherwise guess a scheme. */
static int check_url(const char *url)
{
    CURLU *u = curl_url();
    if (!u)
        return CF_ENOMEM;
    int rc = 0;
    char *scheme = NULL;
    char *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        rc = CF_EURL;
    } else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        rc = CF_EURL;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/*
 * curl asks for `Expect: 100-continue` before a body of unknown length and waits up to a
 * second for the answer; a streamed body goes at once instead, as Node's ClientRequest sends
 * it, unless the caller asked for that header. "Expect:" is curl's way to drop it.
 */
static int add_no_expect(cf_http_req *req, const cf_http_options *o)
{
    for (size_t i = 0; o && i < o->header_count; i++) {
        if (strcasecmp(o->headers[i].name, "Expect") == 0)
            return 0;
    }
    struct curl_slist *l = curl_slist_append(req->headers, "Expect:");
    if (!l)
        return CF_ENOMEM;
    req->headers = l;
    return 0;
}

static int set_headers(cf_http_req *req, const cf_http_options *o)
{
    cf_dbuf line;
    cf__dbuf_init(&line, 0);
    int rc = 0;
    for (size_t i = 0; o && i < o->header_count && !rc; i++) {
        const cf_http_header *h = &o->headers[i];
        if (!h->name || !h->name[0] || strpbrk(h->name, ":\r\n") ||
            (h->value && strpbrk(h->value, "\r\n"))) {
            rc = CF_EINVAL;
            break;
        }
        cf__dbuf_reset(&line);
        /* "Name;" is curl's way to send a header with an empty value. */
        if (h->value && h->value[0])
            rc = cf__dbuf_printf(&line, "%s: %s", h->name, h->value);
        else
            rc = cf__dbuf_printf(&line, "%s;", h->name);
        struct curl_slist *l = rc ? NULL : curl_slist_append(req->headers, line.data);
        if (!rc && !l)
            rc = CF_ENOMEM;
        if (!rc)
            req->headers = l;
    }
    cf__dbuf_free(&line);
    if (!rc && req->upload)
        rc = add_no_expect(req, o);
    if (!rc && req->headers)
        curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
    return rc;
}

/*
 * A body fed piece by piece: POST semantics with a read callback and no size, so curl sends
 * it chunked over HTTP/1.1 as the pieces come; another method goes as a custom request.
 */
static void set_upload(cf_http_req *req)
{
    CURL *e = req->easy;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, upload_read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, req);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    if (strcmp(req->method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
}

static int set_body(cf_http_req *req, const cf_http_options *o)
{
    CURL *e = req->easy;
    int is_post = strcmp(req->method, "POST") == 0;
    if (req->upload) {
        set_upload(req);
        return 0;
    }
    if (o && o->body_file) {
        int fd = cf__sys_open(o->body_file, O_RDONLY, 0);
        if (fd < 0)
            return fd;
        req->body_fd = fd;
        struct stat st;
        if (fstat(fd, &st) != 0)
            return cf_translate_sys_error(errno);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, req);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, req);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    } else if (o && o->body) {
        if (cf__ptr_on_movable_stack(o->body))
            return CF_EINVAL; /* borrowed until completion: see CF__MOVABLE_STACK_RULE */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        return 0;
    } else if (strcmp(req->method, "GET") == 0) {
        return 0;
    }
    if (!is_post || !(o && (o->body || o->body_file)))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    return 0;
}

static void set_transfer_options(cf_http_req *req, const cf_http_options *o)
{
    CURL *e = req->easy;
    unsigned flags = o ? o->flags : 0;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    req->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, req);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (!(flags & CF_HTTP_NO_DECOMPRESS))
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (!(flags & CF_HTTP_NO_FOLLOW)) {
        long max = o && o->max_redirects > 0 ? o->max_redirects : DEFAULT_MAX_REDIRECTS;
        req->max_redirects = max;
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, max);
    }
    uint64_t ct = o && o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ct);
    req->timeout_ms = o ? o->timeout_ms : 0;
    if (o && o->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     (flags & CF_HTTP_HTTP1_ONLY) ? (long)CURL_HTTP_VERSION_1_1
                                                  : (long)CURL_HTTP_VERSION_2TLS);
    if (o && o->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    if (flags & CF_HTTP_INSECURE) {
        fprintf(stderr, "calcifer: TLS verification is off for %s\n", req->shown_url);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static void on_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    (void)signal;
    cf_http_req *req = l->data;
    req->aborted = 1;
    if (req->state != REQ_RUNNING) {
        /*
         * The transfer is over but its completion not yet delivered (the listener goes just
         * before it): the operation still fails with the abort, and no more bytes are handed
         * out.
         */
        req->fail_code = CF_ECANCELED;
        cf__dbuf_reset(&req->pending);
    } else {
        req_finish(req, CF_ECANCELED);
    }
    client_kick(req->c);
}

static cf_http_req *req_new(client *c, const char *url, const cf_http_options *o,
                            cf__http_sent_cb up_sent)
{
    cf_http_req *req = cf__calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->c = c;
    req->upload = up_sent != NULL;
    req->up_sent = up_sent;
    req->body_fd = -1;
    cf_queue_init(&req->dirty);
    cf_queue_init(&req->done_link);
    cf_queue_init(&req->sent_link);
    cf_queue_init(&req->all_link);
    cf__dbuf_init(&req->pending, 0);
    req->state = REQ_DONE;
    const char *method = o && o->method                              ? o->method
                         : o && (o->body || o->body_file || up_sent) ? "POST"
                                                                     : "GET";
    req->method = cf__strdup(method);
    req->url = cf__strdup(url);
    req->shown_url = shown_url(url);
    req->res = response_new();
    req->easy = curl_easy_init();
    if (!req->method || !req->url || !req->shown_url || !req->res || !req->easy) {
        cf__loop_req_start(c->loop);
        req_free(req);
        return NULL;
    }
    return req;
}

static int valid_method(const char *m)
{
    if (!m[0])
        return 0;
    for (const char *p = m; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '_'))
            return 0;
    }
    return 1;
}

/*
 * Start a request; `up_sent` non-NULL makes its body one fed by cf__http_req_body_write (then
 * `opts` has neither body nor body_file).
 */
static int request_start(cf_loop *loop, const char *url, const cf_http_options *opts, cf_http_cb cb,
                         void *data, cf_http_req **out, cf_site site, cf__http_sent_cb up_sent)
{
    if (!loop || !url || !cb || (opts && opts->method && !valid_method(opts->method)))
        return CF_EINVAL;
    client *c = NULL;
    int rc = client_get(loop, &c);
    if (!rc)
        rc = check_url(url);
    if (rc)
        return rc;
    cf_http_req *req = req_new(c, url, opts, up_sent);
    if (!req)
        return CF_ENOMEM;
    cf__loop_req_start(loop);
    req->cb = cb;
    req->cb_data = data;
    req->site = site;
    req->flags = opts ? opts->flags : 0;
    if (opts && opts->on_data) {
        req->on_data = opts->on_data;
        req->on_data_ctx = opts->on_data_ctx;
        req->max_stream = opts->max_body;
    } else {
        req->res->body.max = opts && opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    }
    set_transfer_options(req, opts);
    rc = set_headers(req, opts);
    if (!rc)
        rc = set_body(req, opts);
    if (!rc && curl_multi_add_handle(c->multi, req->easy) != CURLM_OK)
        rc = CF_ENOMEM;
    if (rc) {
        req_free(req);
        return rc;
    }
    req->state = REQ_RUNNING;
    cf_queue_insert_tail(&c->reqs, &req->all_link);
    if (opts && opts->signal) {
        req->signal = cf_abort_signal_retain(opts->signal);
        req->abort_listener.data = req;
        int ar = cf_abort_signal_listen(req->signal, &req->abort_listener, on_abort);
        if (ar < 0) { /* already aborted: it fails from the loop, as any abort */
            req->aborted = 1;
            req_finish(req, CF_ECANCELED);
            client_kick(c);
        }
    }
    if (out)
        *out = req;
    return 0;
}

CF__NOINLINE int cf_http_request(cf_loop *loop, const char *url, const cf_http_options *opts,
                                 cf_http_cb cb, void *data, cf_http_req **out)
{
    return request_start(loop, url, opts, cb, data, out, CF__SITE_CALLER(), NULL);
}

int cf__http_upload_at(cf_loop *loop, const char *url, const cf_http_options *opts, cf_http_cb cb,
                       cf__http_sent_cb sent, void *data, cf_http_req **out, cf_site site)
{
    if (!sent || (opts && (opts->body || opts->body_file)))
        return CF_EINVAL;
    cf_http_options o = {0};
    if (opts)
        o = *opts;
    o.flags |= CF_HTTP_NO_FOLLOW; /* a redirect would need the body again */
    return request_start(loop, url, &o, cb, data, out, site, sent);
}

/* Let curl send again: it expires the transfer at once, so its timer acts from the loop. */
static void upload_unpause(cf_http_req *req)
{
    if (!req->up_paused || req->state != REQ_RUNNING)
        return;
    CF_ASSERT(!req->c->in_curl);
    req->up_paused = 0;
    curl_easy_pause(req->easy, req->curl_paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
}

int cf__http_req_body_write(cf_http_req *req, const void *bytes, size_t len)
{
    if (!req || !req->upload || !bytes || !len || req->up_len || req->up_ended)
        return CF_EINVAL;
    if (req->state != REQ_RUNNING)
        return 0; /* finished: its completion, already due, reports the outcome */
    req->up_buf = bytes;
    req->up_len = len;
    req->up_off = 0;
    upload_unpause(req);
    return 0;
}

int cf__http_req_body_end(cf_http_req *req)
{
    if (!req || !req->upload || req->up_ended)
        return CF_EINVAL;
    req->up_ended = 1;
    upload_unpause(req);
    return 0;
}

int cf_http_req_pause(cf_http_req *req)
{
    if (!req || req->state != REQ_RUNNING)
        return CF_EINVAL;
    req->user_paused = 1;
    return 0;
}

int cf_http_req_resume(cf_http_req *req)
{
    if (!req)
        return CF_EINVAL;
    if (!req->user_paused)
        return 0;
    req->user_paused = 0;
    if (req->pending.len)
        mark_dirty(req);
    if (req->pending.len || req->curl_paused || req->state == REQ_DONE) {
        if (req->state == REQ_RUNNING && !req->pending.len && req->curl_paused) {
            req->curl_paused = 0;
            curl_easy_pause(req->easy, CURLPAUSE_CONT);
        }
        return client_kick(req->c);
    }
    return 0;
}

int cf_http_req_cancel(cf_http_req *req)
{
    if (!req)
        return CF_EINVAL;
    if (req->state != REQ_RUNNING)
        return 0;
    req_finish(req, CF_ECANCELED);
    return client_kick(req->c);
}

/* ---- promise forms and the helpers built on them ---- */

/* A promise-form request: the promise, and what to do with the response. */
typedef struct preq {
    cf_promise *p;
    cf_loop *loop;
    /* stream_json */
    cf_json_select *sel;
    cf_http_element_cb on_element;
    void *element_ctx;
    cf_http_done_cb done;           /* callback form (cf_http_stream_json): instead of `p` */
    cf_http_download_cb downloaded; /* callback form (cf_http_download): instead of `p` */
    /* download */
    cf_fs_writer *writer;
    cf_http_req *req;
    size_t written;
    int failed;
    cf_error *err;
    cf_site site; /* the user's call, for the file writer's errors */
} preq;

static void preq_free(preq *pr)
{
    if (pr->sel)
        cf_json_select_free(pr->sel);
    cf_error_free(pr->err);
    if (pr->p)
        cf_promise_release(pr->p);
    cf__free(pr);
}

static preq *preq_new(cf_loop *loop, cf_promise *p)
{
    preq *pr = cf__calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    pr->p = p ? cf_promise_retain(p) : NULL;
    pr->loop = loop;
    return pr;
}

/* Reject `p` because the request could not start; takes `p`'s caller reference too. */
static cf_promise *reject_start(cf_promise *p, cf_site site, int code, const char *method,
                                const char *url)
{
    char *shown = url ? shown_url(url) : NULL;
    char *shown_method = method ? safe_copy(method) : NULL;
    cf_promise_reject(p, CF_ERROR_AT(site, code, "%s %s: %s",
                                     shown_method ? shown_method
                                     : method     ? "?"
                                                  : "GET",
                                     shown ? shown
                                     : url ? "?"
                                           : "(null)",
                                     cf_strerror(code)));
    cf__free(shown);
    cf__free(shown_method);
    return p;
}

/* How a streaming or download request starts once `pr` holds its callbacks. */
typedef int (*preq_start_fn)(preq *pr, const char *url, const char *path,
                             const cf_http_options *opts, cf_site site);

/*
 * Start `pr` with `start`, or free it when it cannot start; `pr` NULL (out of memory) gives
 * CF_ENOMEM. Returns 0 or the code: the promise form rejects its promise with it.
 */
static int preq_start(preq *pr, preq_start_fn start, const char *url, const char *path,
                      const cf_http_options *opts, cf_site site)
{
    int rc = pr ? start(pr, url, path, opts, site) : CF_ENOMEM;
    if (rc && pr)
        preq_free(pr);
    return rc;
}

static void on_response_p(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                          void *data)
{
    (void)res;
    preq *pr = data;
    if (status)
        cf_promise_reject(pr->p, cf_error_copy(err));
    else
        cf_promise_resolve(pr->p, cf_http_response_take(req), cf_http_response_free);
    preq_free(pr);
}

/*
 * `opts` (NULL: the defaults) for a request whose 4xx/5xx status fails it and whose body goes
 * to `on_data` with `ctx` (NULL: buffered in the response).
 */
static cf_http_options failing_opts(const cf_http_options *opts, cf_http_data_cb on_data, void *ctx)
{
    cf_http_options o = {0};
    if (opts)
        o = *opts;
    o.flags |= CF_HTTP_FAIL_ON_STATUS;
    o.on_data = on_data;
    o.on_data_ctx = ctx;
    return o;
}

/* Start a promise-form request with completion `cb`; errors reject the returned promise. */
static cf_promise *start_p(cf_loop *loop, const char *url, const cf_http_options *opts,
                           cf_http_cb cb, preq **out_pr, cf_site site)
{
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    preq *pr = preq_new(loop, p);
    if (!pr)
        return reject_start(p, site, CF_ENOMEM, opts ? opts->method : NULL, url);
    int rc = request_start(loop, url, opts, cb, pr, &pr->req, site, NULL);
    if (rc) {
        preq_free(pr);
        return reject_start(p, site, rc, opts ? opts->method : NULL, url);
    }
    if (out_pr)
        *out_pr = pr;
    return p;
}

CF__NOINLINE cf_promise *cf_http_request_p(cf_loop *loop, const char *url,
                                           const cf_http_options *opts)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop)
        return NULL;
    return start_p(loop, url, opts, on_response_p, NULL, site);
}

static void json_free(void *v)
{
    cf_json_free(v);
}

/* Parse a buffered body; on failure `*err` says where, prefixed with the request. */
static int parse_body(cf_http_req *req, cf_http_response *res, cf_json **out, cf_error **err)
{
    cf_error *perr = NULL;
    cf_buf body = cf_http_response_body(res);
    int rc = cf_json_parse(body.base, body.len, NULL, out, &perr);
    if (rc) {
        *err = CF_ERROR_AT(req->site, rc, "%s %s: %s", req->method, req->shown_url,
                           perr ? perr->message : cf_strerror(rc));
        cf_error_free(perr);
    }
    return rc;
}

static void on_json_p(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                      void *data)
{
    preq *pr = data;
    cf_json *root = NULL;
    cf_error *perr = NULL;
    if (status)
        cf_promise_reject(pr->p, cf_error_copy(err));
    else if (parse_body(req, res, &root, &perr) != 0)
        cf_promise_reject(pr->p, perr);
    else
        cf_promise_resolve(pr->p, root, json_free);
    preq_free(pr);
}

CF__NOINLINE cf_promise *cf_http_get_json_p(cf_loop *loop, const char *url,
                                            const cf_http_options *opts)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop)
        return NULL;
    cf_http_options o = failing_opts(opts, NULL, NULL);
    return start_p(loop, url, &o, on_json_p, NULL, site);
}

typedef struct json_cb_ctx {
    cf_http_json_cb cb;
    void *data;
} json_cb_ctx;

static void on_json(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    json_cb_ctx ctx = *(json_cb_ctx *)data;
    cf__free(data);
    cf_json *root = NULL;
    cf_error *perr = NULL;
    if (status) {
        ctx.cb(status, err, NULL, ctx.data);
        return;
    }
    int rc = parse_body(req, res, &root, &perr);
    ctx.cb(rc, perr, root, ctx.data);
    cf_error_free(perr);
    cf_json_free(root);
}

CF__NOINLINE int cf_http_get_json(cf_loop *loop, const char *url, const cf_http_options *opts,
                                  cf_http_json_cb cb, void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!cb)
        return CF_EINVAL;
    json_cb_ctx *ctx = cf__malloc(sizeof *ctx);
    if (!ctx)
        return CF_ENOMEM;
    ctx->cb = cb;
    ctx->data = data;
    cf_http_options o = failing_opts(opts, NULL, NULL);
    int rc = request_start(loop, url, &o, on_json, ctx, NULL, site, NULL);
    if (rc)
        cf__free(ctx);
    return rc;
}

/* ---- streaming a JSON array ---- */

static int on_element(cf_json *item, size_t index, void *data)
{
    preq *pr = data;
    if (pr->req && pr->req->aborted)
        return CF_ECANCELED; /* no element after an abort */
    return pr->on_element(item, index, pr->element_ctx);
}

static int stream_data(cf_http_req *req, const char *data, size_t len, void *ctx)
{
    preq *pr = ctx;
    if (cf_http_response_status(req->res) / 100 != 2 || req->aborted)
        return 0; /* an error page: ignored, the status rejects (an abort: it fails the request) */
    int rc = cf_json_select_feed(pr->sel, data, len);
    if (req->aborted)
        return 0;
    if (rc < 0 && !pr->err) {
        const char *m = cf_json_select_error(pr->sel);
        pr->err = CF_ERROR_AT(req->site, rc, "%s %s: %s", req->method, req->shown_url,
                              m ? m : cf_strerror(rc));
    }
    return rc < 0 ? rc : 0;
}

/* The stream's outcome: the promise settles, or the done callback runs (callback form). */
static void stream_settle(preq *pr, int status, cf_error *err)
{
    if (pr->p) {
        if (status)
            cf_promise_reject(pr->p, err);
        else
            cf_promise_resolve(pr->p, NULL, NULL);
        return;
    }
    pr->done(status, err, pr->element_ctx);
    cf_error_free(err);
}

static void on_stream_done(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                           void *data)
{
    (void)res;
    preq *pr = data;
    pr->req = NULL;
    if (status == 0) {
        int rc = cf_json_select_finish(pr->sel);
        cf_error *e = NULL;
        if (rc < 0) {
            const char *m = cf_json_select_error(pr->sel);
            e = CF_ERROR_AT(req->site, rc, "%s %s: %s", req->method, req->shown_url,
                            m ? m : cf_strerror(rc));
        }
        stream_settle(pr, rc < 0 ? rc : 0, e);
    } else if (pr->err && status == pr->err->code) {
        cf_error *e = pr->err;
        pr->err = NULL;
        stream_settle(pr, status, e);
    } else {
        stream_settle(pr, status, cf_error_copy(err));
    }
    preq_free(pr);
}

/* Start streaming for `pr` (its callbacks set). Returns 0 or the code it could not start with. */
static int stream_start(preq *pr, const char *url, const char *path, const cf_http_options *opts,
                        cf_site site)
{
    if (!pr->on_element)
        return CF_EINVAL;
    int rc = cf_json_select_new(&pr->sel, path, NULL, on_element, pr);
    if (rc)
        return rc;
    cf_http_options o = failing_opts(opts, stream_data, pr);
    return request_start(pr->loop, url, &o, on_stream_done, pr, &pr->req, site, NULL);
}

CF__NOINLINE int cf_http_stream_json(cf_loop *loop, const char *url, const char *path,
                                     const cf_http_options *opts, cf_http_element_cb element_cb,
                                     cf_http_done_cb done, void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !element_cb || !done)
        return CF_EINVAL;
    preq *pr = preq_new(loop, NULL);
    if (!pr)
        return CF_ENOMEM;
    pr->on_element = element_cb;
    pr->element_ctx = data;
    pr->done = done;
    return preq_start(pr, stream_start, url, path, opts, site);
}

CF__NOINLINE cf_promise *cf_http_stream_json_p(cf_loop *loop, const char *url, const char *path,
                                               const cf_http_options *opts,
                                               cf_http_element_cb element_cb, void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop)
        return NULL;
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    preq *pr = preq_new(loop, p);
    if (pr) {
        pr->on_element = element_cb;
        pr->element_ctx = data;
    }
    int rc = preq_start(pr, stream_start, url, path, opts, site);
    return rc ? reject_start(p, site, rc, opts ? opts->method : NULL, url) : p;
}

/* ---- download to a file, replaced atomically ---- */

static void on_writer_drain(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    (void)err;
    preq *pr = data;
    if (status == 0 && pr->req)
        cf_http_req_resume(pr->req);
}

static int download_data(cf_http_req *req, const char *data, size_t len, void *ctx)
{
    preq *pr = ctx;
    if (cf_http_response_status(req->res) / 100 != 2)
        return 0; /* an error page is not written: the status rejects */
    int rc = cf_fs_writer_write(pr->writer, data, len);
    if (rc < 0)
        return rc;
    pr->written += len;
    if (rc == CF_FS_WRITER_FULL) {
        cf_http_req_pause(req);
        return cf_fs_writer_drain(pr->writer, on_writer_drain, pr);
    }
    return 0;
}

/* The download's outcome, in the callback form; takes `err`. */
static void download_report(preq *pr, int status, cf_error *err)
{
    pr->downloaded(status, status ? err : NULL, status ? 0 : pr->written, pr->element_ctx);
    cf_error_free(err);
    preq_free(pr);
}

static void on_commit(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    preq *pr = data;
    if (!pr->p) {
        download_report(pr, status, status ? cf_error_copy(err) : NULL);
        return;
    }
    if (status) {
        cf_promise_reject(pr->p, cf_error_copy(err));
    } else {
        size_t *n = cf__malloc(sizeof *n);
        if (!n) {
            cf_promise_reject(pr->p, CF_ERROR(CF_ENOMEM, NULL));
        } else {
            *n = pr->written;
            cf_promise_resolve(pr->p, n, cf_free);
        }
    }
    preq_free(pr);
}

static void on_aborted(cf_fs_writer *w, int status, const cf_error *err, void *data)
{
    (void)w;
    (void)status;
    (void)err;
    preq *pr = data;
    cf_error *e = pr->err;
    pr->err = NULL;
    if (!pr->p) {
        download_report(pr, e ? e->code : CF_ENOMEM, e);
        return;
    }
    cf_promise_reject(pr->p, e);
    preq_free(pr);
}

static void on_download_done(cf_http_req *req, int status, const cf_error *err,
                             cf_http_response *res, void *data)
{
    (void)res;
    (void)req;
    preq *pr = data;
    pr->req = NULL;
    cf_fs_writer *w = pr->writer;
    pr->writer = NULL;
    if (status == 0) {
        /* The writer's own errors name the user's call too, not this file. */
        if (cf__fs_writer_commit_at(w, on_commit, pr, pr->site) == 0)
            return;
    }
    pr->err = status ? cf_error_copy(err) : CF_ERROR(CF_ECLOSED, "download: writer closed");
    if (cf_fs_writer_abort(w, on_aborted, pr) != 0)
        on_aborted(w, 0, NULL, pr);
}

/* Open the temporary file and start the transfer for `pr`. Returns 0 or the start's code. */
static int download_start(preq *pr, const char *url, const char *path, const cf_http_options *opts,
                          cf_site site)
{
    if (!path)
        return CF_EINVAL;
    pr->site = site;
    int rc = cf__fs_writer_open_at(pr->loop, path, 0, NULL, &pr->writer, site);
    if (rc)
        return rc;
    cf_http_options o = failing_opts(opts, download_data, pr);
    rc = request_start(pr->loop, url, &o, on_download_done, pr, &pr->req, site, NULL);
    if (rc) {
        cf_fs_writer_abort(pr->writer, NULL, NULL);
        pr->writer = NULL;
    }
    return rc;
}

CF__NOINLINE int cf_http_download(cf_loop *loop, const char *url, const char *path,
                                  const cf_http_options *opts, cf_http_download_cb cb, void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !cb)
        return CF_EINVAL;
    preq *pr = preq_new(loop, NULL);
    if (!pr)
        return CF_ENOMEM;
    pr->downloaded = cb;
    pr->element_ctx = data;
    return preq_start(pr, download_start, url, path, opts, site);
}

CF__NOINLINE cf_promise *cf_http_download_p(cf_loop *loop, const char *url, const char *path,
                                            const cf_http_options *opts)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop)
        return NULL;
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    int rc = preq_start(preq_new(loop, p), download_start, url, path, opts, site);
    return rc ? reject_start(p, site, rc, opts ? opts->method : NULL, url) : p;
}
