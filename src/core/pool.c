/*
 * The thread pool (model: libuv src/threadpool.c), shared by every loop of the process.
 *
 * Process-wide state: one FIFO of submitted jobs, one mutex and condition variable, and the
 * worker threads, started once (pthread_once) on first use. This is the one piece of mutable
 * global state in core besides the signal registry: a pool per loop would multiply threads
 * by loops, and Node/libuv share theirs the same way. The thread array is static, so the pool
 * owns no library allocation (tests count those). A submission signals a sleeping worker only
 * when more are asleep than signals are on their way; under a backlog of two jobs per thread
 * or more a worker takes its share (up to TAKE_MAX) in one lock. Both cut the lock and futex
 * traffic between the workers and the submitting loop, which is what no-op jobs measure.
 *
 * Per-loop state (loop->pool): a lock-free stack of finished jobs and an eventfd. A worker
 * that finishes a job pushes it on its loop's stack and, when the stack was empty, writes the
 * eventfd: the loop is woken once per batch, and no lock is shared between the workers and
 * the loop. In the poll phase the loop reads the eventfd, takes the whole stack with one
 * atomic exchange, reverses it (oldest first) and calls each job's `done`, draining after each.
 * A worker may still write the eventfd after the loop has taken its job, so `posting` counts
 * the workers between their push and their last touch of the loop, and cf_loop_close waits
 * for it to drop to zero before closing the eventfd (model: libuv's uv__async_spin).
 *
 * Job states (under the global mutex): QUEUED -> RUNNING (taken by a worker; it stays so until
 * `done`), or QUEUED -> CANCELED.
 * Cancelling posts the job to its loop's completion list like a finished one, with
 * CF_ECANCELED, so `done` always runs in the poll phase and never inside cf_work_cancel.
 */
#include "calcifer/pool.h"
#include "core/pool.h"
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/sys.h"
#include "util/util.h"

#define POOL_DEFAULT_SIZE 4
#define POOL_MAX_SIZE     1024
#define REQ_SLAB          256 /* cf_work_req allocated at once */
#define TAKE_MAX          8   /* jobs a worker takes at once when there is a long backlog */

enum { JOB_QUEUED = 1, JOB_RUNNING, JOB_CANCELED };

/* ---- the process-wide pool ---- */

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mutex = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static cf_queue pool_queue;
static unsigned pool_queued;  /* jobs in pool_queue */
static unsigned pool_idle;    /* workers waiting on pool_cond */
static unsigned pool_wakeups; /* signals sent to waiting workers and not yet taken */
static int pool_threads;      /* started threads, or a negative code if none could start */
static pthread_t pool_thread_ids[POOL_MAX_SIZE];

/* Hand `w` to its loop: push it on the completion stack, wake the loop for a new batch. */
static void post_done(cf__work *w)
{
    cf__loop_pool *lp = &w->loop->pool;
    atomic_fetch_add(&lp->posting, 1);
    cf__work *old = atomic_load(&lp->done);
    do {
        w->next_done = old;
    } while (!atomic_compare_exchange_weak(&lp->done, &old, w));
    if (!old) {
        uint64_t one = 1;
        (void)cf__sys_write(lp->wake_fd, &one, sizeof one);
    }
    atomic_fetch_sub(&lp->posting, 1); /* the worker's last touch of the loop */
}

/* Take the next job (lock held), and a few more when a backlog would keep every worker busy. */
static cf__work *take_jobs(void)
{
    cf__work *first = NULL;
    cf__work **tail = &first;
    /* A fair share of the backlog, at most TAKE_MAX: with no backlog, one job. */
    unsigned share = pool_queued / (unsigned)pool_threads;
    unsigned want = share < 1 ? 1 : share > TAKE_MAX ? TAKE_MAX : share;
    unsigned n = 0;
    do {
        cf_queue *q = cf_queue_head(&pool_queue);
        cf_queue_remove(q);
        pool_queued--;
        cf__work *w = cf_queue_data(q, cf__work, link);
        w->state = JOB_RUNNING;
        w->next_done = NULL;
        *tail = w;
        tail = &w->next_done;
        n++;
    } while (n < want);
    return first;
}

static void *worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool_mutex);
        while (cf_queue_empty(&pool_queue)) {
            pool_idle++;
            pthread_cond_wait(&pool_cond, &pool_mutex);
            pool_idle--;
            if (pool_wakeups > 0)
                pool_wakeups--;
        }
        cf__work *w = take_jobs();
        pthread_mutex_unlock(&pool_mutex);
        while (w) {
            cf__work *next = w->next_done;
            w->work(w);
            w->status = 0;
            post_done(w);
            w = next;
        }
    }
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
    cf_queue_init(&pool_queue);
    unsigned n = pool_size_from_env();
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    unsigned started = 0;
    for (; started < n; started++) {
        err = pthread_create(&pool_thread_ids[started], NULL, worker_main, NULL);
        if (err)
            break;
        pthread_detach(pool_thread_ids[started]);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pool_threads = started ? (int)started : cf_translate_sys_error(err);
}

int cf_pool_size(void)
{
    pthread_once(&pool_once, pool_start);
    return pool_threads;
}

/* ---- per-loop completion state ---- */

