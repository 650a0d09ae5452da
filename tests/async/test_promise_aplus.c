/*
 * The Promises/A+ 1.1 specification (https://promisesaplus.com), sections 2.1 (states), 2.2
 * (then) and 2.3 (the resolution procedure), one case per numbered requirement, written
 * against the C API:
 *   - "onFulfilled/onRejected" are cf_promise_then's handlers; a handler "returns x" by
 *     settling `next` with x (a value: cf_promise_resolve; a promise: cf_promise_adopt; a
 *     thenable: cf_promise_adopt_thenable) and "throws e" by cf_promise_reject(next, e);
 *   - [[Resolve]](promise, x) is cf_promise_resolve / cf_promise_adopt /
 *     cf_promise_adopt_thenable on a pending promise;
 *   - thenables are cf_thenable structs; resolvePromise/rejectPromise are the settle
 *     functions applied to the resolver promise given to `then`.
 * Where C has no equivalent (reading a property cannot throw), the case says what it checks.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/timer.h"

static char events[2048];

static void ev(const char *s)
{
    size_t len = strlen(events);
    snprintf(events + len, sizeof(events) - len, "%s%s", len ? " " : "", s);
}

static cf_loop *setup(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    events[0] = '\0';
    return loop;
}

static void finish(cf_loop *loop)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void *S(const char *s)
{
    return (void *)s;
}

/* Records "<label>=<value>" or "<label>!<message>". */
static void show(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[160];
    if (cf_promise_state(settled) == CF_PROMISE_FULFILLED) {
        const char *v = cf_promise_value(settled);
        snprintf(buf, sizeof buf, "%s=%s", (const char *)data, v ? v : "null");
    } else {
        snprintf(buf, sizeof buf, "%s!%s", (const char *)data, cf_promise_error(settled)->message);
    }
    ev(buf);
}

static void attach_show(cf_promise *p, const char *label)
{
    cf_promise *d = cf_promise_then(p, show, show, S(label));
    ASSERT_PTR(d);
    cf_promise_release(d);
}

static void later_resolve(void *data)
{
    ev("timer");
    ASSERT_OK(cf_promise_resolve(data, S("late"), NULL));
}

static void later_reject(void *data)
{
    ev("timer");
    ASSERT_OK(cf_promise_reject(data, CF_ERROR(CF_EIO, "late reason")));
}

/* ---- 2.1 Promise states ---- */

/* 2.1.1.1: a pending promise may transition to fulfilled or to rejected. */
static void test_promise_aplus_2_1_1_1(void)
{
    cf_loop *loop = setup();
    cf_promise *a = cf_promise_new(loop);
    cf_promise *b = cf_promise_new(loop);
    ASSERT_EQ(cf_promise_state(a), CF_PROMISE_PENDING);
    ASSERT_EQ(cf_promise_state(b), CF_PROMISE_PENDING);
    ASSERT_OK(cf_promise_resolve(a, S("v"), NULL));
    ASSERT_OK(cf_promise_reject(b, CF_ERROR(CF_EIO, "r")));
    ASSERT_EQ(cf_promise_state(a), CF_PROMISE_FULFILLED);
    ASSERT_EQ(cf_promise_state(b), CF_PROMISE_REJECTED);
    attach_show(b, "b");
    cf_promise_release(a);
    cf_promise_release(b);
    finish(loop);
}

/* 2.1.2.1: a fulfilled promise must not transition to any other state. */
static void test_promise_aplus_2_1_2_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(p, S("v"), NULL));
    ASSERT_EQ(cf_promise_reject(p, CF_ERROR(CF_EIO, "r")), CF_EINVAL);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    attach_show(p, "p");
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "p=v");
}

/* 2.1.2.2: a fulfilled promise has a value, which must not change. */
static void test_promise_aplus_2_1_2_2(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(p, S("first"), NULL));
    ASSERT_EQ(cf_promise_resolve(p, S("second"), NULL), CF_EINVAL);
    attach_show(p, "a");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    attach_show(p, "b");
    ASSERT_STR_EQ(cf_promise_value(p), "first");
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "a=first b=first");
}

/* 2.1.3.1: a rejected promise must not transition to any other state. */
static void test_promise_aplus_2_1_3_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject(p, CF_ERROR(CF_EIO, "r")));
    ASSERT_EQ(cf_promise_resolve(p, S("v"), NULL), CF_EINVAL);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    attach_show(p, "p");
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "p!r");
}

