/*
 * Streams wired together (calcifer/stream.h): pipe (≈ Readable.prototype.pipe), pipeline
 * (≈ stream.pipeline with a callback), finished (≈ end-of-stream), and the promise forms
 * that let a task write with backpressure and read chunk by chunk.
 *
 * Each of them is a record holding references on the streams it watches and listeners on
 * them; it removes its listeners and drops its references when it completes, so a stream
 * closed by its owner meanwhile stays allocated until then.
 *
 * pipe moves chunks without copying them when it is the only 'data' listener (it takes the
 * chunk flow() emits and queues it in the destination). A file read stream piped into a file
 * write stream moves no chunk at all: the source copies with copy_file_range (stream_fs.c).
 * pipeline counts one completion per stage (its 'close', or its 'error'): the first error
 * destroys every stage not yet done with that error (a copy each), and the callback runs on
 * the tick after the last stage is done, as Node's does.
 */
#include <string.h>

#include "io/stream.h"
#include "util/alloc.h"
#include "util/util.h"

/* ---- pipe ---- */

typedef struct pipe_rec {
    cf_stream *src;
    cf_stream *dst;
    int cleaned;
    int ondrain;
} pipe_rec;

static void pipe_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data);

static void pipe_pause(pipe_rec *p)
{
    if (!p->cleaned) {
        p->src->r.await_drain = p;
        cf_stream_pause(p->src);
    }
    if (!p->ondrain && cf_stream_on(p->dst, CF_STREAM_EV_DRAIN, pipe_event, p) == 0)
        p->ondrain = 1;
}

static void pipe_ondata(cf_stream *src, const void *chunk, size_t len, void *data)
{
    pipe_rec *p = data;
    cf__chunk *c = src->r.emitting;
    int rc;
    if (c && c->stealable && cf__stream_listener_count(src, CF_STREAM_EV_DATA) == 1) {
        src->r.stolen = 1;
        rc = cf__stream_write_chunk(p->dst, c);
    } else if (p->dst->w.objects || src->r.objects) {
        /* An object cannot be copied: it goes to one reader, so a pipe must be the only one. */
        cf_stream_destroy(src, CF_ERROR(CF_EINVAL, "pipe: an object-mode source piped while "
                                                   "another 'data' listener reads it"));
        return;
    } else {
        rc = cf_stream_write(p->dst, chunk, len);
    }
    if (rc != 0)
        pipe_pause(p);
}

cf_stream *cf__stream_pipe_direct(const cf_stream *s)
{
    const cf__rstate *r = &s->r;
    /* The conditions under which add_chunk emits a chunk rather than buffering it. */
    if (!s->has_r || r->flowing != 1 || r->length != 0 || r->sync || r->ended || s->destroyed ||
        s->errored)
        return NULL;
    const cf__listener *only = NULL;
    for (const cf__listener *l = s->lhead; l; l = l->next) {
        if (l->dead || l->ev != CF_STREAM_EV_DATA)
            continue;
        if (only)
            return NULL;
        only = l;
    }
    if (!only || only->dcb != pipe_ondata)
        return NULL;
    const pipe_rec *p = only->data;
    return p->cleaned ? NULL : p->dst;
}

static void pipe_cleanup(pipe_rec *p)
{
    if (p->cleaned)
        return;
    p->cleaned = 1;
    cf_stream_off(p->src, CF_STREAM_EV_DATA, (cf_stream_event_cb)(void (*)(void))pipe_ondata, p);
    cf_stream_off(p->src, CF_STREAM_EV_END, pipe_event, p);
    cf_stream_off(p->dst, CF_STREAM_EV_CLOSE, pipe_event, p);
    cf_stream_off(p->dst, CF_STREAM_EV_FINISH, pipe_event, p);
    cf_stream_off(p->dst, CF_STREAM_EV_ERROR, pipe_event, p);
    if (p->ondrain)
        cf_stream_off(p->dst, CF_STREAM_EV_DRAIN, pipe_event, p);
    if (p->src->r.await_drain == p)
        p->src->r.await_drain = NULL;
    if (--p->src->r.npipes == 0)
        cf_stream_pause(p->src);
    cf__stream_release(p->src);
    cf__stream_release(p->dst);
    cf__free(p);
}

