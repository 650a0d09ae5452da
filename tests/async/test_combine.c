/*
 * Promise combinators (≈ Promise.all, allSettled, race, any): empty inputs, mixed inputs,
 * input order, turn counts as V8, aggregate errors, NULL entries, ownership and teardown.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/timer.h"
#include "util/alloc.h"

static char events[2048];

static void ev(const char *s)
{
    size_t len = strlen(events);
    snprintf(events + len, sizeof(events) - len, "%s%s", len ? " " : "", s);
}

static void *S(const char *s)
{
    return (void *)s;
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

/* "label=[a,b]" for a list, "label=v" for a value, "label!message" for an error. */
static void show(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s", (const char *)data);
    if (cf_promise_state(settled) == CF_PROMISE_REJECTED) {
        snprintf(buf + n, sizeof buf - (size_t)n, "!%s", cf_promise_error(settled)->message);
    } else {
        snprintf(buf + n, sizeof buf - (size_t)n, "=%s", (const char *)cf_promise_value(settled));
    }
    ev(buf);
}

/* "label=[v1,!e2,...]": a cf_promise_list, fulfilled items by value, rejected by message. */
static void show_list(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    if (cf_promise_state(settled) == CF_PROMISE_REJECTED) {
        show(settled, next, data);
        return;
    }
    const cf_promise_list *l = cf_promise_value(settled);
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s=[", (const char *)data);
    for (size_t i = 0; i < l->len; i++) {
        cf_promise *item = l->items[i];
        if (cf_promise_state(item) == CF_PROMISE_FULFILLED)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "," : "",
                                  (const char *)cf_promise_value(item));
        else
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s!%s", i ? "," : "",
                                  cf_promise_error(item)->message);
    }
    snprintf(buf + n, sizeof buf - n, "]");
    ev(buf);
}

static void react(cf_promise *p, cf_promise_cb cb, const char *label)
{
    ASSERT_PTR(p);
    cf_promise *d = cf_promise_then(p, cb, cb, S(label));
    ASSERT_PTR(d);
    cf_promise_release(d);
}

/* react, then drop the reference to `p`. */
static void react_take(cf_promise *p, cf_promise_cb cb, const char *label)
{
    react(p, cb, label);
    cf_promise_release(p);
}

static void log_label(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    ev(data);
}

