/*
 * Calcifer: timeouts, timers and immediates (≈ Node's setTimeout, setInterval, setImmediate and
 * their clear functions; libuv's uv_timer_t).
 *
 * Two types, one per lifetime:
 *  - cf_timeout (≈ Node's Timeout object): cf_set_timeout / cf_set_interval make one that the
 *    loop owns and frees by itself, after a timeout has fired (when its callback returns) or
 *    after cf_clear_timeout / cf_clear_interval. A delay below 1 ms, or above 2147483647 ms,
 *    is 1 ms, as in Node. cf_timeout_refresh re-arms it and cf_timeout_hold keeps a fired one.
 *  - cf_timer (≈ uv_timer_t): a reusable loop timer that its caller owns: cf_timer_new,
 *    cf_timer_start (any number of times), cf_timer_stop, cf_timer_close(cb, data); the
 *    memory is freed after the close callback. A timeout of 0 is allowed and means "in the
 *    next timers phase".
 * The two are distinct types, so one is never passed where the other is expected.
 *
 * Order: timeouts and timers run in the timers phase in order of due time, then of start; one
 * started during the timers phase never runs in that same phase. Due times are relative to
 * the loop's cached clock (cf_now). The loop drains nextTicks and microtasks after each
 * callback.
 *
 * Immediates (cf_set_immediate) run in the check phase, in the order they were queued; those
 * queued while the check phase runs wait for the next iteration.
 *
 * Keep-alive, the same rules for all three: a pending timeout, a started timer and a queued
 * immediate keep the loop alive unless unref'd (cf_x_unref); ref/unref are idempotent and
 * survive restarts; cf_x_has_ref says which it is.
 */
#ifndef CALCIFER_TIMER_H
#define CALCIFER_TIMER_H

#include "calcifer/common.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loop-owned timeout or interval (≈ Node's Timeout object). Opaque. */
typedef struct cf_timeout cf_timeout;

/* A reusable timer that its caller owns (≈ uv_timer_t). Opaque. */
typedef struct cf_timer cf_timer;

/* A queued immediate (≈ Node's Immediate object). Opaque, owned by the loop. */
typedef struct cf_immediate cf_immediate;

/* Event callback of a cf_timer: it fired. Ownership: `data` is borrowed. */
typedef void (*cf_timer_cb)(cf_timer *timer, void *data);

/* ---- timeouts (loop-owned) ---- */

/*
 * Call `fn(data)` once, `delay_ms` from now (≈ setTimeout). `*out` (if `out` is not NULL)
 * receives the timeout, for cf_clear_timeout and cf_timeout_ref/unref/refresh/hold.
 * Ownership: the loop owns the timeout; `*out` is borrowed until `fn` returns or until
 * cf_clear_timeout (a held timeout: until cf_clear_timeout). `data` is borrowed until then too.
 * Returns 0, CF_EINVAL (NULL loop or fn) or CF_ENOMEM (then `fn` never runs).
 * Thread: loop only.
 */
CF_EXTERN int cf_set_timeout(cf_loop *loop, uint64_t delay_ms, cf_callback fn, void *data,
                             cf_timeout **out);

/*
 * Call `fn(data)` every `delay_ms` (≈ setInterval); the next run is `delay_ms` after the
 * previous one started. Ownership: as cf_set_timeout, except that `*out` stays valid until
 * cf_clear_interval. Returns 0, CF_EINVAL or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_set_interval(cf_loop *loop, uint64_t delay_ms, cf_callback fn, void *data,
                              cf_timeout **out);

/*
 * Cancel a timeout or interval and free it (≈ clearTimeout, clearInterval). Calling it from
 * its own callback is allowed (an interval then stops). NULL, and a timeout that fired or was
 * cleared already (see cf_timeout_refresh), are ignored. Thread: loop only.
 */
CF_EXTERN void cf_clear_timeout(cf_timeout *timeout);
CF_EXTERN void cf_clear_interval(cf_timeout *timeout);

/*
 * Restart a timeout with its delay from now (≈ timeout.refresh()): a pending one moves, and
 * goes after the timeouts of the same delay started before this call, as in Node; an unref'd
 * one stays unref'd. From its own callback, or on a fired timeout held with cf_timeout_hold,
 * it re-arms a timeout that has fired, as Node 20 does. An interval restarts its period from
 * now.
 * Returns 0, CF_EINVAL (NULL), CF_ECLOSED (a timeout already cleared, or one that fired and
 * was not held, as long as its memory has not been reused by a new timeout: the pointer is
 * invalid then and this check is a courtesy) or CF_ENOMEM (the timeout is then stopped).
 * Thread: loop only.
 */
CF_EXTERN int cf_timeout_refresh(cf_timeout *timeout);

/*
 * Keep a timeout valid after it fires, so that a later cf_timeout_refresh can re-arm it (a
 * JavaScript program keeps its Timeout object and calls refresh() on it later). A held timeout
 * that has fired is stopped, does not keep the loop alive, and stays valid until
 * cf_clear_timeout frees it (or cf_loop_close, which frees every timeout).
 * Returns 0, CF_EINVAL (NULL) or CF_ECLOSED (cleared or fired already, see
 * cf_timeout_refresh). Idempotent. Thread: loop only.
 */
CF_EXTERN int cf_timeout_hold(cf_timeout *timeout);

