/* 21: finally costs more microtask turns than an equivalent then. */
#include "scenario.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void after_value(cf_promise *settled, cf_promise *next, void *prefix)
{
    (void)next;
    printf("%s%s\n", (const char *)prefix, (const char *)cf_promise_value(settled));
}

static void then_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)data;
    say("then handler");
    cf_promise_follow(next, settled); /* return v */
}

static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

int main(void)
{
    scenario_begin();

    cf_promise *p = cf_promise_resolved(loop, LABEL("f"), NULL);
    step(&p, cf_promise_finally(p, log_handler, LABEL("finally handler")));
    step(&p, cf_promise_then(p, after_value, NULL, LABEL("after finally: ")));
    cf_promise_release(p);

    p = cf_promise_resolved(loop, LABEL("t"), NULL);
    step(&p, cf_promise_then(p, then_handler, NULL, NULL));
    step(&p, cf_promise_then(p, after_value, NULL, LABEL("after then: ")));
    cf_promise_release(p);

    static const char *ticks[] = {"tick 1", "tick 2", "tick 3", "tick 4", "tick 5"};
    p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        step(&p, cf_promise_then(p, log_handler, NULL, LABEL(ticks[i])));
    }
    cf_promise_release(p);

    scenario_run();
    return scenario_end();
}
