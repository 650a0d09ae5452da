/*
 * Promises: the pooled fast paths. A then handler's derived promise that nobody can see is
 * freed in its turn instead of being settled (values freed once, in the same order as the
 * full path; rejections still reported); promises live in per-loop pools that remember their
 * loop; releases made while cf_loop_close tears the pools down free nothing twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#include "calcifer/loop.h"
#include "calcifer/promise.h"

static char events[1024];

static void ev(const char *s)
{
    size_t len = strlen(events);
    snprintf(events + len, sizeof(events) - len, "%s%s", len ? " " : "", s);
}

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    events[0] = '\0';
    return loop;
}

static int dtor_count;

static void count_dtor(void *v)
{
    (void)v;
    dtor_count++;
    ev("dtor");
}

static void m_log(void *data)
{
    ev(data);
}

/* Fulfils its step with a value that has a destructor. */
static void h_resolve(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ev(data);
    ASSERT_OK(cf_promise_resolve(next, (void *)"v", count_dtor));
}

/* The derived promise is released by its creator before the handler runs: its value is
 * freed in the handler's own turn, before the next microtask, as the full path frees it. */
static void test_pool_unseen_derived_value_freed_in_its_turn(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, h_resolve, NULL, (void *)"handler"));
    cf_promise_release(p);
    ASSERT_OK(cf_queue_microtask(loop, m_log, (void *)"after"));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(dtor_count, 1);
    ASSERT_STR_EQ(events, "handler dtor after");
    ASSERT_OK(cf_loop_close(loop));
}

static cf_promise *kept;

/* Keeps its step: the derived promise is seen, so it settles the full way. */
static void h_keep(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    ev(data);
    kept = cf_promise_retain(next);
    ASSERT_OK(cf_promise_resolve(next, (void *)"v", count_dtor));
}

static void h_show(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[64];
    snprintf(buf, sizeof buf, "%s=%s", (const char *)data, (const char *)cf_promise_value(settled));
    ev(buf);
}

static void attach_to_kept(void *data)
{
    (void)data;
    ASSERT_EQ(cf_promise_state(kept), CF_PROMISE_FULFILLED);
    cf_promise_release(cf_promise_then(kept, h_show, NULL, (void *)"kept"));
    cf_promise_release(kept);
}

static void test_pool_seen_derived_settles(void)
{
    cf_loop *loop = loop_new();
    dtor_count = 0;
    kept = NULL;
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, h_keep, NULL, (void *)"handler"));
    cf_promise_release(p);
    ASSERT_OK(cf_queue_microtask(loop, attach_to_kept, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(dtor_count, 1);
    ASSERT_STR_EQ(events, "handler kept=v dtor");
    ASSERT_OK(cf_loop_close(loop));
}

static void h_reject(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)data;
    ASSERT_OK(cf_promise_reject(next, CF_ERROR(CF_EIO, "boom")));
}

static void h_nothing(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    ev(data);
}

static void on_unhandled(cf_promise *p, void *data)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s:%s", (const char *)data, cf_promise_error(p)->message);
    ev(buf);
}

/* Nobody holds the derived promise, yet its rejection is reported (Node does); a handler
 * that does nothing fulfils its unseen step, which reports nothing. */
static void test_pool_unseen_derived_rejection_reported(void)
{
    cf_loop *loop = loop_new();
    ASSERT_OK(cf_on_unhandled_rejection(loop, on_unhandled, (void *)"unhandled"));
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, h_nothing, NULL, (void *)"quiet"));
    cf_promise_release(cf_promise_then(p, h_reject, NULL, NULL));
    cf_promise_release(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(events, "quiet unhandled:boom");
    ASSERT_OK(cf_loop_close(loop));
}

static void release_dtor(void *v)
{
    ev("release");
    cf_promise_release(v);
}

/*
 * cf_loop_close with live promises whose value destructors release other live promises
 * (either order in the pool): every destructor runs exactly once, nothing is freed twice
 * (ASan and valgrind check the memory side).
 */
static void test_pool_teardown_releases_free_nothing_twice(void)
{
    for (int order = 0; order < 2; order++) {
        cf_loop *loop = loop_new();
        dtor_count = 0;
        cf_promise *inner = NULL;
        cf_promise *outer = NULL;
        if (order == 0) {
            inner = cf_promise_resolved(loop, (void *)"inner", count_dtor);
            outer = cf_promise_resolved(loop, inner, release_dtor);
        } else {
            outer = cf_promise_new(loop);
            inner = cf_promise_resolved(loop, (void *)"inner", count_dtor);
            ASSERT_OK(cf_promise_resolve(outer, inner, release_dtor));
        }
        cf_promise *pending = cf_promise_new(loop);
        cf_promise_release(cf_promise_then(pending, h_nothing, NULL, (void *)"never"));
        (void)outer; /* kept: cf_loop_close frees it and runs release_dtor */
        ASSERT_OK(cf_loop_close(loop));
        ASSERT_EQ(dtor_count, 1);
        ASSERT_EQ(strstr(events, "never"), NULL);
        ASSERT_NE(strstr(events, "release"), NULL);
    }
}

static long steps;

static void h_step(cf_promise *settled, cf_promise *next, void *data)
{
    ASSERT_EQ(cf_promise_loop(settled), (cf_loop *)data);
    ASSERT_OK(cf_promise_resolve(next, (void *)(intptr_t)1, count_dtor));
    steps++;
}

/* Two loops churn through many pooled promises and reactions, interleaved: every promise
 * keeps its own loop after reuse and every value is freed once. */
static void test_pool_reuse_keeps_each_loop(void)
{
    cf_loop *a = loop_new();
    cf_loop *b = loop_new();
    dtor_count = 0;
    steps = 0;
    enum { ROUNDS = 200, BATCH = 100 };
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < BATCH; i++) {
            cf_loop *l = i % 2 ? a : b;
            cf_promise *p = cf_promise_resolved(l, NULL, NULL);
            cf_promise *d = cf_promise_then(p, h_step, NULL, l);
            ASSERT_EQ(cf_promise_loop(d), l);
            cf_promise_release(p);
            cf_promise_release(d);
        }
        ASSERT_OK(cf_run(a, CF_RUN_DEFAULT));
        ASSERT_OK(cf_run(b, CF_RUN_DEFAULT));
    }
    ASSERT_EQ(steps, (long)ROUNDS * BATCH);
    ASSERT_EQ(dtor_count, ROUNDS * BATCH);
    ASSERT_OK(cf_loop_close(a));
    ASSERT_OK(cf_loop_close(b));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_pool_unseen_derived_value_freed_in_its_turn);
    CF_TEST(test_pool_seen_derived_settles);
    CF_TEST(test_pool_unseen_derived_rejection_reported);
    CF_TEST(test_pool_teardown_releases_free_nothing_twice);
    CF_TEST(test_pool_reuse_keeps_each_loop);
    return CF_TEST_END();
}
