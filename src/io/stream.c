/*
 * Streams (calcifer/stream.h): the state machines of Node's Readable and Writable, ported
 * from lib/internal/streams/{readable,writable,destroy,transform}.js of Node 20 so that
 * events come in Node's order and on Node's ticks (the traces of
 * tests/conformance/streams/ check it).
 *
 * A stream holds a readable state `r` (a queue of chunks, its length against a high-water
 * mark, flowing or paused) and/or a writable state `w` (the chunk being written, the chunks
 * buffered behind it, the end sequence: final, prefinish, finish). Both sides share one
 * destroyed/errored/closed state, as Node's Duplex effectively does. Everything Node defers
 * with process.nextTick is a cf_next_tick here, each holding a reference on the stream.
 *
 * Listeners form a list in registration order. An emit calls the listeners that exist when
 * it starts; a listener removed meanwhile is skipped and freed once no emit runs.
 *
 * Lifetime: `refs` counts the caller's reference (until cf_stream_close) and every pending
 * tick, pipe and waiter. When it drops to zero after 'close' was emitted, a last tick runs
 * the close callback and frees the stream, so nothing frees it under a running call.
 */
#include <string.h>

#include "io/stream.h"
#include "util/alloc.h"
#include "util/util.h"

#define MAX_HWM ((size_t)1 << 30)

static void destroy_impl(cf_stream *s, cf_error *err);
static cf__chunk *do_read(cf_stream *s, long long n);
static void flow(cf_stream *s);
static void finish_maybe(cf_stream *s, int sync);
static void onwrite(cf_stream *s, cf_error *er);
static void emit_readable(cf_stream *s);
static void maybe_read_more(cf_stream *s);
static void end_readable(cf_stream *s);
static void stream_resume(cf_stream *s);
static void n_reading_next_tick(cf_stream *s);

/* ---- chunks ---- */

cf__chunk *cf__chunk_take(void *mem, size_t len)
{
    cf__chunk *c = cf__calloc(1, sizeof *c);
    if (!c) {
        cf__free(mem);
        return NULL;
    }
    c->mem = mem;
    c->buf.base = mem;
    c->buf.len = len;
    return c;
}

cf__chunk *cf__chunk_bytes(const void *bytes, size_t len)
{
    char *mem = cf__malloc(len ? len : 1);
    if (!mem)
        return NULL;
    if (len)
        memcpy(mem, bytes, len);
    return cf__chunk_take(mem, len);
}

cf__chunk *cf__chunk_object(void *obj, void (*free_object)(void *))
{
    cf__chunk *c = cf__calloc(1, sizeof *c);
    if (!c) {
        if (free_object)
            free_object(obj);
        return NULL;
    }
    c->obj = obj;
    c->buf.len = 1;
    c->free_object = free_object;
    return c;
}

void cf__chunk_free(cf__chunk *c)
{
    if (!c)
        return;
    if (c->obj && c->free_object)
        c->free_object(c->obj);
    if (c->release)
        c->release(c->mem, c->release_ctx);
    else
        cf__free(c->mem);
    cf__free(c);
}

void cf__chunk_free_buf(void *buf)
{
    cf__chunk_free((cf__chunk *)buf);
}

