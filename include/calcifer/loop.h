/*
 * Calcifer: the event loop (≈ Node's event loop, libuv's uv_loop_t).
 *
 * One thread runs a loop; every callback runs on that thread, to completion. An iteration
 * visits the phases of Node: timers, pending I/O callbacks, poll (I/O and thread-pool
 * completions), check (immediates), close callbacks. After the main program's code and after
 * every callback of every phase, the nextTick queue is drained, then the microtask queue,
 * repeatedly until both are empty (≈ process.nextTick and queueMicrotask).
 *
 * Timers and immediates are in calcifer/timer.h, fd watchers in calcifer/watch.h, signals in
 * calcifer/signal.h and the thread pool in calcifer/pool.h.
 */
#ifndef CALCIFER_LOOP_H
#define CALCIFER_LOOP_H

#include "calcifer/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An event loop. Opaque; create with cf_loop_new, free with cf_loop_close. */
typedef struct cf_loop cf_loop;

/* The plain callback of ticks, microtasks, immediates and timeouts. */
typedef void (*cf_callback)(void *data);

/*
 * The close callback of every handle (cf_timer_close, cf_signal_close, cf_watch_close,
 * cf_tcp_close, cf_group_close, ...): `cb(data)` runs once, from the loop (never inside the
 * close call), after the handle's pending operations have finished with CF_ECANCELED. The
 * handle is gone when it runs: free what you kept beside it. Ownership: `data` is the
 * caller's; the library never reads it. Thread: runs on the loop thread.
 */
typedef void (*cf_close_cb)(void *data);

/* How cf_run runs (≈ uv_run_mode). */
typedef enum cf_run_mode {
    CF_RUN_DEFAULT = 0, /* iterate until nothing referenced is left (or cf_stop) */
    CF_RUN_ONCE,        /* one iteration; waits for I/O if nothing else is ready */
    CF_RUN_NOWAIT       /* one iteration without waiting */
} cf_run_mode;

/* ---- create ---- */

/*
 * Create a loop (≈ uv_loop_init). The loop belongs to the thread that creates it: every
 * function taking it must be called from that thread unless its comment says otherwise.
 * Ownership: on success `*out` is owned by the caller, freed by cf_loop_close.
 * Returns 0, CF_ENOMEM, or a negative -errno from epoll_create1/eventfd (CF_EMFILE, ...).
 * Thread: any (the calling thread becomes the loop's thread).
 */
CF_EXTERN int cf_loop_new(cf_loop **out);

/* ---- run ---- */

/*
 * Run the loop (≈ uv_run; the implicit loop of a Node process). Drains the nextTick and
 * microtask queues first (as cf_loop_drain), then iterates the phases. In CF_RUN_DEFAULT,
 * when nothing referenced is left, the before-exit hooks run (cf_loop_on_before_exit) and
 * the loop goes on if they scheduled work.
 * Returns: CF_RUN_DEFAULT: 0 once nothing referenced is left, or >0 when cf_stop ended it
 * with work remaining; CF_RUN_ONCE/CF_RUN_NOWAIT: >0 if work remains, 0 if not; a negative
 * CF_E* when a layer failed the run (CF_EUNHANDLED for an unhandled promise rejection): the
 * run stops at the end of the callback that failed it, and the error is cleared on return.
 * CF_EINVAL if `loop` is NULL, cf_run is already running on it, or an exit hook is running.
 * Thread: loop only.
 */
CF_EXTERN int cf_run(cf_loop *loop, cf_run_mode mode);

/*
 * Make cf_run return at the end of the current iteration (≈ uv_stop). Callbacks already
 * queued stay queued; the before-exit hooks do not run (as process.exit() skips
 * 'beforeExit'). Thread: loop only.
 */
CF_EXTERN void cf_stop(cf_loop *loop);

/*
 * The loop's cached monotonic clock in milliseconds (≈ uv_now). It is read from the system
 * at the start of each iteration and the moment the poll phase's wait returns, before any I/O
 * callback runs, so a callback never sees a time from before the loop last blocked; timers are
 * relative to it. Thread: loop only.
 */
CF_EXTERN uint64_t cf_now(const cf_loop *loop);

/* Refresh the cached clock now (≈ uv_update_time). Thread: loop only. */
CF_EXTERN void cf_update_time(cf_loop *loop);

/*
 * Queue `fn(data)` on the nextTick queue (≈ process.nextTick): it runs in the next drain,
 * before any microtask of that drain; ticks queued by ticks run in the same drain.
 * Ownership: `data` is borrowed until `fn` returns. Never runs inside this call.
 * Returns 0, or CF_ENOMEM (then `fn` never runs), CF_EINVAL if `loop` or `fn` is NULL.
 * No allocation once the queue has grown to its working size. Thread: loop only.
 */
