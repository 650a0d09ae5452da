/*
 * 22: Promise.resolve(p) returns p itself; a new promise resolved with p is another promise
 * that adopts p (two extra turns).
 */
#include "scenario.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void on(cf_promise *p, const char *label)
{
    cf_promise_release(cf_promise_then(p, log_handler, NULL, LABEL(label)));
}

int main(void)
{
    scenario_begin();

    cf_promise *p = cf_promise_new(loop);
    CHECK(cf_promise_resolve(p, LABEL("p"), NULL));
    cf_promise *same = cf_promise_resolve_p(loop, p);
    printf("Promise.resolve(p) === p: %s\n", same == p ? "true" : "false");
    cf_promise_release(same);

    cf_promise *q = cf_promise_new(loop);
    CHECK(cf_promise_adopt(q, p));
    printf("q === p: %s\n", q == p ? "true" : "false");

    same = cf_promise_resolve_p(loop, p);
    on(same, "via Promise.resolve(p)");
    cf_promise_release(same);
    on(q, "via q (adopts p)");
    on(p, "directly on p");
    cf_promise_release(q);
    cf_promise_release(p);

    scenario_run();
    return scenario_end();
}
