/*
 * Promises: states, reaction timing (Node/V8 turn counts), chaining, adoption, thenables,
 * finally, ownership, unhandled rejections, promisify and teardown. Ordering tests record
 * events and compare the whole sequence.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#include "async/promise.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/timer.h"
#include "util/alloc.h"
#include "util/util.h"

/* ---- event recording ---- */

static char events[4096];

static void ev_reset(void)
{
    events[0] = '\0';
}

static void ev(const char *s)
{
    size_t len = strlen(events);
    snprintf(events + len, sizeof(events) - len, "%s%s", len ? " " : "", s);
}

#define ASSERT_EVENTS(expected) ASSERT_STR_EQ(events, expected)

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    ev_reset();
    return loop;
}

static void loop_run_close(cf_loop *loop)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* Handlers that record `data` (a label). */
static void h_log(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    ev(data);
}

/* Records "<label>=<value>" (fulfilled, value a string) or "<label>!<message>" (rejected). */
static void h_show(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[128];
    if (cf_promise_state(settled) == CF_PROMISE_FULFILLED) {
        const char *v = cf_promise_value(settled);
        snprintf(buf, sizeof buf, "%s=%s", (const char *)data, v ? v : "null");
    } else {
        snprintf(buf, sizeof buf, "%s!%s", (const char *)data, cf_promise_error(settled)->message);
    }
    ev(buf);
}

static void m_log(void *data)
{
    ev(data);
}

static void log_settled(cf_promise *settled, void *data)
{
    (void)settled;
    ev(data);
}

static void h_nothing(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
}

/* Attach a catch handler that does nothing, so `p` counts as handled. */
static void handled(cf_promise *p)
{
    cf_promise *c = cf_promise_catch(p, h_nothing, NULL);
    ASSERT_PTR(c);
    cf_promise_release(c);
}

/* Attach `a`, `b` to `*p` and make the result the new `*p`. */
static void chain(cf_promise **p, cf_promise_cb a, cf_promise_cb b, const char *label)
{
    cf_promise *next = cf_promise_then(*p, a, b, (void *)label);
    ASSERT_PTR(next);
    cf_promise_release(*p);
    *p = next;
}

/* A ticker chain t1 → t2 → ... on a fulfilled promise: one label per microtask turn. */
static void ticker(cf_loop *loop, int n)
{
    static const char *labels[] = {"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < n; i++) {
        chain(&p, h_log, NULL, labels[i]);
    }
    cf_promise_release(p);
}

static int dtor_count;

static void count_dtor(void *v)
{
    (void)v;
    dtor_count++;
}

/* ---- states ---- */

static void test_promise_states_and_accessors(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_PTR(p);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
    ASSERT(cf_promise_value(p) == NULL);
    ASSERT(cf_promise_error(p) == NULL);
    ASSERT_EQ(cf_promise_code(p), 0);
    ASSERT(cf_promise_loop(p) == loop);
    ASSERT_OK(cf_promise_resolve(p, (void *)"v", NULL));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_STR_EQ(cf_promise_value(p), "v");
    ASSERT_EQ(cf_promise_code(p), 0);
    cf_promise_release(p);

    p = cf_promise_rejected(loop, CF_ERROR(CF_ENOENT, "open '%s'", "x.csv"));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_code(p), CF_ENOENT);
    ASSERT_STR_EQ(cf_promise_error(p)->message, "open 'x.csv'");
    ASSERT_STR_EQ(cf_promise_error(p)->func, "test_promise_states_and_accessors");
    ASSERT(cf_promise_value(p) == NULL);
    handled(p);
    ASSERT(cf_promise_retain(NULL) == NULL);
    cf_promise_release(NULL);
    cf_promise_release(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_promise_settles_once(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(p, (void *)"first", count_dtor));
    /* A second settle fails and still takes (frees) what it was given. */
    ASSERT_EQ(cf_promise_resolve(p, (void *)"second", count_dtor), CF_EINVAL);
    ASSERT_EQ(dtor_count, 1);
    ASSERT_EQ(cf_promise_reject(p, CF_ERROR(CF_EIO, "late")), CF_EINVAL);
    ASSERT_EQ(cf_promise_settle(p, 0, (void *)"third", count_dtor, NULL), CF_EINVAL);
    ASSERT_EQ(dtor_count, 2);
    ASSERT_STR_EQ(cf_promise_value(p), "first");
    cf_promise *q = cf_promise_resolved(loop, NULL, NULL);
    ASSERT_EQ(cf_promise_adopt(p, q), CF_EINVAL);
    cf_promise_release(q);
    cf_promise_release(p);
    ASSERT_EQ(dtor_count, 3);
    ASSERT_EQ(cf_promise_resolve(NULL, (void *)"x", count_dtor), CF_EINVAL);
    ASSERT_EQ(dtor_count, 4);
    ASSERT_EQ(cf_promise_reject(NULL, CF_ERROR(CF_EIO, "x")), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- reaction timing ---- */

static void test_promise_reactions_never_run_inside_the_call(void)
{
    cf_loop *loop = loop_new();
    cf_promise *settled = cf_promise_resolved(loop, (void *)"s", NULL);
    cf_promise_release(cf_promise_then(settled, h_log, NULL, (void *)"A"));
    ASSERT_EVENTS("");
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, h_log, NULL, (void *)"B"));
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    ASSERT_EVENTS("");
    ASSERT_OK(cf_promise_on_settle(p, log_settled, (void *)"settled"));
    cf_promise_release(settled);
    cf_promise_release(p);
    ev("sync");
    loop_run_close(loop);
    ASSERT_EVENTS("sync A B settled");
}

/* Reactions share the microtask FIFO; they are queued when their promise settles. */
static void test_promise_reaction_queued_at_settle_time(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"m1"));
    cf_promise_release(cf_promise_then(p, h_log, NULL, (void *)"then"));
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"m2"));
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"m3"));
    ASSERT_OK(cf_next_tick(loop, m_log, (void *)"tick"));
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EVENTS("tick m1 m2 then m3");
}

static void test_promise_attach_to_settled_queues_at_once(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"m1"));
    cf_promise_release(cf_promise_then(p, h_log, NULL, (void *)"then"));
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"m2"));
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EVENTS("m1 then m2");
}

static void test_promise_reactions_in_registration_order(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_new(loop);
    cf_promise *r = cf_promise_new(loop);
    static const char *labels[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        cf_promise_release(cf_promise_then(p, h_log, h_log, (void *)labels[i]));
    }
    cf_promise_release(cf_promise_catch(r, h_log, (void *)"r1"));
    cf_promise *f = cf_promise_finally(r, h_log, (void *)"r2");
    handled(f); /* finally passes the rejection on */
    cf_promise_release(f);
    cf_promise_release(cf_promise_then(r, NULL, h_log, (void *)"r3"));
    ASSERT_OK(cf_promise_reject(r, CF_ERROR(CF_EIO, "no")));
    ASSERT_OK(cf_promise_resolve(p, NULL, NULL));
    cf_promise_release(p);
    cf_promise_release(r);
    loop_run_close(loop);
    ASSERT_EVENTS("r1 r2 r3 a b c d");
}

/* Independent chains interleave one step per turn. */
static void test_promise_chains_interleave(void)
{
    cf_loop *loop = loop_new();
    cf_promise *a = cf_promise_resolved(loop, NULL, NULL);
    cf_promise *b = cf_promise_resolved(loop, NULL, NULL);
    chain(&a, h_log, NULL, (void *)"a1");
    chain(&b, h_log, NULL, (void *)"b1");
    chain(&a, h_log, NULL, (void *)"a2");
    chain(&b, h_log, NULL, (void *)"b2");
    chain(&a, h_log, NULL, (void *)"a3");
    cf_promise_release(a);
    cf_promise_release(b);
    loop_run_close(loop);
    ASSERT_EVENTS("a1 b1 a2 b2 a3");
}

/* ---- chaining ---- */

static void h_return_upper(cf_promise *settled, cf_promise *next, void *data)
{
    (void)data;
    const char *v = cf_promise_value(settled);
    char *copy = cf_strdup(v);
    for (char *c = copy; *c; c++) {
        *c = (char)(*c - 32 * (*c >= 'a' && *c <= 'z'));
    }
    ASSERT_OK(cf_promise_resolve(next, copy, cf_free));
}

static void h_throw(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ASSERT_OK(cf_promise_reject(next, CF_ERROR(CF_EIO, "%s", (const char *)data)));
}

static void h_recover(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ASSERT_OK(cf_promise_resolve(next, data, NULL));
}

