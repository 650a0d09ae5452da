/*
 * Calcifer: async/await on stackful coroutines (≈ JavaScript's async functions and await).
 *
 * cf_async starts a C function as a *task* on a stack of its own. Like a call to a
 * JavaScript async function, the function runs synchronously, inside cf_async, until its
 * first await; cf_async then returns a promise of its result. cf_await suspends the task
 * until a promise settles and resumes it as a microtask, with V8's timing: one microtask turn
 * for an already settled promise, and in the drain right after the callback that settles a
 * pending one. Tasks interleave at their awaits exactly as async functions do.
 *
 *     static int fetch(cf_task *task, void *arg)
 *     {
 *         cf_result r = cf_await(cf_fs_read_file_p(cf_task_loop(task), arg, NULL));
 *         if (r.status < 0)
 *             return cf_task_rethrow(task, r.error); // ≈ an uncaught throw: the promise
 *         const cf_buf *body = r.value;             // rejects with the awaited error
 *         ...
 *         return cf_task_return(task, result, cf_free);   // ≈ return result
 *     }
 *     cf_promise *p = cf_async(loop, fetch, "films.json");
 *
 * A task function returns 0 (fulfilled with the value given to cf_task_return, or NULL) or
 * a negative CF_E* code (rejected). The rejection's error is, in order: the one given to
 * cf_task_throw or cf_task_rethrow; else, when the function returns the status of its last
 * failed await unchanged, that await's error (as an exception that is not caught: the file
 * and line of the operation that failed are kept); else a new error with that code, placed at
 * the cf_async call. A failing task never "throws" to its caller: its promise rejects, and an
 * unhandled rejection is reported as for any promise.
 *
 * Awaited values: cf_await *takes* the caller's reference to the promise (so
 * `cf_await(cf_x_p(...))` leaks nothing) and the task keeps it until its next await returns,
 * or its end; the value and error in the cf_result are borrowed until then, so a value can be
 * handed to the operation awaited next (read, then write what was read). To keep a value
 * longer, cf_promise_retain the promise before awaiting it, or copy the value.
 *
 * Cancellation (≈ AbortSignal, libdill-style): a task started with a signal (cf_async_ex),
 * or in a group (calcifer/group.h), is cancelled when the signal aborts. Its pending await
 * then fails with CF_ECANCELED (the reason is the error's cause), and so does every later
 * await, sleep and group wait in it, at once, without suspending: the task runs its cleanup
 * and ends. Cleanup that needs the loop uses callback-style calls (cf_x_close(h, cb, data)).
 *
 * Stacks (docs/stacks.md): by default a task runs in copy-stack mode, on a shared stack whose
 * used part is copied out while the task is suspended (about a kilobyte per suspended task, no
 * mapping of its own: a million tasks fit). A suspended task's locals move, so nothing may
 * point to them while it waits: the library's calls that keep a caller's buffer across a
 * suspension (cf_fs_read/write, cf_tcp_write, an HTTP request body) refuse a buffer on a
 * movable stack with CF_EINVAL. A task that needs deep recursion, big locals or buffers of
 * its own on the stack asks for a dedicated stack (CF_STACK_DEDICATED: carved from large
 * reserved regions, guard page, 64 KiB by default, or CF_STACK_SIZE, or per loop / per task
 * here). Running past either stack is reported as a stack overflow and kills the process.
 *
 * Tasks still suspended when the loop closes are resumed there, with CF_ECANCELED from
 * their await, so that they finish and free what they hold. Everything is loop-thread only.
 */
#ifndef CALCIFER_TASK_H
#define CALCIFER_TASK_H

#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/abort.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A running task (≈ the activation of an async function). Opaque; owned by the library. */
typedef struct cf_task cf_task;

/*
 * The body of a task. `task` is the task itself (valid until the function returns); `arg`
 * is the pointer given to cf_async (borrowed). Return 0 to fulfil the task's promise, or a
 * negative CF_E* to reject it (see the top of this file).
 */
typedef int (*cf_async_fn)(cf_task *task, void *arg);

