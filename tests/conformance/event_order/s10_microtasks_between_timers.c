/* 10: the microtasks of a timer run before the next timer of the same phase. */
#include "scenario.h"

/* Make `next` the chain's new last step. */
static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = CHECK_PROMISE(next);
}

static void timer_a(void *d)
{
    (void)d;
    say("timer A");
    /* Promise.resolve().then(A micro 1).then(A micro 2).then(A micro 3) */
    cf_promise *p = CHECK_PROMISE(cf_promise_resolved(loop, NULL, NULL));
    step(&p, cf_promise_then(p, log_then, NULL, LABEL("A micro 1")));
    step(&p, cf_promise_then(p, log_then, NULL, LABEL("A micro 2")));
    step(&p, cf_promise_then(p, log_then, NULL, LABEL("A micro 3")));
    cf_promise_release(p);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 0, timer_a, NULL, NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timer B"), NULL));
    scenario_run();
    return scenario_end();
}
