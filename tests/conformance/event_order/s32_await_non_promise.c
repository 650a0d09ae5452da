/*
 * Scenario 32: a task runs synchronously up to its first await; awaiting a plain value
 * (a promise already fulfilled with it) resumes it after exactly one microtask turn.
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

/* async function f() { log('f start'); const v = await 42; log('f resumed with ' + v); } */
static int f(cf_task *task, void *arg)
{
    (void)arg;
    printf("f start\n");
    cf_result r = cf_await(cf_promise_resolved(cf_task_loop(task), (void *)"42", NULL));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    printf("f resumed with %s\n", (const char *)r.value);
    return 0;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    step(&p, cf_promise_then(p, log_handler, NULL, (void *)"tick 1"));
    step(&p, cf_promise_then(p, log_handler, NULL, (void *)"tick 2"));
    step(&p, cf_promise_then(p, log_handler, NULL, (void *)"tick 3"));
    cf_promise_release(p);

    cf_promise_release(cf_async(loop, f, NULL));
    printf("sync end\n");

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
