/*
 * Abort signals (calcifer/abort.h): controllers, listeners, reasons, timeout and any signals.
 */
#include "harness.h"

#define S(x) ((void *)(x))

static char log_buf[1024];

static void log_reset(void)
{
    log_buf[0] = '\0';
}

static void log_add(const char *s)
{
    size_t len = strlen(log_buf);
    snprintf(log_buf + len, sizeof log_buf - len, "%s%s", len ? " " : "", s);
}

static void log_listener(cf_abort_listener *l, cf_abort_signal *s)
{
    ASSERT(cf_abort_signal_aborted(s));
    log_add(l->data);
}

static void log_cb(void *data)
{
    log_add(data);
}

static cf_abort_controller *new_ctrl(void)
{
    cf_abort_controller *c = NULL;
    ASSERT_OK(cf_abort_new(&c));
    return c;
}

static void test_abort_listeners_run_in_order_once(void)
{
    cf_abort_controller *c = new_ctrl();
    cf_abort_signal *s = cf_abort_get_signal(c);
    cf_abort_listener a = {.data = S("a")};
    cf_abort_listener b = {.data = S("b")};
    cf_abort_listener d = {.data = S("c")};
    log_reset();
    ASSERT_OK(cf_abort_signal_listen(s, &a, log_listener));
    ASSERT_OK(cf_abort_signal_listen(s, &b, log_listener));
    ASSERT_OK(cf_abort_signal_listen(s, &d, log_listener));
    ASSERT_EQ(cf_abort_signal_listen(s, &b, log_listener), CF_EINVAL); /* already listening */
    ASSERT(!cf_abort_signal_aborted(s));
    ASSERT_EQ(cf_abort_signal_code(s), 0);
    ASSERT(cf_abort_signal_reason(s) == NULL);
    log_add("abort");
    ASSERT_OK(cf_abort(c, NULL));
    log_add("returned");
    ASSERT_STR_EQ(log_buf, "abort a b c returned");
    ASSERT(cf_abort_signal_aborted(s));
    ASSERT_EQ(cf_abort_signal_code(s), CF_ECANCELED);
    ASSERT_STR_EQ(cf_abort_signal_reason(s)->message, "This operation was aborted");
    ASSERT_OK(cf_abort(c, NULL)); /* a second abort does nothing */
    ASSERT_STR_EQ(log_buf, "abort a b c returned");
    cf_abort_free(c);
}

static void test_abort_keeps_first_reason(void)
{
    cf_abort_controller *c = new_ctrl();
    cf_abort_signal *s = cf_abort_get_signal(c);
    ASSERT_OK(cf_abort(c, CF_ERROR(CF_EPIPE, "peer went away")));
    ASSERT_OK(cf_abort(c, CF_ERROR(CF_EIO, "second"))); /* taken and freed */
    ASSERT_EQ(cf_abort_signal_code(s), CF_EPIPE);
    ASSERT_STR_EQ(cf_abort_signal_reason(s)->message, "peer went away");
    ASSERT_EQ(cf_abort(NULL, CF_ERROR(CF_EIO, "x")), CF_EINVAL);
    cf_abort_free(c);
}

static void test_abort_listen_after_abort_returns_code(void)
{
    cf_abort_controller *c = new_ctrl();
    cf_abort_signal *s = cf_abort_get_signal(c);
    ASSERT_OK(cf_abort(c, CF_ERROR(CF_ETIMEDOUT, "late")));
    cf_abort_listener l = {.data = S("never")};
    log_reset();
    ASSERT_EQ(cf_abort_signal_listen(s, &l, log_listener), CF_ETIMEDOUT);
    cf_abort_signal_unlisten(&l); /* not listening: nothing to do */
    ASSERT_STR_EQ(log_buf, "");
    cf_abort_free(c);
}

