/*
 * Internal loop hooks for the layers above core (async, io, http). Nothing here is public.
 *
 * - Draining: cf__drain_ticks is the only function that runs nextTicks and microtasks. The
 *   loop calls it after every callback it runs; a layer that runs a user callback outside a
 *   loop phase does not need to (it is inside one).
 * - Drain hook: one per loop, run at the end of every drain once both queues are empty; the
 *   promise layer reports unhandled rejections from it.
 * - Failing a run: cf__loop_fail records an error that cf_run returns.
 * - Slots: one pointer per higher layer, with a destructor run by cf_loop_close.
 * - Requests: an in-flight request (a pool job, a DNS lookup, a curl transfer) keeps the
 *   loop alive between cf__loop_req_start and cf__loop_req_done.
 * - Pending callbacks: cf__loop_defer runs a callback in the next "pending callbacks" phase
 *   (≈ libuv's uv__io_feed), for I/O results that must not run inside the call that made them.
 *
 * Handles (close-callback machinery) are in core/handle.h, fd watchers in core/watch.h, the
 * thread pool's embeddable job in core/pool.h. Every function is loop-thread only.
 */
#ifndef CF_CORE_LOOP_H
#define CF_CORE_LOOP_H

#include "calcifer/loop.h"
#include "util/queue.h"

/*
 * Run the nextTick queue fully, then the microtask queue fully, and repeat until both are
 * empty; then run the drain hook, and if the hook queued more work, drain again. Re-entrant
 * calls (from a tick or microtask being drained) return at once. Stops early when the run
 * has been failed (cf__loop_fail).
 */
void cf__drain_ticks(cf_loop *loop);

/*
 * Set the loop's drain hook (one per loop; a second call replaces the first; NULL removes
 * it). `arg` is borrowed until the hook is replaced or the loop is closed.
 */
void cf__loop_set_drain_hook(cf_loop *loop, void (*hook)(cf_loop *loop, void *arg), void *arg);

/*
 * Set the loop's exit-code hook (one per loop; a second call replaces the first; NULL removes
 * it): when a cf_run ends with nothing referenced left and no failure, it returns what
 * `hook(loop, arg)` returns if that is negative (≈ a process.exitCode set by a layer: the
 * promise layer's warn-with-error-code mode). `arg` is borrowed until the hook is replaced or
 * the loop is closed.
 */
void cf__loop_set_exit_code_hook(cf_loop *loop, int (*hook)(cf_loop *loop, void *arg), void *arg);

/*
 * Record `code` (negative) as the result of the current cf_run (the first one wins) and stop
 * the run at the end of the current callback: no further tick, microtask or phase callback
 * runs in this cf_run.
 */
void cf__loop_fail(cf_loop *loop, int code);

/* The slots of the higher layers (one per-loop state object each). */
enum cf__loop_slot {
    CF__SLOT_ASYNC,
    CF__SLOT_TASK,
    CF__SLOT_IO,
    CF__SLOT_HTTP_CLIENT,
    CF__SLOT_HTTP_SERVER,
    CF__SLOT_REMOTE, /* last: freed first, while the other layers still stand */
    CF__SLOT_COUNT
};

/* The pointer stored in slot `s`, or NULL. */
void *cf__loop_slot(cf_loop *loop, enum cf__loop_slot s);

/*
 * Store `p` in slot `s`. Ownership: the loop takes `p` when `dtor` is not NULL and runs
 * `dtor(p)` in cf_loop_close (after every handle is gone, in reverse slot order), or when
 * the slot is set again. Pass NULL to clear the slot (the old destructor then runs).
 */
void cf__loop_slot_set(cf_loop *loop, enum cf__loop_slot s, void *p, void (*dtor)(void *p));

/*
 * Count a request in flight: it keeps the loop alive and makes cf_loop_close return CF_EBUSY
 * until the matching cf__loop_req_done.
 */
void cf__loop_req_start(cf_loop *loop);
void cf__loop_req_done(cf_loop *loop);

/*
 * Non-zero while requests, deferred (pending) callbacks or closing handles are in flight: what
 * must finish before cf_loop_close can succeed, handles aside (a worker's teardown waits).
 */
int cf__loop_in_flight(const cf_loop *loop);

/* The loop's open handles and, of those, the active ones (for a teardown's report). */
void cf__loop_handle_counts(const cf_loop *loop, unsigned *open, unsigned *active);

/*
 * Closing everything (cf__loop_close_all). An object that is not a handle but owns handles
 * or requests (an HTTP server, the HTTP client's per-loop state) registers a closer: `fn(c)`
 * requests the object's close as its public close would (or cancels its requests), with no
 * user callback. Embed the struct in the object; add it once the object is set up and remove
 * it before the object's memory goes. A closer stays registered after it ran (the walk may
 * call it again later); removing a closer that is not registered does nothing.
 */
