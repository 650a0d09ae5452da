/*
 * Calcifer: fd readiness watchers (≈ libuv's uv_poll_t; Node has no direct equivalent, its
 * sockets are built on the same mechanism).
 *
 * A watcher reports when a file descriptor the caller owns becomes readable or writable. Its
 * callback runs in the poll phase of the loop, on the loop thread, and runs again in every
 * poll phase while the fd stays ready (level-triggered): read or write what you can, and stop
 * the events you cannot serve now. The fd should be non-blocking. Regular files cannot be
 * watched (CF_EPERM); use calcifer/fs.h for them.
 *
 * Lifecycle: cf_watch_new -> cf_watch_start (any number of times, also to change the events)
 * -> cf_watch_stop -> cf_watch_close(cb, data); the memory is freed before the close callback. A
 * started watcher keeps the loop alive unless unref'd. Closing the watcher never closes the fd:
 * close the fd yourself, after cf_watch_close (or after cf_watch_stop).
 */
#ifndef CALCIFER_WATCH_H
#define CALCIFER_WATCH_H

#include "calcifer/common.h"
#include "calcifer/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A readiness watcher on one fd. Opaque. */
typedef struct cf_watch cf_watch;

/* Event bits: wanted (READABLE, WRITABLE) and reported (all four). */
enum {
    CF_WATCH_READABLE = 1, /* data to read, a connection to accept, or end of file */
    CF_WATCH_WRITABLE = 2, /* room to write, or a non-blocking connect has finished */
    CF_WATCH_HANGUP = 4,   /* the peer hung up (reported with the wanted bits) */
    CF_WATCH_ERROR = 8     /* an error is pending on the fd (reported with the wanted bits) */
};

/*
 * Runs in the poll phase with the ready events: some of those wanted, and HANGUP/ERROR when
 * they happen (then the wanted READABLE/WRITABLE bits are set too, so the next read or write
 * returns the error or end of file). May stop, restart or close any watcher, this one included.
 * Ownership: `data` is borrowed.
 */
typedef void (*cf_watch_cb)(cf_watch *w, unsigned events, void *data);

/* ---- create ---- */

/*
 * Create a stopped watcher for `fd` (≈ uv_poll_init). Ownership: `fd` stays the caller's;
 * `*out` is owned by the caller and freed after cf_watch_close's callback.
 * Returns 0, CF_EINVAL (NULL loop or out), CF_EBADF (fd < 0) or CF_ENOMEM. Thread: loop only.
 */
CF_EXTERN int cf_watch_new(cf_loop *loop, int fd, cf_watch **out);

/* ---- use ---- */

/*
 * Watch for `events` (CF_WATCH_READABLE and/or CF_WATCH_WRITABLE) and call `cb(w, revents,
 * data)` when they are ready (≈ uv_poll_start). Calling it again replaces the events, the
 * callback and the data. Never calls `cb` inside this call.
 * Returns 0, CF_EINVAL (no event, an unknown bit, NULL cb), CF_ECLOSED (a closing watcher),
 * CF_EEXIST (another watcher of this loop watches the fd), CF_EPERM (the fd cannot be polled: a
 * regular file), CF_EBADF, or CF_ENOMEM; on error the watcher is left stopped. Ownership: `data` is
 * borrowed until the watcher is stopped or closed. Thread: loop only.
 */
CF_EXTERN int cf_watch_start(cf_watch *w, unsigned events, cf_watch_cb cb, void *data);

/* Stop watching (≈ uv_poll_stop); idempotent. Returns 0 or CF_EINVAL (NULL). Thread: loop. */
CF_EXTERN int cf_watch_stop(cf_watch *w);

/* The fd given to cf_watch_new. Thread: loop only. */
CF_EXTERN int cf_watch_fd(const cf_watch *w);

/*
 * Keep-alive (≈ uv_ref/uv_unref/uv_has_ref): an unref'd watcher does not keep the loop
 * alive, but still reports while the loop runs. Idempotent, in any state; the setting
 * survives restarts. NULL is ignored and has no ref (0). Thread: loop only.
 */
CF_EXTERN void cf_watch_ref(cf_watch *w);
CF_EXTERN void cf_watch_unref(cf_watch *w);
CF_EXTERN int cf_watch_has_ref(const cf_watch *w);

/* Non-zero while the watcher is started (0 for NULL). Thread: loop only. */
CF_EXTERN int cf_watch_is_active(const cf_watch *w);

/* ---- close ---- */

/*
 * Stop and close the watcher (≈ uv_close). `cb(data)` (may be NULL) runs later, in the close
 * phase; the watcher's memory is freed before it runs. The fd is not closed.
 * Returns 0, CF_EINVAL (NULL) or CF_ECLOSED (already closing: then `cb` never runs).
 * Ownership: `w` must not be used after this call; `data` is the caller's. Thread: loop only.
 */
CF_EXTERN int cf_watch_close(cf_watch *w, cf_close_cb cb, void *data);

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_WATCH_H */