static void q_push(cf__cqueue *q, cf__chunk *c)
{
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

static cf__chunk *q_shift(cf__cqueue *q)
{
    cf__chunk *c = q->head;
    if (c) {
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        c->next = NULL;
    }
    return c;
}

static void q_clear(cf__cqueue *q)
{
    cf__chunk *c;
    while ((c = q_shift(q)) != NULL)
        cf__chunk_free(c);
}

static size_t chunk_size(int objects, const cf__chunk *c)
{
    return objects ? 1 : c->buf.len;
}

/* ---- references and ticks ---- */

static void free_now(void *p)
{
    cf_stream *s = p;
    if (s->close_cb)
        s->close_cb(s->close_data);
    q_clear(&s->r.buffer);
    q_clear(&s->w.buffered);
    q_clear(&s->w.batch);
    cf__free(s->w.vec);
    cf__chunk_free(s->w.current);
    for (cf__listener *l = s->lhead; l;) {
        cf__listener *next = l->next;
        cf__free(l);
        l = next;
    }
    cf_error_free(s->errored);
    cf_error_free(s->destroy_err);
    if (s->impl->free_data)
        s->impl->free_data(s->data);
    cf__loop_closer_remove(&s->closer);
    cf__free(s);
}

void cf__stream_hold(cf_stream *s)
{
    s->refs++;
}

void cf__stream_release(cf_stream *s)
{
    CF_ASSERT(s->refs > 0);
    if (--s->refs > 0 || !s->close_called || !s->close_emitted || s->freeing)
        return;
    s->freeing = 1;
    if (cf_next_tick(s->loop, free_now, s) < 0)
        free_now(s); /* no memory for the tick: nothing else refers to the stream */
}

typedef void (*tick_fn)(cf_stream *s);

/* A tick that holds a reference: the function and the stream travel in a small record. */
typedef struct tick_rec {
    cf_stream *s;
    tick_fn fn;
} tick_rec;

static void run_tick(void *p)
{
    tick_rec t = *(tick_rec *)p;
    cf__free(p);
    t.fn(t.s);
    cf__stream_release(t.s);
}

static void tick(cf_stream *s, tick_fn fn)
{
    tick_rec *t = cf__malloc(sizeof *t);
    if (!t)
        return; /* out of memory: the event is lost, as an allocation failure in Node aborts */
    t->s = s;
    t->fn = fn;
    s->refs++;
    if (cf_next_tick(s->loop, run_tick, t) < 0) {
        s->refs--;
        cf__free(t);
    }
}

/* ---- listeners ---- */

static void sweep_listeners(cf_stream *s)
{
    cf__listener **pp = &s->lhead;
    s->ltail = NULL;
    while (*pp) {
        cf__listener *l = *pp;
        if (l->dead) {
            *pp = l->next;
            cf__free(l);
            continue;
        }
        s->ltail = l;
        pp = &l->next;
    }
}

static int add_listener(cf_stream *s, int ev, cf_stream_event_cb cb, cf_stream_data_cb dcb,
                        void *data)
{
    cf__listener *l = cf__calloc(1, sizeof *l);
    if (!l)
        return CF_ENOMEM;
    l->ev = ev;
    l->cb = cb;
    l->dcb = dcb;
    l->data = data;
    if (s->ltail)
        s->ltail->next = l;
    else
        s->lhead = l;
    s->ltail = l;
    return 0;
}

int cf__stream_listener_count(const cf_stream *s, int ev)
{
    int n = 0;
    for (const cf__listener *l = s->lhead; l; l = l->next)
        n += !l->dead && l->ev == ev;
    return n;
}

static void emit(cf_stream *s, cf_stream_event ev, const cf_error *err)
{
    cf__listener *last = s->ltail;
    if (!last)
        return;
    s->emitting++;
    s->refs++;
    for (cf__listener *l = s->lhead; l; l = l->next) {
        if (!l->dead && l->ev == (int)ev && l->cb)
            l->cb(s, ev, err, l->data);
        if (l == last)
            break;
    }
    if (--s->emitting == 0)
        sweep_listeners(s);
    cf__stream_release(s);
}

/* Emit 'data' with `c`. Returns 1 when a pipe took the chunk (then `c` may be gone). */
static int emit_data(cf_stream *s, cf__chunk *c)
{
    cf__listener *last = s->ltail;
    if (!last)
        return 0;
    s->emitting++;
    s->refs++;
    cf__chunk *saved = s->r.emitting;
    int saved_stolen = s->r.stolen;
    s->r.emitting = c;
    s->r.stolen = 0;
    const void *p = s->r.objects ? c->obj : (const void *)c->buf.base;
    size_t len = c->buf.len;
    for (cf__listener *l = s->lhead; l && !s->r.stolen; l = l->next) {
        if (!l->dead && l->ev == CF_STREAM_EV_DATA && l->dcb)
            l->dcb(s, p, len, l->data);
        if (l == last)
            break;
    }
    int stolen = s->r.stolen;
    s->r.emitting = saved;
    s->r.stolen = saved_stolen;
    if (--s->emitting == 0)
        sweep_listeners(s);
    cf__stream_release(s);
    return stolen;
}

/* What do_read returns for a chunk a pipe took: not NULL, never to be touched. */
static cf__chunk stolen_marker;

/* ---- create ---- */

static int check_impl(cf_stream_kind kind, const cf_stream_impl *impl)
{
    if (!impl)
        return CF_EINVAL;
    if (kind == CF_STREAM_TRANSFORM)
        return 0;
    if ((kind & CF_STREAM_READABLE) && !impl->read)
        return CF_EINVAL;
    if ((kind & CF_STREAM_WRITABLE) && !impl->write)
        return CF_EINVAL;
    return 0;
}

static size_t pick_hwm(size_t side, size_t both, int objects)
{
    size_t v = side ? side : both;
    if (v)
        return v;
    return objects ? CF_STREAM_HIGH_WATER_OBJECTS : CF_STREAM_HIGH_WATER;
}

CF__NOINLINE int cf_stream_new(cf_loop *loop, cf_stream_kind kind, const cf_stream_impl *impl,
                               const cf_stream_options *opts, void *data, cf_stream **out)
{
    return cf__stream_new_at(CF__SITE_CALLER(), loop, kind, impl, opts, data, out);
}

cf_error *cf__stream_at(const cf_stream *s, cf_error *e)
{
    if (e && s && s->site.pc) {
        e->file = NULL; /* static strings: nothing to free */
        e->func = NULL;
        cf__error_set_site(e, s->site);
    }
    return e;
}

/*
 * cf__loop_close_all: what the stream's owner has not closed yet is closed for it
 * (cf_stream_close: destroyed, the caller's reference dropped); the stream is freed once its
 * ticks and pipes have let it go. Once is enough.
 */
static void stream_close_all(cf__loop_closer *cl)
{
    cf_stream *s = CF_CONTAINER_OF(cl, cf_stream, closer);
    cf__loop_closer_remove(cl);
    if (!s->close_called)
        (void)cf_stream_close(s, NULL, NULL);
}

int cf__stream_new_at(cf_site site, cf_loop *loop, cf_stream_kind kind, const cf_stream_impl *impl,
                      const cf_stream_options *opts, void *data, cf_stream **out)
{
    if (!loop || !out ||
        (kind != CF_STREAM_READABLE && kind != CF_STREAM_WRITABLE && kind != CF_STREAM_DUPLEX &&
         kind != CF_STREAM_TRANSFORM))
        return CF_EINVAL;
    if (check_impl(kind, impl) < 0)
        return CF_EINVAL;
    cf_stream_options o = {0};
    if (opts)
        o = *opts;
    cf_stream *s = cf__calloc(1, sizeof *s);
    if (!s)
        return CF_ENOMEM;
    s->loop = loop;
    s->kind = kind;
    s->impl = impl;
    s->data = data;
    s->flags = o.flags;
    s->free_object = o.free_object;
    s->has_r = (kind & CF_STREAM_READABLE) != 0;
    s->has_w = (kind & CF_STREAM_WRITABLE) != 0;
    s->r.objects = (o.flags & (CF_STREAM_OBJECTS | CF_STREAM_READABLE_OBJECTS)) != 0;
    s->w.objects = (o.flags & (CF_STREAM_OBJECTS | CF_STREAM_WRITABLE_OBJECTS)) != 0;
    s->r.hwm = pick_hwm(o.readable_high_water, o.high_water, s->r.objects);
    s->w.hwm = pick_hwm(o.writable_high_water, o.high_water, s->w.objects);
    s->r.flowing = -1;
    s->r.sync = kind != CF_STREAM_TRANSFORM; /* ≈ Transform sets readableState.sync = false */
    s->r.need_readable = 0;
    s->refs = 1;
    s->site = site;
    cf__loop_closer_add(loop, &s->closer, stream_close_all);
    *out = s;
    return 0;
}

cf_loop *cf_stream_loop(const cf_stream *s)
{
    return s ? s->loop : NULL;
}

cf_stream_kind cf_stream_get_kind(const cf_stream *s)
{
    return s ? s->kind : (cf_stream_kind)0;
}

void *cf_stream_data(const cf_stream *s)
{
    return s ? s->data : NULL;
}

/* ---- events ---- */

int cf_stream_on(cf_stream *s, cf_stream_event ev, cf_stream_event_cb cb, void *data)
{
    if (!s || !cb || ev <= CF_STREAM_EV_DATA || ev >= CF_STREAM_EV_COUNT)
        return CF_EINVAL;
    int rc = add_listener(s, ev, cb, NULL, data);
    if (rc < 0 || ev != CF_STREAM_EV_READABLE || !s->has_r)
        return rc;
    /* ≈ Readable.prototype.on('readable'). */
    cf__rstate *r = &s->r;
    if (!r->end_emitted && !r->readable_listening) {
        r->readable_listening = 1;
        r->need_readable = 1;
        r->flowing = 0;
        r->emitted_readable = 0;
        if (r->length)
            emit_readable(s);
        else if (!r->reading)
            tick(s, n_reading_next_tick);
    }
    return 0;
}

int cf__stream_on_data_internal(cf_stream *s, cf_stream_data_cb cb, void *data)
{
    return add_listener(s, CF_STREAM_EV_DATA, NULL, cb, data);
}

int cf_stream_on_data(cf_stream *s, cf_stream_data_cb cb, void *data)
{
    if (!s || !cb || !s->has_r)
        return CF_EINVAL;
    int rc = add_listener(s, CF_STREAM_EV_DATA, NULL, cb, data);
    if (rc < 0)
        return rc;
    /* ≈ Readable.prototype.on('data'). */
    s->r.readable_listening = cf__stream_listener_count(s, CF_STREAM_EV_READABLE) > 0;
    if (s->r.flowing != 0)
        stream_resume(s);
    return 0;
}

int cf_stream_off(cf_stream *s, cf_stream_event ev, cf_stream_event_cb cb, void *data)
{
    if (!s)
        return CF_EINVAL;
    cf__listener *found = NULL;
    for (cf__listener *l = s->lhead; l; l = l->next) {
        int same = ev == CF_STREAM_EV_DATA ? (void *)l->dcb == (void *)cb : l->cb == cb;
        if (!l->dead && l->ev == (int)ev && same && l->data == data)
            found = l;
    }
    if (!found)
        return CF_ENOENT;
    found->dead = 1;
    if (!s->emitting)
        sweep_listeners(s);
    if (ev == CF_STREAM_EV_READABLE && s->has_r &&
        cf__stream_listener_count(s, CF_STREAM_EV_READABLE) == 0) {
        /* ≈ updateReadableListening: back to flowing if data listeners remain. */
        s->r.readable_listening = 0;
        if (s->r.flowing == 0 && !s->r.paused && cf__stream_listener_count(s, CF_STREAM_EV_DATA))
            stream_resume(s);
    }
    return 0;
}

/* ---- the readable side (≈ readable.js) ---- */

static void emit_readable_tick(cf_stream *s)
{
    cf__rstate *r = &s->r;
    if (!s->destroyed && !s->errored && (r->length || r->ended)) {
        emit(s, CF_STREAM_EV_READABLE, NULL);
        r->emitted_readable = 0;
    }
    r->need_readable = r->flowing != 1 && !r->ended && r->length <= r->hwm;
    flow(s);
}

static void emit_readable(cf_stream *s)
{
    s->r.need_readable = 0;
    if (!s->r.emitted_readable) {
        s->r.emitted_readable = 1;
        tick(s, emit_readable_tick);
    }
}

static void maybe_read_more_tick(cf_stream *s)
{
    cf__rstate *r = &s->r;
    while (!r->reading && !r->ended && (r->length < r->hwm || (r->flowing == 1 && !r->length))) {
        size_t len = r->length;
        cf__chunk_free(do_read(s, 0));
        if (len == r->length)
            break;
    }
    r->reading_more = 0;
}

static void maybe_read_more(cf_stream *s)
{
    if (!s->r.reading_more) {
        s->r.reading_more = 1;
        tick(s, maybe_read_more_tick);
    }
}

static void add_chunk(cf_stream *s, cf__chunk *c)
{
    cf__rstate *r = &s->r;
    if (r->flowing == 1 && r->length == 0 && !r->sync &&
        cf__stream_listener_count(s, CF_STREAM_EV_DATA) > 0) {
        r->await_drain = NULL;
        r->data_emitted = 1;
        c->stealable = 1;
        if (!emit_data(s, c))
            cf__chunk_free(c);
    } else {
        r->length += chunk_size(r->objects, c);
        q_push(&r->buffer, c);
        if (r->need_readable)
            emit_readable(s);
    }
    maybe_read_more(s);
}

static void on_eof_chunk(cf_stream *s)
{
    cf__rstate *r = &s->r;
    if (r->ended)
        return;
    r->ended = 1;
    if (r->sync) {
        emit_readable(s);
    } else {
        r->need_readable = 0;
        r->emitted_readable = 1;
        emit_readable_tick(s);
    }
}

/* ≈ readableAddChunk; `c` NULL is the end. Takes `c`. */
static int add_readable(cf_stream *s, cf__chunk *c)
{
    cf__rstate *r = &s->r;
    if (!c) {
        r->reading = 0;
        on_eof_chunk(s);
    } else if (r->ended) {
        cf__chunk_free(c);
        cf__stream_error_or_destroy(s, CF_ERROR(CF_EPIPE, "stream.push() after EOF"));
        return CF_EPIPE;
    } else if (s->destroyed || s->errored) {
        cf__chunk_free(c);
        return CF_ECLOSED;
    } else if (!r->objects && c->buf.len == 0) {
        cf__chunk_free(c);
        r->reading = 0;
        maybe_read_more(s);
    } else {
        r->reading = 0;
        add_chunk(s, c);
    }
    return !r->ended && (r->length < r->hwm || r->length == 0) ? 0 : CF_STREAM_FULL;
}

int cf_stream_push(cf_stream *s, const void *bytes, size_t len)
{
    if (!s || !s->has_r || s->r.objects || (!bytes && len))
        return CF_EINVAL;
    cf__chunk *c = cf__chunk_bytes(bytes, len);
    return c ? add_readable(s, c) : CF_ENOMEM;
}

int cf_stream_push_take(cf_stream *s, void *bytes, size_t len)
{
    if (!s || !s->has_r || s->r.objects || (!bytes && len)) {
        cf__free(bytes);
        return CF_EINVAL;
    }
    cf__chunk *c = cf__chunk_take(bytes, len);
    return c ? add_readable(s, c) : CF_ENOMEM;
}

int cf__stream_push_lent(cf_stream *s, void *mem, size_t len, void (*release)(void *, void *),
                         void *ctx)
{
    if (!s || !s->has_r || s->r.objects || !mem) {
        release(mem, ctx);
        return CF_EINVAL;
    }
    cf__chunk *c = cf__calloc(1, sizeof *c);
    if (!c) {
        release(mem, ctx);
        return CF_ENOMEM;
    }
    c->mem = mem;
    c->buf.base = mem;
    c->buf.len = len;
    c->release = release;
    c->release_ctx = ctx;
    return add_readable(s, c);
}

int cf_stream_push_object(cf_stream *s, void *obj)
{
    if (!s || !s->has_r || !s->r.objects || !obj) {
        if (s && obj && s->free_object)
            s->free_object(obj);
        return CF_EINVAL;
    }
    cf__chunk *c = cf__chunk_object(obj, s->free_object);
    return c ? add_readable(s, c) : CF_ENOMEM;
}

int cf_stream_push_end(cf_stream *s)
{
    if (!s || !s->has_r)
        return CF_EINVAL;
    if (s->destroyed)
        return CF_ECLOSED;
    add_readable(s, NULL);
    return 0;
}

/* ≈ howMuchToRead; n -1 stands for undefined (NaN). */
static long long how_much_to_read(const cf_stream *s, long long n)
{
    const cf__rstate *r = &s->r;
    if ((n >= 0 && n <= 0) || (r->length == 0 && r->ended))
        return 0;
    if (r->objects)
        return 1;
    if (n < 0) {
        if (r->flowing == 1 && r->length)
            return (long long)r->buffer.head->buf.len;
        return (long long)r->length;
    }
    if ((size_t)n <= r->length)
        return n;
    return r->ended ? (long long)r->length : 0;
}

/* Take `n` bytes (n <= length) off the front of the buffer as one chunk (≈ fromList). */
static cf__chunk *from_list(cf_stream *s, size_t n)
{
    cf__rstate *r = &s->r;
    if (r->length == 0)
        return NULL;
    cf__chunk *first = r->buffer.head;
    if (r->objects || n == first->buf.len)
        return q_shift(&r->buffer);
    if (n < first->buf.len) {
        cf__chunk *c = cf__chunk_bytes(first->buf.base, n);
        if (c) {
            first->buf.base += n;
            first->buf.len -= n;
        }
        return c;
    }
    char *mem = cf__malloc(n);
    if (!mem)
        return NULL;
    size_t got = 0;
    while (got < n) {
        cf__chunk *h = r->buffer.head;
        size_t take = h->buf.len < n - got ? h->buf.len : n - got;
        memcpy(mem + got, h->buf.base, take);
        got += take;
        h->buf.base += take;
        h->buf.len -= take;
        if (h->buf.len == 0)
            cf__chunk_free(q_shift(&r->buffer));
    }
    return cf__chunk_take(mem, n);
}

static void call_read(cf_stream *s);

/* read(0) with the buffer full or ended: ask for 'readable' or the end; returns 1 if so. */
static int read_zero_shortcut(cf_stream *s, long long n)
{
    cf__rstate *r = &s->r;
    if (n != 0 || !r->need_readable ||
        !((r->hwm != 0 ? r->length >= r->hwm : r->length > 0) || r->ended))
        return 0;
    if (r->length == 0 && r->ended)
        end_readable(s);
    else
        emit_readable(s);
    return 1;
}

/* Call the read hook when the buffer is under the mark; returns the bytes to take now. */
static long long maybe_call_read(cf_stream *s, long long n, long long n_orig)
{
    cf__rstate *r = &s->r;
    int doit = r->need_readable || r->length == 0 || r->length - (size_t)n < r->hwm;
    if (r->ended || r->reading || s->destroyed || s->errored || !doit)
        return n;
    r->reading = 1;
    r->sync = 1;
    if (r->length == 0)
        r->need_readable = 1;
    call_read(s);
    r->sync = 0;
    return r->reading ? n : how_much_to_read(s, n_orig);
}

/* ≈ Readable.prototype.read(n) with n -1 for read(); returns the chunk, owned by the caller. */
static cf__chunk *do_read(cf_stream *s, long long n)
{
    cf__rstate *r = &s->r;
    long long n_orig = n;
    if (n > 0 && (size_t)n > r->hwm) {
        size_t h = 1;
        while (h < (size_t)n && h < MAX_HWM)
            h <<= 1;
        r->hwm = h;
    }
    if (n != 0)
        r->emitted_readable = 0;
    if (read_zero_shortcut(s, n))
        return NULL;
    n = how_much_to_read(s, n);
    if (n == 0 && r->ended) {
        if (r->length == 0)
            end_readable(s);
        return NULL;
    }
    n = maybe_call_read(s, n, n_orig);
    cf__chunk *ret = n > 0 ? from_list(s, (size_t)n) : NULL;
    if (!ret) {
        r->need_readable = r->length <= r->hwm;
        n = 0;
    } else {
        r->length -= r->objects ? 1 : (size_t)n;
        r->await_drain = NULL;
    }
    if (r->length == 0) {
        if (!r->ended)
            r->need_readable = 1;
        if (n_orig != n && r->ended)
            end_readable(s);
    }
    if (ret && !s->error_emitted && !s->close_emitted) {
        r->data_emitted = 1;
        ret->stealable = r->in_flow;
        if (emit_data(s, ret))
            return &stolen_marker;
    }
    return ret;
}

static void n_reading_next_tick(cf_stream *s)
{
    cf__chunk_free(do_read(s, 0));
}

static void flow(cf_stream *s)
{
    while (s->r.flowing == 1) {
        s->r.in_flow = 1;
        cf__chunk *c = do_read(s, -1);
        s->r.in_flow = 0;
        if (!c)
            break;
        if (c != &stolen_marker)
            cf__chunk_free(c);
    }
}

static void end_readable_tick(cf_stream *s);

static void end_readable(cf_stream *s)
{
    if (!s->r.end_emitted) {
        s->r.ended = 1;
        tick(s, end_readable_tick);
    }
}

static int writable_open(const cf_stream *s)
{
    return s->has_w && !s->destroyed && !s->errored && !s->w.ending && !s->w.ended;
}

static void end_writable_tick(cf_stream *s)
{
    if (writable_open(s))
        cf_stream_end(s);
}

static void end_readable_tick(cf_stream *s)
{
    cf__rstate *r = &s->r;
    if (s->errored || s->close_emitted || r->end_emitted || r->length != 0)
        return;
    r->end_emitted = 1;
    emit(s, CF_STREAM_EV_END, NULL);
    if (writable_open(s) && (s->flags & CF_STREAM_NO_HALF_OPEN))
        tick(s, end_writable_tick);
    else if (!s->has_w || s->w.finished)
        destroy_impl(s, NULL);
}

static void resume_tick(cf_stream *s)
{
    cf__rstate *r = &s->r;
    if (!r->reading)
        cf__chunk_free(do_read(s, 0));
    r->resume_scheduled = 0;
    emit(s, CF_STREAM_EV_RESUME, NULL);
    flow(s);
    if (r->flowing == 1 && !r->reading)
        cf__chunk_free(do_read(s, 0));
}

static void stream_resume(cf_stream *s)
{
    cf__rstate *r = &s->r;
    if (r->flowing != 1) {
        r->flowing = !r->readable_listening;
        if (!r->resume_scheduled) {
            r->resume_scheduled = 1;
            tick(s, resume_tick);
        }
    }
    r->paused = 0;
}

int cf_stream_resume(cf_stream *s)
{
    if (!s || !s->has_r)
        return CF_EINVAL;
    stream_resume(s);
    return 0;
}

int cf_stream_pause(cf_stream *s)
{
    if (!s || !s->has_r)
        return CF_EINVAL;
    if (s->r.flowing != 0) {
        s->r.flowing = 0;
        emit(s, CF_STREAM_EV_PAUSE, NULL);
    }
    s->r.paused = 1;
    return 0;
}

int cf_stream_is_paused(const cf_stream *s)
{
    return s && s->r.paused;
}

cf__chunk *cf__stream_read_chunk(cf_stream *s)
{
    return do_read(s, -1);
}

int cf_stream_read(cf_stream *s, size_t n, cf_buf *out)
{
    if (!s || !s->has_r || s->r.objects || !out)
        return CF_EINVAL;
    cf__chunk *c = do_read(s, n ? (long long)n : -1);
    if (!c)
        return 0;
    if (c->buf.base == c->mem && !c->release) {
        out->base = c->mem;
        out->len = c->buf.len;
        c->mem = NULL;
    } else {
        out->base = cf__malloc(c->buf.len ? c->buf.len : 1);
        out->len = c->buf.len;
        if (out->base && c->buf.len)
            memcpy(out->base, c->buf.base, c->buf.len);
    }
    cf__chunk_free(c);
    return out->base ? 1 : CF_ENOMEM;
}

int cf_stream_read_object(cf_stream *s, void **out)
{
    if (!s || !s->has_r || !s->r.objects || !out)
        return CF_EINVAL;
    cf__chunk *c = do_read(s, -1);
    if (!c)
        return 0;
    *out = c->obj;
    c->obj = NULL;
    cf__chunk_free(c);
    return 1;
}

int cf__stream_readable_done(const cf_stream *s)
{
    return s->r.end_emitted || (s->r.ended && s->r.length == 0);
}

/* ---- the writable side (≈ writable.js) ---- */

static int need_finish(const cf_stream *s)
{
    const cf__wstate *w = &s->w;
    return w->ending && !s->destroyed && w->length == 0 && !s->errored && !w->buffered.head &&
           !w->finished && !w->writing && !s->error_emitted && !s->close_emitted;
}

static void transform_write(cf_stream *s, cf__chunk *c)
{
    s->t_length = s->r.length;
    s->op = CF__OP_TRANSFORM;
    const void *p = s->w.objects ? c->obj : (const void *)c->buf.base;
    if (s->impl->transform) {
        s->impl->transform(s, p, c->buf.len, s->data);
        return;
    }
    int rc = s->r.objects ? CF_EINVAL : cf_stream_push(s, p, c->buf.len);
    cf_stream_done(s, rc < 0 ? CF_ERROR(rc, "pass-through push failed") : NULL);
}

static void do_write(cf_stream *s, cf__chunk *c)
{
    cf__wstate *w = &s->w;
    w->writelen = chunk_size(w->objects, c);
    w->current = c;
    w->writing = 1;
    w->sync = 1;
    if (s->destroyed) {
        onwrite(s, CF_ERROR(CF_ECLOSED, "Cannot call write after a stream was destroyed"));
    } else if (s->kind == CF_STREAM_TRANSFORM) {
        transform_write(s, c);
    } else {
        s->op = CF__OP_WRITE;
        s->impl->write(s, w->objects ? c->obj : (const void *)c->buf.base, c->buf.len, s->data);
    }
    w->sync = 0;
}

/* Make room for `n` entries in the writev vector. Returns 0 or CF_ENOMEM. */
static int vec_reserve(cf__wstate *w, size_t n)
{
    if (n <= w->vec_cap)
        return 0;
    cf_buf *v = cf__realloc(w->vec, n * sizeof *v);
    if (!v)
        return CF_ENOMEM;
    w->vec = v;
    w->vec_cap = n;
    return 0;
}

/*
 * ≈ the _writev branch of Node's clearBuffer: when the implementation has a writev hook and
 * at least two byte chunks wait, hand them over in one call (up to CF_STREAM_WRITEV_MAX). As
 * in Node, the batch counts as one pending write, so pending_cb drops by n - 1 now, and its
 * completion is one cf_stream_done. Returns 1 when a batch started, 0 to write one chunk.
 */
static int write_batch(cf_stream *s)
{
    cf__wstate *w = &s->w;
    if (!s->impl->writev || w->objects || s->kind == CF_STREAM_TRANSFORM || !w->buffered.head->next)
        return 0;
    size_t n = 0;
    for (cf__chunk *c = w->buffered.head; c && n < CF_STREAM_WRITEV_MAX; c = c->next)
        n++;
    if (vec_reserve(w, n) < 0)
        return 0; /* no memory for the vector: one chunk at a time still works */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        cf__chunk *c = q_shift(&w->buffered);
        q_push(&w->batch, c);
        w->vec[i] = c->buf;
        total += c->buf.len;
    }
    w->pending_cb -= (int)n - 1;
    w->writelen = total;
    w->writing = 1;
    w->sync = 1;
    s->op = CF__OP_WRITE;
    s->impl->writev(s, w->vec, n, s->data);
    w->sync = 0;
    return 1;
}

