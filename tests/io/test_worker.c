/*
 * Workers (calcifer/worker.h): real threads with loops of their own. Messages keep their order
 * both ways and move without a copy; failures reach the parent with their error and site;
 * every message a worker posted arrives before its exit; terminate stops a worker that waits
 * on a long timer and frees everything; a parent loop does not close under a running worker.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 120 */
#include <pthread.h>
#include <time.h>

#include "harness.h"

enum { PING_N = 2000, BURST_N = 10000 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t json_int(const cf_json *v)
{
    int64_t n = -1;
    if (cf_json_get_i64(v, &n) != 0)
        return -1;
    return n;
}

/* What the parent saw; filled on the parent's thread, except where the worker's fields say. */
typedef struct seen {
    cf_loop *loop;
    cf_worker *w;
    long messages;
    long out_of_order;
    long at_exit; /* messages received when on_exit ran */
    int exits;
    int exit_code;
    int errors;
    int err_code;
    char err_message[256];
    char err_file[256];
    int err_line;
    int closed;
    double t0;
    double elapsed_ms;
    /* written by the worker's thread, read after the join */
    long worker_out_of_order;
    int worker_wrong_thread;
    const void *expected_bytes;
    int bytes_same_pointer;
    char thread_name[16];
} seen;

static void on_exit_cb(cf_worker *w, int exit_code, void *data)
{
    (void)w;
    seen *s = data;
    s->exits++;
    s->exit_code = exit_code;
    s->at_exit = s->messages;
    s->elapsed_ms = now_ms() - s->t0;
}

static void on_error_cb(cf_worker *w, const cf_error *err, void *data)
{
    (void)w;
    seen *s = data;
    s->errors++;
    s->err_code = cf_error_code(err);
    snprintf(s->err_message, sizeof s->err_message, "%s", cf_error_message(err));
    cf_site site = cf_error_site(err);
    snprintf(s->err_file, sizeof s->err_file, "%s", site.file ? site.file : "");
    s->err_line = site.line;
}

static void on_closed(void *data)
{
    ((seen *)data)->closed++;
}

static void listen_all(cf_worker *w, cf_worker_message_cb on_msg, seen *s)
{
    ASSERT_OK(cf_worker_on_message(w, on_msg, s));
    ASSERT_OK(cf_worker_on_error(w, on_error_cb, s));
    ASSERT_OK(cf_worker_on_exit(w, on_exit_cb, s));
}

/* Run the parent until the worker exited, close the handle and the loop. */
static void finish(cf_loop *loop, seen *s)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s->exits, 1);
    ASSERT_EQ(cf_worker_is_active(s->w), 0);
    ASSERT_OK(cf_worker_close(s->w, on_closed, s));
    ASSERT_EQ(cf_worker_close(s->w, on_closed, s), CF_ECLOSED);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s->closed, 1);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- ping-pong: order both ways ---- */

typedef struct echo_state {
    seen *s;
    int64_t next;
    pthread_t thread;
} echo_state;

/* Worker: echo every number back; a string ends the conversation. */
static void echo_msg(cf_worker_self *self, cf_worker_message *msg, void *data)
{
    echo_state *e = data;
    if (!pthread_equal(pthread_self(), e->thread))
        e->s->worker_wrong_thread++;
    const cf_json *v = cf_worker_message_json(msg);
    if (cf_json_type_of(v) == CF_JSON_STRING) {
        cf_worker_parent_close(self); /* nothing else keeps the worker's loop alive */
        return;
    }
    int64_t n = json_int(v);
    if (n != e->next)
        e->s->worker_out_of_order++;
    e->next = n + 1;
    /* Send the very same value back: moved out of this message into the next one. */
    cf_worker_parent_post_json(self, cf_worker_message_take_json(msg));
}

static int echo_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    echo_state *e = arg;
    e->thread = pthread_self();
    return cf_worker_parent_on_message(self, echo_msg, e);
}

