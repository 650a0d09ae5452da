/* 05: microtasks queued by a microtask run before the nextTick it queued. */
#include "scenario.h"

static void micro1(cf_promise *settled, cf_promise *next, void *d)
{
    (void)settled;
    (void)next;
    (void)d;
    say("micro 1");
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick from micro 1")));
    resolved_then(log_then, LABEL("micro 3 (from micro 1)"));
}

int main(void)
{
    scenario_begin();
    resolved_then(micro1, NULL);
    resolved_then(log_then, LABEL("micro 2"));
    scenario_run();
    return scenario_end();
}
