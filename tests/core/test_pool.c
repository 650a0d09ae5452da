/* ctest-labels: tsan */
/*
 * The thread pool: round trips, many jobs, cancellation by abort signal (a job not yet started
 * is dropped, made deterministic by occupying every worker with a job that waits for the test;
 * a running one completes and reports the abort; an aborted signal never starts a job; a
 * timeout signal; no reference left on the signal), the pool size
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

static void done_cb(int status, const cf_error *err, void *d)
{
    (void)d;
    ASSERT_EQ(err != NULL, status != 0); /* an error exactly on failure */
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
    ASSERT_OK(cf_work(L, work_fn, NULL, done_cb, &value));
    ASSERT_EQ(done_calls, 0); /* never inside the call */
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(done_calls, 1);
    ASSERT_EQ(last_status, 0);
    ASSERT_EQ(value, 42);
    ASSERT_EQ(cf_work(NULL, work_fn, NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_work(L, NULL, NULL, NULL, NULL), CF_EINVAL);
    ASSERT_OK(cf_work(L, work_fn, NULL, NULL, NULL)); /* no done callback */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(atomic_load(&work_runs), 2);
    ASSERT_OK(cf_loop_close(L));
}

static int chained;

static void chain_done(int status, const cf_error *err, void *d)
{
    (void)err;
    ASSERT_OK(status);
    if (++chained < 2000)
        ASSERT_OK(cf_work(L, work_fn, NULL, chain_done, d));
}

