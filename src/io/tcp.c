/*
 * Stream sockets: TCP (IPv4, IPv6), Unix domain sockets and child stdio pipes (≈ Node's
 * net.Socket and net.Server, libuv's src/unix/stream.c and tcp.c).
 *
 * A cf_tcp embeds the handle base (close phase, keep-alive) and one fd watcher. Its role is
 * fixed by the first call: cf_tcp_connect (client), cf_tcp_listen (server), or acceptance by a
 * server.
 *
 * Reading: while reading, the watcher wants CF__IO_IN; each readiness reads into the loop's
 * shared buffer (cf__io_loop.rbuf, 256 KiB), or into the memory that the reader's alloc
 * callback names each time (cf_tcp_read_start_into), up to 32 times (until a short read) and
 * hands the bytes to the read callback, borrowed. No allocation per read.
 *
 * Writing: a write request (`wreq`) holds the caller's iovecs (borrowed bytes). cf_tcp_write
 * first tries writev(2) at once when the queue is empty, so most writes never queue; what
 * is left is queued and the watcher wants CF__IO_OUT. Completed requests move to `done` and
 * their callbacks run in the poll phase (when completed there) or in the next pending phase
 * (when completed inside cf_tcp_write, which must not call back). `queued` counts the bytes
 * not yet taken by the kernel and `turn` the bytes written at once during this loop turn;
 * when queued + turn reaches `high_water`, cf_tcp_write returns CF_TCP_FULL and arms the drain
 * callback, which runs once the queue is empty and the turn is over (see count_turn).
 * cf_tcp_write_copyv copies the rest of a gathered write into one request. cf_tcp_try_write
 * and cf_tcp_try_send_file only write at once (never behind queued bytes) and neither queue
 * nor count: their caller handles the rest and its own backpressure.
 *
 * Invariants: the handle is ACTIVE while it reads, writes, connects, ends or listens; fd is
 * -1 before connect/listen and after close; `done` is non-empty only while `pend` is queued
 * or the poll-phase code is about to run it.
 *
 * Servers (≈ net.Server): a server keeps its accepted connections that are not yet closed in
 * `conns` (each one's `srv_link`, `server` pointing back), so it can count them and close
 * them all. Its close stops accepting at once but calls back, as Node does, from a tick queued
 * when the last of them is closed (or by the close itself when none is open); the listening
 * callback and connection counts come from ticks too. A server's memory therefore waits for
 * three things (server_maybe_free): its close callback, its handle's close phase, and the
 * ticks that name it (`srv_ticks`). A connection never outlives its server's memory: it leaves
 * `conns` when cf_tcp_close is called on it, and the server is freed only once `conns` is
 * empty. A server may also accept from a socket that servers of other loops accept from too
 * (cf__tcp_listen_fd_at, each with its own duplicate of it), and may stop accepting for a
 * while without closing it (cf__tcp_accept_pause, T_ACCEPT_PAUSED: its fd leaves the poller,
 * so the other loops take the connections meanwhile).
 *
 * Places: each operation that reports an error later keeps the site of the user's call that
 * started it (calcifer/error.h, cf_site): a write request its own, the handle one per kind
 * (connect, read, end, listen); the error names that site.
 *
 * SIGPIPE: writes use writev(2); SIGPIPE is set to ignored (as Node does) when the first
 * stream of a process is made, if it still has its default action, so a write to a closed
 * peer fails with CF_EPIPE instead of killing the process.
 */
#include "calcifer/tcp.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/un.h>

#include "calcifer/timer.h"
#include "async/fiber.h"
#include "core/handle.h"
#include "core/loop.h"
#include "core/watch.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/queue.h"
#include "util/site.h"
#include "util/sys.h"
#include "util/util.h"

/* ---- structures ---- */

enum {
    T_CONNECTING = CF__HANDLE_USER << 0,
    T_CONNECTED = CF__HANDLE_USER << 1,
    T_LISTENING = CF__HANDLE_USER << 2,
    T_READING = CF__HANDLE_USER << 3,
    T_ENDING = CF__HANDLE_USER << 4, /* end requested, shutdown not yet made */
    T_ENDED = CF__HANDLE_USER << 5,  /* shutdown(SHUT_WR) made */
    T_EOF = CF__HANDLE_USER << 6,    /* the peer ended its side */
    T_NEED_DRAIN = CF__HANDLE_USER << 7,
    T_UNIX = CF__HANDLE_USER << 8,
    T_PIPE = CF__HANDLE_USER << 9,
    T_SERVER = CF__HANDLE_USER << 10,        /* listened once: closes as net.Server does */
    T_SRV_CB_DONE = CF__HANDLE_USER << 11,   /* the server's close callback has run */
    T_SRV_BASE_DONE = CF__HANDLE_USER << 12, /* the close phase has run for the handle */
    T_ACCEPT_PAUSED = CF__HANDLE_USER << 13  /* listening, but not accepting for now */
};

/* What the pending phase has to report. */
enum {
    PEND_WRITES = 1,
    PEND_END = 2,
    PEND_CONNECT = 4,
    PEND_TURN = 8,
    PEND_SRV_CLOSE = 16,
    PEND_READER = 32 /* a whole read's result decided inside a call or by an abort */
};

typedef struct wreq {
    cf_queue link;
    cf_tcp_cb cb;
    void *data;
    cf_site site;      /* where the write was called */
    struct iovec *iov; /* iov[idx..niov) remain */
    unsigned niov;
    unsigned idx;
    int status;
    struct iovec inl[2];
} wreq;

typedef struct conn_req conn_req;

struct cf_tcp {
    cf__handle h;
    cf__io io;
    int fd;
    unsigned flags;
    int error; /* sticky error of the connection (a failed write or read) */
    void *data;
    const char *name; /* for stdio streams: "stdin", ... (static) */

    cf_tcp_read_cb read_cb;
    cf_tcp_alloc_cb alloc_cb; /* NULL: read into the loop's buffer */
    void *read_data;
    cf_site read_site; /* where reading was started (read_start, read_p, read_all_p) */

    cf_queue wq;   /* wreq not yet fully written */
    cf_queue done; /* wreq written or failed, callback not yet run */
    size_t queued; /* bytes in wq */
    size_t turn;   /* bytes written inside cf_tcp_write* during this loop turn */
    size_t high_water;
    cf_tcp_drain_cb drain_cb;
    void *drain_data;

    cf_tcp_cb end_cb;
    void *end_data;
    int end_status;
    cf_site end_site;

    cf__pending pend;
    unsigned pend_what;

    conn_req *conn;
    cf_tcp_cb connect_cb;
    void *connect_data;
    int connect_status;
    cf_error *connect_err; /* the abort error a deferred connect failure reports, or NULL */
    cf_site connect_site;

    cf_tcp_connection_cb conn_cb;
    void *conn_cb_data;
    cf_site listen_site;

    /* Server side (≈ net.Server): its open accepted connections, its listening callback. */
    cf_queue conns;         /* accepted connections not yet closed (their `srv_link`) */
    size_t nconns;          /* length of `conns` (≈ server._connections) */
    unsigned srv_ticks;     /* ticks queued that name the server: memory waits for them */
    cf_tcp_cb listening_cb; /* ≈ 'listening' */
    void *listening_data;
    cf_tcp *server;    /* for an accepted connection: the server, until the connection closes */
    cf_queue srv_link; /* in server->conns */

    cf_close_cb close_cb;
    void *close_data;
    void (*free_hook)(cf_tcp *t, void *arg);
    void *free_arg;

    struct cf__tcp_reader *reader; /* promise reads (cf_tcp_read_p, cf_tcp_read_all_p) */

    struct sockaddr_storage peer;
    socklen_t peerlen;
};

static void io_cb(cf_loop *loop, cf__io *io, unsigned revents);
static void run_pending(cf_loop *loop, cf__pending *p);
static void server_close_run(cf_tcp *t);
static void reader_pending(cf_tcp *t);
static int listening_later(cf_tcp *t, int lookup);

/* The peer as text for messages: the address, or the stdio name. */
static void peer_text(const cf_tcp *t, char *buf, size_t len)
{
    if (t->name) {
        snprintf(buf, len, "%s", t->name);
        return;
    }
    cf__io_addr_text((const struct sockaddr *)&t->peer, t->peerlen, buf, len);
}

/* ---- create ---- */

/*
 * The one abort error (calcifer/abort.h) with the site of the call that started the operation;
 * NULL when memory is exhausted (the caller then reports a plain CF_ECANCELED).
 */
static cf_error *abort_error(const cf_abort_signal *signal, cf_site site)
{
    cf_error *e = cf_abort_signal_error(signal);
    return e ? cf__error_set_site(e, site) : NULL;
}

/*
 * cf__loop_close_all: close it as cf_tcp_close does (a server's connections are handles of
 * their own, closed by the same walk).
 */
static void tcp_close_req(cf__handle *h)
{
    (void)cf_tcp_close(CF_CONTAINER_OF(h, cf_tcp, h), NULL, NULL);
}

/* `site`: the user's call the handle is named by (cf_loop_print_handles), NULL for none. */
static int tcp_alloc(cf_loop *loop, const void *site, cf_tcp **out)
{
    if (!cf__io_loop_get(loop))
        return CF_ENOMEM;
    cf_tcp *t = cf__calloc(1, sizeof *t);
    if (!t)
        return CF_ENOMEM;
    if (site)
        cf__handle_init_at(loop, &t->h, site);
    else
        cf__handle_init(loop, &t->h);
    cf__handle_set_close_req(&t->h, tcp_close_req);
    cf__io_init(&t->io, -1, io_cb);
    t->fd = -1;
    cf_queue_init(&t->wq);
    cf_queue_init(&t->done);
    cf_queue_init(&t->conns);
    cf_queue_init(&t->srv_link);
    cf__pending_init(&t->pend);
    t->high_water = CF_TCP_HIGH_WATER;
    *out = t;
    return 0;
}

CF__NOINLINE int cf_tcp_new(cf_loop *loop, cf_tcp **out)
{
    const void *site = CF__SITE_CALLER().pc;
    if (!loop || !out)
        return CF_EINVAL;
    return tcp_alloc(loop, site, out);
}

