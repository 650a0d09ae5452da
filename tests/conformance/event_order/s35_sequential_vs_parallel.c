/*
 * Scenario 35: sequential awaits of two 10 ms delays take both delays; awaiting
 * cf_promise_allv of two delays started together takes one.
 */
#include <stdio.h>

#include "calcifer/task.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/timer.h"

typedef struct delay {
    cf_promise *p;
    const char *v;
} delay;

static void delay_fires(void *data)
{
    delay *d = data;
    printf("timer %s\n", d->v);
    cf_promise_resolve(d->p, (void *)d->v, NULL);
    cf_promise_release(d->p);
    cf_free(d);
}

/* function delay(ms, v): new Promise(resolve => setTimeout(() => { log; resolve(v) }, ms)) */
static cf_promise *delay_p(cf_loop *loop, uint64_t ms, const char *v)
{
    cf_promise *p = cf_promise_new(loop);
    delay *d = cf_malloc(sizeof(*d));
    if (!p || !d) {
        cf_free(d);
        return p;
    }
    d->p = cf_promise_retain(p);
    d->v = v;
    if (cf_set_timeout(loop, ms, delay_fires, d, NULL) != 0) {
        cf_promise_release(p);
        cf_free(d);
    }
    return p;
}

static int sequential(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_result r = cf_await(delay_p(loop, 10, "seq-a"));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    const char *a = r.value; /* a static label: outlives the next await */
    r = cf_await(delay_p(loop, 10, "seq-b"));
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    printf("sequential done %s,%s\n", a, (const char *)r.value);
    return 0;
}

static int parallel(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_promise *both[] = {delay_p(loop, 10, "par-a"), delay_p(loop, 10, "par-b")};
    cf_promise *all = cf_promise_allv(loop, both, 2);
    cf_promise_release(both[0]);
    cf_promise_release(both[1]);
    cf_result r = cf_await(all);
    if (r.status < 0)
        return cf_task_rethrow(task, r.error);
    const cf_promise_list *list = r.value;
    printf("parallel done %s,%s\n", (const char *)cf_promise_value(list->items[0]),
           (const char *)cf_promise_value(list->items[1]));
    return 0;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;

    cf_promise_release(cf_async(loop, sequential, NULL));
    cf_promise_release(cf_async(loop, parallel, NULL));

    int rc = cf_run(loop, CF_RUN_DEFAULT);
    return rc == 0 && cf_loop_close(loop) == 0 ? 0 : 1;
}
