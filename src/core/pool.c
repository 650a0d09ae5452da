/*
 * The thread pool (model: libuv src/threadpool.c), shared by every loop of the process.
 *
 * Process-wide state: a lock-free inbox of submitted jobs, one FIFO of jobs waiting for a
 * worker, one mutex and condition variable, and the worker threads, started once
 * (pthread_once) on first use. This is the one piece of mutable global state in core besides
 * the signal registry: a pool per loop would multiply threads by loops, and Node/libuv share
 * theirs the same way. The thread arrays are static, so the pool owns no library allocation
 * (tests count those).
 *
 * With no-op jobs a round trip is nothing but hand-offs, so the design counts lock
 * acquisitions, futex calls and cache lines that bounce between threads:
 *
 * - Submitting takes no lock. cf__work_submit pushes the job on the inbox (a Treiber stack,
 *   one compare-and-swap) and the job is available at once, as in libuv. Whoever holds the
 *   mutex next (a worker looking for work, or cf_work_cancel) moves the whole inbox to the
 *   FIFO's tail, oldest first, with one atomic exchange. A submitting loop therefore never
 *   waits for the mutex behind the workers, which was half the cost when it did.
 * - Waking is rationed. The submitter locks and signals only when the pool is hungry: a
 *   worker sleeps and no signal is on its way (`pool_hungry`, published by whoever changes
 *   `pool.idle` or `pool.wakeups`). A worker that takes jobs and leaves some behind wakes the
 *   next sleeper itself, so a burst costs the loop one futex wake, not one per job. No wakeup
 *   is lost: a worker about to sleep publishes `pool_hungry` and then looks at the inbox, and
 *   a submitter pushes and then reads `pool_hungry` (all sequentially consistent), so one of
 *   the two sees the other.
 * - Taking is batched. Under a backlog of two jobs per thread or more a worker takes its
 *   share (up to TAKE_MAX) in one lock.
 * - Hot words live alone. The inbox, the hungry flag, each loop's completion stack and the
 *   mutex-protected state each have cache lines of their own: sharing one with a word the
 *   loop reads on every submission (the loop's own pool fields, pthread_once's word) made
 *   the loop miss on a line a worker had just written, which cost as much as all the rest.
 * - Completions are lock-free. A worker that finishes a job pushes it on its loop's stack
 *   (`done`) and, when the stack was empty, writes the loop's eventfd: the loop is woken once
 *   per batch. In the poll phase the loop clears the eventfd, takes the whole stack with one
 *   atomic exchange, reverses it (oldest first) and calls each job's `done`, draining after
 *   each.
 *
 * A worker may still write the eventfd after the loop has taken its job (and the loop could
 * then be closed), so each worker publishes the loop it is posting to in a cache line of its
 * own (`pool_slots`), and cf_loop_close waits until no worker names the loop before closing
 * the eventfd (model: libuv's uv__async_spin). A per-loop counter did the same with two more
 * contended atomic operations per job.
 *
 * Job states: QUEUED (in the inbox or the FIFO) -> RUNNING (taken by a worker; it stays so
 * until `done`), or QUEUED -> CANCELED. After the push, a job's state is read and written
 * under the mutex only, and an abort empties the inbox before it looks.
 * Cancellation is the job's abort signal: its listener (loop thread) removes a queued job and
 * posts it to its loop's completion list like a finished one, with CF_ECANCELED, so `done`
 * always runs in the poll phase and never inside cf_abort. A job that a worker has taken
 * runs to its end and reports the abort (as libuv's uv_cancel and Node do: a system call
 * cannot be taken back). The listener is removed just before `done`, so a signal that
 * outlives the job holds nothing of it.
 *
 * Shutdown (model: libuv's uv_library_shutdown): when the process exits, or the shared
 * library is unloaded, a destructor stops the pool and joins every worker that runs no job.
 * A thread still alive at exit keeps its stack and thread-local storage, which valgrind
 * reports as possibly lost, and a worker left running after an unload would run unmapped
 * code. Joining at exit rather than when the last loop closes keeps the threads for a program
 * that creates loops one after another (no restart per loop). A worker inside a job is
 * detached instead of joined: exit never waits for user work, which may block for ever. Each
 * worker marks itself busy under the mutex when it takes jobs and clears the mark when its last
 * work function has returned, before it posts that job: once a loop has seen every completion
 * (and so could be closed), its workers all read as idle and are joined.
 */
