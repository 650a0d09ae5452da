/*
 * async/await: tasks on fibers (calcifer/task.h).
 *
 * A task is a fiber running the user's function plus the state of its current suspension.
 * Every way of suspending (cf_await*, cf_sleep, cf_await_null, cf_group_wait) goes through
 * task_suspend(), which yields to whoever resumed the task; exactly one wake-up ends a
 * suspension:
 *  - the awaited promise settles: the task's reaction runs as a microtask and resumes the
 *    task right there (≈ V8's await: one PerformPromiseThen, no derived promise);
 *  - a timer (sleep), an abort signal, or a queued turn: wake_later() records the
 *    outcome and queues a microtask that resumes the task, so a task always continues as a
 *    microtask, never inside a timer callback or inside cf_abort;
 *  - cf__task_force (group close, loop close): resumed at once with the cancellation code.
 * `wake_set` says the outcome is decided; later wake-ups of the same suspension are ignored
 * (a reaction that arrives after an abort is "stale" and only drops its reference).
 *
 * The embedded reaction can be attached to one promise at a time; when an await finds it
 * still attached to a promise an abort gave up on, it uses a spare one from the heap
 * (tracked per loop, since a promise that never settles never runs it).
 *
 * Fast path: a task resumed by a microtask that awaits an already fulfilled promise while the
 * microtask queue is empty would be resumed by the very next microtask, so it just goes on:
 * the order of everything observable is the same, without two switches and a queued
 * reaction. Rejections take the normal path (the await marks the promise handled).
 *
 * Invariants: `refs` counts the unfinished fiber, each attached reaction and each queued
 * wake-up; a task is in its loop's `tasks` list until freed; `held` (the promise of the last
 * await) and what it lends (value, error) live until the next await returns, or the end;
 * `current_task` is the task whose fiber runs, `run_parent` the chain of tasks resuming it.
 */
#include "calcifer/task.h"

#include <string.h>

#include "async/task.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "util/alloc.h"
#include "util/util.h"
#include "util/site.h"

/* A reaction used when the task's own is still attached to a promise it gave up on. */
typedef struct spare {
    cf__reaction r;
    cf_task *task;
    cf_queue link; /* in cl->spares */
} spare;

/* The error of an await cancelled by the loop closing (no signal to take a reason from). */
static const cf_error closing_error = {.code = CF_ECANCELED,
                                       .message = "task cancelled: the loop is closing"};

/* The errors of awaits that cannot even start. */
static const cf_error sleep_notask_error = {.code = CF_ENOTASK,
                                            .message = "cf_sleep outside a task"};
static const cf_error notask_error = {.code = CF_ENOTASK, .message = "await outside a task"};
static const cf_error foreign_error = {
    .code = CF_EINVAL, .message = "await of a promise that belongs to another loop"};
static const cf_error other_loop_error = {.code = CF_EINVAL,
                                          .message = "sleep on a loop that is not the task's"};

static void task_resume(cf_task *t, int in_micro);

/*
 * The task running on this thread, or NULL (the "current coroutine": every switch into a
 * task goes through task_resume, which sets it and puts the previous one back).
 */
static _Thread_local cf_task *current_task CF__FIBER_TLS; /* no call to read it (fiber.h) */

/* ---- per-loop state ---- */

/* The task's side block (see task.h), made on first need; NULL when memory is exhausted. */
static cf__task_ext *task_ext(cf_task *t)
{
    if (CF_LIKELY(t->ext != NULL))
        return t->ext;
    t->ext = cf__calloc(1, sizeof(*t->ext));
    if (t->ext) {
        t->ext->sig_listener.data = t;
        t->ext->await_listener.data = t;
    }
    return t->ext;
}

static void task_free(cf_task *t)
{
    if (!t->done)
        cf__fiber_fini(t->fiber); /* never run to its end (its frames are discarded) */
    if (t->ext) {
        cf_error_free(t->ext->cancel_err);
        cf__free(t->ext);
    }
    cf_queue_remove(&t->link);
    cf__task_loop *cl = cf__loop_slot(t->loop, CF__SLOT_TASK); /* set until its dtor returns */
    cf__objpool_free(&cl->blocks[t->copy], t);
}

static void task_unref(cf_task *t)
{
    CF_ASSERT(t->refs > 0);
    if (--t->refs == 0)
        task_free(t);
}

/*
 * Resume every suspended task with CF_ECANCELED. At the loop's close (`repeat`), until each
 * ends: a task's cleanup may start other tasks, so passes repeat until one finds nothing to
 * finish. For cf_loop_close_all, once each: a task that awaits again (its cleanup) is left to
 * the loop, and to the next call.
 */
static void finish_all(cf__task_loop *cl, int repeat)
{
    int forced = 1;
    while (forced) {
        forced = 0;
        cf_queue todo;
        cf_queue_move(&cl->tasks, &todo);
        while (!cf_queue_empty(&todo)) {
            cf_task *t = cf_queue_data(cf_queue_head(&todo), cf_task, link);
            cf_queue_remove(&t->link);
            cf_queue_insert_tail(&cl->tasks, &t->link);
            if (!t->done && t->waiting) {
                cf__task_force(t, CF_ECANCELED);
                forced = repeat;
            }
        }
    }
}