/* Which stack a task runs on. */
typedef enum cf_stack_mode {
    CF_STACK_DEFAULT = 0, /* the loop's default (cf_task_set_defaults), else copy-stack */
    CF_STACK_DEDICATED,   /* a stack of its own */
    CF_STACK_COPY         /* a shared stack, copied out while suspended */
} cf_stack_mode;

/* Options of cf_async_ex and cf_task_set_defaults; zero-initialize for the defaults. */
typedef struct cf_task_opts {
    size_t stack_size;       /* usable bytes; 0: the loop's default, else CF_STACK_SIZE or 64 KiB */
    cf_stack_mode stack;     /* dedicated or copy-stack */
    cf_abort_signal *signal; /* cancels the task when it aborts; borrowed (the task retains it) */
} cf_task_opts;

/* ---- start ---- */

/*
 * Start `fn(task, arg)` as a task (≈ calling an async function): it runs now, until its first
 * await, and the returned promise settles with its result. Never fails synchronously: when
 * no stack can be had the promise is rejected with CF_ENOMEM (and `fn` never runs).
 * Ownership: `arg` is borrowed until the task ends; the caller owns one reference to the
 * promise. Returns NULL only when memory is exhausted or `loop`/`fn` is NULL. May be called
 * from inside a task (the new task runs on its own stack). Thread: loop only.
 */
CF_EXTERN cf_promise *cf_async(cf_loop *loop, cf_async_fn fn, void *arg);

/*
 * cf_async with options (NULL: the defaults). With a signal that is already aborted the task
 * does not start: the promise is rejected with (a copy of) the reason. Ownership: `opts` is
 * copied; its signal is borrowed (the task keeps a reference until it ends). As cf_async.
 * Thread: loop only.
 */
CF_EXTERN cf_promise *cf_async_ex(cf_loop *loop, cf_async_fn fn, void *arg,
                                  const cf_task_opts *opts);

/*
 * Set the loop's default stack size and mode for tasks started later (`opts->signal` must be
 * NULL). Ownership: `opts` is copied. Returns 0, CF_EINVAL (NULL argument, a signal, or a
 * stack mode out of range) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_task_set_defaults(cf_loop *loop, const cf_task_opts *opts);

/* ---- the task's result ---- */

/*
 * Set the value the task's promise fulfils with when the function returns 0 (≈ `return
 * value`). A later call replaces the value (the earlier one's `dtor` runs). Ownership: takes
 * `value`; `dtor(value)` runs when the promise is freed (NULL `dtor`: nothing to free).
 * Returns 0, so `return cf_task_return(task, v, dtor);` reads as a return.
 * Thread: the task itself.
 */
CF_EXTERN int cf_task_return(cf_task *task, void *value, void (*dtor)(void *));

/*
 * Make the task's promise adopt `p` when the function returns 0 (≈ `return p` in an async
 * function): it settles like `p`, with V8's timing: two microtask turns after `p` settles (a
 * job calls p's then, whose reaction settles the task's promise), one turn more than
 * awaiting `p` and returning its value with cf_task_return (≈ `return await p`). Replaces any
 * earlier cf_task_return*, and is dropped if the function returns a negative code. `p` being the
 * task's own promise rejects it with CF_ECYCLE. Ownership: takes the caller's reference to
 * `p`, on success and on failure (so `cf_task_return_promise(task, cf_x_p(...))` leaks
 * nothing); a NULL `p` (a `_p` call out of memory) stands for a CF_ENOMEM rejection. A task
 * of a group (no promise of its own) ends when the function returns, without waiting for `p`.
 * Returns 0, CF_EINVAL (NULL task, or `p` of another loop) or CF_ENOMEM (`p` NULL and no
 * memory for the rejection). Thread: the task itself.
 */
CF_EXTERN int cf_task_return_promise(cf_task *task, cf_promise *p);

/*
 * Make the task's promise adopt the thenable `t` when the function returns 0 (≈ `return
 * thenable`): `t->then` is called in a microtask job of its own, as cf_promise_adopt_thenable.
 * Replaces any earlier cf_task_return*. Ownership: `t` is borrowed until its `release` runs
 * (after `then`, or when the task ends without using it). Returns 0, or CF_EINVAL (NULL task,
 * NULL `t` or `t->then`; `t->release` has then run). Thread: the task itself.
 */
