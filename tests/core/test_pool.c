/* ctest-labels: tsan */
/*
 * The thread pool: round trips, many jobs, cancellation of jobs not yet started (made
 * deterministic by occupying every worker with a job that waits for the test), the pool size
 * from CF_THREADPOOL_SIZE, wakeups outside the fault seams, and several loops on several
 * threads sharing the pool (chained jobs; bursts with cancellations), and the shutdown at
 * exit that joins the idle workers.
 */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/pool.h"
#include "util/sys.h"

#define POOL_THREADS 3

static cf_loop *L;
static pthread_t loop_thread;
static atomic_int work_runs;
static int done_calls;
static int last_status;

static void work_fn(void *d)
{
    atomic_fetch_add(&work_runs, 1);
    int *v = d;
    if (v)
        *v *= 2; /* the job's own memory */
}

static void done_cb(cf_work_req *req, int status, void *d)
{
    (void)d;
    ASSERT_PTR(req);
    ASSERT(pthread_equal(pthread_self(), loop_thread));
    last_status = status;
    done_calls++;
}

static void reset(void)
{
    atomic_store(&work_runs, 0);
    done_calls = 0;
    last_status = 1;
    loop_thread = pthread_self();
}

static void test_pool_size_from_env(void)
{
    ASSERT_EQ(cf_pool_size(), POOL_THREADS);
}

