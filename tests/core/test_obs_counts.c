/* ctest-labels: core */
/* ctest-timeout: 30 */
/*
 * The timed metrics' counts (calcifer/metrics.h) in the counted-only mode: every microtask and
 * nextTick counted once, also when the queue grows while it is being drained; and cf_run's
 * iteration modes with metrics on and off.
 */
#include "harness.h"

#include "calcifer/metrics.h"
#include "calcifer/promise.h"
#include "calcifer/task.h"

typedef struct spawner {
    cf_loop *loop;
    int n;
    int ran;
} spawner;

static spawner sp;

static void count_one(void *data)
{
    (void)data;
    sp.ran++;
}

/* Queues more microtasks than the ring holds: the ring grows in the middle of the drain. */
static void spawn_many(void *data)
{
    spawner *s = data;
    s->ran++;
    for (int i = 0; i < s->n; i++) {
        ASSERT_OK(cf_queue_microtask(s->loop, count_one, NULL));
    }
}

static void test_obs_counts_microtasks_across_ring_growth(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_metrics_enable(loop, 1));
    /* Some drains first, so that the ring's free-running head is past zero. */
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(cf_queue_microtask(loop, count_one, NULL));
        cf_loop_drain(loop);
    }
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_EQ(m.microtasks, 100);
    sp = (spawner){loop, 1000, 0};
    ASSERT_OK(cf_queue_microtask(loop, spawn_many, &sp));
    cf_loop_drain(loop);
    ASSERT_EQ(sp.ran, 1001);
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_EQ(m.microtasks, 1101);
    ASSERT_OK(cf_loop_close(loop));
}

static void spawn_ticks(void *data)
{
    spawner *s = data;
    s->ran++;
    for (int i = 0; i < s->n; i++) {
        ASSERT_OK(cf_next_tick(s->loop, count_one, NULL));
    }
}

static void test_obs_counts_ticks_across_ring_growth(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_metrics_enable(loop, 1));
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(cf_next_tick(loop, count_one, NULL));
        cf_loop_drain(loop);
    }
    sp = (spawner){loop, 600, 0};
    ASSERT_OK(cf_next_tick(loop, spawn_ticks, &sp));
    cf_loop_drain(loop);
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_EQ(m.microtasks, 10 + 1 + 600); /* ticks count as microtasks */
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- cf_run's modes with metrics on and off ---- */

typedef struct stopper {
    cf_loop *loop;
    int fired;
    int toggle; /* 1: turn metrics on in the first callback; -1: off; 0: leave */
} stopper;

static void stop_on_second(cf_timer *t, void *data)
{
    (void)t;
    stopper *s = data;
    s->fired++;
    if (s->fired == 1 && s->toggle)
        ASSERT_OK(cf_loop_metrics_enable(s->loop, s->toggle > 0));
    if (s->fired == 2)
        cf_stop(s->loop);
}

/* A repeating timer stops the run on its second tick, metrics toggled on its first. */
static void check_stop(int metrics_before, int toggle)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_metrics_enable(loop, metrics_before));
    stopper s = {loop, 0, toggle};
    cf_timer *t;
    ASSERT_OK(cf_timer_new(loop, &t));
    ASSERT_OK(cf_timer_start(t, 1, 1, stop_on_second, &s));
    ASSERT_EQ(cf_run(loop, CF_RUN_DEFAULT), 1); /* stopped with the timer still active */
    ASSERT_EQ(s.fired, 2);
    ASSERT_OK(cf_timer_close(t, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.fired, 2);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_obs_counts_stop_plain_observed_and_toggled(void)
{
    check_stop(0, 0);
    check_stop(1, 0);
    check_stop(0, 1);
    check_stop(1, -1);
}

static int imm_ran;
static void imm_again(void *data)
{
    cf_loop *loop = data;
    imm_ran++;
    ASSERT_OK(cf_set_immediate(loop, imm_again, loop, NULL));
}

/* CF_RUN_NOWAIT runs exactly one iteration, plain or observed, and counts it when observed. */
static void test_obs_counts_one_iteration_per_nowait(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    imm_ran = 0;
    ASSERT_OK(cf_set_immediate(loop, imm_again, loop, NULL));
    ASSERT_EQ(cf_run(loop, CF_RUN_NOWAIT), 1);
    ASSERT_EQ(imm_ran, 1);
    ASSERT_OK(cf_loop_metrics_enable(loop, 1));
    ASSERT_EQ(cf_run(loop, CF_RUN_NOWAIT), 1);
    ASSERT_EQ(imm_ran, 2);
    ASSERT_EQ(cf_run(loop, CF_RUN_ONCE), 1);
    ASSERT_EQ(imm_ran, 3);
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_EQ(m.iterations, 2);
    ASSERT_EQ(m.callbacks, 2);
    ASSERT_OK(cf_loop_metrics_enable(loop, 0));
    ASSERT_EQ(cf_run(loop, CF_RUN_NOWAIT), 1);
    ASSERT_EQ(imm_ran, 4);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- the await hand-off between tasks with the timed metrics on ---- */

#define PAIR_AWAITS 1000

static long pair_count;

static int await_half(cf_task *task, void *arg)
{
    (void)task;
    cf_promise *p = arg;
    for (int i = 0; i < PAIR_AWAITS; i++) {
        cf_result r = cf_await(cf_promise_retain(p));
        ASSERT_OK(r.status);
        pair_count++;
    }
    return 0;
}

/* Two tasks awaiting one fulfilled promise in lock-step; returns the microtasks counted. */
static uint64_t pair_microtasks(int detector)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_metrics_enable(loop, 1));
    if (detector) /* a clock per callback: the hand-off is off, each wake-up runs as a microtask */
        ASSERT_OK(cf_loop_detect_blocked(loop, 60000, NULL, NULL));
    pair_count = 0;
    cf_promise *p = cf_promise_resolved(loop, (void *)1, NULL);
    cf_promise_release(cf_async(loop, await_half, p));
    cf_promise_release(cf_async(loop, await_half, p));
    cf_promise_release(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(pair_count, 2 * PAIR_AWAITS);
    cf_loop_metrics m;
    ASSERT_OK(cf_loop_metrics_get(loop, &m));
    ASSERT_OK(cf_loop_close(loop));
    return m.microtasks;
}

/*
 * With the metrics alone, a task's await hands control straight to the next task (a wake-up
 * microtask skipped, done in its place); it is counted as run all the same, so the count is
 * the one of the path where every wake-up runs from the queue.
 */
static void test_obs_counts_await_hand_off(void)
{
    uint64_t handed = pair_microtasks(0);
    uint64_t queued = pair_microtasks(1);
    ASSERT_GE(handed, 2 * PAIR_AWAITS);
    ASSERT_EQ(handed, queued);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_obs_counts_microtasks_across_ring_growth);
    CF_TEST(test_obs_counts_ticks_across_ring_growth);
    CF_TEST(test_obs_counts_stop_plain_observed_and_toggled);
    CF_TEST(test_obs_counts_one_iteration_per_nowait);
    CF_TEST(test_obs_counts_await_hand_off);
    return CF_TEST_END();
}