int cf__tcp_open_fd(cf_loop *loop, int fd, const char *name, cf_tcp **out)
{
    cf_tcp *t;
    int rc = tcp_alloc(loop, NULL, &t);
    if (rc < 0)
        return rc;
    t->fd = fd;
    t->name = name;
    t->flags |= T_CONNECTED | T_PIPE | T_UNIX;
    cf__io_init(&t->io, fd, io_cb);
    cf__io_set_lazy(&t->io); /* every close path calls cf__io_close */
    *out = t;
    return 0;
}

void cf__tcp_set_free_hook(cf_tcp *t, void (*hook)(cf_tcp *t, void *arg), void *arg)
{
    t->free_hook = hook;
    t->free_arg = arg;
}

int cf__tcp_is_closing(const cf_tcp *t)
{
    return cf__handle_is_closing(&t->h);
}

void cf_tcp_set_data(cf_tcp *t, void *data)
{
    t->data = data;
}

void *cf_tcp_get_data(const cf_tcp *t)
{
    return t->data;
}

cf_loop *cf_tcp_loop(const cf_tcp *t)
{
    return t->h.loop;
}

int cf_tcp_fd(const cf_tcp *t)
{
    return t->fd;
}

void cf_tcp_ref(cf_tcp *t)
{
    cf__handle_ref(&t->h);
}

int cf_tcp_has_ref(const cf_tcp *t)
{
    return t ? cf__handle_has_ref(&t->h) : 0;
}

int cf_tcp_is_active(const cf_tcp *t)
{
    return t && !cf__handle_is_closing(&t->h) && cf__handle_is_active(&t->h);
}

void cf_tcp_unref(cf_tcp *t)
{
    cf__handle_unref(&t->h);
}

/* ---- activity: the handle is active while anything is going on ---- */

static void update_active(cf_tcp *t)
{
    if (cf__handle_is_closing(&t->h))
        return;
    unsigned busy = t->flags & (T_CONNECTING | T_LISTENING | T_READING | T_ENDING);
    if (busy || !cf_queue_empty(&t->wq) || t->reader)
        cf__handle_start(&t->h);
    else
        cf__handle_stop(&t->h);
}

/* Watch exactly the events the state needs. Errors of epoll_ctl are sticky. */
static int update_io(cf_tcp *t)
{
    if (t->fd < 0) {
        update_active(t);
        return 0;
    }
    cf_loop *loop = t->h.loop;
    unsigned want = 0;
    if ((t->flags & T_READING) || (t->flags & (T_LISTENING | T_ACCEPT_PAUSED)) == T_LISTENING)
        want |= CF__IO_IN;
    if ((t->flags & T_CONNECTING) || !cf_queue_empty(&t->wq))
        want |= CF__IO_OUT;
    unsigned drop = (CF__IO_IN | CF__IO_OUT) & ~want;
    if (drop & t->io.events)
        cf__io_stop(loop, &t->io, drop);
    int rc = 0;
    if (want & ~t->io.events)
        rc = cf__io_start(loop, &t->io, want);
    update_active(t);
    return rc;
}

static void schedule(cf_tcp *t, unsigned what)
{
    t->pend_what |= what;
    cf__loop_defer(t->h.loop, &t->pend, run_pending);
}

/* ---- writing ---- */

static size_t iov_bytes(const struct iovec *iov, unsigned n)
{
    size_t s = 0;
    for (unsigned i = 0; i < n; i++) {
        s += iov[i].iov_len;
    }
    return s;
}

/* Consume `n` written bytes from the head of the queue; finished requests go to `done`. */
static void consume(cf_tcp *t, size_t n)
{
    t->queued -= n;
    while (!cf_queue_empty(&t->wq)) {
        wreq *w = cf_queue_data(cf_queue_head(&t->wq), wreq, link);
        while (w->idx < w->niov && n >= w->iov[w->idx].iov_len) {
            n -= w->iov[w->idx].iov_len;
            w->idx++;
        }
        if (w->idx < w->niov) {
            w->iov[w->idx].iov_base = (char *)w->iov[w->idx].iov_base + n;
            w->iov[w->idx].iov_len -= n;
            if (w->iov[w->idx].iov_len)
                return;
            w->idx++;
            n = 0;
            if (w->idx < w->niov)
                return;
        }
        cf_queue_remove(&w->link);
        cf_queue_insert_tail(&t->done, &w->link);
    }
}

/* Fail every queued write with `status`. */
static void fail_writes(cf_tcp *t, int status)
{
    while (!cf_queue_empty(&t->wq)) {
        wreq *w = cf_queue_data(cf_queue_head(&t->wq), wreq, link);
        w->status = status;
        cf_queue_remove(&w->link);
        cf_queue_insert_tail(&t->done, &w->link);
    }
    t->queued = 0;
}

/*
 * Write as much of the queue as the kernel takes, gathering up to 64 buffers of several
 * requests per writev. Returns 0 (maybe with bytes left) or the error of the connection.
 */
static int flush(cf_tcp *t)
{
    struct iovec iov[64];
    while (!cf_queue_empty(&t->wq)) {
        int n = 0;
        cf_queue *q;
        cf_queue_foreach(q, &t->wq)
        {
            wreq *w = cf_queue_data(q, wreq, link);
            for (unsigned i = w->idx; i < w->niov && n < 64; i++) {
                iov[n++] = w->iov[i];
            }
            if (n == 64)
                break;
        }
        size_t want = iov_bytes(iov, (unsigned)n);
        ssize_t r = cf__sys_writev(t->fd, iov, n);
        if (r == CF_EAGAIN)
            return 0;
        if (r < 0)
            return (int)r;
        consume(t, (size_t)r);
        if ((size_t)r < want)
            return 0;
    }
    return 0;
}

static void shutdown_now(cf_tcp *t)
{
    t->flags &= ~T_ENDING;
    t->flags |= T_ENDED;
    t->end_status = 0;
    if (t->fd >= 0 && shutdown(t->fd, SHUT_WR) < 0)
        t->end_status = cf_translate_sys_error(errno);
}

static void report_write(cf_tcp *t, wreq *w)
{
    if (w->cb) {
        cf_error fb;
        const cf_error *e = NULL;
        if (w->status < 0) {
            char peer[128];
            peer_text(t, peer, sizeof peer);
            e = cf__io_err(&fb, w->site, w->status, "write %s", peer);
        }
        w->cb(t, w->status, e, w->data);
        cf__io_err_free(e, &fb);
    }
    cf__free(w);
}

static void report_end(cf_tcp *t, int status)
{
    cf_tcp_cb cb = t->end_cb;
    t->end_cb = NULL;
    if (!cb)
        return;
    cf_error fb;
    const cf_error *e = NULL;
    if (status < 0) {
        char peer[128];
        peer_text(t, peer, sizeof peer);
        e = cf__io_err(&fb, t->end_site, status, "shutdown %s", peer);
    }
    cb(t, status, e, t->end_data);
    cf__io_err_free(e, &fb);
}

/* Run the callbacks of finished writes, then end and drain as they became due. */
static void finish_writes(cf_tcp *t)
{
    while (!cf_queue_empty(&t->done)) {
        wreq *w = cf_queue_data(cf_queue_head(&t->done), wreq, link);
        cf_queue_remove(&w->link);
        report_write(t, w);
    }
    if (cf__handle_is_closing(&t->h))
        return;
    if (!cf_queue_empty(&t->wq) || !(t->flags & T_NEED_DRAIN))
        return;
    if (t->turn) {
        /* Bytes written at once this turn still count: drain after the next pending phase. */
        if (!(t->pend_what & PEND_TURN))
            schedule(t, PEND_TURN);
        return;
    }
    t->flags &= ~T_NEED_DRAIN;
    if (t->drain_cb)
        t->drain_cb(t, t->drain_data);
}

/* Writable: write the queue; on completion end if asked; report. Poll phase. */
static void on_writable(cf_tcp *t)
{
    int rc = flush(t);
    if (rc < 0) {
        t->error = rc;
        fail_writes(t, rc);
    }
    if (cf_queue_empty(&t->wq) && (t->flags & T_ENDING)) {
        shutdown_now(t);
        t->pend_what |= PEND_END;
    }
    update_io(t);
    finish_writes(t);
    if ((t->pend_what & PEND_END) && !cf__handle_is_closing(&t->h) && !(t->flags & T_ENDING)) {
        t->pend_what &= ~PEND_END;
        report_end(t, t->end_status);
    }
}

static int write_check(const cf_tcp *t)
{
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (t->flags & (T_ENDING | T_ENDED))
        return CF_EPIPE;
    if (t->error)
        return t->error;
    if (!(t->flags & (T_CONNECTED | T_CONNECTING)))
        return CF_ENOTCONN;
    return 0;
}

/*
 * Queue a request built by the caller (its iovecs set) after trying to write at once.
 * Returns 0 / CF_TCP_FULL, or a negative code with `w` freed.
 */
static int submit(cf_tcp *t, wreq *w, int tried)
{
    int direct = !tried && cf_queue_empty(&t->wq) && (t->flags & T_CONNECTED);
    cf_queue_insert_tail(&t->wq, &w->link);
    t->queued += iov_bytes(w->iov + w->idx, w->niov - w->idx);
    if (direct) {
        int rc = flush(t);
        if (rc < 0) {
            /* Nothing of this request is reported: it fails synchronously. */
            cf_queue_remove(&w->link);
            t->queued = 0;
            t->error = rc;
            cf__free(w);
            return rc;
        }
        if (!cf_queue_empty(&t->done))
            schedule(t, PEND_WRITES);
    }
    int rc = update_io(t);
    if (rc < 0 && !cf_queue_empty(&t->wq)) {
        t->error = rc;
    }
    if (t->queued + t->turn >= t->high_water) {
        t->flags |= T_NEED_DRAIN;
        return CF_TCP_FULL;
    }
    return 0;
}

