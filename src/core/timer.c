/*
 * Timers and immediates (≈ setTimeout, setInterval, setImmediate).
 *
 * Timers: like Node, the loop keeps one list per distinct duration. Timers started with the
 * same duration are due in the order they were started, so each list stays sorted by
 * (due, seq) by appending at its tail; only when the cached clock has not moved forward
 * (a restart from a callback that updated the clock) does an insert walk back a few steps.
 * A binary min-heap orders the non-empty lists by their first timer's (due, seq), and a small
 * open-addressing table finds the list of a duration. Programs use few distinct durations,
 * so starting and firing a timer cost O(1) plus a sift in a heap of a handful of lists; with
 * all durations distinct it degrades to an ordinary binary heap of timers.
 *
 * Invariants:
 *  - a list is in the table and in the heap exactly when it holds at least one timer;
 *  - t->list != NULL exactly when t is queued in that list;
 *  - `seq` grows with every start, so "started during this timers phase" is seq >= the value
 *    at phase start, and equal due times run in order of start.
 *
 * The heap entries carry their list's first (due, seq), so sifting touches only the heap
 * array, never the timers.
 *
 * Timeouts (cf_set_timeout, cf_set_interval) are timers the loop owns, carved from
 * slabs and recycled through a free list, so starting one allocates nothing after warm-up and
 * firing one frees nothing. Slabs double from TIMER_SLAB timers up to 2 MiB huge pages
 * (cf__slab_alloc): timers due one after the other lie far apart (with 100 durations, a page
 * apart), so with 4 KiB pages a million of them cost a page fault each to start and a TLB miss
 * each to fire. Trade-off: their memory stays at the peak number alive at once until
 * cf_loop_close, which frees the slabs (and with them the unref'd timeouts still queued). They
 * are internal handles (not counted by cf_loop_close). The public cf_timeout is the same
 * struct cf_timer under another, opaque name, so that a timeout and a caller-owned timer are
 * distinct types to the compiler: as_timer/as_timeout convert at the boundary.
 * Immediates are a FIFO of small records with a bounded free list.
 */
#include "calcifer/timer.h"
#include "core/internal.h"

#include <limits.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

#define TIMEOUT_MAX        2147483647u /* Node's TIMEOUT_MAX: longer delays become 1 ms */
#define TIMER_SLAB         256         /* timeouts in the first slab */
#define FREE_LISTS_MAX     64
#define FREE_IMMEDIATE_MAX 4096

enum {
    TIMER_JS = CF__HANDLE_USER,            /* a cf_timeout, owned by the loop */
    TIMER_RUNNING = CF__HANDLE_USER << 1,  /* inside its own callback */
    TIMER_REINSERT = CF__HANDLE_USER << 2, /* repeating: put back after the callback */
    TIMER_STARTED = CF__HANDLE_USER << 3,  /* started at least once */
    TIMER_HELD = CF__HANDLE_USER << 4,     /* timeout: kept after firing (cf_timeout_hold) */
    TIMER_DEAD = CF__HANDLE_USER << 5,     /* timeout: cleared or fired, back in its slab */
    TIMER_OWNED = CF__HANDLE_USER << 6     /* timeout of a library object: close-all skips it */
};

struct cf_timer {
    /* First cache line: what the timers phase reads to order and fire a timer. */
    cf_queue link; /* in list->timers while queued */
    uint64_t due;
    uint64_t seq;
    struct cf__tlist *list; /* NULL when not queued */
    union {
        cf_timer_cb cb; /* cf_timer */
        cf_callback fn; /* cf_timeout (TIMER_JS) */
    } u;
    void *data;
    uint64_t repeat;
    /* Second line: the handle and what closing needs. */
    cf__handle h;
    union {
        uint64_t timeout;    /* the duration of the current run (picks the list) */
        cf_timer *next_free; /* on the free list (a timeout not in use) */
    } v;
    cf_close_cb close_cb;
    void *close_data;
    const void *site; /* cf_timeout: return address of cf_set_timeout's caller (metrics.h) */
};

static inline cf_timer *as_timer(cf_timeout *o)
{
    return (cf_timer *)(void *)o;
}

