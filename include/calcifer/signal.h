/*
 * Calcifer: signal watchers (≈ process.on('SIGINT', ...); libuv's uv_signal_t).
 *
 * A started signal watcher's callback runs on its loop's thread, in the poll phase, once for
 * each delivery of the signal the loop noticed (deliveries that arrive together may be
 * merged by the kernel, as always with signals). Every started watcher for a signal, in every
 * loop of the process, sees each delivery. While at least one watcher for a signal is started
 * in the process, the signal's default action (terminate, for SIGINT) does not happen; when
 * the last one stops, the previous disposition comes back.
 *
 * Keep-alive: unlike Node's process.on, a started watcher keeps the loop alive (as libuv's);
 * call cf_signal_unref for Node's behaviour.
 *
 * Lifecycle: cf_signal_new -> cf_signal_start -> cf_signal_stop -> cf_signal_close(cb).
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

/* Runs on the loop thread for each delivery of `signum`. Ownership: `data` is borrowed. */
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
 * uv_signal_start). Starting a started watcher switches it to the new signal and callback.
 * Returns 0, CF_EINVAL (NULL, bad signal number, SIGKILL/SIGSTOP, closing watcher),
 * CF_ENOMEM, or a -errno from socketpair/sigaction (CF_EMFILE). On error the watcher is
 * stopped. Ownership: `data` is borrowed while started. Thread: loop only.
 */
CF_EXTERN int cf_signal_start(cf_signal *sig, int signum, cf_signal_cb cb, void *data);

/* Stop watching (≈ process.off, uv_signal_stop); idempotent. Returns 0 or CF_EINVAL. */
CF_EXTERN int cf_signal_stop(cf_signal *sig);

/* The signal watched, or 0 when stopped. Thread: loop only. */
CF_EXTERN int cf_signal_signum(const cf_signal *sig);

/* Keep-alive (≈ uv_ref/uv_unref/uv_has_ref). Idempotent. Thread: loop only. */
CF_EXTERN void cf_signal_ref(cf_signal *sig);
CF_EXTERN void cf_signal_unref(cf_signal *sig);
CF_EXTERN int cf_signal_has_ref(const cf_signal *sig);

/* ---- close ---- */

/*
 * Stop and close the watcher (≈ uv_close). `close_cb(data)` (may be NULL) runs in the close
 * phase; the memory is freed after it. Returns 0, or CF_EINVAL (NULL or already closing: then
 * `close_cb` never runs). Ownership: `sig` must not be used after this call.
 * Thread: loop only.
 */
CF_EXTERN int cf_signal_close(cf_signal *sig, cf_callback close_cb, void *data);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_SIGNAL_H */