static void test_promise_then_returns_value_error_or_nothing(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_resolved(loop, (void *)"abc", NULL);
    chain(&p, h_return_upper, NULL, NULL);
    chain(&p, h_show, NULL, (void *)"upper");
    chain(&p, h_show, NULL, (void *)"nothing");
    chain(&p, h_throw, NULL, (void *)"bad");
    chain(&p, h_show, NULL, (void *)"skipped");
    chain(&p, NULL, h_show, (void *)"caught");
    chain(&p, h_show, NULL, (void *)"after");
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EVENTS("upper=ABC nothing=null caught!bad after=null");
}

/* A rejection passes through steps without a rejection handler, one turn per step. */
static void test_promise_rejection_passes_through_one_turn_per_step(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "E"));
    chain(&p, h_log, NULL, (void *)"skip1");
    chain(&p, h_log, NULL, (void *)"skip2");
    chain(&p, NULL, h_show, (void *)"catch");
    chain(&p, h_recover, NULL, (void *)"value");
    chain(&p, h_show, NULL, (void *)"after");
    cf_promise_release(p);
    ticker(loop, 6);
    loop_run_close(loop);
    ASSERT_EVENTS("t1 t2 catch!E t3 t4 after=value t5 t6");
}

static const cf_error *seen_error;

static void h_keep_error(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    seen_error = cf_promise_error(settled);
}

/* Pass-through steps borrow the original error and value (same pointer, freed once). */
static void test_promise_pass_through_borrows(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    cf_promise *src = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "E"));
    const cf_error *orig = cf_promise_error(src);
    cf_promise *p = cf_promise_retain(src);
    chain(&p, h_log, NULL, (void *)"x");
    chain(&p, h_log, NULL, (void *)"y");
    chain(&p, NULL, h_keep_error, NULL);
    cf_promise_release(p);
    cf_promise_release(src);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(seen_error == orig);

    static char value[] = "value";
    src = cf_promise_resolved(loop, value, count_dtor);
    p = cf_promise_then(src, NULL, NULL, NULL);
    cf_promise *q = cf_promise_then(p, NULL, h_log, NULL);
    cf_promise_release(src);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(cf_promise_value(q) == value);
    cf_promise_release(p);
    ASSERT_EQ(dtor_count, 0);
    cf_promise_release(q);
    ASSERT_EQ(dtor_count, 1);
    ASSERT_OK(cf_loop_close(loop));
}

static void h_follow(cf_promise *settled, cf_promise *next, void *data)
{
    ev(data);
    ASSERT_OK(cf_promise_follow(next, settled));
}

static void test_promise_follow_passes_outcome_without_turns(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_resolved(loop, (void *)"v", NULL);
    chain(&p, h_follow, NULL, (void *)"f1");
    chain(&p, h_show, NULL, (void *)"next");
    cf_promise_release(p);
    p = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "E"));
    chain(&p, NULL, h_follow, (void *)"rethrow");
    chain(&p, NULL, h_show, (void *)"caught");
    cf_promise_release(p);
    ticker(loop, 3);
    cf_promise *pending = cf_promise_new(loop);
    cf_promise *d = cf_promise_new(loop);
    ASSERT_EQ(cf_promise_follow(d, pending), CF_EINVAL);
    ASSERT_EQ(cf_promise_follow(NULL, pending), CF_EINVAL);
    ASSERT_OK(cf_promise_resolve(pending, NULL, NULL));
    ASSERT_OK(cf_promise_follow(d, pending));
    cf_promise_release(pending);
    cf_promise_release(d);
    loop_run_close(loop);
    ASSERT_EVENTS("f1 rethrow t1 next=v caught!E t2 t3");
}

/* ---- adoption ---- */

static void test_promise_adopt_costs_two_turns(void)
{
    cf_loop *loop = loop_new();
    cf_promise *inner = cf_promise_resolved(loop, (void *)"inner", NULL);
    cf_promise *a = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(a, inner));
    ASSERT_EQ(cf_promise_state(a), CF_PROMISE_PENDING);
    ASSERT_EQ(cf_promise_resolve(a, NULL, NULL), CF_EINVAL); /* already resolved */
    cf_promise_release(cf_promise_then(a, h_show, NULL, (void *)"adopted"));
    cf_promise *b = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(b, (void *)"plain", NULL));
    cf_promise_release(cf_promise_then(b, h_show, NULL, (void *)"plain"));
    ticker(loop, 4);
    cf_promise_release(a);
    cf_promise_release(b);
    cf_promise_release(inner);
    loop_run_close(loop);
    ASSERT_EVENTS("plain=plain t1 t2 adopted=inner t3 t4");
}

static void h_return_promise(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    cf_promise *x = cf_promise_resolved(cf_promise_loop(next), data, NULL);
    ASSERT_OK(cf_promise_adopt(next, x));
    cf_promise_release(x);
}

static void test_promise_handler_returning_promise_costs_two_turns(void)
{
    cf_loop *loop = loop_new();
    cf_promise *a = cf_promise_resolved(loop, NULL, NULL);
    chain(&a, h_return_promise, NULL, (void *)"x");
    chain(&a, h_show, NULL, (void *)"A2");
    cf_promise *c = cf_promise_resolved(loop, NULL, NULL);
    chain(&c, h_recover, NULL, (void *)"y");
    chain(&c, h_show, NULL, (void *)"C2");
    ticker(loop, 5);
    cf_promise_release(a);
    cf_promise_release(c);
    loop_run_close(loop);
    ASSERT_EVENTS("t1 C2=y t2 t3 A2=x t4 t5");
}

static void resolve_timer(void *data)
{
    ev("timer");
    ASSERT_OK(cf_promise_resolve(data, (void *)"late", NULL));
}

static void reject_timer(void *data)
{
    ev("timer");
    ASSERT_OK(cf_promise_reject(data, CF_ERROR(CF_EIO, "late error")));
}

static void test_promise_adopt_pending_follows_later(void)
{
    cf_loop *loop = loop_new();
    cf_promise *inner = cf_promise_new(loop);
    cf_promise *inner2 = cf_promise_new(loop);
    cf_promise *a = cf_promise_new(loop);
    cf_promise *b = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(a, inner));
    ASSERT_OK(cf_promise_adopt(b, inner2));
    cf_promise_release(cf_promise_then(a, h_show, h_show, (void *)"a"));
    cf_promise_release(cf_promise_then(b, h_show, h_show, (void *)"b"));
    ASSERT_OK(cf_set_timeout(loop, 1, resolve_timer, inner, NULL));
    ASSERT_OK(cf_set_timeout(loop, 2, reject_timer, inner2, NULL));
    cf_promise_release(a);
    cf_promise_release(b);
    cf_promise_release(inner);
    cf_promise_release(inner2);
    loop_run_close(loop);
    ASSERT_EVENTS("timer a=late timer b!late error");
}

static void h_adopt_self(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    ASSERT_OK(cf_promise_adopt(next, next));
}

static void test_promise_cycle_rejects(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(p, p));
    ASSERT_EQ(cf_promise_code(p), CF_ECYCLE);
    ASSERT_STR_EQ(cf_promise_error(p)->message, "Chaining cycle detected for promise");
    cf_promise_release(cf_promise_catch(p, h_show, (void *)"direct"));
    cf_promise_release(p);
    p = cf_promise_resolved(loop, NULL, NULL);
    chain(&p, h_adopt_self, NULL, NULL);
    chain(&p, NULL, h_show, (void *)"from handler");
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EVENTS("direct!Chaining cycle detected for promise "
                  "from handler!Chaining cycle detected for promise");
}

static void test_promise_resolve_p_identity(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(p, (void *)"p", NULL));
    cf_promise *same = cf_promise_resolve_p(loop, p);
    ASSERT(same == p);
    cf_promise_release(same);
    cf_promise *q = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(q, p));
    ASSERT(q != p);
    cf_promise_release(cf_promise_then(q, h_log, NULL, (void *)"via q"));
    cf_promise_release(cf_promise_then(p, h_log, NULL, (void *)"on p"));
    /* NULL (a _p function out of memory) gives a promise rejected with CF_ENOMEM. */
    cf_promise *n = cf_promise_resolve_p(loop, NULL);
    ASSERT_EQ(cf_promise_code(n), CF_ENOMEM);
    cf_promise_release(cf_promise_catch(n, h_show, (void *)"null"));
    cf_promise_release(n);
    cf_promise_release(q);
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EVENTS("on p null!not enough memory via q");
}

/* ---- thenables ---- */

typedef struct test_thenable {
    cf_thenable base;
    int mode; /* 0 sync resolve, 1 later (timer), 2 throw, 3 many calls, 4 adopt, 5 reject */
    int then_calls;
    int releases;
    cf_promise *resolver;
} test_thenable;

static void thenable_later(void *data)
{
    test_thenable *t = data;
    ev("later");
    ASSERT_OK(cf_promise_resolve(t->resolver, (void *)"later", NULL));
    cf_promise_release(t->resolver);
    t->resolver = NULL;
}

