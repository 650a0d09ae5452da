/*
 * nextTick and microtask queues: drain order (Node's processTicksAndRejections), growth, the
 * drain hook and failing a run from a drain.
 */
#include "harness.h"

#include "core/internal.h"
#include "core/loop.h"
#include "util/alloc.h"

/* Callback data are labels; the callbacks only read them. */
#define S(lit) ((void *)(lit))

static char trace[512];
static cf_loop *L;

static void log_s(const char *s)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof trace - n, "%s%s", n ? " " : "", s);
}

static void reset(void)
{
    trace[0] = '\0';
}

static void t_log(void *d)
{
    log_s(d);
}

static void tick_queues_tick(void *d)
{
    log_s(d);
    ASSERT_OK(cf_next_tick(L, t_log, S("t-inner")));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m-from-tick")));
}

static void micro_queues_both(void *d)
{
    log_s(d);
    ASSERT_OK(cf_next_tick(L, t_log, S("t-from-micro")));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m-inner")));
}

static void test_tick_runs_before_microtasks(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m1")));
    ASSERT_OK(cf_next_tick(L, t_log, S("t1")));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m2")));
    ASSERT_OK(cf_next_tick(L, t_log, S("t2")));
    log_s("main");
    ASSERT_STR_EQ(trace, "main"); /* nothing runs inside the calls */
    cf_loop_drain(L);
    ASSERT_STR_EQ(trace, "main t1 t2 m1 m2");
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
}

static void test_tick_nested_order(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    ASSERT_OK(cf_next_tick(L, tick_queues_tick, S("t1")));
    ASSERT_OK(cf_queue_microtask(L, micro_queues_both, S("m1")));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m2")));
    cf_loop_drain(L);
    /* Ticks queued by ticks run in the same tick pass; microtasks queued by microtasks run
     * before the ticks they queued. */
    ASSERT_STR_EQ(trace, "t1 t-inner m1 m2 m-from-tick m-inner t-from-micro");
    ASSERT_OK(cf_loop_close(L));
}

static int counter;

static void count_cb(void *d)
{
    ASSERT_EQ((intptr_t)d, counter);
    counter++;
}

static void test_tick_queue_grows_fifo(void)
{
    ASSERT_OK(cf_loop_new(&L));
    counter = 0;
    for (intptr_t i = 0; i < 100000; i++) {
        ASSERT_OK(cf_next_tick(L, count_cb, (void *)i));
    }
    cf_loop_drain(L);
    ASSERT_EQ(counter, 100000);
    counter = 0;
    for (intptr_t i = 0; i < 5000; i++) {
        ASSERT_OK(cf_queue_microtask(L, count_cb, (void *)i));
    }
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* cf_run drains first */
    ASSERT_EQ(counter, 5000);
    ASSERT_OK(cf_loop_close(L));
}

/* A ring that wraps around while growing keeps its order. */
static void chain_cb(void *d)
{
    intptr_t i = (intptr_t)d;
    ASSERT_EQ(i, counter);
    counter++;
    if (i < 3000) {
        ASSERT_OK(cf_next_tick(L, chain_cb, (void *)(i + 1)));
    }
}

static void chain_big_cb(void *d)
{
    (void)d;
    counter++;
}

static void test_tick_ring_wraps(void)
{
    ASSERT_OK(cf_loop_new(&L));
    counter = 0;
    for (intptr_t i = 0; i < 200; i++) {
        ASSERT_OK(cf_next_tick(L, count_cb, (void *)i));
    }
    cf_loop_drain(L);
    ASSERT_EQ(counter, 200);
    /* head is now 200: queue across the wrap point and grow meanwhile */
    counter = 0;
    for (intptr_t i = 0; i < 1000; i++) {
        ASSERT_OK(cf_next_tick(L, count_cb, (void *)i));
    }
    cf_loop_drain(L);
    ASSERT_EQ(counter, 1000);
    counter = 0;
    ASSERT_OK(cf_next_tick(L, chain_cb, (void *)0));
    cf_loop_drain(L);
    ASSERT_EQ(counter, 3001);
    counter = 0;
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(cf_queue_microtask(L, chain_big_cb, NULL));
    }
    cf_loop_drain(L);
    ASSERT_EQ(counter, 10);
    ASSERT_OK(cf_loop_close(L));
}

static int hook_calls;

static void hook(cf_loop *loop, void *arg)
{
    ASSERT(loop == L);
    hook_calls++;
    log_s(arg);
    if (hook_calls == 1) {
        ASSERT_OK(cf_next_tick(L, t_log, S("t-from-hook")));
    }
}

static void test_tick_drain_hook(void)
{
    reset();
    hook_calls = 0;
    ASSERT_OK(cf_loop_new(&L));
    cf__loop_set_drain_hook(L, hook, S("hook"));
    ASSERT_OK(cf_queue_microtask(L, t_log, S("m1")));
    ASSERT_OK(cf_next_tick(L, t_log, S("t1")));
    cf_loop_drain(L);
    /* The hook runs after both queues are empty; what it queues is drained, then it runs
     * again. */
    ASSERT_STR_EQ(trace, "t1 m1 hook t-from-hook hook");
    ASSERT_EQ(hook_calls, 2);
    cf__loop_set_drain_hook(L, NULL, NULL);
    ASSERT_OK(cf_loop_close(L));
}

static void failing_tick(void *d)
{
    log_s(d);
    cf__loop_fail(L, CF_EUNHANDLED);
    cf__loop_fail(L, CF_EIO); /* the first one wins */
}

static void test_tick_fail_stops_run(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    ASSERT_OK(cf_next_tick(L, t_log, S("t1")));
    ASSERT_OK(cf_next_tick(L, failing_tick, S("fail")));
    ASSERT_OK(cf_next_tick(L, t_log, S("t3")));
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("timer"), NULL));
    ASSERT_EQ(cf_run(L, CF_RUN_DEFAULT), CF_EUNHANDLED);
    ASSERT_STR_EQ(trace, "t1 fail");
    /* The error is cleared; the rest is still queued and runs in the next cf_run. */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "t1 fail t3 timer");
    ASSERT_OK(cf_loop_close(L));
}

static void test_tick_bad_arguments(void)
{
    ASSERT_OK(cf_loop_new(&L));
    ASSERT_EQ(cf_next_tick(NULL, t_log, NULL), CF_EINVAL);
    ASSERT_EQ(cf_next_tick(L, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_queue_microtask(L, NULL, NULL), CF_EINVAL);
    cf_loop_drain(NULL);
    ASSERT_OK(cf_loop_close(L));
}

static void test_tick_oom(void)
{
    ASSERT_OK(cf_loop_new(&L));
    cf__alloc_fail_after(1, 0);
    int rc = cf_next_tick(L, t_log, S("x"));
    cf__alloc_fail_after(0, 0);
    ASSERT_EQ(rc, CF_ENOMEM);
    reset();
    cf_loop_drain(L);
    ASSERT_STR_EQ(trace, ""); /* a failed call never runs its callback */
    ASSERT_OK(cf_loop_close(L));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_tick_runs_before_microtasks);
    CF_TEST(test_tick_nested_order);
    CF_TEST(test_tick_queue_grows_fifo);
    CF_TEST(test_tick_ring_wraps);
    CF_TEST(test_tick_drain_hook);
    CF_TEST(test_tick_fail_stops_run);
    CF_TEST(test_tick_bad_arguments);
    CF_TEST(test_tick_oom);
    return CF_TEST_END();
}
