/*
 * Many loops, one per thread, side by side: every module a program uses at once (timers,
 * immediates, nextTick and microtasks, promises and tasks, the thread pool, fs, DNS, TCP, the
 * HTTP server and client, signal watchers, errors with call sites, metrics), on K threads at
 * the same time, each loop seeing only its own work. Then loops made and closed on threads
 * that come and go, which must leave nothing behind (thread-local caches included).
 *
 * Loop threads never call ASSERT (it ends the process from whichever thread fails): they
 * record their first failed check, and the main thread asserts on it after joining.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 240 */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include "harness.h"

#define LOOPS    4
#define ROUNDS   50
#define ECHO_MAX 4096
#define FAIL_LEN 256

/* ---- what a loop thread records ---- */

typedef struct lt {
    int id;
    const char *dir; /* the case's temporary folder (made by the main thread) */
    pthread_t thread;
    cf_loop *loop;
    char fail[FAIL_LEN]; /* first failed check, "" when none */
    /* the core phases */
    char order[16]; /* nextTick and microtask order: "TM" */
    int timers;
    int immediates;
    /* pool */
    int jobs_done;
    int jobs_off_thread; /* work functions that ran on a thread other than the loop's */
    uint64_t pool_jobs;  /* this loop's metrics after its own jobs */
    /* servers and signal */
    cf_tcp *echo;
    cf_http_server *http;
    cf_signal *sig;
    int signals;
    int http_served;
    int task_steps; /* steps of the task that checked out */
    char text[64];  /* bytes the task writes: borrowed by fs, so never on the task's stack */
} lt;

static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
static int ready_count;

#define CHECK(w, cond)                                                                             \
    do {                                                                                           \
        if (!(cond) && !(w)->fail[0])                                                              \
            snprintf((w)->fail, FAIL_LEN, "loop %d: line %d: %s", (w)->id, __LINE__, #cond);       \
    } while (0)

#define CHECK_OK(w, expr)                                                                          \
    do {                                                                                           \
        int rc_ = (int)(expr);                                                                     \
        if (rc_ != 0 && !(w)->fail[0])                                                             \
            snprintf((w)->fail, FAIL_LEN, "loop %d: line %d: %s: %s", (w)->id, __LINE__, #expr,    \
                     cf_err_name(rc_));                                                            \
    } while (0)

/* ---- timers, immediates, nextTick, microtasks ---- */

static void on_tick(void *data)
{
    lt *w = data;
    strcat(w->order, "T");
}

static void on_microtask(void *data)
{
    lt *w = data;
    strcat(w->order, "M");
}

static void on_timer(void *data)
{
    lt *w = data;
    w->timers++;
}

static void on_immediate(void *data)
{
    lt *w = data;
    w->immediates++;
}

/* ---- pool jobs ---- */

typedef struct job {
    lt *w;
    pthread_t loop_thread;
    int in;
    int out;
    int off_thread;
} job;

static void job_work(void *data)
{
    job *j = data;
    j->out = j->in * j->in;
    j->off_thread = !pthread_equal(pthread_self(), j->loop_thread);
}

static void job_done(int status, const cf_error *err, void *data)
{
    job *j = data;
    CHECK(j->w, status == 0 && err == NULL);
    CHECK(j->w, j->out == j->in * j->in);
    j->w->jobs_done++;
    j->w->jobs_off_thread += j->off_thread;
}

/*
 * Phase one: this loop's own jobs only, a count that differs per loop, so that its metrics
 * must report exactly its jobs while the other loops' jobs share the same workers.
 */
static void run_jobs(lt *w, int n)
{
    job jobs[16];
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){.w = w, .loop_thread = pthread_self(), .in = w->id * 100 + i};
        CHECK_OK(w, cf_work(w->loop, job_work, NULL, job_done, &jobs[i]));
    }
    CHECK_OK(w, cf_run(w->loop, CF_RUN_DEFAULT));
    cf_loop_metrics m;
    CHECK_OK(w, cf_loop_metrics_get(w->loop, &m));
    w->pool_jobs = m.pool_jobs;
}

/* ---- the TCP echo server ---- */

static void echo_end_done(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)status;
    (void)err;
    (void)data;
    cf_tcp_close(t, NULL, NULL);
}

static void echo_read(cf_tcp *t, int status, const cf_error *err, const char *bytes, size_t len,
                      void *data)
{
    (void)err;
    lt *w = data;
    if (status == CF_EOF) {
        if (cf_tcp_end(t, echo_end_done, w) != 0)
            cf_tcp_close(t, NULL, NULL);
        return;
    }
    if (status < 0) {
        cf_tcp_close(t, NULL, NULL);
        return;
    }
    CHECK_OK(w, cf_tcp_write_copy(t, bytes, len));
}