static cf_error *thenable_then(cf_thenable *self, cf_promise *resolver)
{
    test_thenable *t = (test_thenable *)self;
    t->then_calls++;
    ev("then");
    switch (t->mode) {
    case 0:
        ASSERT_OK(cf_promise_resolve(resolver, (void *)"sync", NULL));
        break;
    case 1:
        t->resolver = cf_promise_retain(resolver);
        ASSERT_OK(cf_set_timeout(cf_promise_loop(resolver), 1, thenable_later, t, NULL));
        break;
    case 2:
        return CF_ERROR(CF_EIO, "thrown");
    case 3:
        ASSERT_OK(cf_promise_resolve(resolver, (void *)"first", NULL));
        ASSERT_EQ(cf_promise_reject(resolver, CF_ERROR(CF_EIO, "x")), CF_EINVAL);
        ASSERT_EQ(cf_promise_resolve(resolver, (void *)"second", count_dtor), CF_EINVAL);
        return CF_ERROR(CF_EIO, "thrown after");
    case 4: {
        cf_promise *q = cf_promise_resolved(cf_promise_loop(resolver), (void *)"adopted", NULL);
        ASSERT_OK(cf_promise_adopt(resolver, q));
        cf_promise_release(q);
        break;
    }
    default:
        ASSERT_OK(cf_promise_reject(resolver, CF_ERROR(CF_EIO, "rejected")));
        break;
    }
    return NULL;
}

static void thenable_release(cf_thenable *self)
{
    ((test_thenable *)self)->releases++;
}

static test_thenable make_thenable(int mode)
{
    test_thenable t = {{thenable_then, thenable_release}, mode, 0, 0, NULL};
    return t;
}

static void test_promise_thenable_called_in_own_microtask(void)
{
    cf_loop *loop = loop_new();
    test_thenable t = make_thenable(0);
    cf_promise *p = cf_promise_from_thenable(loop, &t.base);
    ASSERT_PTR(p);
    ASSERT_EQ(t.then_calls, 0);
    cf_promise_release(cf_promise_then(p, h_show, NULL, (void *)"value"));
    ticker(loop, 3);
    cf_promise_release(p);
    ev("sync");
    loop_run_close(loop);
    ASSERT_EVENTS("sync then t1 value=sync t2 t3");
    ASSERT_EQ(t.then_calls, 1);
    ASSERT_EQ(t.releases, 1);
}

static void test_promise_thenable_modes(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    test_thenable t[6];
    static const char *labels[] = {"sync", "later", "throw", "many", "adopt", "reject"};
    for (int i = 0; i < 6; i++) {
        t[i] = make_thenable(i);
        cf_promise *p = cf_promise_new(loop);
        ASSERT_OK(cf_promise_adopt_thenable(p, &t[i].base));
        cf_promise_release(cf_promise_then(p, h_show, h_show, (void *)labels[i]));
        cf_promise_release(p);
    }
    loop_run_close(loop);
    ASSERT_EVENTS("then then then then then then sync=sync throw!thrown many=first reject!rejected "
                  "adopt=adopted later later=later");
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(t[i].then_calls, 1);
        ASSERT_EQ(t[i].releases, 1);
    }
    ASSERT_EQ(dtor_count, 1);
}

static void h_return_thenable(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ASSERT_OK(cf_promise_adopt_thenable(next, data));
}

static void test_promise_thenable_from_handler_and_invalid(void)
{
    cf_loop *loop = loop_new();
    test_thenable t = make_thenable(0);
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    chain(&p, h_return_thenable, NULL, (const char *)&t);
    chain(&p, h_show, NULL, (void *)"next");
    cf_promise_release(p);
    static cf_thenable no_then = {NULL, NULL};
    p = cf_promise_from_thenable(loop, &no_then);
    ASSERT_EQ(cf_promise_code(p), CF_EINVAL);
    cf_promise_release(cf_promise_catch(p, h_log, (void *)"no then"));
    cf_promise_release(p);
    p = cf_promise_from_thenable(loop, NULL);
    ASSERT_EQ(cf_promise_code(p), CF_EINVAL);
    cf_promise_release(cf_promise_catch(p, h_log, (void *)"null"));
    cf_promise_release(p);
    test_thenable t2 = make_thenable(0);
    ASSERT_EQ(cf_promise_adopt_thenable(NULL, &t2.base), CF_EINVAL);
    ASSERT_EQ(t2.releases, 1);
    ticker(loop, 3);
    loop_run_close(loop);
    ASSERT_EVENTS("no then null t1 then t2 next=sync t3");
    ASSERT_EQ(t.releases, 1);
}

/* ---- foreign rejection reasons and the resolved flag (bindings to other languages) ---- */

/* An error embedded in a larger struct, as a binding keeps another language's exception. */
typedef struct foreign_error {
    cf_error base;
    int freed;
} foreign_error;

static void foreign_free(void *e)
{
    ((foreign_error *)e)->freed++;
}

static foreign_error foreign_make(const char *message)
{
    foreign_error f = {{.code = CF_EUNKNOWN, .message = message, .file = "<foreign>"}, 0};
    return f;
}

/* Records whether the handler sees the very error given to cf_promise_reject_with. */
static void h_same_error(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    ev(cf_promise_error(settled) == data ? "same" : "copy");
}

static void test_promise_reject_with_custom_destructor(void)
{
    cf_loop *loop = loop_new();
    foreign_error a = foreign_make("a");
    foreign_error late = foreign_make("late");
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject_with(p, &a.base, foreign_free));
    ASSERT_EQ(cf_promise_code(p), CF_EUNKNOWN);
    /* Refused once resolved: the error given is freed at once, with its own destructor. */
    ASSERT_EQ(cf_promise_reject_with(p, &late.base, foreign_free), CF_EINVAL);
    ASSERT_EQ(late.freed, 1);
    ASSERT_EQ(cf_promise_reject_with(NULL, NULL, foreign_free), CF_EINVAL);
    /* A pass-through step and a handler borrow the same error; it is freed once, last. */
    cf_promise *q = cf_promise_then(p, h_log, NULL, (void *)"not called");
    cf_promise *r = cf_promise_catch(q, h_same_error, &a.base);
    cf_promise_release(cf_promise_catch(p, h_show, (void *)"p"));
    cf_promise_release(p);
    cf_promise_release(r);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EVENTS("p!a same");
    ASSERT_EQ(a.freed, 0); /* q still borrows it from p */
    cf_promise_release(q);
    ASSERT_EQ(a.freed, 1);
    /* A NULL error means CF_ENOMEM, as cf_promise_reject. */
    cf_promise *n = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject_with(n, NULL, foreign_free));
    ASSERT_EQ(cf_promise_code(n), CF_ENOMEM);
    handled(n);
    cf_promise_release(n);
    loop_run_close(loop);
    ASSERT_EQ(a.freed, 1);
}

/* A thenable that resolves, then "throws" a foreign reason: the throw is ignored. */
static foreign_error thrown_after;

static cf_error *then_resolve_then_throw(cf_thenable *self, cf_promise *resolver)
{
    (void)self;
    ASSERT_EQ(cf_promise_is_resolved(resolver), 0);
    ASSERT_OK(cf_promise_resolve(resolver, (void *)"first", NULL));
    ASSERT_EQ(cf_promise_is_resolved(resolver), 1);
    ASSERT_EQ(cf_promise_reject_with(resolver, &thrown_after.base, foreign_free), CF_EINVAL);
    return NULL;
}

static void h_check_resolved(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    ASSERT_EQ(cf_promise_is_resolved(next), 0);
    ASSERT_OK(cf_promise_resolve(next, (void *)"v", NULL));
    ASSERT_EQ(cf_promise_is_resolved(next), 1);
}

static void test_promise_is_resolved(void)
{
    cf_loop *loop = loop_new();
    ASSERT_EQ(cf_promise_is_resolved(NULL), 0);
    cf_promise *inner = cf_promise_new(loop);
    cf_promise *p = cf_promise_new(loop);
    ASSERT_EQ(cf_promise_is_resolved(p), 0);
    /* Following a pending promise: resolved, still pending, further settles refused. */
    ASSERT_OK(cf_promise_adopt(p, inner));
    ASSERT_EQ(cf_promise_is_resolved(p), 1);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
    ASSERT_EQ(cf_promise_resolve(p, (void *)"x", count_dtor), CF_EINVAL);
    ASSERT_EQ(cf_promise_is_resolved(inner), 0);
    ASSERT_OK(cf_promise_resolve(inner, (void *)"inner", NULL));
    ASSERT_EQ(cf_promise_is_resolved(inner), 1);
    cf_promise_release(cf_promise_then(p, h_show, h_show, (void *)"p"));
    thrown_after = foreign_make("thrown after");
    static cf_thenable t = {then_resolve_then_throw, NULL};
    cf_promise *th = cf_promise_from_thenable(loop, &t);
    ASSERT_EQ(cf_promise_is_resolved(th), 1);
    cf_promise_release(cf_promise_then(th, h_show, h_show, (void *)"thenable"));
    cf_promise *h = cf_promise_resolved(loop, NULL, NULL);
    ASSERT_EQ(cf_promise_is_resolved(h), 1);
    chain(&h, h_check_resolved, NULL, NULL);
    chain(&h, h_show, NULL, (void *)"handler");
    cf_promise_release(h);
    cf_promise_release(inner);
    cf_promise_release(p);
    cf_promise_release(th);
    loop_run_close(loop);
    ASSERT_EVENTS("thenable=first handler=v p=inner");
    ASSERT_EQ(thrown_after.freed, 1);
}

