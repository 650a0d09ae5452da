/*
 * Calcifer: the thread pool (≈ libuv's uv_queue_work; Node runs fs and dns work on it).
 *
 * cf_work runs a function on a worker thread and then a completion callback on the loop
 * thread, in the poll phase, with status 0, or CF_ECANCELED when cf_work_cancel removed the
 * job before a worker took it. The pool is shared by every loop of the process; it starts on
 * first use with CF_THREADPOOL_SIZE threads (default 4, at most 1024, as libuv's
 * UV_THREADPOOL_SIZE). A job in flight keeps its loop alive. When the process exits (or the
 * shared library is unloaded) the pool stops: the workers that run no job are joined, so no
 * thread of the pool outlives the program; a worker inside a job is not waited for.
 */
#ifndef CALCIFER_POOL_H
#define CALCIFER_POOL_H

#include "calcifer/common.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A job submitted with cf_work (≈ uv_work_t). Opaque, owned by the loop. */
typedef struct cf_work_req cf_work_req;

/*
 * The work itself, on a worker thread. It must not call loop functions (they are loop-thread
 * only); it communicates through `data`. Ownership: `data` is borrowed.
 */
typedef void (*cf_work_fn)(void *data);

/*
 * On the loop thread, once `work` has returned (status 0) or the job was cancelled before it
 * started (status CF_ECANCELED, `work` never ran). Ownership: `req` is borrowed until this
 * callback returns, `data` too.
 */
typedef void (*cf_work_done_cb)(cf_work_req *req, int status, void *data);

/* ---- submit ---- */

/*
 * Run `work(data)` on the pool, then `done(req, status, data)` on the loop thread
 * (≈ uv_queue_work). `done` may be NULL. `*out` (if `out` is not NULL) receives the job,
 * for cf_work_cancel. Never calls `done` inside this call.
 * Returns 0, CF_EINVAL (NULL loop or work), CF_ENOMEM, the -errno of eventfd (CF_EMFILE)
 * or of starting the pool's threads (CF_EAGAIN), or CF_ECANCELED once the pool has stopped
 * because the process is exiting (a call from another thread or a late destructor); on error
 * nothing runs.
 * Ownership: `data` is borrowed until `done` returns; `*out` too. Thread: loop only.
 */
CF_EXTERN int cf_work(cf_loop *loop, cf_work_fn work, cf_work_done_cb done, void *data,
                      cf_work_req **out);

/*
 * Cancel a job that no worker has taken yet (≈ uv_cancel): its `done` then runs in the
 * loop's poll phase with CF_ECANCELED, never inside this call. (Under a backlog of two jobs per
 * thread or more, a worker takes its share at once; those count as taken.)
 * Returns 0, CF_EBUSY (the job is taken, running or finished: `done` will report status 0),
 * or CF_EINVAL (NULL). Thread: loop only.
 */
CF_EXTERN int cf_work_cancel(cf_work_req *req);

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