/* With the blocked-loop detector on, name the tasks the loop's end finds still suspended. */
static void report_left(cf__task_loop *cl)
{
    if (!cf__obs_detecting(cl->loop))
        return;
    for (cf_queue *q = cl->tasks.next; q != &cl->tasks; q = q->next) {
        cf_task *t = cf_queue_data(q, cf_task, link);
        if (!t->done && t->waiting)
            cf__obs_report_left(cl->loop, "task", (const void *)t->fn, t->site_pc, t->wait_pc);
    }
}

static void task_loop_free(void *p)
{
    cf__task_loop *cl = p;
    cl->closing = 1;
    report_left(cl);
    finish_all(cl, 1); /* closing: later awaits fail at once, so it ends */
    /* What is left waits on reactions and microtasks that will never run now. */
    while (!cf_queue_empty(&cl->spares)) {
        spare *s = cf_queue_data(cf_queue_head(&cl->spares), spare, link);
        cf_queue_remove(&s->link);
        cf__free(s);
    }
    while (!cf_queue_empty(&cl->tasks)) {
        task_free(cf_queue_data(cf_queue_head(&cl->tasks), cf_task, link));
    }
    cf__abort_loop_closing(cl);
    cf__loop_closer_remove(&cl->closer);
    cf__objpool_destroy(&cl->blocks[0]);
    cf__objpool_destroy(&cl->blocks[1]);
    cf__free(cl);
}

static void task_loop_close_all(cf__loop_closer *c);

cf__task_loop *cf__task_loop_get(cf_loop *loop)
{
    cf__task_loop *cl = cf__loop_slot(loop, CF__SLOT_TASK);
    if (CF_LIKELY(cl))
        return cl;
    cl = cf__calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->loop = loop;
    cf_queue_init(&cl->tasks);
    cf_queue_init(&cl->spares);
    cf_queue_init(&cl->timeouts);
    cf_queue_init(&cl->sleeps);
    for (int copy = 0; copy < 2; copy++)
        cf__objpool_init(&cl->blocks[copy],
                         sizeof(cf_task) - sizeof(cf__fiber) + CF__FIBER_BLOCK(copy));
    cf__loop_slot_set(loop, CF__SLOT_TASK, cl, task_loop_free);
    cf__loop_closer_add(loop, &cl->closer, task_loop_close_all);
    return cl;
}

int cf_task_set_defaults(cf_loop *loop, const cf_task_opts *opts)
{
    if (!loop || !opts || opts->signal || opts->stack > CF_STACK_COPY)
        return CF_EINVAL;
    cf__task_loop *cl = cf__task_loop_get(loop);
    if (!cl)
        return CF_ENOMEM;
    cl->stack_size = opts->stack_size;
    cl->stack = opts->stack;
    return 0;
}

/* ---- the current task ---- */

cf_task *cf_task_current(void)
{
    return current_task;
}

cf_loop *cf_task_loop(const cf_task *t)
{
    return t ? t->loop : NULL;
}

cf_abort_signal *cf_task_signal(const cf_task *t)
{
    return t && t->ext ? t->ext->signal : NULL;
}

int cf_task_cancelled(const cf_task *t)
{
    return t ? t->cancel_rc : 0;
}

/* Forget the task's result so far (a later return replaces an earlier one). */
static void clear_return(cf_task *t)
{
    if (t->ret_kind == CF__TASK_RET_PROMISE) {
        cf_promise_release(t->ret.promise);
    } else if (t->ret_kind == CF__TASK_RET_THENABLE) {
        if (t->ret.thenable->release)
            t->ret.thenable->release(t->ret.thenable);
    } else if (t->ret_dtor) {
        t->ret_dtor(t->ret.value);
    }
    t->ret_kind = CF__TASK_RET_VALUE;
    t->ret.value = NULL;
    t->ret_dtor = NULL;
}

/* Forget what the task threw so far (a later throw replaces an earlier one). */
static void clear_thrown(cf_task *t)
{
    if (!t->thrown_is_value)
        cf_error_free(t->thrown.err);
    else if (t->thrown_dtor)
        t->thrown_dtor(t->thrown.value);
    t->thrown.value = NULL;
    t->thrown_dtor = NULL;
    t->thrown_is_value = 0;
}

int cf_task_return(cf_task *t, void *value, void (*dtor)(void *))
{
    if (!t) {
        if (dtor)
            dtor(value);
        return CF_EINVAL;
    }
    clear_return(t);
    t->ret.value = value;
    t->ret_dtor = dtor;
    return 0;
}

int cf_task_return_promise(cf_task *t, cf_promise *p)
{
    if (!t || (p && cf_promise_loop(p) != t->loop)) {
        cf_promise_release(p);
        return CF_EINVAL;
    }
    if (!p) {
        /* ≈ returning the NULL of a `_p` call that ran out of memory: a CF_ENOMEM rejection. */
        p = cf_promise_rejected(t->loop, NULL);
        if (!p)
            return CF_ENOMEM;
    }
    clear_return(t);
    t->ret_kind = CF__TASK_RET_PROMISE;
    t->ret.promise = p;
    return 0;
}

