/*
 * Sequential awaits add their delays up; starting the work first and awaiting all of it
 * overlaps the delays (≈ `await a(); await b();` against `await Promise.all([a(), b()])`).
 *
 *   const sleep = require('timers/promises').setTimeout;
 *   async function sequential() { await sleep(200); await sleep(200); }        // ~400 ms
 *   async function parallel() { await Promise.all([sleep(200), sleep(200)]); } // ~200 ms
 */
#include <stdio.h>

#include <calcifer.h>

/* Milliseconds since `start`, rounded to tens so that the output reads the same each run. */
static unsigned long since(cf_loop *loop, uint64_t start)
{
    cf_update_time(loop);
    return (unsigned long)((cf_now(loop) - start + 5) / 10 * 10);
}

static int sequential(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    uint64_t start = cf_now(loop);
    for (int i = 0; i < 2; i++) {
        cf_result r = cf_sleep(loop, 200);
        if (r.status < 0)
            return r.status;
    }
    printf("sequential: two sleeps of 200 ms took about %lu ms\n", since(loop, start));
    return 0;
}

static int parallel(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    uint64_t start = cf_now(loop);
    cf_promise *both[] = {cf_sleep_p(loop, 200, NULL), cf_sleep_p(loop, 200, NULL)};
    cf_promise *all = cf_promise_allv(loop, both, 2);
    cf_promise_release(both[0]);
    cf_promise_release(both[1]);
    cf_result r = cf_await(all);
    if (r.status < 0)
        return r.status;
    printf("parallel: two sleeps of 200 ms took about %lu ms\n", since(loop, start));
    return 0;
}

/* Run one task to its end, then the other, so that their timings do not mix. */
static int both(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    int rc = cf_await(cf_async(loop, sequential, NULL)).status;
    if (rc == 0)
        rc = cf_await(cf_async(loop, parallel, NULL)).status;
    return rc;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_promise *p = cf_async(loop, both, NULL);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    int ok = rc == 0 && p && cf_promise_state(p) == CF_PROMISE_FULFILLED;
    cf_promise_release(p);
    return ok && cf_loop_close(loop) == 0 ? 0 : 1;
}
