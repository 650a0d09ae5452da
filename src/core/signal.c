/*
 * Signal watchers through a self-pipe (model: libuv src/unix/signal.c).
 *
 * One process-wide handler serves every signal that has a started watcher. It writes the
 * signal number as one byte to a socket of each loop that watches that signal; the loop reads
 * it in the poll phase and calls the watchers. signalfd was the other candidate, but a
 * process-directed signal then reaches only one of the signalfds, and it needs the signal
 * blocked in every thread of the program, which a library cannot promise.
 *
 * Process-wide state (the signal dispositions are process-wide anyway): the list of loops
 * with signal watchers, per signal the number of started watchers in the process and the
 * disposition to restore, and a lock. The handler takes the lock too, so the lock is a byte in
 * a socketpair (recv to take it, send to give it back: both async-signal-safe), and a thread
 * that takes it outside the handler first blocks every signal, so the handler can never
 * interrupt a holder on the same thread.
 *
 * Per loop (struct cf__sigloop, made on first start): the socketpair, a cf__io on its read
 * end (internal: it does not keep the loop alive; started watchers do), per signal the number
 * of started watchers in this loop, and the list of started watchers.
 */
#include "calcifer/signal.h"
#include "core/internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/site.h"
#include "util/util.h"

#define SIG_MAX 65 /* signal numbers 1..64 (_NSIG on Linux) */

struct cf__sigloop {
    struct cf__sigloop *next; /* in sig_loops */
    cf_loop *loop;
    int fds[2]; /* [0] read by the loop, [1] written by the handler */
    cf__io io;
    unsigned count[SIG_MAX]; /* started watchers in this loop, per signal */
    cf_queue watchers;       /* started cf_signal handles */
};

struct cf_signal {
    cf__handle h;
    cf_queue link; /* in sigloop->watchers while started */
    int signum;
    cf_signal_cb cb;
    void *data;
    cf_close_cb close_cb;
    void *close_data;
};

/* ---- process-wide registry ---- */

static pthread_once_t sig_once = PTHREAD_ONCE_INIT;
static int sig_init_error;
static int sig_lock_fds[2] = {-1, -1};
static struct cf__sigloop *sig_loops;
static unsigned sig_process_count[SIG_MAX];
static struct sigaction sig_saved[SIG_MAX];

static void sig_init(void)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sig_lock_fds) < 0) {
        sig_init_error = cf_translate_sys_error(errno);
        return;
    }
    char b = 0;
    if (send(sig_lock_fds[1], &b, 1, MSG_NOSIGNAL) != 1)
        sig_init_error = cf_translate_sys_error(errno);
}

static void lock_take(void)
{
    char b;
    while (recv(sig_lock_fds[0], &b, 1, 0) != 1) {
        /* EINTR: try again */
    }
}

static void lock_give(void)
{
    char b = 0;
    while (send(sig_lock_fds[1], &b, 1, MSG_NOSIGNAL) != 1) {
        /* EINTR: try again */
    }
}

/* Take the lock from loop code: with every signal blocked, so the handler cannot deadlock. */
static void lock_block(sigset_t *saved)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, saved);
    lock_take();
}

static void unlock_unblock(const sigset_t *saved)
{
    lock_give();
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static void handler(int signum)
{
    int saved_errno = errno;
    lock_take();
    for (struct cf__sigloop *s = sig_loops; s; s = s->next) {
        if (signum > 0 && signum < SIG_MAX && s->count[signum]) {
            unsigned char b = (unsigned char)signum;
            ssize_t r;
            do {
                r = send(s->fds[1], &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            } while (r < 0 && errno == EINTR);
        }
    }
    lock_give();
    errno = saved_errno;
}

/* Count one more watcher of `signum` in loop state `s` (lock held): install the handler. */
static int registry_add(struct cf__sigloop *s, int signum)
{
    if (sig_process_count[signum] == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = handler;
        sigfillset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(signum, &sa, &sig_saved[signum]) < 0)
            return cf_translate_sys_error(errno);
    }
    sig_process_count[signum]++;
    s->count[signum]++;
    return 0;
}

/* One watcher fewer (lock held): restore the old disposition after the last one. */
static void registry_remove(struct cf__sigloop *s, int signum)
{
    CF_ASSERT(s->count[signum] > 0 && sig_process_count[signum] > 0);
    s->count[signum]--;
    if (--sig_process_count[signum] == 0)
        sigaction(signum, &sig_saved[signum], NULL);
}

/* ---- per-loop state ---- */

static void dispatch(struct cf__sigloop *s, int signum)
{
    cf_queue cursor;
    cf_queue *q = s->watchers.next;
    while (q != &s->watchers && !cf__loop_failed(s->loop)) {
        cf_signal *sig = cf_queue_data(q, cf_signal, link);
        cf_queue_insert_head(q, &cursor); /* survives whatever the callback stops */
        if (sig->signum == signum) {
            sig->cb(sig, signum, sig->data);
            cf__after_callback(s->loop);
        }
        q = cursor.next;
        cf_queue_remove(&cursor);
    }
}

static void sigloop_read(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)revents;
    struct cf__sigloop *s = loop->sig;
    unsigned char buf[64];
    ssize_t n = recv(io->fd, buf, sizeof buf, MSG_DONTWAIT);
    for (ssize_t i = 0; i < n && !cf__loop_failed(loop); i++) {
        dispatch(s, buf[i]);
    }
}

