/*
 * async/await: tasks, await, sleep, deadlines, cancellation (calcifer/task.h).
 *
 * Ordering cases record labels in a log and compare the whole sequence; where the order is
 * Node's, the expected sequence is what the same program in JavaScript prints under Node 20.
 */
/* ctest-timeout: 300 */
#include <fcntl.h>

#include "harness.h"

#include "async/fiber.h"
#include "async/task.h"
#include "core/loop.h"
#include "util/alloc.h"
#include "util/util.h"

/* A string literal as the `void *` data of a callback. */
#define S(x) ((void *)(x))

/* ---- helpers ---- */

static char log_buf[8192];

static void log_reset(void)
{
    log_buf[0] = '\0';
}

static void log_add(const char *s)
{
    size_t len = strlen(log_buf);
    snprintf(log_buf + len, sizeof log_buf - len, "%s%s", len ? " " : "", s);
}

static cf_loop *new_loop(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static void run_and_close(cf_loop *loop)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

static void log_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    log_add(data);
}

/* A catch handler that handles the rejection and does nothing else. */
static void ignore(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
}

static void log_cb(void *data)
{
    log_add(data);
}

/* A ticker chain `t1` → `t2` → `t3` on an already-fulfilled promise. */
static void ticker(cf_loop *loop)
{
    static const char *const names[] = {"t1", "t2", "t3"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++) {
        cf_promise *next = cf_promise_then(p, log_handler, NULL, (void *)names[i]);
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
}

static int count_free;

static void counting_free(void *p)
{
    count_free++;
    cf_free(p);
}

/* ---- starting and ending ---- */

static int sync_until_await(cf_task *task, void *arg)
{
    (void)arg;
    log_add("body");
    ASSERT(cf_task_current() == task);
    ASSERT_OK(cf_await_null().status);
    log_add("resumed");
    return 0;
}

static void test_task_runs_synchronously_until_first_await(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    log_add("before");
    cf_promise *p = cf_async(loop, sync_until_await, NULL);
    ASSERT_PTR(p);
    log_add("after");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
    ASSERT(cf_task_current() == NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "before body after resumed");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static int returns_value(cf_task *task, void *arg)
{
    char *v = cf_strdup(arg);
    return cf_task_return(task, v, counting_free);
}

static void test_task_fulfils_with_returned_value(void)
{
    cf_loop *loop = new_loop();
    count_free = 0;
    cf_promise *p = cf_async(loop, returns_value, S("films"));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_STR_EQ(cf_promise_value(p), "films");
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_promise_release(p);
    ASSERT_EQ(count_free, 1);
    ASSERT_OK(cf_loop_close(loop));
}

static int throws_early(cf_task *task, void *arg)
{
    (void)arg;
    log_add("body");
    return cf_task_throw(task, CF_ERROR(CF_EPARSE, "early"));
}

static void test_task_failure_rejects_and_never_throws(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *p = cf_async(loop, throws_early, NULL);
    log_add("after");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_REJECTED);
    ASSERT_EQ(cf_promise_code(p), CF_EPARSE);
    ASSERT_STR_EQ(cf_promise_error(p)->message, "early");
    cf_promise_release(cf_promise_catch(p, log_handler, S("caught")));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "body after caught");
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static int returns_code(cf_task *task, void *arg)
{
    (void)task;
    (void)arg;
    return CF_ENOENT;
}

static void test_task_negative_return_rejects_with_that_code(void)
{
    cf_loop *loop = new_loop();
    cf_promise *p = cf_async(loop, returns_code, NULL);
    ASSERT_EQ(cf_promise_code(p), CF_ENOENT);
    ASSERT_STR_EQ(cf_promise_error(p)->message, cf_strerror(CF_ENOENT));
    cf_promise_release(cf_promise_catch(p, ignore, NULL));
    cf_promise_release(p);
    run_and_close(loop);
}

static int unhandled_count;

static void on_unhandled(cf_promise *p, void *data)
{
    (void)data;
    ASSERT_EQ(cf_promise_code(p), CF_EPARSE);
    unhandled_count++;
}

static void test_task_unhandled_failure_is_reported(void)
{
    cf_loop *loop = new_loop();
    unhandled_count = 0;
    ASSERT_OK(cf_on_unhandled_rejection(loop, on_unhandled, NULL));
    cf_promise_release(cf_async(loop, throws_early, NULL));
    run_and_close(loop);
    ASSERT_EQ(unhandled_count, 1);
}

/* ---- await timing (Node's order) ---- */

static int await_plain(cf_task *task, void *arg)
{
    (void)arg;
    log_add("f-start");
    cf_result r = cf_await(cf_promise_resolved(cf_task_loop(task), S("42"), NULL));
    ASSERT_OK(r.status);
    log_add(r.value);
    return 0;
}

/* ≈ scenario 32: await of a settled promise resumes after one turn. */
static void test_task_await_settled_takes_one_turn(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    ticker(loop);
    cf_promise_release(cf_async(loop, await_plain, NULL));
    log_add("sync-end");
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "f-start sync-end t1 42 t2 t3");
}

static void resolve_later(void *data)
{
    log_add("timer");
    ASSERT_OK(cf_promise_resolve(data, S("done"), NULL));
    cf_promise_release(data);
}

static int await_pending(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_promise *p = cf_promise_new(loop);
    ASSERT_OK(cf_set_timeout(loop, 5, resolve_later, cf_promise_retain(p), NULL));
    log_add("before");
    cf_result r = cf_await(p);
    ASSERT_OK(r.status);
    log_add(r.value);
    cf_queue_microtask(loop, log_cb, S("micro"));
    return 0;
}

/* ≈ scenario 33: resumed in the drain right after the callback that settles the promise. */
static void test_task_await_pending_resumes_after_settling_callback(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *p = cf_async(loop, await_pending, NULL);
    cf_promise_release(cf_promise_then(p, log_handler, NULL, S("task-done")));
    cf_promise_release(p);
    ASSERT_OK(cf_set_timeout(loop, 30, log_cb, S("timer-30"), NULL));
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "before timer done micro task-done timer-30");
}