/* 2.1.3.2: a rejected promise has a reason, which must not change. */
static void test_promise_aplus_2_1_3_2(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject(p, CF_ERROR(CF_EIO, "first")));
    const cf_error *reason = cf_promise_error(p);
    ASSERT_EQ(cf_promise_reject(p, CF_ERROR(CF_EIO, "second")), CF_EINVAL);
    attach_show(p, "a");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    attach_show(p, "b");
    ASSERT(cf_promise_error(p) == reason);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "a!first b!first");
}

/* ---- 2.2 The then method ---- */

/* 2.2.1.1: if onFulfilled is not a function (NULL), it is ignored. */
static void test_promise_aplus_2_2_1_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_resolved(loop, S("v"), NULL);
    cf_promise *d = cf_promise_then(p, NULL, show, S("rejected"));
    attach_show(d, "d");
    cf_promise_release(d);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "d=v");
}

/* 2.2.1.2: if onRejected is not a function (NULL), it is ignored. */
static void test_promise_aplus_2_2_1_2(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "r"));
    cf_promise *d = cf_promise_then(p, show, NULL, S("fulfilled"));
    attach_show(d, "d");
    cf_promise_release(d);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "d!r");
}

/* 2.2.2.1: onFulfilled is called after fulfillment, with the value as first argument. */
static void test_promise_aplus_2_2_2_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    attach_show(p, "f");
    ASSERT_OK(cf_set_timeout(loop, 1, later_resolve, p, NULL));
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "timer f=late");
}

static int calls;

static void count_call(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
    calls++;
}

/* 2.2.2.2: onFulfilled must not be called before the promise is fulfilled. */
static void test_promise_aplus_2_2_2_2(void)
{
    cf_loop *loop = setup();
    calls = 0;
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, count_call, NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_NOWAIT));
    ASSERT_EQ(calls, 0);
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    ASSERT_EQ(calls, 0);
    cf_promise_release(p);
    finish(loop);
    ASSERT_EQ(calls, 1);
}

/* 2.2.2.3: onFulfilled must not be called more than once. */
static void test_promise_aplus_2_2_2_3(void)
{
    cf_loop *loop = setup();
    calls = 0;
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, count_call, count_call, NULL));
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    ASSERT_EQ(cf_promise_resolve(p, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_promise_reject(p, CF_ERROR(CF_EIO, "r")), CF_EINVAL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_resolve(p, NULL, NULL), CF_EINVAL);
    cf_promise_release(p);
    finish(loop);
    ASSERT_EQ(calls, 1);
}

/* 2.2.3.1: onRejected is called after rejection, with the reason as first argument. */
static void test_promise_aplus_2_2_3_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    attach_show(p, "r");
    ASSERT_OK(cf_set_timeout(loop, 1, later_reject, p, NULL));
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "timer r!late reason");
}

/* 2.2.3.2: onRejected must not be called before the promise is rejected. */
static void test_promise_aplus_2_2_3_2(void)
{
    cf_loop *loop = setup();
    calls = 0;
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, NULL, count_call, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_NOWAIT));
    ASSERT_EQ(calls, 0);
    ASSERT_OK(cf_promise_reject(p, CF_ERROR(CF_EIO, "r")));
    ASSERT_EQ(calls, 0);
    cf_promise_release(p);
    finish(loop);
    ASSERT_EQ(calls, 1);
}

/* 2.2.3.3: onRejected must not be called more than once. */
static void test_promise_aplus_2_2_3_3(void)
{
    cf_loop *loop = setup();
    calls = 0;
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, count_call, count_call, NULL));
    ASSERT_OK(cf_promise_reject(p, CF_ERROR(CF_EIO, "r")));
    ASSERT_EQ(cf_promise_reject(p, CF_ERROR(CF_EIO, "again")), CF_EINVAL);
    ASSERT_EQ(cf_promise_resolve(p, NULL, NULL), CF_EINVAL);
    cf_promise_release(p);
    finish(loop);
    ASSERT_EQ(calls, 1);
}

static void log_label(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    ev(data);
}

/*
 * 2.2.4: handlers are not called until the execution context stack contains only platform
 * code: never inside then() or resolve(), only once the caller's code has returned to the
 * loop (as a microtask).
 */
static void test_promise_aplus_2_2_4(void)
{
    cf_loop *loop = setup();
    cf_promise *settled = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(settled, log_label, NULL, S("on settled")));
    ev("after then");
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, log_label, NULL, S("on resolved")));
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    ev("after resolve");
    cf_promise_release(settled);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "after then after resolve on settled on resolved");
}