size_t cf__stream_write_gather(cf_stream *s, const cf_buf **vec)
{
    cf__wstate *w = &s->w;
    *vec = NULL;
    if (!w->writing || !w->current || s->op != CF__OP_WRITE || w->objects || !s->impl->writev)
        return 0;
    size_t n = 1;
    for (cf__chunk *c = w->buffered.head; c && n < CF_STREAM_WRITEV_MAX; c = c->next)
        n++;
    if (vec_reserve(w, n) < 0)
        return 0;
    q_push(&w->batch, w->current);
    w->vec[0] = w->current->buf;
    w->current = NULL;
    for (size_t i = 1; i < n; i++) {
        cf__chunk *c = q_shift(&w->buffered);
        q_push(&w->batch, c);
        w->vec[i] = c->buf;
        w->writelen += c->buf.len;
    }
    w->pending_cb -= (int)n - 1;
    *vec = w->vec;
    return n;
}

static void clear_buffer(cf_stream *s)
{
    cf__wstate *w = &s->w;
    if (w->buffer_processing || s->destroyed || !w->buffered.head)
        return;
    w->buffer_processing = 1;
    do {
        if (!write_batch(s))
            do_write(s, q_shift(&w->buffered));
    } while (w->buffered.head && !w->writing);
    w->buffer_processing = 0;
}

