/*
 * The epoll poller (model: Redis src/ae_epoll.c), behind the contract of core/watch.h.
 *
 * Level-triggered on purpose: an fd that is still readable or writable is reported again in
 * the next poll phase, so a callback that does only part of the work (one read per wakeup, a
 * curl socket it hands over to curl, a phase stopped early by a failed run) never loses a
 * wakeup. Edge-triggered mode would save a few epoll_wait results on busy sockets but makes
 * every user read until EAGAIN; libuv and curl's multi_socket API both assume level semantics.
 *
 * Each ready fd is looked up in loop->watchers (events carry the fd, not a pointer), so an
 * io stopped by an earlier callback of the same batch is simply not found; cf__poll_del also
 * blanks the batch's not yet dispatched events for its fd, so a new io on a reused fd number
 * never sees an event meant for the old one.
 *
 * Clock: cf__poll_wait refreshes the loop's clock (cf__loop_update_time) as soon as
 * epoll_wait returns, before it dispatches the batch, whenever it waited or found events.
 */
#include "core/internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/util.h"

#define EVENTS_MIN 64
#define EVENTS_MAX 1024

typedef struct epoll_state {
    int epfd;
    struct epoll_event *events;
    int cap;
    int count; /* events of the batch being dispatched */
    int index; /* the one being dispatched */
} epoll_state;

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = 0;
    if (events & CF__IO_IN)
        e |= EPOLLIN;
    if (events & CF__IO_OUT)
        e |= EPOLLOUT;
    return e;
}

static unsigned from_epoll(uint32_t e)
{
    unsigned r = 0;
    if (e & (EPOLLIN | EPOLLPRI))
        r |= CF__IO_IN;
    if (e & EPOLLOUT)
        r |= CF__IO_OUT;
    if (e & EPOLLERR)
        r |= CF__IO_ERR;
    if (e & (EPOLLHUP | EPOLLRDHUP))
        r |= CF__IO_HUP;
    return r;
}

int cf__poll_init(cf_loop *loop)
{
    epoll_state *st = cf__calloc(1, sizeof(*st));
    if (!st)
        return CF_ENOMEM;
    st->events = cf__malloc(EVENTS_MIN * sizeof(*st->events));
    if (!st->events) {
        cf__free(st);
        return CF_ENOMEM;
    }
    st->cap = EVENTS_MIN;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        int rc = cf_translate_sys_error(errno);
        cf__free(st->events);
        cf__free(st);
        return rc;
    }
    loop->poll = st;
    return 0;
}

void cf__poll_close(cf_loop *loop)
{
    epoll_state *st = loop->poll;
    if (!st)
        return;
    close(st->epfd);
    cf__free(st->events);
    cf__free(st);
    loop->poll = NULL;
}

static int ctl(cf_loop *loop, int op, int fd, unsigned events)
{
    epoll_state *st = loop->poll;
    struct epoll_event ev = {0};
    ev.events = to_epoll(events);
    ev.data.fd = fd;
    if (epoll_ctl(st->epfd, op, fd, &ev) < 0)
        return cf_translate_sys_error(errno);
    return 0;
}

int cf__poll_add(cf_loop *loop, int fd, unsigned events)
{
    return ctl(loop, EPOLL_CTL_ADD, fd, events);
}

int cf__poll_mod(cf_loop *loop, int fd, unsigned events)
{
    return ctl(loop, EPOLL_CTL_MOD, fd, events);
}

void cf__poll_del(cf_loop *loop, int fd)
{
    epoll_state *st = loop->poll;
    struct epoll_event ev = {0};
    /* ENOENT/EBADF: the fd was closed already; the kernel dropped it with the file. */
    (void)epoll_ctl(st->epfd, EPOLL_CTL_DEL, fd, &ev);
    for (int i = st->index + 1; i < st->count; i++) {
        if (st->events[i].data.fd == fd)
            st->events[i].data.fd = -1;
    }
}

/* A full batch suggests more fds are ready: collect more next time. */
static void maybe_grow(epoll_state *st, int n)
{
    if (n < st->cap || st->cap >= EVENTS_MAX)
        return;
    struct epoll_event *bigger = cf__malloc((size_t)st->cap * 2 * sizeof(*bigger));
    if (!bigger)
        return;
    cf__free(st->events);
    st->events = bigger;
    st->cap *= 2;
}

int cf__poll_wait(cf_loop *loop, int timeout_ms)
{
    epoll_state *st = loop->poll;
    int n = epoll_wait(st->epfd, st->events, st->cap, timeout_ms);
    int err = n < 0 ? errno : 0;
    /*
     * The clock moves the moment the wait returns, before any callback runs: a deadline set
     * in a callback counts from now, not from before the loop blocked. A poll that did not
     * wait and found nothing needs no clock read; one that found events after a spin of
     * non-blocking polls (busy polling) does.
     */
    if (timeout_ms != 0 || n > 0)
        cf__loop_update_time(loop);
    if (n < 0)
        return err == EINTR ? 0 : cf_translate_sys_error(err);
    st->count = n;
    for (st->index = 0; st->index < n; st->index++) {
        struct epoll_event *e = &st->events[st->index];
        if (e->data.fd < 0)
            continue;
        cf__io_dispatch(loop, e->data.fd, from_epoll(e->events));
        if (cf__loop_failed(loop))
            break;
    }
    st->count = 0;
    st->index = 0;
    maybe_grow(st, n);
    return n;
}