static void test_pool_many_jobs(void)
{
    reset();
    ASSERT_OK(cf_loop_new(&L));
    for (int i = 0; i < 5000; i++) {
        ASSERT_OK(cf_work(L, work_fn, NULL, done_cb, NULL));
    }
    chained = 0;
    ASSERT_OK(cf_work(L, work_fn, NULL, chain_done, NULL));
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
static int causes[8]; /* the cause's code of each aborted job, in order */
static int ncauses;

static void order_done(int status, const cf_error *err, void *d)
{
    ASSERT_EQ(err != NULL, status != 0);
    size_t n = strlen(order);
    snprintf(order + n, sizeof order - n, "%s%s:%s", n ? " " : "", (const char *)d,
             status == CF_ECANCELED ? "canceled"
             : status == 0          ? "ok"
                                    : "?");
    if (status == CF_ECANCELED && ncauses < 8) {
        ASSERT_STR_EQ(cf_error_message(err), "The operation was aborted");
        ASSERT_PTR(err->file); /* the line that called cf_work */
        ASSERT_PTR(cf_error_cause(err));
        causes[ncauses++] = cf_error_cause(err)->code;
    }
}

/* Occupy every worker with a job that waits for the gate; returns once all have started. */
static void fill_pool(void)
{
    gate_open = 0;
    sem_init(&started, 0, 0);
    int n = cf_pool_size();
    ASSERT_EQ(n, POOL_THREADS);
    for (int i = 0; i < n; i++) {
        ASSERT_OK(cf_work(L, blocker_fn, NULL, NULL, NULL));
    }
    for (int i = 0; i < n; i++) {
        sem_wait(&started);
    }
}

static void reset_order(void)
{
    reset();
    order[0] = '\0';
    ncauses = 0;
}

/* A job queued behind busy workers is dropped when its signal aborts: its work never runs. */
static void test_pool_abort_drops_queued_job(void)
{
    reset_order();
    ASSERT_OK(cf_loop_new(&L));
    fill_pool();
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_work(L, count_fn, cf_abort_get_signal(ctrl), order_done, (void *)"victim"));
    ASSERT_OK(cf_work(L, count_fn, NULL, order_done, (void *)"other"));
    /* Every worker is held by a blocker, so the victim cannot have started. */
    ASSERT_OK(cf_abort(ctrl, CF_ERROR(CF_EPERM, "stop")));
    ASSERT_STR_EQ(order, ""); /* never inside cf_abort */
    ASSERT_OK(cf_set_immediate(L, open_gate, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(order, "victim:canceled other:ok");
    ASSERT_EQ(ncauses, 1);
    ASSERT_EQ(causes[0], CF_EPERM);        /* the reason, as the cause */
    ASSERT_EQ(atomic_load(&work_runs), 1); /* the victim's work never ran */
    cf_abort_free(ctrl); /* the job kept no reference: the harness counts blocks */
    ASSERT_OK(cf_loop_close(L));
    sem_destroy(&started);
}

/* A signal that is already aborted: the job never starts and fails from the loop. */
static void test_pool_abort_already_aborted(void)
{
    reset_order();
    ASSERT_OK(cf_loop_new(&L));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    ASSERT_OK(cf_abort(ctrl, NULL));
    ASSERT_OK(cf_work(L, count_fn, cf_abort_get_signal(ctrl), order_done, (void *)"late"));
    ASSERT_STR_EQ(order, ""); /* not inside the call */
    cf_abort_free(ctrl);      /* the job holds its own reference meanwhile */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(order, "late:canceled");
    ASSERT_EQ(causes[0], CF_ECANCELED); /* the default reason */
    ASSERT_EQ(atomic_load(&work_runs), 0);
    ASSERT_OK(cf_loop_close(L));
}

static atomic_int running_value;

static void slow_double(void *d)
{
    int *v = d;
    sem_post(&started);
    pthread_mutex_lock(&gate_mutex);
    while (!gate_open) {
        pthread_cond_wait(&gate_cond, &gate_mutex);
    }
    pthread_mutex_unlock(&gate_mutex);
    *v *= 2;
    atomic_store(&running_value, *v);
}

/* The running job's callback: its value must be doubled already (the work ran to its end). */
static void running_done(int status, const cf_error *err, void *d)
{
    ASSERT_EQ(*(int *)d, 42);
    order_done(status, err, (void *)"running");
}

static void abort_then_open(void *d)
{
    cf_abort(d, NULL);
    open_gate(NULL);
}

/* A job aborted while it runs completes (its effect stays) and then reports the abort. */
static void test_pool_abort_running_job_completes(void)
{
    reset_order();
    gate_open = 0;
    sem_init(&started, 0, 0);
    ASSERT_OK(cf_loop_new(&L));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    int value = 21;
    ASSERT_OK(cf_work(L, slow_double, cf_abort_get_signal(ctrl), running_done, &value));
    sem_wait(&started); /* it runs */
    ASSERT_OK(cf_set_immediate(L, abort_then_open, ctrl, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(order, "running:canceled"); /* reported once, as aborted */
    ASSERT_EQ(ncauses, 1);
    ASSERT_EQ(causes[0], CF_ECANCELED);
    ASSERT_EQ(value, 42); /* the work ran to its end */
    ASSERT_EQ(atomic_load(&running_value), 42);
    ASSERT_OK(cf_abort(ctrl, NULL)); /* after completion: nothing listens, nothing happens */
    ASSERT_EQ(ncauses, 1);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(L));
    sem_destroy(&started);
}

static void sleep_work(void *d)
{
    (void)d;
    usleep(200 * 1000);
    atomic_fetch_add(&work_runs, 1);
}

/* cf_abort_signal_timeout aborts a job that sleeps: reported once it returns, cause ETIMEDOUT. */
static void test_pool_abort_timeout_signal(void)
{
    reset_order();
    ASSERT_OK(cf_loop_new(&L));
    cf_abort_signal *deadline;
    ASSERT_OK(cf_abort_signal_timeout(L, 30, &deadline));
    uint64_t t0 = cf_now(L);
    ASSERT_OK(cf_work(L, sleep_work, deadline, order_done, (void *)"slow"));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(order, "slow:canceled");
    ASSERT_EQ(causes[0], CF_ETIMEDOUT);
    ASSERT_EQ(atomic_load(&work_runs), 1); /* it ran to its end */
    ASSERT_GE(cf_now(L) - t0, 150);        /* and was waited for */
    cf_abort_signal_release(deadline);
    ASSERT_OK(cf_loop_close(L));
}

/* After completion the job holds nothing of its signal: the signal aborting later is harmless. */
static void test_pool_signal_outlives_job(void)
{
    reset_order();
    ASSERT_OK(cf_loop_new(&L));
    cf_abort_controller *ctrl;
    ASSERT_OK(cf_abort_new(&ctrl));
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(cf_work(L, count_fn, cf_abort_get_signal(ctrl), done_cb, NULL));
    }
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(done_calls, 100);
    ASSERT_EQ(last_status, 0);
    ASSERT_OK(cf_abort(ctrl, NULL)); /* no listener is left to run */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(done_calls, 100);
    cf_abort_free(ctrl);
    ASSERT_OK(cf_loop_close(L));
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
        ASSERT_OK(cf_work(L, work_fn, NULL, done_cb, NULL));
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

static void ctx_done(int status, const cf_error *err, void *d)
{
    (void)err;
    thread_ctx *c = d;
    if (status != 0)
        c->error = "status";
    if (++c->done < JOBS && cf_work(c->loop, ctx_work, NULL, ctx_done, c) != 0)
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
        if (cf_work(c->loop, ctx_work, NULL, ctx_done, c) != 0)
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
 * Bursts from several loops at once, each aborting every third of its jobs as soon as it is
 * submitted: every job completes once, with CF_ECANCELED exactly when it was aborted, and the
 * work of every job that was not aborted runs (an aborted one runs only if a worker had taken
 * it already).
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
    cf_abort_controller *ctrls[BURST];
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

static void burst_done(int status, const cf_error *err, void *d)
{
    (void)err;
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
        c->ctrls[i] = NULL;
        if (i % 3 == 0 && cf_abort_new(&c->ctrls[i]) != 0)
            c->error = "abort_new";
        if (cf_work(c->loop, burst_work, cf_abort_get_signal(c->ctrls[i]), burst_done, &jobs[i]) !=
            0)
            c->error = "work";
        if (c->ctrls[i]) {
            cf_abort(c->ctrls[i], NULL);
            c->cancelled[i] = 1;
            c->cancel_ok++;
        }
    }
    if (cf_run(c->loop, CF_RUN_DEFAULT) != 0)
        c->error = "run";
    for (int i = 0; i < BURST; i++) {
        cf_abort_free(c->ctrls[i]);
    }
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
        ASSERT_GE(atomic_load(&ctx[i].runs), BURST - ctx[i].cancel_ok);
        ASSERT_LE(atomic_load(&ctx[i].runs), BURST);
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
    ASSERT_OK(cf_work(L, work_fn, NULL, done_cb, NULL)); /* the pool has started */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    int before = count_threads();
    ASSERT_OK(cf_work(L, blocker_fn, NULL, done_cb, NULL));
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
    ASSERT_EQ(cf_work(L, work_fn, NULL, done_cb, NULL), CF_ECANCELED);
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
    CF_TEST(test_pool_abort_drops_queued_job);
    CF_TEST(test_pool_abort_already_aborted);
    CF_TEST(test_pool_abort_running_job_completes);
    CF_TEST(test_pool_abort_timeout_signal);
    CF_TEST(test_pool_signal_outlives_job);
    CF_TEST(test_pool_wakeups_bypass_fault_seams);
    CF_TEST(test_pool_several_loops_threads);
    CF_TEST(test_pool_bursts_and_cancels_from_several_loops);
    CF_TEST(test_pool_shutdown_joins_idle_workers);
    return CF_TEST_END();
}
