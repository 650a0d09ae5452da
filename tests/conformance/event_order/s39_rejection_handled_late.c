/*
 * 39: a rejection reported as unhandled and handled later makes the rejection-handled hook
 * run after the microtasks of the callback that attached the handler.
 */
#include "scenario.h"

static cf_promise *late;

static void on_unhandled(cf_promise *p, void *data)
{
    (void)data;
    printf("unhandledRejection: %s\n", cf_promise_error(p)->message);
}

static void on_handled(cf_promise *p, void *data)
{
    (void)p;
    (void)data;
    say("rejectionHandled");
}

static void caught(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("caught: %s\n", cf_promise_error(settled)->message);
}

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void timer_attaches(void *data)
{
    (void)data;
    say("timer attaches catch");
    cf_promise_release(cf_promise_catch(late, caught, NULL));
    cf_promise_release(late);
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, log_handler, NULL, LABEL("timer micro")));
    cf_promise_release(p);
}

int main(void)
{
    scenario_begin();

    CHECK(cf_on_unhandled_rejection(loop, on_unhandled, NULL));
    CHECK(cf_on_rejection_handled(loop, on_handled, NULL));
    late = cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "late"));
    CHECK(cf_set_timeout(loop, 5, timer_attaches, NULL, NULL));
    CHECK(cf_set_timeout(loop, 20, log_cb, LABEL("timer 2"), NULL));

    scenario_run();
    return scenario_end();
}