int cf_task_return_thenable(cf_task *t, cf_thenable *th)
{
    if (!t || !th || !th->then) {
        if (th && th->release)
            th->release(th);
        return CF_EINVAL;
    }
    clear_return(t);
    t->ret_kind = CF__TASK_RET_THENABLE;
    t->ret.thenable = th;
    return 0;
}

int cf_task_throw(cf_task *t, cf_error *err)
{
    int code = err ? err->code : CF_ENOMEM;
    if (!t) {
        cf_error_free(err);
        return CF_EINVAL;
    }
    clear_thrown(t);
    t->thrown.err = err;
    return code < 0 ? code : CF_EINVAL;
}

CF__NOINLINE int cf_task_rethrow(cf_task *t, const cf_error *err)
{
    if (!t)
        return CF_EINVAL;
    if (!err)
        return cf_task_throw(t, NULL);
    /* The copy keeps the failed operation's site and adds this call's caller. */
    return cf_task_throw(t, cf__error_rethrow_at(err, CF__SITE_CALLER().pc));
}

int cf_task_throw_value(cf_task *t, void *value, void (*dtor)(void *))
{
    if (!t) {
        if (dtor)
            dtor(value);
        return CF_EINVAL;
    }
    clear_thrown(t);
    t->thrown_is_value = 1;
    t->thrown.value = value;
    t->thrown_dtor = dtor;
    return CF_EUNKNOWN;
}

/* ---- suspension and wake-up ---- */

/* Stop the sources of a wake-up that did not happen: the timer and the await's signal. */
static inline void disarm(cf_task *t)
{
    if (t->timer) {
        cf_clear_timeout(t->timer);
        t->timer = NULL;
    }
    if (CF_UNLIKELY(t->ext != NULL) && t->ext->await_listener._signal)
        cf_abort_signal_unlisten(&t->ext->await_listener);
}

static void wake_cb(void *data);

/*
 * Leave the current task `t`, just suspended. When `t` runs as a microtask of the loop's
 * drain and the next microtask is the wake-up of another task, switch straight to that task
 * (symmetric transfer): the drain would resume it next anyway, so everything happens in the
 * same order, with one switch instead of two. That task takes over `t`'s place: when it
 * suspends in turn, control goes where `t`'s yield would have gone (task_resume finishes
 * whichever task ran last). Else yield to whoever resumed `t`.
 */
static void task_leave(cf_task *t)
{
    cf_task *next =
        t->in_micro && !t->run_parent ? cf__loop_microtask_peek(t->loop, wake_cb) : NULL;
    if (!next || next == t || !next->waiting || !next->wake_set || next->seq != next->wake_seq) {
        cf__fiber_yield();
        return;
    }
    cf__loop_microtask_skip(t->loop);
    next->in_micro = 1;
    next->run_parent = NULL;
    current_task = next;
    task_unref(next); /* the wake-up's reference; its unfinished fiber holds another */
    cf__fiber_transfer(next->fiber);
}

/* Suspend the current task `t` until one wake-up; returns its code. */
static int task_suspend(cf_task *t)
{
    t->seq++;
    t->waiting = 1;
    t->wake_set = 0;
    t->wake_err = NULL;
    task_leave(t);
    t->waiting = 0;
    return t->wake_rc;
}

static void wake_cb(void *data)
{
    cf_task *t = data;
    if (t->waiting && t->wake_set && t->seq == t->wake_seq)
        task_resume(t, 1);
    task_unref(t);
}

/*
 * Decide the outcome of `t`'s suspension (`rc`, with `err` borrowed for the await to return)
 * and resume it in a microtask. Returns 0 when the outcome was already decided (nothing done).
 */
static int wake_later(cf_task *t, int rc, const cf_error *err)
{
    if (!t->waiting || t->wake_set)
        return 0;
    t->wake_set = 1;
    t->wake_rc = rc;
    t->wake_err = err;
    t->wake_seq = t->seq;
    disarm(t);
    t->refs++;
    if (CF_UNLIKELY(cf_queue_microtask(t->loop, wake_cb, t) < 0)) {
        /* No room in the microtask queue: resume now rather than never. */
        task_resume(t, 0);
        task_unref(t);
    }
    return 1;
}

/* The error of the current cancellation: the abort error of the task's signal, or the loop's
 * closing. */
static const cf_error *cancel_error(const cf_task *t)
{
    return t->ext && t->ext->cancel_err ? t->ext->cancel_err : &closing_error;
}

/* The abort error of `s` at the task's site (NULL when memory is exhausted). */
static cf_error *abort_error_at(const cf_task *t, const cf_abort_signal *s)
{
    /* The await the task is in names the line; the task's start when there is none. */
    cf_site site = {.pc = t->wait_pc ? t->wait_pc : t->site_pc};
    return cf__error_set_site(cf_abort_signal_error(s), site);
}

