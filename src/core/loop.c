/*
 * The event loop: creation, the phases of an iteration, keep-alive, closing.
 *
 * cf_run is the list of DESIGN.md, one static call per phase (model: libuv's uv_run):
 *
 *     timers -> pending callbacks -> poll -> check (immediates) -> close callbacks
 *
 * and the loop goes round while something referenced is left (loop_alive). Every phase runs
 * its callbacks one at a time and drains the nextTick and microtask queues after each one
 * (cf__after_callback), as Node does since v11.
 *
 * The clock is cached in loop->time (ms). It is read before the timers phase and the moment
 * the poll phase's wait returns, before the poller runs any I/O callback (the backend calls
 * cf__loop_update_time right after epoll_wait, as libuv's uv__io_poll does): a deadline set
 * in an I/O, pool-completion or signal callback counts from when the loop woke up, however
 * long it sat idle. It is not read in between, so every timer started during a phase is
 * relative to the same "now".
 *
 * Keep-alive (loop_alive): ACTIVE and REF'd handles (loop->active_handles), requests in
 * flight, REF'd immediates, queued pending callbacks and closing handles.
 *
 * Lifecycle hooks (Node's process events): when CF_RUN_DEFAULT runs out of work, neither
 * stopped nor failed, the before-exit hooks run and the loop goes on if they scheduled work
 * (Node's SpinEventLoop: uv_run, 'beforeExit', uv_loop_alive, again). The exit hooks run
 * once, in cf_loop_close, when nothing is left open: the end of a loop is when it is freed,
 * since a program may run it several times.
 *
 * The first iteration of CF_RUN_DEFAULT begins with the timers phase, which is what libuv
 * 1.46 (Node 20) does when it runs due timers before entering its loop: a timer already due
 * when the loop starts runs before the first check phase.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/error.h"
#include "calcifer/metrics.h"
#include "core/remote.h"
#include "util/alloc.h"
#include "util/util.h"

/* ---- clock ---- */

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void cf__loop_update_time(cf_loop *loop)
{
#ifdef CF_TESTING
    if (loop->fake_clock) {
        loop->time = loop->fake_now;
        return;
    }
#endif
    /* The counter clock (core/metrics.h), with or without the observability hooks. */
    uint64_t now_ns = cf__obs_now_ns();
#ifndef CF_NO_OBSERVE
    /* Kept in ns: where a poll wait ended (wait_end) and a phase boundary the timed metrics
     * reuse instead of a read of their own; a store, no branch. */
    loop->obs.clock_ns = now_ns;
#endif
    uint64_t now = now_ns / 1000000u;
    if (now > loop->time)
        loop->time = now;
}

/*
 * A poll wait that may have slept has ended: its time, up to the clock read the backend made
 * when the wait returned, is idle. (An I/O callback that calls cf_update_time moves that
 * read, and its own time then counts as idle: a rare call, a small error.)
 */
static void wait_end(cf_loop *loop)
{
    uint64_t end = loop->obs.clock_ns;
    uint64_t start = loop->obs.wait_start;
    loop->obs.idle_ns += end > start ? end - start : 0;
    loop->obs.last_wait = start;
    loop->obs.wait_start = 0;
}

uint64_t cf_now(const cf_loop *loop)
{
    return loop ? loop->time : 0;
}

void cf_update_time(cf_loop *loop)
{
    if (loop)
        cf__loop_update_time(loop);
}

#ifdef CF_TESTING
void cf__clock_fake(cf_loop *loop, int enable, uint64_t start_ms)
{
    loop->fake_clock = enable;
    loop->fake_now = start_ms;
    if (enable) {
        loop->time = start_ms;
    } else {
        loop->time = 0;
        cf__loop_update_time(loop);
    }
}

void cf__clock_advance(cf_loop *loop, uint64_t ms)
{
    loop->fake_now += ms;
}

void cf__clock_block(cf_loop *loop, uint64_t ms)
{
    loop->fake_block = ms;
}
#endif

/* ---- create and close ---- */