static void ping_msg(cf_worker *w, cf_worker_message *msg, void *data)
{
    seen *s = data;
    int64_t n = json_int(cf_worker_message_json(msg));
    if (n != s->messages)
        s->out_of_order++;
    s->messages++;
    if (s->messages < BURST_N)
        return; /* the burst's echoes */
    if (s->messages < BURST_N + PING_N) {
        ASSERT_OK(cf_worker_post_json(w, cf_json_new_i64(s->messages))); /* one at a time */
        return;
    }
    ASSERT_OK(cf_worker_post_json(w, cf_json_new_string("bye", 3)));
}

static void test_worker_ping_pong_keeps_order_both_ways(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    echo_state e = {.s = &s};
    ASSERT_OK(cf_worker_new(loop, NULL, echo_entry, &e, &s.w));
    ASSERT(cf_worker_is_active(s.w));
    ASSERT(cf_worker_has_ref(s.w));
    listen_all(s.w, ping_msg, &s);
    /* A burst first (posted before the worker's entry may even have run), then ping-pong. */
    for (int i = 0; i < BURST_N; i++) {
        ASSERT_OK(cf_worker_post_json(s.w, cf_json_new_i64(i)));
    }
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.messages, BURST_N + PING_N);
    ASSERT_EQ(s.out_of_order, 0);
    ASSERT_EQ(s.worker_out_of_order, 0);
    ASSERT_EQ(s.worker_wrong_thread, 0);
    ASSERT_EQ(e.next, BURST_N + PING_N);
    ASSERT_EQ(s.errors, 0);
    ASSERT_EQ(s.exit_code, 0);
    ASSERT_EQ(cf_worker_post_json(s.w, cf_json_new_null()), CF_ECLOSED);
    finish(loop, &s);
}

/* ---- a 64 MiB buffer moved both ways without a copy ---- */

#define BIG_LEN ((size_t)64 << 20)

static void big_worker_msg(cf_worker_self *self, cf_worker_message *msg, void *data)
{
    seen *s = data;
    size_t len = 0;
    cf_free_fn fn = NULL;
    unsigned char *b = cf_worker_message_take_bytes(msg, &len, &fn);
    s->bytes_same_pointer = b == s->expected_bytes && len == BIG_LEN;
    b[0] = 'W'; /* the worker owns it now: a write the parent will see */
    cf_worker_parent_post_bytes(self, b, len, fn);
    cf_worker_parent_close(self);
}

static int big_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    return cf_worker_parent_on_message(self, big_worker_msg, arg);
}

static void big_parent_msg(cf_worker *w, cf_worker_message *msg, void *data)
{
    (void)w;
    seen *s = data;
    size_t len = 0;
    const unsigned char *b = cf_worker_message_bytes(msg, &len);
    if (b == s->expected_bytes && len == BIG_LEN && b[0] == 'W' && b[BIG_LEN - 1] == 0xAB)
        s->messages++;
    /* not taken: the message frees it with its free function when this returns */
}

static void test_worker_bytes_move_without_copy(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    unsigned char *big = malloc(BIG_LEN);
    ASSERT_PTR(big);
    big[0] = 'P';
    big[BIG_LEN - 1] = 0xAB;
    s.expected_bytes = big;
    ASSERT_OK(cf_worker_new(loop, NULL, big_entry, &s, &s.w));
    listen_all(s.w, big_parent_msg, &s);
    ASSERT_OK(cf_worker_post_bytes(s.w, big, BIG_LEN, free));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.bytes_same_pointer, 1);
    ASSERT_EQ(s.messages, 1);
    ASSERT_EQ(s.exit_code, 0);
    finish(loop, &s);
}

/* ---- failures ---- */

static int fail_line;

static int failing_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    fail_line = __LINE__ + 1;
    cf_worker_fail(self, CF_ERROR(CF_EINVAL, "config 'x.json': bad value %d", 42));
    return CF_EINVAL; /* the first failure is the one reported */
}