static void on_task_abort(cf_abort_listener *l, cf_abort_signal *s)
{
    cf_task *t = l->data;
    if (!t->cancel_rc) {
        t->cancel_rc = CF_ECANCELED;
        t->ext->cancel_err = abort_error_at(t, s);
    }
    (void)wake_later(t, t->cancel_rc, cancel_error(t));
}

static void on_await_abort(cf_abort_listener *l, cf_abort_signal *s)
{
    cf_task *t = l->data;
    cf_error *err = abort_error_at(t, s);
    if (wake_later(t, CF_ECANCELED, err))
        t->own_error = err;
    else
        cf_error_free(err);
}

void cf__task_force(cf_task *t, int code)
{
    if (!t->cancel_rc)
        t->cancel_rc = code;
    t->refs++;
    while (!t->done && t->waiting) {
        t->wake_set = 1;
        t->wake_rc = t->cancel_rc;
        t->wake_err = cancel_error(t);
        disarm(t);
        task_resume(t, 0);
    }
    task_unref(t);
}

/* ---- start and end ---- */

/* The rejection of a task that returned `rc` < 0 (see calcifer/task.h); NULL stands for CF_ENOMEM.
 */
static cf_error *task_error(cf_task *t, int rc)
{
    if (t->thrown.err) { /* not a value: see task_finish */
        cf_error *e = t->thrown.err;
        t->thrown.err = NULL;
        return e;
    }
    if (t->last_error && t->last_error->code == rc)
        return cf_error_copy(t->last_error);
    return cf_error_at(rc, (cf_site){.pc = t->site_pc}, NULL, 0, NULL, 0, NULL);
}

/* End the last await's lease: its promise and the error it owned (last_error is kept). */
static inline void drop_lease(cf_task *t)
{
    if (t->held) {
        cf_promise_release(t->held);
        t->held = NULL;
    }
    if (CF_UNLIKELY(t->own_error)) {
        cf_error_free(t->own_error);
        t->own_error = NULL;
    }
}

/* Release what the last await lent (at the task's end). */
static inline void drop_held(cf_task *t)
{
    drop_lease(t);
    t->last_error = NULL;
}

/*
 * The promise whose rejection the task passes on unchanged (≈ an exception that was not
 * caught): the last await's, when it was rejected with a value and the task failed with that
 * code without throwing anything else. NULL otherwise (then the error is copied, task_error).
 */
static cf_promise *rethrown_value(const cf_task *t, int rc)
{
    cf_promise *h = t->held;
    if (!h || t->thrown.value || t->thrown_is_value || cf_promise_reason_is_error(h) != 0)
        return NULL;
    return t->last_error == cf_promise_error(h) && rc == cf_promise_code(h) ? h : NULL;
}

/* Settle the task's promise `r` with what the function returned or threw. */
static void settle_result(cf_task *t, cf_promise *r, int rc, cf_error *err, cf_promise *rethrown)
{
    if (rc < 0) {
        if (t->thrown_is_value) {
            t->thrown_is_value = 0;
            (void)cf_promise_reject_value(r, t->thrown.value, t->thrown_dtor);
            t->thrown.value = NULL;
            t->thrown_dtor = NULL;
        } else if (rethrown) {
            (void)cf_promise_follow(r, rethrown);
        } else {
            (void)cf_promise_reject(r, err);
            return;
        }
        cf_error_free(err);
    } else if (t->ret_kind == CF__TASK_RET_PROMISE) {
        (void)cf_promise_adopt(r, t->ret.promise); /* ≈ return promise: two extra turns */
    } else if (t->ret_kind == CF__TASK_RET_THENABLE) {
        cf_thenable *th = t->ret.thenable;
        t->ret_kind = CF__TASK_RET_VALUE;
        t->ret.value = NULL;
        (void)cf_promise_adopt_thenable(r, th);
    } else {
        (void)cf_promise_resolve(r, t->ret.value, t->ret_dtor);
        t->ret_dtor = NULL;
    }
}

/* The function has returned: settle the promise, tell the group, free what the task held. */
static void task_finish(cf_task *t)
{
    t->done = 1;
    cf__fiber_fini(t->fiber);
    if (t->ext)
        cf_abort_signal_unlisten(&t->ext->sig_listener);
    int rc = t->rc < 0 ? t->rc : 0;
    cf_promise *rethrown = rc < 0 ? cf_promise_retain(rethrown_value(t, rc)) : NULL;
    cf_error *err = rc < 0 && !rethrown && !t->thrown_is_value ? task_error(t, rc) : NULL;
    drop_held(t);
    if (t->group) {
        const cf_error *gerr = err ? err : cf_promise_error(rethrown);
        if (rc < 0 && !gerr)
            gerr = t->thrown_is_value ? &cf__promise_value_reason : &cf__promise_enomem;
        cf_queue_remove(&t->glink);
        cf__group_task_ended(t->group, t, rc, gerr);
        t->group = NULL;
    }
    if (t->result) {
        settle_result(t, t->result, rc, err, rethrown);
        cf_promise_release(t->result);
        t->result = NULL;
    } else {
        cf_error_free(err);
    }
    cf_promise_release(rethrown);
    clear_thrown(t);
    clear_return(t);
    if (t->ext) {
        cf_abort_signal_release(t->ext->signal);
        t->ext->signal = NULL;
    }
    task_unref(t);
}

