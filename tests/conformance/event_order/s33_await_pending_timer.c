/*
 * Scenario 33: a task awaiting a promise that a timer resolves resumes in the drain right
 * after that timer's callback; its own promise is fulfilled with its return value afterwards.
 */
#include <stdio.h>

#include "calcifer/task.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/timer.h"

static void log_cb(void *data)
{
    printf("%s\n", (const char *)data);
}

/* setTimeout(() => { log('timer fires'); resolve('done'); }, 10) */
static void timer_fires(void *data)
{
    cf_promise *p = data;
    printf("timer fires\n");
    cf_promise_resolve(p, (void *)"done", NULL);
    cf_promise_release(p);
}

static int main_task(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    printf("before await\n");
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return CF_ENOMEM;
    if (cf_set_timeout(loop, 10, timer_fires, cf_promise_retain(p), NULL) != 0) {
        cf_promise_release(p);
        cf_promise_release(p);
        return CF_ENOMEM;
    }
    cf_result r = cf_await(p);
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    printf("after await: %s\n", (const char *)r.value);
    return cf_task_return(task, (void *)"main result", NULL);
}

static void main_resolved(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    (void)data;
    printf("main resolved: %s\n", (const char *)cf_promise_value(settled));
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise *m = cf_async(loop, main_task, NULL);
    cf_promise_release(cf_promise_then(m, main_resolved, NULL, NULL));
    cf_promise_release(m);
    cf_set_timeout(loop, 30, log_cb, (void *)"other timer 30ms", NULL);
    printf("sync end\n");

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
