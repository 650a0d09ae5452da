/*
 * Task groups (calcifer/group.h): wait for all, fail fast, cancel, close, nesting.
 */
#include "harness.h"

#define S(x) ((void *)(x))

static char log_buf[2048];

static void log_reset(void)
{
    log_buf[0] = '\0';
}

static void log_add(const char *s)
{
    size_t len = strlen(log_buf);
    snprintf(log_buf + len, sizeof log_buf - len, "%s%s", len ? " " : "", s);
}

static void log_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    log_add(data);
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

/* A job for a group task: sleep `ms` (or wait forever with ms 0), then log or fail. */
typedef struct job {
    const char *name;
    uint64_t ms;
    int fail; /* return this code after the sleep */
    int cleaned;
    int rc; /* what the sleep or await returned */
} job;

static int run_job(cf_task *task, void *arg)
{
    job *j = arg;
    cf_loop *loop = cf_task_loop(task);
    char *resource = cf_strdup(j->name);
    if (j->ms) {
        j->rc = cf_sleep(loop, j->ms).status;
    } else {
        j->rc = cf_await(cf_promise_new(loop)).status; /* never settled */
    }
    if (j->rc < 0) {
        /* Cancelled: every later await fails at once; clean up and pass the error up. */
        ASSERT_EQ(cf_sleep(loop, 1).status, j->rc);
        cf_free(resource);
        j->cleaned = 1;
        return j->rc;
    }
    log_add(j->name);
    cf_free(resource);
    j->cleaned = 1;
    if (j->fail)
        return cf_task_throw(task, CF_ERROR(j->fail, "%s failed", j->name));
    return 0;
}

typedef struct parent_arg {
    job *jobs;
    size_t n;
    int wait_rc;
    char error[128];
} parent_arg;

static int parent(cf_task *task, void *arg)
{
    parent_arg *pa = arg;
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(cf_task_loop(task), &g));
    for (size_t i = 0; i < pa->n; i++) {
        ASSERT_OK(cf_group_spawn(g, run_job, &pa->jobs[i]));
    }
    ASSERT_EQ(cf_group_count(g), pa->n);
    cf_result r = cf_group_wait(g);
    pa->wait_rc = r.status;
    if (r.status < 0)
        snprintf(pa->error, sizeof pa->error, "%s", r.error->message);
    ASSERT_EQ(cf_group_count(g), 0);
    log_add("waited");
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    return pa->wait_rc;
}

static void ignore(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
}

static void test_group_waits_for_all(void)
{
    cf_loop *loop = new_loop();
    job jobs[] = {{"slow", 20, 0, 0, 0}, {"fast", 2, 0, 0, 0}, {"mid", 10, 0, 0, 0}};
    parent_arg pa = {jobs, 3, 1, ""};
    log_reset();
    cf_promise *p = cf_async(loop, parent, &pa);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "fast mid slow waited");
    ASSERT_EQ(pa.wait_rc, 0);
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_group_failure_cancels_the_others(void)
{
    cf_loop *loop = new_loop();
    job jobs[] = {
        {"forever", 0, 0, 0, 0}, {"fails", 2, CF_EPARSE, 0, 0}, {"hour", 3600000, 0, 0, 0}};
    parent_arg pa = {jobs, 3, 0, ""};
    log_reset();
    cf_promise *p = cf_async(loop, parent, &pa);
    cf_promise_release(cf_promise_catch(p, ignore, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* the hour-long sleep was cancelled */
    ASSERT_STR_EQ(log_buf, "fails waited");
    ASSERT_EQ(pa.wait_rc, CF_EPARSE);
    ASSERT_STR_EQ(pa.error, "fails failed");
    ASSERT_EQ(jobs[0].rc, CF_ECANCELED);
    ASSERT_EQ(jobs[2].rc, CF_ECANCELED);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(jobs[i].cleaned, 1);
    }
    /* The parent passed the group's error up, with the place it was made. */
    ASSERT_EQ(cf_promise_code(p), CF_EPARSE);
    ASSERT(strstr(cf_promise_error(p)->file, "test_group.c") != NULL);
    ASSERT_STR_EQ(cf_promise_error(p)->func, "run_job");
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
}

static void cancel_later(void *data)
{
    log_add("cancel");
    cf_group_cancel(data);
}

static void test_group_cancel_cancels_every_task(void)
{
    cf_loop *loop = new_loop();
    job jobs[] = {{"a", 3600000, 0, 0, 0}, {"b", 0, 0, 0, 0}};
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(loop, &g));
    for (size_t i = 0; i < 2; i++) {
        ASSERT_OK(cf_group_spawn(g, run_job, &jobs[i]));
    }
    log_reset();
    cf_promise *w = cf_group_wait_p(g);
    cf_promise_release(cf_promise_catch(w, log_handler, S("wait-rejected")));
    ASSERT_OK(cf_set_timeout(loop, 2, cancel_later, g, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "cancel wait-rejected");
    ASSERT_EQ(cf_promise_code(w), CF_ECANCELED);
    ASSERT_EQ(cf_group_count(g), 0);
    ASSERT_EQ(cf_group_error(g)->code, CF_ECANCELED);
    ASSERT(cf_abort_signal_aborted(cf_group_signal(g)));
    /* A cancelled group starts nothing more. */
    ASSERT_EQ(cf_group_spawn(g, run_job, &jobs[0]), CF_ECANCELED);
    cf_group_cancel(g); /* twice: nothing */
    cf_promise_release(w);
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    run_and_close(loop);
}

static void test_group_close_finishes_tasks_before_returning(void)
{
    cf_loop *loop = new_loop();
    job jobs[] = {{"a", 3600000, 0, 0, 0}, {"b", 0, 0, 0, 0}, {"c", 5, 0, 0, 0}};
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(loop, &g));
    cf_promise *pb = NULL;
    for (size_t i = 0; i < 3; i++) {
        ASSERT_OK(cf_group_spawn_ex(g, run_job, &jobs[i], NULL, i == 1 ? &pb : NULL));
    }
    ASSERT_EQ(cf_group_count(g), 3);
    cf_promise *w = cf_group_wait_p(g);
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    /* Nothing of the group runs any more: every task has cleaned up already. */
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(jobs[i].cleaned, 1);
        ASSERT_EQ(jobs[i].rc, CF_ECANCELED);
    }
    ASSERT_EQ(cf_promise_code(pb), CF_ECANCELED); /* handled: no unhandled rejection */
    ASSERT_EQ(cf_promise_code(w), CF_ECANCELED);
    cf_promise_release(cf_promise_catch(w, ignore, NULL));
    cf_promise_release(w);
    cf_promise_release(pb);
    run_and_close(loop);
}