#include "calcifer/pool.h"
#include "core/pool.h"
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/sys.h"
#include "util/util.h"
#include "util/site.h"

#define POOL_DEFAULT_SIZE 4
#define POOL_MAX_SIZE     1024
#define REQ_SLAB          256 /* work_req in the first slab */
#define TAKE_MAX          8   /* jobs a worker takes at once when there is a long backlog */
#define CACHE_LINE        64

enum { JOB_QUEUED = 1, JOB_RUNNING, JOB_CANCELED };

/* ---- the process-wide pool ---- */

/* What a worker publishes while it may still touch a loop after pushing a job to it. */
typedef struct pool_slot {
    _Alignas(CACHE_LINE) _Atomic(cf_loop *) posting;
    atomic_int busy; /* running a batch's work functions: set under the mutex, cleared after */
} pool_slot;

/* Read-mostly. */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int pool_threads; /* started threads, or a negative code if none could start */
static pthread_t pool_thread_ids[POOL_MAX_SIZE];
static pool_slot pool_slots[POOL_MAX_SIZE];
static atomic_int pool_started;  /* pool_start has run: pool_threads and pool_pid are set */
static atomic_int pool_stopping; /* set once, under the mutex, by cf__pool_shutdown */
static pid_t pool_pid;           /* the process that started the workers (not a forked child) */

/*
 * The FIFO and the worker bookkeeping, under `pool.mutex`. The mutex has a cache line of its
 * own (measured: sharing it with the condition variable and the counters was slower).
 */
static struct {
    _Alignas(CACHE_LINE) pthread_mutex_t mutex;
    _Alignas(CACHE_LINE) pthread_cond_t cond;
    cf_queue queue;   /* the FIFO */
    unsigned queued;  /* jobs in `queue` */
    unsigned idle;    /* workers waiting on `cond` */
    unsigned wakeups; /* signals sent to waiting workers and not yet taken */
} pool = {.mutex = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP, .cond = PTHREAD_COND_INITIALIZER};

/*
 * Two words the submitting loops read or write on every job, each alone in its cache line
 * (a struct with a line-aligned member fills the line):
 * - the inbox: submitted jobs not yet in the FIFO, newest first, linked by next_done;
 * - hungry: a worker sleeps and no signal is on its way (written under the mutex).
 */
static struct {
    _Alignas(CACHE_LINE) _Atomic(cf__work *) head;
} pool_inbox;
static struct {
    _Alignas(CACHE_LINE) atomic_int flag;
} pool_hungry;

/* Lock held: publish whether a worker sleeps with no signal on its way (only on a change). */
static void update_hungry(void)
{
    int hungry = pool.idle > 0 && pool.wakeups == 0;
    if (atomic_load_explicit(&pool_hungry.flag, memory_order_relaxed) != hungry)
        atomic_store(&pool_hungry.flag, hungry);
}

/* Lock held: move the inbox to the FIFO's tail, oldest first. */
static void take_inbox(void)
{
    cf__work *w = atomic_exchange(&pool_inbox.head, NULL);
    if (!w)
        return;
    cf_queue batch;
    cf_queue_init(&batch);
    unsigned n = 0;
    for (; w; w = w->next_done) {
        cf_queue_insert_head(&batch, &w->link); /* newest first in, oldest first out */
        n++;
    }
    cf_queue *first = batch.next;
    cf_queue *last = batch.prev;
    first->prev = pool.queue.prev;
    pool.queue.prev->next = first;
    last->next = &pool.queue;
    pool.queue.prev = last;
    pool.queued += n;
}

