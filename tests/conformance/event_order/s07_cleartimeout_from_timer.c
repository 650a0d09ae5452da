/* 07: clearTimeout from an earlier timer cancels a timer already due in the same phase. */
#include "scenario.h"

static cf_timeout *b;
static cf_timeout *d;

static void timer_a(void *data)
{
    (void)data;
    say("A");
    cf_clear_timeout(b);
    say("A cleared B");
}

static void timer_e(void *data)
{
    (void)data;
    say("E clears D");
    cf_clear_timeout(d);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 10, timer_a, NULL, NULL));
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("B (must not run)"), &b));
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("C"), NULL));
    CHECK(cf_set_timeout(loop, 20, timer_e, NULL, NULL));
    CHECK(cf_set_timeout(loop, 60, log_cb, LABEL("D (must not run)"), &d));
    scenario_run();
    return scenario_end();
}