int cf_loop_new(cf_loop **out)
{
    if (!out)
        return CF_EINVAL;
    *out = NULL;
    cf_loop *loop = cf__calloc(1, sizeof(*loop));
    if (!loop)
        return CF_ENOMEM;
    loop->thread = pthread_self();
    loop->post_spin_us = CF_LOOP_POST_SPIN_DEFAULT;
    cf_queue_init(&loop->pending);
    cf_queue_init(&loop->closing);
    cf_queue_init(&loop->all_handles);
    cf_queue_init(&loop->closers);
    cf__timers_init(loop);
    cf__immediates_init(loop);
    cf__pool_loop_init(loop);
    int rc = cf__watchers_init(loop);
    if (rc < 0)
        goto fail;
    rc = cf__poll_init(loop);
    if (rc < 0)
        goto fail_watchers;
    cf__loop_update_time(loop);
    cf__obs_loop_init(loop);
    *out = loop;
    return 0;

fail_watchers:
    cf__watchers_free(loop);
fail:
    cf__pool_loop_free(loop);
    cf__free(loop);
    return rc;
}

/* ---- lifecycle hooks ---- */

static int hooks_add(cf__hooks *hs, cf_callback fn, void *data)
{
    cf__hook *h = cf__malloc(sizeof(*h));
    if (!h)
        return CF_ENOMEM;
    h->next = NULL;
    h->fn = fn;
    h->data = data;
    h->removed = 0;
    cf__hook **p = &hs->head;
    while (*p) {
        p = &(*p)->next;
    }
    *p = h;
    return 0;
}

/* Remove the most recent registration of (fn, data), as Node's removeListener does. */
static int hooks_remove(cf__hooks *hs, cf_callback fn, void *data)
{
    cf__hook **found = NULL;
    for (cf__hook **p = &hs->head; *p; p = &(*p)->next) {
        if (!(*p)->removed && (*p)->fn == fn && (*p)->data == data)
            found = p;
    }
    if (!found)
        return CF_ENOENT;
    cf__hook *h = *found;
    if (hs->running) {
        h->removed = 1; /* the run holds a pointer to it: freed when the run ends */
        return 0;
    }
    *found = h->next;
    cf__free(h);
    return 0;
}

/* Free the registrations marked removed during a run (or all of them with `all`). */
static void hooks_sweep(cf__hooks *hs, int all)
{
    cf__hook **p = &hs->head;
    while (*p) {
        cf__hook *h = *p;
        if (all || h->removed) {
            *p = h->next;
            cf__free(h);
        } else {
            p = &h->next;
        }
    }
}

/*
 * Run the hooks registered when the run begins, in registration order, like the listeners of
 * one Node event: hooks added meanwhile wait for the next run. Unlike Node, whose emit works on
 * a copy of the listener list, a hook removed by an earlier one does not run: its data may be
 * gone already. No drain in between: the caller drains once after all of them, as Node does
 * after an emit.
 */
static void hooks_run(cf__hooks *hs)
{
    cf__hook *last = hs->head;
    if (!last)
        return;
    while (last->next) {
        last = last->next;
    }
    hs->running = 1;
    for (cf__hook *h = hs->head;; h = h->next) {
        if (!h->removed)
            h->fn(h->data);
        if (h == last)
            break;
    }
    hs->running = 0;
    hooks_sweep(hs, 0);
}

int cf_loop_on_before_exit(cf_loop *loop, cf_callback fn, void *data)
{
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    return hooks_add(&loop->before_exit, fn, data);
}

int cf_loop_off_before_exit(cf_loop *loop, cf_callback fn, void *data)
{
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    return hooks_remove(&loop->before_exit, fn, data);
}

int cf_loop_on_exit(cf_loop *loop, cf_callback fn, void *data)
{
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    return hooks_add(&loop->exit_hooks, fn, data);
}

int cf_loop_off_exit(cf_loop *loop, cf_callback fn, void *data)
{
    if (!loop || !fn)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    return hooks_remove(&loop->exit_hooks, fn, data);
}

/*
 * The exit hooks, as Node emits 'exit' when its loop has ended: the hooks, then the microtasks
 * they queued (and those queued by these), and nothing else: ticks are dropped, and timers,
 * immediates and I/O started now never run (the loop is about to be freed). Ticks and
 * microtasks queued before (a program that never ran its loop again) are dropped first, as
 * cf_loop_close always did. `draining` is set throughout so that a cf_loop_drain from a hook
 * does not run ticks either.
 */