/*
 * The fast path keeps Node's order. JavaScript:
 *   async function f(){ const p=Promise.resolve(1); log('f0'); await p; log('f1'); await p;
 *     log('f2'); queueMicrotask(()=>log('m')); await p; log('f3'); await p; log('f4');
 *     process.nextTick(()=>log('tick')); await p; log('f5'); await null; log('f6'); }
 *   ticker t1 → t2 → t3; f();
 * prints: f0 t1 f1 t2 f2 t3 m f3 f4 f5 f6 tick
 */
static int await_many(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    log_add("f0");
    ASSERT_OK(cf_await(cf_promise_retain(p)).status);
    log_add("f1");
    ASSERT_OK(cf_await(cf_promise_retain(p)).status);
    log_add("f2");
    cf_queue_microtask(loop, log_cb, S("m"));
    ASSERT_OK(cf_await(cf_promise_retain(p)).status);
    log_add("f3");
    ASSERT_OK(cf_await(cf_promise_retain(p)).status);
    log_add("f4");
    cf_next_tick(loop, log_cb, S("tick"));
    ASSERT_OK(cf_await(cf_promise_retain(p)).status);
    log_add("f5");
    ASSERT_OK(cf_await_null().status);
    log_add("f6");
    cf_promise_release(p);
    return 0;
}

static void test_task_fast_path_keeps_node_order(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    ticker(loop);
    cf_promise_release(cf_async(loop, await_many, NULL));
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "f0 t1 f1 t2 f2 t3 m f3 f4 f5 f6 tick");
}

/*
 * After a timer: async function f(){ log('f0'); await new Promise(r=>setTimeout(r,1));
 *   log('f1'); process.nextTick(()=>log('tick')); queueMicrotask(()=>log('m'));
 *   await null; log('f2'); await null; log('f3'); }
 * prints: f0 f1 m f2 f3 tick (the task resumes as a microtask, not inside the timer).
 */
static int sleep_then_queue(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    log_add("f0");
    ASSERT_OK(cf_sleep(loop, 1).status);
    log_add("f1");
    cf_next_tick(loop, log_cb, S("tick"));
    cf_queue_microtask(loop, log_cb, S("m"));
    ASSERT_OK(cf_await_null().status);
    log_add("f2");
    ASSERT_OK(cf_await_null().status);
    log_add("f3");
    return 0;
}

static void test_task_sleep_resumes_as_microtask(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise_release(cf_async(loop, sleep_then_queue, NULL));
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "f0 f1 m f2 f3 tick");
}

static int worker(cf_task *task, void *arg)
{
    (void)task;
    char label[32];
    for (int i = 1; i <= 3; i++) {
        snprintf(label, sizeof label, "%s%d", (const char *)arg, i);
        log_add(label);
        ASSERT_OK(cf_await_null().status);
    }
    snprintf(label, sizeof label, "%s-done", (const char *)arg);
    log_add(label);
    return 0;
}

/* ≈ scenario 38: two tasks awaiting in lock-step alternate. */
static void test_task_two_tasks_interleave(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise_release(cf_async(loop, worker, S("A")));
    cf_promise_release(cf_async(loop, worker, S("B")));
    log_add("sync");
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "A1 B1 sync A2 B2 A3 B3 A-done B-done");
}

/* ---- errors across awaits ---- */

static int fail_line;

static int inner_fails(cf_task *task, void *arg)
{
    (void)arg;
    ASSERT_OK(cf_await_null().status);
    fail_line = __LINE__ + 1;
    cf_promise *p = cf_promise_rejected(cf_task_loop(task), CF_ERROR(CF_EACCES, "open 'x'"));
    return cf_await(p).status; /* passes the error up unchanged */
}

static int middle(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_await(cf_async(cf_task_loop(task), inner_fails, NULL));
    ASSERT_EQ(r.status, CF_EACCES);
    const cf_error *e = r.error;
    ASSERT_PTR(e);
    ASSERT_STR_EQ(e->message, "open 'x'");
    ASSERT_EQ(e->line, fail_line);
    return r.status; /* unchanged: the awaited error goes up */
}

static int outer_catches(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_await(cf_async(cf_task_loop(task), middle, NULL));
    ASSERT_EQ(r.status, CF_EACCES);
    const cf_error *e = r.error;
    ASSERT_STR_EQ(e->message, "open 'x'");
    ASSERT_EQ(e->line, fail_line);
    ASSERT(strstr(e->file, "test_task.c") != NULL);
    ASSERT_STR_EQ(e->func, "inner_fails");
    log_add("caught");
    return cf_task_return(task, S("recovered"), NULL);
}

static void test_task_error_keeps_file_and_line_across_awaits(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *p = cf_async(loop, outer_catches, NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "caught");
    ASSERT_STR_EQ(cf_promise_value(p), "recovered");
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static int try_catch(cf_task *task, void *arg)
{
    (void)arg;
    log_add("awaiting");
    cf_result r = cf_await(cf_promise_rejected(cf_task_loop(task), CF_ERROR(CF_EINVAL, "nope")));
    if (r.status < 0) {
        log_add(r.error->message);
    } else {
        log_add("not-reached");
    }
    log_add("finally");
    return cf_task_return(task, S("f-result"), NULL);
}

/* ≈ scenario 37. */
static void test_task_await_rejected_is_caught(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *p = cf_async(loop, try_catch, NULL);
    cf_promise_release(cf_promise_then(p, log_handler, NULL, S("f-resolved")));
    cf_promise_release(p);
    ticker(loop);
    log_add("sync-end");
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "awaiting sync-end nope finally t1 f-resolved t2 t3");
}

/* cf_task_rethrow: the task's promise rejects with a copy of the awaited error, its site kept. */
static int rethrow_line;
static const char *rethrow_func;

