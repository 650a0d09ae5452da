/*
 * The HTTP/1.1 server (≈ Node's http.Server): connections accepted on a cf_tcp listener, each
 * parsed with the incremental parser (http/parser.c) and answered through a response object.
 *
 * Data structures:
 *  - `cf_http_server`: the listener, options, the list of connections, four timeout lists
 *    and one timer, a pool of `slot`s, and a scratch buffer for response heads.
 *  - `conn`: one per connection, about a hundred bytes: the socket, the timeout links, the
 *    state. A connection handles one request at a time: pipelined requests wait in the input
 *    buffer until the previous response has been handed to the kernel, which keeps responses
 *    in request order without a queue.
 *  - `cf_http_balancer`: shared by the servers of several loops that accept from one socket;
 *    each publishes its open connections there and pauses accepting past the least loaded
 *    one plus a slack (see "balanced accepts" below).
 *  - `slot`: everything a request in progress needs: the parser, the request
 *    (`cf_http_incoming`) and response (`cf_http_res`) objects, the input bytes (the head
 *    among them) with the header array, the response header lines, the buffered body. A
 *    connection takes one from the server's pool when bytes arrive and gives it back when it
 *    is idle again with nothing buffered (the parser is then between messages), so an idle
 *    keep-alive connection holds no buffer at all and a request costs no allocation once the
 *    pool is warm. The handler's `req`/`res` pointers point into the slot; it stays with the
 *    connection until the response is ended.

 * Reading: the socket reads straight into the slot's input buffer (cf_tcp_read_start_into:
 * on_alloc says where, after the bytes not yet consumed) and the head is parsed there, never
 * copied. Its spans are NUL-terminated in place and the head is pinned (`pin`): until the
 * request is over the buffer compacts only the bytes after it, and when it must grow the
 * unconsumed bytes move to a new buffer while the old one (`old`) keeps the head, so the
 * request's strings stay valid however long the handler takes.
 *
 * Writing: a response's head is formatted into the server's scratch buffer (or copied from the
 * server's last head when status, header lines, framing and second are the same) and sent with
 * its body in one writev(2) (cf_tcp_try_write) when nothing of ours is queued: the common
 * case, one syscall per response. What the kernel does not take is queued on the cf_tcp:
 * pieces the caller lent (`_ref` bodies) by reference (cf_tcp_write), the rest copied in one
 * block (cf_tcp_write_copyv). cf_tcp_write alone would not do: it borrows every buffer until
 * the write completes, while a response copies only what the kernel did not take. Bytes taken
 * at once by cf_tcp_try_write do not count toward the stream's high-water mark, which is 1
 * byte, so its drain callback says exactly when the queue is empty again; the user-facing
 * high-water mark (`opts.high_water`) is compared with the queue size. The stream's sticky
 * error is read with cf_tcp_error. cf_http_res_end_file sends the head and the body with
 * cf_tcp_try_send_file (MSG_MORE, then sendfile(2): no copy into the socket), queueing what is
 * left from the caller's mapping of the same bytes. The server never touches the descriptor.
 *
 * Timeouts: deadlines are `now + constant` for each list (headers, request, idle, send), so
 * appending keeps every list sorted and the one timer only looks at the heads. `now` is the
 * loop's clock, which the loop refreshes the moment its poll wait returns: a connection
 * accepted or a request read after the loop sat idle for minutes gets its full timeouts.
 * The send list holds the connections whose output waits in the cf_tcp queue; at each
 * deadline the bytes the kernel took since the previous check (`w_added` minus what is still
 * queued, against `w_taken`) decide: some progress re-arms the check for another send
 * timeout, none closes the connection. So a client that stops reading is dropped between one
 * and two send timeouts after its last progress, with one list entry and no per-write work.
 *
 * Lifetime: a connection is freed when its reference count drops to zero. References: the
 * open socket (until its close callback), the response the handler has not ended yet, a
 * queued nextTick, a running async task, and process() while it runs.
 *
 * Closing the server (≈ Node's http.Server): `nlive` counts the connections not yet destroyed
 * (Node's `_connections`), `nconns` those still in memory. The close callback runs from a
 * tick queued when `nlive` reaches 0 on a closing server, as Node emits 'close'; the memory
 * goes later, once every connection is freed, the listener and the timer are closed, and no
 * tick that names the server (`ticks`) is queued (server_maybe_free).
 *
 * Invariants: `c->s` is non-NULL whenever a request is in progress or input is buffered;
 * F_WBUSY is set exactly while the cf_tcp queue holds bytes of ours; a connection is in at
 * most one of the request/idle lists (`tlink`) and possibly the headers list (`hlink`).
 */
#include "calcifer/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/tcp.h"
#include "calcifer/timer.h"
#include "async/task.h"
#include "core/loop.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/queue.h"
#include "util/util.h"
#include "util/site.h"

/* ---- defaults ---- */

#define DEFAULT_MAX_HEADERS     100
#define DEFAULT_MAX_BODY        (1024u * 1024u)
#define DEFAULT_HEADERS_TIMEOUT 60000u
#define DEFAULT_REQUEST_TIMEOUT 300000u
#define DEFAULT_KEEPALIVE       5000u
#define DEFAULT_SEND_TIMEOUT    60000u /* nginx's send_timeout */
#define DEFAULT_HIGH_WATER      (64u * 1024u)
#define LINGER_MS               5000u         /* reading after `Connection: close` */
#define IN_INITIAL              4096u         /* first size of a slot's input buffer */
#define READ_MIN                1024u         /* room made for a read before it is tried */
#define SLOT_TRIM               (64u * 1024u) /* buffers above this are freed on release */
#define POOL_MAX                1024u         /* free slots kept by a server */
#define BALANCE_SLACK           4u            /* balancer: connections above the least loaded */
#define BALANCE_RECHECK_MS      1u            /* balancer: how often a paused server looks */
#define BALANCE_MAX_LOOPS       1024u

/* ---- structures ---- */

typedef struct slot slot;
typedef struct conn conn;

struct cf_http_incoming {
    conn *c;
    cf_http_request_head h;
    size_t path_len;
    const char *query;
    size_t query_len;
    int body_state; /* 0: arriving, 1: complete, < 0: failed with this code */
    int final_sent; /* the end or error was delivered to the stream reader */
    int bodyp;      /* buffered mode read_p: 0 body next, 1 end next */
    cf_http_body_cb read_cb;
    void *read_data;
    int paused;
    cf_promise *read_p;
    cf_site read_site; /* the user's cf_http_incoming_read_p call */
};

enum {
    R_ACTIVE = 1 << 0,      /* the handler owns the response (not yet ended) */
    R_HEAD_SENT = 1 << 1,   /* the head went out */
    R_ENDED = 1 << 2,       /* end was called */
    R_FINISHED = 1 << 3,    /* ended and all handed to the kernel (or failed) */
    R_CHUNKED = 1 << 4,     /* the body is chunked */
    R_NO_BODY = 1 << 5,     /* HEAD, 1xx, 204, 304: body bytes are dropped */
    R_CLEN = 1 << 6,        /* a Content-Length fixes the body's size */
    R_USER_CLEN = 1 << 7,   /* the Content-Length header is the user's */
    R_USER_TE = 1 << 8,     /* the user set Transfer-Encoding */
    R_USER_CONN = 1 << 9,   /* the user set Connection */
    R_USER_DATE = 1 << 10,  /* the user set Date */
    R_USER_CLOSE = 1 << 11, /* the user's Connection says close */
    R_WANT_DRAIN = 1 << 12, /* a write returned FULL */
    R_NOTIFY = 1 << 13      /* the finish callback is due */
};

struct cf_http_res {
    conn *c;
    int status;
    char *reason; /* a custom reason phrase (owned) or NULL */
    unsigned flags;
    uint64_t clen; /* declared body size (R_CLEN) */
    uint64_t sent; /* body bytes accepted so far */
    int outcome;   /* 0 or why the connection was lost */
    cf_http_res_drain_cb drain_cb;
    void *drain_data;
    cf_http_res_cb finish_cb;
    void *finish_data;
    cf_promise *end_p;
    cf_promise *drain_p;
    cf_site end_site;   /* the user's cf_http_res_end_p call */
    cf_site drain_site; /* the user's cf_http_res_drain_p call */
};

struct slot {
    slot *next;
    char *in; /* input, read into in place: [in_off, in_len) not yet consumed */
    size_t in_off;
    size_t in_len;
    size_t in_cap;
    size_t pin;            /* in[0, pin) holds the current request's head: never moved */
    char *old;             /* a previous input buffer holding that head, or NULL */
    int hot;               /* the last read filled the buffer: let the next one be larger */
    cf_dbuf hdrs;          /* response header lines "Name: value\r\n" */
    cf_dbuf body;          /* the buffered request body */
    cf_http_parser parser; /* between requests it is reset, so it can live here */
    cf_http_incoming req;
    cf_http_res res;
    cf_http_field fields[];
};

/* Connection states. */
enum { C_IDLE, C_HEAD, C_BODY, C_DONE, C_LINGER, C_CLOSED };

enum {
    F_KEEP = 1 << 0,     /* keep the connection open after this response */
    F_EOF = 1 << 1,      /* the client ended its side */
    F_WBUSY = 1 << 2,    /* the cf_tcp queue holds bytes of ours */
    F_READING = 1 << 3,  /* cf_tcp_read_start is in effect */
    F_TICK = 1 << 4,     /* a nextTick is queued */
    F_DISPATCH = 1 << 5, /* process() is running */
    F_HANDLER = 1 << 6,  /* the handler was called for the current request */
    F_RES = 1 << 7       /* the handler holds the response (mirrors R_ACTIVE, slot-free) */
};

struct conn {
    cf_http_server *srv;
    cf_tcp *t;
    cf_queue link;  /* srv->conns */
    cf_queue tlink; /* srv->req_q or srv->idle_q */
    cf_queue hlink; /* srv->head_q */
    cf_queue wlink; /* srv->send_q while our bytes wait in the cf_tcp queue */
    uint64_t t_due;
    uint64_t h_due;
    uint64_t w_due;
    uint64_t w_added; /* bytes ever handed to the cf_tcp queue */
    uint64_t w_taken; /* of those, taken by the kernel at the last send check */
    slot *s;
    unsigned state;
    unsigned flags;
    int refs;
    unsigned nreq;
};

struct cf_http_server {
    cf_loop *loop;
    cf_http_handler handler;
    cf_http_async_handler async_handler;
    void *data;
    cf_http_server_opts o;
    cf_http_parser_config pcfg;
    cf_tcp *listener;
    int port;
    int closing;             /* stops accepting and drains: set by the close or by the signal */
    int user_closed;         /* cf_http_server_close was called: the memory may go */
    int unrefd;              /* cf_http_server_unref: the listener does not keep the loop alive */
    cf_abort_listener abort; /* on o.signal while listening */
    int listener_closing;
    cf_close_cb close_cb;
    void *close_data;
    cf_promise *close_p;
    cf_queue conns;
    size_t nconns; /* in `conns`: until freed, after their socket's close */
    size_t nlive;  /* not yet destroyed (≈ server._connections, what Node counts) */
    cf_http_server_listening_cb listening_cb;
    void *listening_data;

    size_t accepted;   /* connections ever accepted (cf_http_server_accepted) */
    int accept_paused; /* balanced: not accepting while others have fewer connections */

