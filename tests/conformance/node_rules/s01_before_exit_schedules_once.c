/* 01: a before-exit hook that schedules a timer the first time only; the loop goes on. */
#include "rules.h"

static int emits;

static void before_exit(void *data)
{
    (void)data;
    emits++;
    SAYF("beforeExit %d", emits);
    if (emits == 1)
        CHECK(cf_set_timeout(loop, 5, log_cb, TEXT("timer from beforeExit"), NULL));
}

static void on_exit_hook(void *data)
{
    (void)data;
    SAYF("exit after %d beforeExit", emits);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_loop_on_before_exit(loop, before_exit, NULL));
    CHECK(cf_loop_on_exit(loop, on_exit_hook, NULL));
    CHECK(cf_set_timeout(loop, 1, log_cb, TEXT("main timer"), NULL));
    say("main");
    scenario_run();
    return scenario_end();
}