static void error_buffer(cf_stream *s)
{
    cf__chunk *c;
    while ((c = q_shift(&s->w.buffered)) != NULL) {
        s->w.length -= chunk_size(s->w.objects, c);
        s->w.pending_cb--;
        cf__chunk_free(c);
    }
}

static void after_write(cf_stream *s, int count)
{
    cf__wstate *w = &s->w;
    if (!w->ending && !s->destroyed && w->length == 0 && w->need_drain) {
        w->need_drain = 0;
        emit(s, CF_STREAM_EV_DRAIN, NULL);
    }
    w->pending_cb -= count;
    if (s->destroyed)
        error_buffer(s);
    finish_maybe(s, 0);
}

static void after_write_tick(cf_stream *s)
{
    int count = s->w.after_write_count;
    s->w.after_write_count = 0;
    after_write(s, count);
}

static void onwrite_error(cf_stream *s)
{
    s->w.pending_cb--;
    error_buffer(s);
    destroy_impl(s, s->errored);
}

static void onwrite(cf_stream *s, cf_error *er)
{
    cf__wstate *w = &s->w;
    int sync = w->sync;
    w->writing = 0;
    cf__chunk_free(w->current);
    w->current = NULL;
    q_clear(&w->batch);
    w->length -= w->writelen;
    w->writelen = 0;
    if (er) {
        if (!s->errored)
            s->errored = er;
        else
            cf_error_free(er);
        if (sync)
            tick(s, onwrite_error);
        else
            onwrite_error(s);
        return;
    }
    if (w->buffered.head)
        clear_buffer(s);
    if (sync) {
        if (w->after_write_count++ == 0)
            tick(s, after_write_tick);
    } else {
        after_write(s, 1);
    }
}