static int closes_own_group(cf_task *task, void *arg)
{
    (void)task;
    cf_group *g = arg;
    ASSERT_EQ(cf_group_close(g, NULL, NULL), CF_EBUSY);
    ASSERT_EQ(cf_group_wait(g).status, CF_EBUSY);
    ASSERT_OK(cf_await_null().status);
    ASSERT_EQ(cf_group_close(g, NULL, NULL), CF_EBUSY);
    log_add("member");
    return 0;
}

static void test_group_close_or_wait_from_member_is_ebusy(void)
{
    cf_loop *loop = new_loop();
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(loop, &g));
    log_reset();
    ASSERT_OK(cf_group_spawn(g, closes_own_group, g));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(log_buf, "member");
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    ASSERT_EQ(cf_group_close(NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_group_wait(NULL).status, CF_ENOTASK);
    run_and_close(loop);
}

static int wait_empty(cf_task *task, void *arg)
{
    (void)arg;
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(cf_task_loop(task), &g));
    log_add("wait");
    ASSERT_OK(cf_group_wait(g).status);
    log_add("waited");
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    return 0;
}

static void test_group_empty_wait_takes_one_turn(void)
{
    cf_loop *loop = new_loop();
    log_reset();
    cf_promise *tick = cf_promise_resolved(loop, NULL, NULL);
    cf_promise *t1 = cf_promise_then(tick, log_handler, NULL, S("t1"));
    cf_promise *t2 = cf_promise_then(t1, log_handler, NULL, S("t2"));
    cf_promise_release(cf_async(loop, wait_empty, NULL));
    cf_promise_release(tick);
    cf_promise_release(t1);
    cf_promise_release(t2);
    run_and_close(loop);
    ASSERT_STR_EQ(log_buf, "wait t1 waited t2");
}

static int child_forever(cf_task *task, void *arg)
{
    job *j = arg;
    j->rc = cf_await(cf_promise_new(cf_task_loop(task))).status;
    ASSERT_EQ(cf_task_cancelled(task), CF_ECANCELED);
    log_add("child-cancelled");
    return j->rc;
}

static int nests_group(cf_task *task, void *arg)
{
    job *child = arg;
    cf_group *inner = NULL;
    ASSERT_OK(cf_group_new(cf_task_loop(task), &inner));
    ASSERT_OK(cf_group_spawn(inner, child_forever, child));
    int rc = cf_group_wait(inner).status;
    log_add("parent-cancelled");
    ASSERT_EQ(rc, CF_ECANCELED);
    ASSERT_OK(cf_group_close(inner, NULL, NULL));
    return rc;
}

