/*
 * What a terminated worker frees (calcifer/worker.h, "Termination"): a worker whose entry
 * leaves open a repeating timer, an interval, an fd watcher, a signal handle, a listening TCP
 * server with a connected client (one end wrapped in a stream), a child process, HTTP
 * requests to a TCP server and to an HTTP server that accept and never answer, a promise
 * sleep, a sleeping task, and a pool job queued behind a running one, terminates with a plain
 * exit: no CF_EBUSY, the child killed and reaped, the requests, sleeps and queued job
 * cancelled, the running job finished, nothing leaked. Work in flight that ends within the
 * grace period completes normally, and a worker that ends by itself with unref'd handles open
 * exits cleanly.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 120 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What the parent saw. */
typedef struct seen {
    cf_worker *w;
    int ready;
    int exits;
    int exit_code;
    int errors;
    int err_code;
    char err_message[256];
    int closed;
    double t0;
    double elapsed_ms;
} seen;

static void on_exit_cb(cf_worker *w, int exit_code, void *data)
{
    (void)w;
    seen *s = data;
    s->exits++;
    s->exit_code = exit_code;
    s->elapsed_ms = now_ms() - s->t0;
}

static void on_error_cb(cf_worker *w, const cf_error *err, void *data)
{
    (void)w;
    seen *s = data;
    s->errors++;
    s->err_code = cf_error_code(err);
    snprintf(s->err_message, sizeof s->err_message, "%s", cf_error_message(err));
}

static void on_closed(void *data)
{
    ((seen *)data)->closed++;
}

/* The worker says it is set up: terminate it. */
static void terminate_on_ready(cf_worker *w, cf_worker_message *msg, void *data)
{
    (void)msg;
    seen *s = data;
    s->ready++;
    s->t0 = now_ms();
    ASSERT_OK(cf_worker_terminate(w));
}

/* Start `entry(arg)` in a worker on a new loop and run the parent until the worker exited. */
static void run_worker(cf_worker_entry entry, void *arg, seen *s, cf_loop **loop)
{
    ASSERT_OK(cf_loop_new(loop));
    s->t0 = now_ms();
    ASSERT_OK(cf_worker_new(*loop, NULL, entry, arg, &s->w));
    ASSERT_OK(cf_worker_on_message(s->w, terminate_on_ready, s));
    ASSERT_OK(cf_worker_on_error(s->w, on_error_cb, s));
    ASSERT_OK(cf_worker_on_exit(s->w, on_exit_cb, s));
    ASSERT_OK(cf_run(*loop, CF_RUN_DEFAULT));
}

/* Close the worker's handle and the parent's loop. */
static void finish(cf_loop *loop, seen *s)
{
    ASSERT_OK(cf_worker_close(s->w, on_closed, s));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(s->closed, 1);
    ASSERT_OK(cf_loop_close(loop));
}

static void assert_clean_exit(const seen *s, int code)
{
    if (s->errors)
        CF_TEST_FAILF("the worker reported %d (%s)", s->err_code, s->err_message);
    ASSERT_EQ(s->exits, 1);
    ASSERT_EQ(s->exit_code, code);
}

/* ---- terminate with everything open ---- */

enum { JOB_MS = 1500 }; /* longer than the grace period (1 s): still running at the close */

/* Written on the worker's thread (and its pool job's), read by the parent after the join. */
typedef struct leaky {
    int fds[2]; /* the watched pipe, made and closed by the test */
    cf_worker_self *self;
    cf_loop *loop;
    int port;
    int accepted;
    int posted;
    int pid;
    int http_done;
    int http_status;
    int handled;           /* requests that reached the HTTP server's handler (never answered) */
    int sleep_status;      /* the hour-long promise sleep, given no signal */
    int task_sleep_status; /* the hour-long sleep of a task, given no signal */
    int task_returned;
    int running_done;
    int running_status;
    int queued_done;
    int queued_status;
    int ticks;
    atomic_int running_started;
    atomic_int queued_ran;
} leaky;

static void on_tick(cf_timer *t, void *data)
{
    (void)t;
    ((leaky *)data)->ticks++;
}

static void on_interval(void *data)
{
    ((leaky *)data)->ticks++;
}

static void on_readable(cf_watch *w, unsigned events, void *data)
{
    (void)w;
    (void)events;
    (void)data;
}