static void run_exit_hooks(cf_loop *loop)
{
    loop->exited = 1;
    if (!loop->exit_hooks.head)
        return;
    int draining = loop->draining;
    loop->exiting = 1;
    loop->draining = 1;
    loop->ticks.head = loop->ticks.tail;
    loop->micro.head = loop->micro.tail;
    hooks_run(&loop->exit_hooks);
    cf__ring *m = &loop->micro;
    while (m->head != m->tail && !loop->fail_code) {
        cf__task t = m->items[m->head & m->mask];
        m->head++;
        t.fn(t.data);
    }
    loop->ticks.head = loop->ticks.tail;
    loop->draining = draining;
    loop->exiting = 0;
}

/* ---- close ---- */

int cf_loop_close(cf_loop *loop)
{
    if (!loop)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    if (loop->running || loop->exiting || loop->open_handles || loop->active_handles ||
        loop->active_reqs || !cf_queue_empty(&loop->closing) || !cf_queue_empty(&loop->pending)) {
        return CF_EBUSY;
    }
    if (!loop->exited) {
        run_exit_hooks(loop);
        /* Loop-owned work they queued is dropped below; handles and requests cannot be. */
        if (loop->open_handles || loop->active_reqs || !cf_queue_empty(&loop->closing) ||
            !cf_queue_empty(&loop->pending)) {
            return CF_EBUSY;
        }
    }
    hooks_sweep(&loop->before_exit, 1);
    hooks_sweep(&loop->exit_hooks, 1);
    /* Posts from other threads stop; those that landed run, told the loop is closing. The
     * layers' slots go after: a post may still need them (a remote promise's settlement). */
    cf__remote_loop_close(loop);
    for (int s = CF__SLOT_COUNT - 1; s >= 0; s--) {
        if (loop->slot_dtors[s])
            loop->slot_dtors[s](loop->slots[s]);
        loop->slots[s] = NULL;
        loop->slot_dtors[s] = NULL;
    }
    cf__obs_loop_close(loop); /* flushes the trace; after the layers' end-of-loop reports */
    cf__signals_free(loop);
    cf__pool_loop_free(loop);
    cf__immediates_free(loop);
    cf__timers_free(loop);
    cf__poll_close(loop);
    cf__watchers_free(loop);
    cf__ring_free(&loop->ticks);
    cf__ring_free(&loop->micro);
    cf__free(loop);
    return 0;
}

/* ---- the phases ---- */

/* Pending callbacks: the ones deferred before the phase began, in order. */
/* Inlined into the plain iteration, as before the observed one took its address. */
__attribute__((always_inline)) static inline void run_pending(cf_loop *loop)
{
    if (cf_queue_empty(&loop->pending) || cf__loop_failed(loop))
        return;
#ifndef CF_NO_OBSERVE
    loop->obs.ran_since_clock = 1; /* the poll phase's wait begins at a clock read of its own */
#endif
    cf_queue batch;
    cf_queue_move(&loop->pending, &batch);
    while (!cf_queue_empty(&batch) && !cf__loop_failed(loop)) {
        cf__pending *p = cf_queue_data(cf_queue_head(&batch), cf__pending, link);
        cf_queue_remove(&p->link);
        uint64_t t0 = CF__OBS_CB_BEGIN(loop);
        p->fn(loop, p);
        CF__OBS_CB_END(loop, t0, CF__OBS_PENDING, p->fn, NULL);
        cf__after_callback(loop);
    }
    /* A failed run leaves the rest for a later run, in order. */
    while (!cf_queue_empty(&batch)) {
        cf_queue *q = batch.prev;
        cf_queue_remove(q);
        cf_queue_insert_head(&loop->pending, q);
    }
}

/* How long the poll phase may wait: not at all when other work is ready. */
__attribute__((always_inline)) static inline int poll_timeout(const cf_loop *loop, cf_run_mode mode)
{
    if (mode == CF_RUN_NOWAIT || loop->stop_flag)
        return 0;
    if (loop->immediate_refs || !cf_queue_empty(&loop->pending) ||
        !cf_queue_empty(&loop->closing)) {
        return 0;
    }
    if (!loop->active_handles && !loop->active_reqs && !cf__remote_keeps_alive(loop))
        return 0;
    return cf__timers_next_timeout(loop);
}

