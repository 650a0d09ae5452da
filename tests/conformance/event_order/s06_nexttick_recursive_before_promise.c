/* 06: nextTicks queued recursively all run before the first microtask. */
#include "scenario.h"

static void tick11(void *d)
{
    (void)d;
    say("tick 1.1");
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick 1.1.1")));
}

static void tick1(void *d)
{
    (void)d;
    say("tick 1");
    CHECK(cf_next_tick(loop, tick11, NULL));
}

int main(void)
{
    scenario_begin();
    resolved_then(log_then, LABEL("promise"));
    CHECK(cf_next_tick(loop, tick1, NULL));
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick 2")));
    say("sync");
    scenario_run();
    return scenario_end();
}