static int sigloop_get(cf_loop *loop, struct cf__sigloop **out)
{
    if (loop->sig) {
        *out = loop->sig;
        return 0;
    }
    pthread_once(&sig_once, sig_init);
    if (sig_init_error)
        return sig_init_error;
    struct cf__sigloop *s = cf__calloc(1, sizeof(*s));
    if (!s)
        return CF_ENOMEM;
    s->loop = loop;
    cf_queue_init(&s->watchers);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, s->fds) < 0) {
        int rc = cf_translate_sys_error(errno);
        cf__free(s);
        return rc;
    }
    cf__io_init(&s->io, s->fds[0], sigloop_read);
    int rc = cf__io_start(loop, &s->io, CF__IO_IN);
    if (rc < 0) {
        close(s->fds[0]);
        close(s->fds[1]);
        cf__free(s);
        return rc;
    }
    sigset_t saved;
    lock_block(&saved);
    s->next = sig_loops;
    sig_loops = s;
    unlock_unblock(&saved);
    loop->sig = s;
    *out = s;
    return 0;
}

void cf__signals_free(cf_loop *loop)
{
    struct cf__sigloop *s = loop->sig;
    if (!s)
        return;
    sigset_t saved;
    lock_block(&saved);
    for (struct cf__sigloop **p = &sig_loops; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    unlock_unblock(&saved);
    cf__io_close(loop, &s->io);
    close(s->fds[0]);
    close(s->fds[1]);
    cf__free(s);
    loop->sig = NULL;
}

/* ---- cf_signal ---- */

/* cf__loop_close_all: close it as cf_signal_close does. */
static void signal_close_req(cf__handle *h)
{
    (void)cf_signal_close(CF_CONTAINER_OF(h, cf_signal, h), NULL, NULL);
}

CF__NOINLINE int cf_signal_new(cf_loop *loop, cf_signal **out)
{
    const void *site = CF__SITE_CALLER().pc; /* named by cf_loop_print_handles */
    if (!loop || !out)
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    cf_signal *sig = cf__calloc(1, sizeof(*sig));
    if (!sig) {
        *out = NULL;
        return CF_ENOMEM;
    }
    cf__handle_init_at(loop, &sig->h, site);
    cf__handle_set_close_req(&sig->h, signal_close_req);
    cf_queue_init(&sig->link);
    *out = sig;
    return 0;
}

int cf_signal_stop(cf_signal *sig)
{
    if (!sig)
        return CF_EINVAL;
    if (!sig->signum)
        return 0;
    sigset_t saved;
    lock_block(&saved);
    registry_remove(sig->h.loop->sig, sig->signum);
    unlock_unblock(&saved);
    cf_queue_remove(&sig->link);
    sig->signum = 0;
    cf__handle_stop(&sig->h);
    return 0;
}

int cf_signal_start(cf_signal *sig, int signum, cf_signal_cb cb, void *data)
{
    if (!sig || !cb || signum <= 0 || signum >= SIG_MAX || signum == SIGKILL || signum == SIGSTOP)
        return CF_EINVAL;
    if (cf__handle_is_closing(&sig->h))
        return CF_ECLOSED;
    cf_signal_stop(sig);
    struct cf__sigloop *s = NULL;
    int rc = sigloop_get(sig->h.loop, &s);
    if (rc < 0)
        return rc;
    sigset_t saved;
    lock_block(&saved);
    rc = registry_add(s, signum);
    unlock_unblock(&saved);
    if (rc < 0)
        return rc;
    sig->signum = signum;
    sig->cb = cb;
    sig->data = data;
    cf_queue_insert_tail(&s->watchers, &sig->link);
    cf__handle_start(&sig->h);
    return 0;
}

int cf_signal_signum(const cf_signal *sig)
{
    return sig ? sig->signum : 0;
}

void cf_signal_ref(cf_signal *sig)
{
    if (sig)
        cf__handle_ref(&sig->h);
}

void cf_signal_unref(cf_signal *sig)
{
    if (sig)
        cf__handle_unref(&sig->h);
}

int cf_signal_has_ref(const cf_signal *sig)
{
    return sig && cf__handle_has_ref(&sig->h);
}

int cf_signal_is_active(const cf_signal *sig)
{
    return sig && cf__handle_is_active(&sig->h);
}

static void signal_closed(cf__handle *h)
{
    cf_signal *sig = CF_CONTAINER_OF(h, cf_signal, h);
    cf_close_cb cb = sig->close_cb;
    void *data = sig->close_data;
    cf__free(sig);
    if (cb)
        cb(data);
}

int cf_signal_close(cf_signal *sig, cf_close_cb cb, void *data)
{
    if (!sig)
        return CF_EINVAL;
    if (cf__handle_is_closing(&sig->h))
        return CF_ECLOSED;
    cf_signal_stop(sig);
    sig->close_cb = cb;
    sig->close_data = data;
    return cf__handle_close(&sig->h, signal_closed);
}