/*
 * Busy polling (cf_loop_set_busy_poll): poll without waiting, again and again, for up to the
 * loop's budget before the thread sleeps. A thread asleep in epoll_wait is woken by whoever
 * makes its fd ready, and on Linux the waker's CPU pays for it (on loopback, the peer's):
 * a busy server that sleeps between bursts slows the clients that feed it. Returns the
 * number of events taken (posts from other threads count as one; 0 when the budget ran out,
 * or a negative CF_E*) and lowers
 * `*timeout` by the whole milliseconds spent, so that timers are not delayed by the spin.
 */
#define FD_POLL_SKIPS 8u

static int busy_poll(cf_loop *loop, int *timeout, uint64_t budget)
{
    if (*timeout > 0 && (uint64_t)*timeout * 1000u < budget)
        budget = (uint64_t)*timeout * 1000u; /* a timer is due first */
    uint64_t start = monotonic_us();
    uint64_t spent = 0;
    int n = 0;
    /* Other threads' posts are seen on the mailbox's head, with no eventfd write (remote.c). */
    cf__remote_spin_begin(loop);
    while (n == 0 && spent < budget && !cf__loop_failed(loop)) {
        /* Posts are looked for first (a post from a loop on the other CPU comes sooner than
         * a system call returns), but never more than FD_POLL_SKIPS spins in a row: a steady
         * stream of posts does not keep the fds from being polled. */
        if (loop->fd_poll_skips < FD_POLL_SKIPS && cf__remote_spin_check(loop)) {
            loop->fd_poll_skips++;
            n = 1;
            break;
        }
        loop->fd_poll_skips = 0;
        n = cf__poll_wait(loop, 0);
#ifdef CF_TESTING
        loop->busy_polls++;
#endif
        spent = monotonic_us() - start;
    }
    if (cf__remote_spin_end(loop) && n == 0)
        n = 1;
    if (*timeout > 0)
        *timeout = spent / 1000u >= (uint64_t)*timeout ? 0 : *timeout - (int)(spent / 1000u);
    return n;
}

/*
 * Before a wait: busy polling when it is on, else the adaptive spin of a loop whose posts
 * from other threads have been coming quickly (remote.c). Returns what busy_poll returns.
 */
static int spin_first(cf_loop *loop, int *timeout)
{
    if (loop->busy_poll_us)
        return busy_poll(loop, timeout, loop->busy_poll_us);
    if (!loop->mailbox)
        return 0;
    unsigned spin = cf__remote_wait_begin(loop);
    if (!spin)
        return 0;
    int n = busy_poll(loop, timeout, spin);
    if (n == 0)
        cf__remote_spin_missed(loop);
    return n;
}

#ifdef CF_TESTING
/*
 * The poll phase under the fake clock. The wait first consumes the time the test set aside
 * with cf__clock_block: when a timer is due sooner, the wait ends at the timer with the fds
 * not ready yet (the rest of the time is left for the next wait); otherwise it takes what is
 * ready (the backend moves the clock before dispatching it, as after a real wait). With
 * nothing ready, the clock jumps to the timer.
 */
static void fake_poll(cf_loop *loop, int timeout)
{
    uint64_t blocked = loop->fake_block;
    if (blocked && timeout > 0 && blocked > (uint64_t)timeout) {
        loop->fake_block -= (uint64_t)timeout;
        loop->fake_now += (uint64_t)timeout;
        cf__loop_update_time(loop);
        return;
    }
    loop->fake_block = 0;
    loop->fake_now += blocked;
    int n = cf__poll_wait(loop, timeout < 0 ? -1 : 0);
    if (n == 0 && timeout > 0 && !cf__loop_failed(loop))
        loop->fake_now += (uint64_t)timeout - blocked;
    cf__loop_update_time(loop);
}
#endif

/*
 * Poll: wait for I/O (and pool completions through the wakeup eventfd), run callbacks. The
 * backend updates the clock when its wait returns, before the first callback; only a wait
 * that a busy spin cut down to a non-blocking poll that found nothing is left to do here.
 */
