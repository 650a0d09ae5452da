/*
 * The loop: the phase order of one iteration (as listed in cf_run and docs/architecture.md),
 * draining after every callback, keep-alive rules, run modes, stop, failing a run, closing,
 * slots, requests and deferred (pending) callbacks.
 */
#include "harness.h"

#include <sys/socket.h>
#include <time.h>

#include "core/internal.h"
#include "util/alloc.h"
#include "util/sys.h"

#define S(lit) ((void *)(lit))

static char trace[1024];
static cf_loop *L;

static void log_s(const char *s)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof trace - n, "%s%s", n ? " " : "", s);
}

static void t_log(void *d)
{
    log_s(d);
}

static void setup(int fake)
{
    trace[0] = '\0';
    ASSERT_OK(cf_loop_new(&L));
    if (fake)
        cf__clock_fake(L, 1, 5000);
}

static void teardown(void)
{
    ASSERT_OK(cf_loop_close(L));
    L = NULL;
}

static void test_loop_new_run_close(void)
{
    ASSERT_EQ(cf_loop_new(NULL), CF_EINVAL);
    setup(0);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_run(L, CF_RUN_ONCE));
    ASSERT_OK(cf_run(L, CF_RUN_NOWAIT));
    ASSERT_EQ(cf_run(NULL, CF_RUN_DEFAULT), CF_EINVAL);
    ASSERT_EQ(cf_loop_close(NULL), CF_EINVAL);
    ASSERT(cf__loop_is_loop_thread(L));
    teardown();
}

/* ---- phase order ---- */

static cf__pending pend;
static int pipe_fds[2];
static cf_watch *watch;

static void pending_cb(cf_loop *loop, cf__pending *p)
{
    ASSERT(loop == L && p == &pend);
    log_s("pending");
    ASSERT_OK(cf_next_tick(L, t_log, S("tick")));
}

static void readable_cb(cf_watch *w, unsigned events, void *d)
{
    (void)d;
    ASSERT(events & CF_WATCH_READABLE);
    char c;
    ASSERT_EQ(cf__sys_read(pipe_fds[0], &c, 1), 1);
    log_s("poll");
    ASSERT_OK(cf_watch_stop(w));
}

static void watch_closed(void *d)
{
    log_s(d);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

static void check_cb(void *d)
{
    log_s(d);
    ASSERT_OK(cf_watch_close(watch, watch_closed, S("close")));
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("timer2"), NULL));
    cf__clock_advance(L, 1);
}

static void test_loop_phase_order(void)
{
    setup(1);
    /* One event for each phase, all ready when the loop starts. */
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("timer"), NULL));
    cf__clock_advance(L, 1);
    cf__pending_init(&pend);
    cf__loop_defer(L, &pend, pending_cb);
    ASSERT(cf__pending_queued(&pend));
    ASSERT_EQ(pipe(pipe_fds), 0);
    ASSERT_EQ(cf__sys_write(pipe_fds[1], "x", 1), 1);
    ASSERT_OK(cf_watch_new(L, pipe_fds[0], &watch));
    ASSERT_OK(cf_watch_start(watch, CF_WATCH_READABLE, readable_cb, NULL));
    ASSERT_OK(cf_set_immediate(L, check_cb, S("check"), NULL));
    ASSERT_STR_EQ(trace, "");
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    /* timers -> pending -> poll -> check -> close, then the next iteration's timers. */
    ASSERT_STR_EQ(trace, "timer pending tick poll check close timer2");
    teardown();
}

/* ---- draining after every callback of every phase ---- */

static void queue_both(void *d)
{
    log_s(d);
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m")));
    ASSERT_OK(cf_next_tick(L, t_log, S("t")));
}

static void closed_queue_both(void *d)
{
    queue_both(d);
}

