/* 25: returning a promise from a then-handler costs two extra turns. */
#include "scenario.h"

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

static void a1(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    say("A1 returns promise");
    cf_promise *x = cf_promise_resolved(loop, LABEL("x"), NULL);
    cf_promise_adopt(next, x); /* return Promise.resolve('x') */
    cf_promise_release(x);
}

static void c1(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    say("C1 returns value");
    cf_promise_resolve(next, LABEL("y"), NULL);
}

static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

int main(void)
{
    scenario_begin();

    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    step(&p, cf_promise_then(p, a1, NULL, NULL));
    step(&p, cf_promise_then(p, log_value, NULL, LABEL("A2 got ")));
    cf_promise_release(p);

    p = cf_promise_resolved(loop, NULL, NULL);
    step(&p, cf_promise_then(p, c1, NULL, NULL));
    step(&p, cf_promise_then(p, log_value, NULL, LABEL("C2 got ")));
    cf_promise_release(p);

    static const char *ticks[] = {"B1", "B2", "B3", "B4", "B5"};
    p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        step(&p, cf_promise_then(p, log_handler, NULL, LABEL(ticks[i])));
    }
    cf_promise_release(p);

    scenario_run();
    return scenario_end();
}