__attribute__((noinline)) static void poll_io(cf_loop *loop, int timeout)
{
#ifdef CF_TESTING
    if (loop->fake_clock && timeout != 0) {
        fake_poll(loop, timeout);
        return;
    }
#endif
    int waits = timeout != 0;
#ifndef CF_NO_OBSERVE
    /* The utilization's idle time: from here (a spin waits too) to the clock read after it. */
    if (waits) { /* the timers phase's read, when nothing has run since */
        uint64_t now = loop->obs.clock_ns;
        if (loop->obs.ran_since_clock) {
            loop->obs.ran_since_clock = 0;
            now = cf__obs_now_ns();
        }
        loop->obs.wait_start = now;
    }
#endif
    if (waits && spin_first(loop, &timeout) != 0) {
        if (loop->obs.wait_start) /* the spin read the clock when it found something */
            wait_end(loop);
        return;
    }
    int n = 0;
    if (!cf__loop_failed(loop))
        n = cf__poll_wait(loop, timeout);
    if (waits && loop->mailbox)
        cf__remote_wait_end(loop);
    if (waits && timeout == 0 && n == 0)
        cf__loop_update_time(loop);
    if (loop->obs.wait_start) /* the backend read the clock when its wait returned */
        wait_end(loop);
}

/* Inline: a loop of immediates with nothing to watch skips the phase without a call. */
__attribute__((always_inline)) static inline void run_poll(cf_loop *loop, int timeout)
{
    if ((timeout == 0 && loop->nfds == 0) || cf__loop_failed(loop))
        return;
    poll_io(loop, timeout);
}

/* Close callbacks: the handles closed before the phase began, in order of close. */
__attribute__((always_inline)) static inline void run_closing(cf_loop *loop)
{
    if (cf_queue_empty(&loop->closing) || cf__loop_failed(loop))
        return;
    cf_queue batch;
    cf_queue_move(&loop->closing, &batch);
    while (!cf_queue_empty(&batch)) {
        cf__handle *h = cf_queue_data(cf_queue_head(&batch), cf__handle, close_link);
        cf_queue_remove(&h->close_link);
        h->flags = (h->flags & ~(unsigned)CF__HANDLE_CLOSING) | CF__HANDLE_CLOSED;
        if (!(h->flags & CF__HANDLE_INTERNAL))
            loop->open_handles--;
        cf_queue_remove(&h->all_link);
        cf__close_fn close_fn = h->close_fn;
        uint64_t t0 = CF__OBS_CB_BEGIN(loop);
        close_fn(h); /* may free h */
        CF__OBS_CB_END(loop, t0, CF__OBS_CLOSE, close_fn, NULL);
        cf__after_callback(loop);
    }
}

/*
 * The timers phase. Its clock read is also where the poll phase's wait begins for the
 * utilization when no timer and no pending callback has run since: those two set
 * ran_since_clock (only they run between the two), and the poll phase clears it when it
 * reads the clock itself. A read fewer per iteration for a loop that only waits for I/O (a
 * server between requests); a flag left set only makes one read too many.
 */
static void run_timers(cf_loop *loop)
{
    cf__loop_update_time(loop);
    /* No call (and no saved registers) with no timer at all; stops at once when failed. */
    if (loop->timers.heap_len && cf__timers_run(loop)) {
#ifndef CF_NO_OBSERVE
        loop->obs.ran_since_clock = 1;
#endif
    }
}

__attribute__((always_inline)) static inline int loop_alive(const cf_loop *loop)
{
    return loop->active_handles || loop->active_reqs || loop->immediate_refs ||
           !cf_queue_empty(&loop->pending) || !cf_queue_empty(&loop->closing) ||
           cf__remote_keeps_alive(loop);
}

static void run_check(cf_loop *loop)
{
    if (!cf__loop_failed(loop))
        cf__immediates_run(loop);
}

#ifndef CF_NO_OBSERVE
/* The check phase of an observed iteration (its immediates counted, timed or traced). */
static void run_check_observed(cf_loop *loop)
{
    if (!cf__loop_failed(loop))
        cf__immediates_run_observed(loop);
}
#endif