static void echo_conn(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)server;
    (void)err;
    lt *w = data;
    CHECK_OK(w, status);
    if (conn)
        CHECK_OK(w, cf_tcp_read_start(conn, echo_read, w));
}

/* ---- the HTTP server ---- */

static void http_handler(cf_http_incoming *req, cf_http_res *res, void *data)
{
    lt *w = data;
    char body[128];
    int n = snprintf(body, sizeof body, "loop %d served %s", w->id, cf_http_incoming_target(req));
    w->http_served++;
    cf_http_res_send(res, 200, "text/plain", body, (size_t)n);
}

/* ---- the signal watcher ---- */

static void on_sigusr2(cf_signal *sig, int signum, void *data)
{
    lt *w = data;
    CHECK(w, signum == SIGUSR2);
    w->signals++;
    cf_signal_close(sig, NULL, NULL);
    w->sig = NULL;
}

/* ---- the task: awaits on every I/O module in turn ---- */

static void task_fs(cf_task *task, lt *w)
{
    char path[512];
    char *text = w->text;
    snprintf(path, sizeof path, "%s/loop-%d.txt", w->dir, w->id);
    int n = snprintf(text, sizeof w->text, "written by loop %d", w->id);
    cf_loop *loop = cf_task_loop(task);
    cf_result r = cf_await(cf_fs_write_file_p(loop, path, text, (size_t)n, 0, NULL));
    CHECK_OK(w, r.status);
    r = cf_await(cf_fs_read_file_p(loop, path, NULL));
    CHECK_OK(w, r.status);
    const cf_buf *b = r.value;
    CHECK(w, b && b->len == (size_t)n && memcmp(b->base, text, (size_t)n) == 0);
    w->task_steps++;
}

static void task_dns(cf_task *task, lt *w)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    cf_result r =
        cf_await(cf_dns_getaddrinfo_p(cf_task_loop(task), "localhost", "80", &hints, NULL));
    CHECK_OK(w, r.status);
    int loopback = 0;
    for (const struct addrinfo *a = r.value; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)a->ai_addr;
            loopback += in->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
        } else if (a->ai_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const void *)a->ai_addr;
            loopback += IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        }
    }
    CHECK(w, loopback > 0);
    w->task_steps++;
}

static void task_tcp(cf_task *task, lt *w)
{
    cf_tcp *c = NULL;
    CHECK_OK(w, cf_tcp_new(cf_task_loop(task), &c));
    if (!c)
        return;
    char text[64];
    int n = snprintf(text, sizeof text, "echo through loop %d", w->id);
    cf_result r = cf_await(cf_tcp_connect_p(c, "127.0.0.1", cf_tcp_port(w->echo), NULL));
    CHECK_OK(w, r.status);
    if (r.status == 0) {
        CHECK_OK(w, cf_await(cf_tcp_write_p(c, text, (size_t)n, NULL)).status);
        CHECK_OK(w, cf_await(cf_tcp_end_p(c, NULL)).status);
        r = cf_await(cf_tcp_read_all_p(c, ECHO_MAX, NULL));
        CHECK_OK(w, r.status);
        const cf_buf *b = r.value;
        CHECK(w, b && b->len == (size_t)n && memcmp(b->base, text, (size_t)n) == 0);
        w->task_steps++;
    }
    cf_tcp_close(c, NULL, NULL);
}

