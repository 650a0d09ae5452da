/*
 * 04: several hooks run in registration order; the same hook twice runs twice; removal takes
 * the most recent registration out; a hook added while the hooks run waits for the next run.
 */
#include "rules.h"

static int emits;

static void late(void *data)
{
    (void)data;
    say("late");
}

static void c(void *data)
{
    (void)data;
    emits++;
    SAYF("C %d", emits);
    if (emits == 1) {
        CHECK(cf_loop_on_before_exit(loop, late, NULL));
        CHECK(cf_set_timeout(loop, 1, log_cb, TEXT("timer"), NULL));
    }
}

int main(void)
{
    scenario_begin();
    CHECK(cf_loop_on_before_exit(loop, log_cb, TEXT("A")));
    CHECK(cf_loop_on_before_exit(loop, log_cb, TEXT("B")));
    CHECK(cf_loop_on_before_exit(loop, log_cb, TEXT("A")));
    CHECK(cf_loop_on_before_exit(loop, c, NULL));
    CHECK(cf_loop_on_before_exit(loop, log_cb, TEXT("B")));
    CHECK(cf_loop_off_before_exit(loop, log_cb, TEXT("B")));
    CHECK(cf_loop_on_exit(loop, log_cb, TEXT("exit X1")));
    CHECK(cf_loop_on_exit(loop, log_cb, TEXT("exit X2")));
    CHECK(cf_loop_on_exit(loop, log_cb, TEXT("exit X1")));
    CHECK(cf_loop_off_exit(loop, log_cb, TEXT("exit X2")));
    say("main");
    scenario_run();
    return scenario_end();
}