static int awaits_and_rethrows(cf_task *task, void *arg)
{
    cf_result r = cf_await(cf_promise_retain(arg));
    ASSERT_EQ(r.status, CF_EACCES);
    log_add("rethrow");
    int rc = cf_task_rethrow(task, r.error);
    ASSERT_EQ(rc, CF_EACCES); /* the error's code, for `return cf_task_rethrow(...)` */
    return rc;
}

static int rethrows_null(cf_task *task, void *arg)
{
    (void)arg;
    return cf_task_rethrow(task, NULL); /* as a failed copy: CF_ENOMEM */
}

static void test_task_rethrow_rejects_with_copy_of_awaited_error(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    rethrow_func = __func__;
    rethrow_line = __LINE__ + 1;
    cf_promise *src = cf_promise_rejected(loop, CF_ERROR(CF_EACCES, "open 'y'"));
    cf_promise *p = cf_async(loop, awaits_and_rethrows, src);
    cf_promise_release(cf_promise_catch(p, ignore, NULL));
    cf_promise *q = cf_async(loop, rethrows_null, NULL);
    cf_promise_release(cf_promise_catch(q, ignore, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "rethrow");
    const cf_error *e = cf_promise_error(p);
    ASSERT_PTR(e);
    ASSERT(e != cf_promise_error(src)); /* a copy: the awaited promise keeps its own */
    ASSERT_EQ(e->code, CF_EACCES);
    ASSERT_STR_EQ(e->message, "open 'y'");
    ASSERT_EQ(e->line, rethrow_line);
    ASSERT(strstr(e->file, "test_task.c") != NULL);
    ASSERT_STR_EQ(e->func, rethrow_func);
    ASSERT_EQ(cf_promise_code(q), CF_ENOMEM);
    ASSERT_EQ(cf_task_rethrow(NULL, cf_promise_error(src)), CF_EINVAL);
    cf_promise_release(p);
    cf_promise_release(q);
    cf_promise_release(src);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- misuse ---- */
/* Outside a task the result still carries an error saying so. */
static void test_task_enotask_result_has_error(void)
{
    cf_loop *loop = new_loop();
    cf_result r = cf_await(cf_promise_new(loop));
    ASSERT_EQ(r.status, CF_ENOTASK);
    ASSERT_PTR(r.error);
    ASSERT_EQ(r.error->code, CF_ENOTASK);
    ASSERT(r.value == NULL);
    ASSERT_EQ(r.value_is_reason, 0);
    r = cf_await_signal(cf_promise_resolved(loop, S("v"), NULL), NULL);
    ASSERT_EQ(r.status, CF_ENOTASK);
    ASSERT_PTR(r.error);
    ASSERT_EQ(r.error->code, CF_ENOTASK);
    ASSERT(r.value == NULL); /* the promise was not awaited: no value */
    run_and_close(loop);
}

static void test_task_await_outside_task_is_enotask(void)
{
    cf_loop *loop = new_loop();
    ASSERT_EQ(cf_await(cf_promise_resolved(loop, cf_strdup("x"), cf_free)).status, CF_ENOTASK);
    cf_abort_signal *deadline = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 5, &deadline));
    ASSERT_EQ(cf_await_signal(cf_promise_new(loop), deadline).status, CF_ENOTASK);
    cf_abort_signal_release(deadline);
    ASSERT_EQ(cf_await_null().status, CF_ENOTASK);
    ASSERT_EQ(cf_sleep(loop, 1).status, CF_ENOTASK);
    ASSERT(cf_task_current() == NULL);
    run_and_close(loop);
}

static int await_null_promise(cf_task *task, void *arg)
{
    (void)task;
    (void)arg;
    ASSERT_EQ(cf_await(NULL).status, CF_ENOMEM);
    log_add("enomem");
    return 0;
}

static void test_task_await_null_promise_is_enomem(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise_release(cf_async(loop, await_null_promise, NULL));
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "enomem");
}

static int await_other_loop(cf_task *task, void *arg)
{
    (void)task;
    ASSERT_EQ(cf_await(cf_promise_resolved(arg, NULL, NULL)).status, CF_EINVAL);
    ASSERT_EQ(cf_sleep(arg, 1).status, CF_EINVAL);
    return 0;
}

static void test_task_await_of_another_loop_is_einval(void)
{
    cf_loop *loop = new_loop();
    cf_loop *other = new_loop();
    cf_promise *p = cf_async(loop, await_other_loop, other);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    run_and_close(loop);
    run_and_close(other);
}

/* ---- values ---- */

/* Runs while the task sleeps: the value of the await before the sleep is still there. */
static void still_alive(void *data)
{
    ASSERT_EQ(count_free, 0);
    ASSERT_STR_EQ(data, "one");
    log_add("alive");
}

static int borrow_values(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_result r = cf_await(cf_promise_resolved(loop, cf_strdup("one"), counting_free));
    ASSERT_OK(r.status);
    char *v = r.value;
    ASSERT_STR_EQ(v, "one");
    /* Valid until the next await returns: it can be handed to the operation awaited next. */
    ASSERT_OK(cf_set_timeout(loop, 1, still_alive, v, NULL));
    ASSERT_OK(cf_sleep(loop, 5).status);
    ASSERT_EQ(count_free, 1); /* released when the sleep returned */
    r = cf_await(cf_promise_resolved(loop, cf_strdup("two"), counting_free));
    ASSERT_OK(r.status);
    v = r.value;
    ASSERT_STR_EQ(v, "two");
    return 0; /* the end releases it */
}

static void test_task_awaited_value_lives_until_next_await_returns(void)
{
    cf_loop *loop = new_loop();
    count_free = 0;
    log_reset();
    cf_promise_release(cf_async(loop, borrow_values, NULL));
    run_and_close(loop);
    ASSERT_EQ(count_free, 2);
    ASSERT_STR_EQ(log_buf, "alive");
}

/* ---- stacks ---- */

static size_t recurse(size_t depth)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)depth;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1) + frame[sizeof frame - 1];
}