/* A thenable whose then is never called (the loop closes first) is released. */
static void test_promise_thenable_released_at_close(void)
{
    cf_loop *loop = loop_new();
    test_thenable t = make_thenable(0);
    cf_promise *p = cf_promise_from_thenable(loop, &t.base);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(t.then_calls, 0);
    ASSERT_EQ(t.releases, 1);
}

/* ---- finally ---- */

static void h_finally_adopt(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ev("finally");
    ASSERT_OK(cf_promise_adopt(next, data));
}

static void test_promise_finally_passes_through(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_resolved(loop, (void *)"value", NULL);
    chain(&p, NULL, NULL, NULL);
    cf_promise *f = cf_promise_finally(p, h_recover, (void *)"ignored");
    cf_promise_release(p);
    p = f;
    chain(&p, h_show, NULL, (void *)"after1");
    cf_promise_release(p);

    p = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "oops"));
    f = cf_promise_finally(p, h_log, (void *)"finally2");
    cf_promise_release(p);
    p = f;
    chain(&p, NULL, h_show, (void *)"after2");
    cf_promise_release(p);

    p = cf_promise_resolved(loop, (void *)"v", NULL);
    f = cf_promise_finally(p, h_throw, (void *)"from finally");
    cf_promise_release(p);
    p = f;
    chain(&p, NULL, h_show, (void *)"after3");
    cf_promise_release(p);
    loop_run_close(loop);
    /* Chain 1 has one more (pass-through) step, so it ends one turn after chain 2. */
    ASSERT_EVENTS("finally2 after3!from finally after2!oops after1=value");
}

/* finally costs the turns V8 charges: the step after it runs two turns later than then's. */
static void test_promise_finally_turn_cost(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_resolved(loop, (void *)"f", NULL);
    cf_promise *f = cf_promise_finally(p, h_log, (void *)"finally");
    cf_promise_release(p);
    p = f;
    chain(&p, h_show, NULL, (void *)"after finally");
    cf_promise_release(p);
    p = cf_promise_resolved(loop, (void *)"t", NULL);
    chain(&p, h_follow, NULL, (void *)"then");
    chain(&p, h_show, NULL, (void *)"after then");
    cf_promise_release(p);
    ticker(loop, 5);
    loop_run_close(loop);
    ASSERT_EVENTS("finally then t1 after then=t t2 t3 after finally=f t4 t5");
}

static void test_promise_finally_waits_for_adopted_promise(void)
{
    cf_loop *loop = loop_new();
    cf_promise *wait = cf_promise_new(loop);
    cf_promise *failing = cf_promise_new(loop);
    cf_promise *p = cf_promise_resolved(loop, (void *)"original", NULL);
    cf_promise *f = cf_promise_finally(p, h_finally_adopt, wait);
    cf_promise_release(cf_promise_then(f, h_show, h_show, (void *)"waited"));
    cf_promise *f2 = cf_promise_finally(p, h_finally_adopt, failing);
    cf_promise_release(cf_promise_then(f2, h_show, h_show, (void *)"replaced"));
    ASSERT_OK(cf_set_timeout(loop, 1, resolve_timer, wait, NULL));
    ASSERT_OK(cf_set_timeout(loop, 2, reject_timer, failing, NULL));
    cf_promise_release(p);
    cf_promise_release(f);
    cf_promise_release(f2);
    cf_promise_release(wait);
    cf_promise_release(failing);
    loop_run_close(loop);
    ASSERT_EVENTS("finally finally timer waited=original timer replaced!late error");
}

/* ---- on_settle ---- */

static void settle_cb(cf_promise *settled, void *data)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s:%d", (const char *)data, (int)cf_promise_state(settled));
    ev(buf);
}

static void test_promise_on_settle(void)
{
    cf_loop *loop = loop_new();
    cf_promise *ok = cf_promise_resolved(loop, NULL, NULL);
    cf_promise *bad = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "x"));
    ASSERT_OK(cf_promise_on_settle(ok, settle_cb, (void *)"ok"));
    ASSERT_OK(cf_promise_on_settle(bad, settle_cb, (void *)"bad")); /* counts as handled */
    ticker(loop, 1);
    ASSERT_EQ(cf_promise_on_settle(NULL, settle_cb, NULL), CF_EINVAL);
    ASSERT_EQ(cf_promise_on_settle(ok, NULL, NULL), CF_EINVAL);
    ASSERT(cf_promise_then(NULL, h_log, NULL, NULL) == NULL);
    cf_promise_release(ok);
    cf_promise_release(bad);
    loop_run_close(loop);
    ASSERT_EVENTS("ok:1 bad:2 t1");
}

/* An embedded reaction (what await uses) runs one turn after settle and can be reused. */
typedef struct embedded {
    cf__reaction r;
    int runs;
} embedded;

static void embedded_fn(cf__reaction *r, cf_promise *settled)
{
    embedded *e = (embedded *)r;
    e->runs++;
    ev(cf_promise_value(settled));
    if (e->runs == 1) {
        cf__reaction_init(r, embedded_fn);
        ASSERT_OK(cf__promise_react(settled, r));
    }
}

static void test_promise_embedded_reaction(void)
{
    cf_loop *loop = loop_new();
    embedded e;
    cf__reaction_init(&e.r, embedded_fn);
    e.runs = 0;
    cf_promise *p = cf_promise_resolved(loop, (void *)"e", NULL);
    ASSERT_OK(cf__promise_react(p, &e.r));
    cf_promise_release(p);
    ticker(loop, 3);
    loop_run_close(loop);
    ASSERT_EVENTS("e t1 e t2 t3");
    ASSERT_EQ(e.runs, 2);
}

/* ---- ownership ---- */

static void test_promise_dtor_runs_once_when_last_reference_goes(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    cf_promise *p = cf_promise_new(loop);
    cf_promise *d = cf_promise_then(p, h_log, NULL, (void *)"reaction");
    ASSERT_OK(cf_promise_resolve(p, (void *)"v", count_dtor));
    cf_promise_release(p); /* the queued reaction still holds it */
    ASSERT_EQ(dtor_count, 0);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(dtor_count, 1);
    cf_promise_release(d);

    p = cf_promise_resolved(loop, (void *)"w", count_dtor);
    cf_promise_retain(p);
    cf_promise_release(p);
    ASSERT_EQ(dtor_count, 1);
    cf_promise_release(p);
    ASSERT_EQ(dtor_count, 2);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EVENTS("reaction");
}

/* A pending promise whose creator dropped it is kept by the loop until it settles. */
static void test_promise_pending_kept_by_loop(void)
{
    cf_loop *loop = loop_new();
    cf_promise *p = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(p, h_show, NULL, (void *)"kept"));
    ASSERT_OK(cf_set_timeout(loop, 1, resolve_timer, p, NULL));
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EVENTS("timer kept=late");
}

static void test_promise_take(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    char *value = cf_strdup("owned");
    cf_promise *p = cf_promise_resolved(loop, value, count_dtor);
    void *out = NULL;
    cf_promise_retain(p);
    ASSERT_EQ(cf_promise_take(p, &out), CF_EBUSY);
    cf_promise_release(p);
    ASSERT_OK(cf_promise_take(p, &out));
    ASSERT(out == value);
    ASSERT(cf_promise_value(p) == NULL);
    cf_promise_release(p);
    ASSERT_EQ(dtor_count, 0);
    cf_free(out);

    cf_promise *pending = cf_promise_new(loop);
    ASSERT_EQ(cf_promise_take(pending, &out), CF_EINVAL);
    ASSERT_EQ(cf_promise_take(NULL, &out), CF_EINVAL);
    ASSERT_EQ(cf_promise_take(pending, NULL), CF_EINVAL);
    cf_promise *bad = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "x"));
    handled(bad);
    ASSERT_EQ(cf_promise_take(bad, &out), CF_EINVAL);
    ASSERT_OK(cf_promise_resolve(pending, cf_strdup("through"), cf_free));
    cf_promise *d = cf_promise_then(pending, NULL, NULL, NULL); /* borrows from pending */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_take(d, &out), CF_EBUSY); /* pending still holds the value */
    cf_promise_release(pending);
    ASSERT_OK(cf_promise_take(d, &out));
    ASSERT_STR_EQ(out, "through");
    cf_free(out);
    cf_promise_release(d);
    cf_promise_release(bad);
    loop_run_close(loop);
}

