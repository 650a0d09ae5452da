/* 24: resolving with a promise (adoption) costs two extra turns over a plain value. */
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

int main(void)
{
    scenario_begin();

    cf_promise *inner = cf_promise_resolved(loop, LABEL("inner"), NULL);
    cf_promise *a = cf_promise_new(loop);
    CHECK(cf_promise_adopt(a, inner)); /* resolve(inner) */
    cf_promise_release(cf_promise_then(a, log_value, NULL, LABEL("adopted: ")));
    cf_promise_release(a);
    cf_promise_release(inner);

    cf_promise *b = cf_promise_new(loop);
    CHECK(cf_promise_resolve(b, LABEL("plain"), NULL));
    cf_promise_release(cf_promise_then(b, log_value, NULL, LABEL("plain: ")));
    cf_promise_release(b);

    static const char *ticks[] = {"tick 1", "tick 2", "tick 3", "tick 4"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 4; i++) {
        cf_promise *next = cf_promise_then(p, log_handler, NULL, LABEL(ticks[i]));
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);

    scenario_run();
    return scenario_end();
}