static int deep(cf_task *task, void *arg)
{
    size_t depth = *(size_t *)arg;
    ASSERT_GE(cf__fiber_stack_size(task->fiber), 512 * 1024);
    ASSERT_OK(cf_await_null().status);
    recurse(depth); /* about 1 KiB per level, after a suspension */
    ASSERT_OK(cf_await_null().status);
    return 0;
}

static void test_task_deep_recursion_within_configured_stack(void)
{
    cf_loop *loop = new_loop();
    size_t depth = 400; /* ~ 420 KiB of a 512 KiB stack */
    cf_task_opts opts = {.stack_size = 512 * 1024};
    cf_promise *p = cf_async_ex(loop, deep, &depth, &opts);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    /* The same through the loop's defaults, in copy-stack mode. */
    cf_task_opts defaults = {.stack_size = 512 * 1024, .stack = CF_STACK_COPY};
    ASSERT_OK(cf_task_set_defaults(loop, &defaults));
    p = cf_async(loop, deep, &depth);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_EQ(cf_task_set_defaults(loop, &(cf_task_opts){.stack = 7}), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

#define MANY 10000

static int sleeper_done;

static int sleeper(cf_task *task, void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    char local[64];
    snprintf(local, sizeof local, "task %u", (unsigned)i);
    ASSERT_OK(cf_sleep(cf_task_loop(task), 1 + i % 7).status);
    char expect[64];
    snprintf(expect, sizeof expect, "task %u", (unsigned)i);
    ASSERT_STR_EQ(local, expect); /* the frame survived the suspension */
    sleeper_done++;
    return 0;
}

static void many_sleepers(cf_stack_mode mode)
{
    cf_loop *loop = new_loop();
    cf_task_opts opts = {.stack = mode};
    sleeper_done = 0;
    for (uintptr_t i = 0; i < MANY; i++) {
        cf_promise *p = cf_async_ex(loop, sleeper, (void *)i, &opts);
        ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
        cf_promise_release(p);
    }
    cf__task_loop *cl = cf__loop_slot(loop, CF__SLOT_TASK);
    size_t live = 0;
    cf_queue *q;
    cf_queue_foreach(q, &cl->tasks)
    {
        live++;
    }
    ASSERT_EQ(live, MANY);
    ASSERT_EQ(sleeper_done, 0);
    run_and_close(loop);
    ASSERT_EQ(sleeper_done, MANY);
    cf__fiber_pool_trim();
}

static void test_task_ten_thousand_suspended_on_timers(void)
{
    many_sleepers(CF_STACK_DEDICATED);
}

static void test_task_ten_thousand_suspended_copy_stack(void)
{
    many_sleepers(CF_STACK_COPY);
}

/* ---- tasks awaiting tasks ---- */

static int chain_link(cf_task *task, void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    if (n == 0) {
        ASSERT_OK(cf_sleep(cf_task_loop(task), 1).status);
        return cf_task_return(task, (void *)(uintptr_t)1000, NULL);
    }
    cf_result r = cf_await(cf_async(cf_task_loop(task), chain_link, (void *)(n - 1)));
    ASSERT_OK(r.status);
    return cf_task_return(task, (void *)((uintptr_t)r.value + 1), NULL);
}

static void test_task_tasks_awaiting_tasks(void)
{
    for (int mode = CF_STACK_DEDICATED; mode <= CF_STACK_COPY; mode++) {
        cf_loop *loop = new_loop();
        /* Each task starts the next one from its own stack; in copy-stack mode they all
         * share one run stack, so every start and every resumption moves stack images. */
        ASSERT_OK(cf_task_set_defaults(loop, &(cf_task_opts){.stack = (cf_stack_mode)mode}));
        cf_promise *p = cf_async(loop, chain_link, (void *)(uintptr_t)200);
        ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
        ASSERT_EQ((uintptr_t)cf_promise_value(p), 1200);
        cf_promise_release(p);
        ASSERT_OK(cf_loop_close(loop));
    }
}

/* ---- sleep ---- */

static int sleep_10(cf_task *task, void *arg)
{
    (void)arg;
    ASSERT_OK(cf_sleep(cf_task_loop(task), 10).status);
    log_add("sleep");
    return 0;
}

static void test_task_sleep_orders_with_timers(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    ASSERT_OK(cf_set_timeout(loop, 10, log_cb, S("timer-a"), NULL));
    cf_promise_release(cf_async(loop, sleep_10, NULL));
    ASSERT_OK(cf_set_timeout(loop, 10, log_cb, S("timer-b"), NULL));
    ASSERT_OK(cf_set_timeout(loop, 5, log_cb, S("timer-5"), NULL));
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "timer-5 timer-a sleep timer-b");
}

static void test_task_sleep_p_fulfils_after_delay(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *p = cf_sleep_p(loop, 5, NULL);
    cf_promise_release(cf_promise_then(p, log_handler, NULL, S("slept")));
    ASSERT_OK(cf_set_timeout(loop, 5, log_cb, S("timer"), NULL));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "slept timer");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- deadlines and signals ---- */

static int await_with_deadline(cf_task *task, void *arg)
{
    cf_promise *never = arg;
    cf_loop *loop = cf_task_loop(task);
    cf_abort_signal *deadline = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 5, &deadline));
    cf_result r = cf_await_signal(cf_promise_retain(never), deadline);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_EQ(r.error->code, CF_ECANCELED);
    ASSERT_PTR(r.error->cause);
    ASSERT_EQ(r.error->cause->code, CF_ETIMEDOUT);
    cf_abort_signal_release(deadline);
    log_add("timed-out");
    /* A settled promise beats its deadline. */
    ASSERT_OK(cf_abort_signal_timeout(loop, 5, &deadline));
    r = cf_await_signal(cf_promise_resolved(loop, S("fast"), NULL), deadline);
    cf_abort_signal_release(deadline);
    ASSERT_OK(r.status);
    log_add(r.value);
    /* The same promise again, once it settles (its first reaction is stale). */
    r = cf_await(cf_promise_retain(never));
    ASSERT_OK(r.status);
    log_add(r.value);
    return 0;
}

