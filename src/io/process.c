/*
 * Child processes (≈ Node's child_process.spawn, libuv's src/unix/process.c).
 *
 * Spawning uses posix_spawn(p): file actions wire the child's stdin/stdout/stderr to one end
 * of a Unix socket pair (CF_STDIO_PIPE; the other end becomes a cf_tcp stream of the parent),
 * to /dev/null (CF_STDIO_IGNORE) or leave them inherited, and change the working folder;
 * attributes reset the signal mask and every signal's action in the child (the parent may
 * ignore SIGPIPE). posix_spawn reports a failed exec (no such program) as its return value.
 *
 * The exit is watched with a pidfd (pidfd_open, Linux 5.3): it becomes readable when the
 * child exits; the loop then reaps it with waitpid(WNOHANG) in the poll phase. The handle is
 * active (keeps the loop alive) until the exit has been seen. Closing a process whose child
 * still runs completes once the child exits.
 *
 * The options' abort signal is watched from the spawn until the exit is seen or the object is
 * closed, whichever comes first (a listener in the object; no reference is left after). Its
 * abort sends SIGTERM (≈ Node's spawn `signal`) and keeps the abort error, which the exit
 * then reports in place of success.
 */
#include "calcifer/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/handle.h"
#include "core/loop.h"
#include "core/watch.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/util.h"
#include "util/site.h"

extern char **environ;

struct cf_process {
    cf__handle h;
    cf__io io;
    int pidfd;
    pid_t pid;
    int exited;
    int exit_status;
    int term_signal;
    int close_wanted; /* cf_process_close was called; the handle closes at the exit */
    cf_process_exit_cb exit_cb;
    void *data;
    cf_tcp *stdio[3];
    cf_promise *exit_p;
    cf_site exit_site; /* where exit_p was first asked for: its rejection names it */
    cf_close_cb close_cb;
    void *close_data;
    cf_site site;            /* where cf_process_spawn was called */
    cf_abort_listener abort; /* on the options' signal, until the exit or the close */
    int aborted;             /* the signal aborted before the exit */
    cf_error *abort_err;     /* its error (NULL if it could not be allocated) */
};

/* Stop watching the signal: nothing of it is kept once the exit is seen or the close asked. */
static void unwatch(cf_process *p)
{
    cf_abort_signal_unlisten(&p->abort);
}

/* The options' signal aborted while the child runs: end it with SIGTERM, as Node does. */
static void on_abort(cf_abort_listener *l, cf_abort_signal *signal)
{
    cf_process *p = CF_CONTAINER_OF(l, cf_process, abort);
    p->aborted = 1;
    if (!p->abort_err) {
        p->abort_err = cf__error_set_site(cf_abort_signal_error(signal), p->site);
    }
    cf_process_kill(p, SIGTERM);
}

static const char *const stdio_names[3] = {"child stdin", "child stdout", "child stderr"};

static void stdio_gone(cf_tcp *t, void *arg)
{
    cf_process *p = arg;
    for (int i = 0; i < 3; i++) {
        if (p->stdio[i] == t)
            p->stdio[i] = NULL;
    }
}

/* ---- spawning ---- */

/* Make the socket pairs of the piped stdio: parent ends in `mine`, child ends in `theirs`. */
static int make_pipes(const cf_process_options *o, int mine[3], int theirs[3])
{
    for (int i = 0; i < 3; i++) {
        mine[i] = theirs[i] = -1;
    }
    for (int i = 0; i < 3; i++) {
        if (o->stdio[i] != CF_STDIO_PIPE)
            continue;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return cf_translate_sys_error(errno);
        mine[i] = sv[0];
        theirs[i] = sv[1];
        int fl = fcntl(sv[0], F_GETFL);
        fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    }
    return 0;
}

static void close_fds(int fds[3])
{
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

static int spawn_child(const cf_process_options *o, const int theirs[3], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return -rc;
    rc = posix_spawnattr_init(&attr);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return -rc;
    }
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (o->stdio[i] == CF_STDIO_PIPE)
            rc = posix_spawn_file_actions_adddup2(&fa, theirs[i], i);
        else if (o->stdio[i] == CF_STDIO_IGNORE)
            rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    }
    if (rc == 0 && o->cwd)
        rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const char *fallback[2] = {o->file, NULL};
    char *const *argv = (char *const *)(o->args ? o->args : fallback);
    char *const *envp = o->env ? (char *const *)o->env : environ;
    if (rc == 0) {
        if (strchr(o->file, '/'))
            rc = posix_spawn(pid, o->file, &fa, &attr, argv, envp);
        else
            rc = posix_spawnp(pid, o->file, &fa, &attr, argv, envp);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc ? cf_translate_sys_error(rc) : 0;
}

/* ---- exit ---- */

