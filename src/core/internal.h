/*
 * The loop structure and the declarations shared by the files of core (loop.c, tick.c,
 * timer.c, watch.c, signal.c, pool.c, poll_<backend>.c). Layers above core use core/loop.h,
 * core/handle.h, core/watch.h and core/pool.h instead; they never read these fields.
 */
#ifndef CF_CORE_INTERNAL_H
#define CF_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "calcifer/loop.h"
#include "core/loop.h"
#include "core/handle.h"
#include "core/metrics.h"
#include "core/watch.h"
#include "util/queue.h"

/* ---- tick.c: the nextTick and microtask queues ---- */

typedef struct cf__task {
    cf_callback fn;
    void *data;
} cf__task;

/* A growable ring of tasks; `head` and `tail` run freely and are masked on access. */
typedef struct cf__ring {
    cf__task *items;
    size_t mask; /* capacity - 1; capacity is a power of two (0 items: mask 0, items NULL) */
    size_t head; /* next to pop */
    size_t tail; /* next free */
} cf__ring;

void cf__ring_free(cf__ring *r);

static inline int cf__ring_empty(const cf__ring *r)
{
    return r->head == r->tail;
}

/* ---- timer.c ---- */

struct cf__tlist;

/* A heap entry: a list and the (due, seq) of its first timer, kept inline for the sifts. */
typedef struct cf__tentry {
    uint64_t due;
    uint64_t seq;
    struct cf__tlist *list;
} cf__tentry;

typedef struct cf__timers {
    cf__tentry *heap; /* min-heap of non-empty lists, by their first timer */
    size_t heap_len;
    size_t heap_cap;
    struct cf__tlist **table; /* open-addressing map: duration -> list */
    size_t table_mask;
    size_t table_len;
    struct cf__tlist *free_lists; /* empty lists kept for reuse */
    struct cf_timer *free_timers; /* JS-style timers kept for reuse */
    void *slabs;                  /* the blocks JS-style timers are carved from */
    size_t slab_bytes;            /* the size of the newest slab (they double) */
    uint64_t seq;                 /* creation order of the next start */
} cf__timers;

void cf__timers_init(cf_loop *loop);
void cf__timers_free(cf_loop *loop);
/* The timers phase: run every timer due at phase start, created before it, in order. */
int cf__timers_run(cf_loop *loop); /* returns how many ran */
/* Milliseconds until the next timer is due (0 if due), or -1 when no timer is active. */
int cf__timers_next_timeout(const cf_loop *loop);
/* Clear every queued timeout and interval (cf__loop_close_all); returns how many. */
int cf__timers_clear_timeouts(cf_loop *loop);

/* Immediates (timer.c). */
void cf__immediates_init(cf_loop *loop);
void cf__immediates_free(cf_loop *loop);
/* The check phase: the plain iteration's copy, and the one of an observed iteration. */
void cf__immediates_run(cf_loop *loop);
void cf__immediates_run_observed(cf_loop *loop);
void cf__immediates_run_counted(cf_loop *loop); /* the lazy mode's: queue not empty */

/* ---- watch.c ---- */

int cf__watchers_init(cf_loop *loop);
void cf__watchers_free(cf_loop *loop);

/* ---- pool.c: per-loop completion state ---- */

typedef struct cf__loop_pool {
    struct cf__work *leftover; /* a failed run's unprocessed jobs, oldest first */
    int wake_fd;               /* eventfd written by workers, -1 until the first job */
    cf__io wake_io;            /* reads wake_fd in the poll phase */
    struct work_req *free;     /* recycled cf_work requests (pool.c) */
    void *slabs;               /* the blocks they are carved from */
    size_t slab_bytes;         /* the size of the newest slab (they double) */
    /*
     * Finished jobs, newest first (a lock-free stack pushed by the workers), alone in its
     * cache line: shared with the fields above, every push made the loop's next submission
     * miss on them. Padding rather than _Alignas, as the loop comes from cf__calloc.
     */
    char done_pad0[56];
    _Atomic(struct cf__work *) done;
    char done_pad1[56];
} cf__loop_pool;

void cf__pool_loop_init(cf_loop *loop);
void cf__pool_loop_free(cf_loop *loop);
/*
 * Cancel the loop's jobs that no worker has taken (cf__loop_close_all): each leaves the queue
 * and its `done` gets CF_ECANCELED in the next poll phase. Returns how many.
 */
int cf__pool_cancel_loop(cf_loop *loop);

/* ---- signal.c ---- */

struct cf__sigloop;
void cf__signals_free(cf_loop *loop);

/* ---- loop.c: lifecycle hooks (cf_loop_on_before_exit, cf_loop_on_exit) ---- */

/* One registration, in a singly linked list kept in registration order. */
typedef struct cf__hook {
    struct cf__hook *next;
    cf_callback fn;
    void *data;
    int removed; /* removed while its list was being run: freed when the run ends */
} cf__hook;

typedef struct cf__hooks {
    cf__hook *head;
    int running; /* the list is being run: removals only mark */
} cf__hooks;

/* ---- the loop ---- */

struct cf_loop {
    /* nextTick and microtask queues (tick.c) */
    cf__ring ticks;
    cf__ring micro;
    int draining;
    void (*drain_hook)(cf_loop *loop, void *arg);
    void *drain_arg;
    int (*exit_code_hook)(cf_loop *loop, void *arg); /* cf__loop_set_exit_code_hook */
    void *exit_code_arg;

