/* 47: an unref'd timer does not keep the loop alive; the exit hook runs last. */
#include "scenario.h"

int main(void)
{
    scenario_begin();
    cf_timeout *t;
    CHECK(cf_set_timeout(loop, 1000, log_cb, LABEL("unref timer (must not run)"), &t));
    cf_timeout_unref(t);
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("ref timer 10ms"), NULL));
    say("sync end");
    scenario_run();
    say("exit"); /* the exit hook */
    return scenario_end();
}
