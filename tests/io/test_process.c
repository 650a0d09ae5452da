/*
 * Child processes: echo through /bin/cat over stdin/stdout pipes, exit codes, a kill with
 * SIGTERM, environment and working folder, a missing program, the exit as a promise and
 * from a task, the options' abort signal (SIGTERM, the exit reports the abort; an aborted
 * signal starts nothing; an abort after the exit is ignored), keep-alive and the close
 * callback. Every child a test starts has exited and been reaped when the test ends.
 */
#include <signal.h>

#include "harness.h"

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static void loop_finish(cf_loop *loop)
{
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

typedef struct proc_out {
    cf_process *p;
    int exits;
    int exit_status;
    int term_signal;
    char out[4096];
    size_t nout;
    int eof;
} proc_out;

static void on_exit_cb(cf_process *p, int status, const cf_error *err, int exit_status,
                       int term_signal, void *data)
{
    (void)err;
    proc_out *o = data;
    ASSERT_OK(status);
    o->exits++;
    o->exit_status = exit_status;
    o->term_signal = term_signal;
    /* As Node's 'close' comes after 'exit' and the end of the output: close after both. */
    if (o->eof)
        cf_process_close(p, NULL, NULL);
}

static void on_out(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                   void *data)
{
    (void)t;
    (void)err;
    proc_out *o = data;
    if (status == CF_EOF) {
        o->eof = 1;
        if (o->exits)
            cf_process_close(o->p, NULL, NULL);
        return;
    }
    ASSERT_OK(status);
    ASSERT(o->nout + len < sizeof o->out);
    memcpy(o->out + o->nout, bytes, len);
    o->nout += len;
}

static void test_process_cat_echo(void)
{
    cf_loop *loop = loop_new();
    proc_out o;
    memset(&o, 0, sizeof o);
    const char *args[] = {"cat", NULL};
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "/bin/cat";
    opts.args = args;
    opts.stdio[0] = CF_STDIO_PIPE;
    opts.stdio[1] = CF_STDIO_PIPE;
    opts.stdio[2] = CF_STDIO_INHERIT;
    ASSERT_OK(cf_process_spawn(loop, &opts, on_exit_cb, &o, &o.p, NULL));
    ASSERT(cf_process_pid(o.p) > 0);
    cf_tcp *in = cf_process_stdio(o.p, 0);
    cf_tcp *out = cf_process_stdio(o.p, 1);
    ASSERT_PTR(in);
    ASSERT_PTR(out);
    ASSERT(cf_process_stdio(o.p, 2) == NULL);
    ASSERT_OK(cf_tcp_read_start(out, on_out, &o));
    ASSERT_OK(cf_tcp_write_copy(in, "hello, ", 7));
    ASSERT_OK(cf_tcp_write_copy(in, "cat\n", 4));
    ASSERT_OK(cf_tcp_end(in, NULL, NULL)); /* cat sees the end of its input and exits */
    loop_finish(loop);
    ASSERT_EQ(o.exits, 1);
    ASSERT_EQ(o.exit_status, 0);
    ASSERT_EQ(o.term_signal, 0);
    ASSERT(o.eof);
    ASSERT_EQ(o.nout, 11);
    ASSERT_MEM_EQ(o.out, "hello, cat\n", 11);
}

static void test_process_exit_code(void)
{
    cf_loop *loop = loop_new();
    proc_out o;
    memset(&o, 0, sizeof o);
    o.eof = 1; /* no output stream */
    const char *args[] = {"sh", "-c", "exit 7", NULL};
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "sh"; /* found in PATH */
    opts.args = args;
    ASSERT_OK(cf_process_spawn(loop, &opts, on_exit_cb, &o, &o.p, NULL));
    loop_finish(loop);
    ASSERT_EQ(o.exits, 1);
    ASSERT_EQ(o.exit_status, 7);
}

static void test_process_kill_sigterm(void)
{
    cf_loop *loop = loop_new();
    proc_out o;
    memset(&o, 0, sizeof o);
    o.eof = 1; /* no output stream */
    const char *args[] = {"sleep", "30", NULL};
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "sleep";
    opts.args = args;
    opts.stdio[0] = CF_STDIO_IGNORE;
    ASSERT_OK(cf_process_spawn(loop, &opts, on_exit_cb, &o, &o.p, NULL));
    ASSERT_OK(cf_process_kill(o.p, SIGTERM));
    loop_finish(loop);
    ASSERT_EQ(o.exits, 1);
    ASSERT_EQ(o.term_signal, SIGTERM);
}

static void test_process_env_and_cwd(void)
{
    cf_loop *loop = loop_new();
    proc_out o;
    memset(&o, 0, sizeof o);
    const char *args[] = {"sh", "-c", "printf '%s|' \"$GREETING\"; pwd", NULL};
    const char *env[] = {"GREETING=konnichiwa", "PATH=/usr/bin:/bin", NULL};
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "/bin/sh";
    opts.args = args;
    opts.env = env;
    opts.cwd = cf_test_tmpdir();
    opts.stdio[1] = CF_STDIO_PIPE;
    ASSERT_OK(cf_process_spawn(loop, &opts, on_exit_cb, &o, &o.p, NULL));
    ASSERT_OK(cf_tcp_read_start(cf_process_stdio(o.p, 1), on_out, &o));
    loop_finish(loop);
    ASSERT_EQ(o.exit_status, 0);
    char want[4200];
    char real[4096];
    ASSERT_PTR(realpath(cf_test_tmpdir(), real));
    snprintf(want, sizeof want, "konnichiwa|%s\n", real);
    o.out[o.nout] = '\0';
    ASSERT_STR_EQ(o.out, want);
}

static void test_process_missing_program(void)
{
    cf_loop *loop = loop_new();
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "/no/such/program";
    cf_process *p = NULL;
    cf_error *err = NULL;
    ASSERT_EQ(cf_process_spawn(loop, &opts, NULL, NULL, &p, &err), CF_ENOENT);
    ASSERT_PTR(err);
    ASSERT_STR_EQ(err->message, "spawn '/no/such/program': no such file or directory");
    cf_error_free(err);
    opts.file = "sh";
    opts.cwd = "/no/such/folder";
    ASSERT_EQ(cf_process_spawn(loop, &opts, NULL, NULL, &p, NULL), CF_ENOENT);
    opts.file = NULL;
    ASSERT_EQ(cf_process_spawn(loop, &opts, NULL, NULL, &p, NULL), CF_EINVAL);
    loop_finish(loop);
}

typedef struct exit_p_out {
    int state;
    int status;
    int sig;
} exit_p_out;

static void on_exit_p(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    exit_p_out *o = data;
    o->state = cf_promise_state(settled);
    const cf_process_exit *x = cf_promise_value(settled);
    o->status = x->exit_status;
    o->sig = x->term_signal;
}

static void test_process_exit_promise(void)
{
    cf_loop *loop = loop_new();
    const char *args[] = {"sh", "-c", "exit 3", NULL};
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "sh";
    opts.args = args;
    cf_process *p;
    ASSERT_OK(cf_process_spawn(loop, &opts, NULL, NULL, &p, NULL));
    exit_p_out o = {0};
    cf_promise *pr = cf_process_exit_p(p);
    cf_promise_release(cf_promise_then(pr, on_exit_p, NULL, &o));
    cf_promise_release(pr);
    /* Closing while the child runs completes once it has exited. */
    ASSERT_OK(cf_process_close(p, NULL, NULL));
    ASSERT_EQ(cf_process_close(p, NULL, NULL), CF_ECLOSED);
    loop_finish(loop);
    ASSERT_EQ(o.state, CF_PROMISE_FULFILLED);
    ASSERT_EQ(o.status, 3);
    ASSERT_EQ(o.sig, 0);
}

static int run_cat(cf_task *task, void *arg)
{
    char *result = arg;
    const char *args[] = {"cat", NULL};
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "cat";
    opts.args = args;
    opts.stdio[0] = CF_STDIO_PIPE;
    opts.stdio[1] = CF_STDIO_PIPE;
    cf_process *p;
    int rc = cf_process_spawn(cf_task_loop(task), &opts, NULL, NULL, &p, NULL);
    if (rc < 0)
        return rc;
    cf_tcp *in = cf_process_stdio(p, 0);
    rc = cf_await(cf_tcp_write_p(in, "from a task", 11, NULL)).status;
    if (rc == 0)
        rc = cf_await(cf_tcp_end_p(in, NULL)).status;
    if (rc == 0) {
        cf_result r = cf_await(cf_tcp_read_all_p(cf_process_stdio(p, 1), 0, NULL));
        rc = r.status;
        if (rc == 0)
            snprintf(result, 64, "%s", ((const cf_buf *)r.value)->base);
    }
    cf_result ex = cf_await(cf_process_exit_p(p));
    int rc2 = ex.status;
    if (rc2 == 0 && ((const cf_process_exit *)ex.value)->exit_status != 0)
        rc2 = CF_EIO;
    cf_process_close(p, NULL, NULL);
    return rc ? rc : rc2;
}

static void test_process_async_await(void)
{
    cf_loop *loop = loop_new();
    char result[64] = {0};
    cf_promise *p = cf_async(loop, run_cat, result);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_STR_EQ(result, "from a task");
}

/* A failed spawn's error names the line of the call, not a line of the library. */
static void test_process_spawn_error_names_the_call(void)
{
    cf_loop *loop = loop_new();
    cf_process_options opts;
    memset(&opts, 0, sizeof opts);
    opts.file = "/no/such/program";
    cf_process *p = NULL;
    cf_error *err = NULL;
    int line = __LINE__ + 1;
    ASSERT_EQ(cf_process_spawn(loop, &opts, NULL, NULL, &p, &err), CF_ENOENT);
    ASSERT_PTR(err);
    ASSERT_PTR(err->file);
    ASSERT(strstr(err->file, "test_process.c") != NULL);
    ASSERT_PTR(err->func);
    ASSERT(strcmp(err->func, "test_process_spawn_error_names_the_call") == 0);
    ASSERT_EQ(err->line, line);
    cf_error_free(err);
    loop_finish(loop);
}

/* ---- abort signal ---- */

typedef struct abort_out {
    int exits;
    int status;
    int cause;
    int term_signal;
    int closed;
    char message[128];
} abort_out;

static void on_abort_exit(cf_process *p, int status, const cf_error *err, int exit_status,
                          int term_signal, void *data)
{
    (void)exit_status;
    abort_out *o = data;
    o->exits++;
    o->status = status;
    o->term_signal = term_signal;
    ASSERT_EQ(err != NULL, status != 0);
    if (err) {
        snprintf(o->message, sizeof o->message, "%s", err->message);
        o->cause = cf_error_cause(err) ? cf_error_cause(err)->code : 0;
        ASSERT_PTR(err->file); /* the spawn's line */
    }
    ASSERT(!cf_process_is_active(p));
}

static void on_closed(void *data)
{
    ((abort_out *)data)->closed++;
}

static void p_exit_note(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    abort_out *o = data;
    o->status = cf_promise_code(settled);
    const cf_error *e = cf_promise_error(settled);
    o->cause = e && cf_error_cause(e) ? cf_error_cause(e)->code : 0;
}

/* A timeout signal ends a child that sleeps: SIGTERM, and the exit reports the abort. */
static void test_process_abort_sends_sigterm(void)
{
    cf_loop *loop = loop_new();
    cf_abort_signal *deadline;
    ASSERT_OK(cf_abort_signal_timeout(loop, 50, &deadline));
    const char *args[] = {"sleep", "10", NULL};
    cf_process_options opts = {.file = "sleep", .args = args, .signal = deadline};
    abort_out o = {0};
    abort_out po = {0};
    cf_process *p = NULL;
    ASSERT_OK(cf_process_spawn(loop, &opts, on_abort_exit, &o, &p, NULL));
    ASSERT(cf_process_is_active(p));
    ASSERT(cf_process_has_ref(p));
    cf_promise *exit_p = cf_process_exit_p(p);
    cf_promise_release(cf_promise_then(exit_p, p_exit_note, p_exit_note, &po));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.exits, 1);
    ASSERT_EQ(o.status, CF_ECANCELED);
    ASSERT_STR_EQ(o.message, "The operation was aborted");
    ASSERT_EQ(o.cause, CF_ETIMEDOUT);
    ASSERT_EQ(o.term_signal, SIGTERM);
    ASSERT_EQ(po.status, CF_ECANCELED); /* the promise form rejects the same way */
    ASSERT_EQ(po.cause, CF_ETIMEDOUT);
    cf_promise_release(exit_p);
    ASSERT_OK(cf_process_close(p, on_closed, &o));
    ASSERT_EQ(cf_process_close(p, on_closed, &o), CF_ECLOSED);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.closed, 1);
    cf_abort_signal_release(deadline); /* the process kept no reference */
    ASSERT_OK(cf_loop_close(loop));
}

