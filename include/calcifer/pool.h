/*
 * Calcifer: the thread pool (≈ libuv's uv_queue_work; Node runs fs and dns work on it).
 *
 * cf_work runs a function on a worker thread and then a completion callback on the loop
 * thread, in the poll phase. The pool is shared by every loop of the process; it starts on
 * first use with CF_THREADPOOL_SIZE threads (default 4, at most 1024, as libuv's
 * UV_THREADPOOL_SIZE). A job in flight keeps its loop alive. When the process exits (or the
 * shared library is unloaded) the pool stops: the workers that run no job are joined, so no
 * thread of the pool outlives the program; a worker inside a job is not waited for.
 *
 * Cancelling: pass an abort signal (calcifer/abort.h). A job whose signal aborts before a
 * worker takes it is dropped (its work function never runs) and its callback reports the
 * abort; a job already running cannot be stopped: it runs to its end, its effects stay, and
 * its callback then reports the abort all the same (as libuv's uv_cancel and Node's
 * AbortSignal on fs calls). The error is CF_ECANCELED, "The operation was aborted", with the
 * signal's reason as its cause (cf_error_cause: CF_ETIMEDOUT for cf_abort_signal_timeout).
 */
#ifndef CALCIFER_POOL_H
#define CALCIFER_POOL_H

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The work itself, on a worker thread. It must not call loop functions (they are loop-thread
 * only); it communicates through `data`. Ownership: `data` is borrowed.
 */
typedef void (*cf_work_fn)(void *data);

/*
 * On the loop thread, once `work` has returned (status 0, `err` NULL), or with the abort
 * (status CF_ECANCELED, `err` the abort error: `work` never ran if the signal aborted before a
 * worker took the job, or ran to its end if it was already running). Ownership: `err` is
 * borrowed until this callback returns (cf_error_copy to keep it); `data` is yours.
 */
typedef void (*cf_work_done_cb)(int status, const cf_error *err, void *data);

/* ---- submit ---- */

/*
 * Run `work(data)` on the pool, then `done(status, err, data)` on the loop thread
 * (≈ uv_queue_work). `done` may be NULL. `signal` (NULL: none) cancels the job, as above; an
 * already aborted signal fails it at once: `work` never runs and `done` gets the abort from
 * the loop (not inside this call). The listener on `signal` is removed when the job
 * completes, so the signal may outlive it. Never calls `done` inside this call.
 * Returns 0, CF_EINVAL (NULL loop or work), CF_ENOMEM, the -errno of eventfd (CF_EMFILE)
 * or of starting the pool's threads (CF_EAGAIN), or CF_ECANCELED once the pool has stopped
 * because the process is exiting (a call from another thread or a late destructor); on error
 * nothing runs. Ownership: `data` is borrowed until `done` returns; `signal` is borrowed (the
 * job keeps its own reference until `done` returns). Thread: loop only.
 */
CF_EXTERN int cf_work(cf_loop *loop, cf_work_fn work, cf_abort_signal *signal, cf_work_done_cb done,
                      void *data);

/* ---- inspect ---- */

/*
 * The number of worker threads: CF_THREADPOOL_SIZE read once when the pool starts (default
 * 4, at least 1, at most 1024). Starts the pool if needed. Returns the count, or a negative
 * code if no thread could be started. Thread: any (thread-safe).
 */
CF_EXTERN int cf_pool_size(void);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_POOL_H */