static void settle_exit(cf_process *p)
{
    if (!p->exit_p)
        return;
    cf_promise *pr = p->exit_p;
    p->exit_p = NULL;
    if (p->aborted) {
        cf_promise_reject(pr, p->abort_err ? cf_error_copy(p->abort_err)
                                           : CF_ERROR_SYS_AT(p->site, CF_ECANCELED, "spawn"));
        cf_promise_release(pr);
        return;
    }
    cf_process_exit *x = cf__malloc(sizeof *x);
    if (x) {
        x->exit_status = p->exit_status;
        x->term_signal = p->term_signal;
    }
    cf_promise_settle(pr, x ? 0 : CF_ENOMEM, x, cf_free, NULL);
    cf_promise_release(pr);
}

static void process_closed(cf__handle *h);

/*
 * cf__loop_close_all: nothing will wait for the child any more, so it is killed; the handle
 * is ref'd, so that the loop stays up until the child is reaped and the close completes (as
 * cf_process_close does once it has exited). Called again while the child is dying: the
 * kill and the close are refused, nothing changes.
 */
static void process_close_req(cf__handle *h)
{
    cf_process *p = CF_CONTAINER_OF(h, cf_process, h);
    (void)cf_process_kill(p, SIGKILL);
    cf__handle_ref(&p->h);
    (void)cf_process_close(p, NULL, NULL);
}

static void on_exit_ready(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)revents;
    cf_process *p = CF_CONTAINER_OF(io, cf_process, io);
    int st = 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0)
        return; /* not yet (a spurious wakeup) */
    cf__io_close(loop, &p->io);
    close(p->pidfd);
    p->pidfd = -1;
    p->exited = 1;
    if (r < 0) {
        p->exit_status = -1;
    } else if (WIFSIGNALED(st)) {
        p->term_signal = WTERMSIG(st);
    } else {
        p->exit_status = WEXITSTATUS(st);
    }
    cf__handle_stop(&p->h);
    unwatch(p);
    settle_exit(p);
    if (p->close_wanted) {
        cf__handle_close(&p->h, process_closed);
        return;
    }
    if (p->exit_cb) {
        /* An abort is reported as the outcome; the exit's figures still say how it ended. */
        cf_error fb = {.code = CF_ECANCELED, .message = "The operation was aborted"};
        const cf_error *e = p->abort_err ? p->abort_err : &fb;
        p->exit_cb(p, p->aborted ? CF_ECANCELED : 0, p->aborted ? e : NULL, p->exit_status,
                   p->term_signal, p->data);
    }
}

static int watch_exit(cf_loop *loop, cf_process *p)
{
    int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    if (fd < 0)
        return cf_translate_sys_error(errno);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    p->pidfd = fd;
    cf__io_init(&p->io, fd, on_exit_ready);
    int rc = cf__io_start(loop, &p->io, CF__IO_IN);
    if (rc < 0) {
        close(fd);
        p->pidfd = -1;
        return rc;
    }
    cf__handle_start(&p->h);
    return 0;
}

/* ---- create ---- */

static int spawn_fail(cf_error **err, cf_site site, int rc, const char *file)
{
    if (err)
        *err = CF_ERROR_SYS_AT(site, rc, "spawn '%s'", file ? file : "(null)");
    return rc;
}

/* The options' signal is aborted already: no child is started (the one abort error). */
static int spawn_aborted(cf_error **err, cf_site site, const cf_abort_signal *signal)
{
    if (err) {
        *err = cf__error_set_site(cf_abort_signal_error(signal), site);
    }
    return CF_ECANCELED;
}

/* After a successful spawn: the streams, the exit watcher. */
static int setup(cf_loop *loop, cf_process *p, int mine[3])
{
    for (int i = 0; i < 3; i++) {
        if (mine[i] < 0)
            continue;
        int rc = cf__tcp_open_fd(loop, mine[i], stdio_names[i], &p->stdio[i]);
        if (rc < 0)
            return rc;
        mine[i] = -1;
        cf__tcp_set_free_hook(p->stdio[i], stdio_gone, p);
    }
    return watch_exit(loop, p);
}

