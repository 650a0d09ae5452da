/*
 * fd watchers: the internal cf__io (core/watch.h) and the public cf_watch handle built on it.
 *
 * loop->watchers maps an fd to the one cf__io watching it (NULL when none); it grows to the
 * highest fd seen and is freed with the loop. loop->nfds counts the fds registered with the
 * poller, so the poll phase can skip the system call when nothing is watched and it would not
 * wait anyway (the loop's own wakeup eventfd is registered only once the pool is used).
 *
 * Invariant: io->registered == 0 exactly when the fd is not in the poller and
 * loop->watchers[fd] != io; otherwise io->registered == io->events != 0, or, for a lazy io
 * stopped in full (cf__io_set_lazy), io->events == 0 with the fd still in the poller until an
 * unwanted event or cf__io_close removes it.
 */
#include "calcifer/watch.h"
#include "core/internal.h"

#include <string.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

/* ---- cf__io ---- */

int cf__watchers_init(cf_loop *loop)
{
    loop->watchers = NULL;
    loop->nwatchers = 0;
    loop->nfds = 0;
    return 0;
}

void cf__watchers_free(cf_loop *loop)
{
    cf__free(loop->watchers);
    loop->watchers = NULL;
    loop->nwatchers = 0;
}

static int watchers_reserve(cf_loop *loop, int fd)
{
    if ((unsigned)fd < loop->nwatchers)
        return 0;
    unsigned n = loop->nwatchers ? loop->nwatchers : 64;
    while (n <= (unsigned)fd) {
        n *= 2;
    }
    cf__io **w = cf__realloc(loop->watchers, n * sizeof(*w));
    if (!w)
        return CF_ENOMEM;
    memset(w + loop->nwatchers, 0, (n - loop->nwatchers) * sizeof(*w));
    loop->watchers = w;
    loop->nwatchers = n;
    return 0;
}

void cf__io_init(cf__io *io, int fd, cf__io_cb cb)
{
    io->cb = cb;
    io->fd = fd;
    io->events = 0;
    io->registered = 0;
    io->lazy = 0;
}

/* Take the fd out of the poller. */
static void io_remove(cf_loop *loop, cf__io *io)
{
    cf__poll_del(loop, io->fd);
    loop->watchers[io->fd] = NULL;
    loop->nfds--;
    io->events = 0;
    io->registered = 0;
}

int cf__io_start(cf_loop *loop, cf__io *io, unsigned events)
{
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    if (io->fd < 0)
        return CF_EBADF;
    events &= CF__IO_IN | CF__IO_OUT;
    unsigned want = io->events | events;
    if (want == io->registered) {
        io->events = want; /* a lazy io started again as it stands in the poller: no call */
        return 0;
    }
    int rc = watchers_reserve(loop, io->fd);
    if (rc < 0)
        return rc;
    if (io->registered == 0) {
        if (loop->watchers[io->fd])
            return CF_EEXIST;
        rc = cf__poll_add(loop, io->fd, want);
        if (rc < 0)
            return rc;
        loop->watchers[io->fd] = io;
        loop->nfds++;
    } else {
        rc = cf__poll_mod(loop, io->fd, want);
        if (rc < 0)
            return rc;
    }
    io->events = want;
    io->registered = want;
    return 0;
}

void cf__io_stop(cf_loop *loop, cf__io *io, unsigned events)
{
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    unsigned want = io->events & ~events;
    io->events = want;
    if (io->registered == 0 || want == io->registered)
        return;
    if (want == 0) {
        if (!io->lazy)
            io_remove(loop, io);
        return;
    }
    if (cf__poll_mod(loop, io->fd, want) < 0) {
        /* The fd went away behind our back: forget it entirely. */
        io_remove(loop, io);
        return;
    }
    io->registered = want;
}

void cf__io_close(cf_loop *loop, cf__io *io)
{
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    if (io->registered)
        io_remove(loop, io);
    io->events = 0;
}

#ifndef CF_NO_OBSERVE
/* An I/O callback while something is observed: counted, timed or traced. */
__attribute__((noinline)) static void io_dispatch_observed(cf_loop *loop, cf__io *io, cf__io_cb cb,
                                                           unsigned revents)
{
    uint64_t t0 = CF__OBS_CB_BEGIN(loop);
    cb(loop, io, revents);
    CF__OBS_CB_END(loop, t0, CF__OBS_IO, cb, NULL);
    cf__after_callback(loop);
}
#endif

