/* 10: the microtasks of a timer run before the next timer of the same phase. */
#include "scenario.h"

static void step3(void *d)
{
    (void)d;
    say("A micro 3");
}

static void step2(void *d)
{
    (void)d;
    say("A micro 2");
    CHECK(cf_queue_microtask(loop, step3, NULL)); /* the chain's next then-handler */
}

static void step1(void *d)
{
    (void)d;
    say("A micro 1");
    CHECK(cf_queue_microtask(loop, step2, NULL));
}

static void timer_a(void *d)
{
    (void)d;
    say("timer A");
    CHECK(cf_queue_microtask(loop, step1, NULL)); /* resolved.then(step1).then(...)... */
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 0, timer_a, NULL, NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timer B"), NULL));
    scenario_run();
    return scenario_end();
}