    unsigned ticks;  /* ticks queued that name the server: its memory waits for them */
    int cb_queued;   /* the close callback's tick is queued */
    int cb_done;     /* the close callback has run */
    int mem_done;    /* the timer is closed: nothing but ticks keeps the memory */
    cf_queue head_q; /* receiving a head: deadline = start + headers timeout */
    cf_queue req_q;  /* receiving a request: deadline = start + request timeout */
    cf_queue idle_q; /* idle keep-alive or lingering: deadline = since + keep-alive */
    cf_queue send_q; /* output queued: deadline = last check with progress + send timeout */
    cf_timer *timer;
    cf__loop_closer closer; /* cf__loop_close_all closes the server and its connections */
    uint64_t timer_due;     /* 0: not armed */
    slot *pool;
    size_t npool;
    size_t in_limit; /* stop reading when this much input waits */
    cf_dbuf scratch; /* response heads and chunk lines, sent or copied at once */
    time_t date_sec;
    char date[48]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
    size_t date_len;
    char conn_ka[64]; /* "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n" */
    size_t conn_ka_len;
    /*
     * The last head built without a custom reason, and what it was built from: a response
     * with the same status, header lines, framing and second reuses it as it is.
     */
    cf_dbuf hc_head;
    cf_dbuf hc_hdrs;
    int hc_status;   /* 0: nothing cached */
    unsigned hc_key; /* the head-shaping flags, with HC_KEEP */
    uint64_t hc_clen;
    time_t hc_sec;
};

static void process(conn *c);
static void on_read_fn(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                       void *data);
static void on_alloc(cf_tcp *t, size_t suggested, cf_buf *buf, void *data);
static void schedule_tick(conn *c);
static void conn_destroy(conn *c, int status);
static void conn_unref(conn *c);
static void maybe_closed(cf_http_server *srv);
static void balance_update(cf_http_server *srv);

static const char CRLF[] = "\r\n";
static const char LAST_CHUNK[] = "0\r\n\r\n";
static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* ---- small helpers ---- */

static uint64_t opt_ms(uint64_t v, uint64_t def)
{
    return v == 0 ? def : v;
}

static size_t in_avail(const conn *c)
{
    return c->s ? c->s->in_len - c->s->in_off : 0;
}

/* Decimal digits of `v` into `buf` (at least 20 bytes); returns the length. */
static size_t u64_text(uint64_t v, char *buf)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}

static int name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

/* ---- slots (pooled request buffers) ---- */

static slot *slot_get(cf_http_server *srv)
{
    slot *s = srv->pool;
    if (s) {
        srv->pool = s->next;
        srv->npool--;
        return s;
    }
    size_t n = srv->o.max_headers;
    s = cf__calloc(1, sizeof *s + n * sizeof(cf_http_field));
    if (!s)
        return NULL;
    cf__dbuf_init(&s->hdrs, 0);
    cf__dbuf_init(&s->body, 0);
    return s;
}

static void slot_free(slot *s)
{
    cf__free(s->in);
    cf__free(s->old);
    cf__dbuf_free(&s->hdrs);
    cf__dbuf_free(&s->body);
    cf__free(s->res.reason);
    cf__free(s);
}

static void dbuf_trim(cf_dbuf *b)
{
    if (b->cap > SLOT_TRIM)
        cf__dbuf_free(b);
    cf__dbuf_reset(b);
}

/* Give a slot back to the pool, dropping buffers that grew large. */
static void slot_put(cf_http_server *srv, slot *s)
{
    if (srv->npool >= POOL_MAX) {
        slot_free(s);
        return;
    }
    if (s->in_cap > SLOT_TRIM) {
        cf__free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    }
    s->in_off = s->in_len = 0;
    s->pin = 0;
    cf__free(s->old);
    s->old = NULL;
    cf__free(s->res.reason);
    s->res.reason = NULL;
    dbuf_trim(&s->hdrs);
    dbuf_trim(&s->body);
    s->next = srv->pool;
    srv->pool = s;
    srv->npool++;
}

/* Take a slot for the bytes that arrived; the parser starts between messages. */
static int conn_slot(conn *c)
{
    if (c->s)
        return 0;
    slot *s = slot_get(c->srv);
    if (!s)
        return CF_ENOMEM;
    cf_http_parser_init(&s->parser, CF_HTTP_PARSER_REQUEST, &c->srv->pcfg);
    s->req.h.headers = NULL; /* step_head resets the exchange */
    c->s = s;
    return 0;
}

/*
 * The current request is over: its head may move again. Only the request's strings pointed
 * into the pinned bytes, and the handler is done with them.
 */
static void in_unpin(slot *s)
{
    s->pin = 0;
    if (s->old) {
        cf__free(s->old);
        s->old = NULL;
    }
}

/*
 * Grow the input buffer to at least `cap`. Realloc while no head is pinned; otherwise the
 * unconsumed bytes go to a new buffer and the old one stays alive (`old`) with the head in
 * it, so the request's strings stay valid until the request is over.
 */
static int in_grow(slot *s, size_t cap)
{
    if (!s->pin) {
        char *p = cf__realloc(s->in, cap);
        if (!p)
            return CF_ENOMEM;
        s->in = p;
        s->in_cap = cap;
        return 0;
    }
    CF_ASSERT(!s->old); /* a head in `old` leaves no pin in `in` */
    char *p = cf__malloc(cap);
    if (!p)
        return CF_ENOMEM;
    size_t avail = s->in_len - s->in_off;
    memcpy(p, s->in + s->in_off, avail);
    s->old = s->in;
    s->in = p;
    s->in_cap = cap;
    s->in_off = 0;
    s->in_len = avail;
    s->pin = 0;
    return 0;
}

/*
 * Make room for at least `want` more bytes after the unconsumed ones (the next read lands
 * there): compact down to the pinned head, or grow.
 */