static void finish(cf_stream *s)
{
    s->w.pending_cb--;
    s->w.finished = 1;
    emit(s, CF_STREAM_EV_FINISH, NULL);
    if (!s->has_r || s->r.end_emitted)
        destroy_impl(s, NULL);
}

static void final_done(cf_stream *s, cf_error *err)
{
    s->w.pending_cb--;
    if (err) {
        destroy_impl(s, err);
    } else if (need_finish(s)) {
        s->w.prefinished = 1;
        emit(s, CF_STREAM_EV_PREFINISH, NULL);
        s->w.pending_cb++;
        tick(s, finish);
    }
}

static void call_final(cf_stream *s)
{
    s->w.sync = 1;
    s->w.pending_cb++;
    if (s->kind != CF_STREAM_TRANSFORM) {
        s->op = CF__OP_FINAL;
        s->impl->final(s, s->data);
    } else if (s->impl->flush && !s->destroyed) {
        s->op = CF__OP_FLUSH;
        s->impl->flush(s, s->data);
    } else {
        add_readable(s, NULL);
        final_done(s, NULL);
    }
    s->w.sync = 0;
}

static void prefinish(cf_stream *s)
{
    cf__wstate *w = &s->w;
    if (w->prefinished || w->final_called)
        return;
    int has_final = s->kind == CF_STREAM_TRANSFORM || s->impl->final;
    if (has_final && !s->destroyed) {
        w->final_called = 1;
        call_final(s);
    } else {
        w->prefinished = 1;
        emit(s, CF_STREAM_EV_PREFINISH, NULL);
    }
}