CF_EXTERN int cf_next_tick(cf_loop *loop, cf_callback fn, void *data);

/*
 * Queue `fn(data)` on the microtask queue (≈ queueMicrotask), the FIFO that promise
 * reactions share. Microtasks queued while microtasks run are run in the same drain, before
 * any nextTick queued meanwhile. Ownership: `data` is borrowed until `fn` returns.
 * Returns 0, CF_ENOMEM or CF_EINVAL as cf_next_tick. Thread: loop only.
 */
CF_EXTERN int cf_queue_microtask(cf_loop *loop, cf_callback fn, void *data);

/*
 * Drain the nextTick and microtask queues now: ticks fully, then microtasks fully, repeated
 * until both are empty. Call it after the "main program" code and before cf_run, as Node does
 * after the main module (cf_run also drains first thing). Does nothing when called from a
 * tick or microtask that is being drained. Thread: loop only.
 */
CF_EXTERN void cf_loop_drain(cf_loop *loop);

/* ---- tuning ---- */

/* The largest busy-poll budget cf_loop_set_busy_poll takes: one second. */
#define CF_LOOP_BUSY_POLL_MAX 1000000u

/*
 * Busy polling: when the poll phase would sleep, first poll without waiting, again and
 * again, for up to `usec` microseconds (0, the default, sleeps at once, as Node and libuv
 * do). Events seen meanwhile are handled as usual; timers are not delayed by the spin.
 * Why: a thread asleep in epoll_wait is woken by the thread that makes its socket ready,
 * and the waker's CPU pays for the wakeup; a busy server that sleeps between bursts of
 * requests so slows its clients (on loopback, the load generator). A budget of 50-200 us
 * lets a busy loop take the next burst awake. Posts from other threads (calcifer/remote.h)
 * are seen too, without an eventfd write or a wakeup: the spinning loop looks at its mailbox
 * and yields the CPU between looks, so a poster waiting for this CPU gets it. Cost: up to
 * `usec` of CPU time each time the loop goes idle, so leave it off for loops that are mostly
 * idle.
 * Returns 0, or CF_EINVAL when `loop` is NULL or `usec` > CF_LOOP_BUSY_POLL_MAX.
 * Thread: loop only.
 */
CF_EXTERN int cf_loop_set_busy_poll(cf_loop *loop, unsigned usec);

/* The default ceiling of the adaptive spin for posts (cf_loop_set_post_spin), and its largest. */
#define CF_LOOP_POST_SPIN_DEFAULT 50u
#define CF_LOOP_POST_SPIN_MAX     1000u

/*
 * The adaptive spin for posts from other threads (calcifer/remote.h, workers). A loop that
 * has a remote measures how long its waits last until a post arrives. While those waits are
 * short (under `usec` on average: a loop in a conversation with another thread), the loop
 * waits for the next post awake, for up to twice the average (at most `usec`), polling its
 * fds and its mailbox, before it sleeps; a post then costs the poster no eventfd write and
 * the loop no wakeup (a few microseconds on each side: the most of a round trip between two
 * sleeping loops). While posts come slowly, or a spin ends without one, the average grows
 * past `usec` and the loop sleeps at once, as Node and libuv do; the waits it sleeps are
 * measured too, so the spin comes back when the posts quicken (model: glibc's adaptive
 * mutexes, Go's spinning threads). Cost: at most `usec` of CPU time per idle moment, only
 * for loops in a quick exchange with another thread. A loop without a remote, or with busy
 * polling on (cf_loop_set_busy_poll, which takes precedence), is not affected.
 * `usec`: the ceiling, CF_LOOP_POST_SPIN_DEFAULT (50) by default; 0 turns the spin off.
 * Returns 0, or CF_EINVAL when `loop` is NULL or `usec` > CF_LOOP_POST_SPIN_MAX.
 * Thread: loop only.
 */
CF_EXTERN int cf_loop_set_post_spin(cf_loop *loop, unsigned usec);

/* ---- lifecycle hooks (≈ process.on('beforeExit') and process.on('exit')) ---- */