static void check_data(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    ASSERT(data == (void *)settled || data == S("token"));
    ev(data);
}

/*
 * 2.2.5: handlers are called as functions (no `this`): a C handler gets exactly the data
 * pointer given to then, nothing bound to the promise.
 */
static void test_promise_aplus_2_2_5(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, check_data, NULL, S("token")));
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "token");
}

/* 2.2.6.1: several onFulfilled handlers run in the order of their then calls. */
static void test_promise_aplus_2_2_6_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, log_label, NULL, S("1")));
    cf_promise_release(cf_promise_then(p, NULL, log_label, S("not me")));
    cf_promise_release(cf_promise_then(p, log_label, NULL, S("2")));
    ASSERT_OK(cf_set_timeout(loop, 1, later_resolve, p, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(cf_promise_then(p, log_label, NULL, S("3")));
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "timer 1 2 3");
}

/* 2.2.6.2: several onRejected handlers run in the order of their then calls. */
static void test_promise_aplus_2_2_6_2(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, NULL, log_label, S("1")));
    cf_promise *skip = cf_promise_then(p, log_label, NULL, S("not me"));
    cf_promise_release(cf_promise_then(skip, NULL, log_label, S("(its derived)")));
    cf_promise_release(skip);
    cf_promise_release(cf_promise_catch(p, log_label, S("2")));
    ASSERT_OK(cf_set_timeout(loop, 1, later_reject, p, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(cf_promise_catch(p, log_label, S("3")));
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "timer 1 2 (its derived) 3");
}

/* 2.2.7: then must return a promise (a new one, distinct from the receiver). */
static void test_promise_aplus_2_2_7(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    cf_promise *d = cf_promise_then(p, NULL, NULL, NULL);
    ASSERT_PTR(d);
    ASSERT(d != p);
    ASSERT_EQ(cf_promise_state(d), CF_PROMISE_PENDING);
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    cf_promise_release(d);
    cf_promise_release(p);
    finish(loop);
}

static void return_value(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ASSERT_OK(cf_promise_resolve(next, data, NULL));
}

static void return_promise(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ASSERT_OK(cf_promise_adopt(next, data));
}

/* 2.2.7.1: a handler returning x runs [[Resolve]](promise2, x), from either handler. */
static void test_promise_aplus_2_2_7_1(void)
{
    cf_loop *loop = setup();
    cf_promise *ok = cf_promise_resolved(loop, NULL, NULL);
    cf_promise *bad = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "r"));
    cf_promise *x = cf_promise_new(loop);
    cf_promise *d1 = cf_promise_then(ok, return_value, NULL, S("x1"));
    cf_promise *d2 = cf_promise_then(bad, NULL, return_value, S("x2"));
    cf_promise *d3 = cf_promise_then(ok, return_promise, NULL, x);
    attach_show(d1, "from onFulfilled");
    attach_show(d2, "from onRejected");
    attach_show(d3, "adopted");
    ASSERT_OK(cf_set_timeout(loop, 1, later_resolve, x, NULL));
    cf_promise *ps[] = {ok, bad, x, d1, d2, d3};
    for (int i = 0; i < 6; i++) {
        cf_promise_release(ps[i]);
    }
    finish(loop);
    ASSERT_STR_EQ(events, "from onFulfilled=x1 from onRejected=x2 timer adopted=late");
}

static void throw_error(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ASSERT_OK(cf_promise_reject(next, CF_ERROR(CF_EIO, "%s", (const char *)data)));
}

/* 2.2.7.2: a handler throwing e rejects promise2 with e, from either handler. */
static void test_promise_aplus_2_2_7_2(void)
{
    cf_loop *loop = setup();
    cf_promise *ok = cf_promise_resolved(loop, NULL, NULL);
    cf_promise *bad = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "r"));
    cf_promise *d1 = cf_promise_then(ok, throw_error, NULL, S("e1"));
    cf_promise *d2 = cf_promise_then(bad, NULL, throw_error, S("e2"));
    attach_show(d1, "d1");
    attach_show(d2, "d2");
    cf_promise *ps[] = {ok, bad, d1, d2};
    for (int i = 0; i < 4; i++) {
        cf_promise_release(ps[i]);
    }
    finish(loop);
    ASSERT_STR_EQ(events, "d1!e1 d2!e2");
}

