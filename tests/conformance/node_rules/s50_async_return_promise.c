/*
 * 50: an async function that returns a promise (cf_task_return_promise) or a thenable
 * (cf_task_return_thenable): its promise adopts it with V8's turn counts, against a chain of
 * then steps logging each turn.
 */
#include "rules.h"

static void log_then(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

/* `<label>: <value>` (fulfilled) or `<label>: <message>` (rejected). */
static void show(cf_promise *settled, cf_promise *next, void *label)
{
    (void)next;
    const char *v = cf_promise_state(settled) == CF_PROMISE_FULFILLED
                        ? cf_promise_value(settled)
                        : cf_promise_error(settled)->message;
    printf("%s: %s\n", (const char *)label, v);
}

typedef struct thenable {
    cf_thenable base;
} thenable;

static cf_error *then_t(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    say("thenable.then called");
    (void)cf_promise_resolve(resolver, TEXT("t"), NULL);
    return NULL;
}

static void late_resolve(void *p)
{
    (void)cf_promise_resolve(p, TEXT("late"), NULL);
    cf_promise_release(p);
}

static int returns_value(cf_task *task, void *arg)
{
    (void)arg;
    return cf_task_return(task, TEXT("v"), NULL);
}

static int returns_promise(cf_task *task, void *arg)
{
    (void)arg;
    return cf_task_return_promise(task, cf_promise_resolved(loop, TEXT("p"), NULL));
}

static int returns_pending(cf_task *task, void *arg)
{
    (void)arg;
    cf_promise *p = cf_promise_new(loop);
    CHECK(cf_set_timeout(loop, 1, late_resolve, cf_promise_retain(p), NULL));
    return cf_task_return_promise(task, p);
}

static int returns_rejected(cf_task *task, void *arg)
{
    (void)arg;
    return cf_task_return_promise(task, cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "no")));
}

static int returns_thenable(cf_task *task, void *arg)
{
    return cf_task_return_thenable(task, arg);
}

static int returns_awaited(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_await(cf_promise_resolved(loop, TEXT("a"), NULL));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    return cf_task_return(task, r.value, NULL);
}

/* ≈ f().then(handler) / f().catch(handler). */
static void call_then(cf_async_fn fn, void *arg, cf_promise_cb ok, cf_promise_cb bad, void *label)
{
    cf_promise *p = cf_async(loop, fn, arg);
    cf_promise_release(cf_promise_then(p, ok, bad, label));
    cf_promise_release(p);
}

int main(void)
{
    scenario_begin();
    static const char *const ticks[] = {"tick 1", "tick 2", "tick 3", "tick 4", "tick 5"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (size_t i = 0; i < 5; i++) {
        cf_promise *next = cf_promise_then(p, log_then, NULL, (void *)ticks[i]);
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
    thenable th = {{then_t, NULL}};
    call_then(returns_value, NULL, show, NULL, TEXT("value"));
    call_then(returns_promise, NULL, show, NULL, TEXT("promise"));
    call_then(returns_rejected, NULL, NULL, show, TEXT("rejected"));
    call_then(returns_thenable, &th, show, NULL, TEXT("thenable"));
    call_then(returns_awaited, NULL, show, NULL, TEXT("awaited"));
    call_then(returns_pending, NULL, show, NULL, TEXT("pending"));
    say("main");
    scenario_run();
    return scenario_end();
}