static void task_http(cf_task *task, lt *w)
{
    char url[128], want[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/from-%d", cf_http_server_port(w->http), w->id);
    snprintf(want, sizeof want, "loop %d served /from-%d", w->id, w->id);
    cf_result r = cf_await(cf_http_request_p(cf_task_loop(task), url, NULL));
    CHECK_OK(w, r.status);
    if (r.status != 0)
        return;
    const cf_http_response *res = r.value;
    CHECK(w, cf_http_response_status(res) == 200);
    cf_buf body = cf_http_response_body(res);
    CHECK(w, body.len == strlen(want) && memcmp(body.base, want, body.len) == 0);
    w->task_steps++;
}

/* An operation that fails names the line of this file that started it, in every loop. */
static void task_error_site(cf_task *task, lt *w)
{
    char path[512];
    snprintf(path, sizeof path, "%s/missing-%d", w->dir, w->id);
    cf_loop *loop = cf_task_loop(task);
    cf_promise *p = cf_fs_read_file_p(loop, path, NULL);
    const int line = __LINE__ - 1; /* the line of the call above */
    cf_result r = cf_await(p);
    CHECK(w, r.status == CF_ENOENT);
    cf_site s = cf_error_site(r.error);
    CHECK(w, s.file && strstr(s.file, "test_many_loops.c"));
    CHECK(w, s.line == line);
    /*
     * One refused at once, so its error is made (and its site resolved) on the task's own
     * stack: resolving must not need a deeper stack than a task has.
     */
    cf_promise *q = cf_fs_read_file_p(loop, NULL, NULL);
    const int qline = __LINE__ - 1;
    r = cf_await(q);
    CHECK(w, r.status == CF_EINVAL);
    s = cf_error_site(r.error);
    CHECK(w, s.file && strstr(s.file, "test_many_loops.c"));
    CHECK(w, s.line == qline);
    w->task_steps++;
}

static int loop_task(cf_task *task, void *arg)
{
    lt *w = arg;
    CHECK_OK(w, cf_sleep(cf_task_loop(task), 2).status);
    task_fs(task, w);
    task_dns(task, w);
    task_tcp(task, w);
    task_http(task, w);
    task_error_site(task, w);
    /* Done with the servers; the signal watcher alone keeps the loop alive until SIGUSR2. */
    cf_tcp_close(w->echo, NULL, NULL);
    cf_http_server_close_all_connections(w->http);
    cf_http_server_close(w->http, NULL, NULL);
    return cf_task_return(task, NULL, NULL);
}

/* ---- one loop thread ---- */

static void start_servers(lt *w)
{
    CHECK_OK(w, cf_tcp_new(w->loop, &w->echo));
    CHECK_OK(w, cf_tcp_listen(w->echo, "127.0.0.1", 0, 0, 0, echo_conn, w));
    CHECK_OK(w, cf_http_server_new(w->loop, NULL, http_handler, w, &w->http));
    CHECK_OK(w, cf_http_server_listen(w->http, "127.0.0.1", 0));
    CHECK_OK(w, cf_signal_new(w->loop, &w->sig));
    CHECK_OK(w, cf_signal_start(w->sig, SIGUSR2, on_sigusr2, w));
}

static void *loop_thread(void *arg)
{
    lt *w = arg;
    int ready = 0;
    if (cf_loop_new(&w->loop) != 0) {
        snprintf(w->fail, FAIL_LEN, "loop %d: cf_loop_new failed", w->id);
        goto announce;
    }
    CHECK_OK(w, cf_loop_metrics_enable(w->loop, 1));
    run_jobs(w, 3 + 2 * w->id);

    start_servers(w);
    CHECK_OK(w, cf_next_tick(w->loop, on_tick, w));
    CHECK_OK(w, cf_queue_microtask(w->loop, on_microtask, w));
    CHECK_OK(w, cf_set_timeout(w->loop, 1, on_timer, w, NULL));
    CHECK_OK(w, cf_set_timeout(w->loop, 5, on_timer, w, NULL));
    CHECK_OK(w, cf_set_immediate(w->loop, on_immediate, w, NULL));
    cf_promise *p = cf_async(w->loop, loop_task, w);
    CHECK(w, p != NULL);
    ready = 1;
announce:
    pthread_mutex_lock(&ready_mu);
    ready_count++;
    pthread_cond_broadcast(&ready_cv);
    pthread_mutex_unlock(&ready_mu);
    if (!ready)
        return NULL;
    CHECK_OK(w, cf_run(w->loop, CF_RUN_DEFAULT));
    CHECK(w, p && cf_promise_state(p) == CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    CHECK_OK(w, cf_loop_close(w->loop));
    return NULL;
}

/*
 * K loops at once, each with its own servers, clients, jobs, task and signal watcher. The
 * main thread sends one process-directed SIGUSR2 once every loop watches it: each loop must
 * get it. Each loop's metrics count its own pool jobs exactly.
 */
static void test_many_loops_side_by_side(void)
{
    lt w[LOOPS];
    const char *dir = cf_test_tmpdir();
    ready_count = 0;
    for (int i = 0; i < LOOPS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        w[i].dir = dir;
        ASSERT_EQ(pthread_create(&w[i].thread, NULL, loop_thread, &w[i]), 0);
    }
    pthread_mutex_lock(&ready_mu);
    while (ready_count < LOOPS)
        pthread_cond_wait(&ready_cv, &ready_mu);
    pthread_mutex_unlock(&ready_mu);
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    for (int i = 0; i < LOOPS; i++)
        ASSERT_EQ(pthread_join(w[i].thread, NULL), 0);

    for (int i = 0; i < LOOPS; i++) {
        if (w[i].fail[0])
            CF_TEST_FAILF("%s", w[i].fail);
        int jobs = 3 + 2 * i;
        ASSERT_EQ(w[i].jobs_done, jobs);
        ASSERT_EQ(w[i].jobs_off_thread, jobs);
        ASSERT_EQ(w[i].pool_jobs, jobs);
        ASSERT_STR_EQ(w[i].order, "TM");
        ASSERT_EQ(w[i].timers, 2);
        ASSERT_EQ(w[i].immediates, 1);
        ASSERT_EQ(w[i].signals, 1);
        ASSERT_EQ(w[i].http_served, 1);
        ASSERT_EQ(w[i].task_steps, 5);
    }
}

/* ---- threads that come and go ---- */

typedef struct round_state {
    const char *dir;
    int round;
    char fail[FAIL_LEN];
    int id; /* for CHECK's message */
    int job_in;
    int job_out;
    int done;
    char text[32]; /* bytes the task writes: borrowed by fs, so never on the task's stack */
} round_state;

static void round_work(void *data)
{
    round_state *r = data;
    r->job_out = r->job_in + 1;
}

static void round_work_done(int status, const cf_error *err, void *data)
{
    (void)err;
    round_state *r = data;
    CHECK_OK(r, status);
    r->done++;
}

static int round_task(cf_task *task, void *arg)
{
    round_state *r = arg;
    cf_loop *loop = cf_task_loop(task);
    char path[512];
    char *text = r->text;
    snprintf(path, sizeof path, "%s/round-%d", r->dir, r->round);
    int n = snprintf(text, sizeof r->text, "round %d", r->round);
    CHECK_OK(r, cf_sleep(loop, 1).status);
    CHECK_OK(r, cf_await(cf_fs_write_file_p(loop, path, text, (size_t)n, 0, NULL)).status);
    cf_result res = cf_await(cf_fs_read_file_p(loop, path, NULL));
    CHECK_OK(r, res.status);
    const cf_buf *b = res.value;
    CHECK(r, b && b->len == (size_t)n && memcmp(b->base, text, (size_t)n) == 0);
    r->done++;
    return cf_task_return(task, NULL, NULL);
}

static void *round_thread(void *arg)
{
    round_state *r = arg;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0) {
        snprintf(r->fail, FAIL_LEN, "round %d: cf_loop_new failed", r->round);
        return NULL;
    }
    r->job_in = r->round;
    CHECK_OK(r, cf_work(loop, round_work, NULL, round_work_done, r));
    cf_promise *p = cf_async(loop, round_task, r);
    CHECK(r, p != NULL);
    CHECK_OK(r, cf_run(loop, CF_RUN_DEFAULT));
    CHECK(r, p && cf_promise_state(p) == CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    CHECK_OK(r, cf_loop_close(loop));
    return NULL;
}

/* Lines of /proc/self/maps: the process's mappings (fiber stacks and regions are some). */
static int count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    int n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

static void run_round(const char *dir, int i)
{
    round_state r;
    memset(&r, 0, sizeof r);
    r.dir = dir;
    r.round = i;
    r.id = i;
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, round_thread, &r), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    if (r.fail[0])
        CF_TEST_FAILF("round %d: %s", i, r.fail);
    ASSERT_EQ(r.done, 2);
    ASSERT_EQ(r.job_out, i + 1);
}

/*
 * Fifty times: a thread starts, makes a loop, runs a pool job and a task (fiber stack, fs on
 * the pool), closes the loop and exits. Each exiting thread gives back its fiber stacks and
 * alternate signal stack (no growth in the process's mappings), and the library's allocator
 * ends where it began (the harness; LSan checks the rest under ASan).
 */
static void test_many_loops_threads_come_and_go(void)
{
    const char *dir = cf_test_tmpdir();
    run_round(dir, 0); /* warms the pool and the process-wide caches up */
    int before = count_mappings();
    ASSERT(before > 0);
    for (int i = 1; i < ROUNDS; i++)
        run_round(dir, i);
    int after = count_mappings();
    /* Threads' stacks are cached by libc and mappings merge or split: a little slack. */
    ASSERT_LE(after, before + 8);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_many_loops_side_by_side);
    CF_TEST(test_many_loops_threads_come_and_go);
    return CF_TEST_END();
}
