/*
 * Promises with Node/V8's microtask timing (≈ ECMAScript's Promise, as V8 11 runs it).
 *
 * Data structures. Each loop has one `cf__async` state (core's async slot): two slab pools
 * (promises, reactions) with free lists, the unhandled-rejection bookkeeping and the hooks.
 * A promise keeps its reactions in a singly linked FIFO while pending. Settling a promise
 * moves every reaction, in registration order, onto the loop's microtask FIFO (shared with
 * cf_queue_microtask), where it runs; a reaction attached to a settled promise is queued at
 * once. A queued reaction reuses its list link to hold the settled promise.
 *
 * Invariants.
 * - refs counts the creator's reference, the loop's while pending (F_LOOP_REF), one per
 *   reaction that points at the promise (as `derived`, or as the source of a queued one), the
 *   unhandled-rejection lists' and any `owner` links. A promise at zero is settled and has an
 *   empty reaction list, so freeing never walks reactions. A pooled promise keeps its `as`
 *   (set when its slab is made) and has refs 0 while free; cf_loop_close pins the count of
 *   every live one (REFS_PINNED), so releases made during teardown free nothing.
 * - A then/catch handler's derived promise that nobody can see once the handler returns (see
 *   unseen) is freed at once instead of being settled: with no reaction and no other
 *   reference, settling it could only free it. Rejections and adoptions still go the full
 *   way (unhandled-rejection tracking, adoption jobs).
 * - A settled promise either owns its value/error (`owner` NULL; `dtor` frees it) or borrows
 *   it from `owner`, the promise that owns it, holding a reference (pass-through steps and
 *   adoption). Owners are never themselves borrowers, so release chains are one level deep.
 * - F_RESOLVED is set once the promise's resolve functions have been used (settled, or
 *   following another promise/thenable): later settles return CF_EINVAL.
 * - During a then/finally handler the derived promise has F_IN_HANDLER: settling it only
 *   records the outcome; commit() applies it when the handler returns, so the order of
 *   microtasks is the same as in JS, where the derived promise is resolved with the
 *   handler's return value.
 *
 * Turn counts follow the spec as V8 implements it: resolving with a native promise queues
 * NewPromiseResolveThenableJob (one turn) which attaches a reaction to the inner promise (one
 * more turn); finally is built literally as V8 builds it (thenFinally / valueThunk / adoption).
 *
 * Unhandled rejections follow Node (lib/internal/process/promises.js): a promise rejected
 * without a handler goes on a pending list; after each drain (core's drain hook, installed only
 * while a list is non-empty) the rejection-handled reports run, then the pending list as it
 * was when the batch started, skipping promises handled meanwhile.
 *
 * Trade-off: the pools never shrink until the loop is closed (like the tick ring), so a burst
 * of a million pending promises keeps its memory; in exchange a chain step allocates nothing
 * after warm-up, and cf_loop_close can free every promise left (pending ones included) by
 * walking the slabs.
 */
#include "async/promise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

/* Reaction kinds. */
enum {
    R_FREE = 0,     /* in the pool's free list */
    R_THEN,         /* then/catch: a.cb / b.cb, derived */
    R_FINALLY,      /* finally: a.cb, derived (V8's thenFinally/catchFinally) */
    R_THUNK,        /* valueThunk/thrower: data = original promise (ref), derived */
    R_ADOPT,        /* inner reaction of an adoption: derived follows the source */
    R_ADOPT_JOB,    /* NewPromiseResolveThenableJob for a native promise: data = inner (ref) */
    R_THENABLE_JOB, /* NewPromiseResolveThenableJob for a C thenable: data = thenable */
    R_SYNC,         /* resolver of a C thenable: settles derived synchronously */
    R_SETTLE,       /* cf_promise_on_settle */
    R_EMBED,        /* cf__promise_react (memory not pooled) */
    R_CALL          /* cf__promise_react_call */
};

/* Promise flags. */
enum {
    F_LOOP_REF = 1,    /* the loop holds a reference (pending) */
    F_RESOLVED = 2,    /* resolve functions used: settled or following something */
    F_HANDLED = 4,     /* a handler was attached at some point */
    F_WARNED = 8,      /* reported as unhandled */
    F_IN_HANDLER = 16, /* derived promise of a handler that is running */
    F_PINNED = 32,     /* the value cannot be taken (it lives inside library state) */
    F_VALUE = 64,      /* rejected with a value that is not a cf_error (the reason) */
    F_SITED = 128      /* has an entry in the loop's site table (created while detecting) */
};

/* What a resolved-but-pending promise's `value` holds until its adoption job is queued. */
enum { A_NONE = 0, A_PROMISE, A_THENABLE };

struct cf_promise {
    union {
        cf__reaction *head;    /* first pending reaction */
        cf_promise *next_free; /* in the pool's free list */
        uint64_t rejection_id; /* rejected without a handler: Node's rejection id (settled
                                  promises never use `head` again) */
    } u;
    struct cf__async *as; /* the loop's state: set when the slab is made, never changed */
    cf__reaction *tail;
    void *value;          /* fulfilled: the value; rejected: the cf_error */
    void (*dtor)(void *); /* frees `value` (NULL when borrowed or static) */
    cf_promise *owner;    /* the promise `value` is borrowed from, or NULL */
    uint32_t refs;        /* 0 while in the free list */
    uint8_t state;
    uint8_t flags;
    uint8_t adopt; /* A_* while resolved and pending, before the job is queued */
};

/* A slab of pooled objects; the objects follow the header. */
typedef struct slab {
    struct slab *next;
    size_t count;
} slab;

typedef struct pool {
    slab *slabs;
    void *free; /* free list, linked through each object's first word */
    size_t size;
    size_t next_count;
} pool;

/*
 * Where promises were made, kept only while the blocked-loop detector is on (so that
 * cf_loop_close can name the ones never settled): an open-addressing table from promise to
 * the return address of its constructor's caller. Entries leave when their promise is freed
 * (F_SITED says it has one); with the detector off nothing is added and a promise pays one
 * flag test when freed.
 */
typedef struct psite {
    cf_promise *p; /* NULL: free slot */
    const void *pc;
} psite;

typedef struct ptable {
    psite *items;
    size_t cap; /* a power of two, or 0 */
    size_t len;
} ptable;

/* A growable array of promises, each holding a reference; `head` is the next to take. */
typedef struct plist {
    cf_promise **items;
    size_t head;
    size_t len;
    size_t cap;
} plist;

typedef struct cf__async {
    cf_loop *loop;
    pool promises;
    pool reactions;
    plist unhandled;     /* rejected without handler, not yet reported */
    plist handled_later; /* reported, then handled: 'rejectionHandled' pending */
    int hook_installed;  /* the drain hook is set */
    int closing;         /* cf_loop_close is freeing everything */
    cf_unhandled_mode mode;
    int exit_code;    /* 1 once warn-with-error-code reported a rejection */
    uint64_t last_id; /* rejection ids handed out (≈ Node's lastPromiseId) */
    cf_rejection_cb on_unhandled;
    void *on_unhandled_data;
    cf_rejection_cb on_handled;
    void *on_handled_data;
    cf_uncaught_cb on_uncaught;
    void *on_uncaught_data;
    cf__async_res res;         /* head of the tracked resources (circular) */
    const unsigned *obs_flags; /* the loop's observability flags (core/metrics.h) */
    ptable sites;              /* creation sites while detecting (see ptable) */
} cf__async;