static int in_room(slot *s, size_t want)
{
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = s->pin;
    if (s->in_cap - s->in_len >= want)
        return 0;
    if (s->in_off > s->pin) {
        memmove(s->in + s->pin, s->in + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off - s->pin;
        s->in_off = s->pin;
    }
    if (s->in_cap - s->in_len >= want)
        return 0;
    size_t cap = s->in_cap ? s->in_cap : IN_INITIAL;
    while (cap - s->in_len < want) {
        cap *= 2;
    }
    return in_grow(s, cap);
}

/* ---- timeouts ---- */

static void timer_cb(cf_timer *timer, void *data);

/* Make sure the timer fires no later than `due`. */
static void timer_want(cf_http_server *srv, uint64_t due)
{
    if (srv->timer_due && srv->timer_due <= due)
        return;
    uint64_t now = cf_now(srv->loop);
    if (cf_timer_start(srv->timer, due > now ? due - now : 0, 0, timer_cb, srv) == 0)
        srv->timer_due = due;
}

static void list_add(cf_http_server *srv, cf_queue *list, cf_queue *link, uint64_t *due_field,
                     uint64_t ms)
{
    cf_queue_remove(link);
    if (ms == CF_HTTP_NO_TIMEOUT)
        return;
    *due_field = cf_now(srv->loop) + ms;
    cf_queue_insert_tail(list, link);
    timer_want(srv, *due_field);
}

/* The connection starts receiving a request (its first byte, or the accept). */
static void timeouts_request(conn *c)
{
    cf_http_server *srv = c->srv;
    list_add(srv, &srv->head_q, &c->hlink, &c->h_due, srv->o.headers_timeout_ms);
    list_add(srv, &srv->req_q, &c->tlink, &c->t_due, srv->o.request_timeout_ms);
}

static void timeouts_idle(conn *c, uint64_t ms)
{
    cf_queue_remove(&c->hlink);
    list_add(c->srv, &c->srv->idle_q, &c->tlink, &c->t_due, ms);
}

static void timeouts_clear(conn *c)
{
    cf_queue_remove(&c->hlink);
    cf_queue_remove(&c->tlink);
    cf_queue_remove(&c->wlink);
}

/* Bytes of ours the kernel has taken from the cf_tcp queue so far. */
static uint64_t send_taken(const conn *c)
{
    return c->w_added - cf_tcp_write_queue_size(c->t);
}

/* Output waits in the queue: start the send check unless it runs already. */
static void timeouts_send(conn *c)
{
    if (!cf_queue_empty(&c->wlink))
        return;
    c->w_taken = send_taken(c);
    list_add(c->srv, &c->srv->send_q, &c->wlink, &c->w_due, c->srv->o.send_timeout_ms);
}

/* A send check is due: progress since the last one re-arms it, none closes the connection. */
static void send_check(conn *c)
{
    uint64_t taken = send_taken(c);
    if (taken == c->w_taken) {
        conn_destroy(c, CF_ETIMEDOUT);
        return;
    }
    c->w_taken = taken;
    list_add(c->srv, &c->srv->send_q, &c->wlink, &c->w_due, c->srv->o.send_timeout_ms);
}

static void reject(conn *c, int status);

/* A request did not arrive in time: 408 if nothing was answered yet, else just close. */
static void timed_out(conn *c)
{
    timeouts_clear(c);
    if (c->state == C_IDLE || c->state == C_LINGER) {
        conn_destroy(c, CF_ETIMEDOUT);
        return;
    }
    if (!(c->flags & F_HANDLER) && (c->state != C_HEAD || in_avail(c) > 0)) {
        reject(c, 408);
        return;
    }
    conn_destroy(c, CF_ETIMEDOUT);
}

/* The lists of the timer: which link and deadline each one uses. */
enum { L_HEAD, L_REQ, L_IDLE, L_SEND, L_COUNT };

static conn *list_head(cf_queue *list, int which)
{
    if (cf_queue_empty(list))
        return NULL;
    cf_queue *q = cf_queue_head(list);
    if (which == L_HEAD)
        return cf_queue_data(q, conn, hlink);
    if (which == L_SEND)
        return cf_queue_data(q, conn, wlink);
    return cf_queue_data(q, conn, tlink);
}

static uint64_t list_next_due(cf_queue *list, int which)
{
    conn *c = list_head(list, which);
    if (!c)
        return 0;
    if (which == L_HEAD)
        return c->h_due;
    return which == L_SEND ? c->w_due : c->t_due;
}

/*
 * Expire the heads of each list whose deadline passed, then re-arm for the nearest one. A
 * send check that saw progress moves its connection to the tail with a later deadline, so
 * every loop ends.
 */
static void timer_cb(cf_timer *timer, void *data)
{
    (void)timer;
    cf_http_server *srv = data;
    srv->timer_due = 0;
    uint64_t now = cf_now(srv->loop);
    cf_queue *lists[L_COUNT] = {&srv->head_q, &srv->req_q, &srv->idle_q, &srv->send_q};
    for (int i = 0; i < L_COUNT; i++) {
        uint64_t due;
        while ((due = list_next_due(lists[i], i)) != 0 && due <= now) {
            conn *c = list_head(lists[i], i);
            if (i == L_SEND)
                send_check(c);
            else
                timed_out(c);
        }
    }
    for (int i = 0; i < L_COUNT; i++) {
        uint64_t due = list_next_due(lists[i], i);
        if (due)
            timer_want(srv, due);
    }
    if (srv->accept_paused)
        balance_update(srv);
}

/* ---- connection lifetime ---- */

static void maybe_close_cb(cf_http_server *srv);

static void conn_ref(conn *c)
{
    c->refs++;
}

static void conn_free(conn *c)
{
    cf_http_server *srv = c->srv;
    timeouts_clear(c);
    cf_queue_remove(&c->link);
    srv->nconns--;
    if (c->s)
        slot_put(srv, c->s);
    cf__free(c);
    maybe_closed(srv);
}

static void conn_unref(conn *c)
{
    CF_ASSERT(c->refs > 0);
    if (--c->refs == 0)
        conn_free(c);
}

static void on_tcp_closed(void *data)
{
    conn *c = data;
    c->t = NULL;
    conn_unref(c);
}

/* Read or not, as the state asks; only changes cause a syscall. */
static void update_reading(conn *c)
{
    if (!c->t)
        return;
    int want = c->state != C_CLOSED && !(c->flags & F_EOF);
    if (want && c->state != C_LINGER) {
        if (in_avail(c) >= c->srv->in_limit)
            want = 0;
        else if (c->state == C_BODY && (c->flags & F_HANDLER) && !(c->s->res.flags & R_ENDED) &&
                 (c->s->req.paused || (!c->s->req.read_cb && !c->s->req.read_p)))
            want = in_avail(c) == 0 ? 1 : 0;
    }
    if (want == !!(c->flags & F_READING))
        return;
    if (want)
        c->flags |= F_READING;
    else
        c->flags &= ~F_READING;
    if (!want) {
        cf_tcp_read_stop(c->t);
        return;
    }
    if (cf__tcp_read_start_into_at(c->t, on_alloc, on_read_fn, c, CF__SITE_NONE) < 0)
        c->flags &= ~F_READING;
}

/*
 * The response failed with the connection: settle its promises and note the finish
 * callback (delivered from a tick, never inside a call of the API).
 */
static void res_fail(conn *c, int status)
{
    if (!c->s)
        return;
    cf_http_res *res = &c->s->res;
    if (!(res->flags & (R_ACTIVE | R_ENDED)) || (res->flags & R_FINISHED))
        return;
    res->flags |= R_FINISHED;
    res->outcome = status;
    if (res->end_p) {
        cf_promise_reject(res->end_p, CF_ERROR_AT(res->end_site, status, "HTTP response: %s",
                                                  cf_strerror(status)));
        cf_promise_release(res->end_p);
        res->end_p = NULL;
    }
    if (res->drain_p) {
        cf_promise_reject(res->drain_p, CF_ERROR_AT(res->drain_site, status, "HTTP response: %s",
                                                    cf_strerror(status)));
        cf_promise_release(res->drain_p);
        res->drain_p = NULL;
    }
    if (res->finish_cb)
        res->flags |= R_NOTIFY;
}

/* Close the connection now; a response or body read in progress learns why (`status`). */
static void conn_destroy(conn *c, int status)
{
    if (c->state == C_CLOSED)
        return;
    c->state = C_CLOSED;
    c->srv->nlive--;
    if (c->srv->o.balancer)
        balance_update(c->srv);
    maybe_close_cb(c->srv);
    timeouts_clear(c);
    c->flags &= ~F_WBUSY;
    if (c->flags & F_HANDLER) {
        res_fail(c, status);
        if (c->s->req.body_state == 0)
            c->s->req.body_state = status;
        schedule_tick(c);
    }
    if (c->t) {
        cf_tcp_close(c->t, on_tcp_closed, c);
        c->flags &= ~F_READING;
    }
}

/* Stop after this response: shut the sending side once written, read until EOF or timeout. */
static void conn_linger(conn *c)
{
    if (c->state >= C_LINGER)
        return;
    c->state = C_LINGER;
    if (cf__tcp_end_at(c->t, NULL, NULL, CF__SITE_NONE) < 0 ||
        ((c->flags & F_EOF) && !(c->flags & F_WBUSY))) {
        conn_destroy(c, 0);
        return;
    }
    uint64_t ka = c->srv->o.keep_alive_timeout_ms;
    timeouts_idle(c, ka == CF_HTTP_NO_TIMEOUT ? LINGER_MS : CF_MIN(ka, LINGER_MS));
    update_reading(c);
}

/* The connection is between requests with nothing buffered: drop the slot, start idling. */
static void conn_idle(conn *c)
{
    c->state = C_IDLE;
    if (c->s && in_avail(c) == 0) {
        slot_put(c->srv, c->s);
        c->s = NULL;
    }
    if (c->srv->closing) {
        conn_destroy(c, 0);
        return;
    }
    timeouts_idle(c, c->srv->o.keep_alive_timeout_ms);
}

/* ---- ticks: deferred notifications and processing ---- */

static void deliver_final(conn *c);

static void conn_tick(void *data)
{
    conn *c = data;
    c->flags &= ~F_TICK;
    cf_http_res *res = c->s ? &c->s->res : NULL;
    if (res && (res->flags & R_NOTIFY)) {
        res->flags &= ~R_NOTIFY;
        cf_http_res_cb cb = res->finish_cb;
        res->finish_cb = NULL;
        if (cb)
            cb(res, res->outcome, res->finish_data);
    }
    if (c->flags & F_HANDLER)
        deliver_final(c);
    process(c);
    conn_unref(c);
}

static void schedule_tick(conn *c)
{
    if (c->flags & F_TICK)
        return;
    if (cf_next_tick(c->srv->loop, conn_tick, c) < 0)
        return;
    c->flags |= F_TICK;
    conn_ref(c);
}

/* ---- writing ---- */

/*
 * Queue pieces [i, n) of a send behind what the kernel took: runs of copied pieces as one
 * copy (cf_tcp_write_copyv), lent ones by reference (cf_tcp_write). Returns 0 or the error.
 */
static int conn_queue(conn *c, const cf_buf *b, int n, unsigned copy)
{
    int i = 0;
    while (i < n) {
        int j = i;
        int rc;
        if (copy & (1u << i)) {
            while (j < n && (copy & (1u << j))) {
                j++;
            }
            rc = cf_tcp_write_copyv(c->t, b + i, (size_t)(j - i));
        } else {
            j = i + 1;
            rc = cf__tcp_write_at(c->t, &b[i], 1, NULL, NULL, CF__SITE_NONE);
        }
        if (rc < 0)
            return rc;
        for (; i < j; i++) {
            c->w_added += b[i].len;
        }
    }
    return 0;
}

/*
 * Send `n` pieces in order: one writev(2) at once when none of ours is queued (the common
 * case: one syscall per response), then what the kernel did not take goes to the stream's
 * queue. Pieces whose bit is set in `copy` are copied then; the others (static strings, `_ref`
 * bodies) are lent. Returns 0 or the connection's error (the connection is then closed).
 */
static int conn_send(conn *c, cf_buf *b, int n, unsigned copy)
{
    if (c->state == C_CLOSED || !c->t)
        return CF_ECLOSED;
    int rc = 0;
    if (!(c->flags & F_WBUSY)) {
        size_t done;
        rc = cf_tcp_try_write(c->t, b, (size_t)n, &done);
        int i = 0;
        while (i < n && done >= b[i].len) {
            done -= b[i++].len;
        }
        if (rc == 0 && i == n)
            return 0;
        if (rc == 0) {
            b[i].base += done;
            b[i].len -= done;
            rc = conn_queue(c, b + i, n - i, copy >> i);
        }
    } else {
        rc = conn_queue(c, b, n, copy);
    }
    if (rc < 0) {
        conn_destroy(c, rc);
        return rc;
    }
    if (cf_tcp_write_queue_size(c->t) > 0) {
        c->flags |= F_WBUSY;
        timeouts_send(c);
    }
    return 0;
}

static void check_finish(conn *c);

/* The tcp queue emptied. */
static void on_drain(cf_tcp *t, void *data)
{
    conn *c = data;
    c->flags &= ~F_WBUSY;
    cf_queue_remove(&c->wlink);
    if (c->state == C_LINGER && (c->flags & F_EOF))
        conn_destroy(c, 0); /* all written, and the client has nothing more to say */
    if (c->state >= C_LINGER)
        return;
    int err = cf_tcp_error(t); /* a queued write that failed */
    if (err < 0) {
        conn_destroy(c, err);
        return;
    }
    if (!c->s)
        return;
    cf_http_res *res = &c->s->res;
    if (res->flags & R_WANT_DRAIN) {
        res->flags &= ~R_WANT_DRAIN;
        if (res->drain_p) {
            cf_promise_resolve(res->drain_p, NULL, NULL);
            cf_promise_release(res->drain_p);
            res->drain_p = NULL;
        }
        if (res->drain_cb)
            res->drain_cb(res, res->drain_data);
    }
    check_finish(c);
    schedule_tick(c);
}

/* Answer with a bodiless error status and close (no handler involved). */
static void reject(conn *c, int status)
{
    if (c->state >= C_LINGER)
        return;
    const char *reason = cf_http_status_reason(status);
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status,
                     reason ? reason : "Error");
    cf_buf b = {buf, (size_t)n};
    timeouts_clear(c);
    if (conn_send(c, &b, 1, 1) == 0)
        conn_linger(c);
}

/* ---- the response head ---- */

