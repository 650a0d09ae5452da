/*
 * Calcifer: abort signals (≈ AbortController and AbortSignal).
 *
 * A controller aborts its signal once, with a reason (a cf_error). Whoever was handed the
 * signal, an await, a task, a file or HTTP operation, watches it and gives up when it aborts:
 * it fails with the one abort error of the library, CF_ECANCELED "The operation was aborted",
 * whose cause (cf_error_cause) is the reason (cf_abort_signal_error). Listeners run synchronously
 * inside cf_abort, in the order they were added, each once (≈ the 'abort' event).
 *
 * Lifecycle: cf_abort_new gives a controller; cf_abort_get_signal its signal (borrowed);
 * cf_abort aborts it; cf_abort_free drops the controller. Signals are reference counted:
 * every holder (a task, an operation, a listener) keeps one reference, so a signal lives as
 * long as somebody watches it. cf_abort_signal_timeout and cf_abort_signal_any make signals
 * that abort by themselves (≈ AbortSignal.timeout, AbortSignal.any).
 *
 * Listeners live in memory of their owner (embed a cf_abort_listener in your request; no
 * allocation): this is also how the library's own operations accept a `cf_abort_signal *`.
 *
 * Everything here is loop-thread only (a signal belongs to the thread that made it).
 */
#ifndef CALCIFER_ABORT_H
#define CALCIFER_ABORT_H

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A controller (≈ AbortController): the side that aborts. Opaque. */
typedef struct cf_abort_controller cf_abort_controller;

/* A signal (≈ AbortSignal): the side that is watched. Opaque, reference counted. */
typedef struct cf_abort_signal cf_abort_signal;

typedef struct cf_abort_listener cf_abort_listener;

/*
 * An abort listener's callback. It runs inside cf_abort (or when a timeout or `any` signal
 * aborts), after the listener was removed, so it may free the listener's memory or listen
 * again elsewhere. `signal` is borrowed until the callback returns; its reason is
 * cf_abort_signal_reason(signal).
 */
typedef void (*cf_abort_cb)(cf_abort_listener *listener, cf_abort_signal *signal);

/*
 * A listener (≈ addEventListener('abort', fn, { once: true })), in memory the caller owns:
 * zero-initialize it (or `= {0}`), set `data` if you like, then cf_abort_signal_listen.
 * The fields starting with `_` are private. The memory must stay valid while listening.
 */
struct cf_abort_listener {
    void *data; /* yours; the library never reads it */
    cf_abort_listener *_next;
    cf_abort_listener *_prev;
    cf_abort_signal *_signal;
    cf_abort_cb _cb;
};

/* ---- create ---- */

/*
 * A new controller with a signal that is not aborted (≈ new AbortController()).
 * Ownership: the caller owns `*out`, freed with cf_abort_free. Returns 0, CF_EINVAL (NULL
 * `out`) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_abort_new(cf_abort_controller **out);

/*
 * The controller's signal (≈ controller.signal). Ownership: borrowed until cf_abort_free;
 * cf_abort_signal_retain it to keep it longer. NULL for a NULL controller. Thread: loop only.
 */
CF_EXTERN cf_abort_signal *cf_abort_get_signal(cf_abort_controller *ctrl);

/*
 * A signal that aborts by itself `ms` milliseconds from now with a CF_ETIMEDOUT reason,
 * "The operation was aborted due to timeout" (≈ AbortSignal.timeout(ms)). Its timer does
 * not keep the loop alive (as Node's). Ownership: the caller owns one reference to `*out`;
 * release it (which stops the timer) before cf_loop_close. Returns 0, CF_EINVAL (NULL
 * `loop` or `out`) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_abort_signal_timeout(cf_loop *loop, uint64_t ms, cf_abort_signal **out);

/*
 * A signal that aborts as soon as any of `signals` aborts, with (a copy of) that one's
 * reason (≈ AbortSignal.any(signals)); already aborted at once if one of them is. NULL
 * entries are skipped. Ownership: `signals` is copied and each signal borrowed (the new
 * signal keeps its own references until it aborts or is freed); the caller owns one
 * reference to `*out`. Returns 0, CF_EINVAL (NULL `out`, or NULL `signals` with `n > 0`) or
 * CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_abort_signal_any(cf_abort_signal *const *signals, size_t n, cf_abort_signal **out);

/* ---- abort ---- */