const cf_error cf__promise_enomem = {.code = CF_ENOMEM, .message = "not enough memory"};

/* What cf_promise_error lends for a rejection whose reason is a value, not a cf_error. */
const cf_error cf__promise_value_reason = {
    .code = CF_EUNKNOWN, .message = "promise rejected with a value that is not an error"};

static cf_unhandled_mode mode_from_env(void);

#define SLAB_FIRST 32
#define SLAB_MAX   4096

static void notify(cf_promise *p);
static void commit(cf_promise *p);
static void run_reaction(void *arg);
static void on_drain(cf_loop *loop, void *arg);

/* ---- pools ---- */

/* A new slab on the free list. Out of line: inlined, it made every allocation save registers.
 * `as`, when not NULL, is stored in each object as a promise's `as` (set once for good). */
__attribute__((noinline, cold)) static int pool_grow(pool *pl, struct cf__async *as)
{
    size_t count = pl->next_count ? pl->next_count : SLAB_FIRST;
    /* Zeroed (a free reaction is R_FREE, a free promise has refs 0): by calloc, which gets
     * the large slabs as fresh zero pages instead of clearing them. */
    slab *s = cf__calloc(1, sizeof(*s) + count * pl->size);
    if (!s)
        return CF_ENOMEM;
    s->next = pl->slabs;
    s->count = count;
    pl->slabs = s;
    char *base = (char *)(s + 1);
    for (size_t i = count; i-- > 0;) {
        void *obj = base + i * pl->size;
        if (as)
            ((cf_promise *)obj)->as = as;
        *(void **)obj = pl->free;
        pl->free = obj;
    }
    pl->next_count = CF_MIN(count * 2, (size_t)SLAB_MAX);
    return 0;
}

static inline void *pool_get(pool *pl, struct cf__async *as)
{
    if (CF_UNLIKELY(!pl->free) && pool_grow(pl, as) < 0)
        return NULL;
    void *obj = pl->free;
    pl->free = *(void **)obj;
    return obj;
}

static inline void pool_put(pool *pl, void *obj)
{
    *(void **)obj = pl->free;
    pl->free = obj;
}

/* Call `fn` on every object of every slab. */
static void pool_walk(pool *pl, void (*fn)(void *obj))
{
    for (slab *s = pl->slabs; s; s = s->next) {
        char *base = (char *)(s + 1);
        for (size_t i = 0; i < s->count; i++) {
            fn(base + i * pl->size);
        }
    }
}

/* Call `fn` on every object of every slab, then free the slabs. */
static void pool_destroy(pool *pl, void (*fn)(void *obj))
{
    pool_walk(pl, fn);
    while (pl->slabs) {
        slab *s = pl->slabs;
        pl->slabs = s->next;
        cf__free(s);
    }
    pl->free = NULL;
}

/* ---- per-loop state ---- */

static void plist_free(plist *l)
{
    cf__free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Append `p` (the list takes a reference). Returns 0 or CF_ENOMEM. */
static int plist_push(plist *l, cf_promise *p)
{
    if (l->head > 0 && l->len == l->cap) {
        memmove(l->items, l->items + l->head, (l->len - l->head) * sizeof(*l->items));
        l->len -= l->head;
        l->head = 0;
    }
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        cf_promise **items = cf__realloc(l->items, cap * sizeof(*items));
        if (!items)
            return CF_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = p;
    p->refs++;
    return 0;
}

static int plist_empty(const plist *l)
{
    return l->head == l->len;
}

static cf_promise *plist_shift(plist *l)
{
    cf_promise *p = l->items[l->head++];
    if (l->head == l->len) {
        l->head = 0;
        l->len = 0;
    }
    return p;
}

/* ---- creation sites (while the blocked-loop detector is on) ---- */

static size_t site_home(const ptable *t, const cf_promise *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15u) >> 32) & (t->cap - 1);
}

static void site_put(ptable *t, cf_promise *p, const void *pc)
{
    size_t i = site_home(t, p);
    while (t->items[i].p && t->items[i].p != p)
        i = (i + 1) & (t->cap - 1);
    if (!t->items[i].p)
        t->len++;
    t->items[i].p = p;
    t->items[i].pc = pc;
}

/* Double the table (at most 3/4 full). Returns 0 or CF_ENOMEM (the table is unchanged). */
static int site_grow(ptable *t)
{
    ptable n = {cf__calloc(t->cap ? t->cap * 2 : 64, sizeof(psite)), t->cap ? t->cap * 2 : 64, 0};
    if (!n.items)
        return CF_ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->items[i].p)
            site_put(&n, t->items[i].p, t->items[i].pc);
    }
    cf__free(t->items);
    *t = n;
    return 0;
}

/* Record that `p` was made at `pc` (the caller of a public constructor). Best effort: out of
 * memory, the promise is simply not named at the loop's end. */
__attribute__((noinline, cold)) static void site_record(cf__async *as, cf_promise *p,
                                                        const void *pc)
{
    if ((as->sites.len + 1) * 4 > as->sites.cap * 3 && site_grow(&as->sites) < 0)
        return;
    site_put(&as->sites, p, pc);
    p->flags |= F_SITED;
}