static void on_signal(cf_signal *sig, int signum, void *data)
{
    (void)sig;
    (void)signum;
    (void)data;
}

static void running_work(void *data)
{
    leaky *lk = data;
    atomic_store(&lk->running_started, 1);
    sleep_ms(JOB_MS);
}

static void running_done(int status, const cf_error *err, void *data)
{
    (void)err;
    leaky *lk = data;
    lk->running_done++;
    lk->running_status = status;
}

static void queued_work(void *data)
{
    atomic_store(&((leaky *)data)->queued_ran, 1);
}

static void queued_done(int status, const cf_error *err, void *data)
{
    (void)err;
    leaky *lk = data;
    lk->queued_done++;
    lk->queued_status = status;
}

static void on_http(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                    void *data)
{
    (void)req;
    (void)err;
    (void)res;
    leaky *lk = data;
    lk->http_done++;
    lk->http_status = status;
}

/* Everything is connected and waiting: tell the parent. */
static void maybe_ready(leaky *lk)
{
    if (lk->accepted == 2 && lk->handled == 1 && !lk->posted) {
        lk->posted = 1;
        ASSERT_OK(cf_worker_parent_post_json(lk->self, cf_json_new_string("ready", 5)));
    }
}

/* The plain client's connection and curl's reach the TCP server, which never reads them. */
static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)server;
    (void)err;
    (void)conn; /* kept open */
    leaky *lk = data;
    if (status < 0)
        return;
    lk->accepted++;
    maybe_ready(lk);
}

/* The HTTP server's handler keeps `res` and never ends it. */
static void never_answer(cf_http_incoming *req, cf_http_res *res, void *data)
{
    (void)req;
    (void)res;
    leaky *lk = data;
    lk->handled++;
    maybe_ready(lk);
}

static void on_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
    cf_stream *s;
    ASSERT_OK(cf_stream_tcp_new(t, 0, &s)); /* the stream owns the client from now on */
}

static void sleep_settled(cf_promise *settled, cf_promise *next, void *data)
{
    (void)next;
    ((leaky *)data)->sleep_status = cf_promise_code(settled);
}

static int sleeping_task(cf_task *task, void *arg)
{
    (void)task;
    leaky *lk = arg;
    cf_result r = cf_sleep(lk->loop, 3600 * 1000);
    lk->task_sleep_status = r.status;
    lk->task_returned = 1;
    return 0;
}

/* A promise sleep and a task's sleep, neither given the worker's signal. */
static void open_sleeps(leaky *lk, cf_loop *loop)
{
    cf_promise *p = cf_sleep_p(loop, 3600 * 1000, NULL);
    ASSERT_PTR(p);
    cf_promise_release(cf_promise_catch(p, sleep_settled, lk));
    cf_promise_release(p);
    cf_promise *t = cf_async(loop, sleeping_task, lk);
    ASSERT_PTR(t);
    cf_promise_release(t);
}

static void open_handles(leaky *lk, cf_loop *loop)
{
    cf_timer *t;
    ASSERT_OK(cf_timer_new(loop, &t));
    ASSERT_OK(cf_timer_start(t, 5, 5, on_tick, lk));
    ASSERT_OK(cf_set_interval(loop, 5, on_interval, lk, NULL));
    cf_watch *w;
    ASSERT_OK(cf_watch_new(loop, lk->fds[0], &w));
    ASSERT_OK(cf_watch_start(w, CF_WATCH_READABLE, on_readable, lk));
    cf_signal *sig;
    ASSERT_OK(cf_signal_new(loop, &sig));
    ASSERT_OK(cf_signal_start(sig, SIGUSR1, on_signal, lk));
    const char *argv[] = {"sleep", "60", NULL};
    cf_process_options po = {.file = "sleep", .args = argv};
    cf_process *p;
    ASSERT_OK(cf_process_spawn(loop, &po, NULL, NULL, &p, NULL));
    lk->pid = cf_process_pid(p);
}