static void test_pool_round_trip(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    int value = 21;
    cf_work_req *req;
    ASSERT_OK(cf_work(L, work_fn, done_cb, &value, &req));
    ASSERT_PTR(req);
    ASSERT_EQ(done_calls, 0); /* never inside the call */
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(done_calls, 1);
    ASSERT_EQ(last_status, 0);
    ASSERT_EQ(value, 42);
    ASSERT_EQ(cf_work(NULL, work_fn, NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_work(L, NULL, NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_work_cancel(NULL), CF_EINVAL);
    ASSERT_OK(cf_work(L, work_fn, NULL, NULL, NULL)); /* no done callback */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(atomic_load(&work_runs), 2);
    ASSERT_OK(cf_loop_close(L));
}

static int chained;

static void chain_done(cf_work_req *req, int status, void *d)
{
    (void)req;
    ASSERT_OK(status);
    if (++chained < 2000)
        ASSERT_OK(cf_work(L, work_fn, chain_done, d, NULL));
}

static void test_pool_many_jobs(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    for (int i = 0; i < 5000; i++) {
        ASSERT_OK(cf_work(L, work_fn, done_cb, NULL, NULL));
    }
    chained = 0;
    ASSERT_OK(cf_work(L, work_fn, chain_done, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(done_calls, 5000);
    ASSERT_EQ(chained, 2000);
    ASSERT_EQ(atomic_load(&work_runs), 7000);
    ASSERT_OK(cf_loop_close(L));
}

/* ---- cancellation ---- */

static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;
static sem_t started;

static void blocker_fn(void *d)
{
    (void)d;
    sem_post(&started);
    pthread_mutex_lock(&gate_mutex);
    while (!gate_open) {
        pthread_cond_wait(&gate_cond, &gate_mutex);
    }
    pthread_mutex_unlock(&gate_mutex);
}

static void open_gate(void *d)
{
    (void)d;
    pthread_mutex_lock(&gate_mutex);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
}

static void count_fn(void *d)
{
    (void)d;
    atomic_fetch_add(&work_runs, 1);
}

static char order[64];

static void order_done(cf_work_req *req, int status, void *d)
{
    (void)req;
    size_t n = strlen(order);
    snprintf(order + n, sizeof order - n, "%s%s:%s", n ? " " : "", (const char *)d,
             status == CF_ECANCELED ? "canceled"
             : status == 0          ? "ok"
                                    : "?");
}

static void test_pool_cancel_not_started(void)
{
    reset();
    order[0] = '\0';
    gate_open = 0;
    sem_init(&started, 0, 0);
    ASSERT_OK(cf_loop_new(&L));
    cf_work_req *blockers[POOL_THREADS];
    for (int i = 0; i < POOL_THREADS; i++) {
        ASSERT_OK(cf_work(L, blocker_fn, NULL, NULL, &blockers[i]));
    }
    cf_work_req *victim;
    ASSERT_OK(cf_work(L, count_fn, order_done, (void *)"victim", &victim));
    ASSERT_OK(cf_work(L, count_fn, order_done, (void *)"other", NULL));
    /* Every worker is held by a blocker, so the victim cannot have started. */
    ASSERT_OK(cf_work_cancel(victim));
    ASSERT_STR_EQ(order, ""); /* never inside the call */
    for (int i = 0; i < POOL_THREADS; i++) {
        sem_wait(&started);
    }
    ASSERT_EQ(cf_work_cancel(blockers[0]), CF_EBUSY); /* running */
    ASSERT_OK(cf_set_immediate(L, open_gate, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(order, "victim:canceled other:ok");
    ASSERT_EQ(atomic_load(&work_runs), 1); /* the victim's work never ran */
    ASSERT_OK(cf_loop_close(L));
    sem_destroy(&started);
}

/*
 * The pool's eventfd wakeups are not I/O a caller asked for: they bypass the fault seams, so
 * a fault armed for the first write(2) or read(2) still waits for its target after round trips.
 */
static void test_pool_wakeups_bypass_fault_seams(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    cf__sys_fault_set(CF__SYS_WRITE, 1, CF_EIO);
    cf__sys_fault_set(CF__SYS_READ, 1, CF_EIO);
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(cf_work(L, work_fn, done_cb, NULL, NULL));
        ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    }
    ASSERT_EQ(done_calls, 3);
    ASSERT_EQ(cf__sys_fault_check(CF__SYS_WRITE), CF_EIO); /* still armed for call 1 */
    ASSERT_EQ(cf__sys_fault_check(CF__SYS_READ), CF_EIO);
    cf__sys_fault_clear();
    ASSERT_OK(cf_loop_close(L));
}

/* ---- several loops on several threads ---- */

#define THREADS 4
#define JOBS    300

typedef struct thread_ctx {
    cf_loop *loop;
    int done;
    int timers;
    atomic_int runs;
    const char *error;
} thread_ctx;

static void ctx_work(void *d)
{
    thread_ctx *c = d;
    atomic_fetch_add(&c->runs, 1);
}

static void ctx_done(cf_work_req *req, int status, void *d)
{
    (void)req;
    thread_ctx *c = d;
    if (status != 0)
        c->error = "status";
    if (++c->done < JOBS && cf_work(c->loop, ctx_work, ctx_done, c, NULL) != 0)
        c->error = "resubmit";
}

static void ctx_timer(void *d)
{
    thread_ctx *c = d;
    c->timers++;
}

static void *thread_main(void *arg)
{
    thread_ctx *c = arg;
    if (cf_loop_new(&c->loop) != 0) {
        c->error = "new";
        return NULL;
    }
    for (int i = 0; i < 8; i++) {
        if (cf_work(c->loop, ctx_work, ctx_done, c, NULL) != 0)
            c->error = "work";
    }
    if (cf_set_timeout(c->loop, 2, ctx_timer, c, NULL) != 0)
        c->error = "timer";
    if (cf_run(c->loop, CF_RUN_DEFAULT) != 0)
        c->error = "run";
    if (cf_loop_close(c->loop) != 0)
        c->error = "close";
    return NULL;
}

static void test_pool_several_loops_threads(void)
{
    static thread_ctx ctx[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&ctx[i], 0, sizeof ctx[i]);
        ASSERT_EQ(pthread_create(&th[i], NULL, thread_main, &ctx[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
        if (ctx[i].error)
            CF_TEST_FAILF("thread %d: %s", i, ctx[i].error);
        ASSERT_EQ(ctx[i].done, JOBS + 7);
        ASSERT_EQ(atomic_load(&ctx[i].runs), JOBS + 7);
        ASSERT_EQ(ctx[i].timers, 1);
    }
}

/*
 * Bursts from several loops at once, each cancelling every third of its jobs as soon as it
 * is submitted: every job completes once, cancelled exactly when cf_work_cancel said so, and
 * the work of a cancelled job never runs.
 */
#define BURST 2000

typedef struct burst_ctx burst_ctx;

typedef struct burst_job {
    burst_ctx *c;
    int i;
} burst_job;

struct burst_ctx {
    cf_loop *loop;
    burst_job jobs[BURST];
    cf_work_req *reqs[BURST];
    char cancelled[BURST];
    char seen[BURST];
    atomic_int runs;
    int done;
    int cancel_ok;
    int cancel_status;
    const char *error;
};

static void burst_work(void *d)
{
    burst_job *j = d;
    atomic_fetch_add(&j->c->runs, 1);
}

static void burst_done(cf_work_req *req, int status, void *d)
{
    (void)req;
    burst_job *j = d;
    burst_ctx *c = j->c;
    c->done++;
    if (c->seen[j->i])
        c->error = "twice";
    c->seen[j->i] = 1;
    if ((status == CF_ECANCELED) != (c->cancelled[j->i] != 0))
        c->error = "status";
    if (status == CF_ECANCELED)
        c->cancel_status++;
}

static void *burst_main(void *arg)
{
    burst_ctx *c = arg;
    burst_job *jobs = c->jobs;
    if (cf_loop_new(&c->loop) != 0) {
        c->error = "new";
        return NULL;
    }
    for (int i = 0; i < BURST; i++) {
        jobs[i].c = c;
        jobs[i].i = i;
        if (cf_work(c->loop, burst_work, burst_done, &jobs[i], &c->reqs[i]) != 0)
            c->error = "work";
        if (i % 3 == 0 && cf_work_cancel(c->reqs[i]) == 0) {
            c->cancelled[i] = 1;
            c->cancel_ok++;
        }
    }
    if (cf_run(c->loop, CF_RUN_DEFAULT) != 0)
        c->error = "run";
    if (cf_loop_close(c->loop) != 0)
        c->error = "close";
    return NULL;
}

static void test_pool_bursts_and_cancels_from_several_loops(void)
{
    static burst_ctx ctx[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&ctx[i], 0, sizeof ctx[i]);
        ASSERT_EQ(pthread_create(&th[i], NULL, burst_main, &ctx[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
        if (ctx[i].error)
            CF_TEST_FAILF("thread %d: %s", i, ctx[i].error);
        ASSERT_EQ(ctx[i].done, BURST);
        ASSERT_EQ(ctx[i].cancel_status, ctx[i].cancel_ok);
        ASSERT_EQ(atomic_load(&ctx[i].runs), BURST - ctx[i].cancel_ok);
    }
}

/* ---- shutdown at exit (runs last: the pool stays stopped) ---- */

/* The threads of this process, from /proc/self/task. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    ASSERT_PTR(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

/* Wait (bounded: 5 s) until the process has `want` threads; returns the last count seen. */
static int wait_threads(int want)
{
    int n = count_threads();
    for (int i = 0; i < 500 && n != want; i++) {
        usleep(10000);
        n = count_threads();
    }
    return n;
}

static sem_t shutdown_returned;

static void *shutdown_main(void *arg)
{
    (void)arg;
    cf__pool_shutdown();
    sem_post(&shutdown_returned);
    return NULL;
}

/*
 * What the exit-time destructor does: idle workers are joined (their threads are gone when
 * cf__pool_shutdown returns), a worker inside a job is not waited for and its job still
 * completes, later submissions are refused, and a second shutdown does nothing.
 */
static void test_pool_shutdown_joins_idle_workers(void)
{
    reset();
    gate_open = 0;
    sem_init(&started, 0, 0);
    sem_init(&shutdown_returned, 0, 0);
    ASSERT_OK(cf_loop_new(&L));
    ASSERT_OK(cf_work(L, work_fn, done_cb, NULL, NULL)); /* the pool has started */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    int before = count_threads();
    ASSERT_OK(cf_work(L, blocker_fn, done_cb, NULL, NULL));
    sem_wait(&started); /* one worker is inside a job that waits for the gate */
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, shutdown_main, NULL), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    int waited = sem_timedwait(&shutdown_returned, &until);
    if (waited != 0) /* shutdown waits for the job: open the gate so the test can end */
        open_gate(NULL);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(waited, 0);
    /* The idle workers are joined, the busy one is left running its job. */
    ASSERT_EQ(wait_threads(before - (POOL_THREADS - 1)), before - (POOL_THREADS - 1));
    ASSERT_EQ(done_calls, 1);
    ASSERT_OK(cf_set_immediate(L, open_gate, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* the running job completes normally */
    ASSERT_EQ(done_calls, 2);
    ASSERT_EQ(last_status, 0);
    ASSERT_EQ(wait_threads(before - POOL_THREADS), before - POOL_THREADS); /* it left too */
    ASSERT_EQ(cf_work(L, work_fn, done_cb, NULL, NULL), CF_ECANCELED);
    cf__pool_shutdown(); /* a second time: nothing to do */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(done_calls, 2);
    ASSERT_OK(cf_loop_close(L));
    sem_destroy(&started);
    sem_destroy(&shutdown_returned);
}

int main(int argc, char **argv)
{
    setenv("CF_THREADPOOL_SIZE", "3", 1);
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_pool_size_from_env);
    CF_TEST(test_pool_round_trip);
    CF_TEST(test_pool_many_jobs);
    CF_TEST(test_pool_cancel_not_started);
    CF_TEST(test_pool_wakeups_bypass_fault_seams);
    CF_TEST(test_pool_several_loops_threads);
    CF_TEST(test_pool_bursts_and_cancels_from_several_loops);
    CF_TEST(test_pool_shutdown_joins_idle_workers);
    return CF_TEST_END();
}