    /* run state */
    int running;
    int stop_flag;
    int halt; /* stop_flag, a failed run or observability on: cf_run's plain loop leaves */
    int fail_code;
    uint64_t time;          /* cached clock, ms */
    unsigned busy_poll_us;  /* cf_loop_set_busy_poll; 0: sleep at once */
    unsigned post_spin_us;  /* cf_loop_set_post_spin: the adaptive spin's ceiling; 0: off */
    unsigned fd_poll_skips; /* spins in a row that found posts before polling the fds */
#ifdef CF_TESTING
    int fake_clock;
    uint64_t fake_now;
    uint64_t fake_block; /* cf__clock_block: fake ms the next waiting poll consumes */
    uint64_t busy_polls; /* polls made while spinning, for the tests */
#endif
    pthread_t thread;
    unsigned open_handles;   /* handles not closed yet (internal ones excepted) */
    unsigned active_handles; /* ACTIVE and REF'd handles */
    unsigned active_reqs;
    cf_queue all_handles; /* open handles, oldest first (cf_loop_print_handles) */
    cf_queue closers;     /* cf__loop_closer, for cf__loop_close_all */

    /* timers and immediates (timer.c) */
    cf__timers timers;
    cf_queue immediates;
    unsigned immediate_refs; /* queued and REF'd immediates */
    struct cf_immediate *free_immediates;
    size_t free_immediate_count;

    /* pending and close phases (loop.c) */
    cf_queue pending;
    cf_queue closing;

    /* poller (watch.c, poll_<backend>.c) */
    void *poll;         /* backend state */
    cf__io **watchers;  /* indexed by fd */
    unsigned nwatchers; /* length of `watchers` */
    unsigned nfds;      /* fds registered with the poller */

    /* thread-pool completions (pool.c) and signals (signal.c) */
    cf__loop_pool pool;
    struct cf__sigloop *sig;
    struct cf__mailbox *mailbox; /* posts from other threads (remote.c); NULL until a remote */

    /* lifecycle hooks (loop.c) */
    cf__hooks before_exit;
    cf__hooks exit_hooks;
    int exiting; /* cf_loop_close is running the exit hooks */
    int exited;  /* the exit hooks have run: they never run again */

    /* observability: counters, utilization, detector, trace (metrics.c, trace.c) */
    cf__obs_loop obs;

    /* higher layers */
    void *slots[CF__SLOT_COUNT];
    void (*slot_dtors[CF__SLOT_COUNT])(void *p);
};

/*
 * Slabs (loop.c): the blocks JS-style timers and public pool requests are carved from. Each
 * slab is twice the size of the one before, from `first` bytes up to CF__SLAB_MAX (2 MiB);
 * those are aligned on 2 MiB and marked for transparent huge pages (a hint), because
 * objects used one after the other (timers of one duration, requests in completion order)
 * then lie a page apart, and with 4 KiB pages each cost a page fault to create and a TLB
 * miss to use. cf__slab_alloc returns the usable memory (64-byte aligned), its size in
 * `*bytes` (give the previous size in, 0 the first time) and the block to cf__free in
 * `*raw`; NULL when memory is exhausted.
 */
#define CF__SLAB_MAX ((size_t)2 << 20)
void *cf__slab_alloc(size_t first, size_t *bytes, void **raw);

/*
 * Read the monotonic clock (or the fake one) into loop->time. Called before the timers
 * phase, and by the poll backend the moment its wait returns, before any I/O callback runs.
 */
void cf__loop_update_time(cf_loop *loop);

/* Non-zero when the run must stop after the current callback (failed). */
static inline int cf__loop_failed(const cf_loop *loop)
{
    return loop->fail_code != 0;
}

/*
 * Recompute loop->halt after a change of stop_flag, fail_code or the observability flags:
 * cf_run's plain loop tests the one word per iteration instead of the three.
 */
static inline void cf__loop_halt_update(cf_loop *loop)
{
    loop->halt = loop->stop_flag || loop->fail_code != 0
#ifndef CF_NO_OBSERVE
                 || loop->obs.flags != 0
#endif
        ;
}

/* Drain after a callback of a phase: the fast path checks the queues inline. */
static inline void cf__after_callback(cf_loop *loop)
{
    if (!cf__ring_empty(&loop->ticks) || !cf__ring_empty(&loop->micro) || loop->drain_hook) {
        cf__drain_ticks(loop);
    }
}

#ifdef CF_TESTING
/*
 * Fake clock for tests: from now on cf_now starts at `start_ms` and only moves when the test
 * advances it or when the poll phase would sleep waiting for a timer (it then jumps to the
 * timer instead of sleeping). Pass `enable` 0 to return to the system clock.
 */
void cf__clock_fake(cf_loop *loop, int enable, uint64_t start_ms);
void cf__clock_advance(cf_loop *loop, uint64_t ms);
/*
 * Simulate a loop that sits idle until an fd becomes ready `ms` from now: the poll phases that
 * wait (no ready work, something keeps the loop alive) consume `ms` of fake time before they
 * see the fds that are ready. A timer due sooner ends a wait first, with the fds unseen, and
 * the rest of `ms` goes to the next wait. Make the fd ready before cf_run.
 */
void cf__clock_block(cf_loop *loop, uint64_t ms);
#endif

#endif
