/*
 * Calcifer: workers, a loop on a thread of its own (≈ Node's worker_threads Worker,
 * parentPort and worker.terminate()).
 *
 * cf_worker_new starts a thread that makes its own loop, runs the entry function there, then
 * runs that loop to its end and closes it. Parent and worker talk through one message port
 * each way: JSON values and byte buffers are moved, never copied, and arrive in the order
 * they were posted. What is shared: the process, its memory and the thread pool
 * (CF_THREADPOOL_SIZE threads serve every loop); what is not: each worker has its own loop,
 * timers, promises and handles, used only from its thread.
 *
 * Lifecycle, parent side: the worker handle keeps the parent's loop alive until the worker
 * has exited (unless unref'd). The worker reports a failure to on_error, then its exit, once,
 * to on_exit, after its thread has been joined; every message it posted before it ended
 * arrives before its error and its exit. cf_worker_close (or cf_worker_terminate) stops a
 * running worker. Closing the parent's loop while a worker handle is open returns CF_EBUSY,
 * as for every handle: close the worker first (cf_worker_close terminates and joins it).
 *
 * Lifecycle, worker side: the entry function receives `self` (the worker's end of the port),
 * its loop and the argument given to cf_worker_new. A listener on the parent's messages keeps
 * the worker's loop alive (≈ parentPort.on('message')) until cf_worker_parent_close or
 * cf_worker_parent_unref. The worker fails when its entry returns non-zero, when it calls
 * cf_worker_fail, or when an error escapes its loop (an uncaught error, an unhandled
 * rejection in throw mode): the parent's on_error gets the error and the worker ends with
 * exit code 1.
 *
 * Termination: cf_worker_terminate asks the worker's loop to stop at the end of the callback
 * that is running (a callback is never interrupted). On the worker's thread its abort signal
 * (cf_worker_signal) aborts first, so every operation that was given it fails with
 * CF_ECANCELED and its listeners can close the worker's handles; the loop stops, and the work
 * already in flight gets up to one second to finish. Then everything still open is closed as
 * cf_loop_close_all does (handles closed, HTTP requests and queued pool jobs cancelled, child
 * processes killed and reaped), the loop runs until all of it is freed, the loop is closed and
 * the thread ends with exit code 1 (as Node's). A pool job a pool thread already runs cannot
 * be stopped: the terminate waits for it. A worker that ends by itself has its unref'd handles
 * closed the same way. Only a loop that still cannot close after that is left as it is
 * (leaked), with on_error reporting CF_EBUSY and how many handles were left.
 */
#ifndef CALCIFER_WORKER_H
#define CALCIFER_WORKER_H

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/json.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* The parent's handle on a worker (≈ a Worker object). Opaque. */
typedef struct cf_worker cf_worker;

/* The worker's end of the port, inside the worker (≈ parentPort). Opaque. */
typedef struct cf_worker_self cf_worker_self;

/* A message that arrived: a JSON value or a byte buffer. Opaque. */
typedef struct cf_worker_message cf_worker_message;

/* Options of cf_worker_new; zero-initialize, then set what you need. */
typedef struct cf_worker_opts {
    size_t stack_size; /* of the worker's thread, in bytes; 0: the system's default */
    const char *name;  /* the thread's name (pthread_setname_np, cut to 15 bytes), also in errors;
                          copied; NULL or "": "worker N" (N counts the workers made) */
    cf_abort_signal *signal; /* aborting it terminates the worker; borrowed (a reference kept) */
} cf_worker_opts;

/*
 * The worker's entry function. Runs on the worker's thread, before its loop runs; it starts
 * the worker's work (listeners, timers, tasks) on `loop`. Return 0 to run the loop to its end,
 * or non-zero to fail: the parent's on_error gets the error given to cf_worker_fail, else one
 * with the returned code (when negative, CF_EUNKNOWN otherwise), and the worker ends with exit
 * code 1. Ownership: `self` and `loop` are borrowed until the thread ends; `arg` is the
 * caller's, given to cf_worker_new.
 */
typedef int (*cf_worker_entry)(cf_worker_self *self, cf_loop *loop, void *arg);

/*
 * A message arrived (≈ the 'message' event). `msg` is borrowed until the callback returns,
 * its payload with it unless taken (cf_worker_message_take_json, _take_bytes).
 * cf_worker_message_cb runs on the parent's loop, cf_worker_self_message_cb on the worker's.
 */
typedef void (*cf_worker_message_cb)(cf_worker *w, cf_worker_message *msg, void *data);
typedef void (*cf_worker_self_message_cb)(cf_worker_self *self, cf_worker_message *msg, void *data);

/* The worker failed (≈ the 'error' event). `err` is borrowed until the callback returns. */
typedef void (*cf_worker_error_cb)(cf_worker *w, const cf_error *err, void *data);

