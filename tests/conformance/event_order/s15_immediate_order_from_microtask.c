/* 15: the immediate queue is FIFO by call time, wherever setImmediate was called. */
#include "scenario.h"

static void from_micro(void *d)
{
    (void)d;
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate C (from microtask)"), NULL));
}

static void from_tick(void *d)
{
    (void)d;
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate B (from nextTick)"), NULL));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_queue_microtask(loop, from_micro, NULL)); /* resolved.then */
    CHECK(cf_next_tick(loop, from_tick, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate A (from main)"), NULL));
    say("sync");
    scenario_run();
    return scenario_end();
}
