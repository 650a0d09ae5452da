/*
 * 31: race settles like the first input to settle; among inputs already settled the first in
 * input order wins. Timers are created shortest first.
 */
#include "scenario.h"

typedef struct delayed {
    cf_promise *promise;
    const char *value;
} delayed;

static void delay_fire(void *data)
{
    delayed *d = data;
    printf("timer %s\n", d->value);
    cf_promise_resolve(d->promise, LABEL(d->value), NULL);
}

/* delay(ms, v): a promise a timer of `ms` resolves with `d->value`. */
static void delay(uint64_t ms, delayed *d)
{
    d->promise = cf_promise_new(loop);
    CHECK(cf_set_timeout(loop, ms, delay_fire, d, NULL));
}

static void log_value(cf_promise *settled, cf_promise *next, void *label)
{
    (void)next;
    printf("%s: %s\n", (const char *)label, (const char *)cf_promise_value(settled));
}

static void log_rejected(cf_promise *settled, cf_promise *next, void *label)
{
    (void)next;
    printf("%s rejected: %s\n", (const char *)label, cf_promise_error(settled)->message);
}

static void race(cf_promise **inputs, size_t n, cf_promise_cb on_rejected, const char *label)
{
    cf_promise *r = cf_promise_racev(loop, inputs, n);
    cf_promise_release(cf_promise_then(r, log_value, on_rejected, LABEL(label)));
    cf_promise_release(r);
}

int main(void)
{
    scenario_begin();

    static delayed ten = {NULL, "ten"};
    static delayed forty = {NULL, "forty"};
    static delayed slow = {NULL, "slow"};
    delay(10, &ten);
    delay(40, &forty);
    delay(80, &slow);

    cf_promise *r1[] = {slow.promise, cf_promise_resolved(loop, LABEL("settled-now"), NULL),
                        cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "also-now"))};
    race(r1, 3, log_rejected, "race 1");
    cf_promise *r2[] = {cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "rejected-first")),
                        cf_promise_resolved(loop, LABEL("fulfilled-second"), NULL)};
    race(r2, 2, log_rejected, "race 2");
    cf_promise *r3[] = {forty.promise, ten.promise};
    race(r3, 2, NULL, "race 3");

    cf_promise *mine[] = {r1[1], r1[2], r2[0], r2[1], ten.promise, forty.promise, slow.promise};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
        cf_promise_release(mine[i]); /* pending ones stay alive until their timers settle them */
    }

    scenario_run();
    return scenario_end();
}
