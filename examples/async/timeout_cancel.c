/*
 * Deadlines and cancellation: an await that gives up after a timeout, a task cancelled
 * through an abort controller, and a timeout signal (≈ AbortSignal.timeout).
 *
 *   const sleep = require('timers/promises').setTimeout;
 *   try { await Promise.race([sleep(300), deadline(100)]); } catch (e) { ... }   // timed out
 *   const controller = new AbortController();
 *   const worker = slowWork(controller.signal);        // every await in it gives up on abort
 *   setTimeout(() => controller.abort(), 50);
 */
#include <stdio.h>

#include <calcifer.h>

/* A worker that loops over short sleeps until it is cancelled, then cleans up. */
static int slow_work(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    int steps = 0;
    int rc = cf_sleep(loop, 20);
    while (rc == 0) {
        steps++;
        rc = cf_sleep(loop, 20);
    }
    printf("worker: stopped after %s (%s), cleaning up\n", steps > 0 ? "some steps" : "no step",
           cf_await_error()->message);
    return rc;
}

static void abort_now(void *data)
{
    printf("main: aborting the worker\n");
    cf_abort(data, NULL);
}

static int main_task(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);

    /* 1. An await with a deadline: the slow promise goes on, the await gives up. */
    int rc = cf_await_timeout(cf_sleep_p(loop, 300), 100, NULL);
    printf("deadline: %s\n", rc == CF_ETIMEDOUT ? "timed out after 100 ms" : "finished");

    /* 2. A task cancelled through its controller. */
    cf_abort_controller *ctrl;
    if (cf_abort_new(&ctrl) != 0)
        return CF_ENOMEM;
    cf_task_opts opts = {.signal = cf_abort_get_signal(ctrl)};
    cf_promise *worker = cf_async_ex(loop, slow_work, NULL, &opts);
    cf_set_timeout(loop, 50, abort_now, ctrl, NULL);
    rc = cf_await(worker, NULL);
    printf("main: the worker ended with %s\n", cf_err_name(rc));
    cf_abort_free(ctrl);

    /* 3. A timeout signal shared by several awaits. */
    cf_abort_signal *deadline;
    if (cf_abort_signal_timeout(loop, 100, &deadline) != 0)
        return CF_ENOMEM;
    int done = 0;
    rc = cf_await_signal(cf_sleep_p(loop, 30), deadline, NULL);
    while (rc == 0) {
        done++;
        rc = cf_await_signal(cf_sleep_p(loop, 30), deadline, NULL);
    }
    printf("signal: %d sleeps of 30 ms fit in 100 ms, then %s\n", done, cf_await_error()->message);
    cf_abort_signal_release(deadline);
    return 0;
}

int main(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    cf_promise *p = cf_async(loop, main_task, NULL);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    int ok = rc == 0 && p && cf_promise_state(p) == CF_PROMISE_FULFILLED;
    cf_promise_release(p);
    return ok && cf_loop_close(loop) == 0 ? 0 : 1;
}
