/*
 * 51: awaiting a thenable (cf_await_thenable): its then is called in a microtask job of its
 * own, the task resumes one turn after the thenable settles its resolver, and a rejecting
 * thenable or a then that throws (returns an error) fails the await; against a chain of then
 * steps logging each turn and an await of a native promise.
 */
#include "rules.h"

/* A thenable of program.js: its label, and what its then does. */
typedef struct thenable {
    cf_thenable base;
    const char *name;
} thenable;

static void late_resolve(void *resolver)
{
    (void)cf_promise_resolve(resolver, TEXT("l"), NULL);
    cf_promise_release(resolver);
}

/* then(resolve) { log(...); resolve('s') } */
static cf_error *then_sync(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("sync then called");
    (void)cf_promise_resolve(resolver, TEXT("s"), NULL);
    return NULL;
}

/* then(resolve) { log(...); setTimeout(() => resolve('l'), 1) } */
static cf_error *then_later(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("later then called");
    CHECK(cf_set_timeout(loop, 1, late_resolve, cf_promise_retain(resolver), NULL));
    return NULL;
}

/* then(resolve, reject) { log(...); reject(new Error('r')) } */
static cf_error *then_rejecting(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("rejecting then called");
    (void)cf_promise_reject(resolver, CF_ERROR(CF_EINVAL, "r"));
    return NULL;
}

/* then() { log(...); throw new Error('t') } */
static cf_error *then_throwing(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    (void)resolver;
    say("throwing then called");
    return CF_ERROR(CF_EINVAL, "t");
}

static thenable sync_thenable = {{then_sync, NULL}, "sync"};
static thenable later_thenable = {{then_later, NULL}, "later"};
static thenable rejecting = {{then_rejecting, NULL}, "rejecting"};
static thenable throwing = {{then_throwing, NULL}, "throwing"};

/* const v = await thenable; log('await <name>: ' + v) */
static int await_value(cf_task *task, void *arg)
{
    thenable *t = arg;
    cf_result r = cf_await_thenable(&t->base);
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    SAYF("await %s: %s", t->name, (const char *)r.value);
    return 0;
}

/* try { await thenable } catch (e) { log('await <name> threw: ' + e.message) } */
static int await_catch(cf_task *task, void *arg)
{
    (void)task;
    thenable *t = arg;
    cf_result r = cf_await_thenable(&t->base);
    if (r.status < 0)
        SAYF("await %s threw: %s", t->name, r.error->message);
    return 0;
}

/* const v = await Promise.resolve('p'); log('await promise: ' + v) */
static int await_promise(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_await(cf_promise_resolved(loop, TEXT("p"), NULL));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    SAYF("await promise: %s", (const char *)r.value);
    return 0;
}

static void log_then(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

/* A call of an async function whose promise nobody uses (it never rejects here). */
static void call(cf_async_fn fn, void *arg)
{
    cf_promise_release(cf_async(loop, fn, arg));
}

int main(void)
{
    scenario_begin();
    static const char *const ticks[] = {"tick 1", "tick 2", "tick 3", "tick 4"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (size_t i = 0; i < 4; i++) {
        cf_promise *next = cf_promise_then(p, log_then, NULL, (void *)ticks[i]);
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
    call(await_value, &sync_thenable);
    call(await_catch, &rejecting);
    call(await_catch, &throwing);
    call(await_promise, NULL);
    call(await_value, &later_thenable);
    say("main");
    scenario_run();
    return scenario_end();
}
