/* 30: combinators over empty inputs, and the turns all([1, 2]) takes. */
#include "scenario.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

/* Print the list's values as JSON numbers (stored as integers in the pointers). */
static void log_list(cf_promise *settled, cf_promise *next, void *prefix)
{
    (void)next;
    const cf_promise_list *list = cf_promise_value(settled);
    printf("%s[", (const char *)prefix);
    for (size_t i = 0; i < list->len; i++) {
        printf("%s%d", i ? "," : "", (int)(intptr_t)cf_promise_value(list->items[i]));
    }
    printf("]\n");
}

static void log_any(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    const cf_error *e = cf_promise_error(settled);
    size_t n = 0;
    const cf_error *errors = cf_promise_aggregate_errors(e, &n);
    printf("any([]): %s errors=[", e->code == CF_EAGGREGATE ? "AggregateError" : "Error");
    for (size_t i = 0; errors && i < n; i++) {
        printf("%s\"%s\"", i ? "," : "", errors[i].message);
    }
    printf("]\n");
}

/* p.then(ok, fail), dropping the reference to p. */
static void react(cf_promise *p, cf_promise_cb ok, cf_promise_cb fail, const char *label)
{
    cf_promise_release(cf_promise_then(p, ok, fail, LABEL(label)));
    cf_promise_release(p);
}

int main(void)
{
    scenario_begin();

    react(cf_promise_allv(loop, NULL, 0), log_list, NULL, "all([]): ");
    react(cf_promise_all_settledv(loop, NULL, 0), log_list, NULL, "allSettled([]): ");
    react(cf_promise_racev(loop, NULL, 0), log_handler, NULL, "race([]) settled (must not happen)");
    react(cf_promise_anyv(loop, NULL, 0), NULL, log_any, NULL);

    cf_promise *values[] = {
        cf_promise_resolved(loop, (void *)(intptr_t)1, NULL),
        cf_promise_resolved(loop, (void *)(intptr_t)2, NULL),
    };
    cf_promise *all = cf_promise_allv(loop, values, 2);
    cf_promise_release(values[0]);
    cf_promise_release(values[1]);
    react(all, log_list, NULL, "all([1,2]): ");

    static const char *ticks[] = {"tick 1", "tick 2", "tick 3", "tick 4"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 4; i++) {
        cf_promise *next = cf_promise_then(p, log_handler, NULL, LABEL(ticks[i]));
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
    CHECK(cf_set_timeout(loop, 5, log_cb, LABEL("timeout: race([]) is still pending"), NULL));

    scenario_run();
    return scenario_end();
}