static void open_network(leaky *lk, cf_loop *loop)
{
    cf_tcp *server;
    ASSERT_OK(cf_tcp_new(loop, &server));
    ASSERT_OK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, lk));
    lk->port = cf_tcp_port(server);
    cf_tcp *client;
    ASSERT_OK(cf_tcp_new(loop, &client));
    ASSERT_OK(cf_tcp_connect(client, "127.0.0.1", lk->port, NULL, on_connected, lk));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/never", lk->port);
    ASSERT_OK(cf_http_request(loop, url, NULL, on_http, lk, NULL));
    cf_http_server *srv;
    ASSERT_OK(cf_http_server_new(loop, NULL, never_answer, lk, &srv));
    ASSERT_OK(cf_http_server_listen(srv, "127.0.0.1", 0));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/held", cf_http_server_port(srv));
    ASSERT_OK(cf_http_request(loop, url, NULL, on_http, lk, NULL));
}

/* The pool has one thread (main): the second job waits behind the first. */
static void open_jobs(leaky *lk, cf_loop *loop)
{
    ASSERT_OK(cf_work(loop, running_work, NULL, running_done, lk));
    for (int i = 0; i < 2000 && !atomic_load(&lk->running_started); i++) {
        sleep_ms(1);
    }
    ASSERT(atomic_load(&lk->running_started));
    ASSERT_OK(cf_work(loop, queued_work, NULL, queued_done, lk));
}

static int leaky_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    leaky *lk = arg;
    lk->self = self;
    lk->loop = loop;
    open_handles(lk, loop);
    open_sleeps(lk, loop);
    open_network(lk, loop);
    open_jobs(lk, loop);
    return 0;
}

/* Stop a child the worker failed to reap, then fail. */
static void assert_reaped(int pid)
{
    ASSERT(pid > 0);
    if (kill(pid, 0) == 0 || errno != ESRCH) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CF_TEST_FAILF("the child %d was left running or unreaped", pid);
    }
}

static void test_worker_terminate_frees_every_open_handle_and_request(void)
{
    leaky lk = {0};
    ASSERT_OK(pipe(lk.fds));
    seen s = {0};
    cf_loop *loop;
    run_worker(leaky_entry, &lk, &s, &loop);
    assert_reaped(lk.pid);
    ASSERT_EQ(s.ready, 1);
    assert_clean_exit(&s, CF_WORKER_EXIT_FAILURE); /* terminated: 1, and no CF_EBUSY */
    ASSERT_EQ(lk.handled, 1);
    ASSERT_EQ(lk.sleep_status, CF_ECANCELED);
    ASSERT_EQ(lk.task_returned, 1);
    ASSERT_EQ(lk.task_sleep_status, CF_ECANCELED);
    ASSERT_EQ(lk.http_done, 2);
    ASSERT_EQ(lk.http_status, CF_ECANCELED);
    ASSERT_EQ(lk.running_done, 1);
    ASSERT_EQ(lk.running_status, 0);
    ASSERT_EQ(lk.queued_done, 1);
    ASSERT_EQ(lk.queued_status, CF_ECANCELED);
    ASSERT_EQ(atomic_load(&lk.queued_ran), 0);
    ASSERT(lk.ticks > 0); /* the timers did run before */
    /* The grace period (1 s), then the running job's end; not the child's 60 s. */
    ASSERT_LE(s.elapsed_ms, 10000);
    close(lk.fds[0]);
    close(lk.fds[1]);
    finish(loop, &s);
}

/* ---- the grace period ---- */

/* A server on the parent's loop that answers after ANSWER_MS (within the 1 s grace). */
enum { ANSWER_MS = 200 };

typedef struct slow_server {
    cf_tcp *listener;
    cf_tcp *conn;
    cf_timer *timer;
    int port;
} slow_server;

typedef struct graceful {
    cf_worker_self *self;
    int port;
    int http_done;
    int http_status;
    int http_code;
    char body[16];
} graceful;

static void answer(cf_timer *t, void *data)
{
    (void)t;
    slow_server *sv = data;
    static const char reply[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    ASSERT(cf_tcp_write_copy(sv->conn, reply, sizeof reply - 1) >= 0);
    ASSERT_OK(cf_tcp_end(sv->conn, NULL, NULL));
}

static void on_request_bytes(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                             size_t len, void *data)
{
    (void)t;
    (void)err;
    (void)bytes;
    slow_server *sv = data;
    if (status == 0 && len > 0 && !cf_timer_is_active(sv->timer))
        ASSERT_OK(cf_timer_start(sv->timer, ANSWER_MS, 0, answer, sv));
}

static void on_slow_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn,
                               void *data)
{
    (void)server;
    (void)err;
    slow_server *sv = data;
    ASSERT_OK(status);
    ASSERT(sv->conn == NULL);
    sv->conn = conn;
    ASSERT_OK(cf_tcp_read_start(conn, on_request_bytes, sv));
}