static inline const cf_timer *as_ctimer(const cf_timeout *o)
{
    return (const cf_timer *)(const void *)o;
}

static inline cf_timeout *as_timeout(cf_timer *t)
{
    return (cf_timeout *)(void *)t;
}

typedef struct cf__tlist {
    uint64_t duration;
    cf_queue timers; /* sorted by (due, seq) */
    size_t heap_index;
    struct cf__tlist *next_free;
} tlist;

/* A slab's header, then its timers (two cache lines each) on a 64-byte boundary. */
typedef struct timer_slab {
    struct timer_slab *next;
    void *raw; /* the block to free */
    char pad[48];
    cf_timer timers[];
} timer_slab;

/* ---- the heap of lists ---- */

static inline cf_timer *first(const tlist *l)
{
    return cf_queue_data(l->timers.next, cf_timer, link);
}

/* Both cache lines of the timer whose link is `q`. */
static inline void prefetch_timer(const cf_queue *q)
{
    __builtin_prefetch(q);
    __builtin_prefetch((const char *)q + 64);
}

static inline int less(const cf__tentry *a, const cf__tentry *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static inline void heap_set(cf__timers *T, size_t i, cf__tentry e)
{
    T->heap[i] = e;
    e.list->heap_index = i;
}

static void heap_up(cf__timers *T, size_t i)
{
    cf__tentry e = T->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(&e, &T->heap[p]))
            break;
        heap_set(T, i, T->heap[p]);
        i = p;
    }
    heap_set(T, i, e);
}

static void heap_down(cf__timers *T, size_t i)
{
    cf__tentry e = T->heap[i];
    size_t n = T->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && less(&T->heap[c + 1], &T->heap[c]))
            c++;
        if (!less(&T->heap[c], &e))
            break;
        heap_set(T, i, T->heap[c]);
        i = c;
    }
    heap_set(T, i, e);
}

/*
 * Copy the key of `l`'s (new) first timer into its heap entry, and prefetch the timer after
 * it: with many timers in memory, reading the next key is the timers phase's main cache miss,
 * and by the time this list's turn comes again the line has arrived.
 */
static inline void heap_rekey(cf__timers *T, tlist *l)
{
    const cf_timer *t = first(l);
    cf__tentry *e = &T->heap[l->heap_index];
    e->due = t->due;
    e->seq = t->seq;
    if (t->link.next != &l->timers)
        prefetch_timer(t->link.next);
}

static int heap_reserve(cf__timers *T)
{
    if (T->heap_len < T->heap_cap)
        return 0;
    size_t cap = T->heap_cap ? T->heap_cap * 2 : 16;
    cf__tentry *h = cf__realloc(T->heap, cap * sizeof(*h));
    if (!h)
        return CF_ENOMEM;
    T->heap = h;
    T->heap_cap = cap;
    return 0;
}

static void heap_push(cf__timers *T, tlist *l)
{
    const cf_timer *t = first(l);
    cf__tentry e = {t->due, t->seq, l};
    heap_set(T, T->heap_len++, e);
    heap_up(T, l->heap_index);
    if (t->link.next != &l->timers)
        prefetch_timer(t->link.next);
}

static void heap_remove(cf__timers *T, tlist *l)
{
    size_t i = l->heap_index;
    cf__tentry last = T->heap[--T->heap_len];
    if (i == T->heap_len)
        return;
    heap_set(T, i, last);
    heap_down(T, i);
    heap_up(T, last.list->heap_index);
}

/* ---- the duration table (linear probing, backward-shift deletion) ---- */

static inline size_t hash_duration(uint64_t d)
{
    return (size_t)((d * 0x9E3779B97F4A7C15ull) >> 29);
}

static tlist *table_find(const cf__timers *T, uint64_t d)
{
    if (!T->table)
        return NULL;
    for (size_t i = hash_duration(d) & T->table_mask;; i = (i + 1) & T->table_mask) {
        tlist *l = T->table[i];
        if (!l || l->duration == d)
            return l;
    }
}

static void table_put(cf__timers *T, tlist *l)
{
    size_t i = hash_duration(l->duration) & T->table_mask;
    while (T->table[i]) {
        i = (i + 1) & T->table_mask;
    }
    T->table[i] = l;
}