/*
 * Keep-alive (≈ timeout.ref()/unref()/hasRef()): an unref'd timeout does not keep the loop
 * alive but fires normally while the loop runs for other reasons. Idempotent. The setting
 * survives cf_timeout_refresh and firing (a held timeout keeps it). NULL, or a timeout already
 * cleared or fired (see cf_timeout_refresh), is ignored and has no ref (0). Thread: loop only.
 */
CF_EXTERN void cf_timeout_ref(cf_timeout *timeout);
CF_EXTERN void cf_timeout_unref(cf_timeout *timeout);
CF_EXTERN int cf_timeout_has_ref(const cf_timeout *timeout);

/*
 * Non-zero while the timeout is pending (an interval: until cleared); 0 for a held timeout
 * that has fired, for NULL, and for one cleared or fired (see cf_timeout_refresh).
 * Thread: loop only.
 */
CF_EXTERN int cf_timeout_is_active(const cf_timeout *timeout);

/* ---- timers (caller-owned handles) ---- */

/*
 * Create a stopped timer (≈ uv_timer_init). Ownership: `*out` is owned by the caller until
 * cf_timer_close's callback. Returns 0, CF_EINVAL (NULL loop or out) or CF_ENOMEM.
 * Thread: loop only.
 */
CF_EXTERN int cf_timer_new(cf_loop *loop, cf_timer **out);

/*
 * Start (or restart) the timer (≈ uv_timer_start): `cb(timer, data)` runs `timeout_ms` after
 * cf_now, then every `repeat_ms` if that is not 0. Restarting a started timer moves it.
 * Never calls `cb` inside this call. Returns 0, CF_EINVAL (NULL timer or cb), CF_ECLOSED
 * (closing) or CF_ENOMEM (the timer is then stopped). Ownership: `data` is borrowed while the
 * timer is started. Thread: loop only.
 */
CF_EXTERN int cf_timer_start(cf_timer *timer, uint64_t timeout_ms, uint64_t repeat_ms,
                             cf_timer_cb cb, void *data);

/* Stop the timer (≈ uv_timer_stop); idempotent. Returns 0 or CF_EINVAL. Thread: loop only. */
CF_EXTERN int cf_timer_stop(cf_timer *timer);

/*
 * Restart a timer that has a repeat interval, with that interval as timeout (≈ uv_timer_again);
 * a timer without one is left as it is. (A timeout's equivalent is cf_timeout_refresh.)
 * Returns 0, CF_EINVAL if the timer is NULL or was never started, CF_ECLOSED (closing), or
 * CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_timer_again(cf_timer *timer);

/* Set or read the repeat interval used by the next run (≈ uv_timer_set_repeat). */
CF_EXTERN void cf_timer_set_repeat(cf_timer *timer, uint64_t repeat_ms);
CF_EXTERN uint64_t cf_timer_get_repeat(const cf_timer *timer);

/* Milliseconds until the timer is due (0 if due or stopped) (≈ uv_timer_get_due_in). */
CF_EXTERN uint64_t cf_timer_get_due_in(const cf_timer *timer);

/* Non-zero while the timer is started (0 for NULL). Thread: loop only. */
CF_EXTERN int cf_timer_is_active(const cf_timer *timer);

/*
 * Keep-alive (≈ uv_ref/uv_unref/uv_has_ref): an unref'd timer does not keep the loop alive
 * but fires normally while the loop runs for other reasons. Idempotent, in any state; the
 * setting survives restarts. NULL is ignored and has no ref (0). Thread: loop only.
 */
CF_EXTERN void cf_timer_ref(cf_timer *timer);
CF_EXTERN void cf_timer_unref(cf_timer *timer);
CF_EXTERN int cf_timer_has_ref(const cf_timer *timer);

/*
 * Stop and close the timer (≈ uv_close). `cb(data)` (may be NULL) runs later, in the close
 * phase, and the memory is freed before it runs. Returns 0, CF_EINVAL (NULL) or CF_ECLOSED
 * (already closing: then `cb` never runs). Ownership: `timer` must not be used after this
 * call; `data` is the caller's. Thread: loop only.
 */
CF_EXTERN int cf_timer_close(cf_timer *timer, cf_close_cb cb, void *data);

/* ---- immediates ---- */

/*
 * Call `fn(data)` in the check phase (≈ setImmediate). Immediates run in the order queued;
 * one queued during the check phase runs in the next iteration. `*out` (if not NULL) receives
 * the immediate for cf_clear_immediate and cf_immediate_ref/unref.
 * Ownership: the loop owns the immediate; `*out` and `data` are borrowed until `fn` returns or
 * cf_clear_immediate. Returns 0, CF_EINVAL (NULL loop or fn) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_set_immediate(cf_loop *loop, cf_callback fn, void *data, cf_immediate **out);

/*
 * Cancel a queued immediate (≈ clearImmediate), also one queued for the check phase that is
 * running. From its own callback it does nothing. NULL is ignored. Thread: loop only.
 */
CF_EXTERN void cf_clear_immediate(cf_immediate *imm);

/*
 * Keep-alive of a queued immediate (≈ immediate.ref()/unref()/hasRef()): an unref'd one does
 * not keep the loop alive but runs if the loop goes round. Idempotent. NULL, and an immediate
 * that has run or was cleared, are ignored and have no ref (0), as in Node. Thread: loop only.
 */
CF_EXTERN void cf_immediate_ref(cf_immediate *imm);
CF_EXTERN void cf_immediate_unref(cf_immediate *imm);
CF_EXTERN int cf_immediate_has_ref(const cf_immediate *imm);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_TIMER_H */
