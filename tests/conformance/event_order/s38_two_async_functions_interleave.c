/*
 * Scenario 38: two tasks that each await three times alternate step by step.
 */
#include <stdio.h>

#include "calcifer/task.h"
#include "calcifer/loop.h"

/* async function worker(name) { for (i = 1..3) { log(name + ' step ' + i); await null; } ... } */
static int worker(cf_task *task, void *arg)
{
    (void)task;
    const char *name = arg;
    for (int i = 1; i <= 3; i++) {
        printf("%s step %d\n", name, i);
        int rc = cf_await_null().status;
        if (rc < 0)
            return rc;
    }
    printf("%s done\n", name);
    return 0;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise_release(cf_async(loop, worker, (void *)"A"));
    cf_promise_release(cf_async(loop, worker, (void *)"B"));
    printf("sync end\n");

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