/* Make room for one more list (load factor at most 1/2). */
static int table_reserve(cf__timers *T)
{
    size_t cap = T->table ? T->table_mask + 1 : 0;
    if ((T->table_len + 1) * 2 <= cap)
        return 0;
    size_t ncap = cap ? cap * 2 : 16;
    tlist **old = T->table;
    T->table = cf__calloc(ncap, sizeof(*T->table));
    if (!T->table) {
        T->table = old;
        return CF_ENOMEM;
    }
    T->table_mask = ncap - 1;
    for (size_t i = 0; i < cap; i++) {
        if (old[i])
            table_put(T, old[i]);
    }
    cf__free(old);
    return 0;
}

static void table_remove(cf__timers *T, tlist *l)
{
    size_t mask = T->table_mask;
    size_t i = hash_duration(l->duration) & mask;
    while (T->table[i] != l) {
        i = (i + 1) & mask;
    }
    T->table[i] = NULL;
    T->table_len--;
    /* Shift back the entries that probed past the hole. */
    for (size_t j = (i + 1) & mask; T->table[j]; j = (j + 1) & mask) {
        size_t k = hash_duration(T->table[j]->duration) & mask;
        int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        T->table[i] = T->table[j];
        T->table[j] = NULL;
        i = j;
    }
}

/* ---- lists ---- */

static tlist *list_get(cf__timers *T, uint64_t duration)
{
    tlist *l = table_find(T, duration);
    if (l)
        return l;
    if (heap_reserve(T) < 0 || table_reserve(T) < 0)
        return NULL;
    l = T->free_lists;
    if (l) {
        T->free_lists = l->next_free;
    } else {
        l = cf__malloc(sizeof(*l));
        if (!l)
            return NULL;
    }
    l->duration = duration;
    cf_queue_init(&l->timers);
    l->next_free = NULL;
    table_put(T, l);
    T->table_len++;
    return l;
}

static void list_release(cf__timers *T, tlist *l)
{
    heap_remove(T, l);
    table_remove(T, l);
    size_t n = 0;
    for (tlist *f = T->free_lists; f && n < FREE_LISTS_MAX; f = f->next_free) {
        n++;
    }
    if (n >= FREE_LISTS_MAX) {
        cf__free(l);
        return;
    }
    l->next_free = T->free_lists;
    T->free_lists = l;
}

/* ---- queueing a timer ---- */

/* Queue `t` due `timeout` ms after the cached clock. Returns 0 or CF_ENOMEM. */
static int timer_insert(cf_loop *loop, cf_timer *t, uint64_t timeout)
{
    cf__timers *T = &loop->timers;
    tlist *l = list_get(T, timeout);
    if (!l)
        return CF_ENOMEM;
    uint64_t due = loop->time + timeout;
    if (due < loop->time)
        due = UINT64_MAX;
    t->due = due;
    t->seq = T->seq++;
    t->v.timeout = timeout;
    t->list = l;
    int was_empty = cf_queue_empty(&l->timers);
    cf_queue *q = l->timers.prev;
    while (q != &l->timers && cf_queue_data(q, cf_timer, link)->due > due) {
        q = q->prev;
    }
    cf_queue_insert_head(q, &t->link); /* right after q */
    if (was_empty) {
        heap_push(T, l);
    } else if (first(l) == t) {
        heap_rekey(T, l);
        heap_up(T, l->heap_index);
    }
    return 0;
}

static void timer_unlink(cf_loop *loop, cf_timer *t)
{
    cf__timers *T = &loop->timers;
    tlist *l = t->list;
    if (!l)
        return;
    int was_first = first(l) == t;
    cf_queue_remove(&t->link);
    t->list = NULL;
    if (cf_queue_empty(&l->timers)) {
        list_release(T, l);
    } else if (was_first) {
        heap_rekey(T, l);
        heap_down(T, l->heap_index);
    }
}