/* A signal already aborted: no child starts; the spawn fails with the abort error. */
static void test_process_abort_already_aborted(void)
{
    cf_loop *loop = loop_new();
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_EPERM, "not now")));
    cf_process_options opts = {.file = "true", .signal = cf_abort_get_signal(ctrl)};
    cf_process *p = NULL;
    cf_error *err = NULL;
    ASSERT_EQ(cf_process_spawn(loop, &opts, NULL, NULL, &p, &err), CF_ECANCELED);
    ASSERT(p == NULL);
    ASSERT_PTR(err);
    ASSERT_EQ(err->code, CF_ECANCELED);
    ASSERT_EQ(cf_error_cause(err)->code, CF_EPERM);
    cf_error_free(err);
    cf_abort_free(ctrl);
    loop_finish(loop);
}

/* An abort after the exit is ignored; the exit reported success; unref/ref work. */
static void test_process_abort_after_exit_ignored(void)
{
    cf_loop *loop = loop_new();
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    cf_process_options opts = {.file = "true", .signal = cf_abort_get_signal(ctrl)};
    abort_out o = {0};
    cf_process *p = NULL;
    ASSERT_OK(cf_process_spawn(loop, &opts, on_abort_exit, &o, &p, NULL));
    cf_process_unref(p);
    ASSERT(!cf_process_has_ref(p));
    cf_process_ref(p);
    ASSERT(cf_process_has_ref(p));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(o.exits, 1);
    ASSERT_EQ(o.status, 0);
    ASSERT_OK(cf_abort(ctrl, NULL)); /* nothing listens any more */
    ASSERT_EQ(o.exits, 1);
    ASSERT_EQ(cf_process_kill(p, SIGTERM), CF_ESRCH);
    ASSERT_OK(cf_process_close(p, NULL, NULL));
    cf_abort_free(ctrl);
    loop_finish(loop);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_process_cat_echo);
    CF_TEST(test_process_exit_code);
    CF_TEST(test_process_kill_sigterm);
    CF_TEST(test_process_env_and_cwd);
    CF_TEST(test_process_missing_program);
    CF_TEST(test_process_exit_promise);
    CF_TEST(test_process_async_await);
    CF_TEST(test_process_spawn_error_names_the_call);
    CF_TEST(test_process_abort_sends_sigterm);
    CF_TEST(test_process_abort_already_aborted);
    CF_TEST(test_process_abort_after_exit_ignored);
    return CF_TEST_END();
}
