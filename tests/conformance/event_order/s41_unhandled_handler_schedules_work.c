/*
 * 41: several unhandled rejections are reported one after another; the ticks and microtasks
 * the hook queues run after the whole batch, before immediates.
 */
#include "scenario.h"

/* The lines the hook's work prints, per report (storage that outlives the callbacks). */
static char lines[2][3][64];
static int reports;

static void log_handler(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

static void on_unhandled(cf_promise *p, void *data)
{
    (void)data;
    const char *reason = cf_promise_error(p)->message;
    char(*l)[64] = lines[reports++ % 2];
    printf("unhandledRejection: %s\n", reason);
    snprintf(l[0], sizeof l[0], "tick from hook %s", reason);
    snprintf(l[1], sizeof l[1], "micro from hook %s", reason);
    snprintf(l[2], sizeof l[2], "immediate from hook %s", reason);
    CHECK(cf_next_tick(loop, log_cb, l[0]));
    cf_promise *r = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(r, log_handler, NULL, l[1]));
    cf_promise_release(r);
    CHECK(cf_set_immediate(loop, log_cb, l[2], NULL));
}

int main(void)
{
    scenario_begin();

    CHECK(cf_on_unhandled_rejection(loop, on_unhandled, NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate from main"), NULL));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "r1")));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "r2")));
    say("sync end");

    scenario_run();
    return scenario_end();
}