/* (Re)start `t` with `timeout`; on failure it is left stopped. */
static int timer_arm(cf_timer *t, uint64_t timeout)
{
    cf_loop *loop = t->h.loop;
    timer_unlink(loop, t);
    t->h.flags &= ~(unsigned)TIMER_REINSERT;
    t->h.flags |= TIMER_STARTED;
    int rc = timer_insert(loop, t, timeout);
    if (rc < 0) {
        cf__handle_stop(&t->h);
        return rc;
    }
    cf__handle_start(&t->h);
    return 0;
}

static void timer_disarm(cf_timer *t)
{
    timer_unlink(t->h.loop, t);
    t->h.flags &= ~(unsigned)TIMER_REINSERT;
    cf__handle_stop(&t->h);
}

/* ---- timeouts (loop-owned) ---- */

/*
 * Put a timeout back on the free list. Its slot stays mapped until cf_loop_close, so it
 * is marked dead (and closed, which every "closing" check already refuses): a call made with
 * the stale pointer before the slot is reused fails with an error instead of re-arming a timer
 * nobody owns.
 */
static void js_release(cf_loop *loop, cf_timer *t)
{
    cf__timers *T = &loop->timers;
    cf__handle_stop(&t->h);
    t->h.flags = CF__HANDLE_INTERNAL | CF__HANDLE_CLOSED | TIMER_DEAD;
    t->v.next_free = T->free_timers;
    T->free_timers = t;
}

/* Carve a new slab (twice the previous one, up to CF__SLAB_MAX: see cf__slab_alloc). */
static int slab_add(cf__timers *T)
{
    size_t bytes = T->slab_bytes;
    void *raw;
    timer_slab *slab =
        cf__slab_alloc(sizeof(timer_slab) + TIMER_SLAB * sizeof(cf_timer), &bytes, &raw);
    if (!slab)
        return CF_ENOMEM;
    slab->next = T->slabs;
    slab->raw = raw;
    T->slabs = slab;
    T->slab_bytes = bytes;
    for (size_t i = (bytes - sizeof(timer_slab)) / sizeof(cf_timer); i-- > 0;) {
        slab->timers[i].v.next_free = T->free_timers;
        T->free_timers = &slab->timers[i];
    }
    return 0;
}

/* A timeout's timer from the free list, carving a new slab when it is empty. */
static cf_timer *js_alloc(cf__timers *T)
{
    if (!T->free_timers && slab_add(T) < 0)
        return NULL;
    cf_timer *t = T->free_timers;
    T->free_timers = t->v.next_free;
    return t;
}

static uint64_t js_delay(uint64_t ms)
{
    return (ms < 1 || ms > TIMEOUT_MAX) ? 1 : ms;
}

static int js_start(cf_loop *loop, uint64_t delay_ms, uint64_t repeat, cf_callback fn, void *data,
                    cf_timeout **out, const void *site)
{
    if (out)
        *out = NULL;
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf_timer *t = js_alloc(&loop->timers);
    if (!t)
        return CF_ENOMEM;
    cf__handle_init_internal(loop, &t->h);
    t->h.flags |= TIMER_JS;
    t->list = NULL;
    t->repeat = repeat;
    t->u.fn = fn;
    t->data = data;
    t->close_cb = NULL;
    t->site = site;
    int rc = timer_arm(t, delay_ms);
    if (rc < 0) {
        js_release(loop, t);
        return rc;
    }
    if (out)
        *out = as_timeout(t);
    return 0;
}

int cf_set_timeout(cf_loop *loop, uint64_t delay_ms, cf_callback fn, void *data, cf_timeout **out)
{
    return js_start(loop, js_delay(delay_ms), 0, fn, data, out, __builtin_return_address(0));
}

int cf_set_interval(cf_loop *loop, uint64_t delay_ms, cf_callback fn, void *data, cf_timeout **out)
{
    uint64_t d = js_delay(delay_ms);
    return js_start(loop, d, d, fn, data, out, __builtin_return_address(0));
}

void cf_clear_timeout(cf_timeout *o)
{
    cf_timer *t = as_timer(o);
    if (!t)
        return;
    if (t->h.flags & TIMER_DEAD)
        return; /* cleared twice, or fired: nothing left to cancel */
    CF_ASSERT(cf__loop_is_loop_thread(t->h.loop));
    timer_disarm(t);
    /* From its own callback, the timer is released when the callback returns (held or not). */
    t->h.flags &= ~(unsigned)TIMER_HELD;
    if (!(t->h.flags & TIMER_RUNNING))
        js_release(t->h.loop, t);
}

