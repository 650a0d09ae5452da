/* 09: from a timer callback, an immediate runs before a new 0 ms timer. */
#include "scenario.h"

static void immediate(void *d)
{
    (void)d;
    say("immediate");
    resolved_then(log_then, LABEL("micro from immediate"));
}

static void timer(void *d)
{
    (void)d;
    say("timer");
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("nested timer"), NULL));
    CHECK(cf_set_immediate(loop, immediate, NULL, NULL));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 0, timer, NULL, NULL));
    scenario_run();
    return scenario_end();
}
