/* 08: equal delays fire in creation order, different delays in order of expiry. */
#include "scenario.h"

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("A (10ms)"), NULL));
    CHECK(cf_set_timeout(loop, 200, log_cb, LABEL("X (200ms)"), NULL));
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("B (10ms)"), NULL));
    CHECK(cf_set_timeout(loop, 10, log_cb, LABEL("C (10ms)"), NULL));
    scenario_run();
    return scenario_end();
}