void cf_clear_interval(cf_timeout *o)
{
    cf_clear_timeout(o);
}

int cf_timeout_refresh(cf_timeout *o)
{
    cf_timer *t = as_timer(o);
    if (!t)
        return CF_EINVAL;
    if (t->h.flags & TIMER_DEAD)
        return CF_ECLOSED;
    CF_ASSERT(t->h.flags & TIMER_JS);
    CF_ASSERT(cf__loop_is_loop_thread(t->h.loop));
    /* As Node: the same duration from now, at the end of that duration's list, ref kept. */
    return timer_arm(t, t->repeat ? t->repeat : t->v.timeout);
}

int cf_timeout_hold(cf_timeout *o)
{
    cf_timer *t = as_timer(o);
    if (!t)
        return CF_EINVAL;
    if (t->h.flags & TIMER_DEAD)
        return CF_ECLOSED;
    t->h.flags |= TIMER_HELD;
    return 0;
}

void cf_timeout_ref(cf_timeout *o)
{
    cf_timer *t = as_timer(o);
    if (t && !(t->h.flags & TIMER_DEAD))
        cf__handle_ref(&t->h);
}

void cf_timeout_unref(cf_timeout *o)
{
    cf_timer *t = as_timer(o);
    if (t && !(t->h.flags & TIMER_DEAD))
        cf__handle_unref(&t->h);
}

int cf_timeout_has_ref(const cf_timeout *o)
{
    const cf_timer *t = as_ctimer(o);
    return t && !(t->h.flags & TIMER_DEAD) && cf__handle_has_ref(&t->h);
}

int cf_timeout_is_active(const cf_timeout *o)
{
    const cf_timer *t = as_ctimer(o);
    return t && !(t->h.flags & TIMER_DEAD) && cf__handle_is_active(&t->h);
}

/* ---- the timers phase ---- */

/* Run `t`, just taken off its list, then requeue it if it repeats or free it if a timeout. */
static void timer_fire(cf_loop *loop, cf_timer *t)
{
    if (t->repeat)
        t->h.flags |= TIMER_REINSERT;
    else
        cf__handle_stop(&t->h);
    t->h.flags |= TIMER_RUNNING;
    uint64_t t0 = CF__OBS_CB_BEGIN(loop);
    if (t->h.flags & TIMER_JS) {
        t->u.fn(t->data);
        CF__OBS_CB_END(loop, t0, CF__OBS_TIMER, t->u.fn, t->site);
    } else {
        t->u.cb(t, t->data);
        CF__OBS_CB_END(loop, t0, CF__OBS_TIMER, t->u.cb, t->h.origin);
    }
    t->h.flags &= ~(unsigned)TIMER_RUNNING;
    if (t->h.flags & TIMER_REINSERT) {
        /* The repeat read now: a callback that set it to 0 ends the series. */
        t->h.flags &= ~(unsigned)TIMER_REINSERT;
        if (!t->repeat) {
            cf__handle_stop(&t->h);
        } else if (timer_insert(loop, t, t->repeat) < 0) {
            cf__handle_stop(&t->h);
            cf__loop_fail(loop, CF_ENOMEM);
        }
    }
    if ((t->h.flags & (TIMER_JS | TIMER_HELD)) == TIMER_JS && !t->list)
        js_release(loop, t);
}

int cf__timers_run(cf_loop *loop)
{
    cf__timers *T = &loop->timers;
    uint64_t now = loop->time;
    uint64_t limit = T->seq;
    int ran = 0;
    while (T->heap_len && !cf__loop_failed(loop)) {
        const cf__tentry *e = &T->heap[0];
        if (e->due > now || e->seq >= limit)
            break;
        cf_timer *t = first(e->list);
        timer_unlink(loop, t);
        timer_fire(loop, t);
        cf__after_callback(loop);
        ran++;
    }
    return ran;
}

