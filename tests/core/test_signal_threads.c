/*
 * Signals and one loop per thread: a process-directed signal watched by several loops, each
 * on its own thread, reaches every one of them (the registry writes to each loop's socket),
 * which is what a server of several loops relies on to shut every loop down.
 */
/* ctest-labels: core tsan */
#include <pthread.h>
#include <signal.h>

#include "harness.h"

#define NLOOPS 4

typedef struct sigloop {
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *ready;    /* shared: loops watching */
    int seen;      /* deliveries of SIGUSR2 (read by main after join) */
    int timed_out; /* the safety timer fired first */
    int rc;
    cf_signal *sig;
    cf_timer *timer;
} sigloop;

static void on_signal(cf_signal *sig, int signum, void *data)
{
    sigloop *l = data;
    l->seen += signum == SIGUSR2;
    cf_signal_close(sig, NULL, NULL);
    cf_timer_close(l->timer, NULL, NULL);
}

/* Ten seconds without the signal: stop, so that the join never hangs. */
static void on_timeout(cf_timer *t, void *data)
{
    sigloop *l = data;
    l->timed_out = 1;
    cf_signal_close(l->sig, NULL, NULL);
    cf_timer_close(t, NULL, NULL);
}

static void *run_loop(void *arg)
{
    sigloop *l = arg;
    cf_loop *loop;
    l->rc = cf_loop_new(&loop);
    if (l->rc == 0)
        l->rc = cf_signal_new(loop, &l->sig);
    if (l->rc == 0)
        l->rc = cf_signal_start(l->sig, SIGUSR2, on_signal, l);
    if (l->rc == 0)
        l->rc = cf_timer_new(loop, &l->timer);
    if (l->rc == 0)
        l->rc = cf_timer_start(l->timer, 10000, 0, on_timeout, l);
    pthread_mutex_lock(l->mu);
    (*l->ready)++;
    pthread_cond_broadcast(l->cv);
    pthread_mutex_unlock(l->mu);
    if (l->rc == 0)
        l->rc = cf_run(loop, CF_RUN_DEFAULT);
    if (loop) {
        int rc = cf_loop_close(loop);
        l->rc = l->rc ? l->rc : rc;
    }
    return NULL;
}

static void test_signal_reaches_every_loop_thread(void)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int ready = 0;
    sigloop l[NLOOPS];
    pthread_t th[NLOOPS];
    /* Blocked until every loop watches it; the threads inherit the mask, so the handler runs
     * on this thread, which runs no loop: delivery must not depend on the thread. */
    sigset_t set;
    sigset_t old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
    for (int i = 0; i < NLOOPS; i++) {
        l[i] = (sigloop){&mu, &cv, &ready, 0, 0, 0, NULL, NULL};
        ASSERT_EQ(pthread_create(&th[i], NULL, run_loop, &l[i]), 0);
    }
    pthread_mutex_lock(&mu);
    while (ready < NLOOPS) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0); /* one process-directed signal */
    for (int i = 0; i < NLOOPS; i++) {
        pthread_join(th[i], NULL);
    }
    for (int i = 0; i < NLOOPS; i++) {
        ASSERT_OK(l[i].rc);
        ASSERT_EQ(l[i].timed_out, 0);
        ASSERT_EQ(l[i].seen, 1); /* every loop, once */
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_signal_reaches_every_loop_thread);
    return CF_TEST_END();
}
