/*
 * 10: an interval whose callback runs longer than its period: the next run is due one period
 * after the loop's clock when the callback started, so it is late when the callback returns;
 * the poll phase's wait is computed from that clock (as libuv's), so the next run comes about
 * one period after the callback returns. Runs never overlap and missed periods are not made
 * up. Spacing is printed in coarse buckets, as in program.js (see there for Node's figures).
 */
#include "rules.h"

#define PERIOD 20
#define BUSY   60
#define RUNS   4

static cf_timeout *iv;
static double starts[RUNS];
static double ends[RUNS];
static int n;

static void interval(void *data)
{
    (void)data;
    starts[n] = now_ms();
    SAYF("run %d", n + 1);
    busy_wait_ms(BUSY);
    ends[n] = now_ms();
    if (++n < RUNS)
        return;
    cf_clear_interval(iv);
    for (int i = 1; i < RUNS; i++) {
        double gap = starts[i] - starts[i - 1];
        double idle = starts[i] - ends[i - 1];
        SAYF("run %d: start-to-start %s, end-to-start %s", i + 1,
             gap >= BUSY ? ">= busy" : "< busy", idle < BUSY ? "< busy" : ">= busy");
    }
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_interval(loop, PERIOD, interval, NULL, &iv));
    say("main");
    scenario_run();
    return scenario_end();
}