int cf__timers_next_timeout(const cf_loop *loop)
{
    const cf__timers *T = &loop->timers;
    if (!T->heap_len)
        return -1;
    uint64_t due = T->heap[0].due;
    if (due <= loop->time)
        return 0;
    uint64_t diff = due - loop->time;
    return diff > INT_MAX ? INT_MAX : (int)diff;
}

void cf__timers_init(cf_loop *loop)
{
    cf__timers *T = &loop->timers;
    T->heap = NULL;
    T->heap_len = 0;
    T->heap_cap = 0;
    T->table = NULL;
    T->table_mask = 0;
    T->table_len = 0;
    T->free_lists = NULL;
    T->free_timers = NULL;
    T->slabs = NULL;
    T->slab_bytes = 0;
    T->seq = 0;
}

void cf__timers_free(cf_loop *loop)
{
    cf__timers *T = &loop->timers;
    /* Only loop-owned (unref'd) timeouts can still be queued here. */
    for (size_t i = 0; i < T->heap_len; i++) {
        tlist *l = T->heap[i].list;
        while (!cf_queue_empty(&l->timers)) {
            cf_timer *t = first(l);
            cf_queue_remove(&t->link);
            CF_ASSERT(t->h.flags & TIMER_JS); /* its memory is in a slab */
        }
        cf__free(l);
    }
    while (T->free_lists) {
        tlist *l = T->free_lists;
        T->free_lists = l->next_free;
        cf__free(l);
    }
    while (T->slabs) {
        timer_slab *slab = T->slabs;
        T->slabs = slab->next;
        cf__free(slab->raw);
    }
    cf__free(T->heap);
    cf__free(T->table);
    cf__timers_init(loop);
}

/* ---- timers (caller-owned handles) ---- */

static void timer_close_req(cf__handle *h)
{
    (void)cf_timer_close(CF_CONTAINER_OF(h, cf_timer, h), NULL, NULL);
}

CF__NOINLINE int cf_timer_new(cf_loop *loop, cf_timer **out)
{
    const void *site = CF__SITE_CALLER().pc;
    if (!loop || !out)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf_timer *t = cf__calloc(1, sizeof(*t));
    if (!t) {
        *out = NULL;
        return CF_ENOMEM;
    }
    cf__handle_init_at(loop, &t->h, site);
    cf__handle_set_close_req(&t->h, timer_close_req);
    *out = t;
    return 0;
}

void cf__timer_set_owned(cf_timer *t)
{
    cf__handle_set_close_req(&t->h, NULL);
}

void cf__timeout_set_owned(cf_timeout *o)
{
    as_timer(o)->h.flags |= TIMER_OWNED;
}

int cf_timer_start(cf_timer *t, uint64_t timeout_ms, uint64_t repeat_ms, cf_timer_cb cb, void *data)
{
    if (!t || !cb)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    t->u.cb = cb;
    t->data = data;
    t->repeat = repeat_ms;
    return timer_arm(t, timeout_ms);
}

int cf_timer_stop(cf_timer *t)
{
    if (!t)
        return CF_EINVAL;
    timer_disarm(t);
    return 0;
}

int cf_timer_again(cf_timer *t)
{
    if (!t)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    if (!(t->h.flags & TIMER_STARTED))
        return CF_EINVAL;
    if (!t->repeat)
        return 0;
    return timer_arm(t, t->repeat);
}

void cf_timer_set_repeat(cf_timer *t, uint64_t repeat_ms)
{
    if (t)
        t->repeat = repeat_ms;
}

uint64_t cf_timer_get_repeat(const cf_timer *t)
{
    return t ? t->repeat : 0;
}

uint64_t cf_timer_get_due_in(const cf_timer *t)
{
    if (!t || !t->list || t->due <= t->h.loop->time)
        return 0;
    return t->due - t->h.loop->time;
}

int cf_timer_is_active(const cf_timer *t)
{
    return t && cf__handle_is_active(&t->h);
}

void cf_timer_ref(cf_timer *t)
{
    if (t)
        cf__handle_ref(&t->h);
}

void cf_timer_unref(cf_timer *t)
{
    if (t)
        cf__handle_unref(&t->h);
}