/*
 * Lock held: decide whether to wake one more sleeping worker for the jobs in the FIFO.
 * Returns non-zero when the caller must signal pool.cond (after unlocking, so that the woken
 * worker does not block on the mutex at once).
 */
static int claim_wakeup(void)
{
    if (pool.idle <= pool.wakeups)
        return 0; /* nobody asleep to wake, or enough already on their way */
    /*
     * Jobs still in the inbox count: pushed while a wakeup was on its way, they were left for
     * the worker it woke, which takes from the FIFO first; if that worker's job blocks (a
     * FIFO's open, a job waiting for another), they must not wait for it. The inbox is only
     * looked at when the FIFO is empty and someone sleeps, so its cache line stays with the
     * submitting loop while the pool is busy.
     */
    if (pool.queued == 0)
        take_inbox();
    if (pool.queued == 0)
        return 0;
    pool.wakeups++;
    update_hungry();
    return 1;
}

/*
 * Hand `w` to its loop: push it on the completion stack, wake the loop for a new batch.
 * `slot` is the calling worker's (NULL on the loop thread itself, which cannot race with
 * cf_loop_close). Nothing reads `w` after the push: the loop may recycle it at once.
 */
static void post_done(cf__work *w, pool_slot *slot)
{
    cf_loop *loop = w->loop;
    cf__loop_pool *lp = &loop->pool;
    int fd = lp->wake_fd;
    if (slot)
        atomic_store_explicit(&slot->posting, loop, memory_order_relaxed);
    cf__work *old = atomic_load_explicit(&lp->done, memory_order_relaxed);
    do {
        w->next_done = old;
    } while (!atomic_compare_exchange_weak_explicit(&lp->done, &old, w, memory_order_release,
                                                    memory_order_relaxed));
    if (!old)
        cf__sys_wakeup(fd);
    if (slot) /* the worker's last touch of the loop */
        atomic_store_explicit(&slot->posting, NULL, memory_order_release);
}