void cf__io_dispatch(cf_loop *loop, int fd, unsigned revents)
{
    if ((unsigned)fd >= loop->nwatchers)
        return;
    cf__io *io = loop->watchers[fd];
    if (!io)
        return;
    if (!io->events) { /* a lazy io stopped in full: nobody wants the fd now */
        io_remove(loop, io);
        return;
    }
    if (revents & (CF__IO_ERR | CF__IO_HUP))
        revents |= io->events;
    revents &= io->events | CF__IO_ERR | CF__IO_HUP;
    if (!(revents & (CF__IO_IN | CF__IO_OUT)))
        return;
    cf__io_cb cb = io->cb;
#ifndef CF_NO_OBSERVE
    if (CF__OBS_ON(loop)) {
        io_dispatch_observed(loop, io, cb, revents);
        return;
    }
#endif
    /* Plain: nothing lives across the call, as with the hooks compiled out. */
    cb(loop, io, revents);
    cf__after_callback(loop);
}

/* ---- cf_watch ---- */

struct cf_watch {
    cf__handle h;
    cf__io io;
    cf_watch_cb cb;
    void *data;
    cf_close_cb close_cb;
    void *close_data;
};

static void watch_io_cb(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)loop;
    cf_watch *w = CF_CONTAINER_OF(io, cf_watch, io);
    unsigned ev = 0;
    if (revents & CF__IO_IN)
        ev |= CF_WATCH_READABLE;
    if (revents & CF__IO_OUT)
        ev |= CF_WATCH_WRITABLE;
    if (revents & CF__IO_HUP)
        ev |= CF_WATCH_HANGUP;
    if (revents & CF__IO_ERR)
        ev |= CF_WATCH_ERROR;
    w->cb(w, ev, w->data);
}

/* cf__loop_close_all: close it as cf_watch_close does. */
static void watch_close_req(cf__handle *h)
{
    (void)cf_watch_close(CF_CONTAINER_OF(h, cf_watch, h), NULL, NULL);
}

CF__NOINLINE int cf_watch_new(cf_loop *loop, int fd, cf_watch **out)
{
    const void *site = CF__SITE_CALLER().pc;
    if (!loop || !out)
        return CF_EINVAL;
    *out = NULL;
    if (fd < 0)
        return CF_EBADF;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf_watch *w = cf__calloc(1, sizeof(*w));
    if (!w)
        return CF_ENOMEM;
    cf__handle_init_at(loop, &w->h, site);
    cf__handle_set_close_req(&w->h, watch_close_req);
    cf__io_init(&w->io, fd, watch_io_cb);
    *out = w;
    return 0;
}

static unsigned to_io(unsigned events)
{
    unsigned e = 0;
    if (events & CF_WATCH_READABLE)
        e |= CF__IO_IN;
    if (events & CF_WATCH_WRITABLE)
        e |= CF__IO_OUT;
    return e;
}

int cf_watch_start(cf_watch *w, unsigned events, cf_watch_cb cb, void *data)
{
    if (!w || !cb || events == 0 || (events & ~(unsigned)(CF_WATCH_READABLE | CF_WATCH_WRITABLE)))
        return CF_EINVAL;
    if (cf__handle_is_closing(&w->h))
        return CF_ECLOSED;
    cf_loop *loop = w->h.loop;
    unsigned want = to_io(events);
    cf__io_stop(loop, &w->io, ~want);
    int rc = cf__io_start(loop, &w->io, want);
    if (rc < 0) {
        cf__io_stop(loop, &w->io, CF__IO_IN | CF__IO_OUT);
        cf__handle_stop(&w->h);
        return rc;
    }
    w->cb = cb;
    w->data = data;
    cf__handle_start(&w->h);
    return 0;
}

int cf_watch_stop(cf_watch *w)
{
    if (!w)
        return CF_EINVAL;
    cf__io_stop(w->h.loop, &w->io, CF__IO_IN | CF__IO_OUT);
    cf__handle_stop(&w->h);
    return 0;
}

int cf_watch_fd(const cf_watch *w)
{
    return w ? w->io.fd : CF_EINVAL;
}

void cf_watch_ref(cf_watch *w)
{
    if (w)
        cf__handle_ref(&w->h);
}

void cf_watch_unref(cf_watch *w)
{
    if (w)
        cf__handle_unref(&w->h);
}

int cf_watch_has_ref(const cf_watch *w)
{
    return w ? cf__handle_has_ref(&w->h) : 0;
}

int cf_watch_is_active(const cf_watch *w)
{
    return w && cf__handle_is_active(&w->h);
}

static void watch_closed(cf__handle *h)
{
    cf_watch *w = CF_CONTAINER_OF(h, cf_watch, h);
    cf_close_cb cb = w->close_cb;
    void *data = w->close_data;
    cf__free(w);
    if (cb)
        cb(data);
}

int cf_watch_close(cf_watch *w, cf_close_cb cb, void *data)
{
    if (!w)
        return CF_EINVAL;
    if (cf__handle_is_closing(&w->h))
        return CF_ECLOSED;
    cf__io_close(w->h.loop, &w->io);
    w->close_cb = cb;
    w->close_data = data;
    return cf__handle_close(&w->h, watch_closed);
}