CF__NOINLINE int cf_process_spawn(cf_loop *loop, const cf_process_options *opts,
                                  cf_process_exit_cb exit_cb, void *data, cf_process **out,
                                  cf_error **err)
{
    cf_site site = CF__SITE_CALLER();
    if (err)
        *err = NULL;
    if (!loop || !opts || !opts->file || !out)
        return spawn_fail(err, site, CF_EINVAL, opts ? opts->file : NULL);
    for (int i = 0; i < 3; i++) {
        if (opts->stdio[i] < CF_STDIO_INHERIT || opts->stdio[i] > CF_STDIO_IGNORE)
            return spawn_fail(err, site, CF_EINVAL, opts->file);
    }
    if (cf_abort_signal_aborted(opts->signal))
        return spawn_aborted(err, site, opts->signal);
    if (!cf__io_loop_get(loop))
        return spawn_fail(err, site, CF_ENOMEM, opts->file);
    cf_process *p = cf__calloc(1, sizeof *p);
    if (!p)
        return spawn_fail(err, site, CF_ENOMEM, opts->file);
    p->pidfd = -1;
    p->exit_cb = exit_cb;
    p->data = data;
    p->site = site;
    int mine[3];
    int theirs[3];
    int rc = make_pipes(opts, mine, theirs);
    if (rc == 0)
        rc = spawn_child(opts, theirs, &p->pid);
    close_fds(theirs);
    if (rc < 0) {
        close_fds(mine);
        cf__free(p);
        return spawn_fail(err, site, rc, opts->file);
    }
    /* Only now: a failed spawn leaves nothing to close. The handle names the caller's line. */
    cf__handle_init_at(loop, &p->h, site.pc);
    cf__handle_set_close_req(&p->h, process_close_req);
    rc = setup(loop, p, mine);
    if (rc < 0) {
        /* The child runs but cannot be watched: stop it and wait for it here. */
        close_fds(mine);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->exited = 1;
        cf_process_close(p, NULL, NULL);
        return spawn_fail(err, site, rc, opts->file);
    }
    if (opts->signal)
        cf_abort_signal_listen(opts->signal, &p->abort, on_abort); /* not aborted: checked above */
    *out = p;
    return 0;
}

/* ---- use ---- */

cf_tcp *cf_process_stdio(cf_process *p, int fd)
{
    if (!p || fd < 0 || fd > 2)
        return NULL;
    cf_tcp *t = p->stdio[fd];
    return t && !cf__tcp_is_closing(t) ? t : NULL;
}

int cf_process_pid(const cf_process *p)
{
    return p ? (int)p->pid : -1;
}

int cf_process_kill(cf_process *p, int signum)
{
    if (!p || signum < 0 || signum >= NSIG)
        return CF_EINVAL;
    if (p->exited)
        return CF_ESRCH;
    if (p->pidfd >= 0 && syscall(SYS_pidfd_send_signal, p->pidfd, signum, NULL, 0) == 0)
        return 0;
    if (errno != ENOSYS)
        return cf_translate_sys_error(errno);
    if (kill(p->pid, signum) < 0)
        return cf_translate_sys_error(errno);
    return 0;
}

CF__NOINLINE cf_promise *cf_process_exit_p(cf_process *p)
{
    cf_site site = CF__SITE_CALLER();
    if (!p)
        return NULL;
    if (p->exited) {
        cf_process_exit *x = cf__malloc(sizeof *x);
        if (!x)
            return NULL;
        x->exit_status = p->exit_status;
        x->term_signal = p->term_signal;
        return cf_promise_resolved(p->h.loop, x, cf_free);
    }
    if (!p->exit_p) {
        p->exit_p = cf_promise_new(p->h.loop);
        if (!p->exit_p)
            return NULL;
        p->exit_site = site;
    }
    return cf_promise_retain(p->exit_p);
}

/* ---- close ---- */

static void process_closed(cf__handle *h)
{
    cf_process *p = CF_CONTAINER_OF(h, cf_process, h);
    for (int i = 0; i < 3; i++) {
        if (p->stdio[i])
            cf__tcp_set_free_hook(p->stdio[i], NULL, NULL);
    }
    if (p->exit_p) {
        cf_promise *pr = p->exit_p;
        p->exit_p = NULL;
        cf_promise_reject(
            pr, CF_ERROR_SYS_AT(p->exit_site, CF_ECANCELED, "wait for pid %d", (int)p->pid));
        cf_promise_release(pr);
    }
    unwatch(p);
    cf_error_free(p->abort_err);
    if (p->close_cb)
        p->close_cb(p->close_data);
    cf__free(p);
}

int cf_process_close(cf_process *p, cf_close_cb cb, void *data)
{
    if (!p)
        return CF_EINVAL;
    if (p->close_wanted || cf__handle_is_closing(&p->h))
        return CF_ECLOSED;
    p->close_wanted = 1;
    unwatch(p); /* a closed object no longer ends its child */
    p->close_cb = cb;
    p->close_data = data;
    for (int i = 0; i < 3; i++) {
        if (p->stdio[i] && !cf__tcp_is_closing(p->stdio[i]))
            cf_tcp_close(p->stdio[i], NULL, NULL);
    }
    if (p->exited)
        cf__handle_close(&p->h, process_closed);
    return 0;
}

/* ---- keep-alive and state ---- */

void cf_process_ref(cf_process *p)
{
    if (p)
        cf__handle_ref(&p->h);
}

void cf_process_unref(cf_process *p)
{
    if (p)
        cf__handle_unref(&p->h);
}

int cf_process_has_ref(const cf_process *p)
{
    return p ? cf__handle_has_ref(&p->h) : 0;
}

int cf_process_is_active(const cf_process *p)
{
    return p && !p->close_wanted && cf__handle_is_active(&p->h);
}
