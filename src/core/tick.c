/*
 * The nextTick and microtask queues (≈ process.nextTick, queueMicrotask) and the one
 * function that drains them.
 *
 * Each queue is a ring buffer of {fn, data} pairs whose capacity doubles when full and
 * never shrinks until the loop is closed, so after warm-up queuing costs a store and an
 * increment, with no allocation. `head` and `tail` are free-running counters masked on
 * access; the ring is empty when they are equal.
 *
 * Drain rule (Node's processTicksAndRejections): run ticks until the tick queue is empty
 * (ticks queued meanwhile included), then microtasks until the microtask queue is empty
 * (microtasks queued meanwhile included, ticks queued meanwhile wait), and repeat while
 * either queue has work. Then the drain hook runs once; if it queued work, drain again.
 * Only cf__drain_ticks drains; it is not re-entrant (a nested call returns at once).
 */
#include "core/internal.h"

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/util.h"

#define RING_MIN_CAPACITY 256

/* Double the ring's capacity, keeping the queued tasks in order. */
static int ring_grow(cf__ring *r)
{
    size_t cap = r->items ? (r->mask + 1) * 2 : RING_MIN_CAPACITY;
    cf__task *items = cf__malloc(cap * sizeof(*items));
    if (!items)
        return CF_ENOMEM;
    /* Head and tail keep running: a drain counts its tasks by how far the head moved. */
    for (size_t i = r->head; i != r->tail; i++) {
        items[i & (cap - 1)] = r->items[i & r->mask];
    }
    cf__free(r->items);
    r->items = items;
    r->mask = cap - 1;
    return 0;
}

static inline void ring_put(cf__ring *r, cf_callback fn, void *data)
{
    cf__task *t = &r->items[r->tail & r->mask];
    t->fn = fn;
    t->data = data;
    r->tail++;
}

/*
 * The full-ring path, kept out of line: inlined, its register pressure made every push save
 * and restore six registers (a third of a push's time).
 */
__attribute__((noinline, cold)) static int ring_grow_put(cf__ring *r, cf_callback fn, void *data)
{
    int rc = ring_grow(r);
    if (rc < 0)
        return rc;
    ring_put(r, fn, data);
    return 0;
}

static inline int ring_push(cf__ring *r, cf_callback fn, void *data)
{
    if (CF_UNLIKELY(!r->items || r->tail - r->head > r->mask))
        return ring_grow_put(r, fn, data);
    ring_put(r, fn, data);
    return 0;
}

void cf__ring_free(cf__ring *r)
{
    cf__free(r->items);
    r->items = NULL;
    r->mask = 0;
    r->head = 0;
    r->tail = 0;
}

int cf_next_tick(cf_loop *loop, cf_callback fn, void *data)
{
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    return ring_push(&loop->ticks, fn, data);
}

int cf_queue_microtask(cf_loop *loop, cf_callback fn, void *data)
{
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    return ring_push(&loop->micro, fn, data);
}

/* The ring's tasks, plain: see ring_run. */
__attribute__((always_inline)) static inline int ring_run_plain(cf_loop *loop, cf__ring *r)
{
    while (r->head != r->tail) {
        cf__task t = r->items[r->head & r->mask];
        r->head++;
        t.fn(t.data);
        if (CF_UNLIKELY(loop->fail_code))
            return 1;
    }
    return 0;
}

/*
 * ring_run, observed (core/metrics.h). Timed (the detector or the trace): one clock read per
 * task, its end the next one's start. Counted only (the timed metrics alone): the plain loop,
 * and the count is how far the head moved, tasks queued meanwhile included.
 */
__attribute__((noinline, cold)) static int ring_run_observed(cf_loop *loop, cf__ring *r, int kind)
{
    if (!CF__OBS_PER_CALLBACK(loop)) {
        size_t head = r->head;
        int failed = ring_run_plain(loop, r);
        loop->obs.microtasks += r->head - head;
        return failed;
    }
    uint64_t t0 = cf__obs_begin(loop);
    while (r->head != r->tail) {
        cf__task t = r->items[r->head & r->mask];
        r->head++;
        t.fn(t.data);
        t0 = cf__obs_callback(loop, t0, kind, (const void *)t.fn, NULL);
        if (CF_UNLIKELY(loop->fail_code))
            return 1;
    }
    return 0;
}

/*
 * Run the ring's tasks until it is empty, tasks queued meanwhile included. Returns non-zero
 * when the run failed meanwhile (the rest stays queued).
 */
static int ring_run(cf_loop *loop, cf__ring *r, int kind)
{
    if (CF__OBS_ON(loop))
        return ring_run_observed(loop, r, kind);
    return ring_run_plain(loop, r);
}

void cf__drain_ticks(cf_loop *loop)
{
    if (loop->draining || loop->fail_code)
        return;
    loop->draining = 1;
    for (;;) {
        while (!cf__ring_empty(&loop->ticks) || !cf__ring_empty(&loop->micro)) {
            if (ring_run(loop, &loop->ticks, CF__OBS_TICK) ||
                ring_run(loop, &loop->micro, CF__OBS_MICROTASK))
                goto out;
        }
        if (!loop->drain_hook)
            break;
        loop->drain_hook(loop, loop->drain_arg);
        if (loop->fail_code)
            break;
        if (cf__ring_empty(&loop->ticks) && cf__ring_empty(&loop->micro))
            break;
    }
out:
    loop->draining = 0;
}

void cf_loop_drain(cf_loop *loop)
{
    if (!loop)
        return;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf__drain_ticks(loop);
}

void cf__loop_set_drain_hook(cf_loop *loop, void (*hook)(cf_loop *loop, void *arg), void *arg)
{
    loop->drain_hook = hook;
    loop->drain_arg = arg;
}

int cf__loop_microtasks_idle(const cf_loop *loop)
{
    return cf__ring_empty(&loop->micro) && !loop->fail_code;
}

void *cf__loop_microtask_peek(const cf_loop *loop, cf_callback fn)
{
    const cf__ring *r = &loop->micro;
    /* One test while nothing is observed (halt is 0): the failure and a per-callback clock
     * (detector, trace) are looked at only then. The timed metrics alone keep the fast path:
     * their drain counts the queue's head, which the skip moves too. */
    if (cf__ring_empty(r) || !loop->draining ||
        (loop->halt && (loop->fail_code || CF__OBS_PER_CALLBACK(loop))))
        return NULL;
    const cf__task *t = &r->items[r->head & r->mask];
    return t->fn == fn ? t->data : NULL;
}

void cf__loop_microtask_skip(cf_loop *loop)
{
    CF_ASSERT(!cf__ring_empty(&loop->micro));
    loop->micro.head++; /* counted by a counting drain (ring_run_observed) as run */
}