/*
 * The worker has ended and its thread has been joined (≈ the 'exit' event): `exit_code` is 0
 * when its loop ran to its end, 1 when it failed or was terminated.
 */
typedef void (*cf_worker_exit_cb)(cf_worker *w, int exit_code, void *data);

/* The exit code of a worker that failed or was terminated (as Node's). */
#define CF_WORKER_EXIT_FAILURE 1

/* ---- create (parent) ---- */

/*
 * Start a worker (≈ new Worker()): a thread that makes a loop, runs `entry(self, loop, arg)`,
 * runs the loop to its end and closes it. Returns once the worker's loop exists (so posts can
 * go at once); the entry runs concurrently. The handle is active and ref'd until the worker
 * has exited. `opts` may be NULL.
 * Ownership: the caller owns `*out` (cf_worker_close); `opts` is borrowed (name copied);
 * `arg` is the caller's, read by the worker's thread (keep it valid until on_exit).
 * Returns 0, CF_EINVAL (NULL loop, entry or out; a stack size the system refuses),
 * CF_ENOMEM, CF_EAGAIN (no thread could be made), or the error that made the worker's loop
 * fail (CF_EMFILE, ...). On failure nothing ran. Thread: loop only.
 */
CF_EXTERN int cf_worker_new(cf_loop *loop, const cf_worker_opts *opts, cf_worker_entry entry,
                            void *arg, cf_worker **out);

/* ---- messages (parent) ---- */

/*
 * Post a JSON value to the worker (≈ worker.postMessage(value)): it arrives at the worker's
 * listener (cf_worker_parent_on_message), after the parent's earlier posts. Until the worker
 * listens, its messages wait. Ownership: takes `value` (moved to the worker, not copied), on
 * success and on failure. Returns 0, CF_EINVAL (NULL w or value), CF_ECLOSED (the worker has
 * ended or the handle is closing) or CF_ENOMEM. Thread: loop only (the parent's).
 */
CF_EXTERN int cf_worker_post_json(cf_worker *w, cf_json *value);

/*
 * Post `len` bytes to the worker without copying them (≈ postMessage with a transfer list):
 * the same pointer arrives. Ownership: takes `bytes` (freed with `free_fn`, which may be NULL
 * for memory nobody frees) on success and on failure. Returns as cf_worker_post_json.
 * Thread: loop only.
 */
CF_EXTERN int cf_worker_post_bytes(cf_worker *w, void *bytes, size_t len, cf_free_fn free_fn);

/*
 * Listen to the worker's messages (≈ worker.on('message')); a second call replaces the
 * listener, `cb` NULL removes it (messages then wait for the next listener, in order).
 * Ownership: `data` is borrowed until the listener is replaced or the handle closed.
 * Returns 0 or CF_EINVAL (NULL w). Thread: loop only.
 */
CF_EXTERN int cf_worker_on_message(cf_worker *w, cf_worker_message_cb cb, void *data);

/*
 * Listen to the worker's failure (≈ worker.on('error')). Without a listener the error is
 * thrown on the parent's loop (cf_throw_uncaught), as Node throws an unhandled 'error'.
 * Returns 0 or CF_EINVAL. Thread: loop only.
 */
CF_EXTERN int cf_worker_on_error(cf_worker *w, cf_worker_error_cb cb, void *data);

/*
 * Listen to the worker's exit (≈ worker.on('exit')), which runs once. Not called once
 * cf_worker_close was called. Returns 0 or CF_EINVAL. Thread: loop only.
 */
CF_EXTERN int cf_worker_on_exit(cf_worker *w, cf_worker_exit_cb cb, void *data);

/* ---- terminate and close (parent) ---- */

/*
 * Stop the worker (≈ worker.terminate(); see "Termination" above): its signal aborts, work in
 * flight gets up to one second, then everything the worker left open is closed and freed
 * (timers, sockets, servers, signal handles, watchers, streams, HTTP requests, queued pool
 * jobs; child processes are killed with SIGKILL and reaped); a pool job already running is
 * waited for. Its exit follows, with CF_WORKER_EXIT_FAILURE and no error, unless it had ended
 * already. Calling it again does nothing. Ownership: the handle stays the caller's
 * (cf_worker_close). Returns 0, CF_EINVAL (NULL w) or CF_ECLOSED (the worker has exited).
 * Thread: loop only.
 */
CF_EXTERN int cf_worker_terminate(cf_worker *w);

/*
 * Promise form: terminates the worker and fulfils with its exit code (a number in the
 * pointer: cf_result_int), once its thread has been joined; at once when it had exited.
 * The caller owns one reference. NULL for a NULL w (there is no loop to make a promise on) or
 * when memory is exhausted. Thread: loop only.
 */
CF_EXTERN cf_promise *cf_worker_terminate_p(cf_worker *w);

/*
 * Close the handle: a running worker is terminated first; `cb(data)` runs from the loop once
 * its thread has been joined and everything is freed. Messages, errors and the exit that
 * arrive meanwhile are dropped (their listeners are not called). Returns 0, CF_EINVAL (NULL
 * w) or CF_ECLOSED (closed already). Thread: loop only.
 */
