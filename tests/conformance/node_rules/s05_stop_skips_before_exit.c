/*
 * 05: ending the run explicitly (cf_stop, ≈ process.exit() as the callback's last statement)
 * skips the before-exit hooks; the exit hooks still run, in cf_loop_close.
 */
#include "rules.h"

static int n;
static cf_timeout *iv;

static void interval(void *data)
{
    (void)data;
    n++;
    SAYF("interval %d", n);
    if (n == 3)
        cf_stop(loop);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_loop_on_before_exit(loop, log_cb, TEXT("beforeExit (never runs)")));
    CHECK(cf_loop_on_exit(loop, log_cb, TEXT("exit")));
    CHECK(cf_set_interval(loop, 2, interval, NULL, &iv));
    say("main");
    cf_loop_drain(loop);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    CHECK(rc);
    if (rc == 0) {
        fprintf(stderr, "cf_run returned 0: the stop did not leave the interval pending\n");
        return 1;
    }
    cf_clear_interval(iv); /* the process would exit here: nothing else must run */
    return scenario_end();
}
