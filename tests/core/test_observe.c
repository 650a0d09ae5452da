/* ctest-labels: core tsan */
/* ctest-timeout: 60 */
/*
 * The cheap side of seeing the loop (core/metrics.h): the clock of the metrics and traces,
 * read from the CPU's counter where it can be, never goes back on a thread and stays within
 * microseconds of CLOCK_MONOTONIC through its calibration and re-anchors, on the loop thread
 * and on another thread at once; the timed metrics alone (the lazy mode) put each phase's time
 * where it was spent, also across iterations that run the same phase and when asked from a
 * callback; the pool's queue depth is counted without atomics on the workers' side.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_ms(unsigned ms)
{
    uint64_t end = mono_ns() + (uint64_t)ms * 1000000u;
    while (mono_ns() < end) {
    }
}

/* ---- the clock ---- */

typedef struct clock_run {
    uint64_t reads;
    uint64_t backwards; /* reads below the one before, on this thread */
    uint64_t worst_ns;  /* the largest distance from CLOCK_MONOTONIC seen after calibration */
} clock_run;

/*
 * Read the clock for `ms` milliseconds, each read between two of CLOCK_MONOTONIC: after the
 * first 20 ms (calibration and the first anchors), it must lie within 50 µs of the bracket.
 */
static void clock_read_for(clock_run *r, unsigned ms)
{
    uint64_t start = mono_ns();
    uint64_t last = 0;
    for (;;) {
        uint64_t before = mono_ns();
        uint64_t v = cf__obs_now_ns();
        uint64_t after = mono_ns();
        r->reads++;
        if (v < last)
            r->backwards++;
        last = v;
        if (before - start > 20000000u) {
            uint64_t off = v < before ? before - v : v > after ? v - after : 0;
            if (off > r->worst_ns)
                r->worst_ns = off;
        }
        if (after - start > (uint64_t)ms * 1000000u)
            break;
    }
}

static void *clock_thread(void *arg)
{
    clock_read_for(arg, 300);
    return NULL;
}

static void test_observe_clock_is_monotonic_and_close_to_clock_monotonic(void)
{
    clock_run mine = {0};
    clock_run other = {0};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, clock_thread, &other), 0);
    clock_read_for(&mine, 300);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT(mine.reads > 1000);
    ASSERT(other.reads > 1000);
    ASSERT_EQ(mine.backwards, 0);
    ASSERT_EQ(other.backwards, 0);
    if (mine.worst_ns > 50000u || other.worst_ns > 50000u)
        CF_TEST_FAILF("the clock strayed %llu / %llu ns from CLOCK_MONOTONIC",
                      (unsigned long long)mine.worst_ns, (unsigned long long)other.worst_ns);
}