static void test_group_nested_group_cancelled_with_its_task(void)
{
    cf_loop *loop = new_loop();
    job child = {"child", 0, 0, 0, 0};
    cf_group *outer = NULL;
    ASSERT_OK(cf_group_new(loop, &outer));
    log_reset();
    ASSERT_OK(cf_group_spawn(outer, nests_group, &child));
    ASSERT_OK(cf_set_timeout(loop, 1, cancel_later, outer, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    /* The outer cancellation reached the inner task through the inner group. */
    ASSERT_STR_EQ(log_buf, "cancel parent-cancelled child-cancelled");
    ASSERT_EQ(child.rc, CF_ECANCELED);
    ASSERT_OK(cf_group_close(outer, NULL, NULL));
    run_and_close(loop);
}

static int copy_stack_job(cf_task *task, void *arg)
{
    int *sum = arg;
    int local[16];
    for (int i = 0; i < 16; i++) {
        local[i] = i;
    }
    ASSERT_OK(cf_sleep(cf_task_loop(task), 1).status);
    for (int i = 0; i < 16; i++) {
        *sum += local[i];
    }
    return 0;
}

static void test_group_tasks_on_copy_stacks(void)
{
    cf_loop *loop = new_loop();
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(loop, &g));
    int sum = 0;
    cf_task_opts opts = {.stack = CF_STACK_COPY, .stack_size = 32 * 1024};
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(cf_group_spawn_ex(g, copy_stack_job, &sum, &opts, NULL));
    }
    cf_abort_controller *c = NULL;
    ASSERT_OK(cf_abort_new(&c));
    cf_task_opts bad = {.signal = cf_abort_get_signal(c)};
    ASSERT_EQ(cf_group_spawn_ex(g, copy_stack_job, &sum, &bad, NULL), CF_EINVAL);
    cf_abort_free(c);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(sum, 100 * 120);
    ASSERT(cf_group_error(g) == NULL);
    cf_promise *w = cf_group_wait_p(g); /* done already: fulfilled now */
    ASSERT_EQ(cf_promise_state(w), CF_PROMISE_FULFILLED);
    cf_promise_release(w);
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    run_and_close(loop);
}

/* The close callback: after every task has been cancelled and has cleaned up, from the loop. */
typedef struct close_probe {
    job *jobs;
    size_t n;
    int calls;
    int all_cleaned; /* what the callback saw */
} close_probe;

static void on_group_closed(void *data)
{
    close_probe *cp = data;
    cp->calls++;
    cp->all_cleaned = 1;
    for (size_t i = 0; i < cp->n; i++) {
        if (!cp->jobs[i].cleaned || cp->jobs[i].rc != CF_ECANCELED)
            cp->all_cleaned = 0;
    }
    log_add("closed");
}

static void test_group_close_callback_after_tasks_cancelled(void)
{
    cf_loop *loop = new_loop();
    job jobs[] = {{"sleeper", 3600000, 0, 0, 0}, {"forever", 0, 0, 0, 0}};
    close_probe cp = {jobs, 2, 0, 0};
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(loop, &g));
    ASSERT(!cf_group_is_active(g));
    ASSERT(!cf_group_is_active(NULL));
    for (size_t i = 0; i < 2; i++) {
        ASSERT_OK(cf_group_spawn(g, run_job, &jobs[i]));
    }
    ASSERT(cf_group_is_active(g));
    log_reset();
    ASSERT_OK(cf_group_close(g, on_group_closed, &cp));
    ASSERT_EQ(cp.calls, 0); /* never inside the close call */
    ASSERT_EQ(jobs[0].cleaned + jobs[1].cleaned, 2);
    ASSERT_EQ(cf_group_close(g, on_group_closed, &cp), CF_ECLOSED); /* its cb never runs */
    ASSERT_EQ(cf_loop_close(loop), CF_EBUSY); /* the close callback is still to run */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));  /* the hour-long sleep does not hold it */
    ASSERT_EQ(cp.calls, 1);
    ASSERT(cp.all_cleaned);
    ASSERT_STR_EQ(log_buf, "closed");
    ASSERT_OK(cf_loop_close(loop));
}

/* A group that is never closed is an open handle: the loop refuses to close. */
static void test_group_unclosed_keeps_loop_open(void)
{
    cf_loop *loop = new_loop();
    cf_group *g = NULL;
    ASSERT_OK(cf_group_new(loop, &g));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT)); /* an idle group keeps nothing alive */
    ASSERT_EQ(cf_loop_close(loop), CF_EBUSY);
    ASSERT_OK(cf_group_close(g, NULL, NULL));
    run_and_close(loop);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_group_waits_for_all);
    CF_TEST(test_group_failure_cancels_the_others);
    CF_TEST(test_group_cancel_cancels_every_task);
    CF_TEST(test_group_close_finishes_tasks_before_returning);
    CF_TEST(test_group_close_or_wait_from_member_is_ebusy);
    CF_TEST(test_group_empty_wait_takes_one_turn);
    CF_TEST(test_group_nested_group_cancelled_with_its_task);
    CF_TEST(test_group_tasks_on_copy_stacks);
    CF_TEST(test_group_close_callback_after_tasks_cancelled);
    CF_TEST(test_group_unclosed_keeps_loop_open);
    return CF_TEST_END();
}