static void finish_maybe_tick(cf_stream *s)
{
    if (need_finish(s))
        finish(s);
    else
        s->w.pending_cb--;
}

static void finish_maybe(cf_stream *s, int sync)
{
    if (!need_finish(s))
        return;
    prefinish(s);
    if (s->w.pending_cb != 0)
        return;
    if (sync) {
        s->w.pending_cb++;
        tick(s, finish_maybe_tick);
    } else if (need_finish(s)) {
        s->w.pending_cb++;
        finish(s);
    }
}

int cf__stream_write_chunk(cf_stream *s, cf__chunk *c)
{
    cf_error *err = NULL;
    if (s->w.ending)
        err = CF_ERROR(CF_EPIPE, "write after end");
    else if (s->destroyed)
        err = CF_ERROR(CF_ECLOSED, "Cannot call write after a stream was destroyed");
    if (err || !c) {
        int code = err ? err->code : CF_ENOMEM;
        cf__chunk_free(c);
        if (err)
            destroy_impl(s, err);
        return code;
    }
    cf__wstate *w = &s->w;
    w->pending_cb++;
    w->length += chunk_size(w->objects, c);
    int ret = w->length < w->hwm;
    if (!ret)
        w->need_drain = 1;
    if (w->writing || s->errored)
        q_push(&w->buffered, c);
    else
        do_write(s, c);
    return ret && !s->errored && !s->destroyed ? 0 : CF_STREAM_FULL;
}