/*
 * One iteration: the phases of DESIGN.md, in order. A failed run (cf__loop_fail) makes every
 * remaining phase return at once; what they would have run stays queued for a later cf_run.
 */
#ifndef CF_NO_OBSERVE
static void phase_timers(cf_loop *loop, int arg)
{
    (void)arg;
    run_timers(loop);
}

static void phase_pending(cf_loop *loop, int arg)
{
    (void)arg;
    run_pending(loop);
}

static void phase_poll(cf_loop *loop, int timeout)
{
    run_poll(loop, timeout);
}

static void phase_check(cf_loop *loop, int arg)
{
    (void)arg;
    run_check_observed(loop);
}

static void phase_closing(cf_loop *loop, int arg)
{
    (void)arg;
    run_closing(loop);
}

/*
 * The timed metrics alone (the lazy mode, core/metrics.c): the plain iteration, plus a switch
 * of the phase being timed when a phase other than the last one runs something. A phase whose
 * queue is empty would run nothing, so it is not entered; the timers phase's own clock read is
 * the boundary before any timer runs.
 */
static void iterate_lazy(cf_loop *loop, cf_run_mode mode)
{
    loop->obs.iterations++; /* no iteration span: the deepest pool queue is kept at submit */
    uint64_t ran = loop->obs.callbacks;
    run_timers(loop);
    if (loop->obs.callbacks != ran && loop->obs.open != CF_PHASE_TIMERS + 1)
        cf__obs_lazy_switch(loop, CF_PHASE_TIMERS, loop->obs.clock_ns);
    if (!cf_queue_empty(&loop->pending)) {
        CF__OBS_LAZY_ENTER(loop, CF_PHASE_PENDING);
        run_pending(loop);
    }
    int timeout = poll_timeout(loop, mode);
    if (timeout != 0 || loop->nfds != 0) {
        if (loop->obs.open == CF_PHASE_POLL + 1)
            phase_poll(loop, timeout);
        else
            cf__obs_lazy_poll(loop, phase_poll, timeout);
    }
    if (!cf_queue_empty(&loop->immediates) && !cf__loop_failed(loop)) {
        CF__OBS_LAZY_ENTER(loop, CF_PHASE_CHECK);
        cf__immediates_run_counted(loop);
    }
    if (!cf_queue_empty(&loop->closing)) {
        CF__OBS_LAZY_ENTER(loop, CF_PHASE_CLOSE);
        run_closing(loop);
    }
}

/*
 * The same iteration with metrics, detector or trace on: one clock read per phase boundary.
 * Out of line, so that the plain iteration's code stays as it was.
 */
/*
 * Lazy iterations go round here, as cf_run's loop would, without a call each. Not cold (a
 * watched loop runs here all the time), so that the phases are inlined as in the plain loop.
 */
__attribute__((noinline)) static void run_lazy(cf_loop *loop, cf_run_mode mode)
{
    do {
        iterate_lazy(loop, mode);
    } while (mode == CF_RUN_DEFAULT && loop->obs.lazy && !loop->stop_flag &&
             !cf__loop_failed(loop) && loop_alive(loop));
}

__attribute__((noinline, cold)) static void iterate_observed(cf_loop *loop, cf_run_mode mode)
{
    if (loop->obs.lazy) {
        run_lazy(loop, mode);
        return;
    }
    cf__obs_iteration_begin(loop);
    cf__obs_phase(loop, CF_PHASE_TIMERS, phase_timers, 0);
    cf__obs_phase(loop, CF_PHASE_PENDING, phase_pending, 0);
    cf__obs_phase(loop, CF_PHASE_POLL, phase_poll, poll_timeout(loop, mode));
    cf__obs_phase(loop, CF_PHASE_CHECK, phase_check, 0);
    cf__obs_phase(loop, CF_PHASE_CLOSE, phase_closing, 0);
    cf__obs_iteration_end(loop);
    if (loop->obs.trace)
        cf__trace_iteration(loop);
}
#endif