CF_EXTERN int cf_worker_close(cf_worker *w, cf_close_cb cb, void *data);

/*
 * Whether the handle keeps the parent's loop alive while the worker runs (≈ worker.ref(),
 * worker.unref()); ref'd by default. A closing handle always does. Thread: loop only.
 */
CF_EXTERN void cf_worker_ref(cf_worker *w);
CF_EXTERN void cf_worker_unref(cf_worker *w);
CF_EXTERN int cf_worker_has_ref(const cf_worker *w);

/* Non-zero until the worker's exit has been handled. Thread: loop only. */
CF_EXTERN int cf_worker_is_active(const cf_worker *w);

/* ---- messages (both sides) ---- */

/*
 * The JSON value of a message, or NULL when it carries bytes. Borrowed until the message
 * callback returns. Thread: the receiving loop.
 */
CF_EXTERN const cf_json *cf_worker_message_json(const cf_worker_message *msg);

/*
 * The bytes of a message and their length in `*len` (may be NULL), or NULL (and 0) when it
 * carries JSON. Borrowed until the message callback returns. Thread: the receiving loop.
 */
CF_EXTERN const void *cf_worker_message_bytes(const cf_worker_message *msg, size_t *len);

/*
 * Move the JSON value out of the message: the caller owns the result (cf_json_free) and the
 * message no longer frees it. NULL when it carries bytes or was taken. Thread: the receiving
 * loop, inside the message callback.
 */
CF_EXTERN cf_json *cf_worker_message_take_json(cf_worker_message *msg);

/*
 * Move the bytes out of the message: the caller owns them (free them with `*free_fn`, which
 * may be NULL when nobody frees them); `len` and `free_fn` may be NULL. NULL when the message
 * carries JSON or was taken. Thread: the receiving loop, inside the message callback.
 */
CF_EXTERN void *cf_worker_message_take_bytes(cf_worker_message *msg, size_t *len,
                                             cf_free_fn *free_fn);

/* ---- inside the worker ---- */

/*
 * Post a JSON value to the parent (≈ parentPort.postMessage(value)), after the worker's
 * earlier posts and before its exit. Ownership: takes `value`, on success and on failure.
 * Returns 0, CF_EINVAL (NULL self or value), CF_ECLOSED (the port was closed) or CF_ENOMEM.
 * Thread: the worker's loop.
 */
CF_EXTERN int cf_worker_parent_post_json(cf_worker_self *self, cf_json *value);

/* Post bytes to the parent without a copy, as cf_worker_post_bytes. Thread: the worker's. */
CF_EXTERN int cf_worker_parent_post_bytes(cf_worker_self *self, void *bytes, size_t len,
                                          cf_free_fn free_fn);

/*
 * Listen to the parent's messages (≈ parentPort.on('message')). While a listener is set, and
 * unless unref'd, the port keeps the worker's loop alive. `cb` NULL removes it (messages wait).
 * Ownership: `data` is borrowed until replaced or the worker ends. Returns 0, CF_EINVAL (NULL
 * self), CF_ECLOSED (the port was closed) or CF_ENOMEM. Thread: the worker's loop.
 */
CF_EXTERN int cf_worker_parent_on_message(cf_worker_self *self, cf_worker_self_message_cb cb,
                                          void *data);

/*
 * Close the worker's port (≈ parentPort.close()): the listener is removed, the port stops
 * keeping the loop alive, messages from the parent are dropped from now on and posts to it
 * fail with CF_ECLOSED. Idempotent. Thread: the worker's loop.
 */
CF_EXTERN void cf_worker_parent_close(cf_worker_self *self);

/* Whether a listening port keeps the worker's loop alive (≈ parentPort.ref()/unref()). */
CF_EXTERN void cf_worker_parent_ref(cf_worker_self *self);
CF_EXTERN void cf_worker_parent_unref(cf_worker_self *self);

/*
 * Fail the worker (≈ an uncaught exception in it): the parent's on_error gets `err` (the first
 * failure only), the worker's signal aborts and its loop stops, as for a termination, and it
 * exits with CF_WORKER_EXIT_FAILURE. Ownership: takes `err` (NULL stands for CF_EUNKNOWN).
 * Returns 0, or CF_EINVAL for a NULL self (`err` is freed). Thread: the worker's loop.
 */
CF_EXTERN int cf_worker_fail(cf_worker_self *self, cf_error *err);

/*
 * The worker's abort signal: it aborts when the worker is terminated or fails. Give it to the
 * worker's operations, or listen to it to close the worker's handles. Borrowed until the
 * worker's thread ends. Thread: the worker's loop.
 */
CF_EXTERN cf_abort_signal *cf_worker_signal(cf_worker_self *self);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_WORKER_H */
