/*
 * 42: a rejection left unhandled by a timer callback is reported before the next timer
 * callback runs, even when both timers are due together.
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

static void timer_1(void *data)
{
    (void)data;
    say("timer 1");
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "from timer 1")));
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, log_handler, NULL, LABEL("timer 1 micro")));
    cf_promise_release(p);
}

int main(void)
{
    scenario_begin();

    CHECK(cf_on_unhandled_rejection(loop, on_unhandled, NULL));
    CHECK(cf_set_timeout(loop, 5, timer_1, NULL, NULL));
    CHECK(cf_set_timeout(loop, 5, log_cb, LABEL("timer 2"), NULL));

    scenario_run();
    return scenario_end();
}