static void pipe_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    pipe_rec *p = data;
    (void)err;
    if (ev == CF_STREAM_EV_END && s == p->src) {
        cf_stream_end(p->dst);
    } else if (ev == CF_STREAM_EV_DRAIN) {
        cf__rstate *r = &p->src->r;
        if (r->await_drain == p)
            r->await_drain = NULL;
        if (!r->await_drain && cf__stream_listener_count(p->src, CF_STREAM_EV_DATA))
            cf_stream_resume(p->src);
    } else {
        pipe_cleanup(p); /* the destination failed, finished or closed: unpipe */
    }
}

int cf_stream_pipe(cf_stream *src, cf_stream *dst)
{
    if (!src || !dst || !src->has_r || !dst->has_w)
        return CF_EINVAL;
    pipe_rec *p = cf__calloc(1, sizeof *p);
    if (!p)
        return CF_ENOMEM;
    p->src = src;
    p->dst = dst;
    int rc = cf_stream_on(src, CF_STREAM_EV_END, pipe_event, p);
    if (rc == 0)
        rc = cf__stream_on_data_internal(src, pipe_ondata, p);
    if (rc == 0)
        rc = cf_stream_on(dst, CF_STREAM_EV_ERROR, pipe_event, p);
    if (rc == 0)
        rc = cf_stream_on(dst, CF_STREAM_EV_CLOSE, pipe_event, p);
    if (rc == 0)
        rc = cf_stream_on(dst, CF_STREAM_EV_FINISH, pipe_event, p);
    cf__stream_hold(src);
    cf__stream_hold(dst);
    src->r.npipes++;
    if (rc < 0) {
        pipe_cleanup(p);
        return rc;
    }
    if (src->r.end_emitted)
        cf_stream_end(dst);
    else if (cf__stream_fs_link(src, dst))
        cf_stream_resume(src); /* file to file: the source copies in the kernel, no chunks */
    else if (dst->w.need_drain)
        pipe_pause(p);
    else if (src->r.flowing != 1)
        cf_stream_resume(src);
    return 0;
}

/* ---- finished (≈ eos) ---- */

/* The outcome of a stream that closed: its error, a premature close, or NULL. */
static cf_error *close_outcome(const cf_stream *s, int readable, int writable)
{
    if (s->errored)
        return cf_error_copy(s->destroy_err ? s->destroy_err : s->errored);
    if ((readable && !cf__stream_readable_done(s)) || (writable && !cf__stream_writable_done(s)))
        return cf__stream_premature_close();
    return NULL;
}

typedef struct eos_rec {
    cf_stream *s;
    cf_stream_cb cb;
    void *data;
    cf_promise *p;
    cf_abort_signal *signal;
    cf_abort_listener al;
    int done;
} eos_rec;

static void eos_complete(eos_rec *e, cf_error *err)
{
    if (e->done) {
        cf_error_free(err);
        return;
    }
    e->done = 1;
    cf_stream *s = e->s;
    cf_abort_signal_unlisten(&e->al);
    cf_abort_signal_release(e->signal);
    if (e->p) {
        if (err)
            cf_promise_reject(e->p, err);
        else
            cf_promise_resolve(e->p, NULL, NULL);
        cf_promise_release(e->p);
    } else {
        e->cb(s, err ? err->code : 0, err, e->data);
        cf_error_free(err);
    }
}

static void eos_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    eos_rec *e = data;
    cf_error *out =
        ev == CF_STREAM_EV_ERROR ? cf_error_copy(err) : close_outcome(s, s->has_r, s->has_w);
    if (ev == CF_STREAM_EV_ERROR && !out)
        out = CF_ERROR(CF_ENOMEM, NULL);
    cf_stream_off(s, CF_STREAM_EV_ERROR, eos_event, e);
    cf_stream_off(s, CF_STREAM_EV_CLOSE, eos_event, e);
    eos_complete(e, out);
    cf__stream_release(s);
    cf__free(e);
}

static void eos_closed_tick(void *data)
{
    eos_rec *e = data;
    eos_complete(e, close_outcome(e->s, e->s->has_r, e->s->has_w));
    cf__stream_release(e->s);
    cf__free(e);
}

static void eos_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    eos_rec *e = l->data;
    cf_stream *s = e->s;
    cf_stream_off(s, CF_STREAM_EV_ERROR, eos_event, e);
    cf_stream_off(s, CF_STREAM_EV_CLOSE, eos_event, e);
    eos_complete(e, cf_abort_signal_error(signal));
    cf__stream_release(s);
    cf__free(e);
}