typedef struct cf__loop_closer cf__loop_closer;
struct cf__loop_closer {
    cf_queue link; /* in the loop's list of closers; self-linked when not registered */
    void (*fn)(cf__loop_closer *c);
};
void cf__loop_closer_add(cf_loop *loop, cf__loop_closer *c, void (*fn)(cf__loop_closer *c));
void cf__loop_closer_remove(cf__loop_closer *c);

/*
 * Ask everything open on `loop` to close (model: uv_walk with uv_close), in this order: the
 * closers (owners first, so that their handles close through them), every open handle that
 * is not closing yet (through its close_req), the timeouts and intervals (cleared), then the
 * queued thread-pool jobs (cancelled: their `done` gets CF_ECANCELED in the next poll
 * phase). Handles already closing are left alone; a job that a worker runs already is not
 * (it finishes). Nothing is freed here: the loop must run for the close callbacks and the
 * cancelled completions, which may open new things (call again). Returns the number of close
 * requests and cancellations made. Thread: loop only.
 */
int cf__loop_close_all(cf_loop *loop);

/* Non-zero when called on the thread that owns `loop` (for CF_ASSERT). Thread: any. */
int cf__loop_is_loop_thread(const cf_loop *loop);

/*
 * Non-zero when the microtask queue is empty and the run has not failed: from inside a
 * microtask, a microtask queued now would be the next callback to run (the await fast path).
 */
int cf__loop_microtasks_idle(const cf_loop *loop);

/*
 * The await's symmetric transfer (task.c). cf__loop_microtask_peek: the data of the next
 * microtask when it is a call of `fn` that the drain would run next (a drain is under way,
 * the run has not failed, callbacks are not being timed one by one); else NULL.
 * cf__loop_microtask_skip removes that microtask, counted as run: the caller does its work in
 * its place, at once.
 * Thread: loop only.
 */
void *cf__loop_microtask_peek(const cf_loop *loop, cf_callback fn);
void cf__loop_microtask_skip(cf_loop *loop);

/*
 * A deferred callback for the "pending callbacks" phase. Embed it in your request or handle;
 * zero-initialize or cf__pending_init it. While queued it keeps the loop alive.
 */
typedef struct cf__pending cf__pending;
typedef void (*cf__pending_fn)(cf_loop *loop, cf__pending *p);
struct cf__pending {
    cf_queue link;     /* in loop->pending while queued; self-linked otherwise */
    cf__pending_fn fn; /* set by cf__loop_defer */
};

/* Make `p` idle (not queued). Zero-initialized memory must go through this once. */
void cf__pending_init(cf__pending *p);

/*
 * Run `fn(loop, p)` in the next iteration's pending phase, then drain. Items deferred while the
 * pending phase runs wait for the next iteration. Deferring a queued `p` again only replaces
 * its function. Ownership: `p` is borrowed until `fn` starts or cf__loop_undefer.
 */
void cf__loop_defer(cf_loop *loop, cf__pending *p, cf__pending_fn fn);

/* Remove `p` from the pending queue if it is queued (its function then never runs). */
void cf__loop_undefer(cf_loop *loop, cf__pending *p);

/* Non-zero while `p` is queued. */
int cf__pending_queued(const cf__pending *p);

/*
 * A handle-style timer owned by a higher layer's per-loop state (the HTTP client's curl
 * timer): it is internal (cf_loop_close does not wait for it) and never keeps the loop alive
 * (unref'd). Use it with cf_timer_start/stop; free it with cf__timer_free_internal, from the
 * slot destructor, without the close phase. Returns 0, CF_EINVAL or CF_ENOMEM.
 */
struct cf_timer;
int cf__timer_new_internal(cf_loop *loop, struct cf_timer **out);
/* Stop and free a timer made by cf__timer_new_internal. NULL is a no-op. */
void cf__timer_free_internal(struct cf_timer *t);

/*
 * Mark a timer made with cf_timer_new as owned by a library object that closes it itself (an
 * HTTP server's): cf__loop_close_all leaves it to that object's closer.
 */
void cf__timer_set_owned(struct cf_timer *t);

/*
 * The same for a timeout the library starts for an object of its own (a sleep, a timeout
 * signal): cf__loop_close_all does not clear it; the owner's closer settles it, or it does
 * not keep the loop alive. Call it right after cf_set_timeout.
 */
struct cf_timeout;
void cf__timeout_set_owned(struct cf_timeout *o);

#endif