/* Remove `p`'s entry (backward-shift deletion: no tombstones). */
__attribute__((noinline, cold)) static void site_forget(cf__async *as, cf_promise *p)
{
    ptable *t = &as->sites;
    if (!t->cap)
        return;
    size_t mask = t->cap - 1;
    size_t i = site_home(t, p);
    while (t->items[i].p != p) {
        if (!t->items[i].p)
            return;
        i = (i + 1) & mask;
    }
    for (size_t j = (i + 1) & mask; t->items[j].p; j = (j + 1) & mask) {
        size_t k = site_home(t, t->items[j].p);
        /* Move j back into the hole at i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            t->items[i] = t->items[j];
            i = j;
        }
    }
    t->items[i].p = NULL;
    t->len--;
}

/* A public constructor made `p` for the code at `pc`: keep the site while detecting. */
static inline cf_promise *site_of(cf_promise *p, const void *pc)
{
    if (CF_UNLIKELY(p && (*p->as->obs_flags & CF__OBS_DETECT)))
        site_record(p->as, p, pc);
    return p;
}

/* The loop's end with the detector on: name each promise made at a known place and still
 * pending (tasks still suspended are named by the task layer, which closes first). */
static void report_pending(cf__async *as)
{
    if (!as->sites.len || !(*as->obs_flags & CF__OBS_DETECT))
        return;
    for (size_t i = 0; i < as->sites.cap; i++) {
        const psite *e = &as->sites.items[i];
        if (e->p && e->p->state == CF_PROMISE_PENDING)
            cf__obs_report_promise(as->loop, e->pc);
    }
}

/*
 * A reference count no release brings down to zero: while the loop closes, every live promise
 * carries it, so that releases made by the destructors that teardown runs free nothing (the
 * slabs go as a whole), and cf_promise_release needs no test of its own for closing.
 */
#define REFS_PINNED (UINT32_C(1) << 30)

static void promise_pin_for_teardown(void *obj)
{
    cf_promise *p = obj;
    if (p->refs)
        p->refs += REFS_PINNED;
}

/* Teardown: run the value destructor of every live promise (without touching others). */
static void promise_teardown(void *obj)
{
    cf_promise *p = obj;
    if (p->refs < REFS_PINNED)
        return; /* free, or made during teardown */
    if (p->adopt == A_PROMISE) {
        return;
    }
    if (p->adopt == A_THENABLE) {
        cf_thenable *t = p->value;
        if (t->release)
            t->release(t);
        return;
    }
    if (!p->owner && p->dtor)
        p->dtor(p->value);
}

static void reaction_teardown(void *obj)
{
    cf__reaction *r = obj;
    if (r->kind == R_THENABLE_JOB) {
        cf_thenable *t = r->data;
        if (t->release)
            t->release(t);
    }
    r->kind = R_FREE;
}

/* The async slot's destructor (cf_loop_close): free everything the loop's promises hold. */
static void async_free(void *arg)
{
    cf__async *as = arg;
    as->closing = 1;
    if (as->hook_installed)
        cf__loop_set_drain_hook(as->loop, NULL, NULL);
    if (as->exit_code)
        cf__loop_set_exit_code_hook(as->loop, NULL, NULL);
    report_pending(as);
    pool_walk(&as->promises, promise_pin_for_teardown);
    pool_destroy(&as->reactions, reaction_teardown);
    pool_destroy(&as->promises, promise_teardown);
    while (as->res.next != &as->res) {
        cf__async_res *res = as->res.next;
        res->prev->next = res->next;
        res->next->prev = res->prev;
        res->destroy(res);
    }
    plist_free(&as->unhandled);
    plist_free(&as->handled_later);
    cf__free(as->sites.items);
    cf__free(as);
}

/* The loop's async state, created on first use. NULL when memory is exhausted. */
static cf__async *async_get(cf_loop *loop)
{
    cf__async *as = cf__loop_slot(loop, CF__SLOT_ASYNC);
    if (CF_LIKELY(as))
        return as;
    as = cf__calloc(1, sizeof(*as));
    if (!as)
        return NULL;
    as->loop = loop;
    as->promises.size = sizeof(cf_promise);
    as->reactions.size = sizeof(cf__reaction);
    as->res.next = &as->res;
    as->res.prev = &as->res;
    as->mode = mode_from_env();
    as->obs_flags = cf__obs_flags_ref(loop);
    cf__loop_slot_set(loop, CF__SLOT_ASYNC, as, async_free);
    return as;
}

void cf__async_track(cf_loop *loop, cf__async_res *res)
{
    cf__async *as = cf__loop_slot(loop, CF__SLOT_ASYNC);
    CF_ASSERT(as);
    res->next = &as->res;
    res->prev = as->res.prev;
    res->prev->next = res;
    as->res.prev = res;
}

void cf__async_untrack(cf_loop *loop, cf__async_res *res)
{
    (void)loop;
    res->prev->next = res->next;
    res->next->prev = res->prev;
    res->next = res;
    res->prev = res;
}

int cf__async_closing(const cf_loop *loop)
{
    cf__async *as = cf__loop_slot((cf_loop *)loop, CF__SLOT_ASYNC);
    return as && as->closing;
}

static void install_hook(cf__async *as)
{
    if (!as->hook_installed) {
        as->hook_installed = 1;
        cf__loop_set_drain_hook(as->loop, on_drain, as);
    }
}

/* ---- promise objects ---- */

static inline cf_promise *promise_alloc(cf__async *as)
{
    cf_promise *p = pool_get(&as->promises, as);
    if (!p)
        return NULL;
    p->u.head = NULL;
    p->tail = NULL;
    p->value = NULL;
    p->dtor = NULL;
    p->owner = NULL;
    p->refs = 2; /* the creator's and the loop's */
    p->state = CF_PROMISE_PENDING;
    p->flags = F_LOOP_REF;
    p->adopt = A_NONE;
    return p;
}

static void promise_free(cf_promise *p);

/* promise_free of a promise with a site entry: kept apart (and called in tail position) so
 * that the common path saves no register (cf_promise_release is the hottest call). */
__attribute__((noinline, cold)) static void promise_free_sited(cf_promise *p)
{
    site_forget(p->as, p);
    p->flags &= (uint8_t)~F_SITED;
    promise_free(p);
}

static void promise_free(cf_promise *p)
{
    if (CF_UNLIKELY(p->flags & F_SITED)) {
        promise_free_sited(p);
        return;
    }
    cf__async *as = p->as;
    cf_promise *owner = p->owner;
    void *value = p->value;
    void (*dtor)(void *) = p->dtor;
    pool_put(&as->promises, p);
    if (owner)
        cf_promise_release(owner);
    else if (dtor)
        dtor(value);
}

/* Free a promise nobody has seen (no reactions, no other reference). NULL is a no-op. */
static void promise_discard(cf_promise *p)
{
    if (!p)
        return;
    p->flags &= F_SITED; /* its site entry leaves with it */
    p->refs = 1;
    cf_promise_release(p);
}

cf_promise *cf_promise_retain(cf_promise *p)
{
    if (p)
        p->refs++;
    return p;
}

/* cf_promise_release, inlined in this file's hot paths. */
static inline void release(cf_promise *p)
{
    CF_ASSERT(p->refs > 0);
    if (--p->refs == 0)
        promise_free(p);
}

void cf_promise_release(cf_promise *p)
{
    if (p)
        release(p);
}

static cf__reaction *reaction_alloc(cf__async *as, int kind)
{
    cf__reaction *r = pool_get(&as->reactions, NULL);
    if (!r)
        return NULL;
    r->link.next = NULL;
    r->derived = NULL;
    r->data = NULL;
    r->kind = (uint8_t)kind;
    return r;
}

static inline void reaction_free(cf__async *as, cf__reaction *r)
{
    r->kind = R_FREE;
    pool_put(&as->reactions, r);
}

/* ---- settling ---- */

/* Store an outcome; applied at once unless a handler of `p` is running. */
static void settle(cf_promise *p, int state, void *value, void (*dtor)(void *), cf_promise *owner)
{
    p->state = (uint8_t)state;
    if (state != CF_PROMISE_REJECTED)
        p->flags &= (uint8_t)~F_VALUE;
    p->flags |= F_RESOLVED;
    p->value = value;
    p->dtor = dtor;
    p->owner = owner;
    if (!(p->flags & F_IN_HANDLER))
        notify(p);
}

static void settle_error(cf_promise *p, cf_error *err)
{
    p->flags &= (uint8_t)~F_VALUE;
    if (err)
        settle(p, CF_PROMISE_REJECTED, err, cf_error_free, NULL);
    else
        settle(p, CF_PROMISE_REJECTED, (void *)&cf__promise_enomem, NULL, NULL);
}

/* Settle `p` like the settled `from`, borrowing its value from the owner. */
static void follow(cf_promise *p, cf_promise *from)
{
    cf_promise *owner = from->owner ? from->owner : from;
    owner->refs++;
    p->flags = (uint8_t)((p->flags & ~F_VALUE) | (from->flags & F_VALUE));
    settle(p, from->state, from->value, NULL, owner);
}

/* Queue a reaction whose source `p` is settled. On failure the run fails with CF_ENOMEM. */
static int enqueue(cf_promise *p, cf__reaction *r)
{
    r->link.src = p;
    p->refs++;
    int rc = cf_queue_microtask(p->as->loop, run_reaction, r);
    if (CF_UNLIKELY(rc < 0)) {
        p->refs--;
        return rc;
    }
    return 0;
}

/* A reaction that cannot be queued: drop it (its derived promise stays pending). */
static void reaction_drop(cf__async *as, cf__reaction *r)
{
    cf_promise *derived = r->derived;
    void *data = r->data;
    int kind = r->kind;
    if (kind == R_EMBED)
        return;
    reaction_free(as, r);
    if (kind == R_THUNK || kind == R_ADOPT_JOB)
        cf_promise_release(data);
    if (kind == R_THENABLE_JOB && ((cf_thenable *)data)->release)
        ((cf_thenable *)data)->release(data);
    cf_promise_release(derived);
}

static void track_unhandled(cf_promise *p)
{
    cf__async *as = p->as;
    p->u.rejection_id = ++as->last_id;
    if (plist_push(&as->unhandled, p) < 0)
        return; /* out of memory: the rejection goes unreported */
    install_hook(as);
}

/* The promise just settled: queue its reactions in order, then drop the loop's reference. */
static void notify(cf_promise *p)
{
    cf__reaction *r = p->u.head;
    p->u.head = NULL;
    p->tail = NULL;
    p->refs++; /* keep `p` alive while its reactions are handed out */
    while (r) {
        cf__reaction *next = r->link.next;
        if (r->kind == R_SYNC) {
            cf_promise *d = r->derived;
            reaction_free(p->as, r);
            follow(d, p);
            cf_promise_release(d);
        } else if (CF_UNLIKELY(enqueue(p, r) < 0)) {
            cf__loop_fail(p->as->loop, CF_ENOMEM);
            reaction_drop(p->as, r);
        }
        r = next;
    }
    if (p->state == CF_PROMISE_REJECTED && !(p->flags & F_HANDLED))
        track_unhandled(p);
    if (p->flags & F_LOOP_REF) {
        p->flags &= (uint8_t)~F_LOOP_REF;
        p->refs--;
    }
    release(p);
}

/* The first handler of a rejection already reported as unhandled: it is handled late. */
__attribute__((noinline, cold)) static void mark_handled_late(cf_promise *p)
{
    if (p->state == CF_PROMISE_REJECTED && (p->flags & F_WARNED)) {
        if (plist_push(&p->as->handled_later, p) == 0)
            install_hook(p->as);
    }
}

static inline void mark_handled(cf_promise *p)
{
    if (!(p->flags & F_HANDLED)) {
        p->flags |= F_HANDLED;
        if (CF_UNLIKELY(p->flags & F_WARNED)) /* only ever set on a rejected promise */
            mark_handled_late(p);
    }
}

void cf__promise_mark_handled(cf_promise *p)
{
    mark_handled(p);
}

/* Append `r` to `p`'s reactions when `p` is pending (or running them); 0: it is settled. */
static inline int append_if_waiting(cf_promise *p, cf__reaction *r)
{
    if (p->state != CF_PROMISE_PENDING && !(p->flags & F_IN_HANDLER))
        return 0;
    r->link.next = NULL;
    if (p->tail)
        p->tail->link.next = r;
    else
        p->u.head = r;
    p->tail = r;
    return 1;
}

/* Attach `r` to `p`: appended while `p` is pending, queued at once when it is settled. */
static inline int attach(cf_promise *p, cf__reaction *r)
{
    mark_handled(p);
    return append_if_waiting(p, r) ? 0 : enqueue(p, r);
}

/* Queue the job that makes `p` follow what it was resolved with (promise or thenable). */
static void start_adoption(cf_promise *p)
{
    cf__async *as = p->as;
    int kind = p->adopt == A_PROMISE ? R_ADOPT_JOB : R_THENABLE_JOB;
    void *target = p->value;
    p->adopt = A_NONE;
    p->value = NULL;
    cf__reaction *r = reaction_alloc(as, kind);
    if (!r) {
        if (kind == R_ADOPT_JOB)
            cf_promise_release(target);
        else if (((cf_thenable *)target)->release)
            ((cf_thenable *)target)->release(target);
        settle_error(p, NULL);
        return;
    }
    r->derived = cf_promise_retain(p);
    r->data = target;
    r->link.src = NULL;
    if (cf_queue_microtask(as->loop, run_reaction, r) < 0) {
        reaction_drop(as, r);
        settle_error(p, NULL);
    }
}

/* Apply what a handler did to its derived promise `p` (see F_IN_HANDLER). */
static void commit(cf_promise *p)
{
    p->flags &= (uint8_t)~F_IN_HANDLER;
    if (p->state != CF_PROMISE_PENDING)
        notify(p);
    else if (p->adopt != A_NONE)
        start_adoption(p);
    else if (!(p->flags & F_RESOLVED))
        settle(p, CF_PROMISE_FULFILLED, NULL, NULL, NULL);
}

/* ---- running reactions ---- */

/*
 * Whether the derived promise `d` of a handler that just returned can be seen by anyone: it
 * cannot when the only references left are the loop's and the running reaction's (its creator
 * released it, nothing follows it or holds it in a list), no reaction waits on it and it has
 * no creation site on record. Settling it then has no effect but freeing it, unless it was
 * rejected (an unhandled rejection is reported, as in Node) or adopts something (the adoption
 * job runs the other promise's then).
 */
static inline int unseen(const cf_promise *d)
{
    return d->refs == 2 && (d->flags & (F_LOOP_REF | F_SITED)) == F_LOOP_REF && !d->u.head &&
           d->state != CF_PROMISE_REJECTED && d->adopt == A_NONE;
}

/* Free an unseen derived promise (see unseen) with what its handler fulfilled it with. */
static inline void drop_unseen(cf__async *as, cf_promise *d)
{
    cf_promise *owner = d->owner;
    void *value = d->value;
    void (*dtor)(void *) = d->dtor;
    d->refs = 0;
    pool_put(&as->promises, d);
    if (owner)
        cf_promise_release(owner);
    else if (dtor)
        dtor(value);
}

/* then/catch: run the handler for the source's state, or pass the outcome through. */
static inline void run_then(cf__async *as, cf__reaction *r, cf_promise *src)
{
    cf_promise *d = r->derived;
    cf_promise_cb cb = src->state == CF_PROMISE_FULFILLED ? r->a.cb : r->b.cb;
    void *data = r->data;
    reaction_free(as, r);
    if (!cb) {
        follow(d, src);
    } else {
        d->flags |= F_IN_HANDLER;
        cb(src, d, data);
        if (CF_LIKELY(unseen(d))) {
            drop_unseen(as, d);
            return;
        }
        commit(d);
    }
    release(d);
}

/*
 * PromiseResolve(result) for what a finally handler did to its holder: the adopted native
 * promise itself, or the holder, committed (fulfilled with the ignored value, or following a
 * thenable). Returns one reference.
 */
static cf_promise *finally_result(cf_promise *holder)
{
    if (holder->adopt != A_PROMISE) {
        commit(holder);
        return holder;
    }
    cf_promise *c = holder->value;
    holder->value = NULL;
    holder->adopt = A_NONE;
    holder->flags &= (uint8_t)~F_RESOLVED;
    commit(holder);
    cf_promise_release(holder);
    return c;
}

/*
 * finally (V8's thenFinally/catchFinally): run the handler with a holder promise for its
 * result; unless it rejected, `c` = PromiseResolve(result) and the derived promise adopts
 * c.then(valueThunk), which re-delivers the original outcome.
 */
static void run_finally(cf__async *as, cf__reaction *r, cf_promise *src)
{
    cf_promise *d = r->derived;
    cf_promise_cb cb = r->a.cb;
    void *data = r->data;
    reaction_free(as, r);
    cf_promise *holder = promise_alloc(as);
    cf__reaction *thunk = reaction_alloc(as, R_THUNK);
    cf_promise *t = promise_alloc(as);
    if (!holder || !thunk || !t) {
        promise_discard(holder);
        promise_discard(t);
        if (thunk)
            reaction_free(as, thunk);
        settle_error(d, NULL);
        cf_promise_release(d);
        return;
    }
    holder->flags |= F_IN_HANDLER | F_HANDLED;
    cb(src, holder, data);
    if (holder->state == CF_PROMISE_REJECTED) {
        /* The handler threw: the derived promise rejects with that error at once. */
        commit(holder);
        follow(d, holder);
        cf_promise_release(holder);
        reaction_free(as, thunk);
        promise_discard(t);
        cf_promise_release(d);
        return;
    }
    cf_promise *c = finally_result(holder);
    thunk->derived = t; /* takes t's creator reference */
    thunk->data = cf_promise_retain(src);
    if (attach(c, thunk) < 0) {
        cf__loop_fail(as->loop, CF_ENOMEM);
        reaction_drop(as, thunk);
    }
    cf_promise_release(c);
    d->value = cf_promise_retain(t);
    d->adopt = A_PROMISE;
    d->flags |= F_RESOLVED;
    start_adoption(d);
    cf_promise_release(d);
}

/* valueThunk / thrower: the finally step re-delivers the original outcome. */
static void run_thunk(cf__async *as, cf__reaction *r, cf_promise *src)
{
    cf_promise *t = r->derived;
    cf_promise *orig = r->data;
    reaction_free(as, r);
    follow(t, src->state == CF_PROMISE_FULFILLED ? orig : src);
    cf_promise_release(orig);
    cf_promise_release(t);
}

/* NewPromiseResolveThenableJob for a native promise: inner.then(resolve, reject). */
static void run_adopt_job(cf__async *as, cf__reaction *r)
{
    cf_promise *inner = r->data;
    r->kind = R_ADOPT;
    r->data = NULL;
    if (attach(inner, r) < 0) {
        cf__loop_fail(as->loop, CF_ENOMEM);
        reaction_drop(as, r);
    }
    cf_promise_release(inner);
}

/* NewPromiseResolveThenableJob for a C thenable: call then with a fresh resolver. */
static void run_thenable_job(cf__async *as, cf__reaction *r)
{
    cf_thenable *t = r->data;
    cf_promise *d = r->derived;
    cf_promise *resolver = promise_alloc(as);
    if (!resolver) {
        reaction_free(as, r);
        settle_error(d, NULL);
        cf_promise_release(d);
        if (t->release)
            t->release(t);
        return;
    }
    r->kind = R_SYNC;
    r->data = NULL;
    attach(resolver, r); /* pending: cannot fail */
    cf_error *err = t->then(t, resolver);
    if (err) {
        /* ≈ a throw from then: ignored (and freed) if the resolver was already settled. */
        (void)cf_promise_reject(resolver, err);
    }
    if (t->release)
        t->release(t);
    cf_promise_release(resolver);
}

/* Every kind of reaction (run_reaction takes then/catch itself). */
__attribute__((noinline)) static void run_other(cf__reaction *r)
{
    cf_promise *src = r->link.src;
    cf__async *as = src ? src->as : r->derived->as;
    switch (r->kind) {
    case R_THEN:
        run_then(as, r, src);
        break;
    case R_FINALLY:
        run_finally(as, r, src);
        break;
    case R_THUNK:
        run_thunk(as, r, src);
        break;
    case R_ADOPT: {
        cf_promise *d = r->derived;
        reaction_free(as, r);
        follow(d, src);
        cf_promise_release(d);
        break;
    }
    case R_ADOPT_JOB:
        run_adopt_job(as, r);
        return;
    case R_THENABLE_JOB:
        run_thenable_job(as, r);
        return;
    case R_SETTLE: {
        cf_promise_settle_cb cb = r->a.settle;
        void *data = r->data;
        reaction_free(as, r);
        cb(src, data);
        break;
    }
    case R_EMBED:
        r->a.embed(r, src);
        break;
    case R_CALL: {
        cf__react_call_fn fn = r->a.call;
        void *data = r->data;
        size_t index = r->b.index;
        reaction_free(as, r);
        fn(src, data, index);
        break;
    }
    default:
        CF_ASSERT(!"unknown reaction kind");
    }
    release(src);
}

/* A queued reaction's microtask: then/catch, by far the most common, in a frame of its own. */
static void run_reaction(void *arg)
{
    cf__reaction *r = arg;
    if (CF_LIKELY(r->kind == R_THEN)) {
        cf_promise *src = r->link.src;
        run_then(src->as, r, src);
        release(src);
        return;
    }
    run_other(r);
}

/* ---- create ---- */

static cf_promise *promise_new(cf_loop *loop)
{
    if (!loop)
        return NULL;
    cf__async *as = async_get(loop);
    if (!as)
        return NULL;
    return promise_alloc(as);
}

CF__NOINLINE cf_promise *cf_promise_new(cf_loop *loop)
{
    return site_of(promise_new(loop), CF__SITE_CALLER().pc);
}

/* A promise born settled: no loop reference. */
static cf_promise *promise_settled(cf_loop *loop)
{
    cf_promise *p = promise_new(loop);
    if (!p)
        return NULL;
    p->flags = F_RESOLVED;
    p->refs = 1;
    return p;
}

/* cf_promise_resolved when the loop has no promise state yet or its pool is empty. */
__attribute__((noinline, cold)) static cf_promise *resolved_slow(cf_loop *loop, void *value,
                                                                 void (*dtor)(void *))
{
    cf_promise *p = promise_settled(loop);
    if (!p) {
        if (dtor)
            dtor(value);
        return NULL;
    }
    p->state = CF_PROMISE_FULFILLED;
    p->value = value;
    p->dtor = dtor;
    return p;
}

/* The hot constructor (await of a fresh value, `Promise.resolve(v).then`): straight from the
 * pool's free list, every other case out of line. */
cf_promise *cf_promise_resolved(cf_loop *loop, void *value, void (*dtor)(void *))
{
    cf__async *as = loop ? cf__loop_slot(loop, CF__SLOT_ASYNC) : NULL;
    cf_promise *p = as ? as->promises.free : NULL;
    if (CF_UNLIKELY(!p))
        return resolved_slow(loop, value, dtor);
    as->promises.free = p->u.next_free;
    p->u.head = NULL;
    p->tail = NULL;
    p->value = value;
    p->dtor = dtor;
    p->owner = NULL;
    p->refs = 1;
    p->state = CF_PROMISE_FULFILLED;
    p->flags = F_RESOLVED;
    p->adopt = A_NONE;
    return p;
}

cf_promise *cf_promise_rejected(cf_loop *loop, cf_error *err)
{
    cf_promise *p = promise_new(loop);
    if (!p) {
        cf_error_free(err);
        return NULL;
    }
    settle_error(p, err);
    return p;
}

cf_promise *cf_promise_rejected_value(cf_loop *loop, void *value, void (*dtor)(void *))
{
    cf_promise *p = promise_new(loop);
    if (!p) {
        if (dtor)
            dtor(value);
        return NULL;
    }
    (void)cf_promise_reject_value(p, value, dtor);
    return p;
}

cf_promise *cf_promise_resolve_p(cf_loop *loop, cf_promise *p)
{
    if (p)
        return cf_promise_retain(p);
    return cf_promise_rejected(loop, NULL);
}

CF__NOINLINE cf_promise *cf_promise_from_thenable(cf_loop *loop, cf_thenable *t)
{
    cf_promise *p = site_of(promise_new(loop), CF__SITE_CALLER().pc);
    if (!p) {
        if (t && t->release)
            t->release(t);
        return NULL;
    }
    cf_promise_adopt_thenable(p, t);
    return p;
}

/* ---- settle ---- */

int cf_promise_resolve(cf_promise *p, void *value, void (*dtor)(void *))
{
    if (!p || (p->flags & F_RESOLVED)) {
        if (dtor)
            dtor(value);
        return CF_EINVAL;
    }
    settle(p, CF_PROMISE_FULFILLED, value, dtor, NULL);
    return 0;
}

int cf_promise_reject(cf_promise *p, cf_error *err)
{
    if (!p || (p->flags & F_RESOLVED)) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    settle_error(p, err);
    return 0;
}

int cf_promise_reject_with(cf_promise *p, cf_error *err, void (*dtor)(void *))
{
    if (!p || (p->flags & F_RESOLVED)) {
        if (err && dtor)
            dtor(err);
        return CF_EINVAL;
    }
    p->flags &= (uint8_t)~F_VALUE;
    if (err)
        settle(p, CF_PROMISE_REJECTED, err, dtor, NULL);
    else
        settle_error(p, NULL);
    return 0;
}

int cf_promise_reject_value(cf_promise *p, void *value, void (*dtor)(void *))
{
    if (!p || (p->flags & F_RESOLVED)) {
        if (dtor)
            dtor(value);
        return CF_EINVAL;
    }
    p->flags |= F_VALUE;
    settle(p, CF_PROMISE_REJECTED, value, dtor, NULL);
    return 0;
}

int cf_promise_adopt(cf_promise *p, cf_promise *other)
{
    if (!p || (p->flags & F_RESOLVED))
        return CF_EINVAL;
    if (!other) {
        settle_error(p, NULL);
        return 0;
    }
    if (other == p) {
        settle_error(p, CF_ERROR(CF_ECYCLE, "Chaining cycle detected for promise"));
        return 0;
    }
    CF_ASSERT(other->as == p->as);
    p->flags |= F_RESOLVED;
    p->adopt = A_PROMISE;
    p->value = cf_promise_retain(other);
    if (!(p->flags & F_IN_HANDLER))
        start_adoption(p);
    return 0;
}

int cf_promise_adopt_thenable(cf_promise *p, cf_thenable *t)
{
    if (!p || (p->flags & F_RESOLVED)) {
        if (t && t->release)
            t->release(t);
        return CF_EINVAL;
    }
    if (!t || !t->then) {
        if (t && t->release)
            t->release(t);
        settle_error(p, CF_ERROR(CF_EINVAL, "resolve: the thenable has no then function"));
        return 0;
    }
    p->flags |= F_RESOLVED;
    p->adopt = A_THENABLE;
    p->value = t;
    if (!(p->flags & F_IN_HANDLER))
        start_adoption(p);
    return 0;
}

int cf_promise_settle(cf_promise *p, int status, void *value, void (*dtor)(void *), cf_error *err)
{
    if (status >= 0) {
        cf_error_free(err);
        return cf_promise_resolve(p, value, dtor);
    }
    if (value && dtor)
        dtor(value);
    if (!err)
        err = cf_error_new(status, NULL, 0, NULL, NULL);
    return cf_promise_reject(p, err);
}

int cf_promise_follow(cf_promise *p, cf_promise *from)
{
    if (!p || !from || from->state == CF_PROMISE_PENDING || (p->flags & F_RESOLVED))
        return CF_EINVAL;
    follow(p, from);
    return 0;
}

/* ---- react ---- */

static cf_promise *derive(cf_promise *p, int kind, cf_promise_cb a, cf_promise_cb b, void *data);

/* derive when a pool is empty: grow it, then derive again. */
__attribute__((noinline, cold)) static cf_promise *
derive_grow(cf_promise *p, int kind, cf_promise_cb a, cf_promise_cb b, void *data)
{
    cf__async *as = p->as;
    if (!as->promises.free && pool_grow(&as->promises, as) < 0)
        return NULL;
    if (!as->reactions.free && pool_grow(&as->reactions, NULL) < 0)
        return NULL;
    return derive(p, kind, a, b, data);
}

/* derive when its reaction could not be queued: nothing is attached, nothing is made. */
__attribute__((noinline, cold)) static cf_promise *derive_unqueued(cf__reaction *r)
{
    cf_promise *p = r->link.src;
    cf_promise *d = r->derived;
    p->refs--;
    reaction_free(p->as, r);
    d->refs = 1;
    promise_discard(d);
    return NULL;
}

/*
 * A derived promise and its reaction, attached to `p`. Written for the settled source (the
 * reaction is queued at once): both objects straight from the pools, every failure out of
 * line, so that little is kept across the queueing call.
 */
static cf_promise *derive(cf_promise *p, int kind, cf_promise_cb a, cf_promise_cb b, void *data)
{
    if (!p)
        return NULL;
    cf__async *as = p->as;
    cf_promise *d = as->promises.free;
    cf__reaction *r = as->reactions.free;
    if (CF_UNLIKELY(!d || !r))
        return derive_grow(p, kind, a, b, data);
    as->promises.free = d->u.next_free;
    as->reactions.free = r->link.next;
    d->u.head = NULL;
    d->tail = NULL;
    d->value = NULL;
    d->dtor = NULL;
    d->owner = NULL;
    d->refs = 3; /* the creator's, the loop's and the reaction's */
    d->state = CF_PROMISE_PENDING;
    d->flags = F_LOOP_REF;
    d->adopt = A_NONE;
    r->kind = (uint8_t)kind;
    r->a.cb = a;
    r->b.cb = b;
    r->data = data;
    r->derived = d;
    mark_handled(p);
    if (append_if_waiting(p, r))
        return d;
    r->link.src = p;
    p->refs++;
    /* Only `r` is kept across the call: the queue does not run it before this returns. */
    if (CF_UNLIKELY(cf_queue_microtask(as->loop, run_reaction, r) < 0))
        return derive_unqueued(r);
    return r->derived;
}

CF__NOINLINE cf_promise *cf_promise_then(cf_promise *p, cf_promise_cb on_fulfilled,
                                         cf_promise_cb on_rejected, void *data)
{
    cf_promise *d = derive(p, R_THEN, on_fulfilled, on_rejected, data);
    return site_of(d, CF__SITE_CALLER().pc);
}

CF__NOINLINE cf_promise *cf_promise_catch(cf_promise *p, cf_promise_cb on_rejected, void *data)
{
    return site_of(derive(p, R_THEN, NULL, on_rejected, data), CF__SITE_CALLER().pc);
}

CF__NOINLINE cf_promise *cf_promise_finally(cf_promise *p, cf_promise_cb on_finally, void *data)
{
    int kind = on_finally ? R_FINALLY : R_THEN;
    return site_of(derive(p, kind, on_finally, NULL, data), CF__SITE_CALLER().pc);
}

int cf_promise_on_settle(cf_promise *p, cf_promise_settle_cb cb, void *data)
{
    if (!p || !cb)
        return CF_EINVAL;
    cf__reaction *r = reaction_alloc(p->as, R_SETTLE);
    if (!r)
        return CF_ENOMEM;
    r->a.settle = cb;
    r->data = data;
    if (attach(p, r) < 0) {
        reaction_free(p->as, r);
        return CF_ENOMEM;
    }
    return 0;
}

void cf__reaction_init(cf__reaction *r, cf__reaction_fn fn)
{
    memset(r, 0, sizeof(*r));
    r->kind = R_EMBED;
    r->a.embed = fn;
}

int cf__promise_react(cf_promise *p, cf__reaction *r)
{
    CF_ASSERT(r->kind == R_EMBED);
    return attach(p, r);
}

int cf__promise_react_call(cf_promise *p, cf__react_call_fn fn, void *data, size_t index)
{
    cf__reaction *r = reaction_alloc(p->as, R_CALL);
    if (!r)
        return CF_ENOMEM;
    r->a.call = fn;
    r->b.index = index;
    r->data = data;
    if (attach(p, r) < 0) {
        reaction_free(p->as, r);
        return CF_ENOMEM;
    }
    return 0;
}

void cf__promise_pin(cf_promise *p)
{
    p->flags |= F_PINNED;
}

/* ---- inspect ---- */

enum cf_promise_state cf_promise_state(const cf_promise *p)
{
    CF_ASSERT(p);
    return (enum cf_promise_state)p->state;
}

void *cf_promise_value(const cf_promise *p)
{
    if (!p || p->state != CF_PROMISE_FULFILLED)
        return NULL;
    return p->value;
}

const cf_error *cf_promise_error(const cf_promise *p)
{
    if (!p || p->state != CF_PROMISE_REJECTED)
        return NULL;
    return (p->flags & F_VALUE) ? &cf__promise_value_reason : p->value;
}

void *cf_promise_reason(const cf_promise *p)
{
    if (!p || p->state != CF_PROMISE_REJECTED)
        return NULL;
    return p->value;
}

int cf_promise_reason_is_error(const cf_promise *p)
{
    if (!p || p->state != CF_PROMISE_REJECTED)
        return CF_EINVAL;
    return (p->flags & F_VALUE) ? 0 : 1;
}

int cf_promise_code(const cf_promise *p)
{
    const cf_error *e = cf_promise_error(p);
    return e ? e->code : 0;
}

cf_loop *cf_promise_loop(const cf_promise *p)
{
    return p ? p->as->loop : NULL;
}

int cf_promise_is_resolved(const cf_promise *p)
{
    return p && (p->flags & F_RESOLVED) ? 1 : 0;
}

int cf_promise_take(cf_promise *p, void **value)
{
    if (!p || !value || p->state != CF_PROMISE_FULFILLED)
        return CF_EINVAL;
    if ((p->flags & F_PINNED) || (p->owner && (p->owner->flags & F_PINNED)))
        return CF_EINVAL;
    if (p->refs != 1 || (p->owner && p->owner->refs != 1))
        return CF_EBUSY;
    *value = p->value;
    p->value = NULL;
    p->dtor = NULL;
    if (p->owner) {
        p->owner->value = NULL;
        p->owner->dtor = NULL;
    }
    return 0;
}

/* ---- unhandled rejections ---- */

static void noop_task(void *data)
{
    (void)data;
}

/* The default report: stderr, and the run fails with CF_EUNHANDLED (Node's default). */
static void report_default(cf__async *as, cf_promise *p)
{
    fputs("calcifer: unhandled promise rejection: ", stderr);
    cf_error_print(cf_promise_error(p), stderr);
    fflush(stderr);
    cf__loop_fail(as->loop, CF_EUNHANDLED);
}

/* ≈ Node's UnhandledPromiseRejectionWarning (modes strict, warn, warn-with-error-code). */
static void report_warning(cf_promise *p)
{
    fprintf(stderr, "calcifer: UnhandledPromiseRejectionWarning (rejection id: %llu): ",
            (unsigned long long)p->u.rejection_id);
    cf_error_print(cf_promise_error(p), stderr);
    fflush(stderr);
}

/* ≈ Node's PromiseRejectionHandledWarning, printed when no rejection-handled hook is set. */
static void report_handled_warning(cf_promise *p)
{
    fprintf(stderr,
            "calcifer: PromiseRejectionHandledWarning: Promise rejection was handled "
            "asynchronously (rejection id: %llu)\n",
            (unsigned long long)p->u.rejection_id);
    fflush(stderr);
}

/*
 * The loop's exit-code hook, set once warn-with-error-code warned (≈ process.exitCode = 1):
 * a run that drains the loop then returns CF_EUNHANDLED, as Node exits with code 1.
 */
static int exit_code_hook(cf_loop *loop, void *arg)
{
    (void)loop;
    const cf__async *as = arg;
    return as->exit_code ? CF_EUNHANDLED : 0;
}

/* The uncaught-exception path of a rejection: the hook, else the default report. */
static int reject_uncaught(cf__async *as, cf_promise *p)
{
    if (as->on_uncaught) {
        as->on_uncaught(cf_promise_error(p), p, as->on_uncaught_data);
        return 0;
    }
    report_default(as, p);
    return 1;
}

/*
 * One unhandled rejection, as Node's mode says (lib/internal/process/promises.js): throw
 * (the 'unhandledRejection' hook, else the uncaught path), strict (the uncaught path first,
 * then the hook or a warning), warn (the hook and a warning), warn-with-error-code (the
 * hook, else a warning and exit code 1), none (the hook only). Returns 1 when the run failed.
 */
static int report_unhandled(cf__async *as, cf_promise *p)
{
    int hooked = as->on_unhandled != NULL;
    switch (as->mode) {
    case CF_UNHANDLED_STRICT:
        if (reject_uncaught(as, p))
            return 1;
        break;
    case CF_UNHANDLED_THROW:
        if (!hooked)
            return reject_uncaught(as, p);
        break;
    default:
        break;
    }
    if (hooked)
        as->on_unhandled(p, as->on_unhandled_data);
    if (as->mode == CF_UNHANDLED_WARN ||
        (!hooked && as->mode != CF_UNHANDLED_NONE && as->mode != CF_UNHANDLED_THROW)) {
        report_warning(p);
        if (as->mode == CF_UNHANDLED_WARN_WITH_ERROR_CODE && !as->exit_code) {
            as->exit_code = 1;
            cf__loop_set_exit_code_hook(as->loop, exit_code_hook, as);
        }
    }
    return 0;
}

/*
 * The drain hook (≈ Node's processPromiseRejections): 'rejectionHandled' reports first, then
 * the unhandled rejections pending when the batch starts, skipping those handled meanwhile.
 * Rejections made during the batch wait for the next drain; a no-op microtask makes core
 * drain again (running what the hooks queued) and call this again.
 */
static void on_drain(cf_loop *loop, void *arg)
{
    cf__async *as = arg;
    while (!plist_empty(&as->handled_later)) {
        cf_promise *p = plist_shift(&as->handled_later);
        if (as->on_handled)
            as->on_handled(p, as->on_handled_data);
        else
            report_handled_warning(p);
        cf_promise_release(p);
    }
    size_t n = as->unhandled.len - as->unhandled.head;
    int failed = 0;
    while (n-- > 0 && !failed) {
        cf_promise *p = plist_shift(&as->unhandled);
        if (!(p->flags & F_HANDLED)) {
            p->flags |= F_WARNED;
            failed = report_unhandled(as, p); /* as Node, which exits: the rest waits */
        }
        cf_promise_release(p);
    }
    if (plist_empty(&as->unhandled) && plist_empty(&as->handled_later)) {
        as->hook_installed = 0;
        cf__loop_set_drain_hook(loop, NULL, NULL);
    } else if (!failed && cf_queue_microtask(loop, noop_task, NULL) < 0) {
        cf__loop_fail(loop, CF_ENOMEM);
    }
}

/* ---- modes and uncaught exceptions ---- */

static const char *const mode_names[] = {"throw", "strict", "warn", "warn-with-error-code", "none"};

int cf_unhandled_rejections_parse(const char *name)
{
    if (!name)
        return CF_EINVAL;
    for (size_t i = 0; i < CF_ARRAY_LEN(mode_names); i++) {
        if (strcmp(name, mode_names[i]) == 0)
            return (int)i;
    }
    return CF_EINVAL;
}

/* The mode CALCIFER_UNHANDLED_REJECTIONS names (read when a loop's promise state is made). */
static cf_unhandled_mode mode_from_env(void)
{
    const char *v = getenv("CALCIFER_UNHANDLED_REJECTIONS");
    if (!v || !*v)
        return CF_UNHANDLED_THROW;
    int mode = cf_unhandled_rejections_parse(v);
    if (mode < 0) {
        fprintf(stderr,
                "calcifer: CALCIFER_UNHANDLED_REJECTIONS='%s' is not a mode (throw, strict, "
                "warn, warn-with-error-code, none): using throw\n",
                v);
        return CF_UNHANDLED_THROW;
    }
    return (cf_unhandled_mode)mode;
}

int cf_loop_set_unhandled_rejections(cf_loop *loop, cf_unhandled_mode mode)
{
    if (!loop || (int)mode < 0 || (int)mode > CF_UNHANDLED_NONE)
        return CF_EINVAL;
    cf__async *as = async_get(loop);
    if (!as)
        return CF_ENOMEM;
    as->mode = mode;
    return 0;
}

int cf_unhandled_exit_code(cf_loop *loop)
{
    if (!loop)
        return CF_EINVAL;
    cf__async *as = cf__loop_slot(loop, CF__SLOT_ASYNC);
    return as ? as->exit_code : 0;
}

int cf_on_uncaught_exception(cf_loop *loop, cf_uncaught_cb fn, void *data)
{
    if (!loop)
        return CF_EINVAL;
    cf__async *as = async_get(loop);
    if (!as)
        return CF_ENOMEM;
    if (fn && as->on_uncaught)
        return CF_EBUSY;
    as->on_uncaught = fn;
    as->on_uncaught_data = fn ? data : NULL;
    return 0;
}

int cf_throw_uncaught(cf_loop *loop, cf_error *err)
{
    if (!loop) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    cf__async *as = async_get(loop);
    const cf_error *e = err ? err : &cf__promise_enomem;
    int rc = 0;
    if (as && as->on_uncaught) {
        as->on_uncaught(e, NULL, as->on_uncaught_data);
    } else {
        fputs("calcifer: uncaught exception: ", stderr);
        cf_error_print(e, stderr);
        fflush(stderr);
        rc = e->code < 0 ? e->code : CF_EUNKNOWN;
        cf__loop_fail(loop, rc);
    }
    cf_error_free(err);
    return rc;
}

int cf_on_unhandled_rejection(cf_loop *loop, cf_rejection_cb fn, void *data)
{
    if (!loop)
        return CF_EINVAL;
    cf__async *as = async_get(loop);
    if (!as)
        return CF_ENOMEM;
    as->on_unhandled = fn;
    as->on_unhandled_data = data;
    return 0;
}

int cf_on_rejection_handled(cf_loop *loop, cf_rejection_cb fn, void *data)
{
    if (!loop)
        return CF_EINVAL;
    cf__async *as = async_get(loop);
    if (!as)
        return CF_ENOMEM;
    as->on_handled = fn;
    as->on_handled_data = data;
    return 0;
}