CF_EXTERN int cf_task_return_thenable(cf_task *task, cf_thenable *t);

/*
 * Set the error the task's promise rejects with (≈ `throw err`); returns its code, so
 * `return cf_task_throw(task, CF_ERROR(CF_EPARSE, "bad row %d", n));` reads as a throw. A
 * NULL `err` stands for CF_ENOMEM (so a failed CF_ERROR is safe). Ownership: takes `err`.
 * If the function then returns 0 anyway, the error is dropped. Thread: the task itself.
 */
CF_EXTERN int cf_task_throw(cf_task *task, cf_error *err);

/*
 * Set a value (not an error) the task's promise rejects with (≈ `throw 42`, `throw undefined`
 * with NULL): the promise is rejected with cf_promise_reject_value when the function returns
 * a negative code. Returns CF_EUNKNOWN (the code of such rejections), so
 * `return cf_task_throw_value(task, v, dtor);` reads as a throw. Replaces an earlier
 * cf_task_throw or cf_task_throw_value. Ownership: takes `value`; `dtor(value)` runs once
 * (when the promise is freed, or when the value is replaced or dropped because the function
 * returned 0); `dtor` may be NULL. Returns CF_EINVAL for a NULL task (`dtor(value)` has run).
 * Thread: the task itself.
 */
CF_EXTERN int cf_task_throw_value(cf_task *task, void *value, void (*dtor)(void *));

/*
 * Let an awaited error propagate (≈ an exception that is not caught): the task's promise will
 * be rejected with a copy of `err` that keeps the site of the operation that failed and adds
 * this call's site ("rethrown at"). Returns `err`'s code (negative) for `return
 * cf_task_rethrow(task, r.error);`. Ownership: `err` is borrowed (copied). A NULL `err` gives
 * CF_ENOMEM. Errors: CF_EINVAL for a NULL `task`. Thread: loop only, from inside `task`.
 */
CF_EXTERN int cf_task_rethrow(cf_task *task, const cf_error *err);

/* ---- await ---- */

/*
 * What an await gives the awaiting code (≈ the value of `await p`, or the exception it
 * throws). Held by the caller: nothing in it comes from hidden state.
 *  - `status`: 0 when the promise was fulfilled, else the negative CF_E* the await failed
 *    with: the rejection's code, CF_ECANCELED when the task or the await's signal was aborted
 *    (`error`'s cause is the reason), CF_ENOMEM, CF_ENOTASK, CF_EINVAL.
 *  - `value`: the fulfillment value (a `void *`: assign it to the type the operation documents,
 *    no cast needed). For a promise rejected with a value that is not an error
 *    (cf_promise_reject_value) it is that value, `status` is CF_EUNKNOWN and
 *    `value_is_reason` is 1. NULL otherwise.
 *  - `error`: the error when `status` < 0 (NULL only for CF_ENOMEM without memory for one);
 *    NULL when fulfilled.
 * Lifetime: `value` and `error` are borrowed until the task's next await (of any kind)
 * returns, or the task ends: hand `value` to the next operation, cf_error_copy the error or
 * pass it on with cf_task_rethrow.
 */
typedef struct cf_result {
    int status;
    int value_is_reason;
    void *value;
    const cf_error *error;
} cf_result;

/*
 * The value of a result whose operation fulfils with a number (a descriptor from
 * cf_fs_open_p, a byte count from cf_fs_read_p), which the library carries in the pointer.
 * Thread: any.
 */
static inline intptr_t cf_result_int(cf_result r)
{
    return (intptr_t)r.value;
}

/*
 * Suspend the current task until `p` settles (≈ `await p`) and resume it as a microtask: one
 * turn for a settled promise, as V8 (when the resumption would run next anyway, the task just
 * goes on: same order, no switch). Returns the outcome (cf_result above).
 *
 *     cf_result r = cf_await(cf_fs_read_file_p(loop, path, NULL));
 *     if (r.status < 0)
 *         return cf_task_rethrow(task, r.error);    // ≈ let the exception propagate
 *     const cf_buf *body = r.value;
 *
 * Ownership: takes one reference to `p`, on success and on failure. A NULL `p` (a `_p` call
 * that ran out of memory) gives CF_ENOMEM; outside a task CF_ENOTASK; a promise of another
 * loop CF_EINVAL. When the task is cancelled the await fails with CF_ECANCELED at once.
 * Thread: loop only.
 */
