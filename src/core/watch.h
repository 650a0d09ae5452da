/*
 * Internal fd watchers (cf__io) and the poller contract.
 *
 * cf__io is the readiness watcher that every fd-based module embeds: the public cf_watch,
 * TCP streams and servers, the curl client's sockets, the loop's own wakeup eventfd and
 * signal pipe. At most one cf__io per fd per loop (the loop keeps a table indexed by fd).
 * An io is started with the events it wants and its callback runs in the poll phase with the
 * events that are ready; the loop drains ticks and microtasks after each callback.
 *
 * Level-triggered: the callback runs on every poll phase while the fd stays ready for a
 * wanted event, so a callback may read or write as much as it likes (not necessarily until
 * EAGAIN) without losing a wakeup. Stop the events you cannot serve now (a full write queue
 * empties, a reader pauses) with cf__io_stop.
 *
 * Keep-alive: a cf__io does NOT keep the loop alive by itself; the handle or request that
 * embeds it does (core/handle.h, cf__loop_req_start).
 *
 * Lifetime: after cf__io_close the loop never touches the io again, not even for events
 * already collected in the current poll phase, so the embedding struct may be freed right
 * after it and the fd closed. Always cf__io_close before close(fd).
 *
 * Every function is loop-thread only.
 */
#ifndef CF_CORE_WATCH_H
#define CF_CORE_WATCH_H

#include "calcifer/loop.h"

/* Event bits (wanted and ready). ERR and HUP are always reported, never wanted. */
enum {
    CF__IO_IN = 1u << 0,  /* readable (or a listening socket has a connection) */
    CF__IO_OUT = 1u << 1, /* writable (or a non-blocking connect finished) */
    CF__IO_ERR = 1u << 2, /* error condition: read/write or SO_ERROR says which */
    CF__IO_HUP = 1u << 3  /* peer hung up (EPOLLHUP or EPOLLRDHUP) */
};

typedef struct cf__io cf__io;

/*
 * Runs in the poll phase. `revents` holds the ready events among those wanted, plus
 * CF__IO_ERR/CF__IO_HUP when they happen (these also set IN and OUT, as far as wanted, so
 * that a reader or writer notices the error by calling read/write). The callback may stop,
 * modify or close any io, this one included.
 */
typedef void (*cf__io_cb)(cf_loop *loop, cf__io *io, unsigned revents);

struct cf__io {
    cf__io_cb cb;
    int fd;
    unsigned events;     /* wanted: CF__IO_IN | CF__IO_OUT */
    unsigned registered; /* what the poller has for fd (0: not added) */
    unsigned lazy;       /* cf__io_set_lazy: a full stop leaves the fd in the poller */
};

/* Set up `io` for `fd` with callback `cb`; not started. Cannot fail. */
void cf__io_init(cf__io *io, int fd, cf__io_cb cb);

/*
 * Add `events` (CF__IO_IN and/or CF__IO_OUT) to what `io` watches. Takes effect in the next
 * poll phase. Returns 0, CF_EEXIST when another io of this loop watches the same fd, CF_EPERM
 * when the fd cannot be polled (a regular file), CF_ENOMEM, or another -errno from the poller
 * (CF_EBADF). On error nothing changes.
 */
int cf__io_start(cf_loop *loop, cf__io *io, unsigned events);

/*
 * Remove `events` from what `io` watches; with none left the fd leaves the poller. Never
 * fails (an fd already closed behind our back is forgotten).
 */
void cf__io_stop(cf_loop *loop, cf__io *io, unsigned events);

/* Stop everything and forget `io` (see Lifetime above). Idempotent. */
void cf__io_close(cf_loop *loop, cf__io *io);

/* Non-zero when `io` watches any of `events`. */
/*
 * Let a full cf__io_stop leave the fd in the poller (≈ libuv, which removes an fd only when an
 * event comes that nobody wants): a stream that stops reading after each chunk and starts
 * again before the loop polls (a task awaiting read after read) then makes no epoll_ctl call
 * per chunk. An event that arrives while nothing is wanted removes the fd for real. Only for
 * an owner that always calls cf__io_close before it closes the fd (the poller must not keep
 * a number the kernel may hand out again). Set after cf__io_init.
 */
static inline void cf__io_set_lazy(cf__io *io)
{
    io->lazy = 1;
}

static inline int cf__io_active(const cf__io *io, unsigned events)
{
    return (io->events & events) != 0;
}

/* ---- the poller contract: one backend per file, src/core/poll_<backend>.c ---- */

/* Create the backend's state for `loop`. Returns 0, CF_ENOMEM or -errno. */
int cf__poll_init(cf_loop *loop);
/* Free the backend's state; no io is registered any more. */
void cf__poll_close(cf_loop *loop);
/* Start watching `fd` for `events` (CF__IO_IN|CF__IO_OUT). Returns 0 or -errno. */
int cf__poll_add(cf_loop *loop, int fd, unsigned events);
/* Change the events of a watched `fd`. Returns 0 or -errno. */
int cf__poll_mod(cf_loop *loop, int fd, unsigned events);
/* Stop watching `fd` and drop its not yet dispatched events of the current wait. */
void cf__poll_del(cf_loop *loop, int fd);
/*
 * Wait up to `timeout_ms` (-1: forever, 0: not at all) and call cf__io_dispatch for each
 * ready fd. The backend calls cf__loop_update_time the moment its wait returns (when it
 * waited or found events), before dispatching: a deadline set in an I/O callback counts from
 * then, however long the loop sat idle. Returns the number of ready fds, or a negative -errno
 * (EINTR is 0).
 */
int cf__poll_wait(cf_loop *loop, int timeout_ms);

/* Called by the backend for each ready fd: runs the io's callback, then drains. */
void cf__io_dispatch(cf_loop *loop, int fd, unsigned revents);

#endif
