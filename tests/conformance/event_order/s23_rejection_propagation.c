/*
 * 23: a rejection travels through then-steps without a rejection handler, one turn per step,
 * until a catch.
 */
#include "scenario.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void catch_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("catch: %s\n", cf_promise_error(settled)->message);
}

static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

int main(void)
{
    scenario_begin();

    cf_promise *p = cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "E"));
    step(&p, cf_promise_then(p, log_handler, NULL, LABEL("then 1 (skipped)")));
    step(&p, cf_promise_then(p, log_handler, NULL, LABEL("then 2 (skipped)")));
    step(&p, cf_promise_catch(p, catch_handler, NULL));
    step(&p, cf_promise_then(p, log_handler, NULL, LABEL("after catch")));
    cf_promise_release(p);

    static const char *ticks[] = {"t1", "t2", "t3", "t4", "t5"};
    p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        step(&p, cf_promise_then(p, log_handler, NULL, LABEL(ticks[i])));
    }
    cf_promise_release(p);

    scenario_run();
    return scenario_end();
}