static void on_answer(cf_http_req *req, int status, const cf_error *err, cf_http_response *res,
                      void *data)
{
    (void)req;
    (void)err;
    graceful *g = data;
    g->http_done++;
    g->http_status = status;
    if (res) {
        g->http_code = cf_http_response_status(res);
        cf_buf b = cf_http_response_body(res);
        snprintf(g->body, sizeof g->body, "%.*s", (int)b.len, b.base);
    }
}

/* Start the request, then tell the parent, which terminates at once. */
static int graceful_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    graceful *g = arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", g->port);
    ASSERT_OK(cf_http_request(loop, url, NULL, on_answer, g, NULL));
    return cf_worker_parent_post_json(self, cf_json_new_string("ready", 5));
}

static void test_worker_terminate_lets_a_request_end_within_the_grace_period(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    slow_server sv = {0};
    ASSERT_OK(cf_tcp_new(loop, &sv.listener));
    ASSERT_OK(cf_tcp_listen(sv.listener, "127.0.0.1", 0, 0, 0, on_slow_connection, &sv));
    ASSERT_OK(cf_timer_new(loop, &sv.timer));
    graceful g = {.port = cf_tcp_port(sv.listener)};
    seen s = {0};
    s.t0 = now_ms();
    ASSERT_OK(cf_worker_new(loop, NULL, graceful_entry, &g, &s.w));
    ASSERT_OK(cf_worker_on_message(s.w, terminate_on_ready, &s));
    ASSERT_OK(cf_worker_on_error(s.w, on_error_cb, &s));
    ASSERT_OK(cf_worker_on_exit(s.w, on_exit_cb, &s));
    cf_tcp_unref(sv.listener); /* the parent runs until the worker has exited */
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    assert_clean_exit(&s, CF_WORKER_EXIT_FAILURE);
    ASSERT_EQ(g.http_done, 1);
    ASSERT_EQ(g.http_status, 0);
    ASSERT_EQ(g.http_code, 200);
    ASSERT_STR_EQ(g.body, "ok");
    ASSERT(s.elapsed_ms >= ANSWER_MS - 50);
    ASSERT_LE(s.elapsed_ms, 5000);
    ASSERT_OK(cf_tcp_close(sv.listener, NULL, NULL));
    ASSERT_OK(cf_timer_close(sv.timer, NULL, NULL));
    if (sv.conn)
        ASSERT_OK(cf_tcp_close(sv.conn, NULL, NULL));
    finish(loop, &s);
}

/* ---- a worker that ends by itself ---- */

typedef struct unrefd {
    cf_worker_self *self;
    int port;
} unrefd;

static void never(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)server;
    (void)status;
    (void)err;
    (void)data;
    if (conn)
        cf_tcp_close(conn, NULL, NULL);
}

static void never_tick(cf_timer *t, void *data)
{
    (void)t;
    (void)data;
}

/* Unref'd handles do not keep the loop alive; its end closes them. */
static int unrefd_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    unrefd *u = arg;
    u->self = self;
    cf_tcp *server;
    ASSERT_OK(cf_tcp_new(loop, &server));
    ASSERT_OK(cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, never, u));
    cf_tcp_unref(server);
    cf_timer *t;
    ASSERT_OK(cf_timer_new(loop, &t));
    ASSERT_OK(cf_timer_start(t, 3600 * 1000, 0, never_tick, u));
    cf_timer_unref(t);
    return 0;
}

static void test_worker_that_ends_with_unrefd_handles_exits_cleanly(void)
{
    unrefd u = {0};
    seen s = {0};
    cf_loop *loop;
    run_worker(unrefd_entry, &u, &s, &loop);
    assert_clean_exit(&s, 0);
    finish(loop, &s);
}

int main(int argc, char **argv)
{
    setenv("CF_THREADPOOL_SIZE", "1", 1); /* before the pool starts: one job at a time */
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_worker_terminate_frees_every_open_handle_and_request);
    CF_TEST(test_worker_terminate_lets_a_request_end_within_the_grace_period);
    CF_TEST(test_worker_that_ends_with_unrefd_handles_exits_cleanly);
    return CF_TEST_END();
}