static int eos_start(eos_rec *e)
{
    cf_stream *s = e->s;
    cf__stream_hold(s);
    if (s->close_emitted)
        return cf_next_tick(s->loop, eos_closed_tick, e);
    int rc = cf_stream_on(s, CF_STREAM_EV_ERROR, eos_event, e);
    if (rc == 0)
        rc = cf_stream_on(s, CF_STREAM_EV_CLOSE, eos_event, e);
    if (rc < 0)
        return rc;
    if (e->signal) {
        e->al.data = e;
        rc = cf_abort_signal_listen(e->signal, &e->al, eos_abort);
    }
    return rc;
}

static eos_rec *eos_new(cf_stream *s, cf_abort_signal *signal)
{
    eos_rec *e = cf__calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->s = s;
    e->signal = cf_abort_signal_retain(signal);
    return e;
}

static void eos_fail_start(eos_rec *e)
{
    cf_stream *s = e->s;
    cf_stream_off(s, CF_STREAM_EV_ERROR, eos_event, e);
    cf_stream_off(s, CF_STREAM_EV_CLOSE, eos_event, e);
    cf_abort_signal_release(e->signal);
    cf__stream_release(s);
    cf__free(e);
}

int cf_stream_finished(cf_stream *s, cf_abort_signal *signal, cf_stream_cb cb, void *data)
{
    if (!s || !cb)
        return CF_EINVAL;
    if (signal && cf_abort_signal_aborted(signal))
        return CF_ECANCELED;
    eos_rec *e = eos_new(s, signal);
    if (!e)
        return CF_ENOMEM;
    e->cb = cb;
    e->data = data;
    int rc = eos_start(e);
    if (rc < 0)
        eos_fail_start(e);
    return rc;
}

cf_promise *cf_stream_finished_p(cf_stream *s, cf_abort_signal *signal)
{
    if (!s)
        return NULL;
    cf_promise *p = cf_promise_new(s->loop);
    if (!p)
        return NULL;
    if (signal && cf_abort_signal_aborted(signal)) {
        cf_promise_reject(p, cf_abort_signal_error(signal));
        return p;
    }
    eos_rec *e = eos_new(s, signal);
    if (!e) {
        cf_promise_reject(p, NULL);
        return p;
    }
    e->p = cf_promise_retain(p);
    int rc = eos_start(e);
    if (rc < 0) {
        cf_promise_release(p);
        eos_fail_start(e);
        cf_promise_reject(p, CF_ERROR(rc, "finished: cannot watch the stream"));
    }
    return p;
}

/* ---- pipeline ---- */

typedef struct pl_rec pl_rec;

typedef struct pl_stage {
    pl_rec *pl;
    cf_stream *s;
    size_t i;
    int done;
} pl_stage;

struct pl_rec {
    cf_loop *loop;
    size_t n;
    size_t remaining;
    pl_stage *stages;
    cf_error *error;
    int error_premature;
    cf_stream_cb cb;
    void *data;
    cf_promise *p;
    cf_abort_signal *signal;
    cf_abort_listener al;
};

static void pl_stage_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data);

static void pl_callback(void *data)
{
    pl_rec *pl = data;
    cf_error *err = pl->error;
    cf_stream *last = pl->stages[pl->n - 1].s;
    if (pl->p) {
        if (err)
            cf_promise_reject(pl->p, err);
        else
            cf_promise_resolve(pl->p, NULL, NULL);
        cf_promise_release(pl->p);
    } else {
        pl->cb(last, err ? err->code : 0, err, pl->data);
        cf_error_free(err);
    }
    for (size_t i = 0; i < pl->n; i++)
        cf__stream_release(pl->stages[i].s);
    cf__free(pl->stages);
    cf__free(pl);
}

static void pl_destroy_all(pl_rec *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        pl_stage *st = &pl->stages[i];
        if (!st->done && !st->s->destroyed)
            cf_stream_destroy(st->s, cf_error_copy(pl->error));
    }
}