/* The plain iteration: nothing observed (cf_run calls iterate_observed otherwise). */
static void iterate(cf_loop *loop, cf_run_mode mode)
{
    run_timers(loop);                         /* 1. timers */
    run_pending(loop);                        /* 2. pending callbacks */
    run_poll(loop, poll_timeout(loop, mode)); /* 3. poll (I/O, pool completions, signals) */
    run_check(loop);                          /* 4. check (immediates) */
    run_closing(loop);                        /* 5. close callbacks */
}

/*
 * Node's 'beforeExit': the loop has run out of work. The clock is read first, so that a timer
 * the hooks start runs its full length however long the last callback took; the hooks run,
 * then one drain (ticks, then microtasks), as after Node's emit.
 */
static void run_before_exit(cf_loop *loop)
{
    cf__loop_update_time(loop);
    hooks_run(&loop->before_exit);
    cf__drain_ticks(loop);
}

int cf_run(cf_loop *loop, cf_run_mode mode)
{
    if (!loop || loop->running || loop->exiting)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    loop->running = 1;
    if (!loop->obs.start_ns)
        loop->obs.start_ns = cf__obs_now_ns();
    if (CF__OBS_ON(loop))
        cf__obs_run_begin(loop);
    cf__drain_ticks(loop);
    int alive = loop_alive(loop);
    if (!alive)
        cf__loop_update_time(loop);
    int once = mode != CF_RUN_DEFAULT;
    for (;;) {
        /* One word tells the plain iterations from the rest: stopped, failed or observed. */
        while (alive && !loop->halt) {
            iterate(loop, mode);
            alive = loop_alive(loop); /* 6. go round while something referenced is left */
            if (once)
                goto iterated;
        }
#ifndef CF_NO_OBSERVE
        if (alive && CF__OBS_ON(loop) && !loop->stop_flag && !cf__loop_failed(loop)) {
            iterate_observed(loop, mode);
            alive = loop_alive(loop);
            if (!once)
                continue;
        }
#endif
    iterated:
        if (CF__OBS_ON(loop)) /* the timed metrics' last phase ends here, not in the hooks */
            cf__obs_run_end(loop);
        /* Out of work (not stopped, not failed): the before-exit hooks may schedule more. */
        if (alive || mode != CF_RUN_DEFAULT || loop->stop_flag || cf__loop_failed(loop) ||
            !loop->before_exit.head) {
            break;
        }
        run_before_exit(loop);
        alive = loop_alive(loop);
        if (!alive)
            break;
    }
    loop->stop_flag = 0;
    loop->running = 0;
    int rc = loop->fail_code;
    loop->fail_code = 0;
    cf__loop_halt_update(loop);
    if (rc < 0)
        return rc;
    /* Drained: a layer may still ask for a failing exit (≈ process.exitCode). */
    if (!alive && loop->exit_code_hook)
        rc = loop->exit_code_hook(loop, loop->exit_code_arg);
    return rc < 0 ? rc : alive;
}

void cf_stop(cf_loop *loop)
{
    if (loop) {
        loop->stop_flag = 1;
        cf__loop_halt_update(loop);
    }
}

int cf_loop_set_busy_poll(cf_loop *loop, unsigned usec)
{
    if (!loop || usec > CF_LOOP_BUSY_POLL_MAX)
        return CF_EINVAL;
    loop->busy_poll_us = usec;
    return 0;
}

int cf_loop_set_post_spin(cf_loop *loop, unsigned usec)
{
    if (!loop || usec > CF_LOOP_POST_SPIN_MAX)
        return CF_EINVAL;
    loop->post_spin_us = usec;
    return 0;
}

/* ---- slabs ---- */

void *cf__slab_alloc(size_t first, size_t *bytes, void **raw)
{
    size_t size = *bytes ? *bytes * 2 : first;
    if (size > CF__SLAB_MAX)
        size = CF__SLAB_MAX;
    size_t align = size == CF__SLAB_MAX ? CF__SLAB_MAX : 64;
    void *block = cf__malloc(size + align);
    if (!block)
        return NULL;
    void *mem = (void *)(((uintptr_t)block + align - 1) & ~(uintptr_t)(align - 1));
    if (align == CF__SLAB_MAX)
        (void)madvise(mem, size, MADV_HUGEPAGE);
    *bytes = size;
    *raw = block;
    return mem;
}

/* ---- internal hooks (core/loop.h) ---- */