/*
 * Count `n` bytes written at once by a write call. They count toward the high-water mark as
 * if queued until the next pending phase after the mark is reached: a producer that writes
 * until CF_TCP_FULL then hands the kernel about one mark's worth per loop turn instead of
 * filling the whole socket buffer, so the reader finds the bytes still in the cache (libuv's
 * accounting has the same effect). Small writes only accumulate: the pending phase that
 * resets the count is scheduled once the mark is reached, which costs one spurious
 * CF_TCP_FULL (and drain) per mark's worth of bytes. Returns CF_TCP_FULL or 0.
 */
static int count_turn(cf_tcp *t, size_t n)
{
    t->turn += n;
    if (t->queued + t->turn < t->high_water)
        return 0;
    if (!(t->pend_what & PEND_TURN))
        schedule(t, PEND_TURN);
    t->flags |= T_NEED_DRAIN;
    return CF_TCP_FULL;
}

/* Skip the first `n` bytes of a request's buffers (already written). */
static void skip(wreq *w, size_t n)
{
    while (n && w->idx < w->niov) {
        struct iovec *v = &w->iov[w->idx];
        size_t k = CF_MIN(n, v->iov_len);
        v->iov_base = (char *)v->iov_base + k;
        v->iov_len -= k;
        n -= k;
        if (v->iov_len == 0)
            w->idx++;
    }
}

static int tcp_write(cf_tcp *t, const cf_buf *bufs, size_t nbufs, cf_tcp_cb cb, void *data,
                     cf_site site)
{
    if (!t || (!bufs && nbufs) || nbufs > IOV_MAX)
        return CF_EINVAL;
    for (size_t i = 0; i < nbufs; i++) {
        if (cf__ptr_on_movable_stack(bufs[i].base))
            return CF_EINVAL; /* borrowed until `cb`: see CF__MOVABLE_STACK_RULE */
    }
    int rc = write_check(t);
    if (rc < 0)
        return rc;
    /* Fast path: nothing queued, no callback: write straight from the caller's buffers. */
    size_t done = 0;
    int tried = 0;
    if (!cb && cf_queue_empty(&t->wq) && (t->flags & T_CONNECTED) && nbufs <= 64) {
        struct iovec iov[64];
        for (size_t i = 0; i < nbufs; i++) {
            iov[i].iov_base = bufs[i].base;
            iov[i].iov_len = bufs[i].len;
        }
        size_t want = iov_bytes(iov, (unsigned)nbufs);
        ssize_t r = want ? cf__sys_writev(t->fd, iov, (int)nbufs) : 0;
        if (r < 0 && r != CF_EAGAIN) {
            t->error = (int)r;
            return (int)r;
        }
        if (r >= 0 && (size_t)r == want)
            return count_turn(t, want);
        done = r > 0 ? (size_t)r : 0;
        tried = 1;
    }
    size_t extra = nbufs > CF_ARRAY_LEN(((wreq *)0)->inl) ? nbufs * sizeof(struct iovec) : 0;
    wreq *w = cf__malloc(sizeof *w + extra);
    if (!w)
        return CF_ENOMEM;
    w->cb = cb;
    w->data = data;
    w->site = site;
    w->iov = extra ? (struct iovec *)(w + 1) : w->inl;
    w->niov = (unsigned)nbufs;
    w->idx = 0;
    w->status = 0;
    for (size_t i = 0; i < nbufs; i++) {
        w->iov[i].iov_base = bufs[i].base;
        w->iov[i].iov_len = bufs[i].len;
    }
    skip(w, done);
    return submit(t, w, tried);
}

CF__NOINLINE int cf_tcp_write(cf_tcp *t, const cf_buf *bufs, size_t nbufs, cf_tcp_cb cb, void *data)
{
    return tcp_write(t, bufs, nbufs, cb, data, CF__SITE_CALLER());
}

int cf__tcp_write_at(cf_tcp *t, const cf_buf *bufs, size_t nbufs, cf_tcp_cb cb, void *data,
                     cf_site site)
{
    return tcp_write(t, bufs, nbufs, cb, data, site);
}

static size_t bufs_bytes(const cf_buf *bufs, size_t nbufs)
{
    size_t s = 0;
    for (size_t i = 0; i < nbufs; i++) {
        s += bufs[i].len;
    }
    return s;
}

/* Nothing queued and connected: a write may go to the kernel at once without reordering. */
static int can_write_now(const cf_tcp *t)
{
    return cf_queue_empty(&t->wq) && (t->flags & T_CONNECTED);
}

/*
 * One writev(2) of the caller's buffers (at most 64 of them: a try may stop short). `*done`
 * gets the bytes taken (0 when the socket's buffer is full). Returns 0 or the error, which
 * becomes the connection's.
 */
static int write_now(cf_tcp *t, const cf_buf *bufs, size_t nbufs, size_t *done)
{
    struct iovec iov[64];
    size_t n = CF_MIN(nbufs, CF_ARRAY_LEN(iov));
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = bufs[i].base;
        iov[i].iov_len = bufs[i].len;
        want += bufs[i].len;
    }
    *done = 0;
    if (!want)
        return 0;
    ssize_t r = cf__sys_writev(t->fd, iov, (int)n);
    if (r == CF_EAGAIN)
        return 0;
    if (r < 0) {
        t->error = (int)r;
        return (int)r;
    }
    *done = (size_t)r;
    return 0;
}

