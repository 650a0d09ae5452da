/*
 * 40: a failure inside a then-handler rejects its promise; left unhandled, it is reported
 * once the microtask queue is empty, before timers run.
 */
#include "scenario.h"

static void on_unhandled(cf_promise *p, void *data)
{
    (void)data;
    printf("unhandledRejection: %s\n", cf_promise_error(p)->message);
}

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void handler_throws(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    say("handler throws");
    cf_promise_reject(next, CF_ERROR(CF_EINVAL, "thrown"));
}

static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

int main(void)
{
    scenario_begin();

    CHECK(cf_on_unhandled_rejection(loop, on_unhandled, NULL));
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    step(&p, cf_promise_then(p, handler_throws, NULL, NULL));
    step(&p, cf_promise_then(p, log_handler, NULL, LABEL("skipped")));
    cf_promise_release(p);

    static const char *others[] = {"other 1", "other 2", "other 3"};
    p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        step(&p, cf_promise_then(p, log_handler, NULL, LABEL(others[i])));
    }
    cf_promise_release(p);
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout"), NULL));

    scenario_run();
    return scenario_end();
}
