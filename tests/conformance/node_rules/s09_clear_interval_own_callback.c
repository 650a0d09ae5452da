/*
 * 09: cf_clear_interval from the interval's own callback: it never runs again, also when
 * another timer is due at the same time.
 */
#include "rules.h"

static cf_timeout *iv;
static cf_timeout *once;
static int n;

static void interval(void *data)
{
    (void)data;
    n++;
    SAYF("interval %d", n);
    if (n == 3) {
        cf_clear_interval(iv);
        say("cleared from its own callback");
    }
}

static void once_cb(void *data)
{
    (void)data;
    say("once: clears itself in its first run");
    cf_clear_interval(once);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_interval(loop, 30, interval, NULL, &iv));
    CHECK(cf_set_interval(loop, 20, once_cb, NULL, &once));
    CHECK(cf_set_timeout(loop, 20, log_cb, TEXT("timeout due with once"), NULL));
    CHECK(cf_set_timeout(loop, 200, log_cb, TEXT("at 200: no more interval runs"), NULL));
    say("main");
    scenario_run();
    return scenario_end();
}