static void test_loop_drain_after_every_callback(void)
{
    setup(1);
    ASSERT_OK(cf_set_timeout(L, 1, queue_both, S("T1"), NULL));
    ASSERT_OK(cf_set_timeout(L, 1, queue_both, S("T2"), NULL));
    ASSERT_OK(cf_set_immediate(L, queue_both, S("I1"), NULL));
    ASSERT_OK(cf_set_immediate(L, queue_both, S("I2"), NULL));
    cf_timer *a;
    cf_timer *b;
    ASSERT_OK(cf_timer_new(L, &a));
    ASSERT_OK(cf_timer_new(L, &b));
    ASSERT_OK(cf_timer_close(a, closed_queue_both, S("C1")));
    ASSERT_OK(cf_timer_close(b, closed_queue_both, S("C2")));
    cf__clock_advance(L, 1);
    ASSERT_OK(cf_queue_microtask(L, t_log, S("main-m")));
    cf_loop_drain(L);
    ASSERT_STR_EQ(trace, "main-m");
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "main-m T1 t m T2 t m I1 t m I2 t m C1 t m C2 t m");
    teardown();
}

/* ---- keep-alive ---- */

static int writable_count;

static void writable_cb(cf_watch *w, unsigned events, void *d)
{
    (void)w;
    (void)d;
    ASSERT(events & CF_WATCH_WRITABLE);
    writable_count++;
}

static void test_loop_keepalive_rules(void)
{
    setup(1);
    /* A request in flight keeps the loop alive. */
    cf__loop_req_start(L);
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 1);
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    cf__loop_req_done(L);
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 0);
    /* A started watcher keeps it alive while ref'd; a stopped or unref'd one does not. */
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    cf_watch *w;
    ASSERT_OK(cf_watch_new(L, sv[0], &w));
    writable_count = 0;
    ASSERT_OK(cf_watch_start(w, CF_WATCH_WRITABLE, writable_cb, NULL));
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 1);
    ASSERT_EQ(writable_count, 1);
    cf_watch_unref(w);
    ASSERT(!cf_watch_has_ref(w));
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 0); /* nothing referenced: no iteration */
    ASSERT_EQ(writable_count, 1);
    ASSERT_OK(cf_set_immediate(L, t_log, S("imm"), NULL));
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 0); /* reported while the loop runs for another */
    ASSERT_EQ(writable_count, 2);
    cf_watch_ref(w);
    ASSERT(cf_watch_has_ref(w));
    ASSERT_OK(cf_watch_stop(w));
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 0);
    ASSERT_EQ(writable_count, 2);
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 0); /* the close phase ran */
    close(sv[0]);
    close(sv[1]);
    /* A closing handle keeps the loop alive until its close callback has run. */
    cf_timer *t;
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT_OK(cf_timer_close(t, t_log, S("closed")));
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "imm closed");
    teardown();
}

static int once_count;

static void once_cb(void *d)
{
    (void)d;
    once_count++;
}

static void test_loop_run_modes(void)
{
    setup(1);
    once_count = 0;
    ASSERT_OK(cf_set_timeout(L, 10, once_cb, NULL, NULL));
    ASSERT_OK(cf_set_immediate(L, once_cb, NULL, NULL));
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 1); /* the immediate ran, the timer is pending */
    ASSERT_EQ(once_count, 1);
    ASSERT_EQ(cf_run(L, CF_RUN_NOWAIT), 1); /* not due: nothing */
    ASSERT_EQ(once_count, 1);
    ASSERT_EQ(cf_run(L, CF_RUN_ONCE), 1); /* waits for the timer (fake clock jumps) ... */
    ASSERT_EQ(cf_run(L, CF_RUN_ONCE), 0); /* ... which runs at the next timers phase */
    ASSERT_EQ(once_count, 2);
    teardown();
}

static int stop_count;

static void stop_cb(void *d)
{
    (void)d;
    stop_count++;
    cf_stop(L);
}

static void test_loop_stop(void)
{
    setup(1);
    stop_count = 0;
    cf_timeout *iv;
    ASSERT_OK(cf_set_interval(L, 5, stop_cb, NULL, &iv));
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), 1);
    ASSERT_EQ(stop_count, 1);
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), 1);
    ASSERT_EQ(stop_count, 2);
    cf_clear_interval(iv);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
}

static void fail_cb(void *d)
{
    log_s(d);
    cf__loop_fail(L, CF_EUNHANDLED);
    ASSERT_OK(cf_next_tick(L, t_log, S("tick-after-fail")));
}