/* 2.2.7.3: onFulfilled not a function and promise1 fulfilled: same value in promise2. */
static void test_promise_aplus_2_2_7_3(void)
{
    cf_loop *loop = setup();
    static char value[] = "same";
    cf_promise *p = cf_promise_resolved(loop, value, NULL);
    cf_promise *d = cf_promise_then(p, NULL, log_label, S("no"));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(cf_promise_value(d) == value);
    cf_promise_release(d);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "");
}

/* 2.2.7.4: onRejected not a function and promise1 rejected: same reason in promise2. */
static void test_promise_aplus_2_2_7_4(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "r"));
    cf_promise *d = cf_promise_then(p, log_label, NULL, S("no"));
    cf_promise *c = cf_promise_catch(d, log_label, S("caught"));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(cf_promise_error(d) == cf_promise_error(p));
    cf_promise_release(c);
    cf_promise_release(d);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "caught");
}

/* ---- 2.3 The promise resolution procedure ---- */

static void return_next(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    ASSERT_OK(cf_promise_adopt(next, next));
}

/* 2.3.1: promise and x the same object: reject with a type error (CF_ECYCLE). */
static void test_promise_aplus_2_3_1(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise *d = cf_promise_then(p, return_next, NULL, NULL);
    attach_show(d, "d");
    cf_promise *q = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(q, q));
    ASSERT_EQ(cf_promise_code(q), CF_ECYCLE);
    attach_show(q, "q");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_code(d), CF_ECYCLE);
    cf_promise_release(d);
    cf_promise_release(p);
    cf_promise_release(q);
    finish(loop);
    ASSERT_STR_EQ(events, "q!Chaining cycle detected for promise "
                          "d!Chaining cycle detected for promise");
}

/* 2.3.2.1: x a pending promise: promise stays pending until x settles. */
static void test_promise_aplus_2_3_2_1(void)
{
    cf_loop *loop = setup();
    cf_promise *x = cf_promise_new(loop);
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(p, x));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
    ASSERT_OK(cf_promise_resolve(x, S("now"), NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(x);
    cf_promise_release(p);
    finish(loop);
}

/* 2.3.2.2: when x is fulfilled, promise is fulfilled with the same value. */
static void test_promise_aplus_2_3_2_2(void)
{
    cf_loop *loop = setup();
    static char value[] = "x value";
    cf_promise *x = cf_promise_resolved(loop, value, NULL);
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(p, x));
    attach_show(p, "p");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(cf_promise_value(p) == value);
    cf_promise_release(x);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "p=x value");
}

/* 2.3.2.3: when x is rejected, promise is rejected with the same reason. */
static void test_promise_aplus_2_3_2_3(void)
{
    cf_loop *loop = setup();
    cf_promise *x = cf_promise_new(loop);
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(p, x));
    attach_show(p, "p");
    ASSERT_OK(cf_set_timeout(loop, 1, later_reject, x, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(cf_promise_error(p) == cf_promise_error(x));
    cf_promise_release(x);
    cf_promise_release(p);
    finish(loop);
    ASSERT_STR_EQ(events, "timer p!late reason");
}

/* A configurable thenable. */
typedef struct thenable {
    cf_thenable base;
    int mode;
    int then_calls;
    cf_thenable *self_seen;
    void *arg; /* mode-specific */
} thenable;

enum {
    T_RESOLVE,      /* resolvePromise(arg as value) */
    T_REJECT,       /* rejectPromise(error) */
    T_ADOPT,        /* resolvePromise(arg as promise) */
    T_NESTED,       /* resolvePromise(arg as thenable) */
    T_BOTH,         /* resolve, then reject, then resolve again */
    T_REJECT_FIRST, /* reject, then resolve */
    T_THROW_AFTER,  /* resolve, then throw */
    T_THROW_BEFORE, /* throw without calling back */
    T_LATER         /* keep the resolver; a timer resolves it */
};

static void thenable_later(void *data)
{
    cf_promise *resolver = data;
    ev("timer");
    ASSERT_OK(cf_promise_resolve(resolver, S("later"), NULL));
    cf_promise_release(resolver);
}

static cf_error *thenable_then(cf_thenable *self, cf_promise *r)
{
    thenable *t = (thenable *)self;
    t->then_calls++;
    t->self_seen = self;
    switch (t->mode) {
    case T_RESOLVE:
        ASSERT_OK(cf_promise_resolve(r, t->arg, NULL));
        return NULL;
    case T_REJECT:
        ASSERT_OK(cf_promise_reject(r, CF_ERROR(CF_EIO, "thenable reason")));
        return NULL;
    case T_ADOPT:
        ASSERT_OK(cf_promise_adopt(r, t->arg));
        return NULL;
    case T_NESTED:
        ASSERT_OK(cf_promise_adopt_thenable(r, t->arg));
        return NULL;
    case T_BOTH:
        ASSERT_OK(cf_promise_resolve(r, S("first"), NULL));
        ASSERT_EQ(cf_promise_reject(r, CF_ERROR(CF_EIO, "ignored")), CF_EINVAL);
        ASSERT_EQ(cf_promise_resolve(r, S("ignored"), NULL), CF_EINVAL);
        return NULL;
    case T_REJECT_FIRST:
        ASSERT_OK(cf_promise_reject(r, CF_ERROR(CF_EIO, "first reason")));
        ASSERT_EQ(cf_promise_resolve(r, S("ignored"), NULL), CF_EINVAL);
        return NULL;
    case T_THROW_AFTER:
        ASSERT_OK(cf_promise_resolve(r, S("resolved"), NULL));
        return CF_ERROR(CF_EIO, "thrown after");
    case T_THROW_BEFORE:
        return CF_ERROR(CF_EIO, "thrown");
    default:
        ASSERT_OK(
            cf_set_timeout(cf_promise_loop(r), 1, thenable_later, cf_promise_retain(r), NULL));
        return NULL;
    }
}

static thenable make(int mode, void *arg)
{
    thenable t = {{thenable_then, NULL}, mode, 0, NULL, arg};
    return t;
}

/* Resolve a new promise with the thenable and record its outcome as `label`. */
static void adopt_show(cf_loop *loop, thenable *t, const char *label)
{
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt_thenable(p, &t->base));
    attach_show(p, label);
    cf_promise_release(p);
}