int cf_stream_write(cf_stream *s, const void *bytes, size_t len)
{
    if (!s || !s->has_w || s->w.objects || (!bytes && len))
        return CF_EINVAL;
    return cf__stream_write_chunk(s, cf__chunk_bytes(bytes, len));
}

int cf_stream_write_take(cf_stream *s, void *bytes, size_t len)
{
    if (!s || !s->has_w || s->w.objects || (!bytes && len)) {
        cf__free(bytes);
        return CF_EINVAL;
    }
    return cf__stream_write_chunk(s, cf__chunk_take(bytes, len));
}

int cf_stream_write_object(cf_stream *s, void *obj)
{
    if (!s || !s->has_w || !s->w.objects || !obj) {
        if (s && obj && s->free_object)
            s->free_object(obj);
        return CF_EINVAL;
    }
    return cf__stream_write_chunk(s, cf__chunk_object(obj, s->free_object));
}

int cf_stream_end(cf_stream *s)
{
    if (!s || !s->has_w)
        return CF_EINVAL;
    if (!s->errored && !s->w.ending) {
        s->w.ending = 1;
        finish_maybe(s, 1);
        s->w.ended = 1;
        return 0;
    }
    return s->destroyed && !s->w.ending ? CF_ECLOSED : CF_EPIPE;
}