void cf__loop_fail(cf_loop *loop, int code)
{
    CF_ASSERT(code < 0);
    if (!loop->fail_code)
        loop->fail_code = code < 0 ? code : CF_EUNKNOWN;
    cf__loop_halt_update(loop);
}

void cf__loop_set_exit_code_hook(cf_loop *loop, int (*hook)(cf_loop *loop, void *arg), void *arg)
{
    loop->exit_code_hook = hook;
    loop->exit_code_arg = arg;
}

void *cf__loop_slot(cf_loop *loop, enum cf__loop_slot s)
{
    CF_ASSERT(s < CF__SLOT_COUNT);
    return loop->slots[s];
}

void cf__loop_slot_set(cf_loop *loop, enum cf__loop_slot s, void *p, void (*dtor)(void *p))
{
    CF_ASSERT(s < CF__SLOT_COUNT);
    void *old = loop->slots[s];
    void (*old_dtor)(void *) = loop->slot_dtors[s];
    loop->slots[s] = p;
    loop->slot_dtors[s] = dtor;
    if (old_dtor && old != p)
        old_dtor(old);
}

void cf__loop_req_start(cf_loop *loop)
{
    loop->active_reqs++;
}

void cf__loop_req_done(cf_loop *loop)
{
    CF_ASSERT(loop->active_reqs > 0);
    loop->active_reqs--;
}

int cf__loop_in_flight(const cf_loop *loop)
{
    return loop->active_reqs || !cf_queue_empty(&loop->closing) || !cf_queue_empty(&loop->pending);
}

void cf__loop_closer_add(cf_loop *loop, cf__loop_closer *c, void (*fn)(cf__loop_closer *c))
{
    c->fn = fn;
    cf_queue_insert_tail(&loop->closers, &c->link);
}

void cf__loop_closer_remove(cf__loop_closer *c)
{
    cf_queue_remove(&c->link);
    cf_queue_init(&c->link);
}

/* Run every closer registered now; one added meanwhile waits for the next call. */
static int run_closers(cf_loop *loop)
{
    cf_queue batch;
    cf_queue_move(&loop->closers, &batch);
    int n = 0;
    while (!cf_queue_empty(&batch)) {
        cf__loop_closer *c = cf_queue_data(cf_queue_head(&batch), cf__loop_closer, link);
        cf_queue_remove(&c->link);
        cf_queue_insert_tail(&loop->closers, &c->link); /* stays registered; fn may remove it */
        c->fn(c);
        n++;
    }
    return n;
}

int cf__loop_close_all(cf_loop *loop)
{
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    int n = run_closers(loop);
    /* A close request frees nothing (the close phase does), so the next link stays valid. */
    cf_queue *q = loop->all_handles.next;
    while (q != &loop->all_handles) {
        cf__handle *h = cf_queue_data(q, cf__handle, all_link);
        q = q->next;
        if (!cf__handle_is_closing(h) && h->close_req) {
            h->close_req(h);
            n++;
        }
    }
    n += cf__timers_clear_timeouts(loop); /* after the handle timers have left the lists */
    n += cf__pool_cancel_loop(loop);
    return n;
}

int cf_loop_close_all(cf_loop *loop)
{
    if (!loop || loop->exiting)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    (void)cf__loop_close_all(loop);
    return 0;
}

void cf__loop_handle_counts(const cf_loop *loop, unsigned *open, unsigned *active)
{
    *open = loop->open_handles;
    *active = loop->active_handles;
}

int cf__loop_is_loop_thread(const cf_loop *loop)
{
    return pthread_equal(loop->thread, pthread_self());
}

void cf__pending_init(cf__pending *p)
{
    cf_queue_init(&p->link);
    p->fn = NULL;
}

int cf__pending_queued(const cf__pending *p)
{
    return !cf_queue_empty(&p->link);
}

void cf__loop_defer(cf_loop *loop, cf__pending *p, cf__pending_fn fn)
{
    p->fn = fn;
    if (!cf__pending_queued(p))
        cf_queue_insert_tail(&loop->pending, &p->link);
}

void cf__loop_undefer(cf_loop *loop, cf__pending *p)
{
    (void)loop;
    cf_queue_remove(&p->link);
}