/*
 * Register `fn(data)` to run each time cf_run(loop, CF_RUN_DEFAULT) runs out of work
 * (≈ process.on('beforeExit', fn)). The before-exit hooks run in registration order, then
 * the nextTick and microtask queues are drained once, as after a Node event; if the hooks
 * scheduled referenced work (a timer, an immediate, I/O...) the loop goes on and runs them
 * again the next time it runs out of work; otherwise cf_run returns 0. They do not run when
 * the run ends through cf_stop (≈ process.exit() skips 'beforeExit') or a failure
 * (CF_EUNHANDLED...), nor in CF_RUN_ONCE / CF_RUN_NOWAIT, whose caller drives the loop.
 * A hook registered during the hooks' run waits for the next one; one removed by an earlier
 * hook does not run. Registering the same (fn, data) twice is allowed, as Node allows the
 * same listener twice: it then runs twice.
 * Ownership: `data` is borrowed until the hook is removed or the loop is closed.
 * Returns 0, CF_EINVAL (NULL loop or fn) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_loop_on_before_exit(cf_loop *loop, cf_callback fn, void *data);

/*
 * Remove the most recent registration of (fn, data) (≈ process.off('beforeExit', fn)).
 * Returns 0, CF_EINVAL (NULL loop or fn) or CF_ENOENT (not registered). Thread: loop only.
 */
CF_EXTERN int cf_loop_off_before_exit(cf_loop *loop, cf_callback fn, void *data);

/*
 * Register `fn(data)` to run once, when the loop ends (≈ process.on('exit', fn)): in
 * cf_loop_close, once nothing is left open (the checks that give CF_EBUSY come first), in
 * registration order. Then the microtasks they queued run, as after Node's 'exit'; nothing
 * else does: ticks are dropped, and timers, intervals and immediates scheduled from an exit
 * hook are accepted (the calls succeed, as in Node) and never run. cf_run and cf_loop_close
 * called from an exit hook fail (CF_EINVAL, CF_EBUSY). An exit hook that opens a handle or
 * starts a request makes that cf_loop_close return CF_EBUSY after the hooks have run; the
 * hooks never run twice. Same rules as cf_loop_on_before_exit for order, duplicates and
 * removal. Ownership: `data` is borrowed until the hook has run or is removed.
 * Returns 0, CF_EINVAL (NULL loop or fn) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_loop_on_exit(cf_loop *loop, cf_callback fn, void *data);

/*
 * Remove the most recent registration of (fn, data) (≈ process.off('exit', fn)).
 * Returns 0, CF_EINVAL (NULL loop or fn) or CF_ENOENT (not registered). Thread: loop only.
 */
CF_EXTERN int cf_loop_off_exit(cf_loop *loop, cf_callback fn, void *data);

/* ---- close ---- */

/*
 * Ask everything still open on the loop to close (≈ libuv's uv_walk calling uv_close on every
 * handle), for a shutdown that does not know each handle: every timer, fd watcher, signal
 * handle, TCP socket and server, child process, task group, stream, worker and HTTP server is
 * closed as its own close function would close it, with no close callback; HTTP client
 * transfers are cancelled; timeouts and intervals are cleared; thread-pool jobs (cf_work,
 * file system calls, DNS lookups) that no pool thread has taken are cancelled; suspended
 * tasks resume with CF_ECANCELED and promise sleeps reject with it. A child process is killed
 * with SIGKILL and its handle closes once it has been reaped; a worker is terminated and its
 * handle closes after its exit; a response that an HTTP handler still holds is ended for it.
 * Pending operations complete with CF_ECANCELED, from the loop, as with each close. Handles
 * whose close was requested already are left alone, and keep their close callback; one
 * exception: a child process closed with cf_process_close but still running (its handle
 * waits for the exit) is killed too, so that nothing is left waiting.
 * Nothing is freed inside the call: run the loop (cf_run(loop, CF_RUN_DEFAULT) returns 0 once
 * all is closed), then cf_loop_close. A callback that runs meanwhile (a cancelled operation's)
 * may open new handles: call cf_loop_close_all again before cf_run if so. Immediates still
 * run. A pool job that a thread already runs cannot be stopped: the loop waits for it.
 * A timeout or interval whose own callback is running when this is called is not cleared;
 * called from inside a task, the tasks are left alone (call again from outside one).
 * Ownership: every handle, stream and held HTTP response closed by it is freed by the loop:
 * pointers to it are invalid from this call on, and what the program kept beside a handle
 * (its `data`) is the program's to free (no close callback tells when).
 * Returns 0, or CF_EINVAL for a NULL loop or from an exit hook. Thread: loop only (from a
 * callback or between runs).
 */
CF_EXTERN int cf_loop_close_all(cf_loop *loop);

/*
 * Free the loop (≈ uv_loop_close). Every handle must have been closed (and its close
 * callback run) and every request completed first; then the exit hooks run (the first time
 * only, see cf_loop_on_exit), and queued ticks, microtasks and unref'd immediates and
 * timers that never ran are dropped.
 * Returns 0 (the loop is freed), CF_EBUSY while handles or requests remain, or when called
 * from an exit hook (the loop is not freed; run it, then close again), CF_EINVAL for NULL.
 * Thread: loop only.
 */
CF_EXTERN int cf_loop_close(cf_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_LOOP_H */