/* Everything left at cf_loop_close is freed, pending promises and queued reactions too. */
static void test_promise_loop_close_frees_everything(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    cf_promise *never = cf_promise_new(loop);
    cf_promise_release(cf_promise_then(never, h_log, NULL, (void *)"never"));
    cf_promise *held = cf_promise_resolved(loop, (void *)"held", count_dtor);
    cf_promise *chainp = cf_promise_retain(held);
    for (int i = 0; i < 10; i++) {
        chain(&chainp, h_log, NULL, (void *)"queued");
    }
    cf_promise *late = cf_promise_new(loop);
    ASSERT_OK(cf_promise_resolve(late, (void *)"late", count_dtor));
    cf_promise *adopting = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(adopting, never));
    cf_promise_release(never);
    cf_promise_release(chainp);
    cf_promise_release(adopting);
    (void)held;
    (void)late;
    ASSERT_OK(cf_loop_close(loop)); /* reactions never ran; held and late are freed */
    ASSERT_EQ(dtor_count, 2);
    ASSERT_EVENTS("");
}

/* ---- unhandled rejections ---- */

/* Run `loop` with stderr sent to a pipe; returns cf_run's result and the text in `out`. */
static int run_mode_capturing_stderr(cf_loop *loop, cf_run_mode mode, char *out, size_t len)
{
    int fds[2];
    ASSERT_OK(pipe(fds));
    fflush(stderr);
    int saved = dup(2);
    ASSERT(saved >= 0);
    ASSERT(dup2(fds[1], 2) >= 0);
    int rc = cf_run(loop, mode);
    fflush(stderr);
    ASSERT(dup2(saved, 2) >= 0);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], out, len - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
    return rc;
}

static int run_capturing_stderr(cf_loop *loop, char *out, size_t len)
{
    return run_mode_capturing_stderr(loop, CF_RUN_DEFAULT, out, len);
}

static void test_promise_unhandled_default_fails_run(void)
{
    cf_loop *loop = loop_new();
    cf_error *err = cf_error_new(CF_EIO, "films.c", 12, "main", "boom");
    cf_promise_release(cf_promise_rejected(loop, err));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "second")));
    ASSERT_OK(cf_set_timeout(loop, 1, m_log, (void *)"timer", NULL));
    char text[512];
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EUNHANDLED);
    ASSERT_STR_EQ(text, "calcifer: unhandled promise rejection: boom (at films.c:12 in main)\n");
    ASSERT_EVENTS(""); /* the run stopped before the timer */
    /* Another run reports the next one (as a fresh process would). */
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EUNHANDLED);
    ASSERT(strstr(text, "unhandled promise rejection: second (at ") != NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EVENTS("timer");
    ASSERT_OK(cf_loop_close(loop));
}

static void on_unhandled(cf_promise *p, void *data)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s:%s", (const char *)data, cf_promise_error(p)->message);
    ev(buf);
}

static void on_handled(cf_promise *p, void *data)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s:%s", (const char *)data, cf_promise_error(p)->message);
    ev(buf);
}

static void attach_catch_micro(void *data)
{
    cf_promise_release(cf_promise_catch(data, h_log, (void *)"caught in microtask"));
}

static void test_promise_unhandled_hook_and_handled_in_time(void)
{
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_on_unhandled_rejection(loop, on_unhandled, (void *)"unhandled"));
    cf_promise *a = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "a"));
    cf_promise *b = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "b"));
    cf_promise *c = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "c"));
    /* b is handled by a later microtask of the same drain: never reported. */
    ASSERT_OK(cf_queue_microtask(loop, attach_catch_micro, b));
    cf_promise_release(a);
    cf_promise_release(b);
    cf_promise_release(c);
    loop_run_close(loop);
    ASSERT_EVENTS("caught in microtask unhandled:a unhandled:c");
}

static cf_promise *late_promise;

static void attach_late(void *data)
{
    (void)data;
    ev("attach");
    cf_promise_release(cf_promise_catch(late_promise, h_log, (void *)"caught"));
    ASSERT_OK(cf_queue_microtask(cf_promise_loop(late_promise), m_log, (void *)"micro"));
    cf_promise_release(late_promise);
}

static void test_promise_rejection_handled_later(void)
{
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_on_unhandled_rejection(loop, on_unhandled, (void *)"unhandled"));
    ASSERT_OK(cf_on_rejection_handled(loop, on_handled, (void *)"handled"));
    late_promise = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "late"));
    ASSERT_OK(cf_set_timeout(loop, 1, attach_late, NULL, NULL));
    ASSERT_OK(cf_set_timeout(loop, 1, m_log, (void *)"timer 2", NULL));
    loop_run_close(loop);
    ASSERT_EVENTS("unhandled:late attach caught micro handled:late timer 2");
}

static void hook_rejects_again(cf_promise *p, void *data)
{
    cf_loop *loop = data;
    on_unhandled(p, (void *)"report");
    if (strcmp(cf_promise_error(p)->message, "first") == 0) {
        cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "from hook")));
        ASSERT_OK(cf_next_tick(loop, m_log, (void *)"tick from hook"));
    }
}

/* A rejection made by the hook is reported after the work the hook queued, same drain. */
static void test_promise_rejection_made_by_hook(void)
{
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_on_unhandled_rejection(loop, hook_rejects_again, loop));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "first")));
    ASSERT_OK(cf_set_immediate(loop, m_log, (void *)"immediate", NULL));
    loop_run_close(loop);
    ASSERT_EVENTS("report:first tick from hook report:from hook immediate");
}

/* The hook can be removed again (the default comes back). */
static void test_promise_unhandled_hook_reset(void)
{
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_on_unhandled_rejection(loop, on_unhandled, (void *)"u"));
    ASSERT_OK(cf_on_unhandled_rejection(loop, NULL, NULL));
    ASSERT_OK(cf_on_rejection_handled(loop, NULL, NULL));
    ASSERT_EQ(cf_on_unhandled_rejection(NULL, on_unhandled, NULL), CF_EINVAL);
    ASSERT_EQ(cf_on_rejection_handled(NULL, on_handled, NULL), CF_EINVAL);
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "x")));
    char text[256];
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EUNHANDLED);
    ASSERT(strncmp(text, "calcifer: unhandled promise rejection: x", 40) == 0);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- promisify ---- */

/* A callback-style operation: calls cb(status, value, data) from a timer. */
typedef void (*fake_op_cb)(int status, char *value, void *data);

typedef struct fake_op {
    int status;
    fake_op_cb cb;
    void *data;
} fake_op;

static void fake_op_fire(void *arg)
{
    fake_op *op = arg;
    op->cb(op->status, op->status == 0 ? cf_strdup("result") : NULL, op->data);
    cf_free(op);
}

static int fake_op_start(cf_loop *loop, int status, fake_op_cb cb, void *data)
{
    if (status == CF_EBADF)
        return CF_EBADF; /* fails synchronously: cb never runs */
    fake_op *op = cf_malloc(sizeof(*op));
    if (!op)
        return CF_ENOMEM;
    *op = (fake_op){status, cb, data};
    return cf_set_timeout(loop, 1, fake_op_fire, op, NULL);
}

/* The recipe: the completion settles the promise, then drops the operation's reference. */
static void fake_op_done(int status, char *value, void *data)
{
    cf_promise *p = data;
    cf_promise_settle(p, status, value, cf_free,
                      status < 0 ? CF_ERROR_SYS(status, "fake op") : NULL);
    cf_promise_release(p);
}

static cf_promise *fake_op_p(cf_loop *loop, int status)
{
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    int rc = fake_op_start(loop, status, fake_op_done, cf_promise_retain(p));
    if (rc < 0) {
        cf_promise_reject(p, CF_ERROR_SYS(rc, "fake op"));
        cf_promise_release(p); /* the operation's reference */
    }
    return p;
}

static void test_promise_promisify(void)
{
    cf_loop *loop = loop_new();
    cf_promise *ok = fake_op_p(loop, 0);
    cf_promise *fail = fake_op_p(loop, CF_EIO);
    cf_promise *sync_fail = fake_op_p(loop, CF_EBADF);
    ASSERT_EQ(cf_promise_code(sync_fail), CF_EBADF);
    cf_promise_release(cf_promise_then(ok, h_show, h_show, (void *)"ok"));
    cf_promise_release(cf_promise_then(fail, h_show, h_show, (void *)"fail"));
    cf_promise_release(cf_promise_then(sync_fail, h_show, h_show, (void *)"sync"));
    cf_promise_release(ok);
    cf_promise_release(fail);
    cf_promise_release(sync_fail);
    loop_run_close(loop);
    ASSERT_EVENTS("sync!fake op: bad file descriptor ok=result fail!fake op: i/o error");
}