static void test_loop_fail_stops_after_callback(void)
{
    setup(1);
    ASSERT_OK(cf_set_timeout(L, 1, fail_cb, S("T1"), NULL));
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("T2"), NULL));
    ASSERT_OK(cf_set_immediate(L, fail_cb, S("I1"), NULL));
    ASSERT_OK(cf_set_immediate(L, t_log, S("I2"), NULL));
    cf__clock_advance(L, 1);
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), CF_EUNHANDLED);
    ASSERT_STR_EQ(trace, "T1");
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), CF_EUNHANDLED);
    ASSERT_STR_EQ(trace, "T1 tick-after-fail T2 I1");
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "T1 tick-after-fail T2 I1 tick-after-fail I2");
    teardown();
}

/* ---- lifecycle hooks (≈ process.on('beforeExit'), process.on('exit')) ---- */

static int be_count;

/* Schedules a timer on its first two runs, then nothing: the loop goes on twice. */
static void be_schedule(void *d)
{
    (void)d;
    be_count++;
    log_s(be_count == 1 ? "be1" : be_count == 2 ? "be2" : "be3");
    if (be_count < 3) {
        ASSERT_OK(cf_set_timeout(L, 10, t_log, S("T"), NULL));
        ASSERT_OK(cf_next_tick(L, t_log, S("tick")));
        ASSERT_OK(cf_queue_microtask(L, t_log, S("micro")));
    }
}

static void test_loop_before_exit_goes_on(void)
{
    setup(1);
    be_count = 0;
    ASSERT_OK(cf_loop_on_before_exit(L, be_schedule, NULL));
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("second")));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* nothing to do: the hooks still run */
    ASSERT_STR_EQ(trace, "be1 second tick micro T be2 second tick micro T be3 second");
    ASSERT_EQ(cf_now(L), 5020); /* the timers ran their full 10 ms each */
    /* Each default run that runs out of work runs them again. */
    trace[0] = '\0';
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "be3 second");
    /* Not in ONCE / NOWAIT. */
    trace[0] = '\0';
    ASSERT_OK(cf_run(L, CF_RUN_NOWAIT));
    ASSERT_OK(cf_run(L, CF_RUN_ONCE));
    ASSERT_STR_EQ(trace, "");
    teardown();
}

static void fail_once(void *d)
{
    (void)d;
    cf__loop_fail(L, CF_EUNHANDLED);
}

static void test_loop_before_exit_skipped_on_stop_and_fail(void)
{
    setup(1);
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("be")));
    ASSERT_OK(cf_set_timeout(L, 1, stop_cb, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* stopped with nothing left: 0, no hook */
    ASSERT_STR_EQ(trace, "");
    ASSERT_OK(cf_set_timeout(L, 1, fail_once, NULL, NULL));
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), CF_EUNHANDLED);
    ASSERT_STR_EQ(trace, "");
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "be");
    teardown();
}

static void exit_schedules(void *d)
{
    log_s(d);
    ASSERT_OK(cf_set_timeout(L, 0, t_log, S("timer-never"), NULL));
    ASSERT_OK(cf_set_interval(L, 1, t_log, S("interval-never"), NULL));
    ASSERT_OK(cf_set_immediate(L, t_log, S("immediate-never"), NULL));
    ASSERT_OK(cf_next_tick(L, t_log, S("tick-never")));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("micro")));
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), CF_EINVAL); /* the loop has ended */
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    cf_loop_drain(L); /* runs no tick */
    ASSERT_OK(cf_loop_on_exit(L, t_log, S("added-late-never")));
}

static void test_loop_exit_hooks_in_close(void)
{
    setup(1);
    ASSERT_OK(cf_loop_on_exit(L, exit_schedules, S("exit1")));
    ASSERT_OK(cf_loop_on_exit(L, t_log, S("exit2")));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, ""); /* not at the end of a run */
    /* Busy: the hooks wait for the close that succeeds. */
    cf_timer *t;
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    ASSERT_STR_EQ(trace, "");
    ASSERT_OK(cf_timer_close(t, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    /* Queued before the close and never run: dropped, as without hooks. */
    ASSERT_OK(cf_next_tick(L, t_log, S("old-tick-dropped")));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("old-micro-dropped")));
    ASSERT_OK(cf_loop_close(L)); /* the harness checks nothing queued by the hooks leaked */
    L = NULL;
    ASSERT_STR_EQ(trace, "exit1 exit2 micro");
}