/* The loop's own time (cf_now) comes from the same clock: it follows CLOCK_MONOTONIC. */
static void test_observe_loop_time_follows_clock_monotonic(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    for (int i = 0; i < 5; i++) {
        uint64_t before = mono_ns() / 1000000u;
        cf_update_time(loop);
        uint64_t now = cf_now(loop);
        uint64_t after = mono_ns() / 1000000u;
        ASSERT(now + 1 >= before);
        ASSERT(now <= after + 1);
        usleep(20000);
    }
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the timed metrics alone ---- */

static cf_loop *lazy_loop;
static int lazy_left;
static uint64_t lazy_check_mid; /* the check phase's time, asked from inside it */
static uint64_t lazy_spent_mid; /* the immediates' own time by then */
static uint64_t lazy_spent;     /* the immediates' own time (CLOCK_MONOTONIC, in and out) */
static uint64_t lazy_timer_ns;  /* the timer's */

static void block_timer(void *data)
{
    (void)data;
    uint64_t t0 = mono_ns();
    spin_ms(30);
    lazy_timer_ns = mono_ns() - t0;
}

/* `data` non-NULL: the last one starts a 50 ms timer. */
static void block_immediate(void *data)
{
    uint64_t t0 = mono_ns();
    spin_ms(2);
    if (--lazy_left == 5) {
        /* What was spent is read first: the metrics, read after, cover at least that much
         * (read the other way round, a slow metrics call under a sanitizer lands in `spent`
         * and not in what the metrics saw). */
        lazy_spent_mid = lazy_spent + (mono_ns() - t0);
        cf_loop_metrics m;
        ASSERT_OK(cf_loop_metrics_get(lazy_loop, &m));
        lazy_check_mid = m.phase_ns[CF_PHASE_CHECK];
    }
    if (lazy_left > 0)
        ASSERT_OK(cf_set_immediate(lazy_loop, block_immediate, data, NULL));
    else if (data)
        ASSERT_OK(cf_set_timeout(lazy_loop, 50, block_timer, NULL, NULL));
    lazy_spent += mono_ns() - t0;
}

/* `got` within what the callbacks took themselves and half as much again (loop overhead and
 * preemption on a loaded machine land there too). */
static int about(uint64_t got, uint64_t spent)
{
    return got >= spent && got <= spent + spent / 2 + 5000000u;
}

/*
 * Twenty immediates of 2 ms each in a row (one per iteration, the check phase running all
 * along: no clock read of its own), then a timer of 30 ms after a 50 ms wait: the check phase
 * gets the immediates' time, the timers phase the timer's, and the wait counts in neither.
 */
static void test_observe_lazy_phases_go_where_the_time_was_spent(void)
{
    ASSERT_OK(cf_loop_new(&lazy_loop));
    ASSERT_OK(cf_loop_metrics_enable(lazy_loop, 1));
    lazy_left = 20;
    lazy_check_mid = lazy_spent_mid = lazy_spent = lazy_timer_ns = 0;
    ASSERT_OK(cf_set_immediate(lazy_loop, block_immediate, (void *)1, NULL));
    ASSERT_OK(cf_run(lazy_loop, CF_RUN_DEFAULT));
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(lazy_loop, &m));
    uint64_t check = m.phase_ns[CF_PHASE_CHECK];
    uint64_t timers = m.phase_ns[CF_PHASE_TIMERS];
    if (!about(check, lazy_spent) || !about(timers, lazy_timer_ns))
        CF_TEST_FAILF("check %llu ns for %llu spent, timers %llu ns for %llu spent",
                      (unsigned long long)check, (unsigned long long)lazy_spent,
                      (unsigned long long)timers, (unsigned long long)lazy_timer_ns);
    /* Asked after 15 of them, while the check phase was running: its time so far. */
    if (!about(lazy_check_mid, lazy_spent_mid) || lazy_check_mid > check)
        CF_TEST_FAILF("mid-run check time %llu ns for %llu spent",
                      (unsigned long long)lazy_check_mid, (unsigned long long)lazy_spent_mid);
    ASSERT(m.idle_ns >= 40000000u); /* the wait for the timer (50 ms from the loop's time) */
    ASSERT(m.phase_ns[CF_PHASE_POLL] < 5000000u);
    ASSERT(m.callbacks >= 21);
    ASSERT(m.iterations >= 21);
    ASSERT_OK(cf_loop_close(lazy_loop));
}

/* Turned on and off between runs: the phase running when a run ends is closed there. */
static void test_observe_lazy_metrics_stop_with_the_run(void)
{
    ASSERT_OK(cf_loop_new(&lazy_loop));
    ASSERT_OK(cf_loop_metrics_enable(lazy_loop, 1));
    lazy_left = 10;
    ASSERT_OK(cf_set_immediate(lazy_loop, block_immediate, NULL, NULL));
    ASSERT_OK(cf_run(lazy_loop, CF_RUN_DEFAULT));
    cf_loop_metrics a;
    ASSERT_OK(cf_loop_metrics_get(lazy_loop, &a));
    ASSERT(a.phase_ns[CF_PHASE_CHECK] >= 19000000u);
    usleep(30000); /* outside cf_run: counted nowhere */
    cf_loop_metrics b;
    ASSERT_OK(cf_loop_metrics_get(lazy_loop, &b));
    ASSERT_EQ(b.phase_ns[CF_PHASE_CHECK], a.phase_ns[CF_PHASE_CHECK]);
    ASSERT_OK(cf_loop_metrics_enable(lazy_loop, 0));
    lazy_left = 3;
    ASSERT_OK(cf_set_immediate(lazy_loop, block_immediate, NULL, NULL));
    ASSERT_OK(cf_run(lazy_loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_metrics_get(lazy_loop, &b));
    ASSERT_EQ(b.phase_ns[CF_PHASE_CHECK], a.phase_ns[CF_PHASE_CHECK]);
    ASSERT_OK(cf_loop_close(lazy_loop));
}

/* ---- the pool's queue depth ---- */

static int pool_done;
static unsigned pool_queued_seen;

static void sleep_10ms(void *data)
{
    (void)data;
    usleep(10000);
}

static void pool_job_done(int status, const cf_error *err, void *data)
{
    (void)err;
    cf_loop *loop = data;
    ASSERT_OK(status);
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    if (m.pool_queued > pool_queued_seen)
        pool_queued_seen = m.pool_queued;
    pool_done++;
}

/* Ten 10 ms jobs on two workers: most wait at first, fewer as they are taken, none at the end. */
static void test_observe_pool_queue_depth(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_metrics_enable(loop, 1));
    pool_done = 0;
    pool_queued_seen = 0;
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(cf_work(loop, sleep_10ms, NULL, pool_job_done, loop));
    }
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(pool_done, 10);
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_EQ(m.pool_queued, 0);
    ASSERT_EQ(m.pool_jobs, 10);
    /* All ten were submitted before the workers, waking, could take more than a few. */
    if (m.pool_queued_max < 5 || m.pool_queued_max > 10)
        CF_TEST_FAILF("deepest queue %u, want 5 to 10", m.pool_queued_max);
    ASSERT(pool_queued_seen < 10); /* taken by then: a worker takes a share of a backlog */
    ASSERT(m.pool_wait_max_ns >= 30000000u); /* the last ones waited for four turns */
    ASSERT(m.pool_run_ns >= 10u * 9000000u);
    ASSERT_OK(cf_loop_close(loop));
}