/*
 * Switch into `t` until it suspends or ends. `t` may be freed when this returns. Control comes
 * back from `t`, or from the last task it handed over to (task_leave), which may have ended.
 */
static void task_resume(cf_task *t, int in_micro)
{
    /* A step of the task, for the blocked-loop detector and the trace (core/metrics.h). */
    cf_loop *loop = t->loop;
    uint64_t t0 = cf__obs_step_begin(loop);
    const void *fn = (const void *)t->fn;
    const void *site = t->site_pc;
    cf_task *parent = current_task;
    t->in_micro = (uint8_t)in_micro;
    t->run_parent = parent;
    current_task = t;
    cf__fiber_resume(t->fiber);
    cf_task *ran = current_task;
    current_task = parent;
    ran->run_parent = NULL;
    if (cf__fiber_done(ran->fiber))
        task_finish(ran); /* may free it */
    cf__obs_step_end(loop, t0, fn, site);
}

static void task_entry(void *arg)
{
    cf_task *t = arg;
    t->rc = t->fn(t, t->arg);
}

/* cf__task_start, with the place of the task's own errors (no place: `site` empty). */
static int task_start(cf_loop *loop, cf_async_fn fn, void *arg, const cf_task_opts *opts,
                      cf_group *g, cf_promise *result, cf_site site)
{
    cf__task_loop *cl = cf__task_loop_get(loop);
    if (!cl)
        return CF_ENOMEM;
    cf_abort_signal *signal = g ? cf_group_signal(g) : (opts ? opts->signal : NULL);
    if (cf_abort_signal_aborted(signal))
        return cf_abort_signal_code(signal);
    cf_stack_mode mode = opts && opts->stack ? opts->stack : cl->stack;
    cf__fiber_opts fo = {.stack_size = opts && opts->stack_size ? opts->stack_size : cl->stack_size,
                         .shared_stack = mode != CF_STACK_DEDICATED}; /* docs/stacks.md */
    /* One block: the task, its fiber (the last member) and the fiber's image room. */
    cf_task *t = cf__objpool_alloc(&cl->blocks[fo.shared_stack]);
    if (!t)
        return CF_ENOMEM;
    t->copy = (uint8_t)fo.shared_stack;
    if ((signal && !task_ext(t)) || cf__fiber_init(t->fiber, task_entry, t, &fo) < 0) {
        cf__free(t->ext);
        cf__objpool_free(&cl->blocks[t->copy], t);
        return CF_ENOMEM;
    }
    t->refs = 1;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->site_pc = site.pc;
    t->result = cf_promise_retain(result);
    cf__reaction_init(&t->reaction, NULL);
    cf_queue_init(&t->glink);
    cf_queue_insert_tail(&cl->tasks, &t->link);
    if (signal) {
        t->ext->signal = cf_abort_signal_retain(signal);
        (void)cf_abort_signal_listen(signal, &t->ext->sig_listener, on_task_abort);
    }
    t->group = g;
    if (g)
        cf__group_task_joined(g, t);
    task_resume(t, 0);
    return 0;
}

int cf__task_start(cf_loop *loop, cf_async_fn fn, void *arg, const cf_task_opts *opts, cf_group *g,
                   cf_promise *result)
{
    cf_site none = {0};
    return task_start(loop, fn, arg, opts, g, result, none);
}

/* cf_async_ex for a caller at `site`: the task's own errors name that place. */
static cf_promise *async_start(cf_loop *loop, cf_async_fn fn, void *arg, const cf_task_opts *opts,
                               cf_site site)
{
    if (!loop || !fn)
        return NULL;
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    int rc = task_start(loop, fn, arg, opts, NULL, p, site);
    if (rc == CF_ENOMEM) {
        (void)cf_promise_reject(p,
                                CF_ERROR_AT(site, CF_ENOMEM, "cannot start a task: out of memory"));
    } else if (rc < 0) {
        const cf_error *why = cf_abort_signal_reason(opts->signal);
        (void)cf_promise_reject(p, why ? cf_error_copy(why)
                                       : cf_error_at(rc, site, NULL, 0, NULL, 0, NULL));
    }
    return p;
}

CF__NOINLINE cf_promise *cf_async_ex(cf_loop *loop, cf_async_fn fn, void *arg,
                                     const cf_task_opts *opts)
{
    return async_start(loop, fn, arg, opts, CF__SITE_CALLER());
}

CF__NOINLINE cf_promise *cf_async(cf_loop *loop, cf_async_fn fn, void *arg)
{
    return async_start(loop, fn, arg, NULL, CF__SITE_CALLER());
}

int cf__task_chain_in_group(const cf_group *g)
{
    for (const cf_task *t = cf_task_current(); t; t = t->run_parent) {
        if (t->group == g)
            return 1;
    }
    return 0;
}

/* ---- await ---- */

