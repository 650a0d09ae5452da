/*
 * 28: all over settled inputs, a plain value and an input a timer resolves later: the result
 * keeps input order.
 */
#include "scenario.h"

static void resolve_later(void *later)
{
    say("timer resolves later");
    cf_promise_resolve(later, LABEL("L"), NULL);
}

static void log_all(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    const cf_promise_list *list = cf_promise_value(settled);
    printf("all: [");
    for (size_t i = 0; i < list->len; i++) {
        printf("%s\"%s\"", i ? "," : "", (const char *)cf_promise_value(list->items[i]));
    }
    printf("]\n");
}

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

int main(void)
{
    scenario_begin();

    cf_promise *later = cf_promise_new(loop);
    CHECK(cf_set_timeout(loop, 10, resolve_later, later, NULL));
    cf_promise *inputs[] = {
        cf_promise_resolved(loop, LABEL("A"), NULL),
        cf_promise_resolved(loop, LABEL("plain"), NULL), /* a plain value */
        later,
        cf_promise_resolved(loop, LABEL("B"), NULL),
    };
    cf_promise *all = cf_promise_allv(loop, inputs, 4);
    for (int i = 0; i < 4; i++) {
        cf_promise_release(inputs[i]);
    }
    cf_promise_release(cf_promise_then(all, log_all, NULL, NULL));
    cf_promise_release(all);

    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, log_handler, NULL, LABEL("micro")));
    cf_promise_release(p);
    say("sync");

    scenario_run();
    return scenario_end();
}