/* A 50 ms timeout set now fires after 50 ms of CLOCK_MONOTONIC, not before, within 5 s. */
static void on_jump_timeout(void *data)
{
    *(uint64_t *)data = mono_ns();
}

static void timeout_after_jump(cf_loop *loop)
{
    uint64_t fired = 0;
    cf_update_time(loop);
    uint64_t set = mono_ns();
    ASSERT_OK(cf_set_timeout(loop, 50, on_jump_timeout, &fired, NULL));
    uint64_t give_up = set + 5000000000ull;
    while (!fired && mono_ns() < give_up) {
        ASSERT(cf_run(loop, CF_RUN_ONCE) >= 0);
    }
    ASSERT(fired != 0);
    ASSERT_GE(fired - set, 49000000ull); /* a millisecond of rounding */
}

/*
 * The counter jumps (a suspend during which it ran on while CLOCK_MONOTONIC stood still, or a
 * reset on resume): the clock gives the counter up for clock_gettime, and a timer set then
 * lasts its whole delay, neither stopped nor early.
 */
static void counter_jump(int64_t skew_s)
{
#if CF__CLOCK_TICKS
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    spin_ms(30); /* past the calibration: the counter is in use */
    (void)cf__obs_now_ns();
    uint64_t mult = atomic_load(&cf__clock_state.mult);
    if (!atomic_load(&cf__clock_state.counter) || !mult) {
        fprintf(stderr, "# the counter is not in use here: nothing to jump\n");
        ASSERT_OK(cf_loop_close(loop));
        return;
    }
    uint64_t ticks =
        (uint64_t)(((unsigned __int128)((uint64_t)(skew_s < 0 ? -skew_s : skew_s) * 1000000000ull)
                    << 32) /
                   mult);
    atomic_store(&cf__clock_test_skew, skew_s < 0 ? (uint64_t)0 - ticks : ticks);
    spin_ms(1100); /* past any span: the next read re-anchors */
    uint64_t v = cf__obs_now_ns();
    ASSERT_LE(v, mono_ns() + 1000000u);
    ASSERT_EQ(atomic_load(&cf__clock_state.counter), 0); /* given up */
    timeout_after_jump(loop);
    spin_ms(100);
    uint64_t a = cf__obs_now_ns();
    uint64_t m = mono_ns();
    ASSERT_LE(a, m);
    ASSERT_GE(a + 1000000u, m); /* the clock runs with CLOCK_MONOTONIC again */
    atomic_store(&cf__clock_test_skew, 0);
    ASSERT_OK(cf_loop_close(loop));
#else
    (void)skew_s;
#endif
}

/* In a child: giving the counter up is for the rest of the process. */
static void in_child(int64_t skew_s)
{
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        counter_jump(skew_s);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_observe_clock_after_a_counter_jump_forward(void)
{
    in_child(3600);
}

static void test_observe_clock_after_a_counter_jump_back(void)
{
    in_child(-3600);
}

int main(int argc, char **argv)
{
    setenv("CF_THREADPOOL_SIZE", "2", 1);
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_observe_clock_is_monotonic_and_close_to_clock_monotonic);
    CF_TEST(test_observe_loop_time_follows_clock_monotonic);
    CF_TEST(test_observe_lazy_phases_go_where_the_time_was_spent);
    CF_TEST(test_observe_lazy_metrics_stop_with_the_run);
    CF_TEST(test_observe_pool_queue_depth);
    CF_TEST(test_observe_clock_after_a_counter_jump_forward);
    CF_TEST(test_observe_clock_after_a_counter_jump_back);
    return CF_TEST_END();
}
