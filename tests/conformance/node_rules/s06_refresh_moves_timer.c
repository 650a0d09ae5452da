/*
 * 06: cf_timer_refresh restarts a pending timer with its own delay from now: refreshed at
 * once, it goes after the timers of the same delay started before; refreshed later, it is
 * postponed. An interval refreshed restarts its period from then.
 */
#include "rules.h"

static cf_timer *d;
static cf_timer *iv;
static int n;

static void refresh_d(void *data)
{
    (void)data;
    say("refresh D at 80");
    CHECK(cf_timer_refresh(d));
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
    say("refresh interval at 140: next run at 260, not 240");
    CHECK(cf_timer_refresh(iv));
}

int main(void)
{
    scenario_begin();
    cf_timer *a;
    CHECK(cf_set_timeout(loop, 50, log_cb, TEXT("A (refreshed at once)"), &a));
    CHECK(cf_set_timeout(loop, 50, log_cb, TEXT("B"), NULL));
    CHECK(cf_timer_refresh(a));
    CHECK(cf_set_timeout(loop, 100, log_cb, TEXT("D (100 ms, refreshed at 80: due at 180)"), &d));
    CHECK(cf_set_timeout(loop, 80, refresh_d, NULL, NULL));
    CHECK(cf_set_interval(loop, 120, interval, NULL, &iv));
    CHECK(cf_set_timeout(loop, 140, refresh_iv, NULL, NULL));
    CHECK(cf_set_timeout(loop, 150, log_cb, TEXT("C at 150"), NULL));
    CHECK(cf_set_timeout(loop, 250, log_cb, TEXT("E at 250"), NULL));
    say("main");
    scenario_run();
    return scenario_end();
}
