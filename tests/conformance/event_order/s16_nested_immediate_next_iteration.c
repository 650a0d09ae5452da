/* 16: an immediate queued in the check phase waits for the next iteration; a due timer runs
 * first. */
#include "scenario.h"

static void immediate1(void *d)
{
    (void)d;
    say("immediate 1");
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 3 (scheduled by immediate 1)"), NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout (scheduled by immediate 1)"), NULL));
    CHECK(cf_next_tick(loop, log_cb, LABEL("tick from immediate 1")));
    busy_wait_ms(20);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_immediate(loop, immediate1, NULL, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 2"), NULL));
    scenario_run();
    return scenario_end();
}
