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

#include <stdint.h>

#include "calcifer/abort.h"
#include "calcifer/loop.h"
#include "util/queue.h"

typedef struct cf__work cf__work;
typedef void (*cf__work_fn)(cf__work *w);
typedef void (*cf__work_done_fn)(cf__work *w, int status);
typedef void (*cf__work_abort_fn)(cf__work *w);

struct cf__work {
    cf_queue link;              /* in the pool's queue while queued */
    struct cf__work *next_done; /* in the pool's inbox, then the loop's completion stack */
    cf_loop *loop;
    cf__work_fn work;
    cf__work_done_fn done;
    /*
     * Set by the owner before cf__work_submit (zero: none). Loop thread: the signal aborted
     * while a worker runs `work`, so that the owner can end a wait that would never end by
     * itself (a FIFO's open); `work` still returns before `done` runs.
     */
    cf__work_abort_fn on_abort;
    cf_abort_signal *signal;    /* watched while submitted (one reference), until `done` returns */
    cf_abort_listener listener; /* on `signal` */
    int state;                  /* private to pool.c (under the pool's lock) */
    int status;
    /* Observed jobs only (core/metrics.h): set by the loop, then by the worker. */
    int obs_worker;         /* the worker that ran it, from 0; -1 when it never ran */
    const void *obs_origin; /* the work function, to name the job */
    uint64_t obs_flow;      /* the trace's flow id, 0 when not traced */
    uint64_t obs_submit_ns; /* 0 when not observed */
    uint64_t obs_start_ns;
    uint64_t obs_end_ns;
};

/*
 * Submit `w`: `work(w)` on a worker, then `done(w, status)` on the loop thread. Never calls
 * `done` inside this call. Returns 0, CF_ENOMEM, -errno (eventfd, starting the threads), or
 * CF_ECANCELED once the pool has stopped (the process is exiting: cf__pool_shutdown); on
 * error nothing runs and `w` is not used. Ownership: `w` is borrowed until `done` runs.
 * Thread: loop only.
 *
 * `signal` (NULL: none) cancels the job, the one abort mechanism of everything built on the
 * pool. `done` then gets CF_ECANCELED (build the error with cf__work_abort_error):
 * - already aborted: `work` never runs; `done` runs in the next poll phase;
 * - aborted while queued: the job leaves the queue, `work` never runs;
 * - aborted while `work` runs (or after it returned, before `done`): `on_abort` is called if
 *   set, `work` finishes (its effects stay) and `done` reports the abort.
 * The listener is removed and the signal released just before `done`, which may free `w`.
 */
int cf__work_submit(cf_loop *loop, cf__work *w, cf_abort_signal *signal, cf__work_fn work,
                    cf__work_done_fn done);

/*
 * In `done`, when status is CF_ECANCELED because of the signal: the abort error
 * (cf_abort_signal_error) placed at `site`. Ownership: the caller owns it (cf_error_free).
 * NULL when the job has no aborted signal or memory is exhausted. Thread: loop only.
 */
cf_error *cf__work_abort_error(const cf__work *w, cf_site site);

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
