/* 02: ticks, microtasks, an immediate and a timer queued by a before-exit hook. */
#include "rules.h"

static int emits;

static void tick_from_immediate(void *data)
{
    (void)data;
    say("immediate");
    CHECK(cf_next_tick(loop, log_cb, TEXT("tick from immediate")));
}

static void microtask_1(void *data)
{
    (void)data;
    say("microtask 1");
    CHECK(cf_next_tick(loop, log_cb, TEXT("tick from microtask")));
}

static void tick_1(void *data)
{
    (void)data;
    say("tick 1");
    CHECK(cf_queue_microtask(loop, log_cb, TEXT("microtask from tick")));
}

static void before_exit(void *data)
{
    (void)data;
    emits++;
    SAYF("beforeExit %d start", emits);
    if (emits == 1) {
        CHECK(cf_set_timeout(loop, 20, log_cb, TEXT("timeout"), NULL));
        CHECK(cf_set_immediate(loop, tick_from_immediate, NULL, NULL));
        CHECK(cf_queue_microtask(loop, microtask_1, NULL)); /* Promise.resolve().then */
        CHECK(cf_next_tick(loop, tick_1, NULL));
        CHECK(cf_queue_microtask(loop, log_cb, TEXT("microtask 2")));
        CHECK(cf_next_tick(loop, log_cb, TEXT("tick 2")));
    }
    SAYF("beforeExit %d end", emits);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_loop_on_before_exit(loop, before_exit, NULL));
    say("main");
    scenario_run();
    return scenario_end();
}