static void test_abort_unlisten_removes_listener(void)
{
    cf_abort_controller *c = new_ctrl();
    cf_abort_signal *s = cf_abort_get_signal(c);
    cf_abort_listener a = {.data = S("a")};
    cf_abort_listener b = {.data = S("b")};
    cf_abort_listener never = {0};
    log_reset();
    ASSERT_OK(cf_abort_signal_listen(s, &a, log_listener));
    ASSERT_OK(cf_abort_signal_listen(s, &b, log_listener));
    cf_abort_signal_unlisten(&a);
    cf_abort_signal_unlisten(&a);
    cf_abort_signal_unlisten(&never);
    cf_abort_signal_unlisten(NULL);
    ASSERT_OK(cf_abort_signal_listen(s, &a, log_listener)); /* again, now last */
    ASSERT_OK(cf_abort(c, NULL));
    ASSERT_STR_EQ(log_buf, "b a");
    cf_abort_free(c);
}

/* A listener that frees itself and removes the next one while the abort runs. */
typedef struct self_freeing {
    cf_abort_listener l;
    cf_abort_listener *victim;
} self_freeing;

static void free_self(cf_abort_listener *l, cf_abort_signal *s)
{
    (void)s;
    self_freeing *sf = (self_freeing *)l;
    log_add("self");
    cf_abort_signal_unlisten(sf->victim);
    cf_free(sf);
}

static void test_abort_listener_may_free_itself_and_remove_others(void)
{
    cf_abort_controller *c = new_ctrl();
    cf_abort_signal *s = cf_abort_get_signal(c);
    self_freeing *sf = cf_calloc(1, sizeof(*sf));
    cf_abort_listener victim = {.data = S("victim")};
    cf_abort_listener last = {.data = S("last")};
    sf->victim = &victim;
    log_reset();
    ASSERT_OK(cf_abort_signal_listen(s, &sf->l, free_self));
    ASSERT_OK(cf_abort_signal_listen(s, &victim, log_listener));
    ASSERT_OK(cf_abort_signal_listen(s, &last, log_listener));
    cf_abort_free(c); /* the listeners keep the signal alive... */
    ASSERT(!cf_abort_signal_aborted(s));
    cf_abort_signal_unlisten(&last);
    cf_abort_signal_unlisten(&victim);
    cf_abort_signal_unlisten(&sf->l); /* ...until the last one goes */
    cf_free(sf);

    c = new_ctrl();
    s = cf_abort_get_signal(c);
    sf = cf_calloc(1, sizeof(*sf));
    sf->victim = &victim;
    ASSERT_OK(cf_abort_signal_listen(s, &sf->l, free_self));
    ASSERT_OK(cf_abort_signal_listen(s, &victim, log_listener));
    ASSERT_OK(cf_abort_signal_listen(s, &last, log_listener));
    ASSERT_OK(cf_abort(c, NULL));
    ASSERT_STR_EQ(log_buf, "self last");
    cf_abort_free(c);
}

static void test_abort_signal_outlives_controller(void)
{
    cf_abort_controller *c = new_ctrl();
    cf_abort_signal *s = cf_abort_signal_retain(cf_abort_get_signal(c));
    cf_abort_free(c);
    ASSERT(!cf_abort_signal_aborted(s));
    cf_abort_signal_release(s);
    cf_abort_free(NULL);
    cf_abort_signal_release(NULL);
    ASSERT(cf_abort_get_signal(NULL) == NULL);
    ASSERT(!cf_abort_signal_aborted(NULL));
    ASSERT_EQ(cf_abort_new(NULL), CF_EINVAL);
}