CF_EXTERN cf_result cf_await(cf_promise *p);

/*
 * cf_await that gives up when `signal` aborts (at once if it already has): the await fails
 * with CF_ECANCELED, "The operation was aborted", the signal's reason as the error's cause
 * (a deadline is a signal from cf_abort_signal_timeout). The promise goes on; only the await
 * gives up. Ownership: `signal` is borrowed until this returns (NULL: plain cf_await); as
 * cf_await otherwise. Thread: loop only.
 */
CF_EXTERN cf_result cf_await_signal(cf_promise *p, cf_abort_signal *signal);

/*
 * Await a thenable (≈ `await thenable`): `t->then` is called in a microtask job of its own
 * (≈ V8's PromiseResolve of a non-native thenable), and the task resumes one turn after the
 * thenable settles its resolver. Ownership: `t` as cf_promise_from_thenable (borrowed until
 * its `release` runs). Errors: as cf_await; CF_EINVAL when `t` or `t->then` is NULL;
 * CF_ENOTASK outside a task (`t->release` has run). Thread: loop only.
 */
CF_EXTERN cf_result cf_await_thenable(cf_thenable *t);

/*
 * Let the other microtasks go first: resume after one microtask turn (≈ `await null`).
 * Status 0, CF_ENOTASK outside a task, or CF_ECANCELED (with its error) when the task is
 * cancelled.
 * Thread: loop only.
 */
CF_EXTERN cf_result cf_await_null(void);

/* ---- sleep ---- */

/*
 * Suspend the current task for `ms` milliseconds (≈ `await setTimeout(ms)` from
 * timers/promises): a loop timer, ordered with the other timers by due time then creation,
 * resumes the task as a microtask. 0 ms is 1 ms, as in Node. Like every call that suspends a
 * task, returns a cf_result: status 0, or CF_ENOTASK outside a task, CF_EINVAL (`loop` NULL or
 * not the task's), CF_ENOMEM, CF_ECANCELED when the task is cancelled, with the error.
 * Thread: loop only.
 */
CF_EXTERN cf_result cf_sleep(cf_loop *loop, uint64_t ms);

/*
 * A promise fulfilled with NULL `ms` milliseconds from now (≈ setTimeout(ms, undefined,
 * { signal }) from timers/promises). Its timeout keeps the loop alive. When `signal` (NULL:
 * none) aborts first, or has already, the timeout is cleared and the promise is rejected with
 * cf_abort_signal_error(signal): CF_ECANCELED "The operation was aborted", the signal's reason
 * as its cause, at the line that called cf_sleep_p. Ownership: the caller owns one reference;
 * `signal` is borrowed (the sleep keeps its own reference while it waits). Never fails
 * synchronously (no timeout: rejected with CF_ENOMEM). Returns NULL only when memory is
 * exhausted or `loop` is NULL. Thread: loop only.
 */
CF_EXTERN cf_promise *cf_sleep_p(cf_loop *loop, uint64_t ms, cf_abort_signal *signal);

/* ---- the current task ---- */

/* The task running now, or NULL outside a task. Thread: loop only. */
CF_EXTERN cf_task *cf_task_current(void);

/* The task's loop. Thread: any (the loop is fixed). */
CF_EXTERN cf_loop *cf_task_loop(const cf_task *task);

/*
 * The task's cancellation signal (its own from cf_async_ex, or its group's), or NULL: pass it
 * to the operations the task starts so that they are cancelled with it. Ownership: borrowed
 * until the task ends. Thread: loop only.
 */
CF_EXTERN cf_abort_signal *cf_task_signal(const cf_task *task);

/* 0 while the task is not cancelled, else the cancellation's code (CF_ECANCELED, ...).
 * Thread: loop only. */
CF_EXTERN int cf_task_cancelled(const cf_task *task);

/*
 * cf_async and cf_async_ex record their caller's place (calcifer/error.h, cf_site): an error the
 * task makes of its own (a code returned without an awaited error of that code, a task that
 * cannot start) names the line that started the task.
 */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_TASK_H */
