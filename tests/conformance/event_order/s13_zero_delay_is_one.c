/* 13: delays below 1 ms are 1 ms, so these fire in creation order. */
#include "scenario.h"

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 1, log_cb, LABEL("delay 1 (first)"), NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("delay 0"), NULL));
    CHECK(cf_set_timeout(loop, 1, log_cb, LABEL("delay 1 (second)"), NULL));
    /* -5 ms: the delay is unsigned here; Node's "below 1" rule covers 0 and, as in Node,
     * anything above 2^31-1 ms, which is what a negative delay becomes. */
    CHECK(cf_set_timeout(loop, (uint64_t)-5, log_cb, LABEL("delay -5"), NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("delay 0 (last)"), NULL));
    scenario_run();
    return scenario_end();
}
