/*
 * 26: a thenable (not a promise) is adopted: its then is called in a microtask, and the
 * promise settles when it calls back.
 */
#include "scenario.h"

static cf_error *thenable_then(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("thenable.then called");
    cf_promise_resolve(resolver, LABEL("T"), NULL); /* onFulfilled('T') */
    return NULL;
}

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void log_value(cf_promise *settled, cf_promise *next, void *prefix)
{
    (void)next;
    printf("%s%s\n", (const char *)prefix, (const char *)cf_promise_value(settled));
}

int main(void)
{
    scenario_begin();

    static cf_thenable thenable = {thenable_then, NULL};
    cf_promise *p = cf_promise_from_thenable(loop, &thenable);
    cf_promise_release(cf_promise_then(p, log_value, NULL, LABEL("resolved with ")));
    cf_promise_release(p);

    static const char *ticks[] = {"tick 1", "tick 2", "tick 3"};
    p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        cf_promise *next = cf_promise_then(p, log_handler, NULL, LABEL(ticks[i]));
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
    say("sync end");

    scenario_run();
    return scenario_end();
}
