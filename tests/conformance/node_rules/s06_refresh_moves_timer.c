/*
 * 06: cf_timeout_refresh restarts a pending timer with its own delay from now: refreshed at
 * once, it goes after the timers of the same delay started before; refreshed later, it is
 * postponed. An interval refreshed restarts its period from then. The gaps are wide (a timer
 * refreshed in a callback is at least 170 ms from the next line it is compared with) so that
 * a loop slowed down by a loaded machine keeps the order.
 */
#include "rules.h"

static cf_timeout *d;
static cf_timeout *iv;
static int n;

static void refresh_d(void *data)
{
    (void)data;
    say("refresh D at 130");
    CHECK(cf_timeout_refresh(d));
}

static void interval(void *data)
{
    (void)data;
    n++;
    SAYF("interval %d", n);
    if (n == 2)
        cf_clear_interval(iv);
}

static void refresh_iv(void *data)
{
    (void)data;
    say("refresh interval at 280: next run at 520, not 480");
    CHECK(cf_timeout_refresh(iv));
}

int main(void)
{
    scenario_begin();
    cf_timeout *a;
    CHECK(cf_set_timeout(loop, 100, log_cb, TEXT("A (refreshed at once)"), &a));
    CHECK(cf_set_timeout(loop, 100, log_cb, TEXT("B"), NULL));
    CHECK(cf_timeout_refresh(a));
    CHECK(cf_set_timeout(loop, 200, log_cb, TEXT("D (200 ms, refreshed at 130: due at 330)"), &d));
    CHECK(cf_set_timeout(loop, 130, refresh_d, NULL, NULL));
    CHECK(cf_set_interval(loop, 240, interval, NULL, &iv));
    CHECK(cf_set_timeout(loop, 280, refresh_iv, NULL, NULL));
    CHECK(cf_set_timeout(loop, 300, log_cb, TEXT("C at 300"), NULL));
    CHECK(cf_set_timeout(loop, 500, log_cb, TEXT("E at 500"), NULL));
    say("main");
    scenario_run();
    return scenario_end();
}
