/*
 * Calcifer: child processes (≈ Node's `child_process.spawn`).
 *
 * A child is started with posix_spawn: program, arguments, environment, working folder, and
 * for each of stdin/stdout/stderr a choice of inheriting the parent's, a pipe on the loop, or
 * /dev/null. Pipes are cf_tcp streams (calcifer/tcp.h) over a Unix socket pair, read and
 * written as any socket (≈ child.stdin / child.stdout). The exit is watched with a pidfd
 * (Linux 5.3 and later) in the poll phase, and reported once, as a callback and as a promise
 * (≈ the 'exit' event): the exit status, or the signal that ended the child.
 *
 * Lifecycle: cf_process_spawn → (streams, kill, exit) → cf_process_close. The process object
 * owns its stdio streams; cf_process_close closes those still open and frees the object after
 * its close callback. Closing before the child exits does not kill it; the child is then
 * reaped when it exits (the loop stays alive for that).
 *
 * Cancelling (≈ spawn's `signal` option): set `.signal` in the options. A signal already
 * aborted makes cf_process_spawn fail with CF_ECANCELED and start no child. An abort while
 * the child runs sends it SIGTERM; its exit then reports the abort: the exit callback gets
 * CF_ECANCELED and the abort error, "The operation was aborted" with the signal's reason as
 * its cause (cf_error_cause) and the spawn's line as its place, along with how the child
 * ended (term_signal SIGTERM, unless the child handles it); the exit promise rejects with
 * that error. The signal is watched until the exit is seen or cf_process_close is called,
 * whichever comes first; an abort after that is ignored, and no reference to the signal is
 * kept.
 */
#ifndef CALCIFER_PROCESS_H
#define CALCIFER_PROCESS_H

#include <stdint.h>

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* A child process. Opaque. */
typedef struct cf_process cf_process;

/* What a child's stdin, stdout or stderr is connected to (≈ the `stdio` option). */
enum cf_stdio {
    CF_STDIO_INHERIT = 0, /* the parent's descriptor ('inherit') */
    CF_STDIO_PIPE,        /* a stream on the loop ('pipe') */
    CF_STDIO_IGNORE       /* /dev/null ('ignore') */
};

/* How to start a child (≈ spawn's arguments and options). Zero-initialize, then fill in. */
typedef struct cf_process_options {
    const char *file;        /* program; searched in PATH when it has no '/' */
    const char *const *args; /* argv, NULL-terminated; NULL means { file, NULL } */
    const char *const *env;  /* "NAME=value" strings, NULL-terminated; NULL inherits environ */
    const char *cwd;         /* working folder; NULL keeps the parent's */
    int stdio[3];            /* enum cf_stdio for stdin, stdout, stderr */
    cf_abort_signal *signal; /* NULL, or: its abort sends SIGTERM (see above); borrowed */
} cf_process_options;

/* How a child ended (the value of cf_process_exit_p). */
typedef struct cf_process_exit {
    int exit_status; /* the exit code when term_signal is 0 */
    int term_signal; /* the signal that killed it (≈ the 'exit' event's `signal`), else 0 */
} cf_process_exit;

/* ---- callback types ---- */

/*
 * The child exited (≈ 'exit'): `status` is 0 with `exit_status` and `term_signal` filled, or
 * CF_ECANCELED with `err` the abort error when the options' signal ended it (`exit_status` and
 * `term_signal` still tell how it ended). Runs once, in the poll phase. `err` is borrowed until
 * the callback returns.
 */
typedef void (*cf_process_exit_cb)(cf_process *p, int status, const cf_error *err, int exit_status,
                                   int term_signal, void *data);

/* ---- create ---- */

/*
 * Start a child (≈ child_process.spawn). `exit_cb` (may be NULL) runs when it exits (the
 * exit's callback form; cf_process_exit_p is its promise form).
 * Errors come back here, synchronously, as in libuv: CF_ENOENT (no such program; message
 * "spawn 'prog': no such file or directory"), CF_EACCES, CF_ENOTDIR/CF_ENOENT for `cwd`,
 * CF_EMFILE, CF_ENOMEM, CF_ENOSYS (no pidfd), CF_EINVAL (NULL file), CF_ECANCELED (the
 * options' signal is already aborted: `*err` is the abort error, whose cause is the reason). When
 * `err` is not NULL it receives the error object on failure (the caller owns it: cf_error_free),
 * NULL on success. Ownership: the options and their strings are copied; the caller owns `*out` and
 * frees it with cf_process_close. Thread: loop only.
 */
CF_EXTERN int cf_process_spawn(cf_loop *loop, const cf_process_options *opts,
                               cf_process_exit_cb exit_cb, void *data, cf_process **out,
                               cf_error **err);

/* ---- use ---- */

/*
 * The child's stdin (fd 0), stdout (1) or stderr (2) stream, NULL unless it was CF_STDIO_PIPE
 * or once it is closed. Borrowed: owned by the process; the caller may end or close it.
 */
CF_EXTERN cf_tcp *cf_process_stdio(cf_process *p, int fd);

/* The child's process id (≈ child.pid). */
CF_EXTERN int cf_process_pid(const cf_process *p);

/*
 * Send `signum` to the child (≈ child.kill). Returns 0, CF_ESRCH (already exited and reaped),
 * CF_EINVAL (bad signal), CF_EPERM. Thread: loop only.
 */
CF_EXTERN int cf_process_kill(cf_process *p, int signum);

/*
 * A promise of the exit (≈ `await once(child, 'exit')`): fulfils with a `cf_process_exit *`
 * the promise owns; may be called before or after the exit. Rejects with the abort error when
 * the options' signal ended the child (an abort after cf_process_close is ignored). NULL for a
 * NULL process or when memory is exhausted. Thread: loop only.
 */
CF_EXTERN cf_promise *cf_process_exit_p(cf_process *p);

/* ---- close ---- */

/*
 * Close the process object and the stdio streams still open. Does not kill the child, and
 * stops watching the options' signal; the exit callback no longer runs. The object goes once
 * the child has exited (at once if it has): then a pending exit promise settles, `cb(data)`
 * (may be NULL) runs in the close phase, and the memory goes after it. Returns 0, CF_ECLOSED
 * (closed already) or CF_EINVAL (NULL). Thread: loop only.
 */
CF_EXTERN int cf_process_close(cf_process *p, cf_close_cb cb, void *data);

/* ---- keep-alive ---- */

/*
 * Whether the process object keeps the loop alive while the child runs (≈ child.ref() and
 * child.unref(); uv_ref, uv_unref, uv_has_ref). Referenced by default; idempotent. NULL is
 * ignored (has_ref: 0). An unreferenced object whose child still runs lets cf_run return; its
 * exit is then reported if the loop runs again. Thread: loop only.
 */
CF_EXTERN void cf_process_ref(cf_process *p);
CF_EXTERN void cf_process_unref(cf_process *p);
CF_EXTERN int cf_process_has_ref(const cf_process *p);

/*
 * Non-zero while the child runs as far as the loop knows (its exit not yet seen) and the object
 * is not closed (≈ uv_is_active). Thread: loop only.
 */
CF_EXTERN int cf_process_is_active(const cf_process *p);

/*
 * cf_process_spawn and cf_process_exit_p record their caller's place (calcifer/error.h,
 * cf_site): a spawn's error and an exit promise's rejection name the line that made them.
 */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_PROCESS_H */