/*
 * Abort the controller's signal with `reason` (≈ controller.abort(reason)): the signal reads
 * as aborted and every listener runs now, in the order added. A NULL `reason` means the
 * default, a CF_ECANCELED error "This operation was aborted" (≈ Node's AbortError).
 * Aborting an aborted signal does nothing. Ownership: takes `reason` on success and on
 * failure (freed at once when the signal was already aborted). Returns 0 or CF_EINVAL
 * (NULL `ctrl`). Thread: loop only.
 */
CF_EXTERN int cf_abort(cf_abort_controller *ctrl, cf_error *reason);

/* ---- inspect ---- */

/* Non-zero once `signal` is aborted (≈ signal.aborted). NULL reads as not aborted. Thread: loop
 * only. */
CF_EXTERN int cf_abort_signal_aborted(const cf_abort_signal *signal);

/*
 * 0 while `signal` is not aborted, else the reason's code, a negative CF_E* (≈
 * signal.throwIfAborted()). NULL reads as not aborted. Thread: loop only.
 */
CF_EXTERN int cf_abort_signal_code(const cf_abort_signal *signal);

/*
 * The reason (≈ signal.reason): NULL while not aborted (or when the reason could not be
 * allocated; the code is still set). Ownership: borrowed while you hold a reference to
 * `signal` (or, for a controller's signal, until cf_abort_free). Thread: loop only.
 */
CF_EXTERN const cf_error *cf_abort_signal_reason(const cf_abort_signal *signal);

/*
 * The error an operation that `signal` aborted fails with: CF_ECANCELED, "The operation was
 * aborted", with a copy of the signal's reason as its cause (cf_error_cause): the one abort
 * error of the library, whatever aborted the signal (cf_abort, a timeout, `any`). Its site is
 * empty; an operation sets its own. Ownership: the caller owns the result (cf_error_free).
 * Returns NULL when `signal` is not aborted or memory is exhausted. Thread: loop only.
 */
CF_EXTERN cf_error *cf_abort_signal_error(const cf_abort_signal *signal);

/* ---- listen ---- */

/*
 * Call `cb(listener, signal)` once, when `signal` aborts (≈ signal.addEventListener('abort',
 * cb, { once: true })). Listening keeps one reference to `signal` until the listener runs
 * or is removed. Ownership: `listener` is borrowed until its callback starts or
 * cf_abort_signal_unlisten. Returns 0; the reason's code (negative) when `signal` is already
 * aborted (then `cb` never runs: act on the abort yourself); CF_EINVAL for a NULL argument or
 * a listener that is already listening. Thread: loop only.
 */
CF_EXTERN int cf_abort_signal_listen(cf_abort_signal *signal, cf_abort_listener *listener,
                                     cf_abort_cb cb);

/*
 * Stop listening (≈ removeEventListener): the callback will not run. A listener that is not
 * listening (never added, already run, already removed) is left alone. Thread: loop only.
 */
CF_EXTERN void cf_abort_signal_unlisten(cf_abort_listener *listener);

/* ---- references and free ---- */

/* One more reference to `signal`; returns it (NULL stays NULL). Thread: loop only. */
CF_EXTERN cf_abort_signal *cf_abort_signal_retain(cf_abort_signal *signal);

/*
 * Drop one reference; the last one frees the signal (and stops a timeout signal's timer).
 * NULL is a no-op. Thread: loop only.
 */
CF_EXTERN void cf_abort_signal_release(cf_abort_signal *signal);

/*
 * Drop the controller. Its signal lives on while others hold references to it, and then
 * never aborts unless it already has. NULL is a no-op. Thread: loop only.
 */
CF_EXTERN void cf_abort_free(cf_abort_controller *ctrl);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_ABORT_H */