/* A request holding a copy of the buffers' bytes after the first `skip`. NULL on OOM. */
static wreq *wreq_copy(const cf_buf *bufs, size_t nbufs, size_t skip, size_t len)
{
    wreq *w = cf__malloc(sizeof *w + len);
    if (!w)
        return NULL;
    char *p = (char *)(w + 1);
    for (size_t i = 0; i < nbufs; i++) {
        size_t l = bufs[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(p, bufs[i].base + skip, l - skip);
        p += l - skip;
        skip = 0;
    }
    w->cb = NULL;
    w->data = NULL;
    w->site = (cf_site){0};
    w->iov = w->inl;
    w->inl[0].iov_base = w + 1;
    w->inl[0].iov_len = len;
    w->niov = 1;
    w->idx = 0;
    w->status = 0;
    return w;
}

int cf_tcp_write_copyv(cf_tcp *t, const cf_buf *bufs, size_t nbufs)
{
    if (!t || (!bufs && nbufs) || nbufs > IOV_MAX)
        return CF_EINVAL;
    int rc = write_check(t);
    if (rc < 0)
        return rc;
    size_t total = bufs_bytes(bufs, nbufs);
    if (total == 0)
        return (t->flags & T_NEED_DRAIN) ? CF_TCP_FULL : 0;
    size_t done = 0;
    int tried = can_write_now(t);
    if (tried) {
        rc = write_now(t, bufs, nbufs, &done);
        if (rc < 0)
            return rc;
        if (done == total)
            return count_turn(t, total);
    }
    wreq *w = wreq_copy(bufs, nbufs, done, total - done);
    if (!w) {
        if (done)
            t->error = CF_ENOMEM; /* part of the bytes went out: the stream is broken */
        return CF_ENOMEM;
    }
    return submit(t, w, tried);
}

int cf_tcp_write_copy(cf_tcp *t, const void *bytes, size_t len)
{
    if (!bytes && len)
        return CF_EINVAL;
    cf_buf b = {(char *)bytes, len};
    return cf_tcp_write_copyv(t, &b, 1);
}

int cf_tcp_try_write(cf_tcp *t, const cf_buf *bufs, size_t nbufs, size_t *written)
{
    if (written)
        *written = 0;
    if (!t || !written || (!bufs && nbufs) || nbufs > IOV_MAX)
        return CF_EINVAL;
    int rc = write_check(t);
    if (rc < 0 || !can_write_now(t))
        return rc;
    return write_now(t, bufs, nbufs, written);
}

/* The head of a file send: MSG_MORE on TCP when file bytes follow, a plain writev otherwise. */
static int send_head(cf_tcp *t, const cf_buf *head, size_t nhead, int more, size_t *done)
{
    if (!more || (t->flags & (T_UNIX | T_PIPE)))
        return write_now(t, head, nhead, done);
    struct iovec iov[64];
    size_t n = CF_MIN(nhead, CF_ARRAY_LEN(iov));
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = head[i].base;
        iov[i].iov_len = head[i].len;
    }
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
    ssize_t r;
    do {
        r = sendmsg(t->fd, &m, MSG_MORE | MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    *done = r > 0 ? (size_t)r : 0;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        t->error = cf_translate_sys_error(errno);
        return t->error;
    }
    return 0;
}

/* Errors of sendfile(2) that are the socket's, not the file's. */
static int socket_error(int rc)
{
    return rc == CF_EPIPE || rc == CF_ECONNRESET || rc == CF_ENOTCONN || rc == CF_ETIMEDOUT;
}

int cf_tcp_try_send_file(cf_tcp *t, const cf_buf *head, size_t nhead, int fd, uint64_t offset,
                         size_t len, size_t *written)
{
    if (written)
        *written = 0;
    if (!t || !written || (!head && nhead) || nhead > IOV_MAX || fd < 0 ||
        offset > (uint64_t)INT64_MAX)
        return CF_EINVAL;
    int rc = write_check(t);
    if (rc < 0 || !can_write_now(t))
        return rc;
    size_t hlen = bufs_bytes(head, nhead);
    if (hlen) {
        rc = send_head(t, head, nhead, len > 0, written);
        if (rc < 0 || *written < hlen)
            return rc;
    }
    if (len == 0)
        return 0;
    off_t o = (off_t)offset;
    ssize_t r;
    do {
        r = sendfile(t->fd, fd, &o, len);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
        *written += (size_t)r;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    rc = cf_translate_sys_error(errno);
    if (socket_error(rc))
        t->error = rc;
    return rc;
}

int cf_tcp_error(const cf_tcp *t)
{
    return t ? t->error : CF_EINVAL;
}

void cf_tcp_on_drain(cf_tcp *t, cf_tcp_drain_cb cb, void *data)
{
    t->drain_cb = cb;
    t->drain_data = data;
}

void cf_tcp_set_high_water(cf_tcp *t, size_t bytes)
{
    t->high_water = bytes ? bytes : CF_TCP_HIGH_WATER;
}

size_t cf_tcp_write_queue_size(const cf_tcp *t)
{
    return t->queued;
}

static int tcp_end(cf_tcp *t, cf_tcp_cb cb, void *data, cf_site site)
{
    if (!t)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (t->flags & (T_ENDING | T_ENDED))
        return CF_EPIPE;
    if (!(t->flags & (T_CONNECTED | T_CONNECTING)))
        return CF_ENOTCONN;
    t->end_cb = cb;
    t->end_data = data;
    t->end_site = site;
    t->flags |= T_ENDING;
    if (cf_queue_empty(&t->wq) && (t->flags & T_CONNECTED)) {
        shutdown_now(t);
        schedule(t, PEND_END);
    }
    update_active(t);
    return 0;
}

CF__NOINLINE int cf_tcp_end(cf_tcp *t, cf_tcp_cb cb, void *data)
{
    return tcp_end(t, cb, data, CF__SITE_CALLER());
}

int cf__tcp_end_at(cf_tcp *t, cf_tcp_cb cb, void *data, cf_site site)
{
    return tcp_end(t, cb, data, site);
}

/* ---- reading ---- */

static void read_report_error(cf_tcp *t, int status)
{
    t->flags &= ~T_READING;
    if (status == CF_EOF)
        t->flags |= T_EOF;
    else if (status != CF_ENOBUFS) /* the reader had no memory: the stream is fine */
        t->error = status;
    update_io(t);
    cf_error fb;
    const cf_error *e;
    char peer[128];
    peer_text(t, peer, sizeof peer);
    if (status == CF_EOF)
        e = cf__io_err_plain(&fb, t->read_site, status, "read %s: end of stream", peer);
    else if (status == CF_ENOBUFS)
        e = cf__io_err_plain(&fb, t->read_site, status,
                             "read %s: the alloc callback gave no memory to read into", peer);
    else
        e = cf__io_err(&fb, t->read_site, status, "read %s", peer);
    t->read_cb(t, status, e, NULL, 0, t->read_data);
    cf__io_err_free(e, &fb);
}

/*
 * Ask the reader where the next read lands (cf_tcp_read_start_into). Returns 1 with `b` set,
 * or 0 when reading is over: the reader stopped or closed inside `alloc`, or gave no memory
 * (then reported as CF_ENOBUFS).
 */
static int reader_buf(cf_tcp *t, cf_buf *b)
{
    b->base = NULL;
    b->len = 0;
    t->alloc_cb(t, CF__IO_READ_BUF, b, t->read_data);
    if (!(t->flags & T_READING) || t->fd < 0)
        return 0;
    if (!b->base || !b->len) {
        read_report_error(t, CF_ENOBUFS);
        return 0;
    }
    return 1;
}

/*
 * Readable: read into the loop's buffer (or the reader's) and hand the bytes over, up to 32
 * times (as libuv), until a read does not fill the buffer.
 */
static void on_readable(cf_tcp *t)
{
    cf__io_loop *s = cf__loop_slot(t->h.loop, CF__SLOT_IO);
    for (int i = 0; i < 32; i++) {
        cf_buf b = {s->rbuf, CF__IO_READ_BUF};
        if (t->alloc_cb && !reader_buf(t, &b))
            return;
        ssize_t n = cf__sys_read(t->fd, b.base, b.len);
        if (n == CF_EAGAIN) {
            if (t->alloc_cb) /* the reader may take its memory back */
                t->read_cb(t, 0, NULL, b.base, 0, t->read_data);
            return;
        }
        if (n <= 0) {
            read_report_error(t, n == 0 ? CF_EOF : (int)n);
            return;
        }
        t->read_cb(t, 0, NULL, b.base, (size_t)n, t->read_data);
        if (!(t->flags & T_READING) || (size_t)n < b.len)
            return;
    }
}

static int read_start(cf_tcp *t, cf_tcp_alloc_cb alloc, cf_tcp_read_cb cb, void *data, cf_site site)
{
    if (!t || !cb)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (!(t->flags & T_CONNECTED))
        return CF_ENOTCONN;
    if (t->flags & T_EOF)
        return CF_EOF;
    t->read_cb = cb;
    t->alloc_cb = alloc;
    t->read_data = data;
    t->read_site = site;
    t->flags |= T_READING;
    int rc = update_io(t);
    if (rc < 0) {
        t->flags &= ~T_READING;
        update_io(t);
    }
    return rc;
}

CF__NOINLINE int cf_tcp_read_start(cf_tcp *t, cf_tcp_read_cb cb, void *data)
{
    return read_start(t, NULL, cb, data, CF__SITE_CALLER());
}

CF__NOINLINE int cf_tcp_read_start_into(cf_tcp *t, cf_tcp_alloc_cb alloc, cf_tcp_read_cb cb,
                                        void *data)
{
    return cf__tcp_read_start_into_at(t, alloc, cb, data, CF__SITE_CALLER());
}

int cf__tcp_read_start_into_at(cf_tcp *t, cf_tcp_alloc_cb alloc, cf_tcp_read_cb cb, void *data,
                               cf_site site)
{
    if (!alloc)
        return CF_EINVAL;
    return read_start(t, alloc, cb, data, site);
}

int cf_tcp_read_stop(cf_tcp *t)
{
    if (!t)
        return CF_EINVAL;
    t->flags &= ~T_READING;
    update_io(t);
    return 0;
}

/* ---- connecting ---- */

struct conn_req {
    cf_tcp *t;                /* NULL once the handle is closed */
    cf_abort_controller *dns; /* aborts the lookup in flight; NULL when none */
    struct addrinfo *own;     /* copies of the resolved addresses (cf__calloc'ed, one per node) */
    struct addrinfo *next;
    struct sockaddr_storage one; /* a numeric address or a Unix path */
    socklen_t onelen;
    cf_abort_signal *signal; /* one reference while listening, or NULL */
    cf_abort_listener abort;
    int aborted; /* the signal aborted: the pending phase reports it */
    char *host;
    int port;
    int last_error;
};

/* Stop watching the connect's signal: a finished connect keeps no reference to it. */
static void conn_unwatch(conn_req *c)
{
    cf_abort_signal_unlisten(&c->abort);
    cf_abort_signal_release(c->signal);
    c->signal = NULL;
}

static void conn_req_free(conn_req *c)
{
    conn_unwatch(c);
    while (c->own) {
        struct addrinfo *n = c->own->ai_next;
        cf__free(c->own);
        c->own = n;
    }
    cf__free(c->host);
    cf__free(c);
}

/* The connect finished (status 0) or failed for good: report in the poll or pending phase. */
static void connect_report(cf_tcp *t, int status)
{
    conn_req *c = t->conn;
    t->conn = NULL;
    conn_unwatch(c);
    t->flags &= ~T_CONNECTING;
    char where[300];
    if (status == 0) {
        t->flags |= T_CONNECTED;
    } else {
        if (t->fd >= 0) {
            cf__io_close(t->h.loop, &t->io);
            close(t->fd);
            t->fd = -1;
        }
    }
    if (t->peerlen)
        cf__io_addr_text((struct sockaddr *)&t->peer, t->peerlen, where, sizeof where);
    else
        snprintf(where, sizeof where, "%s:%d", c->host, c->port);
    if (c->dns) {
        c->t = NULL; /* the lookup's callback frees c */
        cf_abort(c->dns, NULL);
    } else {
        conn_req_free(c);
    }
    if (status == 0 && !cf_queue_empty(&t->wq)) {
        int rc = flush(t);
        if (rc < 0) {
            t->error = rc;
            fail_writes(t, rc);
        }
    }
    if (status == 0 && (t->flags & T_ENDING) && cf_queue_empty(&t->wq)) {
        shutdown_now(t);
        t->pend_what |= PEND_END;
    }
    if (status < 0)
        fail_writes(t, status);
    update_io(t);
    if (!cf_queue_empty(&t->done) || (t->pend_what & PEND_END))
        schedule(t, PEND_WRITES);
    cf_tcp_cb cb = t->connect_cb;
    t->connect_cb = NULL;
    cf_error *aborted = t->connect_err;
    t->connect_err = NULL;
    cf_error fb;
    const cf_error *e = NULL;
    if (status && aborted)
        e = aborted;
    else if (status)
        e = cf__io_err(&fb, t->connect_site, status, "connect %s", where);
    cb(t, status, e, t->connect_data);
    if (aborted)
        cf_error_free(aborted);
    else
        cf__io_err_free(e, &fb);
}

static void connect_fail_later(cf_tcp *t, int status)
{
    t->connect_status = status;
    cf__io_stop(t->h.loop, &t->io, CF__IO_IN | CF__IO_OUT);
    schedule(t, PEND_CONNECT);
}

/* Start one connect(2). Returns 0 (in progress or done), or the error of this address. */
static int connect_one(cf_tcp *t, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cf_translate_sys_error(errno);
    memcpy(&t->peer, sa, len);
    t->peerlen = len;
    int rc = cf__sys_connect(fd, sa, len);
    if (rc < 0 && rc != -EINPROGRESS) {
        close(fd);
        return cf_translate_sys_error(-rc);
    }
    t->fd = fd;
    cf__io_init(&t->io, fd, io_cb);
    cf__io_set_lazy(&t->io); /* every close path calls cf__io_close */
    rc = cf__io_start(t->h.loop, &t->io, CF__IO_OUT);
    if (rc < 0) {
        close(fd);
        t->fd = -1;
        return rc;
    }
    return 0;
}

/* Try the remaining addresses in turn; report the last error when none is left. */
static void connect_next(cf_tcp *t, int in_call)
{
    conn_req *c = t->conn;
    for (;;) {
        const struct sockaddr *sa = NULL;
        socklen_t len = 0;
        if (c->onelen) {
            sa = (const struct sockaddr *)&c->one;
            len = c->onelen;
            c->onelen = 0;
        } else if (c->next) {
            sa = c->next->ai_addr;
            len = c->next->ai_addrlen;
            c->next = c->next->ai_next;
        }
        if (!sa)
            break;
        int rc = connect_one(t, sa, len);
        if (rc == 0)
            return;
        c->last_error = rc;
    }
    if (in_call)
        connect_fail_later(t, c->last_error);
    else
        connect_report(t, c->last_error);
}

/* The socket became writable while connecting: find out how it went. */
static void on_connect_ready(cf_tcp *t)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        connect_report(t, 0);
        return;
    }
    t->conn->last_error = cf_translate_sys_error(err);
    cf__io_close(t->h.loop, &t->io);
    close(t->fd);
    t->fd = -1;
    connect_next(t, 0);
}