static cf_timer *exit_handle;

static void exit_opens_handle(void *d)
{
    log_s(d);
    ASSERT_OK(cf_timer_new(L, &exit_handle));
}

static void test_loop_exit_hook_opens_handle(void)
{
    setup(1);
    ASSERT_OK(cf_loop_on_exit(L, exit_opens_handle, S("exit")));
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY); /* after the hooks */
    ASSERT_STR_EQ(trace, "exit");
    ASSERT_OK(cf_timer_close(exit_handle, t_log, S("closed")));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown(); /* the hooks do not run twice */
    ASSERT_STR_EQ(trace, "exit closed");
}

static void remove_b(void *d)
{
    log_s(d);
    ASSERT_OK(cf_loop_off_before_exit(L, t_log, S("B")));
    ASSERT_EQ(cf_loop_off_before_exit(L, t_log, S("B")), CF_ENOENT);
}

static void test_loop_hooks_order_duplicates_removal(void)
{
    setup(1);
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("A")));
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("A"))); /* allowed, runs twice */
    ASSERT_OK(cf_loop_on_before_exit(L, remove_b, S("R")));
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("B")));
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("C")));
    ASSERT_OK(cf_loop_on_before_exit(L, t_log, S("C")));
    ASSERT_OK(cf_loop_off_before_exit(L, t_log, S("C"))); /* the most recent one */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "A A R C"); /* B removed by R before its turn */
    trace[0] = '\0';
    ASSERT_OK(cf_loop_off_before_exit(L, remove_b, S("R")));
    ASSERT_EQ(cf_loop_off_before_exit(L, remove_b, S("other data")), CF_ENOENT);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "A A C");
    ASSERT_OK(cf_loop_on_exit(L, t_log, S("x")));
    ASSERT_OK(cf_loop_on_exit(L, t_log, S("y")));
    ASSERT_OK(cf_loop_off_exit(L, t_log, S("x")));
    ASSERT_EQ(cf_loop_off_exit(L, t_log, S("x")), CF_ENOENT);
    trace[0] = '\0';
    teardown(); /* before-exit hooks still registered are freed */
    ASSERT_STR_EQ(trace, "y");
}