/*
 * What an await lends the task: the awaited promise (its value or error) and an error it
 * made (an abort's). An await takes the previous await's lease at its start
 * and ends it when it returns, so a value can be handed to the operation awaited next.
 */
typedef struct lease {
    cf_promise *held;
    cf_error *own_error;
} lease;

static inline void lease_take(cf_task *t, lease *old)
{
    old->held = t->held;
    old->own_error = t->own_error;
    t->held = NULL;
    t->own_error = NULL;
    t->last_error = NULL;
}

static inline void lease_end(lease *old)
{
    if (old->held)
        cf_promise_release(old->held);
    if (CF_UNLIKELY(old->own_error))
        cf_error_free(old->own_error);
}

/* The cancellation's code (and error) when the task is cancelled, else 0. */
static int check_cancel(cf_task *t)
{
    if (CF_LIKELY(!t->cancel_rc))
        return 0;
    t->last_error = cancel_error(t);
    return t->cancel_rc;
}

/* Non-zero when a microtask queued now would resume `t` next: no need to suspend. */
static inline int next_anyway(const cf_task *t)
{
    return t->in_micro && cf__loop_microtasks_idle(t->loop);
}

static void on_settled(cf_task *t, cf_promise *settled)
{
    if (t->waiting && !t->wake_set && settled == t->held && !t->timer) { /* cf_sleep */
        t->wake_set = 1;
        t->wake_rc = 0;
        disarm(t);
        task_resume(t, 1);
    }
}

static void reaction_fn(cf__reaction *r, cf_promise *settled)
{
    cf_task *t = CF_CONTAINER_OF(r, cf_task, reaction);
    t->react_busy = 0;
    on_settled(t, settled);
    task_unref(t); /* the reaction's reference */
}

static void spare_fn(cf__reaction *r, cf_promise *settled)
{
    spare *s = CF_CONTAINER_OF(r, spare, r);
    cf_task *t = s->task;
    cf_queue_remove(&s->link);
    cf__free(s);
    on_settled(t, settled);
    task_unref(t);
}

/* Attach a reaction of `t` to `p`. Returns 0 or CF_ENOMEM. */
static int attach(cf_task *t, cf_promise *p)
{
    cf__reaction *r;
    spare *s = NULL;
    if (!t->react_busy) {
        r = &t->reaction;
        cf__reaction_init(r, reaction_fn);
    } else {
        s = cf__malloc(sizeof(*s));
        if (!s)
            return CF_ENOMEM;
        r = &s->r;
        cf__reaction_init(r, spare_fn);
        s->task = t;
    }
    int rc = cf__promise_react(p, r);
    if (rc < 0) {
        cf__free(s);
        return rc;
    }
    if (s)
        cf_queue_insert_tail(&cf__task_loop_get(t->loop)->spares, &s->link); /* made: non-NULL */
    else
        t->react_busy = 1;
    t->refs++;
    return 0;
}

/*
 * Suspend `t` for exactly one microtask turn (a wake-up queued now). Returns 0, CF_ENOMEM,
 * or the cancellation's code when the task is forced to end meanwhile.
 */
static int suspend_one_turn(cf_task *t)
{
    t->refs++;
    if (cf_queue_microtask(t->loop, wake_cb, t) < 0) {
        t->refs--;
        t->wake_err = NULL;
        return CF_ENOMEM;
    }
    t->seq++;
    t->waiting = 1;
    t->wake_set = 1;
    t->wake_rc = 0;
    t->wake_err = NULL;
    t->wake_seq = t->seq;
    task_leave(t);
    t->waiting = 0;
    if (t->wake_rc < 0)
        t->last_error = t->wake_err;
    return t->wake_rc;
}

/* The outcome of an await of `p` once the task is resumed with `rc`. */
static int await_result(cf_task *t, cf_promise *p, int rc, void **value)
{
    if (rc < 0) {
        t->last_error = t->wake_err;
        return rc;
    }
    if (cf_promise_state(p) == CF_PROMISE_FULFILLED) {
        *value = cf_promise_value(p);
        return 0;
    }
    t->last_error = cf_promise_error(p);
    return cf_promise_code(p);
}

/* The await of `p` by `t`, given up when `signal` aborts. */
static int await_promise(cf_task *t, cf_promise *p, cf_abort_signal *signal, void **value)
{
    if (!p)
        return CF_ENOMEM;
    t->held = p;
    if (cf_promise_loop(p) != t->loop) {
        t->last_error = &foreign_error;
        return CF_EINVAL;
    }
    int rc = check_cancel(t);
    if (rc < 0)
        return rc;
    if (signal && cf_abort_signal_aborted(signal)) {
        t->own_error = abort_error_at(t, signal);
        t->last_error = t->own_error;
        return CF_ECANCELED;
    }
    if (t->in_micro && cf_promise_state(p) == CF_PROMISE_FULFILLED) {
        /* Resumed by a microtask, so no handler is settling `p` right now: its reaction
         * would be queued at once, one turn from now, like a plain turn. */
        if (!cf__loop_microtasks_idle(t->loop)) {
            rc = suspend_one_turn(t);
            if (rc < 0)
                return await_result(t, p, rc, value);
        }
        *value = cf_promise_value(p);
        return 0;
    }
    if (signal && !task_ext(t))
        return CF_ENOMEM;
    rc = attach(t, p);
    if (rc < 0)
        return rc;
    if (signal)
        (void)cf_abort_signal_listen(signal, &t->ext->await_listener, on_await_abort);
    rc = task_suspend(t);
    return await_result(t, p, rc, value);
}

