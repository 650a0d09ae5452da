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
    cf_result r = cf_sleep(loop, 20);
    while (r.status == 0) {
        steps++;
        r = cf_sleep(loop, 20);
    }
    printf("worker: stopped after %s (%s), cleaning up\n", steps > 0 ? "some steps" : "no step",
           cf_error_message(r.error));
    return r.status;
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
    cf_abort_signal *deadline;
    if (cf_abort_signal_timeout(loop, 100, &deadline) != 0)
        return CF_ENOMEM;
    cf_result r = cf_await_signal(cf_sleep_p(loop, 300, NULL), deadline);
    printf("deadline: %s\n", r.status == CF_ECANCELED ? "gave up after 100 ms" : "finished");
    if (r.status == CF_ECANCELED)
        printf("deadline: %s, because: %s\n", cf_error_message(r.error),
               cf_error_message(cf_error_cause(r.error)));
    cf_abort_signal_release(deadline);

    /* 2. A task cancelled through its controller. */
    cf_abort_controller *ctrl;
    if (cf_abort_new(&ctrl) != 0)
        return CF_ENOMEM;
    cf_task_opts opts = {.signal = cf_abort_get_signal(ctrl)};
    cf_promise *worker = cf_async_ex(loop, slow_work, NULL, &opts);
    cf_set_timeout(loop, 50, abort_now, ctrl, NULL);
    r = cf_await(worker);
    printf("main: the worker ended with %s\n", cf_err_name(r.status));
    cf_abort_free(ctrl);

    /* 3. A timeout signal shared by several sleeps: the one it aborts is cancelled. */
    if (cf_abort_signal_timeout(loop, 100, &deadline) != 0)
        return CF_ENOMEM;
    int done = 0;
    r = cf_await(cf_sleep_p(loop, 30, deadline));
    while (r.status == 0) {
        done++;
        r = cf_await(cf_sleep_p(loop, 30, deadline));
    }
    printf("signal: %d sleeps of 30 ms fit in 100 ms, then %s\n", done,
           cf_error_message(cf_error_cause(r.error)));
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