static void test_abort_timeout_signal_aborts_with_etimedout(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    cf_abort_signal *s = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 5, &s));
    cf_abort_listener l = {.data = S("timeout")};
    ASSERT_OK(cf_abort_signal_listen(s, &l, log_listener));
    log_reset();
    ASSERT_OK(cf_set_timeout(loop, 5, log_cb, S("timer-5"), NULL));
    ASSERT_OK(cf_set_timeout(loop, 30, log_cb, S("timer-30"), NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "timeout timer-5 timer-30");
    ASSERT_EQ(cf_abort_signal_code(s), CF_ETIMEDOUT);
    ASSERT_STR_EQ(cf_abort_signal_reason(s)->message, "The operation was aborted due to timeout");
    cf_abort_signal_release(s);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_abort_timeout_signal_does_not_keep_loop_alive(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    cf_abort_signal *s = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 1000, &s));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* returns at once */
    ASSERT(!cf_abort_signal_aborted(s));
    ASSERT_EQ(cf_abort_signal_timeout(loop, 1, NULL), CF_EINVAL);
    cf_abort_signal *early = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 1, &early));
    cf_abort_signal_release(early); /* stops its timer */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    /* Still held when the loop closes: it stays valid, and never aborts. */
    ASSERT_OK(cf_loop_close(loop));
    ASSERT(!cf_abort_signal_aborted(s));
    cf_abort_signal_release(s);
    ASSERT_EQ(cf_abort_signal_timeout(NULL, 1, &s), CF_EINVAL);
}

static void test_abort_any_follows_first_source(void)
{
    cf_abort_controller *a = new_ctrl();
    cf_abort_controller *b = new_ctrl();
    cf_abort_signal *in[] = {cf_abort_get_signal(a), NULL, cf_abort_get_signal(b)};
    cf_abort_signal *any = NULL;
    ASSERT_OK(cf_abort_signal_any(in, 3, &any));
    cf_abort_listener l = {.data = S("any")};
    ASSERT_OK(cf_abort_signal_listen(any, &l, log_listener));
    log_reset();
    ASSERT_OK(cf_abort(b, CF_ERROR(CF_EPIPE, "from b")));
    ASSERT_STR_EQ(log_buf, "any");
    ASSERT_EQ(cf_abort_signal_code(any), CF_EPIPE);
    ASSERT_STR_EQ(cf_abort_signal_reason(any)->message, "from b");
    ASSERT_OK(cf_abort(a, NULL)); /* the any signal keeps its first reason */
    ASSERT_EQ(cf_abort_signal_code(any), CF_EPIPE);
    cf_abort_signal_release(any);

    /* Already aborted input: aborted at once. An empty list: never. */
    ASSERT_OK(cf_abort_signal_any(in, 3, &any));
    ASSERT_EQ(cf_abort_signal_code(any), CF_ECANCELED);
    cf_abort_signal_release(any);
    ASSERT_OK(cf_abort_signal_any(NULL, 0, &any));
    ASSERT(!cf_abort_signal_aborted(any));
    cf_abort_signal_release(any);
    ASSERT_EQ(cf_abort_signal_any(NULL, 2, &any), CF_EINVAL);
    cf_abort_free(a);
    cf_abort_free(b);
}

static void test_abort_any_released_before_sources(void)
{
    cf_abort_controller *a = new_ctrl();
    cf_abort_signal *in[] = {cf_abort_get_signal(a)};
    cf_abort_signal *any = NULL;
    ASSERT_OK(cf_abort_signal_any(in, 1, &any));
    cf_abort_signal_release(any); /* stops listening on `a` */
    log_reset();
    cf_abort_listener l = {.data = S("a")};
    ASSERT_OK(cf_abort_signal_listen(in[0], &l, log_listener));
    ASSERT_OK(cf_abort(a, NULL));
    ASSERT_STR_EQ(log_buf, "a");
    cf_abort_free(a);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_abort_listeners_run_in_order_once);
    CF_TEST(test_abort_keeps_first_reason);
    CF_TEST(test_abort_listen_after_abort_returns_code);
    CF_TEST(test_abort_unlisten_removes_listener);
    CF_TEST(test_abort_listener_may_free_itself_and_remove_others);
    CF_TEST(test_abort_signal_outlives_controller);
    CF_TEST(test_abort_timeout_signal_aborts_with_etimedout);
    CF_TEST(test_abort_timeout_signal_does_not_keep_loop_alive);
    CF_TEST(test_abort_any_follows_first_source);
    CF_TEST(test_abort_any_released_before_sources);
    return CF_TEST_END();
}