static void refresh_date(cf_http_server *srv)
{
    time_t now = time(NULL);
    if (now == srv->date_sec)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    srv->date_len =
        strftime(srv->date, sizeof srv->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    srv->date_sec = now;
}

/* Decide the framing of the body and whether the connection stays open. */
static void res_framing(conn *c, int last, size_t len)
{
    cf_http_res *res = &c->s->res;
    int st = res->status;
    if (c->s->req.h.method_id == CF_HTTP_METHOD_HEAD || st < 200 || st == 204 || st == 304)
        res->flags |= R_NO_BODY;
    if ((res->flags & R_USER_CLOSE) || c->srv->closing)
        c->flags &= ~F_KEEP;
    if (res->flags & (R_CLEN | R_USER_TE))
        return;
    if (st < 200 || st == 204 || st == 304)
        return;
    if (last) {
        res->flags |= R_CLEN;
        res->clen = len;
    } else if (c->s->req.h.minor_version >= 1) {
        res->flags |= R_CHUNKED;
    } else {
        c->flags &= ~F_KEEP; /* HTTP/1.0: the body ends with the connection */
    }
}

/* The response flags that shape a head, and the connection's keep-alive (HC_KEEP). */
#define HEAD_FLAGS                                                                                 \
    (R_CHUNKED | R_CLEN | R_USER_CLEN | R_USER_TE | R_USER_CONN | R_USER_DATE | R_USER_CLOSE)
#define HC_KEEP (1u << 31)

/* Remember the head just built at `start` in the scratch buffer (best effort). */
static void head_cache_store(cf_http_server *srv, const conn *c, unsigned key, size_t start)
{
    const cf_dbuf *hdrs = &c->s->hdrs;
    const cf_dbuf *b = &srv->scratch;
    cf__dbuf_reset(&srv->hc_head);
    cf__dbuf_reset(&srv->hc_hdrs);
    srv->hc_status = 0;
    if (cf__dbuf_add(&srv->hc_head, b->data + start, b->len - start) < 0 ||
        cf__dbuf_add(&srv->hc_hdrs, hdrs->data ? hdrs->data : "", hdrs->len) < 0)
        return;
    srv->hc_status = c->s->res.status;
    srv->hc_key = key;
    srv->hc_clen = c->s->res.clen;
    srv->hc_sec = srv->date_sec;
}

/* Format the head into the server's scratch buffer. */
/* The status line, at `p` (room reserved by the caller); returns the end. */
static char *put_status_line(char *p, const cf_http_res *res, const char *reason, size_t rlen)
{
    if (res->status == 200 && !res->reason) {
        memcpy(p, "HTTP/1.1 200 OK\r\n", 17);
        return p + 17;
    }
    memcpy(p, "HTTP/1.1 ", 9);
    p += 9;
    p += u64_text((uint64_t)res->status, p);
    *p++ = ' ';
    if (rlen)
        memcpy(p, reason, rlen);
    p += rlen;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Date, Connection and the framing headers the server adds itself, then the blank line. */
static char *put_server_fields(char *p, const conn *c, const cf_http_res *res)
{
    const cf_http_server *srv = c->srv;
    if (!(res->flags & R_USER_DATE)) {
        memcpy(p, srv->date, srv->date_len);
        p += srv->date_len;
    }
    if (!(res->flags & R_USER_CONN)) {
        if (c->flags & F_KEEP) {
            memcpy(p, srv->conn_ka, srv->conn_ka_len);
            p += srv->conn_ka_len;
        } else {
            memcpy(p, "Connection: close\r\n", 19);
            p += 19;
        }
    }
    if ((res->flags & R_CLEN) && !(res->flags & R_USER_CLEN)) {
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        p += u64_text(res->clen, p);
        *p++ = '\r';
        *p++ = '\n';
    }
    if ((res->flags & R_CHUNKED) && !(res->flags & R_USER_TE)) {
        memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
        p += 28;
    }
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    return p;
}

static int build_head(conn *c)
{
    cf_http_server *srv = c->srv;
    cf_http_res *res = &c->s->res;
    const cf_dbuf *hdrs = &c->s->hdrs;
    cf_dbuf *b = &srv->scratch;
    refresh_date(srv);
    unsigned key = (res->flags & HEAD_FLAGS) | ((c->flags & F_KEEP) ? HC_KEEP : 0);
    if (!res->reason && res->status == srv->hc_status && key == srv->hc_key &&
        res->clen == srv->hc_clen && srv->date_sec == srv->hc_sec &&
        hdrs->len == srv->hc_hdrs.len &&
        (!hdrs->len || !memcmp(hdrs->data, srv->hc_hdrs.data, hdrs->len)))
        return cf__dbuf_add(b, srv->hc_head.data, srv->hc_head.len);
    size_t start = b->len;
    const char *reason = res->reason;
    if (!reason && res->status != 200)
        reason = cf_http_status_reason(res->status);
    size_t rlen = reason ? strlen(reason) : 0;
    /* One reservation for the whole head: the fixed parts fit in 160 bytes. */
    int rc = cf__dbuf_reserve(b, hdrs->len + rlen + srv->date_len + srv->conn_ka_len + 160);
    if (rc < 0)
        return rc;
    char *p = put_status_line(b->data + b->len, res, reason, rlen);
    if (hdrs->len) {
        memcpy(p, hdrs->data, hdrs->len);
        p += hdrs->len;
    }
    p = put_server_fields(p, c, res);
    b->len = (size_t)(p - b->data);
    if (!res->reason)
        head_cache_store(srv, c, key, start);
    return 0;
}

/* Finished: ended and handed to the kernel. Settle what waits for it. */
static void check_finish(conn *c)
{
    if (!c->s)
        return;
    cf_http_res *res = &c->s->res;
    if (!(res->flags & R_ENDED) || (res->flags & R_FINISHED) || (c->flags & F_WBUSY))
        return;
    res->flags |= R_FINISHED;
    res->outcome = 0;
    if (res->end_p) {
        cf_promise_resolve(res->end_p, NULL, NULL);
        cf_promise_release(res->end_p);
        res->end_p = NULL;
    }
    if (res->finish_cb)
        res->flags |= R_NOTIFY;
    if (!(c->flags & F_DISPATCH) || (res->flags & R_NOTIFY))
        schedule_tick(c);
}

/* The handler no longer holds the response. */
static void res_release(conn *c)
{
    if (c->s->res.flags & R_ACTIVE) {
        c->s->res.flags &= ~R_ACTIVE;
        c->flags &= ~F_RES;
        conn_unref(c);
    }
}

/* Format the head (if not yet sent) and a chunk-size line into the scratch buffer. */
static int res_prefix(conn *c, size_t len, int body)
{
    cf_http_res *res = &c->s->res;
    cf_dbuf *b = &c->srv->scratch;
    cf__dbuf_reset(b);
    int rc = (res->flags & R_HEAD_SENT) ? 0 : build_head(c);
    res->flags |= R_HEAD_SENT;
    if (rc == 0 && body && (res->flags & R_CHUNKED)) {
        char hex[20];
        int k = snprintf(hex, sizeof hex, "%zx\r\n", len);
        rc = cf__dbuf_add(b, hex, (size_t)k);
    }
    return rc;
}

/* The pieces of one write (prefix, body, chunk framing) into `iov`; returns how many. */
static int res_pieces(conn *c, const void *bytes, size_t len, int ref, int last, cf_buf *iov,
                      unsigned *copy)
{
    cf_http_res *res = &c->s->res;
    int chunked = (res->flags & R_CHUNKED) && !(res->flags & R_NO_BODY);
    int n = 0;
    *copy = 1u;
    iov[n++] = (cf_buf){c->srv->scratch.data, c->srv->scratch.len};
    if (len > 0 && !(res->flags & R_NO_BODY)) {
        if (!ref)
            *copy |= 1u << n;
        iov[n++] = (cf_buf){(char *)bytes, len};
        res->sent += len;
        if (chunked)
            iov[n++] = (cf_buf){(char *)CRLF, 2};
    }
    if (last && chunked)
        iov[n++] = (cf_buf){(char *)LAST_CHUNK, 5};
    if (last && (res->flags & R_CLEN) && !(res->flags & R_NO_BODY) && res->sent != res->clen)
        c->flags &= ~F_KEEP; /* the body is shorter than announced: the client must not wait */
    return n;
}

/*
 * Send the head (if not yet sent) and one piece of body; with `last`, finish the body.
 * `ref` lends `bytes` to the queue instead of copying them.
 */
static int res_emit(cf_http_res *res, const void *bytes, size_t len, int ref, int last)
{
    conn *c = res->c;
    if (!(res->flags & R_ACTIVE) || (res->flags & R_ENDED))
        return CF_EINVAL;
    if (!bytes)
        len = 0;
    if (!(res->flags & R_HEAD_SENT))
        res_framing(c, last, len);
    if (!(res->flags & R_NO_BODY) && (res->flags & R_CLEN) && res->sent + len > res->clen)
        return CF_EINVAL;
    if (last)
        res->flags |= R_ENDED;
    if (c->state == C_CLOSED)
        return CF_ECLOSED;
    int rc = res_prefix(c, len, len > 0 && !(res->flags & R_NO_BODY));
    if (rc < 0) {
        conn_destroy(c, rc);
        return rc;
    }
    cf_buf iov[4];
    unsigned copy;
    int n = res_pieces(c, bytes, len, ref, last, iov, &copy);
    rc = conn_send(c, iov, n, copy);
    if (rc < 0)
        return rc;
    if (last) {
        check_finish(c);
        return 0;
    }
    if (cf_tcp_write_queue_size(c->t) >= c->srv->o.high_water) {
        res->flags |= R_WANT_DRAIN;
        return CF_HTTP_RES_FULL;
    }
    return 0;
}

/* ---- the handler ---- */

/*
 * The task of one request. Once the handler returns, its response may be long finished and
 * the slot recycled for a later request, so only the connection (kept by the task's
 * reference) and the request number tell whether the response is still this task's.
 */
static int async_main(cf_task *task, void *arg)
{
    conn *c = arg;
    unsigned seq = c->nreq;
    int rc = c->srv->async_handler(task, &c->s->req, &c->s->res, c->srv->data);
    if ((c->flags & F_RES) && c->nreq == seq) {
        cf_http_res *res = &c->s->res;
        if (rc < 0 && !(res->flags & R_HEAD_SENT)) {
            const char *msg = "Internal Server Error\n";
            cf_http_res_send(res, 500, "text/plain; charset=utf-8", msg, strlen(msg));
        } else {
            if (rc < 0)
                conn_destroy(c, rc);
            cf_http_res_end(res, NULL, 0);
        }
    }
    conn_unref(c);
    return 0;
}

/*
 * Start the task of one request: a task of the library's, so its own errors name no user's
 * line (cf_async would name this file's). NULL when it cannot start.
 */
static cf_promise *handler_task(cf_loop *loop, conn *c)
{
    cf_promise *p = cf_promise_new(loop);
    if (p && cf__task_start(loop, async_main, c, NULL, NULL, p) < 0) {
        cf_promise_release(p);
        return NULL;
    }
    return p;
}

/* Hand the request to the user: the response is theirs until they end it. */
static void call_handler(conn *c)
{
    cf_http_server *srv = c->srv;
    c->flags |= F_HANDLER | F_RES;
    c->s->res.flags |= R_ACTIVE;
    conn_ref(c);
    if (srv->accept_paused) /* a busy paused server looks at every request, not every ms */
        balance_update(srv);
    if (!srv->async_handler) {
        srv->handler(&c->s->req, &c->s->res, srv->data);
        return;
    }
    conn_ref(c);
    cf_promise *p = handler_task(srv->loop, c);
    if (!p) {
        conn_unref(c);
        cf_http_res_send(&c->s->res, 500, NULL, NULL, 0);
        return;
    }
    cf_promise_release(p);
}

/* ---- reading: requests ---- */

/*
 * The head was parsed where it was read: NUL-terminate its spans in place (each is followed by
 * a byte of the head's syntax, a space, ':' or CR/LF, that nobody reads again) and pin it, so
 * the input buffer moves on around it while the handler runs.
 */
static void setup_request(conn *c, size_t head_len)
{
    slot *s = c->s;
    cf_http_incoming *req = &c->s->req;
    cf_http_request_head *h = &req->h;
    char *base = s->in;
#define TERMINATE(p, n) (base[((const char *)(p)-base) + (n)] = '\0')
    TERMINATE(h->method, h->method_len);
    TERMINATE(h->target, h->target_len);
    for (size_t i = 0; i < h->num_headers; i++) {
        const cf_http_field *f = &h->headers[i];
        TERMINATE(f->name, f->name_len);
        TERMINATE(f->value, f->value_len);
    }
#undef TERMINATE
    const char *q = memchr(h->target, '?', h->target_len);
    req->path_len = q ? (size_t)(q - h->target) : h->target_len;
    req->query = q ? q + 1 : h->target + h->target_len;
    req->query_len = h->target_len - (size_t)(req->query - h->target);
    s->in_off += head_len;
    s->pin = s->in_off;
}

/* A new request begins: clear the request and response of the previous one. */
static void reset_exchange(conn *c)
{
    slot *s = c->s;
    memset(&s->req, 0, sizeof s->req);
    s->req.c = c;
    s->req.h.headers = s->fields;
    s->req.h.max_headers = c->srv->o.max_headers;
    cf__free(s->res.reason);
    memset(&s->res, 0, sizeof s->res);
    s->res.c = c;
    s->res.status = 200;
    cf__dbuf_reset(&s->hdrs);
    cf__dbuf_reset(&s->body);
}

/* A head is complete: set the request up and decide what comes next. */
static int head_done(conn *c, size_t head_len)
{
    cf_http_server *srv = c->srv;
    setup_request(c, head_len);
    cf_queue_remove(&c->hlink);
    const cf_http_request_head *h = &c->s->req.h;
    if (h->flags & (CF_HTTP_MSG_TE_OTHER | CF_HTTP_MSG_TUNNEL)) {
        reject(c, 501);
        return 0;
    }
    c->nreq++;
    c->flags &= ~F_KEEP;
    if ((h->flags & CF_HTTP_MSG_KEEP_ALIVE) && !srv->closing &&
        (!srv->o.max_requests_per_connection || c->nreq < srv->o.max_requests_per_connection))
        c->flags |= F_KEEP;
    int has_body = (h->flags & CF_HTTP_MSG_CHUNKED) || h->content_length > 0;
    int stream = (srv->o.flags & CF_HTTP_SERVER_STREAM_BODY) != 0;
    if (has_body && !stream && h->content_length > srv->o.max_body_size) {
        reject(c, 413);
        return 0;
    }
    if (has_body && (h->flags & CF_HTTP_MSG_EXPECT_CONTINUE)) {
        cf_buf b = {(char *)CONTINUE_100, sizeof CONTINUE_100 - 1};
        if (conn_send(c, &b, 1, 0) < 0)
            return 0;
    }
    c->state = has_body ? C_BODY : C_DONE;
    if (!has_body) {
        cf_http_body_event ev;
        cf_http_parse_body(&c->s->parser, "", 0, &ev); /* CF_HTTP_BODY_END: the message is over */
        cf_queue_remove(&c->tlink);
        c->s->req.body_state = 1;
    }
    if (stream || !has_body)
        call_handler(c);
    return 1;
}

/* Parse a head from the input. Returns 1 when progress was made. */
static int step_head(conn *c)
{
    size_t avail = in_avail(c);
    if (avail == 0) {
        if (c->flags & F_EOF)
            conn_destroy(c, 0);
        return 0;
    }
    if (c->state == C_IDLE) {
        c->state = C_HEAD;
        timeouts_request(c);
    }
    if (!c->s->req.h.headers)
        reset_exchange(c);
    int rc = cf_http_parse_request(&c->s->parser, c->s->in + c->s->in_off, avail, &c->s->req.h);
    if (rc == CF_HTTP_NEED_MORE) {
        if (c->flags & F_EOF)
            conn_destroy(c, 0);
        return 0;
    }
    if (rc < 0) {
        int status = cf_http_parse_error_status(cf_http_parser_error(&c->s->parser));
        reject(c, status ? status : 400);
        return 0;
    }
    return head_done(c, (size_t)rc);
}

/* Is somebody ready for body bytes? (always in buffered mode or once the response ended) */
static int body_consumer(const conn *c)
{
    const cf_http_incoming *req = &c->s->req;
    if (!(c->srv->o.flags & CF_HTTP_SERVER_STREAM_BODY) || (c->s->res.flags & R_ENDED))
        return 1;
    if (req->paused)
        return 0;
    return req->read_cb || req->read_p;
}

static void deliver_data(conn *c, const char *bytes, size_t len)
{
    cf_http_incoming *req = &c->s->req;
    if (!(c->srv->o.flags & CF_HTTP_SERVER_STREAM_BODY)) {
        if (cf__dbuf_add(&c->s->body, bytes, len) < 0)
            conn_destroy(c, CF_ENOMEM);
        return;
    }
    if (c->s->res.flags & R_ENDED)
        return; /* the response is done: the rest of the body is dropped */
    if (req->read_cb) {
        req->read_cb(req, 0, bytes, len, req->read_data);
        return;
    }
    cf_buf *b = cf__malloc(sizeof *b + len + 1);
    if (b) {
        b->base = (char *)(b + 1);
        b->len = len;
        memcpy(b->base, bytes, len);
        b->base[len] = '\0';
    }
    cf_promise *p = req->read_p;
    req->read_p = NULL;
    if (b)
        cf_promise_resolve(p, b, cf_free);
    else
        cf_promise_reject(p, NULL);
    cf_promise_release(p);
}

/* Deliver the end of the body (or its error) to a stream reader that waits for it. */
static void deliver_final(conn *c)
{
    cf_http_incoming *req = &c->s->req;
    if (req->body_state == 0 || req->final_sent || req->paused)
        return;
    int status = req->body_state == 1 ? CF_EOF : req->body_state;
    if (req->read_cb) {
        req->final_sent = 1;
        req->read_cb(req, status, NULL, 0, req->read_data);
    } else if (req->read_p) {
        req->final_sent = 1;
        cf_promise *p = req->read_p;
        req->read_p = NULL;
        if (status == CF_EOF) {
            cf_buf *b = cf__calloc(1, sizeof *b + 1);
            if (b)
                b->base = (char *)(b + 1);
            cf_promise_resolve(p, b, cf_free);
        } else {
            cf_promise_reject(p, CF_ERROR_AT(req->read_site, status, "HTTP request body: %s",
                                             cf_strerror(status)));
        }
        cf_promise_release(p);
    }
}

static void body_error(conn *c, int rc)
{
    int status = cf_http_parse_error_status(cf_http_parser_error(&c->s->parser));
    if (!(c->flags & F_HANDLER)) {
        reject(c, status ? status : 400);
        return;
    }
    c->s->req.body_state = rc == CF_ETOOBIG ? CF_ETOOBIG : CF_EPARSE;
    deliver_final(c);
    if (!(c->s->res.flags & R_HEAD_SENT) && c->state != C_CLOSED) {
        /* The handler may still answer (413 say); the connection closes after it. */
        c->flags &= ~F_KEEP;
        c->state = C_DONE;
        cf_queue_remove(&c->tlink);
        c->s->in_off = c->s->in_len;
        c->flags |= F_EOF;
        return;
    }
    conn_destroy(c, c->s->req.body_state);
}

/* Decode body bytes from the input. Returns 1 when progress was made. */
static int step_body(conn *c)
{
    if (!body_consumer(c))
        return 0;
    size_t avail = in_avail(c);
    cf_http_body_event ev;
    int rc = cf_http_parse_body(&c->s->parser, c->s->in + c->s->in_off, avail, &ev);
    c->s->in_off += ev.consumed;
    if (rc < 0) {
        body_error(c, rc);
        return 0;
    }
    switch (rc) {
    case CF_HTTP_BODY_DATA:
        deliver_data(c, ev.data, ev.len);
        return 1;
    case CF_HTTP_BODY_TRAILER:
        return 1;
    case CF_HTTP_BODY_END:
        cf_queue_remove(&c->tlink);
        c->state = C_DONE;
        c->s->req.body_state = 1;
        if (!(c->flags & F_HANDLER))
            call_handler(c);
        else
            deliver_final(c);
        return 1;
    default:
        if (c->flags & F_EOF)
            conn_destroy(c, CF_ECONNRESET);
        return 0;
    }
}

/* The request is read; once its response has finished, go on with the next one. */
static int step_done(conn *c)
{
    cf_http_res *res = &c->s->res;
    if (!(res->flags & R_FINISHED) || (res->flags & (R_NOTIFY | R_ACTIVE)) || (c->flags & F_TICK))
        return 0;
    c->flags &= ~F_HANDLER;
    c->s->req.h.headers = NULL; /* the next head resets the exchange */
    in_unpin(c->s);
    if (!(c->flags & F_KEEP)) {
        conn_linger(c);
        return 0;
    }
    if ((c->flags & F_EOF) && in_avail(c) == 0) {
        conn_destroy(c, 0);
        return 0;
    }
    conn_idle(c);
    return in_avail(c) > 0;
}

/*
 * Run the connection's state machine over the input until it needs more bytes or waits for
 * the handler. Runs only from loop callbacks (reads, ticks), never inside an API call.
 */
static void process(conn *c)
{
    if (c->flags & F_DISPATCH)
        return;
    c->flags |= F_DISPATCH;
    conn_ref(c);
    int more = 1;
    while (more) {
        switch (c->state) {
        case C_IDLE:
        case C_HEAD:
            more = step_head(c);
            break;
        case C_BODY:
            more = step_body(c);
            break;
        case C_DONE:
            more = step_done(c);
            break;
        default:
            more = 0;
            break;
        }
    }
    c->flags &= ~F_DISPATCH;
    update_reading(c);
    conn_unref(c);
}

static void on_read_fn(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                       void *data)
{
    (void)t;
    (void)err;
    conn *c = data;
    if (status < 0) {
        c->flags &= ~F_READING;
        if (status != CF_EOF || c->state == C_LINGER) {
            if (status == CF_ENOBUFS)
                status = CF_ENOMEM;
            conn_destroy(c, status == CF_EOF ? 0 : status);
            return;
        }
        c->flags |= F_EOF;
        if ((c->flags & F_HANDLER) && !(c->s->res.flags & R_ENDED)) {
            /* ≈ Node (httpAllowHalfOpen false): the client's end aborts the request. */
            conn_destroy(c, CF_ECONNRESET);
            return;
        }
        process(c);
        return;
    }
    if (c->state == C_LINGER || c->state == C_CLOSED)
        return; /* a closing connection drops what it reads */
    if (len == 0) {
        /* Nothing came after all: an idle connection gives its slot back. */
        if (c->state == C_IDLE && c->s && in_avail(c) == 0) {
            slot_put(c->srv, c->s);
            c->s = NULL;
        }
        return;
    }
    slot *s = c->s;
    (void)bytes; /* on_alloc placed them at the end of the input */
    CF_ASSERT(s && bytes == s->in + s->in_len);
    s->in_len += len;
    s->hot = s->in_len == s->in_cap;
    process(c);
}

/* Where the next read lands: after the input not yet consumed, in the slot's buffer. */
static void on_alloc(cf_tcp *t, size_t suggested, cf_buf *buf, void *data)
{
    (void)t;
    (void)suggested;
    conn *c = data;
    if (conn_slot(c) < 0)
        return; /* no memory: the read callback gets CF_ENOBUFS */
    slot *s = c->s;
    int rc = in_room(s, READ_MIN);
    /* A stream of full reads (a large body) doubles the buffer up to the size slots keep. */
    if (rc == 0 && s->hot && s->in_cap < SLOT_TRIM && s->in_cap - s->in_len < s->in_cap / 2)
        rc = in_grow(s, s->in_cap * 2);
    if (rc < 0)
        return;
    buf->base = s->in + s->in_len;
    buf->len = s->in_cap - s->in_len;
}

/* ---- balanced accepts: several loops, one socket ---- */

/*
 * Why: with SO_REUSEPORT the kernel hashes each connection's addresses and ports to one of
 * the sockets, which spreads well over many short connections but can leave one loop with
 * twice the long-lived connections of another; with one socket shared by every loop the loop
 * that wakes first takes the whole burst (Node's docs report over 70% of the connections on
 * two of eight workers in that mode). So the servers of a balancer share one listening
 * socket (each loop watches its own duplicate), and a server stops accepting while its open
 * connections exceed the fewest of any accepting server by more than `slack` — nginx's
 * accept_mutex with its "accept only when below 7/8 of the connections" rule, and Node's
 * round-robin master, without a mutex or a master: connections wait in the kernel's queue
 * for a loop that takes them. A paused server looks again at each request it handles and
 * every millisecond (BALANCE_RECHECK_MS), and resumes once the others have caught up. No
 * loop can wake another (each sleeps in its own epoll_wait), so in a burst every server may
 * be paused at once for up to that millisecond: the least loaded one has paused on a count
 * that the others have since passed. The other choice, "never pause while every other
 * server is paused", lets one loop take the whole burst while the others sleep, which is
 * the imbalance this exists to prevent.
 *
 * Each server writes only its own slot, one cache line each so the writes of one loop do
 * not invalidate another's; the loads are relaxed, since a stale count only delays a pause
 * or a resume by one look. The mutex guards only the socket's creation and duplication at
 * listen.
 */
typedef struct balance_slot {
    _Alignas(64) _Atomic size_t open; /* SIZE_MAX: not serving (not yet, or closing) */
} balance_slot;

struct cf_http_balancer {
    pthread_mutex_t mu;
    int fd;             /* a copy of the socket for the servers still to listen, or -1 */
    int port;           /* its port */
    unsigned joined;    /* servers that have listened */
    unsigned listening; /* of those, not closing: each holds its own copy of the socket */
    unsigned n;
    size_t slack;
    void *mem; /* what `slots` is carved from, aligned to a cache line */
    balance_slot *slots;
};

int cf_http_balancer_new(unsigned nloops, unsigned slack, cf_http_balancer **out)
{
    if (!out || nloops == 0 || nloops > BALANCE_MAX_LOOPS)
        return CF_EINVAL;
    cf_http_balancer *b = cf__calloc(1, sizeof *b);
    void *mem = b ? cf__calloc(nloops + 1, sizeof(balance_slot)) : NULL;
    if (!mem) {
        cf__free(b);
        return CF_ENOMEM;
    }
    uintptr_t a = ((uintptr_t)mem + 63) & ~(uintptr_t)63;
    b->mem = mem;
    b->slots = (balance_slot *)a;
    b->n = nloops;
    b->slack = slack ? slack : BALANCE_SLACK;
    b->fd = -1;
    pthread_mutex_init(&b->mu, NULL);
    for (unsigned i = 0; i < nloops; i++) {
        atomic_init(&b->slots[i].open, SIZE_MAX);
    }
    *out = b;
    return 0;
}

int cf_http_balancer_port(cf_http_balancer *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    int port = b->port;
    pthread_mutex_unlock(&b->mu);
    return port;
}

void cf_http_balancer_free(cf_http_balancer *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    pthread_mutex_destroy(&b->mu);
    cf__free(b->mem);
    cf__free(b);
}

/*
 * Publish this server's count, then pause or resume: pause while another serving server has
 * more than `slack` connections fewer. Paused, look again within BALANCE_RECHECK_MS.
 */
static void balance_update(cf_http_server *srv)
{
    cf_http_balancer *b = srv->o.balancer;
    if (!srv->listener || srv->closing)
        return;
    balance_slot *me = &b->slots[srv->o.balancer_index];
    atomic_store_explicit(&me->open, srv->nlive, memory_order_relaxed);
    int pause = 0;
    for (unsigned k = 0; k < b->n && !pause; k++) {
        balance_slot *other = &b->slots[k];
        size_t open = atomic_load_explicit(&other->open, memory_order_relaxed);
        pause = other != me && open != SIZE_MAX && open + b->slack < srv->nlive;
    }
    if (pause != srv->accept_paused) {
        srv->accept_paused = pause;
        (void)cf__tcp_accept_pause(srv->listener, pause);
    }
    if (pause)
        timer_want(srv, cf_now(srv->loop) + BALANCE_RECHECK_MS);
}

/*
 * The balancer's copy of the socket goes once every place has listened, or once no server
 * listens any more: the port then refuses connections as soon as the last server stops
 * accepting, instead of queueing ones that nobody would take.
 */
static void balance_drop_copy(cf_http_balancer *b)
{
    if (b->fd >= 0 && (b->joined >= b->n || b->listening == 0)) {
        close(b->fd);
        b->fd = -1;
    }
}

/* This server no longer accepts: the others must not wait for it. */
static void balance_leave(cf_http_server *srv)
{
    cf_http_balancer *b = srv->o.balancer;
    balance_slot *me = &b->slots[srv->o.balancer_index];
    atomic_store_explicit(&me->open, SIZE_MAX, memory_order_relaxed);
    pthread_mutex_lock(&b->mu);
    b->listening--;
    balance_drop_copy(b);
    pthread_mutex_unlock(&b->mu);
}

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *t, void *data);

/*
 * The first server of a balancer binds (or the first after every server closed); the others
 * accept from duplicates of its socket.
 */
static int balance_listen(cf_http_server *srv, cf_tcp *t, const char *host, int port)
{
    cf_http_balancer *b = srv->o.balancer;
    if (srv->o.balancer_index >= b->n)
        return CF_EINVAL;
    pthread_mutex_lock(&b->mu);
    int rc;
    if (b->listening > 0 && b->fd < 0) {
        rc = CF_EINVAL; /* every place has listened already */
    } else if (b->listening == 0) {
        rc = cf__tcp_listen_at(t, host, port, srv->o.backlog, 0, on_connection, srv, CF__SITE_NONE);
        b->fd = rc == 0 ? fcntl(cf_tcp_fd(t), F_DUPFD_CLOEXEC, 0) : -1;
        if (rc == 0 && b->fd < 0)
            rc = cf_translate_sys_error(errno);
        b->port = rc == 0 ? cf_tcp_port(t) : 0;
    } else if (port != 0 && port != b->port) {
        rc = CF_EINVAL;
    } else {
        int fd = fcntl(b->fd, F_DUPFD_CLOEXEC, 0);
        rc = fd < 0 ? cf_translate_sys_error(errno)
                    : cf__tcp_listen_fd_at(t, fd, on_connection, srv, CF__SITE_NONE);
    }
    if (rc == 0) {
        b->joined++;
        b->listening++;
        balance_drop_copy(b);
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* ---- accepting ---- */

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *t, void *data)
{
    (void)server;
    (void)err;
    cf_http_server *srv = data;
    if (status < 0)
        return; /* EMFILE and friends: the listener goes on */
    conn *c = srv->closing ? NULL : cf__calloc(1, sizeof *c);
    if (!c) {
        cf_tcp_close(t, NULL, NULL);
        return;
    }
    c->srv = srv;
    c->t = t;
    c->refs = 1; /* the socket's */
    cf_queue_init(&c->tlink);
    cf_queue_init(&c->hlink);
    cf_queue_init(&c->wlink);
    cf_queue_insert_tail(&srv->conns, &c->link);
    srv->nconns++;
    srv->nlive++;
    srv->accepted++;
    if (srv->o.balancer)
        balance_update(srv);
    cf_tcp_set_high_water(t, 1);
    cf_tcp_on_drain(t, on_drain, c);
    cf_tcp_nodelay(t, 1);
    c->state = C_HEAD; /* the headers timeout runs from the accept */
    timeouts_request(c);
    update_reading(c);
    if (!(c->flags & F_READING))
        conn_destroy(c, CF_ECONNRESET);
}

/* ---- server: create, listen, close ---- */

static void set_opts(cf_http_server *srv, const cf_http_server_opts *opts)
{
    if (opts)
        srv->o = *opts;
    cf_http_server_opts *o = &srv->o;
    o->signal = cf_abort_signal_retain(o->signal); /* released by the close */
    int stream = (o->flags & CF_HTTP_SERVER_STREAM_BODY) != 0;
    o->max_header_size = o->max_header_size ? o->max_header_size : CF_HTTP_DEFAULT_MAX_HEAD_LEN;
    o->max_target_len = o->max_target_len ? o->max_target_len : CF_HTTP_DEFAULT_MAX_TARGET_LEN;
    o->max_headers = o->max_headers ? o->max_headers : DEFAULT_MAX_HEADERS;
    if (!o->max_body_size)
        o->max_body_size = stream ? UINT64_MAX : DEFAULT_MAX_BODY;
    o->headers_timeout_ms = opt_ms(o->headers_timeout_ms, DEFAULT_HEADERS_TIMEOUT);
    o->request_timeout_ms = opt_ms(o->request_timeout_ms, DEFAULT_REQUEST_TIMEOUT);
    o->keep_alive_timeout_ms = opt_ms(o->keep_alive_timeout_ms, DEFAULT_KEEPALIVE);
    o->send_timeout_ms = opt_ms(o->send_timeout_ms, DEFAULT_SEND_TIMEOUT);
    o->high_water = o->high_water ? o->high_water : DEFAULT_HIGH_WATER;
    srv->pcfg.max_head_len = o->max_header_size;
    srv->pcfg.max_target_len = o->max_target_len;
    srv->pcfg.max_body_len = o->max_body_size == UINT64_MAX ? 0 : o->max_body_size;
    if (o->flags & CF_HTTP_SERVER_NO_HOST_CHECK)
        srv->pcfg.flags |= CF_HTTP_PARSE_NO_HOST_CHECK;
    srv->in_limit = o->max_header_size + 16384;
    uint64_t ka = o->keep_alive_timeout_ms;
    if (ka == CF_HTTP_NO_TIMEOUT)
        srv->conn_ka_len =
            (size_t)snprintf(srv->conn_ka, sizeof srv->conn_ka, "Connection: keep-alive\r\n");
    else
        srv->conn_ka_len =
            (size_t)snprintf(srv->conn_ka, sizeof srv->conn_ka,
                             "Connection: keep-alive\r\nKeep-Alive: timeout=%llu\r\n",
                             (unsigned long long)(ka / 1000));
}

static int res_end(cf_http_res *res, const void *bytes, size_t len, int ref);

/*
 * cf__loop_close_all: destroy every connection and close the server, as
 * cf_http_server_close_all_connections and cf_http_server_close do. The server's sockets are
 * then closing, and its timer is owned (cf__timer_set_owned): the walk of handles that comes
 * next leaves them to the server. A response that a plain handler still holds is ended for
 * it (whatever would have ended it is being closed too), so that its connection can go; an
 * async handler's task is cancelled by the task layer and ends its response by returning.
 */
static void server_close_all(cf__loop_closer *cl)
{
    cf_http_server *srv = CF_CONTAINER_OF(cl, cf_http_server, closer);
    cf_http_server_close_all_connections(srv);
    if (!srv->async_handler) {
        cf_queue *q = cf_queue_head(&srv->conns);
        while (q != &srv->conns) {
            conn *c = cf_queue_data(q, conn, link);
            q = q->next; /* ending the response may free the connection */
            if ((c->flags & F_RES) && c->s)
                (void)res_end(&c->s->res, NULL, 0, 0);
        }
    }
    if (!srv->user_closed)
        (void)cf_http_server_close(srv, NULL, NULL);
}

static int server_new(cf_loop *loop, const cf_http_server_opts *opts, cf_http_server **out)
{
    cf_http_server *srv = cf__calloc(1, sizeof *srv);
    if (!srv)
        return CF_ENOMEM;
    int rc = cf_timer_new(loop, &srv->timer);
    if (rc < 0) {
        cf__free(srv);
        return rc;
    }
    cf_timer_unref(srv->timer);
    cf__timer_set_owned(srv->timer);
    srv->loop = loop;
    set_opts(srv, opts);
    cf_queue_init(&srv->conns);
    cf_queue_init(&srv->head_q);
    cf_queue_init(&srv->req_q);
    cf_queue_init(&srv->idle_q);
    cf_queue_init(&srv->send_q);
    cf__dbuf_init(&srv->scratch, 0);
    cf__dbuf_init(&srv->hc_head, 0);
    cf__dbuf_init(&srv->hc_hdrs, 0);
    cf__loop_closer_add(loop, &srv->closer, server_close_all);
    *out = srv;
    return 0;
}

int cf_http_server_new(cf_loop *loop, const cf_http_server_opts *opts, cf_http_handler handler,
                       void *data, cf_http_server **out)
{
    if (!loop || !handler || !out)
        return CF_EINVAL;
    int rc = server_new(loop, opts, out);
    if (rc == 0) {
        (*out)->handler = handler;
        (*out)->data = data;
    }
    return rc;
}

int cf_http_server_new_async(cf_loop *loop, const cf_http_server_opts *opts,
                             cf_http_async_handler handler, void *data, cf_http_server **out)
{
    if (!loop || !handler || !out)
        return CF_EINVAL;
    int rc = server_new(loop, opts, out);
    if (rc == 0) {
        (*out)->async_handler = handler;
        (*out)->data = data;
    }
    return rc;
}

static void on_tcp_listening(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    (void)status;
    (void)err;
    cf_http_server *srv = data;
    srv->listening_cb(srv, srv->listening_data);
}

int cf_http_server_on_listening(cf_http_server *srv, cf_http_server_listening_cb cb, void *data)
{
    if (!srv || !cb)
        return CF_EINVAL;
    if (srv->closing)
        return CF_ECLOSED;
    if (srv->listening_cb || srv->listener)
        return CF_EBUSY;
    srv->listening_cb = cb;
    srv->listening_data = data;
    return 0;
}

static void server_begin_close(cf_http_server *srv);

/* The listen signal aborted (≈ server.listen({ signal })): close as cf_http_server_close does. */
static void on_server_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    (void)signal;
    cf_http_server *srv = l->data;
    if (!srv->closing)
        server_begin_close(srv);
}

int cf_http_server_listen(cf_http_server *srv, const char *host, int port)
{
    if (!srv || srv->listener || srv->closing)
        return CF_EINVAL;
    if (cf_abort_signal_aborted(srv->o.signal))
        return CF_ECANCELED;
    cf_tcp *t;
    int rc = cf_tcp_new(srv->loop, &t);
    if (rc < 0)
        return rc;
    int flags = (srv->o.flags & CF_HTTP_SERVER_REUSEPORT) ? CF_TCP_REUSEPORT : 0;
    if (srv->listening_cb)
        rc = cf_tcp_on_listening(t, on_tcp_listening, srv);
    if (rc == 0 && srv->o.balancer)
        rc = balance_listen(srv, t, host, port);
    else if (rc == 0)
        rc = cf__tcp_listen_at(t, host, port, srv->o.backlog, flags, on_connection, srv,
                               CF__SITE_NONE);
    if (rc < 0) {
        cf_tcp_close(t, NULL, NULL);
        return rc;
    }
    srv->listener = t;
    srv->port = cf_tcp_port(t);
    if (srv->o.balancer)
        balance_update(srv);
    if (srv->unrefd)
        cf_tcp_unref(t);
    if (srv->o.signal) {
        srv->abort.data = srv;
        (void)cf_abort_signal_listen(srv->o.signal, &srv->abort, on_server_abort);
    }
    return 0;
}

void cf_http_server_ref(cf_http_server *srv)
{
    if (!srv)
        return;
    srv->unrefd = 0;
    if (srv->listener)
        cf_tcp_ref(srv->listener);
}

void cf_http_server_unref(cf_http_server *srv)
{
    if (!srv)
        return;
    srv->unrefd = 1;
    if (srv->listener)
        cf_tcp_unref(srv->listener);
}

int cf_http_server_has_ref(const cf_http_server *srv)
{
    return srv && !srv->unrefd;
}

int cf_http_server_is_active(const cf_http_server *srv)
{
    return srv && srv->listener && !srv->closing;
}

int cf_http_server_port(const cf_http_server *srv)
{
    return srv ? srv->port : 0;
}

cf_loop *cf_http_server_loop(const cf_http_server *srv)
{
    return srv ? srv->loop : NULL;
}

size_t cf_http_server_accepted(const cf_http_server *srv)
{
    return srv ? srv->accepted : 0;
}

size_t cf_http_server_connections(const cf_http_server *srv)
{
    return srv ? srv->nlive : 0;
}

typedef struct count_req {
    cf_http_server *srv;
    size_t n;
    cf_http_server_count_cb cb;
    void *data;
} count_req;

static void server_maybe_free(cf_http_server *srv);

static void count_tick(void *data)
{
    count_req *r = data;
    cf_http_server *srv = r->srv;
    r->cb(srv, r->n, r->data);
    cf__free(r);
    srv->ticks--;
    server_maybe_free(srv);
}

int cf_http_server_get_connections(cf_http_server *srv, cf_http_server_count_cb cb, void *data)
{
    if (!srv || !cb)
        return CF_EINVAL;
    count_req *r = cf__malloc(sizeof *r);
    if (!r)
        return CF_ENOMEM;
    *r = (count_req){srv, srv->nlive, cb, data};
    if (cf_next_tick(srv->loop, count_tick, r) < 0) {
        cf__free(r);
        return CF_ENOMEM;
    }
    srv->ticks++;
    return 0;
}

static void close_cb_run(cf_http_server *srv)
{
    srv->cb_done = 1;
    if (srv->close_cb)
        srv->close_cb(srv->close_data);
}

static void close_tick(void *data)
{
    cf_http_server *srv = data;
    srv->ticks--;
    close_cb_run(srv);
    server_maybe_free(srv);
}

/*
 * Node emits the server's 'close' from a tick queued when the server is closed and its last
 * connection destroyed (net.Server's emitCloseIfDrained), long before the sockets' own close.
 * Out of memory for the tick, the callback runs when the server's memory goes instead.
 */
static void maybe_close_cb(cf_http_server *srv)
{
    if (!srv->user_closed || srv->nlive || srv->cb_queued || srv->cb_done)
        return;
    if (cf_next_tick(srv->loop, close_tick, srv) < 0)
        return;
    srv->cb_queued = 1;
    srv->ticks++;
}

static void server_maybe_free(cf_http_server *srv)
{
    if (!srv->mem_done || srv->ticks)
        return;
    if (!srv->cb_done)
        close_cb_run(srv);
    while (srv->pool) {
        slot *s = srv->pool;
        srv->pool = s->next;
        slot_free(s);
    }
    cf__dbuf_free(&srv->scratch);
    cf__dbuf_free(&srv->hc_head);
    cf__dbuf_free(&srv->hc_hdrs);
    cf__loop_closer_remove(&srv->closer);
    cf__free(srv);
}

static void on_timer_closed(void *data)
{
    cf_http_server *srv = data;
    srv->mem_done = 1;
    server_maybe_free(srv);
}

/* Once the listener and every connection are gone, close the timer; its callback ends it. */
static void maybe_closed(cf_http_server *srv)
{
    if (!srv->user_closed || srv->listener_closing || srv->nconns || !srv->timer)
        return;
    cf_timer *t = srv->timer;
    srv->timer = NULL;
    cf_timer_close(t, on_timer_closed, srv);
}

static void on_listener_closed(void *data)
{
    cf_http_server *srv = data;
    srv->listener_closing = 0;
    maybe_closed(srv);
}

/* Destroy the connections with no request in progress (≈ connectionsList.idle()). */
static int close_idle(cf_http_server *srv)
{
    int n = 0;
    cf_queue *q = cf_queue_head(&srv->conns);
    while (q != &srv->conns) {
        conn *c = cf_queue_data(q, conn, link);
        q = q->next;
        int idle = c->state == C_IDLE || (c->state == C_HEAD && in_avail(c) == 0);
        if (idle && !(c->flags & F_HANDLER) && c->state != C_CLOSED) {
            conn_destroy(c, CF_ECANCELED);
            n++;
        }
    }
    return n;
}

int cf_http_server_close_idle_connections(cf_http_server *srv)
{
    if (!srv)
        return CF_EINVAL;
    return close_idle(srv);
}

/* Stop accepting, close idle connections, let requests in progress finish. */
static void server_begin_close(cf_http_server *srv)
{
    srv->closing = 1;
    if (srv->listener && srv->o.balancer)
        balance_leave(srv);
    if (srv->listener) {
        srv->listener_closing = 1;
        cf_tcp_close(srv->listener, on_listener_closed, srv);
        srv->listener = NULL;
    }
    close_idle(srv);
}

int cf_http_server_close(cf_http_server *srv, cf_close_cb cb, void *data)
{
    if (!srv)
        return CF_EINVAL;
    if (srv->user_closed)
        return CF_ECLOSED;
    srv->user_closed = 1;
    srv->close_cb = cb;
    srv->close_data = data;
    cf_abort_signal_unlisten(&srv->abort);
    cf_abort_signal_release(srv->o.signal);
    srv->o.signal = NULL;
    if (!srv->closing)
        server_begin_close(srv);
    maybe_close_cb(srv);
    maybe_closed(srv);
    return 0;
}

static void close_settle(void *data)
{
    cf_promise *p = data;
    cf_promise_resolve(p, NULL, NULL);
    cf_promise_release(p);
}

CF__NOINLINE cf_promise *cf_http_server_close_p(cf_http_server *srv)
{
    cf_site site = CF__SITE_CALLER();
    cf_promise *p = cf_promise_new(srv ? srv->loop : NULL);
    if (!p)
        return NULL;
    int rc = cf_http_server_close(srv, close_settle, cf_promise_retain(p));
    if (rc < 0) {
        cf_promise_release(p);
        cf_promise_reject(p, CF_ERROR_AT(site, rc, "HTTP server close: %s", cf_strerror(rc)));
    }
    return p;
}

void cf_http_server_close_all_connections(cf_http_server *srv)
{
    if (!srv)
        return;
    cf_queue *q = cf_queue_head(&srv->conns);
    while (q != &srv->conns) {
        conn *c = cf_queue_data(q, conn, link);
        q = q->next;
        conn_destroy(c, CF_ECANCELED);
    }
}

/* ---- the request ---- */

cf_http_method cf_http_incoming_method(const cf_http_incoming *req)
{
    return req->h.method_id;
}

const char *cf_http_incoming_method_name(const cf_http_incoming *req)
{
    return req->h.method;
}

const char *cf_http_incoming_target(const cf_http_incoming *req)
{
    return req->h.target;
}

const char *cf_http_incoming_path(const cf_http_incoming *req, size_t *len)
{
    if (len)
        *len = req->path_len;
    return req->h.target;
}

const char *cf_http_incoming_query(const cf_http_incoming *req, size_t *len)
{
    if (len)
        *len = req->query_len;
    return req->query;
}

int cf_http_incoming_version(const cf_http_incoming *req)
{
    return 10 + req->h.minor_version;
}

const char *cf_http_incoming_header(const cf_http_incoming *req, const char *name)
{
    const cf_http_field *f = cf_http_field_find(req->h.headers, req->h.num_headers, name, NULL);
    return f ? f->value : NULL;
}

const cf_http_field *cf_http_incoming_headers(const cf_http_incoming *req, size_t *n)
{
    if (n)
        *n = req->h.num_headers;
    return req->h.headers;
}

int cf_http_incoming_keep_alive(const cf_http_incoming *req)
{
    return (req->c->flags & F_KEEP) != 0;
}

const char *cf_http_incoming_body(const cf_http_incoming *req, size_t *len)
{
    const conn *c = req->c;
    if (c->srv->o.flags & CF_HTTP_SERVER_STREAM_BODY) {
        if (len)
            *len = 0;
        return NULL;
    }
    const cf_dbuf *b = c->s ? &c->s->body : NULL;
    if (len)
        *len = b ? b->len : 0;
    return b && b->data ? b->data : "";
}

int cf_http_incoming_peer_name(const cf_http_incoming *req, char *buf, size_t len)
{
    if (!req->c->t)
        return CF_ENOTCONN;
    return cf_tcp_peer_name(req->c->t, buf, len);
}

cf_http_server *cf_http_incoming_server(const cf_http_incoming *req)
{
    return req->c->srv;
}

int cf_http_incoming_read(cf_http_incoming *req, cf_http_body_cb cb, void *data)
{
    if (!req || !cb || req->read_cb || req->read_p ||
        !(req->c->srv->o.flags & CF_HTTP_SERVER_STREAM_BODY))
        return CF_EINVAL;
    req->read_cb = cb;
    req->read_data = data;
    schedule_tick(req->c);
    return 0;
}

void cf_http_incoming_pause(cf_http_incoming *req)
{
    req->paused = 1;
}

void cf_http_incoming_resume(cf_http_incoming *req)
{
    if (!req->paused)
        return;
    req->paused = 0;
    schedule_tick(req->c);
}

/* Buffered mode: the whole body, then the end. */
static cf_promise *read_p_buffered(cf_http_incoming *req, cf_loop *loop)
{
    size_t len = 0;
    const char *body = req->bodyp ? "" : cf_http_incoming_body(req, &len);
    req->bodyp = 1;
    cf_buf *b = cf__malloc(sizeof *b + len + 1);
    if (!b)
        return cf_promise_rejected(loop, NULL);
    b->base = (char *)(b + 1);
    b->len = len;
    memcpy(b->base, body, len);
    b->base[len] = '\0';
    return cf_promise_resolved(loop, b, cf_free);
}

CF__NOINLINE cf_promise *cf_http_incoming_read_p(cf_http_incoming *req)
{
    cf_site site = CF__SITE_CALLER();
    cf_loop *loop = req->c->srv->loop;
    if (!(req->c->srv->o.flags & CF_HTTP_SERVER_STREAM_BODY))
        return read_p_buffered(req, loop);
    if (req->read_cb || req->read_p)
        return cf_promise_rejected(
            loop, CF_ERROR_AT(site, CF_EBUSY, "HTTP request body: a read is pending"));
    req->read_site = site;
    if (req->final_sent) {
        cf_buf *b = cf__calloc(1, sizeof *b + 1);
        if (b)
            b->base = (char *)(b + 1);
        return b ? cf_promise_resolved(loop, b, cf_free) : cf_promise_rejected(loop, NULL);
    }
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    req->read_p = cf_promise_retain(p);
    schedule_tick(req->c);
    return p;
}

/* ---- the response: status and headers ---- */

int cf_http_res_set_status(cf_http_res *res, int status, const char *reason)
{
    if (!res || status < 100 || status > 999 || (reason && strpbrk(reason, "\r\n")))
        return CF_EINVAL;
    if (res->flags & R_HEAD_SENT)
        return CF_EBUSY;
    char *copy = NULL;
    if (reason) {
        copy = cf__strdup(reason);
        if (!copy)
            return CF_ENOMEM;
    }
    cf__free(res->reason);
    res->reason = copy;
    res->status = status;
    return 0;
}

int cf_http_res_status(const cf_http_res *res)
{
    return res->status;
}

/* RFC 9110 tchar: visible ASCII but the delimiters "(),/:;<=>?@[\\]{} and the quote. */
static const unsigned char tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Walk the header lines: calls `fn` with each name/value; stops when it returns non-zero. */
typedef int (*line_fn)(const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                       size_t end, void *arg);

static int each_line(const cf_dbuf *b, line_fn fn, void *arg)
{
    size_t pos = 0;
    while (pos < b->len) {
        const char *line = b->data + pos;
        const char *eol = memchr(line, '\r', b->len - pos);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        size_t next = (size_t)(eol - b->data) + 2;
        int rc =
            fn(line, (size_t)(colon - line), colon + 2, (size_t)(eol - colon - 2), pos, next, arg);
        if (rc)
            return rc;
        pos = next;
    }
    return 0;
}

/* Recompute the flags that special headers set. */
static int flag_line(const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                     size_t end, void *arg)
{
    (void)start;
    (void)end;
    cf_http_res *res = arg;
    if (name_is(name, nlen, "content-length")) {
        uint64_t v = 0;
        for (size_t i = 0; i < vlen && value[i] >= '0' && value[i] <= '9'; i++) {
            v = v * 10 + (uint64_t)(value[i] - '0');
        }
        res->flags |= R_CLEN | R_USER_CLEN;
        res->clen = v;
    } else if (name_is(name, nlen, "transfer-encoding")) {
        res->flags |= R_USER_TE;
        if (cf_http_token_list_has(value, vlen, "chunked"))
            res->flags |= R_CHUNKED;
    } else if (name_is(name, nlen, "connection")) {
        res->flags |= R_USER_CONN;
        if (cf_http_token_list_has(value, vlen, "close"))
            res->flags |= R_USER_CLOSE;
    } else if (name_is(name, nlen, "date")) {
        res->flags |= R_USER_DATE;
    }
    return 0;
}

static void rescan(cf_http_res *res)
{
    res->flags &= ~(unsigned)(R_CLEN | R_USER_CLEN | R_USER_TE | R_CHUNKED | R_USER_CONN |
                              R_USER_DATE | R_USER_CLOSE);
    res->clen = 0;
    if (res->c->s)
        each_line(&res->c->s->hdrs, flag_line, res);
}

typedef struct find_arg {
    const char *name;
    size_t start;
    size_t end;
} find_arg;

static int find_line(const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                     size_t end, void *arg)
{
    (void)value;
    (void)vlen;
    find_arg *f = arg;
    if (!name_is(name, nlen, f->name))
        return 0;
    f->start = start;
    f->end = end;
    return 1;
}

static int remove_all(cf_http_res *res, const char *name)
{
    if (!res->c->s)
        return 0;
    cf_dbuf *b = &res->c->s->hdrs;
    find_arg f = {name, 0, 0};
    while (each_line(b, find_line, &f)) {
        memmove(b->data + f.start, b->data + f.end, b->len - f.end);
        b->len -= f.end - f.start;
        b->data[b->len] = '\0';
    }
    return 0;
}

static int add_header(cf_http_res *res, const char *name, const char *value, int replace)
{
    if (!res || !name || !value)
        return CF_EINVAL;
    size_t nlen = 0;
    while (tchar[(unsigned char)name[nlen]])
        nlen++;
    size_t vlen = strcspn(value, "\r\n");
    if (value[vlen] != '\0')
        return CF_EINVAL;
    if (nlen == 0 || name[nlen] != '\0')
        return CF_EINVAL; /* empty, or not a token */
    if (res->flags & R_HEAD_SENT)
        return CF_EBUSY;
    if (!res->c->s)
        return CF_ECLOSED;
    cf_dbuf *b = &res->c->s->hdrs;
    size_t before = b->len;
    if (replace && before)
        remove_all(res, name);
    int removed = b->len != before;
    size_t old = b->len;
    int rc = cf__dbuf_reserve(b, nlen + vlen + 4);
    if (rc < 0) {
        if (removed)
            rescan(res);
        return rc;
    }
    char *p = b->data + old;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    /* Lines only add flags, so a new line alone needs only its own look; a removal, all. */
    if (removed)
        rescan(res);
    else
        flag_line(b->data + old, nlen, b->data + old + nlen + 2, vlen, old, b->len, res);
    return 0;
}

int cf_http_res_set_header(cf_http_res *res, const char *name, const char *value)
{
    return add_header(res, name, value, 1);
}

int cf_http_res_add_header(cf_http_res *res, const char *name, const char *value)
{
    return add_header(res, name, value, 0);
}

int cf_http_res_remove_header(cf_http_res *res, const char *name)
{
    if (!res || !name)
        return CF_EINVAL;
    if (res->flags & R_HEAD_SENT)
        return CF_EBUSY;
    remove_all(res, name);
    rescan(res);
    return 0;
}

int cf_http_res_has_header(const cf_http_res *res, const char *name)
{
    if (!res || !name || !res->c->s)
        return 0;
    find_arg f = {name, 0, 0};
    return each_line(&res->c->s->hdrs, find_line, &f);
}

int cf_http_res_headers_sent(const cf_http_res *res)
{
    return (res->flags & R_HEAD_SENT) != 0;
}

cf_http_incoming *cf_http_res_request(const cf_http_res *res)
{
    return &res->c->s->req;
}

/* ---- the response: body ---- */

int cf_http_res_write(cf_http_res *res, const void *bytes, size_t len)
{
    if (!res)
        return CF_EINVAL;
    return res_emit(res, bytes, len, 0, 0);
}

int cf_http_res_write_ref(cf_http_res *res, const void *bytes, size_t len)
{
    if (!res)
        return CF_EINVAL;
    return res_emit(res, bytes, len, 1, 0);
}

static int res_end(cf_http_res *res, const void *bytes, size_t len, int ref)
{
    if (!res || !(res->flags & R_ACTIVE) || (res->flags & R_ENDED))
        return CF_EINVAL;
    conn *c = res->c;
    int rc = res_emit(res, bytes, len, ref, 1);
    if (rc == CF_EINVAL && !(res->flags & R_ENDED)) {
        /* Past the Content-Length: end without this piece, and close the connection. */
        c->flags &= ~F_KEEP;
        res_emit(res, NULL, 0, 0, 1);
    }
    if (c->state == C_CLOSED)
        res_fail(c, res->outcome ? res->outcome : CF_ECLOSED);
    res_release(c);
    return rc;
}

int cf_http_res_end(cf_http_res *res, const void *bytes, size_t len)
{
    return res_end(res, bytes, len, 0);
}

int cf_http_res_end_ref(cf_http_res *res, const void *bytes, size_t len)
{
    return res_end(res, bytes, len, 1);
}

/*
 * The head, then the body with sendfile(2) from `fd` (cf_tcp_try_send_file): the kernel sends
 * the file's pages without copying them. What is not taken at once goes through the queue
 * from the mapping (`bytes`), by reference.
 */
static int send_file(conn *c, char *head, size_t hlen, int fd, uint64_t off, const void *bytes,
                     size_t len)
{
    cf_buf b[2] = {{head, hlen}, {(char *)bytes, len}};
    size_t done;
    int rc = cf_tcp_try_send_file(c->t, b, 1, fd, off, len, &done);
    if (rc < 0) {
        conn_destroy(c, rc);
        return rc;
    }
    if (done == hlen + len)
        return 0;
    int i = done < hlen ? 0 : 1;
    done -= i ? hlen : 0;
    b[i].base += done;
    b[i].len -= done;
    c->flags |= F_WBUSY; /* conn_send queues the rest without trying again */
    rc = conn_send(c, b + i, 2 - i, i ? 0 : 1u);
    if (rc == 0 && cf_tcp_write_queue_size(c->t) == 0)
        c->flags &= ~F_WBUSY;
    return rc;
}

int cf_http_res_end_file(cf_http_res *res, int fd, uint64_t offset, const void *bytes, size_t len)
{
    if (!res || fd < 0 || (!bytes && len) || !(res->flags & R_ACTIVE) || (res->flags & R_ENDED))
        return CF_EINVAL;
    conn *c = res->c;
    if ((res->flags & R_HEAD_SENT) || c->state == C_CLOSED || (c->flags & F_WBUSY) || len == 0)
        return res_end(res, bytes, len, 1);
    res_framing(c, 1, len);
    if ((res->flags & (R_NO_BODY | R_CHUNKED)) || res->clen != len)
        return res_end(res, bytes, len, 1);
    cf_http_server *srv = c->srv;
    cf__dbuf_reset(&srv->scratch);
    int rc = build_head(c);
    if (rc < 0) {
        conn_destroy(c, rc);
    } else {
        res->flags |= R_HEAD_SENT | R_ENDED;
        res->sent = len;
        rc = send_file(c, srv->scratch.data, srv->scratch.len, fd, offset, bytes, len);
        if (rc == 0)
            check_finish(c);
    }
    if (c->state == C_CLOSED)
        res_fail(c, res->outcome ? res->outcome : CF_ECLOSED);
    res->flags |= R_ENDED;
    res_release(c);
    return rc;
}

CF__NOINLINE cf_promise *cf_http_res_end_p(cf_http_res *res, const void *bytes, size_t len)
{
    cf_site site = CF__SITE_CALLER();
    if (!res)
        return NULL;
    cf_loop *loop = res->c->srv->loop;
    if (!(res->flags & R_ACTIVE) || (res->flags & R_ENDED))
        return cf_promise_rejected(loop,
                                   CF_ERROR_AT(site, CF_EINVAL, "HTTP response: already ended"));
    res->end_site = site;
    cf_promise *p = cf_promise_new(loop);
    if (!p) {
        cf_http_res_end(res, bytes, len);
        return NULL;
    }
    res->end_p = cf_promise_retain(p);
    int closed = res->c->state == C_CLOSED;
    int rc = res_end(res, bytes, len, 0);
    if (closed && res->end_p) {
        /* Lost before: res_fail already ran for this response. */
        cf_promise_reject(res->end_p,
                          CF_ERROR_AT(site, rc < 0 ? rc : CF_ECLOSED, "HTTP response: %s",
                                      cf_strerror(rc < 0 ? rc : CF_ECLOSED)));
        cf_promise_release(res->end_p);
        res->end_p = NULL;
    }
    return p;
}

int cf_http_res_send(cf_http_res *res, int status, const char *content_type, const void *body,
                     size_t len)
{
    int rc = cf_http_res_set_status(res, status, NULL);
    if (rc == 0 && content_type)
        rc = cf_http_res_set_header(res, "Content-Type", content_type);
    return rc < 0 ? rc : cf_http_res_end(res, body, len);
}

void cf_http_res_on_drain(cf_http_res *res, cf_http_res_drain_cb cb, void *data)
{
    res->drain_cb = cb;
    res->drain_data = data;
}

CF__NOINLINE cf_promise *cf_http_res_drain_p(cf_http_res *res)
{
    cf_site site = CF__SITE_CALLER();
    cf_loop *loop = res->c->srv->loop;
    if (res->c->state == C_CLOSED) {
        int code = res->outcome ? res->outcome : CF_ECLOSED;
        return cf_promise_rejected(loop,
                                   CF_ERROR_AT(site, code, "HTTP response: %s", cf_strerror(code)));
    }
    res->drain_site = site;
    if (!(res->flags & R_WANT_DRAIN))
        return cf_promise_resolved(loop, NULL, NULL);
    if (res->drain_p)
        return cf_promise_retain(res->drain_p);
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    res->drain_p = cf_promise_retain(p);
    return p;
}

void cf_http_res_on_finish(cf_http_res *res, cf_http_res_cb cb, void *data)
{
    res->finish_cb = cb;
    res->finish_data = data;
    if ((res->flags & R_FINISHED) && cb) {
        res->flags |= R_NOTIFY;
        schedule_tick(res->c);
    }
}

/* ---- query strings and URLs ---- */

int cf_http_query_next(const char *query, size_t len, size_t *pos, cf_http_field *param)
{
    if (!query || !pos || !param)
        return 0;
    while (*pos < len) {
        const char *start = query + *pos;
        const char *amp = memchr(start, '&', len - *pos);
        size_t plen = amp ? (size_t)(amp - start) : len - *pos;
        *pos += plen + (amp ? 1 : 0);
        if (plen == 0)
            continue;
        const char *eq = memchr(start, '=', plen);
        param->name = start;
        param->name_len = eq ? (size_t)(eq - start) : plen;
        param->value = eq ? eq + 1 : start + plen;
        param->value_len = eq ? plen - param->name_len - 1 : 0;
        return 1;
    }
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

long cf_http_url_decode(const char *src, size_t len, char *dst, int form)
{
    if ((!src || !dst) && len)
        return CF_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return CF_EINVAL;
            int hi = hexval(src[i + 1]);
            int lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return CF_EINVAL;
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[o++] = (form && ch == '+') ? ' ' : ch;
        }
    }
    return (long)o;
}