static void on_resolved(int status, const cf_error *err, const struct addrinfo *res, void *data)
{
    (void)err;
    conn_req *c = data;
    cf_abort_free(c->dns);
    c->dns = NULL;
    cf_tcp *t = c->t;
    if (!t) {
        conn_req_free(c);
        return;
    }
    if (c->aborted)
        return; /* the pending phase reports the abort */
    if (status < 0) {
        connect_report(t, status);
        return;
    }
    /* The list is borrowed: keep a copy of the addresses we need. */
    struct addrinfo *copy = NULL;
    struct addrinfo **tail = &copy;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        struct addrinfo *n = cf__calloc(1, sizeof *n + a->ai_addrlen);
        if (!n)
            break;
        n->ai_family = a->ai_family;
        n->ai_addrlen = a->ai_addrlen;
        n->ai_addr = (struct sockaddr *)(n + 1);
        memcpy(n->ai_addr, a->ai_addr, a->ai_addrlen);
        *tail = n;
        tail = &n->ai_next;
    }
    c->own = copy;
    c->next = copy;
    c->last_error = copy ? CF_ENOTFOUND : CF_ENOMEM;
    connect_next(t, 0);
}

/*
 * The connect's signal aborted. This runs inside cf_abort, in the middle of the caller's code,
 * so the attempt stops now (the socket is closed) and the callback comes from the pending
 * phase, as every connect failure found inside a call does.
 */
static void on_connect_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    conn_req *c = l->data;
    cf_tcp *t = c->t;
    cf_abort_signal_release(c->signal);
    c->signal = NULL;
    if (!t || t->conn != c || c->aborted)
        return;
    c->aborted = 1;
    t->connect_err = abort_error(signal, t->connect_site);
    if (t->fd >= 0) {
        cf__io_close(t->h.loop, &t->io);
        close(t->fd);
        t->fd = -1;
    }
    connect_fail_later(t, CF_ECANCELED);
}

/* Parse a numeric IPv4/IPv6 address (or "localhost") into `ss`. Returns 0 or CF_EINVAL. */
static int parse_numeric(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!host || !*host || strcmp(host, "localhost") == 0)
        host = host && *host ? "127.0.0.1" : "0.0.0.0";
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
        return 0;
    }
    const char *h = host;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t hl = strlen(host);
    if (host[0] == '[' && hl >= 2 && hl < sizeof buf && host[hl - 1] == ']') {
        memcpy(buf, host + 1, hl - 2);
        buf[hl - 2] = '\0';
        h = buf;
    }
    if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    return CF_EINVAL;
}

static int connect_start(cf_tcp *t, conn_req *c, cf_abort_signal *signal)
{
    cf_loop *loop = t->h.loop;
    t->conn = c;
    t->flags |= T_CONNECTING;
    update_active(t);
    if (signal) {
        c->signal = cf_abort_signal_retain(signal);
        c->abort.data = c;
        if (cf_abort_signal_listen(signal, &c->abort, on_connect_abort) < 0) {
            /* Already aborted: fail from the loop without starting anything. */
            conn_unwatch(c);
            t->connect_err = abort_error(signal, t->connect_site);
            t->connect_status = CF_ECANCELED;
            schedule(t, PEND_CONNECT);
            return 0;
        }
    }
    if (c->onelen) {
        connect_next(t, 1);
        return 0;
    }
    char service[16];
    snprintf(service, sizeof service, "%d", c->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    /* Not through the wrapper: a failed lookup is reported as the connect's error. */
    int rc = cf_abort_new(&c->dns);
    if (rc < 0)
        return rc;
    rc = cf__dns_getaddrinfo_at(loop, c->host, service, &hints, cf_abort_get_signal(c->dns),
                                on_resolved, c, t->connect_site);
    if (rc < 0) {
        cf_abort_free(c->dns);
        c->dns = NULL;
    }
    return rc;
}

static int connect_check(const cf_tcp *t)
{
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (t->fd >= 0 || (t->flags & (T_CONNECTING | T_CONNECTED | T_LISTENING)))
        return CF_EINVAL;
    return 0;
}

static int connect_common(cf_tcp *t, conn_req *c, cf_abort_signal *signal, cf_tcp_cb cb, void *data,
                          cf_site site)
{
    t->connect_cb = cb;
    t->connect_data = data;
    t->connect_site = site;
    int rc = connect_start(t, c, signal);
    if (rc < 0) {
        t->conn = NULL;
        t->flags &= ~T_CONNECTING;
        if (t->fd >= 0) {
            cf__io_close(t->h.loop, &t->io);
            close(t->fd);
            t->fd = -1;
        }
        cf__loop_undefer(t->h.loop, &t->pend);
        t->pend_what = 0;
        conn_req_free(c);
        cf_error_free(t->connect_err);
        t->connect_err = NULL;
        update_active(t);
    }
    return rc;
}

static int connect_host(cf_tcp *t, const char *host, int port, cf_abort_signal *signal,
                        cf_tcp_cb cb, void *data, cf_site site)
{
    if (!t || !host || !cb || port < 0 || port > 65535)
        return CF_EINVAL;
    int rc = connect_check(t);
    if (rc < 0)
        return rc;
    conn_req *c = cf__calloc(1, sizeof *c);
    if (!c)
        return CF_ENOMEM;
    c->t = t;
    c->port = port;
    c->host = cf__strdup(host);
    if (!c->host) {
        cf__free(c);
        return CF_ENOMEM;
    }
    parse_numeric(host, port, &c->one, &c->onelen);
    if (!*host)
        c->onelen = 0;
    return connect_common(t, c, signal, cb, data, site);
}

CF__NOINLINE int cf_tcp_connect(cf_tcp *t, const char *host, int port, cf_abort_signal *signal,
                                cf_tcp_cb cb, void *data)
{
    return connect_host(t, host, port, signal, cb, data, CF__SITE_CALLER());
}

static int unix_addr(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof un->sun_path)
        return CF_EINVAL;
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static int connect_unix(cf_tcp *t, const char *path, cf_abort_signal *signal, cf_tcp_cb cb,
                        void *data, cf_site site)
{
    if (!t || !path || !cb)
        return CF_EINVAL;
    int rc = connect_check(t);
    if (rc < 0)
        return rc;
    conn_req *c = cf__calloc(1, sizeof *c);
    if (!c)
        return CF_ENOMEM;
    c->t = t;
    c->host = cf__strdup(path);
    if (!c->host || unix_addr(path, &c->one, &c->onelen) < 0) {
        rc = c->host ? CF_EINVAL : CF_ENOMEM;
        cf__free(c->host);
        cf__free(c);
        return rc;
    }
    t->flags |= T_UNIX;
    return connect_common(t, c, signal, cb, data, site);
}

CF__NOINLINE int cf_tcp_connect_unix(cf_tcp *t, const char *path, cf_abort_signal *signal,
                                     cf_tcp_cb cb, void *data)
{
    return connect_unix(t, path, signal, cb, data, CF__SITE_CALLER());
}

/* ---- listening and accepting ---- */

static void accept_error(cf_tcp *server, int status)
{
    cf_error fb;
    char where[128];
    cf__io_addr_text((struct sockaddr *)&server->peer, server->peerlen, where, sizeof where);
    const cf_error *e = cf__io_err(&fb, server->listen_site, status, "accept %s", where);
    server->conn_cb(server, status, e, NULL, server->conn_cb_data);
    cf__io_err_free(e, &fb);
}

/* Out of descriptors: give up the reserve one, accept and drop the waiting connections. */
static void emfile_trick(cf_tcp *server)
{
    cf__io_loop *s = cf__loop_slot(server->h.loop, CF__SLOT_IO);
    if (s->reserve_fd < 0)
        return;
    close(s->reserve_fd);
    s->reserve_fd = -1;
    for (;;) {
        int fd = cf__sys_accept(server->fd, NULL, NULL);
        if (fd < 0)
            break;
        close(fd);
    }
    s->reserve_fd = cf__sys_open("/", O_RDONLY | O_DIRECTORY, 0);
}

static void on_acceptable(cf_tcp *server)
{
    while ((server->flags & (T_LISTENING | T_ACCEPT_PAUSED)) == T_LISTENING &&
           !cf__handle_is_closing(&server->h)) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = cf__sys_accept(server->fd, (struct sockaddr *)&ss, &len);
        if (fd == CF_EAGAIN || fd == CF_ECONNABORTED)
            return;
        if (fd < 0) {
            if (fd == CF_EMFILE || fd == CF_ENFILE)
                emfile_trick(server);
            accept_error(server, fd);
            return;
        }
        cf_tcp *c;
        /* An accepted connection is named by the line that made its server. */
        if (tcp_alloc(server->h.loop, server->h.origin, &c) < 0) {
            close(fd);
            accept_error(server, CF_ENOMEM);
            return;
        }
        c->fd = fd;
        cf__io_init(&c->io, fd, io_cb);
        cf__io_set_lazy(&c->io); /* every close path calls cf__io_close */
        c->flags |= T_CONNECTED | (server->flags & T_UNIX);
        memcpy(&c->peer, &ss, len);
        c->peerlen = len;
        c->server = server;
        cf_queue_insert_tail(&server->conns, &c->srv_link);
        server->nconns++;
        server->conn_cb(server, 0, NULL, c, server->conn_cb_data);
    }
}

static int listen_adopt(cf_tcp *t, int fd, int lookup);