int cf__stream_writable_done(const cf_stream *s)
{
    return s->w.finished || (s->w.ended && s->w.length == 0);
}

/* ---- completions of the hooks ---- */

static void transform_done(cf_stream *s, cf_error *err)
{
    if (err) {
        onwrite(s, err);
        return;
    }
    if (s->w.ended || s->t_length == s->r.length || s->r.length < s->r.hwm)
        onwrite(s, NULL);
    else
        s->t_deferred = 1;
}

static void call_read(cf_stream *s)
{
    if (s->kind != CF_STREAM_TRANSFORM) {
        s->impl->read(s, s->r.hwm, s->data);
    } else if (s->t_deferred) {
        s->t_deferred = 0;
        onwrite(s, NULL);
    }
}

int cf_stream_done(cf_stream *s, cf_error *err)
{
    if (!s) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    enum cf__op op = s->op;
    s->op = CF__OP_NONE;
    switch (op) {
    case CF__OP_WRITE:
        onwrite(s, err);
        return 0;
    case CF__OP_TRANSFORM:
        transform_done(s, err);
        return 0;
    case CF__OP_FINAL:
        final_done(s, err);
        return 0;
    case CF__OP_FLUSH:
        if (!err)
            add_readable(s, NULL);
        final_done(s, err);
        return 0;
    default:
        cf_error_free(err);
        return CF_EINVAL;
    }
}

void *cf_stream_take_object(cf_stream *s)
{
    if (!s || !s->has_w || !s->w.objects || !s->w.current)
        return NULL;
    if (s->op != CF__OP_WRITE && s->op != CF__OP_TRANSFORM)
        return NULL;
    void *obj = s->w.current->obj;
    s->w.current->obj = NULL; /* the chunk goes on without it: onwrite frees the chunk alone */
    return obj;
}

/* ---- destroy and close (≈ destroy.js) ---- */

static void emit_close_tick(cf_stream *s)
{
    s->close_emitted = 1;
    emit(s, CF_STREAM_EV_CLOSE, NULL);
}

static void emit_error_close_tick(cf_stream *s)
{
    if (!s->error_emitted) {
        s->error_emitted = 1;
        emit(s, CF_STREAM_EV_ERROR, s->destroy_err ? s->destroy_err : s->errored);
    }
    emit_close_tick(s);
}

static void destroy_impl(cf_stream *s, cf_error *err)
{
    if (s->destroyed) {
        if (err != s->errored && err != s->destroy_err)
            cf_error_free(err);
        return;
    }
    if (err && !s->errored)
        s->errored = err;
    else if (err && err != s->errored)
        s->destroy_err = err;
    s->destroyed = 1;
    s->destroy_has_err = err != NULL;
    s->destroy_pending = 1;
    if (s->has_w)
        error_buffer(s);
    if (s->impl->destroy)
        s->impl->destroy(s, s->destroy_err ? s->destroy_err : err, s->data);
    else
        cf_stream_destroy_done(s);
}

void cf__stream_error_or_destroy(cf_stream *s, cf_error *err)
{
    destroy_impl(s, err);
}

int cf_stream_destroy_done(cf_stream *s)
{
    if (!s || !s->destroy_pending)
        return CF_EINVAL;
    s->destroy_pending = 0;
    s->closed = 1;
    tick(s, s->destroy_has_err ? emit_error_close_tick : emit_close_tick);
    return 0;
}

int cf_stream_destroy(cf_stream *s, cf_error *err)
{
    if (!s) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    destroy_impl(s, err);
    return 0;
}

int cf_stream_close(cf_stream *s, cf_close_cb cb, void *data)
{
    if (!s)
        return CF_EINVAL;
    if (s->close_called)
        return CF_ECLOSED;
    s->close_called = 1;
    s->close_cb = cb;
    s->close_data = data;
    if (!s->destroyed)
        destroy_impl(s, NULL);
    cf__stream_release(s);
    return 0;
}

cf_error *cf__stream_premature_close(void)
{
    return CF_ERROR(CF_EPIPE, "Premature close");
}

/* ---- state ---- */

size_t cf_stream_readable_length(const cf_stream *s)
{
    return s ? s->r.length : 0;
}

size_t cf_stream_writable_length(const cf_stream *s)
{
    return s ? s->w.length : 0;
}

int cf_stream_is_flowing(const cf_stream *s)
{
    return s && s->r.flowing == 1;
}

int cf_stream_writable_ended(const cf_stream *s)
{
    return s && s->w.ending;
}

int cf_stream_writable_finished(const cf_stream *s)
{
    return s && s->w.finished;
}

int cf_stream_needs_drain(const cf_stream *s)
{
    return s && s->w.need_drain;
}

int cf_stream_is_destroyed(const cf_stream *s)
{
    return s && s->destroyed;
}

const cf_error *cf_stream_error(const cf_stream *s)
{
    return s ? s->errored : NULL;
}