/* 2.3.3.1: "let then be x.then": the thenable's then is read once and called once. */
static void test_promise_aplus_2_3_3_1(void)
{
    cf_loop *loop = setup();
    thenable t = make(T_RESOLVE, S("v"));
    adopt_show(loop, &t, "p");
    ASSERT_EQ(t.then_calls, 0); /* called in a later microtask */
    finish(loop);
    ASSERT_EQ(t.then_calls, 1);
    ASSERT_STR_EQ(events, "p=v");
}

/*
 * 2.3.3.2: if retrieving x.then throws e, reject with e. Reading a C struct field cannot
 * throw; the nearest case, an object whose then is missing (NULL), rejects the promise.
 */
static void test_promise_aplus_2_3_3_2(void)
{
    cf_loop *loop = setup();
    thenable t = make(T_RESOLVE, S("v"));
    t.base.then = NULL;
    adopt_show(loop, &t, "p");
    finish(loop);
    ASSERT_STR_EQ(events, "p!resolve: the thenable has no then function");
}

/* 2.3.3.3: then is called with x as `this` (self) and the resolving functions. */
static void test_promise_aplus_2_3_3_3(void)
{
    cf_loop *loop = setup();
    thenable t = make(T_RESOLVE, S("v"));
    adopt_show(loop, &t, "p");
    finish(loop);
    ASSERT(t.self_seen == &t.base);
    ASSERT_STR_EQ(events, "p=v");
}

/* 2.3.3.3.1: resolvePromise(y) runs [[Resolve]](promise, y): values, promises, thenables. */
static void test_promise_aplus_2_3_3_3_1(void)
{
    cf_loop *loop = setup();
    cf_promise *y = cf_promise_new(loop);
    thenable inner = make(T_RESOLVE, S("inner thenable"));
    thenable a = make(T_RESOLVE, S("value"));
    thenable b = make(T_ADOPT, y);
    thenable c = make(T_NESTED, &inner);
    thenable d = make(T_LATER, NULL);
    adopt_show(loop, &a, "value");
    adopt_show(loop, &b, "promise");
    adopt_show(loop, &c, "thenable");
    adopt_show(loop, &d, "later");
    ASSERT_OK(cf_set_timeout(loop, 2, later_resolve, y, NULL));
    cf_promise_release(y);
    finish(loop);
    ASSERT_STR_EQ(events, "value=value thenable=inner thenable timer later=later timer "
                          "promise=late");
}

/* 2.3.3.3.2: rejectPromise(r) rejects the promise with r. */
static void test_promise_aplus_2_3_3_3_2(void)
{
    cf_loop *loop = setup();
    thenable t = make(T_REJECT, NULL);
    adopt_show(loop, &t, "p");
    finish(loop);
    ASSERT_STR_EQ(events, "p!thenable reason");
}

