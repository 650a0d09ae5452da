/* 46: unref'd timers fire while the loop runs for other reasons; ref() undoes unref(). */
#include "scenario.h"

int main(void)
{
    scenario_begin();
    cf_timeout *u;
    cf_timeout *r;
    cf_timeout *iv;
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("unref timer 10ms fires"), &u));
    cf_timeout_unref(u);
    CHECK(cf_set_timeout(loop, 40, log_cb, LABEL("ref timer 40ms"), NULL));
    CHECK(cf_set_timeout(loop, 70, log_cb, LABEL("unref+ref timer 70ms"), &r));
    cf_timeout_unref(r);
    cf_timeout_ref(r);
    CHECK(cf_set_interval(loop, 1000, log_cb, LABEL("unref interval (must not run)"), &iv));
    cf_timeout_unref(iv);
    say("sync end");
    scenario_run();
    say("exit"); /* the exit hook */
    return scenario_end();
}