static void test_worker_failure_reports_error_and_site(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    ASSERT_OK(cf_worker_new(loop, NULL, failing_entry, NULL, &s.w));
    listen_all(s.w, NULL, &s);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.errors, 1);
    ASSERT_EQ(s.err_code, CF_EINVAL);
    ASSERT_STR_EQ(s.err_message, "config 'x.json': bad value 42");
    ASSERT(strstr(s.err_file, "test_worker.c") != NULL);
    ASSERT_EQ(s.err_line, fail_line);
    ASSERT_EQ(s.exit_code, CF_WORKER_EXIT_FAILURE);
    finish(loop, &s);
}

static int returning_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)self;
    (void)loop;
    (void)arg;
    return CF_ENOENT;
}

/* An entry that just returns an error code: reported at the line that started the worker. */
static void test_worker_entry_error_code_names_the_creating_line(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    int line = __LINE__ + 1;
    ASSERT_OK(
        cf_worker_new(loop, &(cf_worker_opts){.name = "cf-failer"}, returning_entry, NULL, &s.w));
    listen_all(s.w, NULL, &s);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.errors, 1);
    ASSERT_EQ(s.err_code, CF_ENOENT);
    ASSERT_STR_EQ(s.err_message, "worker 'cf-failer': entry function returned -2");
    ASSERT(strstr(s.err_file, "test_worker.c") != NULL);
    ASSERT(s.err_line == line || s.err_line == line + 1); /* the call spans two lines */
    ASSERT_EQ(s.exit_code, CF_WORKER_EXIT_FAILURE);
    finish(loop, &s);
}

static int rejecting_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)self;
    (void)arg;
    /* Nobody handles it: an unhandled rejection, the worker's uncaught error. */
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "disk on fire")));
    return 0;
}

static void test_worker_unhandled_rejection_fails_it(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    ASSERT_OK(cf_worker_new(loop, NULL, rejecting_entry, NULL, &s.w));
    listen_all(s.w, NULL, &s);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.errors, 1);
    ASSERT_EQ(s.err_code, CF_EIO);
    ASSERT_STR_EQ(s.err_message, "disk on fire");
    ASSERT_EQ(s.exit_code, CF_WORKER_EXIT_FAILURE);
    finish(loop, &s);
}

/* ---- every message before the exit ---- */

static int burst_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    for (int i = 0; i < BURST_N; i++) {
        int rc = cf_worker_parent_post_json(self, cf_json_new_i64(i));
        if (rc != 0)
            return rc;
    }
    return 0; /* nothing listens: the loop ends at once, and the thread with it */
}

static void count_msg(cf_worker *w, cf_worker_message *msg, void *data)
{
    (void)w;
    seen *s = data;
    if (json_int(cf_worker_message_json(msg)) != s->messages)
        s->out_of_order++;
    s->messages++;
}

static void test_worker_messages_arrive_before_exit(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    ASSERT_OK(cf_worker_new(loop, NULL, burst_entry, NULL, &s.w));
    listen_all(s.w, count_msg, &s);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.at_exit, BURST_N);
    ASSERT_EQ(s.out_of_order, 0);
    ASSERT_EQ(s.exit_code, 0);
    ASSERT_EQ(s.errors, 0);
    finish(loop, &s);
}

/* Messages that reach the parent before it listens wait for its listener, in order. */
static void test_worker_messages_wait_for_a_listener(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    ASSERT_OK(cf_worker_new(loop, NULL, burst_entry, NULL, &s.w));
    ASSERT_OK(cf_worker_on_exit(s.w, on_exit_cb, &s));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* no listener: everything waits */
    ASSERT_EQ(s.exits, 1);
    ASSERT_EQ(s.messages, 0);
    ASSERT_OK(cf_worker_on_message(s.w, count_msg, &s));
    ASSERT_EQ(s.messages, 0); /* handed over from the loop, not inside the call */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.messages, BURST_N);
    ASSERT_EQ(s.out_of_order, 0);
    finish(loop, &s);
}