static void test_promise_settle_variants(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_settle(p, CF_ENOENT, (void *)"dropped", count_dtor, NULL));
    ASSERT_EQ(dtor_count, 1);
    ASSERT_EQ(cf_promise_code(p), CF_ENOENT);
    ASSERT_STR_EQ(cf_promise_error(p)->message, "no such file or directory");
    handled(p);
    cf_promise_release(p);
    p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_settle(p, 3, (void *)"count", NULL, CF_ERROR(CF_EIO, "unused")));
    ASSERT_STR_EQ(cf_promise_value(p), "count");
    cf_promise_release(p);
    p = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject(p, NULL)); /* a NULL error means CF_ENOMEM */
    ASSERT_EQ(cf_promise_code(p), CF_ENOMEM);
    handled(p);
    cf_promise_release(p);
    loop_run_close(loop);
}

/* ---- scale, several loops, OOM ---- */

static int chain_steps;

static void h_count(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
    chain_steps++;
}

static void test_promise_long_chain(void)
{
    cf_loop *loop = loop_new();
    chain_steps = 0;
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < 100000; i++) {
        chain(&p, h_count, NULL, NULL);
    }
    cf_promise_release(p);
    /* A rejection through a long pass-through chain: no recursion. */
    p = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "deep"));
    for (int i = 0; i < 100000; i++) {
        chain(&p, h_count, NULL, NULL);
    }
    chain(&p, NULL, h_show, (void *)"end");
    cf_promise_release(p);
    loop_run_close(loop);
    ASSERT_EQ(chain_steps, 100000);
    ASSERT_EVENTS("end!deep");
}

static void test_promise_two_loops(void)
{
    cf_loop *a = loop_new();
    cf_loop *b = NULL;
    ASSERT_OK(cf_loop_new(&b));
    cf_promise *pa = cf_promise_resolved(a, (void *)"a", NULL);
    cf_promise *pb = cf_promise_resolved(b, (void *)"b", NULL);
    cf_promise_release(cf_promise_then(pa, h_show, NULL, (void *)"loop a"));
    cf_promise_release(cf_promise_then(pb, h_show, NULL, (void *)"loop b"));
    cf_promise_release(pa);
    cf_promise_release(pb);
    ASSERT_OK(cf_run(b, CF_RUN_DEFAULT));
    ASSERT_EVENTS("loop b=b");
    ASSERT_OK(cf_loop_close(b));
    loop_run_close(a);
    ASSERT_EVENTS("loop b=b loop a=a");
}

/* A small program run with allocation N failing, N = 1, 2, ...: no crash, no leak. */
static int oom_program(cf_loop *loop)
{
    cf_promise *p = cf_promise_resolved(loop, cf_strdup("v"), cf_free);
    if (!p)
        return CF_ENOMEM;
    cf_promise *q = cf_promise_then(p, h_recover, NULL, (void *)"x");
    cf_promise *f = cf_promise_finally(q, h_log, (void *)"f");
    cf_promise *inputs[] = {p, q, f, NULL};
    cf_promise *all = cf_promise_allv(loop, inputs, 4);
    cf_promise *any = cf_promise_anyv(loop, inputs, 3);
    test_thenable t = make_thenable(0);
    cf_promise *th = cf_promise_from_thenable(loop, &t.base);
    cf_promise *c1 = cf_promise_catch(all, NULL, NULL);
    cf_promise *c2 = cf_promise_catch(th, NULL, NULL);
    cf_promise *ps[] = {p, q, f, all, any, th, c1, c2};
    int failed = 0;
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        failed |= ps[i] == NULL;
        cf_promise_release(ps[i]);
    }
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return failed ? CF_ENOMEM : rc;
}

static void test_promise_out_of_memory(void)
{
    for (int sticky = 0; sticky < 2; sticky++) {
        for (long n = 1; n < 200; n++) {
            cf_loop *loop = NULL;
            ASSERT_OK(cf_loop_new(&loop));
            cf_on_unhandled_rejection(loop, on_unhandled, (void *)"oom");
            cf__alloc_fail_after(n, sticky);
            int rc = oom_program(loop);
            long counted = cf__alloc_fail_after(0, 0);
            ASSERT_OK(cf_loop_close(loop));
            if (rc == 0 && counted < n)
                break; /* succeeded without reaching allocation n */
        }
    }
    ev_reset();
}

/* ---- rejections with any value, modes, uncaught exceptions ---- */

static int freed_values;

static void count_free(void *v)
{
    (void)v;
    freed_values++;
}

/* Records "<label>:value=<n>" / "<label>:value=undefined" / "<label>:error=<message>". */
static void h_reason(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[128];
    int is_error = cf_promise_reason_is_error(settled);
    void *r = cf_promise_reason(settled);
    if (is_error == 1)
        snprintf(buf, sizeof buf, "%s:error=%s", (const char *)data, ((cf_error *)r)->message);
    else if (!r)
        snprintf(buf, sizeof buf, "%s:value=undefined", (const char *)data);
    else
        snprintf(buf, sizeof buf, "%s:value=%d", (const char *)data, *(int *)r);
    ev(buf);
}

static void test_promise_reject_with_any_value(void)
{
    cf_loop *loop = loop_new();
    static int answer = 42;
    freed_values = 0;
    cf_promise *a = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject_value(a, &answer, count_free));
    ASSERT_EQ(cf_promise_state(a), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_reason_is_error(a), 0);
    ASSERT(cf_promise_reason(a) == &answer);
    ASSERT_EQ(cf_promise_code(a), CF_EUNKNOWN); /* the stand-in error, for error-only code */
    ASSERT(cf_promise_error(a) != NULL);
    cf_promise *u = cf_promise_rejected_value(loop, NULL, NULL); /* ≈ Promise.reject(undefined) */
    cf_promise *e = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "io"));
    ASSERT_EQ(cf_promise_reason_is_error(e), 1);
    ASSERT(cf_promise_reason(e) == cf_promise_error(e));
    /* Through a pass-through step (then without a rejection handler) the value is the same. */
    cf_promise *a2 = cf_promise_then(a, h_log, NULL, (void *)"skipped");
    cf_promise_release(cf_promise_catch(a2, h_reason, (void *)"a"));
    cf_promise_release(cf_promise_catch(u, h_reason, (void *)"u"));
    cf_promise_release(cf_promise_catch(e, h_reason, (void *)"e"));
    /* Adoption and follow carry the value too. */
    cf_promise *adopter = cf_promise_new(loop);
    ASSERT_OK(cf_promise_adopt(adopter, a));
    cf_promise_release(cf_promise_catch(adopter, h_reason, (void *)"adopt"));
    cf_promise_release(adopter);
    cf_promise_release(a2);
    cf_promise_release(u);
    cf_promise_release(e);
    ASSERT_EQ(freed_values, 0);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EVENTS("u:value=undefined e:error=io a:value=42 adopt:value=42");
    ASSERT_EQ(freed_values, 0); /* `a` is still ours */
    cf_promise_release(a);
    ASSERT_EQ(freed_values, 1); /* the destructor ran once, with the last reference */
    ASSERT_OK(cf_loop_close(loop));
}