/* Take the next job (lock held), and a few more when a backlog would keep every worker busy. */
static cf__work *take_jobs(void)
{
    cf__work *first = NULL;
    cf__work **tail = &first;
    /* A fair share of the backlog, at most TAKE_MAX: with no backlog, one job. */
    unsigned share = pool.queued / (unsigned)pool_threads;
    unsigned want = share < 1 ? 1 : share > TAKE_MAX ? TAKE_MAX : share;
    unsigned n = 0;
    do {
        cf_queue *q = cf_queue_head(&pool.queue);
        cf_queue_remove(q);
        pool.queued--;
        cf__work *w = cf_queue_data(q, cf__work, link);
        w->state = JOB_RUNNING;
        w->next_done = NULL;
#ifndef CF_NO_OBSERVE
        if (CF_UNLIKELY(w->obs_submit_ns)) { /* observed: no longer queued (core/metrics.h) */
            atomic_uint *taken = &w->loop->obs.pool_taken;
            atomic_store_explicit(taken, atomic_load_explicit(taken, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        }
#endif
        *tail = w;
        tail = &w->next_done;
        n++;
    } while (n < want);
    return first;
}

/*
 * Lock held: return 1 when the FIFO has a job, moving the inbox to it when it is empty, and
 * sleeping when both are; return 0 when the pool is stopping (jobs still queued then stay:
 * the process is exiting). The inbox is left alone while the FIFO has work: its cache line
 * then stays with the submitting loop (exchanging it on every take made the loop's pushes
 * the main cost of a burst).
 */
static int wait_for_jobs(void)
{
    for (;;) {
        if (atomic_load_explicit(&pool_stopping, memory_order_relaxed))
            return 0;
        if (!cf_queue_empty(&pool.queue))
            return 1;
        take_inbox();
        if (!cf_queue_empty(&pool.queue))
            return 1;
        pool.idle++;
        update_hungry();
        /* Published hungry before this last look: a submitter that missed it signals. */
        if (atomic_load(&pool_inbox.head)) {
            pool.idle--;
            update_hungry();
            continue;
        }
        pthread_cond_wait(&pool.cond, &pool.mutex);
        pool.idle--;
        if (pool.wakeups > 0)
            pool.wakeups--;
        update_hungry();
    }
}

/* Run a job's work function; an observed one (core/metrics.h) gets its worker and times. */
static void run_job(cf__work *w, pool_slot *slot)
{
#ifndef CF_NO_OBSERVE
    if (CF_UNLIKELY(w->obs_submit_ns)) {
        w->obs_worker = (int)(slot - pool_slots);
        w->obs_start_ns = cf__obs_now_ns();
        w->work(w);
        w->obs_end_ns = cf__obs_now_ns();
        return;
    }
#endif
    (void)slot;
    w->work(w);
}

static void *worker_main(void *arg)
{
    pool_slot *slot = arg;
    for (;;) {
        pthread_mutex_lock(&pool.mutex);
        if (!wait_for_jobs())
            break;
        cf__work *w = take_jobs();
        atomic_store_explicit(&slot->busy, 1, memory_order_relaxed);
        int wake_next = claim_wakeup(); /* jobs are left: the next sleeper helps */
        pthread_mutex_unlock(&pool.mutex);
        if (wake_next)
            pthread_cond_signal(&pool.cond);
        while (w) {
            cf__work *next = w->next_done;
            run_job(w, slot);
            w->status = 0;
            if (!next) /* no user code left in this batch: shutdown may join this worker */
                atomic_store_explicit(&slot->busy, 0, memory_order_relaxed);
            post_done(w, slot);
            w = next;
        }
    }
    pthread_mutex_unlock(&pool.mutex);
    return NULL;
}

static unsigned pool_size_from_env(void)
{
    const char *s = getenv("CF_THREADPOOL_SIZE");
    if (!s || !*s)
        return POOL_DEFAULT_SIZE;
    char *end = NULL;
    long n = strtol(s, &end, 10);
    if (end == s)
        return POOL_DEFAULT_SIZE;
    if (n < 1)
        return 1;
    return n > POOL_MAX_SIZE ? POOL_MAX_SIZE : (unsigned)n;
}

/* Start the workers with every signal blocked, so that handlers run on loop threads. */
static void pool_start(void)
{
    cf_queue_init(&pool.queue);
    unsigned n = pool_size_from_env();
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    unsigned started = 0;
    for (; started < n; started++) {
        err = pthread_create(&pool_thread_ids[started], NULL, worker_main, &pool_slots[started]);
        if (err)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pool_threads = started ? (int)started : cf_translate_sys_error(err);
    pool_pid = getpid();
    atomic_store_explicit(&pool_started, 1, memory_order_release);
}

int cf_pool_size(void)
{
    pthread_once(&pool_once, pool_start);
    return pool_threads;
}

void cf__pool_shutdown(void)
{
    /* A forked child has none of the parent's threads (and maybe a mutex held for ever). */
    if (!atomic_load_explicit(&pool_started, memory_order_acquire) || pool_threads <= 0 ||
        pool_pid != getpid())
        return;
    unsigned char busy[POOL_MAX_SIZE];
    pthread_mutex_lock(&pool.mutex);
    if (atomic_load_explicit(&pool_stopping, memory_order_relaxed)) {
        pthread_mutex_unlock(&pool.mutex);
        return; /* stopped already */
    }
    /* Under the mutex: a worker that reads as idle here takes no job after this. */
    atomic_store(&pool_stopping, 1);
    for (int i = 0; i < pool_threads; i++) {
        busy[i] = (unsigned char)atomic_load_explicit(&pool_slots[i].busy, memory_order_relaxed);
    }
    pthread_mutex_unlock(&pool.mutex);
    pthread_cond_broadcast(&pool.cond);
    for (int i = 0; i < pool_threads; i++) {
        if (busy[i])
            pthread_detach(pool_thread_ids[i]); /* it leaves when its job returns */
        else
            pthread_join(pool_thread_ids[i], NULL);
    }
}

/* Runs at exit() and when the shared library is unloaded (after the program's atexit hooks). */
__attribute__((destructor)) static void pool_at_exit(void)
{
    cf__pool_shutdown();
}

/* ---- per-loop completion state ---- */

void cf__pool_loop_init(cf_loop *loop)
{
    cf__loop_pool *lp = &loop->pool;
    atomic_init(&lp->done, NULL);
    lp->leftover = NULL;
    lp->wake_fd = -1;
    lp->free = NULL;
    lp->slabs = NULL;
    lp->slab_bytes = 0;
}

typedef struct work_req work_req;
struct work_req {
    cf__work w;
    cf_work_fn work;
    cf_work_done_cb done;
    void *data;
    cf_site site; /* where cf_work was called: an abort's error names it */
    work_req *next_free;
};

/*
 * Public requests are carved from slabs and recycled through a per-loop free list, so a
 * round trip allocates nothing after warm-up. Slabs double up to 2 MiB huge pages
 * (cf__slab_alloc): a burst of 100,000 requests then costs a few page faults, not 2,000.
 * Trade-off: the memory stays at the peak number of jobs in flight at once until
 * cf_loop_close frees the slabs.
 */
typedef struct req_slab {
    struct req_slab *next;
    void *raw; /* the block to free */
    char pad[48];
    work_req reqs[];
} req_slab;

static work_req *req_alloc(cf__loop_pool *lp)
{
    if (!lp->free) {
        size_t bytes = lp->slab_bytes;
        void *raw;
        req_slab *slab =
            cf__slab_alloc(sizeof(req_slab) + REQ_SLAB * sizeof(work_req), &bytes, &raw);
        if (!slab)
            return NULL;
        slab->next = lp->slabs;
        slab->raw = raw;
        lp->slabs = slab;
        lp->slab_bytes = bytes;
        for (size_t i = (bytes - sizeof(req_slab)) / sizeof(work_req); i-- > 0;) {
            slab->reqs[i].next_free = lp->free;
            lp->free = &slab->reqs[i];
        }
    }
    work_req *req = lp->free;
    lp->free = req->next_free;
    return req;
}

static void req_release(cf__loop_pool *lp, work_req *req)
{
    req->next_free = lp->free;
    lp->free = req;
}

void cf__pool_loop_free(cf_loop *loop)
{
    cf__loop_pool *lp = &loop->pool;
    CF_ASSERT(!atomic_load(&lp->done) && !lp->leftover);
    if (lp->wake_fd >= 0) {
        cf__io_close(loop, &lp->wake_io);
        /* Every job is done, but its worker may not have left post_done yet. */
        for (int i = 0; i < pool_threads; i++) {
            while (atomic_load_explicit(&pool_slots[i].posting, memory_order_acquire) == loop) {
                sched_yield();
            }
        }
        close(lp->wake_fd);
        lp->wake_fd = -1;
    }
    while (lp->slabs) {
        req_slab *slab = lp->slabs;
        lp->slabs = slab->next;
        cf__free(slab->raw);
    }
    lp->free = NULL;
    lp->slab_bytes = 0;
}

/* Reverse a list linked by next_done (a stack taken whole comes newest first). */
static cf__work *reverse_done(cf__work *stack)
{
    cf__work *list = NULL;
    while (stack) {
        cf__work *next = stack->next_done;
        stack->next_done = list;
        list = stack;
        stack = next;
    }
    return list;
}

/* Take the finished jobs, oldest first: the leftovers of a failed run, then the stack. */
static cf__work *take_done(cf__loop_pool *lp)
{
    cf__work *list = reverse_done(atomic_exchange_explicit(&lp->done, NULL, memory_order_acquire));
    if (!lp->leftover)
        return list;
    cf__work *tail = lp->leftover;
    while (tail->next_done) {
        tail = tail->next_done;
    }
    tail->next_done = list;
    list = lp->leftover;
    lp->leftover = NULL;
    return list;
}

/* Poll phase: the eventfd is readable; run the completions posted so far. */
static void wake_cb(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)revents;
    cf__loop_pool *lp = &loop->pool;
    cf__sys_wakeup_clear(io->fd);
    cf__work *w = take_done(lp);
    while (w) {
        cf__work *next = w->next_done;
        cf__loop_req_done(loop);
        cf_abort_signal *signal = w->signal;
        int status = w->status;
        if (signal) {
            cf_abort_signal_unlisten(&w->listener);
            if (status == 0 && cf_abort_signal_aborted(signal))
                status = CF_ECANCELED; /* ran to its end, but the caller gave up on it */
        }
        uint64_t t0 = CF__OBS_CB_BEGIN(loop);
        const void *origin = (const void *)w->done;
        (void)origin;                        /* unused when the hooks are compiled out */
        if (CF_UNLIKELY(w->obs_submit_ns)) { /* observed since its submission */
            origin = w->obs_origin;
            cf__obs_work_done(loop, w, t0);
        }
        w->done(w, status); /* may free w */
        CF__OBS_CB_END(loop, t0, CF__OBS_POOL, origin, NULL);
        cf_abort_signal_release(signal);
        cf__after_callback(loop);
        w = next;
        if (w && cf__loop_failed(loop)) {
            /* Keep the rest for the next poll phase, and make sure there is one. */
            lp->leftover = w;
            cf__sys_wakeup(lp->wake_fd);
            return;
        }
    }
}

/* Create the loop's eventfd and watch it, on first use. */
static int wake_open(cf_loop *loop)
{
    cf__loop_pool *lp = &loop->pool;
    if (lp->wake_fd >= 0)
        return 0;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return cf_translate_sys_error(errno);
    cf__io_init(&lp->wake_io, fd, wake_cb);
    int rc = cf__io_start(loop, &lp->wake_io, CF__IO_IN);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    lp->wake_fd = fd;
    return 0;
}

/* ---- internal jobs ---- */

/* Push `w` on the inbox; when the pool is hungry, wake a worker for it. */
static void submit_job(cf__work *w)
{
    cf__work *old = atomic_load_explicit(&pool_inbox.head, memory_order_relaxed);
    do {
        w->next_done = old;
    } while (!atomic_compare_exchange_weak(&pool_inbox.head, &old, w));
    if (!atomic_load(&pool_hungry.flag))
        return; /* every worker is busy, or one is already on its way */
    pthread_mutex_lock(&pool.mutex);
    take_inbox();
    int wake = claim_wakeup();
    pthread_mutex_unlock(&pool.mutex);
    if (wake)
        pthread_cond_signal(&pool.cond);
}

/* Loop thread: remove `w` from the queue if no worker has taken it. Returns 1 when removed. */
static int unqueue(cf__work *w)
{
    pthread_mutex_lock(&pool.mutex);
    take_inbox(); /* a job still in the inbox moves to the FIFO, where it can be removed */
    int queued = w->state == JOB_QUEUED;
    if (queued) {
        cf_queue_remove(&w->link);
        pool.queued--;
        w->state = JOB_CANCELED;
    }
    pthread_mutex_unlock(&pool.mutex);
    return queued;
}

/* The job's signal aborted (loop thread, inside cf_abort or a timeout's callback). */
static void on_signal_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    (void)signal;
    cf__work *w = CF_CONTAINER_OF(l, cf__work, listener);
    if (unqueue(w)) {
        w->status = CF_ECANCELED;
        post_done(w, NULL); /* `done` runs in the poll phase, never inside cf_abort */
        return;
    }
    if (w->on_abort)
        w->on_abort(w);
}

int cf__pool_cancel_loop(cf_loop *loop)
{
    if (loop->pool.wake_fd < 0)
        return 0; /* it never submitted a job */
    /* The loop's queued jobs, newest first. */
    cf__work *list = NULL;
    int n = 0;
    pthread_mutex_lock(&pool.mutex);
    take_inbox();
    cf_queue *q = cf_queue_head(&pool.queue);
    while (q != &pool.queue) {
        cf__work *w = cf_queue_data(q, cf__work, link);
        q = q->next;
        if (w->loop != loop || w->state != JOB_QUEUED)
            continue;
        cf_queue_remove(&w->link);
        pool.queued--;
        w->state = JOB_CANCELED;
        w->status = CF_ECANCELED;
        w->next_done = list;
        list = w;
        n++;
    }
    pthread_mutex_unlock(&pool.mutex);
    /* Posted oldest first, so that their `done` calls come in submission order. */
    cf__work *ordered = reverse_done(list);
    while (ordered) {
        cf__work *next = ordered->next_done;
        post_done(ordered, NULL); /* as an abort does: `done` runs in the poll phase */
        ordered = next;
    }
    return n;
}

cf_error *cf__work_abort_error(const cf__work *w, cf_site site)
{
    return cf__error_set_site(cf_abort_signal_error(w->signal), site);
}

static void job_work(cf__work *w);

int cf__work_submit(cf_loop *loop, cf__work *w, cf_abort_signal *signal, cf__work_fn work,
                    cf__work_done_fn done)
{
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    if (atomic_load_explicit(&pool_stopping, memory_order_relaxed))
        return CF_ECANCELED;      /* the process is exiting: no worker would run the job */
    if (loop->pool.wake_fd < 0) { /* the loop's first job: start the pool, open the eventfd */
        int n = cf_pool_size();
        if (n < 0)
            return n;
        int rc = wake_open(loop);
        if (rc < 0)
            return rc;
    }
    w->loop = loop;
    w->work = work;
    w->done = done;
    w->status = 0;
    w->signal = cf_abort_signal_retain(signal);
    memset(&w->listener, 0, sizeof w->listener);
    w->obs_submit_ns = 0;
    if (CF__OBS_ON(loop) && (loop->obs.flags & (CF__OBS_METRICS | CF__OBS_TRACE))) {
        /* A public job is named by the user's work function, not the wrapper. */
        w->obs_origin = work == job_work ? (const void *)CF_CONTAINER_OF(w, work_req, w)->work
                                         : (const void *)work;
        cf__obs_work_submit(loop, w);
    }
    cf__loop_req_start(loop);
    if (signal && cf_abort_signal_listen(signal, &w->listener, on_signal_abort) < 0) {
        /* Already aborted: the job never starts, and fails from the loop as any other. */
        w->state = JOB_CANCELED;
        w->status = CF_ECANCELED;
        post_done(w, NULL);
        return 0;
    }
    w->state = JOB_QUEUED;
    submit_job(w);
    return 0;
}

/* ---- public jobs ---- */

static void job_work(cf__work *w)
{
    work_req *req = CF_CONTAINER_OF(w, work_req, w);
    req->work(req->data);
}

static void job_done(cf__work *w, int status)
{
    work_req *req = CF_CONTAINER_OF(w, work_req, w);
    cf_loop *loop = w->loop;
    cf_work_done_cb done = req->done;
    void *data = req->data;
    cf_error *err = NULL;
    if (status < 0) {
        err = w->signal && cf_abort_signal_aborted(w->signal)
                  ? cf__work_abort_error(w, req->site)
                  : cf_error_at(status, req->site, NULL, 0, NULL, 1, "work");
    }
    req_release(&loop->pool, req); /* before the callback, which may submit again */
    if (done) {
        cf_error fb = {.code = status, .message = cf_strerror(status)};
        done(status, err ? err : status < 0 ? &fb : NULL, data);
    }
    cf_error_free(err);
}

CF__NOINLINE int cf_work(cf_loop *loop, cf_work_fn work, cf_abort_signal *signal,
                         cf_work_done_cb done, void *data)
{
    cf_site site = CF__SITE_CALLER();
    if (!loop || !work)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    work_req *req = req_alloc(&loop->pool);
    if (!req)
        return CF_ENOMEM;
    req->work = work;
    req->done = done;
    req->data = data;
    req->site = site;
    req->w.on_abort = NULL;
    int rc = cf__work_submit(loop, &req->w, signal, job_work, job_done);
    if (rc < 0) {
        req_release(&loop->pool, req);
        return rc;
    }
    return 0;
}