int cf_timer_has_ref(const cf_timer *t)
{
    return t && cf__handle_has_ref(&t->h);
}

static void timer_closed(cf__handle *h)
{
    cf_timer *t = CF_CONTAINER_OF(h, cf_timer, h);
    cf_close_cb cb = t->close_cb;
    void *data = t->close_data;
    cf__free(t);
    if (cb)
        cb(data);
}

int cf_timer_close(cf_timer *t, cf_close_cb cb, void *data)
{
    if (!t)
        return CF_EINVAL;
    if (cf__handle_is_closing(&t->h))
        return CF_ECLOSED;
    timer_disarm(t);
    t->close_cb = cb;
    t->close_data = data;
    return cf__handle_close(&t->h, timer_closed);
}

/* ---- immediates ---- */

enum { IMM_REF = 1, IMM_QUEUED = 2 };

struct cf_immediate {
    cf_queue link; /* in loop->immediates or the batch of a running check phase */
    cf_loop *loop;
    cf_callback fn;
    void *data;
    unsigned flags;
    cf_immediate *next_free;
};

void cf__immediates_init(cf_loop *loop)
{
    cf_queue_init(&loop->immediates);
    loop->immediate_refs = 0;
    loop->free_immediates = NULL;
    loop->free_immediate_count = 0;
}

static void imm_release(cf_loop *loop, cf_immediate *imm)
{
    if (loop->free_immediate_count >= FREE_IMMEDIATE_MAX) {
        cf__free(imm);
        return;
    }
    imm->next_free = loop->free_immediates;
    loop->free_immediates = imm;
    loop->free_immediate_count++;
}

void cf__immediates_free(cf_loop *loop)
{
    while (!cf_queue_empty(&loop->immediates)) {
        cf_immediate *imm = cf_queue_data(cf_queue_head(&loop->immediates), cf_immediate, link);
        cf_queue_remove(&imm->link);
        cf__free(imm);
    }
    while (loop->free_immediates) {
        cf_immediate *imm = loop->free_immediates;
        loop->free_immediates = imm->next_free;
        cf__free(imm);
    }
    cf__immediates_init(loop);
}

int cf_set_immediate(cf_loop *loop, cf_callback fn, void *data, cf_immediate **out)
{
    if (out)
        *out = NULL;
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf_immediate *imm = loop->free_immediates;
    if (imm) {
        loop->free_immediates = imm->next_free;
        loop->free_immediate_count--;
    } else {
        imm = cf__malloc(sizeof(*imm));
        if (!imm)
            return CF_ENOMEM;
    }
    imm->loop = loop;
    imm->fn = fn;
    imm->data = data;
    imm->flags = IMM_REF | IMM_QUEUED;
    cf_queue_insert_tail(&loop->immediates, &imm->link);
    loop->immediate_refs++;
    if (out)
        *out = imm;
    return 0;
}

void cf_clear_immediate(cf_immediate *imm)
{
    if (!imm || !(imm->flags & IMM_QUEUED))
        return;
    cf_loop *loop = imm->loop;
    cf_queue_remove(&imm->link);
    if (imm->flags & IMM_REF)
        loop->immediate_refs--;
    imm->flags = 0;
    imm_release(loop, imm);
}

/* Only a queued immediate changes: one that ran or was cleared has no ref, as in Node. */
void cf_immediate_ref(cf_immediate *imm)
{
    if (!imm || (imm->flags & (IMM_REF | IMM_QUEUED)) != IMM_QUEUED)
        return;
    imm->flags |= IMM_REF;
    imm->loop->immediate_refs++;
}

void cf_immediate_unref(cf_immediate *imm)
{
    if (!imm || (imm->flags & (IMM_REF | IMM_QUEUED)) != (IMM_REF | IMM_QUEUED))
        return;
    imm->flags &= ~(unsigned)IMM_REF;
    imm->loop->immediate_refs--;
}

int cf_immediate_has_ref(const cf_immediate *imm)
{
    return imm && (imm->flags & IMM_REF);
}

/*
 * The check phase: the immediates queued before it began, in order. Two copies of the loop,
 * one observed (core/metrics.h), chosen once per phase: a check per immediate cost 3% of a
 * loop that runs one immediate per iteration.
 */