static void test_promise_reject_value_bad_input(void)
{
    cf_loop *loop = loop_new();
    freed_values = 0;
    int v = 1;
    ASSERT_EQ(cf_promise_reject_value(NULL, &v, count_free), CF_EINVAL);
    ASSERT_EQ(freed_values, 1); /* taken on failure too */
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    ASSERT_EQ(cf_promise_reject_value(p, &v, count_free), CF_EINVAL); /* already settled */
    ASSERT_EQ(freed_values, 2);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_EQ(cf_promise_reason_is_error(p), CF_EINVAL); /* not rejected */
    ASSERT(cf_promise_reason(p) == NULL);
    ASSERT_EQ(cf_promise_reason_is_error(NULL), CF_EINVAL);
    ASSERT(cf_promise_reason(NULL) == NULL);
    cf_promise_release(p);
    ASSERT(cf_promise_rejected_value(NULL, &v, count_free) == NULL);
    ASSERT_EQ(freed_values, 3);
    /* A second reject_value on a pending promise that was rejected: the first one counts. */
    cf_promise *q = cf_promise_new(loop);
    ASSERT_OK(cf_promise_reject_value(q, NULL, NULL));
    ASSERT_EQ(cf_promise_reject(q, CF_ERROR(CF_EIO, "late")), CF_EINVAL);
    ASSERT_EQ(cf_promise_reason_is_error(q), 0);
    cf_promise_release(cf_promise_catch(q, h_nothing, NULL));
    cf_promise_release(q);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void test_promise_reject_value_freed_at_close(void)
{
    cf_loop *loop = loop_new();
    freed_values = 0;
    static int v = 5;
    cf_promise *p = cf_promise_rejected_value(loop, &v, count_free);
    cf_promise_release(cf_promise_catch(p, h_nothing, NULL)); /* handled */
    (void)p;                                                  /* kept: cf_loop_close frees it */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(freed_values, 1);
}

/* Runs the loop with stderr captured (as run_capturing_stderr) and records the exit code. */
static void reject_boom_and_handle_later_timer(void *data)
{
    ev("timer");
    cf_promise_release(cf_promise_catch(data, h_show, (void *)"caught"));
    cf_promise_release(data);
}

/* One program in one mode: reject, handle it in a timer 5 ms later; returns cf_run's code. */
static int mode_program(cf_unhandled_mode mode, char *text, size_t len, int *exit_code)
{
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_loop_set_unhandled_rejections(loop, mode));
    cf_promise *p = cf_promise_rejected(loop, cf_error_new(CF_EIO, "m.c", 3, "main", "boom"));
    ASSERT_OK(cf_set_timeout(loop, 5, reject_boom_and_handle_later_timer, p, NULL));
    ASSERT_OK(cf_set_timeout(loop, 10, m_log, (void *)"timer2", NULL));
    int rc = run_capturing_stderr(loop, text, len);
    *exit_code = cf_unhandled_exit_code(loop);
    if (rc < 0 && mode != CF_UNHANDLED_WARN_WITH_ERROR_CODE) {
        /* As a fresh process would not, a second run goes on: the timers handle `p`. */
        char later[512];
        ASSERT_OK(run_capturing_stderr(loop, later, sizeof later));
        ASSERT(strstr(later, "PromiseRejectionHandledWarning") != NULL);
    }
    ASSERT_OK(cf_loop_close(loop));
    return rc;
}

static void test_promise_unhandled_modes(void)
{
    char text[1024];
    int code = -1;
    /* throw: the run fails, nothing after it runs. */
    ASSERT_EQ(mode_program(CF_UNHANDLED_THROW, text, sizeof text, &code), CF_EUNHANDLED);
    ASSERT_STR_EQ(text, "calcifer: unhandled promise rejection: boom (at m.c:3 in main)\n");
    ASSERT_EVENTS("timer caught!boom timer2"); /* only in the second run */
    /* strict without an uncaught-exception hook: the same. */
    ASSERT_EQ(mode_program(CF_UNHANDLED_STRICT, text, sizeof text, &code), CF_EUNHANDLED);
    ASSERT_STR_EQ(text, "calcifer: unhandled promise rejection: boom (at m.c:3 in main)\n");
    /* warn: a warning, the run goes on, and the late handler gives the handled warning. */
    ASSERT_OK(mode_program(CF_UNHANDLED_WARN, text, sizeof text, &code));
    ASSERT_STR_EQ(text, "calcifer: UnhandledPromiseRejectionWarning (rejection id: 1): boom (at "
                        "m.c:3 in main)\ncalcifer: PromiseRejectionHandledWarning: Promise "
                        "rejection was handled asynchronously (rejection id: 1)\n");
    ASSERT_EVENTS("timer caught!boom timer2");
    ASSERT_EQ(code, 0);
    /* warn-with-error-code: the run goes on to the end, then fails (≈ exit code 1). */
    ASSERT_EQ(mode_program(CF_UNHANDLED_WARN_WITH_ERROR_CODE, text, sizeof text, &code),
              CF_EUNHANDLED);
    ASSERT(strstr(text, "UnhandledPromiseRejectionWarning (rejection id: 1): boom") != NULL);
    ASSERT(strstr(text, "PromiseRejectionHandledWarning") != NULL);
    ASSERT_EVENTS("timer caught!boom timer2");
    ASSERT_EQ(code, 1);
    /* none: only the handled-later warning (as Node). */
    ASSERT_OK(mode_program(CF_UNHANDLED_NONE, text, sizeof text, &code));
    ASSERT_STR_EQ(text, "calcifer: PromiseRejectionHandledWarning: Promise rejection was handled "
                        "asynchronously (rejection id: 1)\n");
    ASSERT_EVENTS("timer caught!boom timer2");
    ASSERT_EQ(code, 0);
}

static void count_unhandled(cf_promise *p, void *data)
{
    (void)p;
    ++*(int *)data;
}

/*
 * warn-with-error-code: cf_run itself returns CF_EUNHANDLED once it drains the loop after a
 * warning (≈ Node's exit code 1), not before, and again at the end of every later run that
 * drains it (process.exitCode stays 1); a run that leaves work returns > 0; with an
 * unhandled-rejection hook there is no exit code.
 */
static void test_promise_warn_with_error_code_fails_drained_run(void)
{
    char text[512];
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_loop_set_unhandled_rejections(loop, CF_UNHANDLED_WARN_WITH_ERROR_CODE));
    ASSERT_OK(run_capturing_stderr(loop, text, sizeof text)); /* nothing rejected: 0 */
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "boom")));
    ASSERT_OK(cf_set_timeout(loop, 1, m_log, (void *)"t1", NULL));
    ASSERT_OK(cf_set_timeout(loop, 30, m_log, (void *)"t2", NULL));
    /* A run that leaves work: > 0, though main's rejection was warned about. */
    ASSERT_EQ(run_mode_capturing_stderr(loop, CF_RUN_NOWAIT, text, sizeof text), 1);
    ASSERT(strstr(text, "UnhandledPromiseRejectionWarning (rejection id: 1): boom") != NULL);
    ASSERT_EQ(cf_unhandled_exit_code(loop), 1);
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EUNHANDLED);
    ASSERT_EVENTS("t1 t2"); /* the run went to its end */
    ASSERT_STR_EQ(text, "");
    ev_reset();
    ASSERT_OK(cf_set_timeout(loop, 1, m_log, (void *)"again", NULL));
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EUNHANDLED);
    ASSERT_EVENTS("again");
    ASSERT_OK(cf_loop_close(loop));

    /* With an unhandled-rejection hook: the hook, no warning, no exit code. */
    int hooked = 0;
    loop = loop_new();
    ASSERT_OK(cf_loop_set_unhandled_rejections(loop, CF_UNHANDLED_WARN_WITH_ERROR_CODE));
    ASSERT_OK(cf_on_unhandled_rejection(loop, count_unhandled, &hooked));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "boom")));
    ASSERT_OK(run_capturing_stderr(loop, text, sizeof text));
    ASSERT_EQ(hooked, 1);
    ASSERT_STR_EQ(text, "");
    ASSERT_EQ(cf_unhandled_exit_code(loop), 0);
    ASSERT_OK(cf_loop_close(loop));

    /* warn: a warning, and the run still succeeds. */
    loop = loop_new();
    ASSERT_OK(cf_loop_set_unhandled_rejections(loop, CF_UNHANDLED_WARN));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "boom")));
    ASSERT_OK(run_capturing_stderr(loop, text, sizeof text));
    ASSERT(strstr(text, "UnhandledPromiseRejectionWarning (rejection id: 1): boom") != NULL);
    ASSERT_OK(cf_loop_close(loop));
}

static void on_uncaught(const cf_error *err, cf_promise *p, void *data)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s:%s(%s)", (const char *)data, err->message,
             p ? "unhandledRejection" : "uncaughtException");
    ev(buf);
}

static cf_loop *uncaught_loop;

static void micro_throws(void *data)
{
    ev(data);
    ASSERT_EQ(cf_throw_uncaught(uncaught_loop, CF_ERROR(CF_EIO, "from micro")), 0);
}

static void test_promise_uncaught_hook_modes(void)
{
    static const cf_unhandled_mode modes[] = {CF_UNHANDLED_THROW, CF_UNHANDLED_STRICT,
                                              CF_UNHANDLED_WARN, CF_UNHANDLED_NONE};
    static const char *const want[] = {
        "micro u:from micro(uncaughtException) micro2 u:boom(unhandledRejection)",
        "micro u:from micro(uncaughtException) micro2 u:boom(unhandledRejection) r:boom",
        "micro u:from micro(uncaughtException) micro2 r:boom",
        "micro u:from micro(uncaughtException) micro2 r:boom",
    };
    for (size_t i = 0; i < CF_ARRAY_LEN(modes); i++) {
        cf_loop *loop = loop_new();
        uncaught_loop = loop;
        ASSERT_OK(cf_loop_set_unhandled_rejections(loop, modes[i]));
        ASSERT_OK(cf_on_uncaught_exception(loop, on_uncaught, (void *)"u"));
        if (i > 0)
            ASSERT_OK(cf_on_unhandled_rejection(loop, on_unhandled, (void *)"r"));
        cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "boom")));
        ASSERT_OK(cf_queue_microtask(loop, micro_throws, (void *)"micro"));
        ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"micro2"));
        char text[512];
        ASSERT_OK(run_capturing_stderr(loop, text, sizeof text));
        ASSERT_STR_EQ(events, want[i]);
        if (i == 2)
            ASSERT(strstr(text, "UnhandledPromiseRejectionWarning") != NULL); /* warn: always */
        else
            ASSERT_STR_EQ(text, "");
        ASSERT_OK(cf_loop_close(loop));
    }
}

