/* 12: a timer created in a timer callback never runs in the same timers phase. */
#include "scenario.h"

static void timer2(void *d)
{
    (void)d;
    say("timer 2");
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timer 3 (scheduled by timer 2)"), NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate (scheduled by timer 2)"), NULL));
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick (scheduled by timer 2)")));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 5, log_cb, LABEL("timer 1"), NULL));
    CHECK(cf_set_timeout(loop, 5, timer2, NULL, NULL));
    scenario_run();
    return scenario_end();
}