/* Record an outcome (`err` taken, NULL for success); the first error tears everything down. */
static void pl_set_error(pl_rec *pl, cf_error *err, int premature)
{
    if (!err)
        return;
    if (pl->error && !(pl->error_premature && !premature)) {
        cf_error_free(err);
        return;
    }
    int first = pl->error == NULL;
    cf_error_free(pl->error);
    pl->error = err;
    pl->error_premature = premature;
    if (first)
        pl_destroy_all(pl);
}

static void pl_stage_done(pl_stage *st, cf_error *err, int premature)
{
    pl_rec *pl = st->pl;
    st->done = 1;
    cf_stream_off(st->s, CF_STREAM_EV_ERROR, pl_stage_event, st);
    cf_stream_off(st->s, CF_STREAM_EV_CLOSE, pl_stage_event, st);
    pl_set_error(pl, err, premature);
    if (--pl->remaining > 0)
        return;
    cf_abort_signal_unlisten(&pl->al);
    cf_abort_signal_release(pl->signal);
    pl->signal = NULL;
    if (cf_next_tick(pl->loop, pl_callback, pl) < 0)
        pl_callback(pl); /* no memory for the tick: report now rather than never */
}

static void pl_stage_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    pl_stage *st = data;
    if (st->done)
        return;
    if (ev == CF_STREAM_EV_ERROR) {
        cf_error *e = cf_error_copy(err);
        pl_stage_done(st, e ? e : CF_ERROR(CF_ENOMEM, NULL), 0);
        return;
    }
    int readable = st->i + 1 < st->pl->n;
    int writable = st->i > 0;
    cf_error *out = close_outcome(s, readable, writable);
    int premature = out && !s->errored;
    pl_stage_done(st, out, premature);
}

static void pl_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    pl_rec *pl = l->data;
    pl_set_error(pl, cf_abort_signal_error(signal), 0);
}

static int pl_check(cf_stream *const *streams, size_t n)
{
    if (!streams || n < 2)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!streams[i])
            return CF_EINVAL;
        if (i + 1 < n && !streams[i]->has_r)
            return CF_EINVAL;
        if (i > 0 && !streams[i]->has_w)
            return CF_EINVAL;
    }
    return 0;
}

static void pl_free_unstarted(pl_rec *pl, size_t listened)
{
    for (size_t i = 0; i < listened; i++) {
        cf_stream_off(pl->stages[i].s, CF_STREAM_EV_ERROR, pl_stage_event, &pl->stages[i]);
        cf_stream_off(pl->stages[i].s, CF_STREAM_EV_CLOSE, pl_stage_event, &pl->stages[i]);
    }
    cf_abort_signal_release(pl->signal);
    cf__free(pl->stages);
    cf__free(pl);
}

static int pl_listen(pl_rec *pl)
{
    size_t i = 0;
    for (; i < pl->n; i++) {
        pl_stage *st = &pl->stages[i];
        int rc = cf_stream_on(st->s, CF_STREAM_EV_ERROR, pl_stage_event, st);
        if (rc == 0)
            rc = cf_stream_on(st->s, CF_STREAM_EV_CLOSE, pl_stage_event, st);
        if (rc < 0) {
            pl_free_unstarted(pl, i + 1);
            return rc;
        }
    }
    return 0;
}

/* Start a pipeline whose completion is `pl->cb` or `pl->p`; `pl` is consumed either way. */
static int pl_start(pl_rec *pl, cf_stream *const *streams)
{
    for (size_t i = 0; i < pl->n; i++) {
        pl->stages[i].pl = pl;
        pl->stages[i].s = streams[i];
        pl->stages[i].i = i;
    }
    int rc = pl_listen(pl);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < pl->n; i++)
        cf__stream_hold(streams[i]);
    for (size_t i = 0; i + 1 < pl->n; i++) {
        rc = cf_stream_pipe(streams[i], streams[i + 1]);
        if (rc < 0)
            pl_set_error(pl, CF_ERROR(rc, "pipeline: cannot pipe stage %zu", i), 0);
    }
    for (size_t i = 0; i < pl->n; i++) {
        if (streams[i]->close_emitted && !pl->stages[i].done)
            pl_stage_event(streams[i], CF_STREAM_EV_CLOSE, NULL, &pl->stages[i]);
    }
    if (pl->signal) {
        pl->al.data = pl;
        if (cf_abort_signal_listen(pl->signal, &pl->al, pl_abort) < 0)
            pl_set_error(pl, cf_abort_signal_error(pl->signal), 0);
    }
    return 0;
}

