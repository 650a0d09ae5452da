/*
 * Scenario 34: awaiting an already-fulfilled promise costs one turn, the same as awaiting a
 * plain value.
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

/* async function awaitsPromise() { await Promise.resolve('p'); log(...); } */
static int awaits_promise(cf_task *task, void *arg)
{
    (void)arg;
    int rc = cf_await(cf_promise_resolved(cf_task_loop(task), (void *)"p", NULL)).status;
    if (rc < 0)
        return rc;
    printf("resumed after await of resolved promise\n");
    return 0;
}

/* async function awaitsValue() { await 'v'; log(...); } */
static int awaits_value(cf_task *task, void *arg)
{
    (void)arg;
    int rc = cf_await(cf_promise_resolved(cf_task_loop(task), (void *)"v", NULL)).status;
    if (rc < 0)
        return rc;
    printf("resumed after await of plain value\n");
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

    cf_promise_release(cf_async(loop, awaits_promise, NULL));
    cf_promise_release(cf_async(loop, awaits_value, NULL));
    printf("sync end\n");

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
