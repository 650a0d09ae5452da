/*
 * Calcifer: messages between loops on different threads (≈ Node's MessagePort between
 * worker threads, libuv's uv_async_send).
 *
 * A loop is used only from its own thread. Another thread reaches it through a remote: a
 * thread-safe, reference-counted handle on the loop's mailbox. Posting to a remote runs a
 * callback on the loop's thread, in its poll phase, with nextTicks and microtasks drained
 * after it, as for any I/O callback.
 *
 * - Order: callbacks posted by one thread run in the order they were posted; callbacks
 *   posted by several threads run in the order their posts took effect (one total order).
 * - No lock: a post is one allocation and one compare-and-swap on the mailbox; the first post
 *   into an empty mailbox also writes the loop's eventfd (one wakeup per batch).
 * - Lifetime: a remote outlives its loop safely. Once the loop has closed, posting returns
 *   CF_ECLOSED and the callback never runs. Callbacks still queued when the loop closes run
 *   from cf_loop_close with status CF_ECANCELED, so whatever they own can be freed.
 * - Keep-alive: a remote made with CF_REMOTE_KEEP_ALIVE keeps its loop's cf_run running until
 *   it is released (≈ a MessagePort with a listener, a ref'd uv_async); a plain one does not.
 *   Posts that have landed keep it running until they have run, from either kind: a holder
 *   that posts and then releases never loses its last posts. A remote never makes
 *   cf_loop_close return CF_EBUSY.
 *
 * A promise of one loop can be settled from any thread with cf_promise_remote (this header):
 * the owner's loop runs its reactions. Workers (a loop on a new thread) build on both.
 */
#ifndef CALCIFER_REMOTE_H
#define CALCIFER_REMOTE_H

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A thread-safe reference to a loop's mailbox. Opaque. */
typedef struct cf_remote cf_remote;

/*
 * A posted callback. Runs on the target loop's thread with `loop` that loop and `status` 0,
 * or CF_ECANCELED when the loop closed before its turn (from cf_loop_close; free what `data`
 * owns and start nothing). Ownership: `data` is the poster's, handed over by the post.
 */
typedef void (*cf_remote_cb)(cf_loop *loop, int status, void *data);

/* Flags of cf_remote_new. */
enum {
    CF_REMOTE_KEEP_ALIVE = 1 << 0 /* the loop's cf_run keeps running until the remote is released */
};

/*
 * Make a remote to `loop` (flags: 0 or CF_REMOTE_KEEP_ALIVE). Hand `*out` to other threads;
 * each holder releases its reference with cf_remote_release.
 * Returns 0, CF_EINVAL (NULL loop or out, unknown flag), CF_ENOMEM, or a negative CF_E* from
 * eventfd(2) (the mailbox's first remote opens it). Thread: the loop's own thread.
 */
CF_EXTERN int cf_remote_new(cf_loop *loop, unsigned flags, cf_remote **out);

/*
 * Another reference to the same mailbox, with the same keep-alive; release each with
 * cf_remote_release. Returns `r`. Thread: any.
 */
CF_EXTERN cf_remote *cf_remote_dup(cf_remote *r);

/*
 * Drop a reference (NULL is ignored). The last reference to a closed loop's mailbox frees it.
 * When the last keep-alive reference goes, the loop is woken to see that it may end. Thread: any.
 */
CF_EXTERN void cf_remote_release(cf_remote *r);

/*
 * Run `fn(loop, 0, data)` on the remote's loop (≈ port.postMessage; uv_async_send, but every
 * post runs: none is coalesced). Returns 0 (fn runs exactly once, later, on the loop's
 * thread), CF_EINVAL (NULL r or fn), CF_ECLOSED (the loop has closed: fn never runs and
 * `data` stays the caller's) or CF_ENOMEM. Thread: any, the loop's own included (then fn runs
 * in the next poll phase, never inside this call).
 */
CF_EXTERN int cf_remote_post(cf_remote *r, cf_remote_cb fn, void *data);

/* Non-zero once the remote's loop has closed (a post would return CF_ECLOSED). Thread: any. */
CF_EXTERN int cf_remote_closed(const cf_remote *r);

/* ---- promises settled from another thread ---- */

/* The right to settle one promise of another loop, once, from any thread. Opaque. */
typedef struct cf_settler cf_settler;

/*
 * Make a pending promise on `loop` that another thread settles through `*settler` (≈ passing
 * a Promise's resolve/reject to a worker). The reactions run on `loop`'s thread. Until it is
 * settled the promise keeps `loop`'s cf_run running, as a pool job does. If `loop` closes
 * first, the promise is rejected from cf_loop_close with CF_ECANCELED ("The loop closed before
 * the promise was settled"; its reactions run there), and the late settle frees its value.
 * Ownership: the caller owns one reference to `*p` (cf_promise_release) and the settler, which
 * exactly one of cf_settler_resolve / cf_settler_reject / cf_settler_drop consumes.
 * Returns 0, CF_EINVAL (NULL argument) or CF_ENOMEM. Thread: `loop`'s own thread.
 */
CF_EXTERN int cf_promise_remote(cf_loop *loop, cf_promise **p, cf_settler **settler);

/*
 * Fulfil the settler's promise with `value` (`dtor`, if not NULL, frees it with the promise).
 * Takes the settler and `value`: when the loop has closed, `dtor(value)` runs here and
 * CF_ECLOSED is returned. Returns 0, CF_EINVAL (NULL settler), CF_ECLOSED or CF_ENOMEM (the
 * promise is then rejected with CF_ENOMEM when possible). Thread: any.
 */
CF_EXTERN int cf_settler_resolve(cf_settler *settler, void *value, void (*dtor)(void *));

/*
 * Reject the settler's promise with `err` (made on any thread; NULL means CF_EUNKNOWN).
 * Takes the settler and `err`. Returns as cf_settler_resolve. Thread: any.
 */
CF_EXTERN int cf_settler_reject(cf_settler *settler, cf_error *err);

/*
 * Give up the right to settle: the promise is rejected with CF_ECANCELED. Takes the settler.
 * Thread: any.
 */
CF_EXTERN void cf_settler_drop(cf_settler *settler);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_REMOTE_H */