static pl_rec *pl_new(cf_stream *const *streams, size_t n, cf_abort_signal *signal)
{
    pl_rec *pl = cf__calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    pl->stages = cf__calloc(n, sizeof *pl->stages);
    if (!pl->stages) {
        cf__free(pl);
        return NULL;
    }
    pl->loop = streams[0]->loop;
    pl->n = n;
    pl->remaining = n;
    pl->signal = cf_abort_signal_retain(signal);
    return pl;
}

int cf_stream_pipeline(cf_stream *const *streams, size_t n, cf_abort_signal *signal,
                       cf_stream_cb cb, void *data)
{
    if (!cb || pl_check(streams, n) < 0)
        return CF_EINVAL;
    pl_rec *pl = pl_new(streams, n, signal);
    if (!pl)
        return CF_ENOMEM;
    pl->cb = cb;
    pl->data = data;
    return pl_start(pl, streams);
}

cf_promise *cf_stream_pipeline_p(cf_stream *const *streams, size_t n, cf_abort_signal *signal)
{
    if (!streams || n == 0 || !streams[0])
        return NULL;
    cf_promise *p = cf_promise_new(streams[0]->loop);
    if (!p)
        return NULL;
    if (pl_check(streams, n) < 0) {
        cf_promise_reject(p, CF_ERROR(CF_EINVAL, "pipeline: invalid stages"));
        return p;
    }
    pl_rec *pl = pl_new(streams, n, signal);
    if (!pl) {
        cf_promise_reject(p, NULL);
        return p;
    }
    pl->p = cf_promise_retain(p);
    int rc = pl_start(pl, streams);
    if (rc < 0) {
        cf_promise_release(p);
        cf_promise_reject(p, CF_ERROR(rc, "pipeline: cannot start"));
    }
    return p;
}

/* ---- a task's reads and writes (promise forms) ---- */

typedef struct waiter {
    cf_stream *s;
    cf_promise *p;
    cf_abort_signal *signal;
    cf_abort_listener al;
    int reading; /* read_p (else write_p) */
} waiter;

static void waiter_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data);

static const cf_stream_event waiter_events[] = {CF_STREAM_EV_READABLE, CF_STREAM_EV_END,
                                                CF_STREAM_EV_DRAIN, CF_STREAM_EV_ERROR,
                                                CF_STREAM_EV_CLOSE};

static void waiter_settle(waiter *w, int status, void *value, void (*dtor)(void *), cf_error *err)
{
    for (size_t i = 0; i < sizeof waiter_events / sizeof waiter_events[0]; i++)
        cf_stream_off(w->s, waiter_events[i], waiter_event, w);
    cf_abort_signal_unlisten(&w->al);
    cf_abort_signal_release(w->signal);
    if (status < 0)
        cf_promise_reject(w->p, err);
    else
        cf_promise_resolve(w->p, value, dtor);
    cf_promise_release(w->p);
    cf__stream_release(w->s);
    cf__free(w);
}

/* What a read gives now: 1 when it settled the waiter, 0 to wait. */
static int waiter_try_read(waiter *w)
{
    cf_stream *s = w->s;
    if (s->destroyed) {
        if (s->errored)
            waiter_settle(w, -1, NULL, NULL,
                          cf_error_copy(s->destroy_err ? s->destroy_err : s->errored));
        else if (cf__stream_readable_done(s))
            waiter_settle(w, 0, NULL, NULL, NULL);
        else
            waiter_settle(w, -1, NULL, NULL, cf__stream_premature_close());
        return 1;
    }
    cf__chunk *c = cf__stream_read_chunk(s);
    if (c && s->r.objects) {
        void *obj = c->obj;
        c->obj = NULL;
        cf__chunk_free(c);
        waiter_settle(w, 0, obj, s->free_object, NULL);
        return 1;
    }
    if (c) {
        waiter_settle(w, 0, &c->buf, cf__chunk_free_buf, NULL);
        return 1;
    }
    if (s->r.ended && s->r.length == 0) {
        waiter_settle(w, 0, NULL, NULL, NULL);
        return 1;
    }
    return 0;
}