static int listen_fd(cf_tcp *t, const struct sockaddr *sa, socklen_t len, int backlog, int flags,
                     int lookup)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cf_translate_sys_error(errno);
    int on = 1;
    int rc = 0;
    if (sa->sa_family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if ((flags & CF_TCP_REUSEPORT) &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
            rc = cf_translate_sys_error(errno);
        if (sa->sa_family == AF_INET6) {
            int v6only = (flags & CF_TCP_IPV6ONLY) != 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
    }
    if (rc == 0 && bind(fd, sa, len) < 0)
        rc = cf_translate_sys_error(errno);
    if (rc == 0 && listen(fd, backlog > 0 ? backlog : 511) < 0)
        rc = cf_translate_sys_error(errno);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return listen_adopt(t, fd, lookup);
}

/* Watch the listening socket `fd` (taken: closed on failure) and accept from it. */
static int listen_adopt(cf_tcp *t, int fd, int lookup)
{
    int rc;
    t->fd = fd;
    t->peerlen = sizeof t->peer;
    if (getsockname(fd, (struct sockaddr *)&t->peer, &t->peerlen) < 0)
        t->peerlen = 0;
    cf__io_init(&t->io, fd, io_cb);
    cf__io_set_lazy(&t->io); /* every close path calls cf__io_close */
    t->flags |= T_LISTENING;
    rc = update_io(t);
    if (rc == 0)
        rc = listening_later(t, lookup);
    if (rc < 0) {
        t->flags &= ~T_LISTENING;
        cf__io_close(t->h.loop, &t->io);
        close(fd);
        t->fd = -1;
        update_active(t);
        return rc;
    }
    t->flags |= T_SERVER;
    return 0;
}

int cf__tcp_listen_at(cf_tcp *t, const char *host, int port, int backlog, int flags,
                      cf_tcp_connection_cb cb, void *data, cf_site site)
{
    if (!t || !cb || port < 0 || port > 65535)
        return CF_EINVAL;
    int rc = connect_check(t);
    if (rc < 0)
        return rc;
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_numeric(host, port, &ss, &len) < 0)
        return CF_EINVAL;
    t->conn_cb = cb;
    t->conn_cb_data = data;
    t->listen_site = site;
    return listen_fd(t, (struct sockaddr *)&ss, len, backlog, flags, host && *host);
}

/*
 * Several loops accepting from one listening socket: each loop's handle watches its own
 * duplicate of the descriptor (a loop's poller registers each descriptor once), and the
 * kernel hands each connection to whichever accept4 comes first.
 */
int cf__tcp_listen_fd_at(cf_tcp *t, int fd, cf_tcp_connection_cb cb, void *data, cf_site site)
{
    if (!t || !cb || fd < 0) {
        if (fd >= 0)
            close(fd);
        return CF_EINVAL;
    }
    int rc = connect_check(t);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    t->conn_cb = cb;
    t->conn_cb_data = data;
    t->listen_site = site;
    return listen_adopt(t, fd, 0);
}

int cf__tcp_accept_pause(cf_tcp *t, int paused)
{
    if (!(t->flags & T_LISTENING))
        return CF_EINVAL;
    if (paused)
        t->flags |= T_ACCEPT_PAUSED;
    else
        t->flags &= ~T_ACCEPT_PAUSED;
    int rc = update_io(t);
    if (paused && t->fd >= 0 && !t->io.events)
        cf__io_close(t->h.loop, &t->io); /* out of the poller now, not at the next connection */
    return rc;
}

CF__NOINLINE int cf_tcp_listen(cf_tcp *t, const char *host, int port, int backlog, int flags,
                               cf_tcp_connection_cb cb, void *data)
{
    return cf__tcp_listen_at(t, host, port, backlog, flags, cb, data, CF__SITE_CALLER());
}

CF__NOINLINE int cf_tcp_listen_unix(cf_tcp *t, const char *path, int backlog,
                                    cf_tcp_connection_cb cb, void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!t || !path || !cb)
        return CF_EINVAL;
    int rc = connect_check(t);
    if (rc < 0)
        return rc;
    struct sockaddr_storage ss;
    socklen_t len;
    if (unix_addr(path, &ss, &len) < 0)
        return CF_EINVAL;
    t->conn_cb = cb;
    t->conn_cb_data = data;
    t->listen_site = site;
    t->flags |= T_UNIX;
    return listen_fd(t, (struct sockaddr *)&ss, len, backlog, 0, 0);
}

/* ---- events ---- */

static void io_cb(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)loop;
    cf_tcp *t = CF_CONTAINER_OF(io, cf_tcp, io);
    if (t->flags & T_LISTENING) {
        on_acceptable(t);
        return;
    }
    if (t->flags & T_CONNECTING) {
        if (revents & (CF__IO_OUT | CF__IO_ERR | CF__IO_HUP))
            on_connect_ready(t);
        return;
    }
    if ((revents & (CF__IO_IN | CF__IO_ERR | CF__IO_HUP)) && (t->flags & T_READING))
        on_readable(t);
    if (cf__handle_is_closing(&t->h) || t->fd < 0)
        return;
    if ((revents & (CF__IO_OUT | CF__IO_ERR | CF__IO_HUP)) && !cf_queue_empty(&t->wq))
        on_writable(t);
}

static void run_pending(cf_loop *loop, cf__pending *p)
{
    (void)loop;
    cf_tcp *t = CF_CONTAINER_OF(p, cf_tcp, pend);
    unsigned what = t->pend_what;
    t->pend_what = 0;
    if (what & PEND_TURN)
        t->turn = 0;
    if (what & PEND_SRV_CLOSE) {
        server_close_run(t); /* may free `t` */
        return;
    }
    if (what & PEND_CONNECT) {
        connect_report(t, t->connect_status);
        if (cf__handle_is_closing(&t->h))
            return;
    }
    finish_writes(t);
    if ((what & PEND_END) && !cf__handle_is_closing(&t->h))
        report_end(t, t->end_status);
    if ((what & PEND_READER) && !cf__handle_is_closing(&t->h))
        reader_pending(t);
}

/* ---- options and addresses ---- */

int cf_tcp_nodelay(cf_tcp *t, int on)
{
    if (!t || t->fd < 0)
        return CF_EINVAL;
    if (t->flags & T_UNIX)
        return CF_ENOTSUP;
    on = on != 0;
    if (setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        return cf_translate_sys_error(errno);
    return 0;
}

int cf_tcp_keepalive(cf_tcp *t, int on, unsigned delay_s)
{
    if (!t || t->fd < 0)
        return CF_EINVAL;
    if (t->flags & T_UNIX)
        return CF_ENOTSUP;
    on = on != 0;
    if (setsockopt(t->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) < 0)
        return cf_translate_sys_error(errno);
    if (on && delay_s) {
        int d = (int)delay_s;
        if (setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPIDLE, &d, sizeof d) < 0)
            return cf_translate_sys_error(errno);
    }
    return 0;
}

