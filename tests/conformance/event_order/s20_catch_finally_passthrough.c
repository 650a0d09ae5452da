/*
 * 20: finally passes the value or reason through (its own result is ignored) unless it
 * fails; catch recovers and the chain goes on.
 */
#include "scenario.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void finally_1(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    say("finally 1");
    cf_promise_resolve(next, LABEL("ignored"), NULL); /* return 'ignored' */
}

static void after_value(cf_promise *settled, cf_promise *next, void *prefix)
{
    (void)next;
    printf("%s%s\n", (const char *)prefix, (const char *)cf_promise_value(settled));
}

static void catch_2(cf_promise *settled, cf_promise *next, void *data)
{
    (void)data;
    printf("catch: %s\n", cf_promise_error(settled)->message);
    cf_promise_resolve(next, LABEL("recovered"), NULL);
}

static void finally_throws(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    cf_promise_reject(next, CF_ERROR(CF_EINVAL, "from finally"));
}

static void finally_threw(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("finally threw: %s\n", cf_promise_error(settled)->message);
}

/* Make `next` the chain's new last step. */
static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

int main(void)
{
    scenario_begin();

    cf_promise *p = cf_promise_resolved(loop, LABEL("value"), NULL);
    step(&p, cf_promise_finally(p, finally_1, NULL));
    step(&p, cf_promise_then(p, after_value, NULL, LABEL("after finally 1: ")));
    cf_promise_release(p);

    p = cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "oops"));
    step(&p, cf_promise_then(p, log_handler, NULL, LABEL("skipped then")));
    step(&p, cf_promise_finally(p, log_handler, LABEL("finally 2")));
    step(&p, cf_promise_catch(p, catch_2, NULL));
    step(&p, cf_promise_then(p, after_value, NULL, LABEL("after catch: ")));
    cf_promise_release(p);

    p = cf_promise_resolved(loop, LABEL("v"), NULL);
    step(&p, cf_promise_finally(p, finally_throws, NULL));
    step(&p, cf_promise_catch(p, finally_threw, NULL));
    cf_promise_release(p);

    scenario_run();
    return scenario_end();
}