/* 2.3.3.3.3: when both or the same are called several times, the first call wins. */
static void test_promise_aplus_2_3_3_3_3(void)
{
    cf_loop *loop = setup();
    thenable a = make(T_BOTH, NULL);
    thenable b = make(T_REJECT_FIRST, NULL);
    adopt_show(loop, &a, "a");
    adopt_show(loop, &b, "b");
    finish(loop);
    ASSERT_STR_EQ(events, "a=first b!first reason");
}

/* 2.3.3.3.4.1: then throws after resolvePromise/rejectPromise was called: ignored. */
static void test_promise_aplus_2_3_3_3_4_1(void)
{
    cf_loop *loop = setup();
    thenable t = make(T_THROW_AFTER, NULL);
    adopt_show(loop, &t, "p");
    finish(loop);
    ASSERT_STR_EQ(events, "p=resolved");
}

/* 2.3.3.3.4.2: then throws e before calling back: the promise is rejected with e. */
static void test_promise_aplus_2_3_3_3_4_2(void)
{
    cf_loop *loop = setup();
    thenable t = make(T_THROW_BEFORE, NULL);
    adopt_show(loop, &t, "p");
    finish(loop);
    ASSERT_STR_EQ(events, "p!thrown");
}

/*
 * 2.3.3.4: x an object whose then is not a function: fulfil with x. In C an object that is
 * not offered as a thenable is a plain value: resolving with it fulfils with the pointer.
 */
static void test_promise_aplus_2_3_3_4(void)
{
    cf_loop *loop = setup();
    static struct {
        int then;
    } object = {42};
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(p, &object, NULL));
    ASSERT(cf_promise_value(p) == &object);
    cf_promise_release(p);
    finish(loop);
}

/* 2.3.4: x not an object or function: fulfil with x (a plain scalar in the pointer). */
static void test_promise_aplus_2_3_4(void)
{
    cf_loop *loop = setup();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(p, (void *)(intptr_t)7, NULL));
    cf_promise *d = cf_promise_then(p, NULL, NULL, NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ((intptr_t)cf_promise_value(d), 7);
    cf_promise_release(d);
    cf_promise_release(p);
    finish(loop);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_promise_aplus_2_1_1_1);
    CF_TEST(test_promise_aplus_2_1_2_1);
    CF_TEST(test_promise_aplus_2_1_2_2);
    CF_TEST(test_promise_aplus_2_1_3_1);
    CF_TEST(test_promise_aplus_2_1_3_2);
    CF_TEST(test_promise_aplus_2_2_1_1);
    CF_TEST(test_promise_aplus_2_2_1_2);
    CF_TEST(test_promise_aplus_2_2_2_1);
    CF_TEST(test_promise_aplus_2_2_2_2);
    CF_TEST(test_promise_aplus_2_2_2_3);
    CF_TEST(test_promise_aplus_2_2_3_1);
    CF_TEST(test_promise_aplus_2_2_3_2);
    CF_TEST(test_promise_aplus_2_2_3_3);
    CF_TEST(test_promise_aplus_2_2_4);
    CF_TEST(test_promise_aplus_2_2_5);
    CF_TEST(test_promise_aplus_2_2_6_1);
    CF_TEST(test_promise_aplus_2_2_6_2);
    CF_TEST(test_promise_aplus_2_2_7);
    CF_TEST(test_promise_aplus_2_2_7_1);
    CF_TEST(test_promise_aplus_2_2_7_2);
    CF_TEST(test_promise_aplus_2_2_7_3);
    CF_TEST(test_promise_aplus_2_2_7_4);
    CF_TEST(test_promise_aplus_2_3_1);
    CF_TEST(test_promise_aplus_2_3_2_1);
    CF_TEST(test_promise_aplus_2_3_2_2);
    CF_TEST(test_promise_aplus_2_3_2_3);
    CF_TEST(test_promise_aplus_2_3_3_1);
    CF_TEST(test_promise_aplus_2_3_3_2);
    CF_TEST(test_promise_aplus_2_3_3_3);
    CF_TEST(test_promise_aplus_2_3_3_3_1);
    CF_TEST(test_promise_aplus_2_3_3_3_2);
    CF_TEST(test_promise_aplus_2_3_3_3_3);
    CF_TEST(test_promise_aplus_2_3_3_3_4_1);
    CF_TEST(test_promise_aplus_2_3_3_3_4_2);
    CF_TEST(test_promise_aplus_2_3_3_4);
    CF_TEST(test_promise_aplus_2_3_4);
    return CF_TEST_END();
}