static int name_of(const cf_tcp *t, int peer, char *buf, size_t len)
{
    if (!t || !buf || !len)
        return CF_EINVAL;
    if (t->fd < 0)
        return CF_ENOTCONN;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int rc = peer ? getpeername(t->fd, (struct sockaddr *)&ss, &sl)
                  : getsockname(t->fd, (struct sockaddr *)&ss, &sl);
    if (rc < 0)
        return cf_translate_sys_error(errno);
    char tmp[INET6_ADDRSTRLEN + 120];
    cf__io_addr_text((struct sockaddr *)&ss, sl, tmp, sizeof tmp);
    if (strlen(tmp) >= len)
        return CF_ENOBUFS;
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

int cf_tcp_peer_name(const cf_tcp *t, char *buf, size_t len)
{
    return name_of(t, 1, buf, len);
}

int cf_tcp_sock_name(const cf_tcp *t, char *buf, size_t len)
{
    return name_of(t, 0, buf, len);
}

int cf_tcp_port(const cf_tcp *t)
{
    if (!t || t->fd < 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(t->fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* ---- server lifecycle (≈ net.Server: 'listening', close(cb), getConnections) ---- */

/*
 * A server's memory goes once three things are over: its close callback, the close phase of
 * its handle, and every tick that names it (listening, connection counts).
 */
static void server_maybe_free(cf_tcp *t)
{
    unsigned both = T_SRV_CB_DONE | T_SRV_BASE_DONE;
    if ((t->flags & both) != both || t->srv_ticks)
        return;
    if (t->free_hook)
        t->free_hook(t, t->free_arg);
    cf__free(t);
}

static void server_close_run(cf_tcp *t)
{
    t->flags |= T_SRV_CB_DONE;
    if (t->close_cb)
        t->close_cb(t->close_data);
    server_maybe_free(t);
}

static void server_close_tick(void *data)
{
    cf_tcp *t = data;
    t->srv_ticks--;
    server_close_run(t);
}

/*
 * The server is closed and its last connection too: Node emits 'close' from a tick queued
 * right then (net.Server's emitCloseIfDrained), so the callback runs after the current
 * callback, before any promise reaction, and before the close phase. Out of memory for the
 * tick, the pending phase delivers it instead (the intrusive deferral cannot fail).
 */
static void server_close_later(cf_tcp *t)
{
    if (cf_next_tick(t->h.loop, server_close_tick, t) == 0) {
        t->srv_ticks++;
        return;
    }
    schedule(t, PEND_SRV_CLOSE);
}

/* An accepted connection is closing: it no longer counts for its server. */
static void conn_detach(cf_tcp *c)
{
    cf_tcp *server = c->server;
    c->server = NULL;
    cf_queue_remove(&c->srv_link);
    server->nconns--;
    if (server->nconns == 0 && cf__handle_is_closing(&server->h))
        server_close_later(server);
}

/* 'listening' (Node's emitListeningNT): not for a server closed meanwhile. */
static void listening_tick(void *data)
{
    cf_tcp *t = data;
    t->srv_ticks--;
    if (cf__handle_is_closing(&t->h)) {
        server_maybe_free(t);
        return;
    }
    t->listening_cb(t, 0, NULL, t->listening_data);
}

/*
 * With a host, Node first looks it up (dns.lookup answers an address from a tick), and
 * only the lookup's callback queues 'listening': a tick queued from a tick. This is that
 * first tick.
 */
static void listening_lookup_tick(void *data)
{
    cf_tcp *t = data;
    if (cf__handle_is_closing(&t->h)) {
        t->srv_ticks--;
        server_maybe_free(t);
        return;
    }
    if (cf_next_tick(t->h.loop, listening_tick, t) < 0)
        listening_tick(t); /* out of memory: we are in a tick already */
}

/* Queue the listening callback after a successful listen; 0 or CF_ENOMEM. */
static int listening_later(cf_tcp *t, int lookup)
{
    if (!t->listening_cb)
        return 0;
    int rc = cf_next_tick(t->h.loop, lookup ? listening_lookup_tick : listening_tick, t);
    if (rc == 0)
        t->srv_ticks++;
    return rc;
}

int cf_tcp_on_listening(cf_tcp *t, cf_tcp_cb cb, void *data)
{
    if (!t || !cb)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (t->listening_cb || (t->flags & (T_SERVER | T_CONNECTING | T_CONNECTED)))
        return CF_EBUSY;
    t->listening_cb = cb;
    t->listening_data = data;
    return 0;
}

size_t cf_tcp_connections(const cf_tcp *server)
{
    return server ? server->nconns : 0;
}

typedef struct count_req {
    cf_tcp *server;
    size_t n;
    cf_tcp_count_cb cb;
    void *data;
} count_req;

static void count_tick(void *data)
{
    count_req *r = data;
    cf_tcp *t = r->server;
    r->cb(t, r->n, r->data);
    cf__free(r);
    t->srv_ticks--;
    server_maybe_free(t);
}

int cf_tcp_get_connections(cf_tcp *server, cf_tcp_count_cb cb, void *data)
{
    if (!server || !cb || !(server->flags & T_SERVER))
        return CF_EINVAL;
    count_req *r = cf__malloc(sizeof *r);
    if (!r)
        return CF_ENOMEM;
    *r = (count_req){server, server->nconns, cb, data};
    if (cf_next_tick(server->h.loop, count_tick, r) < 0) {
        cf__free(r);
        return CF_ENOMEM;
    }
    server->srv_ticks++;
    return 0;
}

int cf_tcp_close_connections(cf_tcp *server, cf_close_cb cb, void *data)
{
    if (!server || !(server->flags & T_SERVER))
        return CF_EINVAL;
    int n = 0;
    while (!cf_queue_empty(&server->conns)) {
        cf_tcp *c = cf_queue_data(cf_queue_head(&server->conns), cf_tcp, srv_link);
        cf_tcp_close(c, cb, data); /* detaches `c` from the list */
        n++;
    }
    return n;
}

/* ---- close ---- */

static void tcp_closed(cf__handle *h)
{
    cf_tcp *t = CF_CONTAINER_OF(h, cf_tcp, h);
    cf_loop *loop = h->loop;
    if (!(t->pend_what & PEND_SRV_CLOSE))
        cf__loop_undefer(loop, &t->pend);
    if (t->connect_cb) {
        cf_tcp_cb cb = t->connect_cb;
        t->connect_cb = NULL;
        cf_error fb;
        char where[300];
        if (t->conn && t->conn->host)
            snprintf(where, sizeof where, "%s:%d", t->conn->host, t->conn->port);
        else
            snprintf(where, sizeof where, "?");
        cf_error *aborted = t->connect_err;
        t->connect_err = NULL;
        const cf_error *e =
            aborted ? aborted : cf__io_err(&fb, t->connect_site, CF_ECANCELED, "connect %s", where);
        cb(t, CF_ECANCELED, e, t->connect_data);
        if (aborted)
            cf_error_free(aborted);
        else
            cf__io_err_free(e, &fb);
    }
    if (t->conn) {
        conn_req *c = t->conn;
        t->conn = NULL;
        conn_unwatch(c);
        if (c->dns) {
            c->t = NULL;
            cf_abort(c->dns, NULL);
        } else {
            conn_req_free(c);
        }
    }
    fail_writes(t, CF_ECANCELED);
    while (!cf_queue_empty(&t->done)) {
        wreq *w = cf_queue_data(cf_queue_head(&t->done), wreq, link);
        cf_queue_remove(&w->link);
        report_write(t, w);
    }
    if (t->end_cb)
        report_end(t, (t->flags & T_ENDED) ? t->end_status : CF_ECANCELED);
    cf__tcp_reader_cancel(t);
    if (t->flags & T_SERVER) {
        /* A server's close callback waits for its connections (server_close_later). */
        t->flags |= T_SRV_BASE_DONE;
        server_maybe_free(t);
        return;
    }
    if (t->close_cb)
        t->close_cb(t->close_data);
    if (t->free_hook)
        t->free_hook(t, t->free_arg);
    cf__free(t);
}

int cf_tcp_close(cf_tcp *t, cf_close_cb cb, void *data)
{
    if (!t)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    t->close_cb = cb;
    t->close_data = data;
    t->flags &= ~(T_READING | T_LISTENING);
    if (t->server)
        conn_detach(t);
    if (t->conn)
        conn_unwatch(t->conn); /* an abort now changes nothing: the connect is cancelled */
    if (t->fd >= 0) {
        cf__io_close(t->h.loop, &t->io);
        close(t->fd);
        t->fd = -1;
    }
    cf__handle_close(&t->h, tcp_closed);
    if ((t->flags & T_SERVER) && t->nconns == 0)
        server_close_later(t);
    return 0;
}

/* ---- whole reads and promise forms ---- */

/*
 * A read that completes once: one chunk (cf_tcp_read_p) or everything (cf_tcp_read_all,
 * cf_tcp_read_all_p). The promise forms settle `p`; cf_tcp_read_all calls `cb`. A result found
 * inside a call (the end already read, an already aborted signal) or an abort (cf_abort runs in
 * the caller's code) reaches a callback from the pending phase (PEND_READER) with `pend_err`.
 */
struct cf__tcp_reader {
    cf_promise *p; /* the reader's reference; NULL for the callback form */
    cf_tcp_read_cb cb;
    void *cb_data;
    int all;
    cf_dbuf buf;
    cf_abort_signal *signal; /* one reference while listening, or NULL */
    cf_abort_listener abort;
    int pend_status;    /* PEND_READER: 0 (the end) or CF_ECANCELED (aborted) */
    cf_error *pend_err; /* with CF_ECANCELED: the abort error (NULL out of memory) */
};

static void reader_done(cf_tcp *t, int status, const cf_error *err, cf_buf *value)
{
    struct cf__tcp_reader *r = t->reader;
    t->reader = NULL;
    cf_abort_signal_unlisten(&r->abort);
    cf_abort_signal_release(r->signal);
    if (t->flags & T_READING) {
        t->flags &= ~T_READING;
        update_io(t);
    }
    update_active(t);
    cf__dbuf_free(&r->buf);
    cf_promise *p = r->p;
    cf_tcp_read_cb cb = r->cb;
    void *data = r->cb_data;
    cf__free(r);
    if (p) {
        cf__io_settle(p, status, err, value, cf_free);
        return;
    }
    cb(t, status, err, value ? value->base : NULL, value ? value->len : 0, data);
    cf_free(value);
}

static void reader_cb(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                      void *data)
{
    (void)data;
    struct cf__tcp_reader *r = t->reader;
    if (status == CF_EOF) {
        cf_buf *b = cf__io_buf_new(r->buf.data, r->buf.len);
        cf_error fb;
        const cf_error *e = b ? NULL : cf__io_err(&fb, t->read_site, CF_ENOMEM, "read");
        reader_done(t, b ? 0 : CF_ENOMEM, e, b);
        cf__io_err_free(e, &fb);
        return;
    }
    if (status < 0) {
        reader_done(t, status, err, NULL);
        return;
    }
    if (!r->all) {
        cf_buf *b = cf__io_buf_new(bytes, len);
        cf_error fb;
        const cf_error *e = b ? NULL : cf__io_err(&fb, t->read_site, CF_ENOMEM, "read");
        reader_done(t, b ? 0 : CF_ENOMEM, e, b);
        cf__io_err_free(e, &fb);
        return;
    }
    int rc = cf__dbuf_add(&r->buf, bytes, len);
    if (rc < 0) {
        char peer[128];
        peer_text(t, peer, sizeof peer);
        cf_error fb;
        const cf_error *e = cf__io_err(&fb, t->read_site, rc, "read %s", peer);
        reader_done(t, rc, e, NULL);
        cf__io_err_free(e, &fb);
    }
}

/* Deliver a reader's result that was decided inside a call or an abort (`pend_status`). */
static void reader_deliver(cf_tcp *t, int status)
{
    struct cf__tcp_reader *r = t->reader;
    cf_error *own = r->pend_err;
    r->pend_err = NULL;
    if (status == 0) {
        cf_buf *b = cf__io_buf_new("", 0);
        cf_error fb;
        const cf_error *e = b ? NULL : cf__io_err(&fb, t->read_site, CF_ENOMEM, "read");
        reader_done(t, b ? 0 : CF_ENOMEM, e, b);
        cf__io_err_free(e, &fb);
    } else if (own) {
        reader_done(t, status, own, NULL);
    } else {
        char peer[128];
        peer_text(t, peer, sizeof peer);
        cf_error fb;
        const cf_error *e = cf__io_err(&fb, t->read_site, status, "read %s", peer);
        reader_done(t, status, e, NULL);
        cf__io_err_free(e, &fb);
    }
    cf_error_free(own);
}

static void reader_pending(cf_tcp *t)
{
    if (t->reader && t->reader->pend_status <= 0 && !(t->flags & T_READING))
        reader_deliver(t, t->reader->pend_status);
}

void cf__tcp_reader_cancel(cf_tcp *t)
{
    if (!t->reader)
        return;
    if (t->reader->pend_err) { /* aborted before the close: the abort is what happened */
        reader_deliver(t, CF_ECANCELED);
        return;
    }
    char peer[128];
    peer_text(t, peer, sizeof peer);
    cf_error fb;
    const cf_error *e = cf__io_err(&fb, t->read_site, CF_ECANCELED, "read %s", peer);
    reader_done(t, CF_ECANCELED, e, NULL);
    cf__io_err_free(e, &fb);
}

/* The reader's signal aborted (inside cf_abort): stop reading; report from the loop. */
static void on_reader_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    cf_tcp *t = l->data;
    struct cf__tcp_reader *r = t->reader;
    cf_abort_signal_release(r->signal);
    r->signal = NULL;
    cf_error *e = abort_error(signal, t->read_site);
    if (r->p) { /* a promise's reactions come later anyway */
        reader_done(t, CF_ECANCELED, e, NULL);
        cf_error_free(e);
        return;
    }
    t->flags &= ~T_READING;
    update_io(t);
    r->pend_status = CF_ECANCELED;
    r->pend_err = e;
    schedule(t, PEND_READER);
}

static int reader_check(const cf_tcp *t)
{
    if (t->reader || (t->flags & T_READING))
        return CF_EBUSY;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (t->error)
        return t->error;
    if (!(t->flags & T_CONNECTED))
        return CF_ENOTCONN;
    return 0;
}

/*
 * Start a reader (`p` or `cb`). Returns 0 or the code it could not start with. The end already
 * read, or an already aborted `signal`, is delivered from the loop without reading.
 */
static int reader_start(cf_tcp *t, struct cf__tcp_reader *r, size_t max, cf_abort_signal *signal,
                        cf_site site)
{
    int rc = reader_check(t);
    if (rc < 0)
        return rc;
    cf__dbuf_init(&r->buf, max ? max : (size_t)64 << 20);
    r->pend_status = 1; /* nothing pending */
    t->reader = r;
    t->read_cb = reader_cb;
    t->alloc_cb = NULL;
    t->read_data = NULL;
    t->read_site = site;
    if (signal) {
        r->abort.data = t;
        if (cf_abort_signal_listen(signal, &r->abort, on_reader_abort) == 0) {
            r->signal = cf_abort_signal_retain(signal);
        } else {
            r->pend_status = CF_ECANCELED;
            r->pend_err = abort_error(signal, site);
        }
    }
    if (r->pend_status == 1 && (t->flags & T_EOF))
        r->pend_status = 0;
    if (r->pend_status <= 0) {
        update_active(t);
        schedule(t, PEND_READER);
        return 0;
    }
    t->flags |= T_READING;
    rc = update_io(t);
    if (rc < 0) {
        t->reader = NULL;
        t->flags &= ~T_READING;
        update_io(t);
        cf_abort_signal_unlisten(&r->abort);
        cf_abort_signal_release(r->signal);
    }
    return rc;
}

static cf_promise *read_p(cf_tcp *t, int all, size_t max, cf_abort_signal *signal, cf_site site)
{
    if (!t)
        return NULL;
    cf_promise *p = cf_promise_new(t->h.loop);
    if (!p)
        return NULL;
    if (cf_abort_signal_aborted(signal) && reader_check(t) == 0) {
        cf_error *e = abort_error(signal, site);
        cf_promise_reject(p, e ? e : CF_ERROR_AT(site, CF_ECANCELED, "read"));
        return p;
    }
    struct cf__tcp_reader *r = cf__calloc(1, sizeof *r);
    int rc = r ? 0 : CF_ENOMEM;
    if (r) {
        r->p = cf_promise_retain(p);
        r->all = all;
        rc = reader_start(t, r, max, signal, site);
        if (rc < 0) {
            cf__free(r);
            cf_promise_release(p);
        }
    }
    if (rc < 0) {
        char peer[128];
        peer_text(t, peer, sizeof peer);
        cf_promise_reject(p, CF_ERROR_SYS_AT(site, rc, "read %s", peer));
    }
    return p;
}

CF__NOINLINE cf_promise *cf_tcp_read_p(cf_tcp *t, cf_abort_signal *signal)
{
    return read_p(t, 0, 0, signal, CF__SITE_CALLER());
}

CF__NOINLINE cf_promise *cf_tcp_read_all_p(cf_tcp *t, size_t max, cf_abort_signal *signal)
{
    return read_p(t, 1, max, signal, CF__SITE_CALLER());
}

CF__NOINLINE int cf_tcp_read_all(cf_tcp *t, size_t max, cf_abort_signal *signal, cf_tcp_read_cb cb,
                                 void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!t || !cb)
        return CF_EINVAL;
    struct cf__tcp_reader *r = cf__calloc(1, sizeof *r);
    if (!r)
        return CF_ENOMEM;
    r->cb = cb;
    r->cb_data = data;
    r->all = 1;
    int rc = reader_start(t, r, max, signal, site);
    if (rc < 0)
        cf__free(r);
    return rc;
}

static void connect_settle_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    cf__io_settle(data, status, err, status == 0 ? t : NULL, NULL);
}

CF__NOINLINE cf_promise *cf_tcp_connect_p(cf_tcp *t, const char *host, int port,
                                          cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    if (!t)
        return NULL;
    cf_promise *p = cf_promise_new(t->h.loop);
    if (!p)
        return NULL;
    int rc = connect_host(t, host, port, signal, connect_settle_cb, cf_promise_retain(p), site);
    return cf__io_p_started(p, site, rc, "connect %s:%d", host ? host : "(null)", port);
}

CF__NOINLINE cf_promise *cf_tcp_connect_unix_p(cf_tcp *t, const char *path, cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    if (!t)
        return NULL;
    cf_promise *p = cf_promise_new(t->h.loop);
    if (!p)
        return NULL;
    int rc = connect_unix(t, path, signal, connect_settle_cb, cf_promise_retain(p), site);
    return cf__io_p_started(p, site, rc, "connect %s", path ? path : "(null)");
}

/*
 * A promise write or end with a signal: the promise may settle (aborted) before the stream
 * is done with the request, so the waiter, with the copy of the bytes, lives until the
 * stream's callback, which always comes (done, failed, or cancelled by the close).
 */
typedef struct waiter {
    cf_promise *p; /* NULL once settled */
    cf_abort_signal *signal;
    cf_abort_listener abort;
    cf_site site;
    char bytes[];
} waiter;

static void waiter_unwatch(waiter *w)
{
    cf_abort_signal_unlisten(&w->abort);
    cf_abort_signal_release(w->signal);
    w->signal = NULL;
}

static void waiter_cb(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)t;
    waiter *w = data;
    waiter_unwatch(w);
    if (w->p)
        cf__io_settle(w->p, status, err, NULL, NULL);
    cf__free(w);
}