static void test_task_await_signal_deadline(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *never = cf_promise_new(loop);
    cf_promise *p = cf_async(loop, await_with_deadline, never);
    ASSERT_OK(cf_set_timeout(loop, 20, resolve_later, cf_promise_retain(never), NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "timed-out fast timer done");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    cf_promise_release(never);
    ASSERT_OK(cf_loop_close(loop));
}

static void abort_later(void *data)
{
    log_add("abort");
    ASSERT_OK(cf_abort(data, NULL));
}

static int await_with_signal(cf_task *task, void *arg)
{
    cf_loop *loop = cf_task_loop(task);
    cf_abort_signal *signal = arg;
    cf_promise *never = cf_promise_new(loop);
    cf_result r = cf_await_signal(cf_promise_retain(never), signal);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_STR_EQ(r.error->message, "The operation was aborted");
    ASSERT_PTR(r.error->cause);
    ASSERT_STR_EQ(r.error->cause->message, "This operation was aborted"); /* the default reason */
    log_add("cancelled");
    /* Already aborted: at once. */
    ASSERT_EQ(cf_await_signal(cf_promise_retain(never), signal).status, CF_ECANCELED);
    /* A timeout signal. */
    cf_abort_signal *timeout = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 5, &timeout));
    r = cf_await_signal(cf_promise_retain(never), timeout);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_PTR(r.error->cause);
    ASSERT_EQ(r.error->cause->code, CF_ETIMEDOUT);
    ASSERT_STR_EQ(r.error->cause->message, "The operation was aborted due to timeout");
    cf_abort_signal_release(timeout);
    log_add("timed-out");
    ASSERT_OK(cf_promise_resolve(never, NULL, NULL));
    cf_promise_release(never);
    return 0;
}

