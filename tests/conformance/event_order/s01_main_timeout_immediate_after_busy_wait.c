/* 01: a 0 ms timer is certainly due when the loop starts, so it runs before the immediate. */
#include "scenario.h"

int main(void)
{
    scenario_begin();
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate"), NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout"), NULL));
    busy_wait_ms(20);
    say("main done");
    scenario_run();
    return scenario_end();
}
