/*
 * Calcifer: task groups, structured concurrency (beyond Node; model: libdill's bundles,
 * Trio's nurseries).
 *
 * A group starts tasks (cf_group_spawn), waits for all of them (cf_group_wait), and keeps
 * them from outliving it:
 *  - fail fast: when one task fails, the group records that first error and cancels the
 *    others: every pending await in them returns CF_ECANCELED, and so does every later one,
 *    at once, so they clean up and end;
 *  - cf_group_cancel cancels them all the same way;
 *  - cf_group_close cancels whatever still runs and resumes those tasks right there until
 *    they have finished: once it returns, none of its tasks is running; then, as for every
 *    handle, its close callback runs from the loop and the group is freed.
 *
 * The group's signal (cf_group_signal) is the tasks' cancellation signal: hand it to the
 * operations they start. A group made inside a task is cancelled with that task (its signal
 * follows the task's), so cancellation reaches nested groups.
 *
 *     cf_group *g;
 *     cf_group_new(loop, &g);
 *     for (size_t i = 0; i < n; i++)
 *         cf_group_spawn(g, fetch_one, &jobs[i]);
 *     cf_result r = cf_group_wait(g);     // in a task: status 0, or the first failure
 *     cf_group_close(g, NULL, NULL);      // no task of g runs after this
 *
 * Everything is loop-thread only.
 */
#ifndef CALCIFER_GROUP_H
#define CALCIFER_GROUP_H

#include "calcifer/common.h"
#include "calcifer/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A task group. Opaque; a handle like the others (calcifer/loop.h's cf_close_cb): owned by
 * its creator until cf_group_close, and cf_loop_close returns CF_EBUSY until it is closed and
 * its close callback has run. It has no ref/unref: a group holds nothing that keeps the loop
 * alive; its tasks do, through what they await (a pending promise does not, as in Node).
 */
typedef struct cf_group cf_group;

/* ---- create ---- */

/*
 * A new, empty group on `loop`. Made inside a task that has a signal, the group is cancelled
 * when that signal aborts. Ownership: the caller owns `*out` and frees it with
 * cf_group_close. Returns 0, CF_EINVAL (NULL argument) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_group_new(cf_loop *loop, cf_group **out);

/* ---- start tasks ---- */

/*
 * Start `fn(task, arg)` as a task of the group (as cf_async: it runs now until its first
 * await). Its failure is handled by the group (no unhandled rejection): the first failure is
 * what cf_group_wait reports, and it cancels the others.
 * Ownership: `arg` is borrowed until the task ends. Returns 0, CF_EINVAL (NULL `g` or `fn`),
 * CF_ENOMEM (the task was not started), or the cancellation's code when the group is
 * already cancelled (the task was not started). Thread: loop only.
 */
CF_EXTERN int cf_group_spawn(cf_group *g, cf_async_fn fn, void *arg);

/*
 * cf_group_spawn with stack options (`opts` may be NULL; its signal must be NULL: the group's
 * is used) and, if `out` is not NULL, the task's promise in `*out` (the caller owns a
 * reference; it is marked handled). Errors as cf_group_spawn, and CF_EINVAL for a signal.
 * Ownership: `opts` is copied. Thread: loop only.
 */
CF_EXTERN int cf_group_spawn_ex(cf_group *g, cf_async_fn fn, void *arg, const cf_task_opts *opts,
                                cf_promise **out);

/* ---- wait, cancel ---- */

/*
 * From a task: wait until every task of the group has ended (≈ `await Promise.all(tasks)`,
 * without the early exit: after a failure the others are cancelled and waited for). Like every
 * call that suspends a task, returns a cf_result: status 0, or the code of the group's first
 * failure with its error; CF_ENOTASK outside a task; CF_EINVAL for a NULL group; CF_EBUSY from
 * one of the group's own tasks; or CF_ECANCELED when the waiting task itself is cancelled (the
 * group goes on). An empty group is waited for in one microtask turn. Thread: loop only.
 */
CF_EXTERN cf_result cf_group_wait(cf_group *g);

/*
 * Promise form of cf_group_wait: fulfilled with NULL once every task has ended, or rejected
 * with (a copy of) the first failure's error. Ownership: the caller owns one reference.
 * Returns NULL only when memory is exhausted or `g` is NULL. Thread: loop only.
 */
CF_EXTERN cf_promise *cf_group_wait_p(cf_group *g);

/*
 * Cancel every task of the group and refuse later ones (≈ controller.abort() on the group's
 * signal): their pending awaits return CF_ECANCELED in a microtask. Unless a task failed
 * before, the group's first failure is then the first task to end with CF_ECANCELED.
 * Cancelling twice does nothing. NULL is a no-op. Thread: loop only.
 */
CF_EXTERN void cf_group_cancel(cf_group *g);

/* ---- inspect ---- */

/*
 * The group's signal, aborted by cf_group_cancel or a failure. Ownership: borrowed until the
 * close. Thread: loop only.
 */
CF_EXTERN cf_abort_signal *cf_group_signal(const cf_group *g);

/* How many of the group's tasks have not ended yet. Thread: loop only. */
CF_EXTERN size_t cf_group_count(const cf_group *g);

/*
 * The group's first failure (borrowed until cf_group_close), or NULL while none failed.
 * Thread: loop only.
 */
CF_EXTERN const cf_error *cf_group_error(const cf_group *g);

/*
 * Non-zero while some task of the group has not ended (cf_group_count > 0); 0 for NULL.
 * Thread: loop only.
 */
CF_EXTERN int cf_group_is_active(const cf_group *g);

/* ---- close ---- */

/*
 * Close the group as a handle (≈ uv_close; libdill's hclose on a bundle): cancel the tasks
 * still running and resume each of them here until it has ended (their awaits fail at once
 * with CF_ECANCELED, so they run their cleanup and return), settle any pending
 * cf_group_wait_p promise, refuse new tasks; then `cb(data)` (may be NULL) runs later, in the
 * close phase, and the group is freed before it runs. When this returns 0, none of the
 * group's tasks runs any more. Returns 0, CF_EINVAL (NULL), CF_ECLOSED (already closing:
 * then `cb` never runs), or CF_EBUSY when called from one of the group's own tasks (or a task
 * one of them started and is running): nothing is done then; cancel instead, and close from
 * outside. Ownership: `g` must not be used after a 0 return; `data` is the caller's.
 * Thread: loop only.
 */
CF_EXTERN int cf_group_close(cf_group *g, cf_close_cb cb, void *data);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_GROUP_H */