static void micro_throws_parse(void *data)
{
    ev(data);
    cf_error *err = cf_error_new(CF_EPARSE, "x.c", 7, "cb", "bad row");
    ASSERT_EQ(cf_throw_uncaught(uncaught_loop, err), CF_EPARSE); /* no hook: fails the run */
}

static void test_promise_uncaught_without_hook_fails_run(void)
{
    cf_loop *loop = loop_new();
    uncaught_loop = loop;
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"a"));
    ASSERT_OK(cf_queue_microtask(loop, micro_throws_parse, (void *)"throws"));
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"b"));
    ASSERT_OK(cf_set_timeout(loop, 1, m_log, (void *)"timer", NULL));
    char text[256];
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EPARSE);
    ASSERT_STR_EQ(text, "calcifer: uncaught exception: bad row (at x.c:7 in cb)\n");
    ASSERT_EVENTS("a throws");               /* stopped at the end of the microtask that threw */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* a later run goes on */
    ASSERT_EVENTS("a throws b timer");
    ASSERT_OK(cf_loop_close(loop));
}

static void test_promise_modes_and_hooks_bad_input(void)
{
    cf_loop *loop = loop_new();
    ASSERT_EQ(cf_loop_set_unhandled_rejections(NULL, CF_UNHANDLED_WARN), CF_EINVAL);
    ASSERT_EQ(cf_loop_set_unhandled_rejections(loop, (cf_unhandled_mode)5), CF_EINVAL);
    ASSERT_EQ(cf_loop_set_unhandled_rejections(loop, (cf_unhandled_mode)-1), CF_EINVAL);
    ASSERT_EQ(cf_unhandled_rejections_parse(NULL), CF_EINVAL);
    ASSERT_EQ(cf_unhandled_rejections_parse("loud"), CF_EINVAL);
    ASSERT_EQ(cf_unhandled_rejections_parse("Throw"), CF_EINVAL);
    ASSERT_EQ(cf_unhandled_rejections_parse("throw"), CF_UNHANDLED_THROW);
    ASSERT_EQ(cf_unhandled_rejections_parse("strict"), CF_UNHANDLED_STRICT);
    ASSERT_EQ(cf_unhandled_rejections_parse("warn"), CF_UNHANDLED_WARN);
    ASSERT_EQ(cf_unhandled_rejections_parse("warn-with-error-code"),
              CF_UNHANDLED_WARN_WITH_ERROR_CODE);
    ASSERT_EQ(cf_unhandled_rejections_parse("none"), CF_UNHANDLED_NONE);
    ASSERT_EQ(cf_unhandled_exit_code(NULL), CF_EINVAL);
    ASSERT_EQ(cf_unhandled_exit_code(loop), 0);
    ASSERT_EQ(cf_on_uncaught_exception(NULL, on_uncaught, NULL), CF_EINVAL);
    ASSERT_OK(cf_on_uncaught_exception(loop, on_uncaught, (void *)"u"));
    ASSERT_EQ(cf_on_uncaught_exception(loop, on_uncaught, (void *)"again"), CF_EBUSY); /* twice */
    ASSERT_OK(cf_on_uncaught_exception(loop, NULL, NULL));                             /* removed */
    ASSERT_OK(cf_on_uncaught_exception(loop, on_uncaught, (void *)"u2"));
    ASSERT_EQ(cf_throw_uncaught(NULL, CF_ERROR(CF_EIO, "x")), CF_EINVAL); /* freed: no leak */
    ASSERT_EQ(cf_throw_uncaught(loop, NULL), 0); /* NULL: a CF_ENOMEM error, to the hook */
    ASSERT_EVENTS("u2:not enough memory(uncaughtException)");
    ASSERT_OK(cf_loop_close(loop));
}

static void test_promise_mode_from_environment(void)
{
    char text[512];
    int code = 0;
    ASSERT_OK(setenv("CALCIFER_UNHANDLED_REJECTIONS", "none", 1));
    cf_loop *loop = loop_new(); /* the mode is read when the loop's promise state is made */
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "quiet")));
    ASSERT_OK(run_capturing_stderr(loop, text, sizeof text));
    ASSERT_STR_EQ(text, "");
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_OK(setenv("CALCIFER_UNHANDLED_REJECTIONS", "loud", 1));
    loop = loop_new();
    fflush(stderr);
    int fds[2];
    ASSERT_OK(pipe(fds));
    int saved = dup(2);
    ASSERT(dup2(fds[1], 2) >= 0);
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "loud")));
    fflush(stderr);
    ASSERT(dup2(saved, 2) >= 0);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], text, sizeof text - 1);
    close(fds[0]);
    text[n > 0 ? n : 0] = '\0';
    ASSERT(strstr(text, "CALCIFER_UNHANDLED_REJECTIONS='loud' is not a mode") != NULL);
    ASSERT_EQ(run_capturing_stderr(loop, text, sizeof text), CF_EUNHANDLED); /* throw */
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_OK(unsetenv("CALCIFER_UNHANDLED_REJECTIONS"));
    (void)code;
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_promise_states_and_accessors);
    CF_TEST(test_promise_settles_once);
    CF_TEST(test_promise_reactions_never_run_inside_the_call);
    CF_TEST(test_promise_reaction_queued_at_settle_time);
    CF_TEST(test_promise_attach_to_settled_queues_at_once);
    CF_TEST(test_promise_reactions_in_registration_order);
    CF_TEST(test_promise_chains_interleave);
    CF_TEST(test_promise_then_returns_value_error_or_nothing);
    CF_TEST(test_promise_rejection_passes_through_one_turn_per_step);
    CF_TEST(test_promise_pass_through_borrows);
    CF_TEST(test_promise_follow_passes_outcome_without_turns);
    CF_TEST(test_promise_adopt_costs_two_turns);
    CF_TEST(test_promise_handler_returning_promise_costs_two_turns);
    CF_TEST(test_promise_adopt_pending_follows_later);
    CF_TEST(test_promise_cycle_rejects);
    CF_TEST(test_promise_resolve_p_identity);
    CF_TEST(test_promise_thenable_called_in_own_microtask);
    CF_TEST(test_promise_thenable_modes);
    CF_TEST(test_promise_thenable_from_handler_and_invalid);
    CF_TEST(test_promise_thenable_released_at_close);
    CF_TEST(test_promise_reject_with_custom_destructor);
    CF_TEST(test_promise_is_resolved);
    CF_TEST(test_promise_finally_passes_through);
    CF_TEST(test_promise_finally_turn_cost);
    CF_TEST(test_promise_finally_waits_for_adopted_promise);
    CF_TEST(test_promise_on_settle);
    CF_TEST(test_promise_embedded_reaction);
    CF_TEST(test_promise_dtor_runs_once_when_last_reference_goes);
    CF_TEST(test_promise_pending_kept_by_loop);
    CF_TEST(test_promise_take);
    CF_TEST(test_promise_loop_close_frees_everything);
    CF_TEST(test_promise_unhandled_default_fails_run);
    CF_TEST(test_promise_unhandled_hook_and_handled_in_time);
    CF_TEST(test_promise_rejection_handled_later);
    CF_TEST(test_promise_rejection_made_by_hook);
    CF_TEST(test_promise_unhandled_hook_reset);
    CF_TEST(test_promise_promisify);
    CF_TEST(test_promise_settle_variants);
    CF_TEST(test_promise_long_chain);
    CF_TEST(test_promise_two_loops);
    CF_TEST(test_promise_out_of_memory);
    CF_TEST(test_promise_reject_with_any_value);
    CF_TEST(test_promise_reject_value_bad_input);
    CF_TEST(test_promise_reject_value_freed_at_close);
    CF_TEST(test_promise_unhandled_modes);
    CF_TEST(test_promise_warn_with_error_code_fails_drained_run);
    CF_TEST(test_promise_uncaught_hook_modes);
    CF_TEST(test_promise_uncaught_without_hook_fails_run);
    CF_TEST(test_promise_modes_and_hooks_bad_input);
    CF_TEST(test_promise_mode_from_environment);
    return CF_TEST_END();
}
