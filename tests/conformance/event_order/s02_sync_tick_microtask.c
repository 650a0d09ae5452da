/* 02: the main program first, then nextTicks, then microtasks (promise reactions and
 * queueMicrotask share one FIFO). */
#include "scenario.h"

int main(void)
{
    scenario_begin();
    say("sync 1");
    resolved_then(log_then, LABEL("promise.then")); /* Promise.resolve().then(...) */
    CHECK(cf_queue_microtask(loop, log_cb, LABEL("queueMicrotask")));
    CHECK(cf_next_tick(loop, log_cb, LABEL("nextTick")));
    say("sync 2");
    scenario_run();
    return scenario_end();
}