static void test_task_await_signal(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_abort_controller *ctrl = NULL;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_promise *p = cf_async(loop, await_with_signal, cf_abort_get_signal(ctrl));
    ASSERT_OK(cf_set_timeout(loop, 2, abort_later, ctrl, NULL));
    /* A timeout signal's timer does not keep the loop alive (as Node's): this one does. */
    ASSERT_OK(cf_set_timeout(loop, 50, log_cb, S("keep-alive"), NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "abort cancelled timed-out keep-alive");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

static int cleaned_up;

static int cancellable(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    char *resource = cf_strdup("socket");
    cf_promise *never = cf_promise_new(loop);
    cf_result r = cf_await(never);
    int rc = r.status;
    log_add("woken");
    ASSERT_EQ(rc, CF_ECANCELED);
    ASSERT_EQ(cf_task_cancelled(task), CF_ECANCELED);
    ASSERT_EQ(r.error->code, CF_ECANCELED);
    /* Every later await fails at once. */
    ASSERT_EQ(cf_await(cf_promise_resolved(loop, NULL, NULL)).status, CF_ECANCELED);
    ASSERT_EQ(cf_sleep(loop, 1000).status, CF_ECANCELED);
    ASSERT_EQ(cf_await_null().status, CF_ECANCELED);
    cf_free(resource);
    cleaned_up++;
    return rc;
}

static void test_task_cancel_while_suspended(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cleaned_up = 0;
    cf_abort_controller *ctrl = NULL;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_task_opts opts = {.signal = cf_abort_get_signal(ctrl)};
    cf_promise *p = cf_async_ex(loop, cancellable, NULL, &opts);
    cf_promise_release(cf_promise_catch(p, ignore, NULL));
    ASSERT_OK(cf_set_timeout(loop, 1, abort_later, ctrl, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "abort woken");
    ASSERT_EQ(cleaned_up, 1);
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    cf_promise_release(p);
    /* An aborted signal: the task does not start. */
    p = cf_async_ex(loop, cancellable, NULL, &opts);
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    ASSERT_EQ(cleaned_up, 1);
    cf_promise_release(cf_promise_catch(p, ignore, NULL));
    cf_promise_release(p);
    cf_abort_free(ctrl);
    run_and_close(loop);
}

static void test_task_loop_close_finishes_suspended_tasks(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cleaned_up = 0;
    /* Awaits a promise nobody settles, so the loop ends with the task suspended. */
    cf_promise *p = cf_async(loop, cancellable, NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_PENDING);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(cleaned_up, 1);
    ASSERT_STR_EQ(log_buf, "woken");
}

static void abort_with_reason(void *data)
{
    log_add("abort");
    ASSERT_OK(cf_abort(data, CF_ERROR(CF_EIO, "user left")));
}

/* An await given up by cf_abort with a reason: CF_ECANCELED, the reason as the cause. */
static int await_aborted_with_reason(cf_task *task, void *arg)
{
    cf_loop *loop = cf_task_loop(task);
    cf_abort_signal *signal = arg;
    cf_promise *never = cf_promise_new(loop);
    int await_line = __LINE__ + 1;
    cf_result r = cf_await_signal(cf_promise_retain(never), signal);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_EQ(r.error->code, CF_ECANCELED);
    ASSERT_STR_EQ(r.error->message, "The operation was aborted");
    /* The abort names the await that gave up, not the line that started the task. */
    ASSERT_PTR(r.error->file);
    ASSERT_PTR(strstr(r.error->file, "test_task.c"));
    ASSERT_EQ(r.error->line, await_line);
    const cf_error *cause = cf_error_cause(r.error);
    ASSERT_PTR(cause);
    ASSERT(cause == r.error->cause);
    ASSERT_EQ(cause->code, CF_EIO);
    ASSERT_STR_EQ(cause->message, "user left");
    ASSERT(cause != cf_abort_signal_reason(signal)); /* a copy of the reason */
    ASSERT_EQ(cf_task_cancelled(task), 0);           /* only the await gave up */
    log_add("aborted");
    /* The promise went on: awaited again without the signal, it fulfils. */
    ASSERT_OK(cf_promise_resolve(never, S("later"), NULL));
    r = cf_await(never);
    ASSERT_OK(r.status);
    log_add(r.value);
    return 0;
}

static void test_task_await_aborted_with_reason(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_abort_controller *ctrl = NULL;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_promise *p = cf_async(loop, await_aborted_with_reason, cf_abort_get_signal(ctrl));
    ASSERT_OK(cf_set_timeout(loop, 1, abort_with_reason, ctrl, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "abort aborted later");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

/* A task cancelled through its signal: its await fails with CF_ECANCELED, the reason as cause. */
static int cancelled_with_cause(cf_task *task, void *arg)
{
    (void)arg;
    int sleep_line = __LINE__ + 1;
    cf_result r = cf_sleep(cf_task_loop(task), 3600 * 1000);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_EQ(r.error->line, sleep_line); /* the sleep the task was cancelled in */
    r = cf_await(cf_promise_new(cf_task_loop(task)));
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_EQ(cf_task_cancelled(task), CF_ECANCELED);
    ASSERT_STR_EQ(r.error->message, "The operation was aborted");
    ASSERT_PTR(r.error->cause);
    ASSERT_EQ(r.error->cause->code, CF_EIO);
    ASSERT_STR_EQ(r.error->cause->message, "user left");
    log_add("cancelled");
    return r.status; /* unchanged: the promise rejects with the await's error */
}

static void test_task_cancelled_through_signal_has_cause(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_abort_controller *ctrl = NULL;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_task_opts opts = {.signal = cf_abort_get_signal(ctrl)};
    cf_promise *p = cf_async_ex(loop, cancelled_with_cause, NULL, &opts);
    cf_promise_release(cf_promise_catch(p, ignore, NULL));
    ASSERT_OK(cf_set_timeout(loop, 1, abort_with_reason, ctrl, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "abort cancelled");
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    const cf_error *e = cf_promise_error(p);
    ASSERT_PTR(e);
    ASSERT_PTR(e->cause);
    ASSERT_STR_EQ(e->cause->message, "user left");
    cf_promise_release(p);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- out of memory ---- */

static int oom_body(cf_task *task, void *arg)
{
    (void)arg;
    int rc = cf_await_null().status;
    if (rc < 0)
        return rc;
    rc = cf_sleep(cf_task_loop(task), 1).status;
    if (rc < 0)
        return rc;
    return cf_await(cf_promise_resolved(cf_task_loop(task), NULL, NULL)).status;
}

/*
 * Fail allocation n (once, or every one from n on) for n = 1, 2, ... until the scenario runs
 * without a failure: each failing run ends with CF_ENOMEM somewhere and leaks nothing.
 */
static void oom_loop(int sticky)
{
    for (long n = 1; n < 500; n++) {
        cf_loop *loop = new_loop();
        cf__alloc_fail_after(n, sticky);
        cf_promise *p = cf_async(loop, oom_body, NULL);
        if (p)
            cf_promise_release(cf_promise_catch(p, ignore, NULL));
        int rc = cf_run(loop, CF_RUN_DEFAULT);
        long used = cf__alloc_fail_after(0, 0);
        ASSERT(rc == 0 || rc == CF_ENOMEM);
        for (int i = 0; i < 10 && rc != 0; i++) {
            rc = cf_run(loop, CF_RUN_DEFAULT);
        }
        ASSERT_OK(rc);
        if (p && cf_promise_state(p) == CF_PROMISE_REJECTED)
            ASSERT_EQ(cf_promise_code(p), CF_ENOMEM);
        cf_promise_release(p);
        ASSERT_OK(cf_loop_close(loop));
        if (used < n)
            return; /* no allocation failed: every failing point before this one was tried */
    }
    ASSERT(!"never succeeded");
}

static void test_task_out_of_memory_fails_cleanly(void)
{
    oom_loop(0);
    oom_loop(1);
}

/* ---- returning promises and thenables, awaiting thenables, value reasons ---- */

/* Five ticker steps t1..t5 (as ticker, longer). */
static void ticker5(cf_loop *loop)
{
    static const char *const names[] = {"t1", "t2", "t3", "t4", "t5"};
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++) {
        cf_promise *next = cf_promise_then(p, log_handler, NULL, (void *)names[i]);
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
}

/* A thenable that logs when its then is called and resolves at once with its label. */
typedef struct sync_thenable {
    cf_thenable base;
    const char *label;
    int reject;
    int released;
} sync_thenable;

static cf_error *sync_then(cf_thenable *self, cf_promise *resolver)
{
    sync_thenable *t = (sync_thenable *)self;
    log_add("then");
    if (t->reject)
        (void)cf_promise_reject_value(resolver, (void *)t->label, NULL);
    else
        (void)cf_promise_resolve(resolver, (void *)t->label, NULL);
    return NULL;
}

static void sync_release(cf_thenable *self)
{
    ((sync_thenable *)self)->released++;
}

static void log_value(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[96];
    snprintf(buf, sizeof buf, "%s=%s", (const char *)data, (const char *)cf_promise_value(settled));
    log_add(buf);
}

static int returns_promise(cf_task *task, void *arg)
{
    (void)arg;
    return cf_task_return_promise(task, cf_promise_resolved(cf_task_loop(task), S("p"), NULL));
}

static int returns_thenable(cf_task *task, void *arg)
{
    return cf_task_return_thenable(task, arg);
}

static int returns_awaited(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_await(cf_promise_resolved(cf_task_loop(task), S("a"), NULL));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    return cf_task_return(task, r.value, NULL);
}

static int returns_plain(cf_task *task, void *arg)
{
    (void)arg;
    return cf_task_return(task, S("v"), NULL);
}

/* Node 20: see tests/conformance/node_rules/50-async-return-promise (without its timer). */
static void test_task_return_promise_turns(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    sync_thenable th = {{sync_then, sync_release}, "t", 0, 0};
    ticker5(loop);
    /* Each then is attached right after its call, as `f().then(...)` does. */
    static const char *const labels[] = {"value", "promise", "thenable", "awaited"};
    cf_async_fn fns[] = {returns_plain, returns_promise, returns_thenable, returns_awaited};
    for (size_t i = 0; i < CF_ARRAY_LEN(fns); i++) {
        cf_promise *p = cf_async(loop, fns[i], &th);
        cf_promise_release(cf_promise_then(p, log_value, NULL, (void *)labels[i]));
        cf_promise_release(p);
    }
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "t1 value=v then t2 thenable=t awaited=a t3 promise=p t4 t5");
    ASSERT_EQ(th.released, 1);
}

static int awaits_thenable(cf_task *task, void *arg)
{
    (void)task;
    cf_result r = cf_await_thenable(arg);
    char buf[96];
    if (r.status == 0) {
        snprintf(buf, sizeof buf, "await=%s", (const char *)r.value);
    } else {
        snprintf(buf, sizeof buf, "threw=%s(%s)", r.value_is_reason ? (const char *)r.value : "?",
                 r.value_is_reason ? "value" : "error");
    }
    log_add(buf);
    return 0;
}

static void test_task_await_thenable(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    sync_thenable ok = {{sync_then, sync_release}, "s", 0, 0};
    sync_thenable bad = {{sync_then, sync_release}, "r", 1, 0};
    ticker5(loop);
    cf_promise_release(cf_async(loop, awaits_thenable, &ok));
    cf_promise_release(cf_async(loop, awaits_thenable, &bad));
    run_and_close(loop);
    /* ≈ Node: the then job runs in turn 1, the await resumes in turn 2. */
    ASSERT_STR_EQ(log_buf, "t1 then then t2 await=s threw=r(value) t3 t4 t5");
    ASSERT_EQ(ok.released, 1);
    ASSERT_EQ(bad.released, 1);
}

static int throws_value(cf_task *task, void *arg)
{
    return cf_task_throw_value(task, arg, NULL);
}

static void reject_value_later(void *data)
{
    ASSERT_OK(cf_promise_reject_value(data, S("late"), NULL));
    cf_promise_release(data);
}

/* A promise rejected with a value (≈ `throw 42`, `throw undefined`) is told from an error. */
static int awaits_value_reasons(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_result r = cf_await(cf_promise_rejected_value(loop, S("42"), NULL));
    ASSERT_EQ(r.status, CF_EUNKNOWN);
    ASSERT_EQ(r.value_is_reason, 1);
    ASSERT_STR_EQ((const char *)r.value, "42");
    ASSERT_PTR(r.error);
    /* NULL thrown: only value_is_reason tells it from an error. */
    r = cf_await(cf_promise_rejected_value(loop, NULL, NULL));
    ASSERT_EQ(r.status, CF_EUNKNOWN);
    ASSERT_EQ(r.value_is_reason, 1);
    ASSERT(r.value == NULL);
    /* A pending promise rejected with a value later. */
    cf_promise *later = cf_promise_new(loop);
    ASSERT_OK(cf_set_timeout(loop, 1, reject_value_later, cf_promise_retain(later), NULL));
    r = cf_await(later);
    ASSERT_EQ(r.status, CF_EUNKNOWN);
    ASSERT_EQ(r.value_is_reason, 1);
    ASSERT_STR_EQ((const char *)r.value, "late");
    /* An error is not a value reason. */
    r = cf_await(cf_promise_rejected(loop, CF_ERROR(CF_EIO, "disk")));
    ASSERT_EQ(r.status, CF_EIO);
    ASSERT_EQ(r.value_is_reason, 0);
    ASSERT(r.value == NULL);
    ASSERT_STR_EQ(r.error->message, "disk");
    /* Nor is a fulfilment. */
    r = cf_await(cf_promise_resolved(loop, S("ok"), NULL));
    ASSERT_OK(r.status);
    ASSERT_EQ(r.value_is_reason, 0);
    ASSERT(r.error == NULL);
    ASSERT_STR_EQ((const char *)r.value, "ok");
    log_add("checked");
    return 0;
}

static void test_task_await_value_rejection_sets_value_is_reason(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *p = cf_async(loop, awaits_value_reasons, NULL);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "checked");
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static int rethrows(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_await(cf_async(cf_task_loop(task), throws_value, S("deep")));
    ASSERT_EQ(r.status, CF_EUNKNOWN);
    ASSERT_EQ(r.value_is_reason, 1);
    ASSERT_STR_EQ((const char *)r.value, "deep");
    return r.status; /* passes the value on unchanged */
}

static void log_reason(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    char buf[96];
    int is_error = cf_promise_reason_is_error(settled);
    snprintf(buf, sizeof buf, "%s:%s=%s", (const char *)data, is_error ? "error" : "value",
             is_error ? cf_promise_error(settled)->message
                      : (const char *)cf_promise_reason(settled));
    log_add(buf);
}

static int throws_error_then_awaits_ok(cf_task *task, void *arg)
{
    (void)arg;
    ASSERT_OK(cf_await_null().status);
    /* An await that did not fail has no reason and no error. */
    cf_result r = cf_await(cf_promise_resolved(cf_task_loop(task), NULL, NULL));
    ASSERT_OK(r.status);
    ASSERT_EQ(r.value_is_reason, 0);
    ASSERT(r.error == NULL);
    return cf_task_throw(task, CF_ERROR(CF_EIO, "plain"));
}

static void test_task_throw_value_and_await_reason(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *a = cf_async(loop, throws_value, S("v"));
    ASSERT_EQ(cf_promise_reason_is_error(a), 0); /* settled before cf_async returned */
    cf_promise *b = cf_async(loop, rethrows, NULL);
    cf_promise *c = cf_async(loop, throws_error_then_awaits_ok, NULL);
    cf_promise_release(cf_promise_catch(a, log_reason, S("a")));
    cf_promise_release(cf_promise_catch(b, log_reason, S("b")));
    cf_promise_release(cf_promise_catch(c, log_reason, S("c")));
    cf_promise_release(a);
    cf_promise_release(b);
    cf_promise_release(c);
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "a:value=v b:value=deep c:error=plain"); /* as Node 20 */
}

static int bad_calls(cf_task *task, void *arg)
{
    cf_loop *other = arg;
    count_free = 0;
    cf_promise *foreign = cf_promise_resolved(other, NULL, NULL);
    ASSERT_EQ(cf_task_return_promise(task, foreign), CF_EINVAL); /* another loop: released */
    ASSERT_EQ(cf_task_return_thenable(task, NULL), CF_EINVAL);
    sync_thenable no_then = {{NULL, sync_release}, "x", 0, 0};
    ASSERT_EQ(cf_task_return_thenable(task, &no_then.base), CF_EINVAL);
    ASSERT_EQ(no_then.released, 1);
    cf_result r = cf_await_thenable(NULL);
    ASSERT_EQ(r.status, CF_EINVAL);  /* rejected with CF_EINVAL */
    ASSERT_EQ(r.value_is_reason, 0); /* ... an error */
    ASSERT_EQ(r.error->code, CF_EINVAL);
    /* A later return replaces an earlier one; the promise given first is released. */
    ASSERT_OK(cf_task_return_promise(task, cf_promise_resolved(cf_task_loop(task), S("x"), NULL)));
    return cf_task_return_promise(task, NULL); /* NULL: a CF_ENOMEM rejection */
}

static void test_task_return_and_await_bad_input(void)
{
    cf_loop *loop = new_loop();
    cf_loop *other = new_loop();
    log_reset();
    cf_promise *p = NULL;
    ASSERT_EQ(cf_task_return_promise(NULL, cf_promise_resolved(loop, NULL, NULL)), CF_EINVAL);
    sync_thenable th = {{sync_then, sync_release}, "t", 0, 0};
    ASSERT_EQ(cf_task_return_thenable(NULL, &th.base), CF_EINVAL);
    ASSERT_EQ(th.released, 1);
    cf_result r = cf_await_thenable(&th.base);
    ASSERT_EQ(r.status, CF_ENOTASK);
    ASSERT_EQ(th.released, 2);
    ASSERT_EQ(r.value_is_reason, 0);
    ASSERT_EQ(r.error->code, CF_ENOTASK);
    ASSERT_EQ(cf_task_throw_value(NULL, S("v"), NULL), CF_EINVAL);
    p = cf_async(loop, bad_calls, other);
    cf_promise_release(cf_promise_catch(p, log_reason, S("bad")));
    cf_promise_release(p);
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "bad:error=not enough memory");
    ASSERT_OK(cf_loop_close(other));
}

/* A number carried in the value (a descriptor) is read with cf_result_int, no cast. */
static int open_dev_null(cf_task *task, void *arg)
{
    int *fd = arg;
    cf_result r = cf_await(cf_fs_open_p(cf_task_loop(task), "/dev/null", O_RDONLY, 0, NULL));
    ASSERT_OK(r.status);
    *fd = (int)cf_result_int(r);
    r = cf_await(cf_fs_close_p(cf_task_loop(task), *fd, NULL));
    ASSERT_OK(r.status);
    return 0;
}

static void test_task_result_int_reads_a_descriptor(void)
{
    cf_loop *loop = new_loop();
    int fd = -1;
    cf_promise_release(cf_async(loop, open_dev_null, &fd));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(fd >= 0);
    ASSERT_EQ(fcntl(fd, F_GETFD), -1); /* closed by the task */
    ASSERT_OK(cf_loop_close(loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_task_return_promise_turns);
    CF_TEST(test_task_await_thenable);
    CF_TEST(test_task_throw_value_and_await_reason);
    CF_TEST(test_task_return_and_await_bad_input);
    CF_TEST(test_task_runs_synchronously_until_first_await);
    CF_TEST(test_task_fulfils_with_returned_value);
    CF_TEST(test_task_failure_rejects_and_never_throws);
    CF_TEST(test_task_negative_return_rejects_with_that_code);
    CF_TEST(test_task_unhandled_failure_is_reported);
    CF_TEST(test_task_await_settled_takes_one_turn);
    CF_TEST(test_task_await_pending_resumes_after_settling_callback);
    CF_TEST(test_task_fast_path_keeps_node_order);
    CF_TEST(test_task_sleep_resumes_as_microtask);
    CF_TEST(test_task_two_tasks_interleave);
    CF_TEST(test_task_error_keeps_file_and_line_across_awaits);
    CF_TEST(test_task_await_rejected_is_caught);
    CF_TEST(test_task_rethrow_rejects_with_copy_of_awaited_error);
    CF_TEST(test_task_await_value_rejection_sets_value_is_reason);
    CF_TEST(test_task_enotask_result_has_error);
    CF_TEST(test_task_await_outside_task_is_enotask);
    CF_TEST(test_task_await_null_promise_is_enomem);
    CF_TEST(test_task_await_of_another_loop_is_einval);
    CF_TEST(test_task_awaited_value_lives_until_next_await_returns);
    CF_TEST(test_task_deep_recursion_within_configured_stack);
    CF_TEST(test_task_ten_thousand_suspended_on_timers);
    CF_TEST(test_task_ten_thousand_suspended_copy_stack);
    CF_TEST(test_task_tasks_awaiting_tasks);
    CF_TEST(test_task_sleep_orders_with_timers);
    CF_TEST(test_task_sleep_p_fulfils_after_delay);
    CF_TEST(test_task_await_signal_deadline);
    CF_TEST(test_task_await_signal);
    CF_TEST(test_task_await_aborted_with_reason);
    CF_TEST(test_task_cancelled_through_signal_has_cause);
    CF_TEST(test_task_cancel_while_suspended);
    CF_TEST(test_task_loop_close_finishes_suspended_tasks);
    CF_TEST(test_task_out_of_memory_fails_cleanly);
    CF_TEST(test_task_result_int_reads_a_descriptor);
    return CF_TEST_END();
}