/* ---- terminate ---- */

typedef struct sleeper {
    cf_timer *timer;
    cf_abort_listener on_abort;
    int sleep_canceled;
} sleeper;

static void sleeper_timer_closed(void *data)
{
    (void)data;
}

static void sleeper_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    (void)signal;
    sleeper *sl = l->data;
    cf_timer_close(sl->timer, sleeper_timer_closed, NULL);
}

static void sleeper_timer_fired(cf_timer *t, void *data)
{
    (void)t;
    (void)data;
}

static void sleep_rejected(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    sleeper *sl = data;
    sl->sleep_canceled = cf_promise_code(settled) == CF_ECANCELED;
}

/* Worker: a one-hour sleep on its signal and a one-hour timer closed when the signal aborts. */
static int sleeper_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    sleeper *sl = arg;
    cf_promise *p = cf_sleep_p(loop, 3600 * 1000, cf_worker_signal(self));
    cf_promise_release(cf_promise_catch(p, sleep_rejected, sl));
    cf_promise_release(p);
    int rc = cf_timer_new(loop, &sl->timer);
    if (rc == 0)
        rc = cf_timer_start(sl->timer, 3600 * 1000, 0, sleeper_timer_fired, NULL);
    sl->on_abort.data = sl;
    if (rc == 0)
        rc = cf_abort_signal_listen(cf_worker_signal(self), &sl->on_abort, sleeper_abort);
    if (rc == 0)
        rc = cf_worker_parent_post_json(self, cf_json_new_string("sleeping", 8));
    return rc;
}

static void terminated(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    seen *s = data;
    s->exit_code = (int)(intptr_t)cf_promise_value(settled);
    s->exits++;
    s->elapsed_ms = now_ms() - s->t0;
}

static void terminate_on_first(cf_worker *w, cf_worker_message *msg, void *data)
{
    (void)msg;
    seen *s = data;
    s->messages++;
    s->t0 = now_ms();
    cf_promise *p = cf_worker_terminate_p(w);
    ASSERT_PTR(p);
    cf_promise_release(cf_promise_then(p, terminated, NULL, s));
    cf_promise_release(p);
    ASSERT_OK(cf_worker_terminate(w)); /* again: nothing more happens */
}

static void test_worker_terminate_stops_a_long_timer_promptly(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    sleeper sl = {0};
    ASSERT_OK(cf_worker_new(loop, NULL, sleeper_entry, &sl, &s.w));
    ASSERT_OK(cf_worker_on_message(s.w, terminate_on_first, &s));
    ASSERT_OK(cf_worker_on_error(s.w, on_error_cb, &s));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.messages, 1);
    ASSERT_EQ(s.exits, 1);
    ASSERT_EQ(s.exit_code, CF_WORKER_EXIT_FAILURE);
    ASSERT_EQ(s.errors, 0); /* a termination is not a failure */
    ASSERT_LE(s.elapsed_ms, 5000);
    ASSERT_EQ(sl.sleep_canceled, 1);
    ASSERT_EQ(cf_worker_terminate(s.w), CF_ECLOSED);
    /* After the exit the promise form fulfils at once with the same code. */
    s.exits = 0;
    cf_promise *p = cf_worker_terminate_p(s.w);
    cf_promise_release(cf_promise_then(p, terminated, NULL, &s));
    cf_promise_release(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.exits, 1);
    ASSERT_EQ(s.exit_code, CF_WORKER_EXIT_FAILURE);
    s.exits = 1;
    finish(loop, &s);
}

static void ignore_msg(cf_worker_self *self, cf_worker_message *msg, void *data)
{
    (void)self;
    (void)msg;
    (void)data;
}

/* The abort signal of the options terminates; the thread carries the name given. */
static int named_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    seen *s = arg;
    pthread_getname_np(pthread_self(), s->thread_name, sizeof s->thread_name);
    cf_worker_parent_on_message(self, ignore_msg, NULL); /* listens forever */
    return cf_worker_parent_post_json(self, cf_json_new_null());
}