static void on_waiter_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    waiter *w = l->data;
    cf_abort_signal_release(w->signal);
    w->signal = NULL;
    cf_error *e = abort_error(signal, w->site);
    cf_promise_reject(w->p, e ? e : CF_ERROR_AT(w->site, CF_ECANCELED, "aborted"));
    cf_promise_release(w->p);
    w->p = NULL;
}

/* A waiter for `p` (taking one reference), watching `signal`; NULL when memory is exhausted. */
static waiter *waiter_new(cf_promise *p, cf_abort_signal *signal, const void *bytes, size_t len,
                          cf_site site)
{
    waiter *w = cf__malloc(sizeof *w + len);
    if (!w)
        return NULL;
    memset(w, 0, sizeof *w);
    if (len)
        memcpy(w->bytes, bytes, len);
    w->p = cf_promise_retain(p);
    w->site = site;
    w->abort.data = w;
    if (signal && cf_abort_signal_listen(signal, &w->abort, on_waiter_abort) == 0)
        w->signal = cf_abort_signal_retain(signal);
    return w;
}

/* Reject `p` with the abort error of an already aborted `signal`; 1 when it did. */
static int rejected_aborted(cf_promise *p, const cf_abort_signal *signal, cf_site site)
{
    if (!cf_abort_signal_aborted(signal))
        return 0;
    cf_error *e = abort_error(signal, site);
    cf_promise_reject(p, e ? e : CF_ERROR_AT(site, CF_ECANCELED, "aborted"));
    return 1;
}

CF__NOINLINE cf_promise *cf_tcp_write_p(cf_tcp *t, const void *bytes, size_t len,
                                        cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    if (!t)
        return NULL;
    cf_promise *p = cf_promise_new(t->h.loop);
    if (!p || rejected_aborted(p, signal, site))
        return p;
    waiter *w = waiter_new(p, signal, bytes, len, site);
    if (!w) {
        cf_promise_reject(p, CF_ERROR_SYS_AT(site, CF_ENOMEM, "write"));
        return p;
    }
    cf_buf b = {w->bytes, len};
    int rc = tcp_write(t, &b, 1, waiter_cb, w, site);
    if (rc < 0) {
        waiter_unwatch(w);
        cf__free(w);
    }
    char peer[128];
    if (rc < 0)
        peer_text(t, peer, sizeof peer);
    return cf__io_p_started(p, site, rc, "write %s", rc < 0 ? peer : "");
}

CF__NOINLINE cf_promise *cf_tcp_end_p(cf_tcp *t, cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    if (!t)
        return NULL;
    cf_promise *p = cf_promise_new(t->h.loop);
    if (!p || rejected_aborted(p, signal, site))
        return p;
    waiter *w = waiter_new(p, signal, NULL, 0, site);
    if (!w) {
        cf_promise_reject(p, CF_ERROR_SYS_AT(site, CF_ENOMEM, "shutdown"));
        return p;
    }
    int rc = tcp_end(t, waiter_cb, w, site);
    if (rc < 0) {
        waiter_unwatch(w);
        cf__free(w);
    }
    char peer[128];
    if (rc < 0)
        peer_text(t, peer, sizeof peer);
    return cf__io_p_started(p, site, rc, "shutdown %s", rc < 0 ? peer : "");
}

static void close_settle_cb(void *data)
{
    cf__io_settle(data, 0, NULL, NULL, NULL);
}

CF__NOINLINE cf_promise *cf_tcp_close_p(cf_tcp *t)
{
    cf_site site = CF__SITE_CALLER();
    if (!t)
        return NULL;
    cf_promise *p = cf_promise_new(t->h.loop);
    if (!p)
        return NULL;
    int rc = cf_tcp_close(t, close_settle_cb, cf_promise_retain(p));
    return cf__io_p_started(p, site, rc, "close");
}