static void test_loop_hooks_bad_input(void)
{
    setup(1);
    ASSERT_EQ(cf_loop_on_before_exit(NULL, t_log, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_on_before_exit(L, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_off_before_exit(NULL, t_log, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_off_before_exit(L, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_off_before_exit(L, t_log, NULL), CF_ENOENT);
    ASSERT_EQ(cf_loop_on_exit(NULL, t_log, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_on_exit(L, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_off_exit(NULL, t_log, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_off_exit(L, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_off_exit(L, t_log, NULL), CF_ENOENT);
    cf__alloc_fail_after(1, 0);
    ASSERT_EQ(cf_loop_on_before_exit(L, t_log, S("oom")), CF_ENOMEM);
    cf__alloc_fail_after(1, 0);
    ASSERT_EQ(cf_loop_on_exit(L, t_log, S("oom")), CF_ENOMEM);
    cf__alloc_fail_after(0, 0);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
    ASSERT_STR_EQ(trace, "");
}

/* ---- slots, pending callbacks ---- */

static int dtor_calls;
static int slot_state;

static void slot_dtor(void *p)
{
    ASSERT(p == &slot_state);
    dtor_calls++;
}

static void test_loop_slots(void)
{
    setup(0);
    dtor_calls = 0;
    ASSERT(cf__loop_slot(L, CF__SLOT_IO) == NULL);
    cf__loop_slot_set(L, CF__SLOT_IO, &slot_state, slot_dtor);
    ASSERT(cf__loop_slot(L, CF__SLOT_IO) == &slot_state);
    cf__loop_slot_set(L, CF__SLOT_ASYNC, &slot_state, slot_dtor);
    cf__loop_slot_set(L, CF__SLOT_ASYNC, NULL, NULL); /* the old destructor runs */
    ASSERT_EQ(dtor_calls, 1);
    teardown();
    ASSERT_EQ(dtor_calls, 2);
}

static cf__pending p1;
static cf__pending p2;

static void p2_cb(cf_loop *loop, cf__pending *p)
{
    (void)loop;
    (void)p;
    log_s("p2");
}

static void p1_cb(cf_loop *loop, cf__pending *p)
{
    (void)p;
    log_s("p1");
    cf__loop_defer(loop, &p2, p2_cb); /* waits for the next pending phase */
    ASSERT_OK(cf_set_immediate(L, t_log, S("imm"), NULL));
}

static void test_loop_defer(void)
{
    setup(0);
    cf__pending_init(&p1);
    cf__pending_init(&p2);
    cf__loop_defer(L, &p2, p2_cb);
    cf__loop_undefer(L, &p2);
    ASSERT(!cf__pending_queued(&p2));
    cf__loop_defer(L, &p1, p1_cb);
    cf__loop_defer(L, &p1, p1_cb); /* already queued: once */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "p1 imm p2");
    teardown();
}

/* ---- busy polling ---- */

static int busy_done;
static uint64_t busy_polls_at_done;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void busy_work(void *data)
{
    (void)data;
    struct timespec ts = {0, 20 * 1000000}; /* 20 ms on a pool thread */
    nanosleep(&ts, NULL);
}

static void busy_work_done(int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    busy_done++;
    busy_polls_at_done = L->busy_polls;
}

static void busy_timer(void *data)
{
    (void)data;
    busy_done++;
}

static void test_loop_busy_poll(void)
{
    ASSERT_EQ(cf_loop_set_busy_poll(NULL, 10), CF_EINVAL);
    setup(0);
    ASSERT_EQ(cf_loop_set_busy_poll(L, CF_LOOP_BUSY_POLL_MAX + 1), CF_EINVAL);
    ASSERT_OK(cf_loop_set_busy_poll(L, CF_LOOP_BUSY_POLL_MAX));

    /* Nothing to wait for: no spin, cf_run returns at once. */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(L->busy_polls, 0);

    /* A pool completion arrives while the loop spins (budget 1 s > the job's 20 ms): it is
     * taken by a non-waiting poll, and the loop never slept for it. */
    busy_done = 0;
    ASSERT_OK(cf_work(L, busy_work, NULL, busy_work_done, NULL));
    uint64_t t0 = mono_ms();
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(busy_done, 1);
    ASSERT(busy_polls_at_done > 1);
    ASSERT(mono_ms() - t0 < 900); /* ended with the job, not with the budget */

    /* A timer due before the budget ends is not delayed by the spin. */
    busy_done = 0;
    uint64_t polls = L->busy_polls;
    ASSERT_OK(cf_set_timeout(L, 30, busy_timer, NULL, NULL));
    t0 = mono_ms();
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(busy_done, 1);
    ASSERT(L->busy_polls > polls);
    ASSERT(mono_ms() - t0 < 900);

    /* 0 turns it off: the loop sleeps at once. */
    ASSERT_OK(cf_loop_set_busy_poll(L, 0));
    polls = L->busy_polls;
    ASSERT_OK(cf_set_timeout(L, 5, busy_timer, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(busy_done, 2);
    ASSERT_EQ(L->busy_polls, polls);
    teardown();
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_loop_new_run_close);
    CF_TEST(test_loop_phase_order);
    CF_TEST(test_loop_drain_after_every_callback);
    CF_TEST(test_loop_keepalive_rules);
    CF_TEST(test_loop_run_modes);
    CF_TEST(test_loop_stop);
    CF_TEST(test_loop_fail_stops_after_callback);
    CF_TEST(test_loop_slots);
    CF_TEST(test_loop_defer);
    CF_TEST(test_loop_busy_poll);
    CF_TEST(test_loop_before_exit_goes_on);
    CF_TEST(test_loop_before_exit_skipped_on_stop_and_fail);
    CF_TEST(test_loop_exit_hooks_in_close);
    CF_TEST(test_loop_exit_hook_opens_handle);
    CF_TEST(test_loop_hooks_order_duplicates_removal);
    CF_TEST(test_loop_hooks_bad_input);
    return CF_TEST_END();
}