__attribute__((always_inline)) static inline void immediates_run(cf_loop *loop, int observed)
{
    cf_queue batch;
    cf_queue_move(&loop->immediates, &batch);
    while (!cf_queue_empty(&batch) && !cf__loop_failed(loop)) {
        cf_immediate *imm = cf_queue_data(cf_queue_head(&batch), cf_immediate, link);
        cf_queue_remove(&imm->link);
        if (imm->flags & IMM_REF)
            loop->immediate_refs--;
        imm->flags = 0;
        if (observed == 2) { /* counted only */
            imm->fn(imm->data);
            loop->obs.callbacks++;
        } else if (observed) {
            uint64_t t0 = cf__obs_begin(loop);
            cf_callback fn = imm->fn;
            fn(imm->data);
            if (t0 == 1) /* counted only: no call */
                loop->obs.callbacks++;
            else
                (void)cf__obs_callback(loop, t0, CF__OBS_IMMEDIATE, (const void *)fn, NULL);
        } else {
            imm->fn(imm->data);
        }
        imm_release(loop, imm);
        cf__after_callback(loop);
    }
    /* A failed run keeps the rest, ahead of the ones queued meanwhile. */
    while (!cf_queue_empty(&batch)) {
        cf_queue *q = batch.prev;
        cf_queue_remove(q);
        cf_queue_insert_head(&loop->immediates, q);
    }
}

/* Out of line, so that the plain copy keeps its registers. */
__attribute__((noinline, cold)) static void immediates_run_observed(cf_loop *loop)
{
    immediates_run(loop, 1);
}

/* The plain loop's check phase: no look at the observability flags (the iteration chose). */
void cf__immediates_run(cf_loop *loop)
{
    if (cf_queue_empty(&loop->immediates))
        return;
    immediates_run(loop, 0);
}

/*
 * The check phase of the lazy mode (the timed metrics alone): each callback counted, no clock
 * read. The mode is chosen per iteration (loop.c); a callback that turns the detector or the
 * trace on takes effect from the next one.
 */
void cf__immediates_run_counted(cf_loop *loop)
{
    immediates_run(loop, 2);
}

/* The check phase of an observed iteration: counts, times or traces. */
void cf__immediates_run_observed(cf_loop *loop)
{
    if (cf_queue_empty(&loop->immediates))
        return;
    if (CF__OBS_ON(loop)) {
        immediates_run_observed(loop);
        return;
    }
    immediates_run(loop, 0);
}

/*
 * The first queued timeout found in any list. Clearing one reorders the heap (its list may be
 * rekeyed or leave it), so cf__timers_clear_timeouts looks again from the top each time: the
 * cost per timeout is the number of lists plus the handle timers met on the way, and
 * cf__loop_close_all has closed the handle timers by then.
 */
static cf_timer *first_timeout(const cf__timers *T)
{
    for (size_t i = 0; i < T->heap_len; i++) {
        const tlist *l = T->heap[i].list;
        for (cf_queue *q = l->timers.next; q != &l->timers; q = q->next) {
            cf_timer *t = cf_queue_data(q, cf_timer, link);
            if ((t->h.flags & (TIMER_JS | TIMER_OWNED)) == TIMER_JS)
                return t;
        }
    }
    return NULL;
}

int cf__timers_clear_timeouts(cf_loop *loop)
{
    int n = 0;
    cf_timer *t;
    while ((t = first_timeout(&loop->timers)) != NULL) {
        cf_clear_timeout(as_timeout(t));
        n++;
    }
    return n;
}

/* ---- internal timers of higher layers' per-loop state ---- */

int cf__timer_new_internal(cf_loop *loop, cf_timer **out)
{
    if (!loop || !out)
        return CF_EINVAL;
    cf_timer *t = cf__calloc(1, sizeof(*t));
    if (!t)
        return CF_ENOMEM;
    cf__handle_init_internal(loop, &t->h);
    cf__handle_unref(&t->h);
    *out = t;
    return 0;
}

void cf__timer_free_internal(cf_timer *t)
{
    if (!t)
        return;
    cf_timer_stop(t);
    cf__free(t);
}
