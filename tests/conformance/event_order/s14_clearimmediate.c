/* 14: clearImmediate works on the current check phase and on the next iteration. */
#include "scenario.h"

static cf_immediate *i2;

static void immediate1(void *d)
{
    (void)d;
    say("immediate 1");
    cf_clear_immediate(i2);
    cf_immediate *later;
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 5 (must not run)"), &later));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 4"), NULL));
    cf_clear_immediate(later);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_immediate(loop, immediate1, NULL, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 2 (must not run)"), &i2));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 3"), NULL));
    scenario_run();
    return scenario_end();
}
