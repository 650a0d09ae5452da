/*
 * The thread pool's internal job, for layers that embed it in their own requests (fs, dns:
 * one allocation per operation instead of two). The public cf_work is built on it.
 *
 *     struct fs_req { cf__work w; ... };
 *     static void fs_work(cf__work *w)             // worker thread: the blocking call
 *     static void fs_done(cf__work *w, int status) // loop thread, poll phase: 0 or CF_ECANCELED
 *     rc = cf__work_submit(loop, &req->w, fs_work, fs_done);
 *
 * While submitted, the job counts as a request of the loop (cf__loop_req_start): the loop
 * stays alive and cf_loop_close returns CF_EBUSY until `done` has been called. `done` runs in
 * the poll phase of the loop that submitted it, and the loop drains ticks and microtasks after
 * it. The struct must stay valid (not moved, not freed) until `done` is called; `done` may free
 * it. `work` runs on a worker thread and may only touch the job's own memory.
 */
#ifndef CF_CORE_POOL_H
#define CF_CORE_POOL_H

#include "calcifer/loop.h"
#include "util/queue.h"

typedef struct cf__work cf__work;
typedef void (*cf__work_fn)(cf__work *w);
typedef void (*cf__work_done_fn)(cf__work *w, int status);

struct cf__work {
    cf_queue link;              /* in the pool's queue while queued */
    struct cf__work *next_done; /* in the pool's inbox, then the loop's completion stack */
    cf_loop *loop;
    cf__work_fn work;
    cf__work_done_fn done;
    int state; /* private to pool.c (under the pool's lock) */
    int status;
};

/*
 * Submit `w`: `work(w)` on a worker, then `done(w, status)` on the loop thread. Never calls
 * `done` inside this call. Returns 0, CF_ENOMEM, -errno (eventfd, starting the threads), or
 * CF_ECANCELED once the pool has stopped (the process is exiting: cf__pool_shutdown); on
 * error nothing runs and `w` is not used. Ownership: `w` is borrowed until `done` runs.
 * Thread: loop only.
 */
int cf__work_submit(cf_loop *loop, cf__work *w, cf__work_fn work, cf__work_done_fn done);

/*
 * Cancel `w` if no worker has taken it: `done(w, CF_ECANCELED)` then runs in the poll phase.
 * Returns 0, or CF_EBUSY when it is running or finished (done reports 0). Thread: loop only.
 */
int cf__work_cancel(cf__work *w);

/*
 * Stop the pool: every worker that runs no job exits and is joined (its stack and
 * thread-local storage are freed); a worker inside a job is detached and exits when the job
 * returns, never waited for. Jobs still queued never run, and cf__work_submit returns
 * CF_ECANCELED from then on. Runs by itself at exit() and when the shared library is unloaded
 * (a destructor); tests call it to check that. Does nothing in a forked child, before the pool
 * started, or a second time. Thread: any, once no loop will need the pool again.
 */
void cf__pool_shutdown(void);

#endif