void cf__pool_loop_init(cf_loop *loop)
{
    cf__loop_pool *lp = &loop->pool;
    atomic_init(&lp->done, NULL);
    atomic_init(&lp->posting, 0);
    lp->leftover = NULL;
    lp->wake_fd = -1;
    lp->free = NULL;
    lp->slabs = NULL;
}

struct cf_work_req {
    cf__work w;
    cf_work_fn work;
    cf_work_done_cb done;
    void *data;
    cf_work_req *next_free;
};

/*
 * Public requests are carved from slabs and recycled through a per-loop free list, so a
 * round trip allocates nothing after warm-up. Trade-off: the memory stays at the peak number
 * of jobs in flight at once until cf_loop_close frees the slabs.
 */
typedef struct req_slab {
    struct req_slab *next;
    cf_work_req reqs[REQ_SLAB];
} req_slab;

static cf_work_req *req_alloc(cf__loop_pool *lp)
{
    if (!lp->free) {
        req_slab *slab = cf__malloc(sizeof(*slab));
        if (!slab)
            return NULL;
        slab->next = lp->slabs;
        lp->slabs = slab;
        for (size_t i = REQ_SLAB; i-- > 0;) {
            slab->reqs[i].next_free = lp->free;
            lp->free = &slab->reqs[i];
        }
    }
    cf_work_req *req = lp->free;
    lp->free = req->next_free;
    return req;
}

static void req_release(cf__loop_pool *lp, cf_work_req *req)
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
        while (atomic_load(&lp->posting)) {
            sched_yield();
        }
        close(lp->wake_fd);
        lp->wake_fd = -1;
    }
    while (lp->slabs) {
        req_slab *slab = lp->slabs;
        lp->slabs = slab->next;
        cf__free(slab);
    }
    lp->free = NULL;
}

/* Take the finished jobs, oldest first: the leftovers of a failed run, then the stack. */
static cf__work *take_done(cf__loop_pool *lp)
{
    cf__work *stack = atomic_exchange(&lp->done, NULL);
    cf__work *list = NULL;
    while (stack) {
        cf__work *next = stack->next_done;
        stack->next_done = list;
        list = stack;
        stack = next;
    }
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
    uint64_t n;
    (void)cf__sys_read(io->fd, &n, sizeof n);
    cf__work *w = take_done(lp);
    while (w) {
        cf__work *next = w->next_done;
        cf__loop_req_done(loop);
        w->done(w, w->status); /* may free w */
        cf__after_callback(loop);
        w = next;
        if (w && cf__loop_failed(loop)) {
            /* Keep the rest for the next poll phase, and make sure there is one. */
            lp->leftover = w;
            uint64_t one = 1;
            (void)cf__sys_write(lp->wake_fd, &one, sizeof one);
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

int cf__work_submit(cf_loop *loop, cf__work *w, cf__work_fn work, cf__work_done_fn done)
{
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    int n = cf_pool_size();
    if (n < 0)
        return n;
    int rc = wake_open(loop);
    if (rc < 0)
        return rc;
    w->loop = loop;
    w->work = work;
    w->done = done;
    w->status = 0;
    cf__loop_req_start(loop);
    pthread_mutex_lock(&pool_mutex);
    w->state = JOB_QUEUED;
    cf_queue_insert_tail(&pool_queue, &w->link);
    pool_queued++;
    /* One signal per sleeping worker: a burst of submissions does not signal each time. */
    if (pool_idle > pool_wakeups) {
        pool_wakeups++;
        pthread_cond_signal(&pool_cond);
    }
    pthread_mutex_unlock(&pool_mutex);
    return 0;
}

int cf__work_cancel(cf__work *w)
{
    CF_ASSERT(cf__loop_is_loop_thread(w->loop));
    pthread_mutex_lock(&pool_mutex);
    int queued = w->state == JOB_QUEUED;
    if (queued) {
        cf_queue_remove(&w->link);
        pool_queued--;
        w->state = JOB_CANCELED;
    }
    pthread_mutex_unlock(&pool_mutex);
    if (!queued)
        return CF_EBUSY;
    w->status = CF_ECANCELED;
    post_done(w);
    return 0;
}

/* ---- public jobs ---- */

static void job_work(cf__work *w)
{
    cf_work_req *req = CF_CONTAINER_OF(w, cf_work_req, w);
    req->work(req->data);
}

static void job_done(cf__work *w, int status)
{
    cf_work_req *req = CF_CONTAINER_OF(w, cf_work_req, w);
    cf_loop *loop = w->loop;
    if (req->done)
        req->done(req, status, req->data);
    req_release(&loop->pool, req);
}

int cf_work(cf_loop *loop, cf_work_fn work, cf_work_done_cb done, void *data, cf_work_req **out)
{
    if (out)
        *out = NULL;
    if (!loop || !work)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf_work_req *req = req_alloc(&loop->pool);
    if (!req)
        return CF_ENOMEM;
    req->work = work;
    req->done = done;
    req->data = data;
    int rc = cf__work_submit(loop, &req->w, job_work, job_done);
    if (rc < 0) {
        req_release(&loop->pool, req);
        return rc;
    }
    if (out)
        *out = req;
    return 0;
}

int cf_work_cancel(cf_work_req *req)
{
    if (!req)
        return CF_EINVAL;
    return cf__work_cancel(&req->w);
}
