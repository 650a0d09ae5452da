/* 05: microtasks queued by a microtask run before the nextTick it queued. */
#include "scenario.h"

static void micro1(void *d)
{
    (void)d;
    say("micro 1");
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick from micro 1")));
    CHECK(cf_queue_microtask(loop, log_cb, LABEL("micro 3 (from micro 1)"))); /* resolved.then */
}

int main(void)
{
    scenario_begin();
    CHECK(cf_queue_microtask(loop, micro1, NULL));             /* resolved.then(M1) */
    CHECK(cf_queue_microtask(loop, log_cb, LABEL("micro 2"))); /* resolved.then(M2) */
    scenario_run();
    return scenario_end();
}
