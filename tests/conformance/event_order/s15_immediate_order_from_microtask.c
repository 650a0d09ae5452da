/* 15: the immediate queue is FIFO by call time, wherever setImmediate was called. */
#include "scenario.h"

static void from_micro(cf_promise *settled, cf_promise *next, void *d)
{
    (void)settled;
    (void)next;
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
    resolved_then(from_micro, NULL);
    CHECK(cf_next_tick(loop, from_tick, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate A (from main)"), NULL));
    say("sync");
    scenario_run();
    return scenario_end();
}
