/* 29: allSettled waits for every input and reports them in input order. */
#include "scenario.h"

static void resolve_late(void *late)
{
    say("timer resolves late");
    cf_promise_resolve(late, LABEL("late"), NULL);
}

static void log_results(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    const cf_promise_list *list = cf_promise_value(settled);
    say("allSettled done");
    for (size_t i = 0; i < list->len; i++) {
        cf_promise *r = list->items[i];
        if (cf_promise_state(r) == CF_PROMISE_FULFILLED)
            printf("%zu fulfilled %s\n", i, (const char *)cf_promise_value(r));
        else
            printf("%zu rejected %s\n", i, cf_promise_error(r)->message);
    }
}

int main(void)
{
    scenario_begin();

    cf_promise *late = cf_promise_new(loop);
    CHECK(cf_set_timeout(loop, 10, resolve_late, late, NULL));
    cf_promise *inputs[] = {
        cf_promise_resolved(loop, LABEL("1"), NULL),
        cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "no")), late,
        cf_promise_resolved(loop, LABEL("raw"), NULL), /* a plain value */
    };
    cf_promise *all = cf_promise_all_settledv(loop, inputs, 4);
    for (int i = 0; i < 4; i++) {
        cf_promise_release(inputs[i]);
    }
    cf_promise_release(cf_promise_then(all, log_results, NULL, NULL));
    cf_promise_release(all);
    say("sync");

    scenario_run();
    return scenario_end();
}