static void abort_on_first(cf_worker *w, cf_worker_message *msg, void *data)
{
    (void)w;
    (void)msg;
    cf_abort(data, NULL);
}

static void test_worker_signal_option_terminates(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_worker_opts opts = {.name = "cf-named-worker-long", .signal = cf_abort_get_signal(ctrl)};
    ASSERT_OK(cf_worker_new(loop, &opts, named_entry, &s, &s.w));
    ASSERT_OK(cf_worker_on_message(s.w, abort_on_first, ctrl));
    ASSERT_OK(cf_worker_on_exit(s.w, on_exit_cb, &s));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.exit_code, CF_WORKER_EXIT_FAILURE);
    ASSERT_STR_EQ(s.thread_name, "cf-named-worker"); /* cut to 15 bytes */
    finish(loop, &s);
    cf_abort_free(ctrl);
}

/* ---- the parent's loop while a worker runs ---- */

static int forever_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return cf_worker_parent_on_message(self, ignore_msg, NULL); /* keeps its loop alive */
}

static void test_worker_parent_loop_close_waits_for_worker_close(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    seen s = {.loop = loop};
    ASSERT_OK(cf_worker_new(loop, NULL, forever_entry, NULL, &s.w));
    ASSERT_OK(cf_worker_on_exit(s.w, on_exit_cb, &s));
    /* Unref'd, the worker does not keep the parent running... */
    cf_worker_unref(s.w);
    ASSERT_EQ(cf_worker_has_ref(s.w), 0);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(cf_worker_is_active(s.w));
    /* ...but the loop does not close under it. */
    ASSERT_EQ(cf_loop_close(loop), CF_EBUSY);
    /* Closing terminates and joins it; the exit listener is not called after close. */
    ASSERT_OK(cf_worker_close(s.w, on_closed, &s));
    ASSERT_EQ(cf_worker_post_json(s.w, cf_json_new_null()), CF_ECLOSED);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s.closed, 1);
    ASSERT_EQ(s.exits, 0);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_worker_bad_arguments(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    cf_worker *w = (cf_worker *)1;
    ASSERT_EQ(cf_worker_new(NULL, NULL, forever_entry, NULL, &w), CF_EINVAL);
    ASSERT(w == NULL);
    ASSERT_EQ(cf_worker_new(loop, NULL, NULL, NULL, &w), CF_EINVAL);
    ASSERT_EQ(cf_worker_new(loop, &(cf_worker_opts){.stack_size = 1}, forever_entry, NULL, &w),
              CF_EINVAL);
    ASSERT_EQ(cf_worker_post_json(NULL, cf_json_new_null()), CF_EINVAL);
    ASSERT_EQ(cf_worker_post_bytes(NULL, cf_strdup("x"), 1, cf_free), CF_EINVAL);
    ASSERT_EQ(cf_worker_terminate(NULL), CF_EINVAL);
    ASSERT(cf_worker_terminate_p(NULL) == NULL);
    ASSERT_EQ(cf_worker_close(NULL, NULL, NULL), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_worker_ping_pong_keeps_order_both_ways);
    CF_TEST(test_worker_bytes_move_without_copy);
    CF_TEST(test_worker_failure_reports_error_and_site);
    CF_TEST(test_worker_entry_error_code_names_the_creating_line);
    CF_TEST(test_worker_unhandled_rejection_fails_it);
    CF_TEST(test_worker_messages_arrive_before_exit);
    CF_TEST(test_worker_messages_wait_for_a_listener);
    CF_TEST(test_worker_terminate_stops_a_long_timer_promptly);
    CF_TEST(test_worker_signal_option_terminates);
    CF_TEST(test_worker_parent_loop_close_waits_for_worker_close);
    CF_TEST(test_worker_bad_arguments);
    return CF_TEST_END();
}
