/* 27: thenables that resolve later, throw, or call back several times. */
#include "scenario.h"

static void slow_fire(void *resolver)
{
    cf_promise_resolve(resolver, LABEL("slow value"), NULL);
    cf_promise_release(resolver);
}

static cf_error *slow_then(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("slow.then called");
    CHECK(cf_set_timeout(loop, 5, slow_fire, cf_promise_retain(resolver), NULL));
    return NULL;
}

static cf_error *throwing_then(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    (void)resolver;
    say("throwing.then called");
    return CF_ERROR(CF_EINVAL, "bad thenable"); /* throw */
}

static cf_error *many_then(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("many.then called");
    cf_promise_resolve(resolver, LABEL("first"), NULL);
    cf_promise_reject(resolver, CF_ERROR(CF_EINVAL, "ignored"));
    cf_promise_resolve(resolver, LABEL("ignored too"), NULL);
    return NULL;
}

static void log_value(cf_promise *settled, cf_promise *next, void *prefix)
{
    (void)next;
    printf("%s%s\n", (const char *)prefix, (const char *)cf_promise_value(settled));
}

static void log_error(cf_promise *settled, cf_promise *next, void *prefix)
{
    (void)next;
    printf("%s%s\n", (const char *)prefix, cf_promise_error(settled)->message);
}

/* Promise.resolve(t).then(ok, fail) */
static void adopt(cf_thenable *t, cf_promise_cb ok, cf_promise_cb fail, const char *prefix)
{
    cf_promise *p = cf_promise_from_thenable(loop, t);
    cf_promise_release(cf_promise_then(p, ok, fail, LABEL(prefix)));
    cf_promise_release(p);
}

int main(void)
{
    scenario_begin();

    static cf_thenable slow = {slow_then, NULL};
    static cf_thenable throwing = {throwing_then, NULL};
    static cf_thenable many = {many_then, NULL};
    adopt(&slow, log_value, NULL, "slow: ");
    adopt(&throwing, NULL, log_error, "throwing: ");
    adopt(&many, log_value, NULL, "many: ");
    say("sync end");

    scenario_run();
    return scenario_end();
}
