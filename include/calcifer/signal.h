/*
 * Calcifer: signal watchers (≈ process.on('SIGINT', ...); libuv's uv_signal_t).
 *
 * A started signal watcher's callback runs on its loop's thread, in the poll phase, once for
 * each delivery of the signal the loop noticed (deliveries that arrive together may be
 * merged by the kernel, as always with signals).
 *
 * Several listeners per signal, as Node's process.on adds one: every started watcher for a
 * signal, in every loop of the process, sees each delivery; in one loop they are called in
 * the order they were started (a restarted watcher goes last). Stopping or closing one leaves
 * the others listening. While at least one watcher for a signal is started in the process,
 * the signal's default action (terminate, for SIGINT) does not happen; when the last one
 * stops, the disposition the process had before the first one started comes back.
 *
 * Keep-alive: unlike Node's process.on, a started watcher keeps the loop alive (as libuv's);
 * call cf_signal_unref for Node's behaviour.
 *
 * Lifecycle: cf_signal_new -> cf_signal_start -> cf_signal_stop -> cf_signal_close(cb, data).
 */
#ifndef CALCIFER_SIGNAL_H
#define CALCIFER_SIGNAL_H

#include "calcifer/common.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A signal watcher. Opaque. */
typedef struct cf_signal cf_signal;

/*
 * Event callback: runs on the loop thread for each delivery of `signum`. It may stop, restart
 * or close any watcher, this one included. Ownership: `data` is borrowed.
 */
typedef void (*cf_signal_cb)(cf_signal *sig, int signum, void *data);

/* ---- create ---- */

/*
 * Create a stopped signal watcher (≈ uv_signal_init). Ownership: `*out` is owned by the
 * caller until cf_signal_close's callback. Returns 0, CF_EINVAL or CF_ENOMEM.
 * Thread: loop only.
 */
CF_EXTERN int cf_signal_new(cf_loop *loop, cf_signal **out);

/* ---- use ---- */

/*
 * Call `cb(sig, signum, data)` for each delivery of `signum` (≈ process.on(name, fn),
 * uv_signal_start). Other watchers of the same signal keep listening: this one is added after
 * them. Starting a started watcher switches it to the new signal and callback (it then goes
 * after the others). Returns 0, CF_EINVAL (NULL sig or cb, bad signal number, SIGKILL or
 * SIGSTOP), CF_ECLOSED (closing watcher), CF_ENOMEM, or a -errno from socketpair/sigaction
 * (CF_EMFILE). On error the watcher is stopped. Ownership: `data` is borrowed while started.
 * Thread: loop only.
 */
CF_EXTERN int cf_signal_start(cf_signal *sig, int signum, cf_signal_cb cb, void *data);

/*
 * Stop watching (≈ process.off, uv_signal_stop); idempotent. The other watchers of the signal
 * go on; the last one to stop in the process restores the signal's previous disposition.
 * Returns 0 or CF_EINVAL (NULL). Thread: loop only.
 */
CF_EXTERN int cf_signal_stop(cf_signal *sig);

/* The signal watched, or 0 when stopped. Thread: loop only. */
CF_EXTERN int cf_signal_signum(const cf_signal *sig);

/*
 * Keep-alive (≈ uv_ref/uv_unref/uv_has_ref): an unref'd watcher does not keep the loop alive
 * but is still called while the loop runs. Idempotent, in any state; the setting survives
 * restarts. NULL is ignored and has no ref (0). Thread: loop only.
 */
CF_EXTERN void cf_signal_ref(cf_signal *sig);
CF_EXTERN void cf_signal_unref(cf_signal *sig);
CF_EXTERN int cf_signal_has_ref(const cf_signal *sig);

/* Non-zero while the watcher is started (0 for NULL). Thread: loop only. */
CF_EXTERN int cf_signal_is_active(const cf_signal *sig);

/* ---- close ---- */

/*
 * Stop and close the watcher (≈ uv_close); the signal's other watchers go on. `cb(data)` (may
 * be NULL) runs later, in the close phase, and the memory is freed before it runs. Returns 0,
 * CF_EINVAL (NULL) or CF_ECLOSED (already closing: then `cb` never runs). Ownership: `sig`
 * must not be used after this call; `data` is the caller's. Thread: loop only.
 */
CF_EXTERN int cf_signal_close(cf_signal *sig, cf_close_cb cb, void *data);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_SIGNAL_H */
