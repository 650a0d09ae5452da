/*
 * Scenario 37: awaiting a rejected promise returns its error at the await (one turn later);
 * the task handles it, as a catch block would, and then completes normally.
 */
#include <stdio.h>

#include "calcifer/task.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

static void log_handler(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    printf("%s\n", (const char *)data);
}

static void step(cf_promise **p, cf_promise *next)
{
    cf_promise_release(*p);
    *p = next;
}

static int f(cf_task *task, void *arg)
{
    (void)arg;
    /* try { */
    printf("awaiting rejection\n");
    cf_promise *rejected = cf_promise_rejected(cf_task_loop(task), CF_ERROR(CF_EINVAL, "nope"));
    cf_result r = cf_await(rejected);
    if (r.status == 0) {
        printf("not reached\n");
    } else {
        /* } catch (e) { */
        printf("caught %s\n", r.error->message);
    }
    /* } finally { */
    printf("finally block\n");
    /* } */
    return cf_task_return(task, (void *)"f result", NULL);
}

static void f_resolved(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("f resolved: %s\n", (const char *)cf_promise_value(settled));
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise *fp = cf_async(loop, f, NULL);
    cf_promise_release(cf_promise_then(fp, f_resolved, NULL, NULL));
    cf_promise_release(fp);

    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    step(&p, cf_promise_then(p, log_handler, NULL, (void *)"tick 1"));
    step(&p, cf_promise_then(p, log_handler, NULL, (void *)"tick 2"));
    step(&p, cf_promise_then(p, log_handler, NULL, (void *)"tick 3"));
    cf_promise_release(p);
    printf("sync end\n");

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