/* What the await that ended with `rc` gives the task (see cf_result in task.h). */
static cf_result make_result(const cf_task *t, int rc, void *value)
{
    cf_result r = {rc, 0, rc < 0 ? NULL : value, rc < 0 ? t->last_error : NULL};
    cf_promise *h = t->held;
    if (rc < 0 && h && t->last_error && t->last_error == cf_promise_error(h) &&
        cf_promise_reason_is_error(h) == 0) {
        r.value = cf_promise_reason(h); /* ≈ `throw 42`: the value is what was thrown */
        r.value_is_reason = 1;
    }
    return r;
}

/* The await behind cf_await and cf_await_signal. */
static cf_result await_full(cf_promise *p, cf_abort_signal *signal)
{
    cf_task *t = current_task;
    if (!t) {
        cf_promise_release(p);
        return (cf_result){CF_ENOTASK, 0, NULL, &notask_error};
    }
    lease old;
    lease_take(t, &old);
    void *value = NULL;
    int rc = await_promise(t, p, signal, &value);
    lease_end(&old);
    return make_result(t, rc, value);
}

CF__NOINLINE cf_result cf_await(cf_promise *p)
{
    /* The fast path of await_promise, kept small: nothing to arm, nothing to report. */
    cf_task *t = current_task;
    if (CF_LIKELY(t && p && t->in_micro && !t->cancel_rc && !t->own_error) &&
        cf_promise_state(p) == CF_PROMISE_FULFILLED && cf_promise_loop(p) == t->loop) {
        cf_promise *old = t->held;
        t->held = p;
        t->last_error = NULL;
        if (old)
            cf_promise_release(old);
        if (cf__loop_microtasks_idle(t->loop)) /* the continuation would run next anyway */
            return (cf_result){0, 0, cf_promise_value(p), NULL};
        /* Other jobs first: one turn, as await_promise takes it, without its general set-up
         * (the path of tasks that await in lock-step). */
        t->wait_pc = __builtin_extract_return_addr(__builtin_return_address(0));
        int rc = suspend_one_turn(t);
        if (CF_UNLIKELY(rc < 0))
            return (cf_result){rc, 0, NULL, t->last_error};
        return (cf_result){0, 0, cf_promise_value(p), NULL};
    }
    if (t) /* where it waits, should the loop end first (not on the fast path) */
        t->wait_pc = __builtin_extract_return_addr(__builtin_return_address(0));
    return await_full(p, NULL);
}

CF__NOINLINE cf_result cf_await_signal(cf_promise *p, cf_abort_signal *signal)
{
    if (current_task)
        current_task->wait_pc = __builtin_extract_return_addr(__builtin_return_address(0));
    return await_full(p, signal);
}

CF__NOINLINE cf_result cf_await_thenable(cf_thenable *th)
{
    cf_task *t = current_task;
    if (!t) {
        if (th && th->release)
            th->release(th);
        return (cf_result){CF_ENOTASK, 0, NULL, &notask_error};
    }
    /* ≈ V8's await: PromiseResolve(thenable) makes a promise whose job calls then. */
    t->wait_pc = __builtin_extract_return_addr(__builtin_return_address(0));
    return await_full(cf_promise_from_thenable(t->loop, th), NULL);
}

cf_result cf__await_from(cf_promise *p, const void *pc)
{
    if (current_task)
        current_task->wait_pc = pc;
    return await_full(p, NULL);
}

/* One microtask turn for `t` (cf_await_null). */
static int await_turn(cf_task *t)
{
    int rc = check_cancel(t);
    if (rc < 0 || next_anyway(t))
        return rc;
    return suspend_one_turn(t);
}

cf_result cf_await_null(void)
{
    cf_task *t = current_task;
    if (!t)
        return (cf_result){CF_ENOTASK, 0, NULL, &notask_error};
    lease old;
    lease_take(t, &old);
    int rc = await_turn(t);
    lease_end(&old);
    return (cf_result){rc, 0, NULL, rc < 0 ? t->last_error : NULL};
}

/* ---- sleep ---- */

static void sleep_fired(void *data)
{
    cf_task *t = data;
    t->timer = NULL; /* the loop frees a fired timer */
    (void)wake_later(t, 0, NULL);
}

/*
 * Arm the sleep of `t` (cf_sleep): 0, or the code it fails with at once. Out of line, so that
 * cf_sleep's frame, which a suspended copy-stack task keeps in its image, holds only what it
 * needs after the wake-up.
 */
