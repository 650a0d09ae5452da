/* 04: nextTicks queued by a nextTick run before the microtasks it queued. */
#include "scenario.h"

static void tick1(void *d)
{
    (void)d;
    say("tick 1");
    resolved_then(log_then, LABEL("micro from tick 1"));
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick 3 (from tick 1)")));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_next_tick(loop, tick1, NULL));
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick 2")));
    scenario_run();
    return scenario_end();
}
