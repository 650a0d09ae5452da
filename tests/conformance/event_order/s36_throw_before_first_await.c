/*
 * Scenario 36: starting a task never fails the caller: a failure before or after the first
 * await rejects the task's promise.
 */
#include <stdio.h>

#include "calcifer/task.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

static int thrower(cf_task *task, void *arg)
{
    (void)arg;
    printf("thrower body runs synchronously\n");
    return cf_task_throw(task, CF_ERROR(CF_EINVAL, "early"));
}

static int partial(cf_task *task, void *arg)
{
    (void)arg;
    printf("partial: before await\n");
    int rc = cf_await_null().status;
    if (rc < 0)
        return rc;
    printf("partial: after await\n");
    return cf_task_throw(task, CF_ERROR(CF_EINVAL, "late"));
}

static void log_rejection(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    printf("%s rejected: %s\n", (const char *)data, cf_promise_error(settled)->message);
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    printf("start\n");
    cf_promise *p1 = cf_async(loop, thrower, NULL);
    printf("after calling thrower (no exception here)\n");
    cf_promise *p2 = cf_async(loop, partial, NULL);
    printf("after calling partial\n");
    cf_promise_release(cf_promise_catch(p1, log_rejection, (void *)"p1"));
    cf_promise_release(cf_promise_catch(p2, log_rejection, (void *)"p2"));
    cf_promise_release(p1);
    cf_promise_release(p2);
    printf("end\n");

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