static void ticker(cf_loop *loop, int n)
{
    static const char *labels[] = {"t1", "t2", "t3", "t4", "t5", "t6"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (int i = 0; i < n; i++) {
        cf_promise *next = cf_promise_then(p, log_label, NULL, S(labels[i]));
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
}

static void release_all(cf_promise **ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cf_promise_release(ps[i]);
    }
}

typedef struct timed {
    cf_promise *p;
    const char *value; /* NULL: reject with `error` */
    const char *error;
} timed;

static void timed_fire(void *data)
{
    timed *t = data;
    ev(t->value ? t->value : t->error);
    if (t->value)
        ASSERT_OK(cf_promise_resolve(t->p, S(t->value), NULL));
    else
        ASSERT_OK(cf_promise_reject(t->p, CF_ERROR(CF_EIO, "%s", t->error)));
}

/* A promise settled by a timer after `ms`. */
static cf_promise *timed_new(cf_loop *loop, timed *t, uint64_t ms)
{
    t->p = cf_promise_new(loop);
    ASSERT_PTR(t->p);
    ASSERT_OK(cf_set_timeout(loop, ms, timed_fire, t, NULL));
    return t->p;
}

/* ---- empty inputs ---- */

static void test_combine_empty_inputs(void)
{
    cf_loop *loop = setup();
    cf_promise *all = cf_promise_allv(loop, NULL, 0);
    cf_promise *settled = cf_promise_all_settledv(loop, NULL, 0);
    cf_promise *race = cf_promise_racev(loop, NULL, 0);
    cf_promise *any = cf_promise_anyv(loop, NULL, 0);
    /* all([]) and allSettled([]) are fulfilled at once, any([]) rejected at once. */
    ASSERT_EQ(cf_promise_state(all), CF_PROMISE_FULFILLED);
    ASSERT_EQ(((const cf_promise_list *)cf_promise_value(all))->len, 0);
    ASSERT_EQ(cf_promise_state(settled), CF_PROMISE_FULFILLED);
    ASSERT_EQ(cf_promise_state(any), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_code(any), CF_EAGGREGATE);
    ASSERT_STR_EQ(cf_promise_error(any)->message, "All promises were rejected");
    size_t n = 99;
    ASSERT_PTR(cf_promise_aggregate_errors(cf_promise_error(any), &n));
    ASSERT_EQ(n, 0);
    react(all, show_list, "all");
    react(settled, show_list, "allSettled");
    react(race, show, "race");
    react(any, show, "any");
    ticker(loop, 2);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    /* race([]) never settles; the loop does not wait for it. */
    ASSERT_EQ(cf_promise_state(race), CF_PROMISE_PENDING);
    cf_promise *ps[] = {all, settled, race, any};
    release_all(ps, 4);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_STR_EQ(events, "all=[] allSettled=[] any!All promises were rejected t1 t2");
}

/* ---- all ---- */

/* all over settled inputs takes two turns (element reactions, then the result's). */
static void test_combine_all_settled_inputs_two_turns(void)
{
    cf_loop *loop = setup();
    cf_promise *in[] = {cf_promise_resolved(loop, S("1"), NULL),
                        cf_promise_resolved(loop, S("2"), NULL)};
    cf_promise *all = cf_promise_allv(loop, in, 2);
    release_all(in, 2);
    react(all, show_list, "all");
    cf_promise_release(all);
    ticker(loop, 3);
    finish(loop);
    ASSERT_STR_EQ(events, "t1 all=[1,2] t2 t3");
}

static void test_combine_all_keeps_input_order(void)
{
    cf_loop *loop = setup();
    timed late = {NULL, "L", NULL};
    timed early = {NULL, "E", NULL};
    cf_promise *in[] = {
        cf_promise_resolved(loop, S("A"), NULL),
        timed_new(loop, &late, 2),
        cf_promise_resolved(loop, S("plain"), NULL),
        timed_new(loop, &early, 1),
    };
    cf_promise *all = cf_promise_allv(loop, in, 4);
    release_all(in, 4);
    react(all, show_list, "all");
    cf_promise_release(all);
    finish(loop);
    ASSERT_STR_EQ(events, "E L all=[A,L,plain,E]");
}

static void test_combine_all_rejects_with_first_rejection(void)
{
    cf_loop *loop = setup();
    timed bad = {NULL, NULL, "second"};
    timed ok = {NULL, "ok", NULL};
    cf_promise *first = cf_promise_new(loop);
    cf_promise *in[] = {timed_new(loop, &ok, 3), timed_new(loop, &bad, 2), first};
    cf_promise *all = cf_promise_allv(loop, in, 3);
    ASSERT_OK(cf_promise_reject(first, CF_ERROR(CF_EIO, "first")));
    react(all, show_list, "all");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    /* The result borrows the error of the input that rejected first. */
    ASSERT(cf_promise_error(all) == cf_promise_error(first));
    release_all(in, 3);
    cf_promise_release(all);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_STR_EQ(events, "all!first second ok");
}

/* The list stays valid while the result is held, after the inputs were released. */
static int dtors;

static void count_dtor(void *v)
{
    (void)v;
    dtors++;
}

static void test_combine_all_value_ownership(void)
{
    cf_loop *loop = setup();
    dtors = 0;
    cf_promise *in[] = {cf_promise_resolved(loop, cf_strdup("x"), cf_free),
                        cf_promise_resolved(loop, S("y"), count_dtor)};
    cf_promise *all = cf_promise_allv(loop, in, 2);
    release_all(in, 2);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    const cf_promise_list *l = cf_promise_value(all);
    ASSERT_EQ(l->len, 2);
    ASSERT_STR_EQ(cf_promise_value(l->items[0]), "x");
    ASSERT_STR_EQ(cf_promise_value(l->items[1]), "y");
    ASSERT_EQ(dtors, 0);
    void *taken = NULL;
    ASSERT_EQ(cf_promise_take(all, &taken), CF_EINVAL); /* the list is not the caller's */
    cf_promise_release(all);
    ASSERT_EQ(dtors, 1);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- allSettled ---- */

static void test_combine_all_settled_mixed(void)
{
    cf_loop *loop = setup();
    timed late = {NULL, "late", NULL};
    timed fails = {NULL, NULL, "fails later"};
    cf_promise *in[] = {
        cf_promise_resolved(loop, S("1"), NULL),
        cf_promise_rejected(loop, CF_ERROR(CF_EIO, "no")),
        timed_new(loop, &late, 1),
        timed_new(loop, &fails, 2),
        cf_promise_resolved(loop, S("raw"), NULL),
    };
    cf_promise *all = cf_promise_all_settledv(loop, in, 5);
    release_all(in, 5);
    react(all, show_list, "allSettled");
    cf_promise_release(all);
    finish(loop);
    ASSERT_STR_EQ(events, "late fails later allSettled=[1,!no,late,!fails later,raw]");
}

/* ---- race ---- */

static void test_combine_race_first_settled_in_input_order_wins(void)
{
    cf_loop *loop = setup();
    timed slow = {NULL, "slow", NULL};
    cf_promise *r1in[] = {timed_new(loop, &slow, 5), cf_promise_resolved(loop, S("now"), NULL),
                          cf_promise_rejected(loop, CF_ERROR(CF_EIO, "also now"))};
    cf_promise *r2in[] = {cf_promise_rejected(loop, CF_ERROR(CF_EIO, "rejected first")),
                          cf_promise_resolved(loop, S("second"), NULL)};
    cf_promise *r1 = cf_promise_racev(loop, r1in, 3);
    cf_promise *r2 = cf_promise_racev(loop, r2in, 2);
    release_all(r1in, 3);
    release_all(r2in, 2);
    react(r1, show, "race1");
    react(r2, show, "race2");
    cf_promise_release(r1);
    cf_promise_release(r2);
    ticker(loop, 2);
    finish(loop);
    ASSERT_STR_EQ(events, "t1 race1=now race2!rejected first t2 slow");
}

static void test_combine_race_pending_inputs(void)
{
    cf_loop *loop = setup();
    timed forty = {NULL, "forty", NULL};
    timed ten = {NULL, NULL, "ten failed"};
    cf_promise *in[] = {timed_new(loop, &forty, 4), timed_new(loop, &ten, 1)};
    cf_promise *r = cf_promise_racev(loop, in, 2);
    release_all(in, 2);
    react(r, show, "race");
    cf_promise_release(r);
    finish(loop);
    ASSERT_STR_EQ(events, "ten failed race!ten failed forty");
}

/* ---- any ---- */

static void test_combine_any_first_fulfilled(void)
{
    cf_loop *loop = setup();
    timed later = {NULL, "later", NULL};
    cf_promise *in[] = {cf_promise_rejected(loop, CF_ERROR(CF_EIO, "a")),
                        timed_new(loop, &later, 1),
                        cf_promise_rejected(loop, CF_ERROR(CF_EIO, "b"))};
    cf_promise *any = cf_promise_anyv(loop, in, 3);
    release_all(in, 3);
    react(any, show, "any");
    cf_promise_release(any);
    finish(loop);
    ASSERT_STR_EQ(events, "later any=later");
}

static void test_combine_any_aggregate_lists_reasons_in_input_order(void)
{
    cf_loop *loop = setup();
    timed late = {NULL, NULL, "late reason"};
    cf_promise *in[] = {
        timed_new(loop, &late, 1),
        cf_promise_rejected(loop, CF_ERROR_SYS(CF_ENOENT, "open '%s'", "a.csv")),
        cf_promise_rejected(loop, CF_ERROR(CF_EIO, "second")),
    };
    int line = __LINE__ - 2;
    cf_promise *any = cf_promise_anyv(loop, in, 3);
    release_all(in, 3);
    react(any, show, "any");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    const cf_error *e = cf_promise_error(any);
    ASSERT_EQ(e->code, CF_EAGGREGATE);
    size_t n = 0;
    const cf_error *errs = cf_promise_aggregate_errors(e, &n);
    ASSERT_PTR(errs);
    ASSERT_EQ(n, 3);
    ASSERT_STR_EQ(errs[0].message, "late reason");
    ASSERT_EQ(errs[1].code, CF_ENOENT);
    ASSERT_STR_EQ(errs[1].message, "open 'a.csv': no such file or directory");
    ASSERT_STR_EQ(errs[2].message, "second");
    ASSERT_EQ(errs[2].line, line);
    ASSERT_STR_EQ(errs[2].func, "test_combine_any_aggregate_lists_reasons_in_input_order");
    cf_promise_release(any); /* the aggregate (one block) goes with it */
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_STR_EQ(events, "late reason any!All promises were rejected");
}

static void test_combine_aggregate_errors_on_other_errors(void)
{
    cf_error *plain = CF_ERROR(CF_EAGGREGATE, "made by hand");
    size_t n = 5;
    ASSERT(cf_promise_aggregate_errors(plain, &n) == NULL);
    ASSERT_EQ(n, 0);
    ASSERT(cf_promise_aggregate_errors(NULL, NULL) == NULL);
    cf_error_free(plain);
    cf_error *other = CF_ERROR(CF_EIO, "io");
    ASSERT(cf_promise_aggregate_errors(other, &n) == NULL);
    cf_error_free(other);
}

/* ---- NULL entries, bad arguments, teardown, OOM ---- */

static void test_combine_null_entries_and_array(void)
{
    cf_loop *loop = setup();
    cf_promise *ok = cf_promise_resolved(loop, S("ok"), NULL);
    cf_promise *in[] = {ok, NULL};
    react_take(cf_promise_allv(loop, in, 2), show_list, "all");
    react_take(cf_promise_all_settledv(loop, in, 2), show_list, "settled");
    react_take(cf_promise_anyv(loop, in + 1, 1), show, "any");
    cf_promise *bad = cf_promise_racev(loop, NULL, 3);
    ASSERT_EQ(cf_promise_code(bad), CF_EINVAL);
    react(bad, show, "race");
    cf_promise_release(bad);
    cf_promise_release(ok);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_STR_EQ(events, "race!promise combinator: NULL input array all!not enough memory "
                          "settled=[ok,!not enough memory] any!All promises were rejected");
}

static void test_combine_pending_freed_at_close(void)
{
    cf_loop *loop = setup();
    dtors = 0;
    cf_promise *never = cf_promise_new(loop);
    cf_promise *v = cf_promise_resolved(loop, S("v"), count_dtor);
    cf_promise *in[] = {never, v};
    cf_promise *all = cf_promise_allv(loop, in, 2);
    cf_promise *race = cf_promise_racev(loop, in, 1);
    cf_promise *settled = cf_promise_all_settledv(loop, in, 2);
    cf_promise *any = cf_promise_anyv(loop, in, 1);
    cf_promise *done = cf_promise_all_settledv(loop, in + 1, 1);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(all), CF_PROMISE_PENDING);
    ASSERT_EQ(cf_promise_state(done), CF_PROMISE_FULFILLED);
    cf_promise *ps[] = {never, v, all, race, settled, any};
    release_all(ps, 6);
    (void)done; /* still held: the loop frees it, its list and v */
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(dtors, 1);
}

static void test_combine_out_of_memory(void)
{
    for (int sticky = 0; sticky < 2; sticky++) {
        for (long n = 1; n < 100; n++) {
            cf_loop *loop = NULL;
            ASSERT_OK(cf_loop_new(&loop));
            cf_promise *a = cf_promise_resolved(loop, S("a"), NULL);
            cf_promise *b = cf_promise_rejected(loop, CF_ERROR(CF_EIO, "b"));
            cf_promise *in[] = {a, b, NULL};
            cf__alloc_fail_after(n, sticky);
            cf_promise *r[] = {cf_promise_allv(loop, in, 3), cf_promise_all_settledv(loop, in, 3),
                               cf_promise_racev(loop, in, 3), cf_promise_anyv(loop, in, 3)};
            long counted = cf__alloc_fail_after(0, 0);
            for (int i = 0; i < 4; i++) {
                /* NULL only when the result promise itself could not be allocated. */
                if (r[i])
                    ASSERT_NE(cf_promise_state(r[i]), CF_PROMISE_FULFILLED);
            }
            release_all(r, 4);
            cf_promise_release(a);
            cf_promise_release(b);
            ASSERT_OK(cf_loop_close(loop));
            if (counted < n)
                break;
        }
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_combine_empty_inputs);
    CF_TEST(test_combine_all_settled_inputs_two_turns);
    CF_TEST(test_combine_all_keeps_input_order);
    CF_TEST(test_combine_all_rejects_with_first_rejection);
    CF_TEST(test_combine_all_value_ownership);
    CF_TEST(test_combine_all_settled_mixed);
    CF_TEST(test_combine_race_first_settled_in_input_order_wins);
    CF_TEST(test_combine_race_pending_inputs);
    CF_TEST(test_combine_any_first_fulfilled);
    CF_TEST(test_combine_any_aggregate_lists_reasons_in_input_order);
    CF_TEST(test_combine_aggregate_errors_on_other_errors);
    CF_TEST(test_combine_null_entries_and_array);
    CF_TEST(test_combine_pending_freed_at_close);
    CF_TEST(test_combine_out_of_memory);
    return CF_TEST_END();
}