static void waiter_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    waiter *w = data;
    if (ev == CF_STREAM_EV_ERROR) {
        cf_error *e = cf_error_copy(err);
        waiter_settle(w, -1, NULL, NULL, e);
    } else if (w->reading) {
        if (!waiter_try_read(w) && ev == CF_STREAM_EV_CLOSE)
            waiter_settle(w, -1, NULL, NULL, cf__stream_premature_close());
    } else if (ev == CF_STREAM_EV_DRAIN) {
        waiter_settle(w, 0, NULL, NULL, NULL);
    } else if (ev == CF_STREAM_EV_CLOSE) {
        cf_error *e = s->errored ? cf_error_copy(s->errored) : cf__stream_premature_close();
        waiter_settle(w, -1, NULL, NULL, e);
    }
}

static void waiter_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    waiter *w = l->data;
    w->al._signal = NULL;
    waiter_settle(w, -1, NULL, NULL, cf_abort_signal_error(signal));
}

/* Wait for the events of `w` (read: readable, end, error, close; write: drain, error, close). */
static void waiter_wait(waiter *w)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof waiter_events / sizeof waiter_events[0] && rc == 0; i++) {
        cf_stream_event ev = waiter_events[i];
        if (w->reading ? ev == CF_STREAM_EV_DRAIN
                       : ev == CF_STREAM_EV_READABLE || ev == CF_STREAM_EV_END)
            continue;
        rc = cf_stream_on(w->s, ev, waiter_event, w);
    }
    if (rc == 0 && w->signal) {
        w->al.data = w;
        if (cf_abort_signal_listen(w->signal, &w->al, waiter_abort) < 0) {
            waiter_settle(w, -1, NULL, NULL, cf_abort_signal_error(w->signal));
            return;
        }
    }
    if (rc < 0)
        waiter_settle(w, -1, NULL, NULL, CF_ERROR(rc, "stream: cannot wait"));
}

static waiter *waiter_new(cf_stream *s, cf_promise *p, cf_abort_signal *signal, int reading)
{
    waiter *w = cf__calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->s = s;
    w->p = cf_promise_retain(p);
    w->signal = cf_abort_signal_retain(signal);
    w->reading = reading;
    cf__stream_hold(s);
    return w;
}

static void iter_readable(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    (void)ev;
    (void)err;
    (void)data;
}

cf_promise *cf_stream_read_p(cf_stream *s, cf_abort_signal *signal)
{
    if (!s)
        return NULL;
    cf_promise *p = cf_promise_new(s->loop);
    if (!p)
        return NULL;
    if (!s->has_r) {
        cf_promise_reject(p, CF_ERROR(CF_EINVAL, "read: the stream has no readable side"));
        return p;
    }
    if (signal && cf_abort_signal_aborted(signal)) {
        cf_promise_reject(p, cf_abort_signal_error(signal));
        return p;
    }
    if (!s->iterating) { /* ≈ the async iterator's on('readable'): paused mode */
        s->iterating = 1;
        cf_stream_on(s, CF_STREAM_EV_READABLE, iter_readable, NULL);
    }
    waiter *w = waiter_new(s, p, signal, 1);
    if (!w) {
        cf_promise_reject(p, NULL);
        return p;
    }
    if (!waiter_try_read(w))
        waiter_wait(w);
    return p;
}

cf_promise *cf_stream_write_p(cf_stream *s, const void *bytes, size_t len, cf_abort_signal *signal)
{
    if (!s)
        return NULL;
    cf_promise *p = cf_promise_new(s->loop);
    if (!p)
        return NULL;
    if (signal && cf_abort_signal_aborted(signal)) {
        cf_promise_reject(p, cf_abort_signal_error(signal));
        return p;
    }
    int rc = cf_stream_write(s, bytes, len);
    if (rc < 0) {
        const cf_error *e = s->has_w ? s->errored : NULL;
        cf_promise_reject(p, e ? cf_error_copy(e) : CF_ERROR(rc, "write: %s", cf_strerror(rc)));
        return p;
    }
    if (rc == 0) {
        cf_promise_resolve(p, NULL, NULL);
        return p;
    }
    if (s->destroyed) {
        cf_promise_reject(p, s->errored ? cf_error_copy(s->errored) : cf__stream_premature_close());
        return p;
    }
    waiter *w = waiter_new(s, p, signal, 0);
    if (!w) {
        cf_promise_reject(p, NULL);
        return p;
    }
    waiter_wait(w);
    return p;
}
