/*
 * 03: an exit hook that schedules more work: the calls succeed, the timer, interval, immediate
 * and ticks never run; the microtasks (and those they queue) run after every exit hook.
 */
#include "rules.h"

static void microtask_from_exit(void *data)
{
    (void)data;
    say("microtask from exit");
    CHECK(cf_queue_microtask(loop, log_cb, TEXT("nested microtask")));
    CHECK(cf_next_tick(loop, log_cb, TEXT("tick from microtask (never runs)")));
}

static void exit_1(void *data)
{
    (void)data;
    say("exit 1");
    CHECK(cf_set_timeout(loop, 0, log_cb, TEXT("timer (never runs)"), NULL));
    CHECK(cf_set_interval(loop, 1, log_cb, TEXT("interval (never runs)"), NULL));
    CHECK(cf_set_immediate(loop, log_cb, TEXT("immediate (never runs)"), NULL));
    CHECK(cf_next_tick(loop, log_cb, TEXT("tick (never runs)")));
    CHECK(cf_queue_microtask(loop, microtask_from_exit, NULL));
    say("exit 1 end");
}

int main(void)
{
    scenario_begin();
    CHECK(cf_loop_on_exit(loop, exit_1, NULL));
    CHECK(cf_loop_on_exit(loop, log_cb, TEXT("exit 2")));
    CHECK(cf_set_timeout(loop, 1, log_cb, TEXT("main timer"), NULL));
    say("main");
    scenario_run();
    return scenario_end();
}