static CF__NOINLINE int sleep_arm(cf_task *t, cf_loop *loop, uint64_t ms)
{
    if (loop != t->loop) {
        t->last_error = &other_loop_error;
        return CF_EINVAL;
    }
    int rc = check_cancel(t);
    if (rc < 0)
        return rc;
    rc = cf_set_timeout(loop, ms, sleep_fired, t, &t->timer);
    if (rc < 0)
        return rc;
    cf__timeout_set_owned(t->timer); /* a close-all forces the task, which clears it */
    return 0;
}

/*
 * A suspended copy-stack task keeps cf_sleep's frame in its image, so the frame holds only the
 * task, the result and its code. Unlike an await, a sleep leaves the last await's lease in the
 * task while it waits (nothing replaces it): on_settled ignores a late reaction to that
 * promise while the sleep's timer is armed. The lease ends when the sleep returns, as an
 * await's does (each part read again from the task, so that none is live across a call).
 */
CF__NOINLINE cf_result cf_sleep(cf_loop *loop, uint64_t ms)
{
    cf_task *t = current_task;
    if (!t)
        return (cf_result){CF_ENOTASK, 0, NULL, &sleep_notask_error};
    t->wait_pc = __builtin_extract_return_addr(__builtin_return_address(0));
    t->last_error = NULL;
    int rc = sleep_arm(t, loop, ms);
    if (rc == 0) {
        rc = task_suspend(t);
        if (rc < 0)
            t->last_error = t->wake_err;
    }
    drop_lease(t);
    return (cf_result){rc, 0, NULL, rc < 0 ? t->last_error : NULL};
}

/*
 * A promise sleep: its timeout, the listener on its signal (if any), its promise, and the
 * caller's site for the abort error. Exactly one of the timeout and the abort settles it.
 */
typedef struct sleep_req {
    cf_promise *p;
    cf_timeout *timer;
    cf_abort_listener on_abort;
    cf_site site;
    cf_queue link; /* in the loop's `sleeps` */
} sleep_req;

static void sleep_req_done(sleep_req *r)
{
    cf_queue_remove(&r->link);
    cf_promise_release(r->p);
    cf__free(r);
}

/*
 * cf__loop_close_all: the promise sleeps reject with CF_ECANCELED, and the suspended tasks
 * resume with CF_ECANCELED (their sleeps and awaits end), as at the loop's close. Called from
 * inside a task, the tasks are left for a later call: none can be forced while one runs.
 */
static void task_loop_close_all(cf__loop_closer *c)
{
    cf__task_loop *cl = CF_CONTAINER_OF(c, cf__task_loop, closer);
    while (!cf_queue_empty(&cl->sleeps)) {
        sleep_req *r = cf_queue_data(cf_queue_head(&cl->sleeps), sleep_req, link);
        cf_clear_timeout(r->timer);
        cf_abort_signal_unlisten(&r->on_abort);
        (void)cf_promise_reject(r->p, CF_ERROR_AT(r->site, CF_ECANCELED, "sleep: cancelled"));
        sleep_req_done(r);
    }
    if (!current_task)
        finish_all(cl, 0); /* once each: a task that awaits again waits for the next call */
}

static void sleep_p_fired(void *data)
{
    sleep_req *r = data;
    r->timer = NULL; /* the loop frees a fired timeout */
    cf_abort_signal_unlisten(&r->on_abort);
    (void)cf_promise_resolve(r->p, NULL, NULL);
    sleep_req_done(r);
}

/* The one abort error, at the caller's line; CF_ECANCELED alone when memory is short. */
static cf_error *sleep_abort_error(const cf_abort_signal *signal, cf_site site)
{
    cf_error *e = cf_abort_signal_error(signal);
    if (!e)
        return CF_ERROR_AT(site, CF_ECANCELED, "The operation was aborted");
    return cf__error_set_site(e, site);
}

static void sleep_p_aborted(cf_abort_listener *l, cf_abort_signal *signal)
{
    sleep_req *r = CF_CONTAINER_OF(l, sleep_req, on_abort);
    cf_clear_timeout(r->timer);
    (void)cf_promise_reject(r->p, sleep_abort_error(signal, r->site));
    sleep_req_done(r);
}

CF__NOINLINE cf_promise *cf_sleep_p(cf_loop *loop, uint64_t ms, cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    if (cf_abort_signal_aborted(signal)) {
        (void)cf_promise_reject(p, sleep_abort_error(signal, site));
        return p;
    }
    cf__task_loop *cl = cf__task_loop_get(loop);
    sleep_req *r = cl ? cf__calloc(1, sizeof(*r)) : NULL;
    if (!r || cf_set_timeout(loop, ms, sleep_p_fired, r, &r->timer) < 0) {
        cf__free(r);
        (void)cf_promise_reject(p, CF_ERROR_AT(site, CF_ENOMEM, "sleep: cannot start a timer"));
        return p;
    }
    cf__timeout_set_owned(r->timer); /* a close-all rejects the sleep, which clears it */
    r->p = cf_promise_retain(p);
    r->site = site;
    cf_queue_insert_tail(&cl->sleeps, &r->link);
    if (signal)
        (void)cf_abort_signal_listen(signal, &r->on_abort, sleep_p_aborted); /* not aborted */
    return p;
}
