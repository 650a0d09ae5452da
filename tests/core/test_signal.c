/*
 * Signal watchers: delivery by raise() and kill(getpid()), several watchers and several
 * loops, stop restoring the old disposition, keep-alive, bad arguments.
 */
#include "harness.h"

#include <signal.h>

#include "core/internal.h"

static cf_loop *L;
static int seen[8];

static void on_signal(cf_signal *sig, int signum, void *d)
{
    int idx = (int)(intptr_t)d;
    ASSERT_EQ(cf_signal_signum(sig), signum);
    seen[idx]++;
    ASSERT_OK(cf_signal_stop(sig));
}

static void test_signal_raise_delivered(void)
{
    memset(seen, 0, sizeof seen);
    ASSERT_OK(cf_loop_new(&L));
    cf_signal *s;
    ASSERT_OK(cf_signal_new(L, &s));
    ASSERT_OK(cf_signal_start(s, SIGUSR1, on_signal, (void *)0));
    ASSERT_EQ(raise(SIGUSR1), 0); /* the handler only writes a byte: no callback yet */
    ASSERT_EQ(seen[0], 0);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* the callback stops the watcher: loop ends */
    ASSERT_EQ(seen[0], 1);
    ASSERT_OK(cf_signal_close(s, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
}

static void test_signal_kill_self_two_watchers_two_loops(void)
{
    memset(seen, 0, sizeof seen);
    cf_loop *l2;
    ASSERT_OK(cf_loop_new(&L));
    ASSERT_OK(cf_loop_new(&l2));
    cf_signal *a;
    cf_signal *b;
    cf_signal *c;
    cf_signal *other;
    ASSERT_OK(cf_signal_new(L, &a));
    ASSERT_OK(cf_signal_new(L, &b));
    ASSERT_OK(cf_signal_new(l2, &c));
    ASSERT_OK(cf_signal_new(L, &other));
    ASSERT_OK(cf_signal_start(a, SIGUSR2, on_signal, (void *)1));
    ASSERT_OK(cf_signal_start(b, SIGUSR2, on_signal, (void *)2));
    ASSERT_OK(cf_signal_start(c, SIGUSR2, on_signal, (void *)3));
    ASSERT_OK(cf_signal_start(other, SIGHUP, on_signal, (void *)4));
    cf_signal_unref(other);
    ASSERT(!cf_signal_has_ref(other));
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_run(l2, CF_RUN_DEFAULT));
    ASSERT_EQ(seen[1], 1);
    ASSERT_EQ(seen[2], 1);
    ASSERT_EQ(seen[3], 1); /* every loop sees the delivery */
    ASSERT_EQ(seen[4], 0);
    cf_signal_ref(other);
    ASSERT_OK(cf_signal_close(a, NULL, NULL));
    ASSERT_OK(cf_signal_close(b, NULL, NULL));
    ASSERT_OK(cf_signal_close(c, NULL, NULL));
    ASSERT_OK(cf_signal_close(other, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_run(l2, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
    ASSERT_OK(cf_loop_close(l2));
}

static void test_signal_stop_restores_disposition(void)
{
    ASSERT_OK(cf_loop_new(&L));
    struct sigaction sa;
    ASSERT_EQ(sigaction(SIGWINCH, NULL, &sa), 0);
    ASSERT(sa.sa_handler == SIG_DFL);
    cf_signal *s;
    ASSERT_OK(cf_signal_new(L, &s));
    ASSERT_OK(cf_signal_start(s, SIGWINCH, on_signal, (void *)5));
    ASSERT_OK(cf_signal_start(s, SIGWINCH, on_signal, (void *)5)); /* restart: same count */
    ASSERT_EQ(sigaction(SIGWINCH, NULL, &sa), 0);
    ASSERT(sa.sa_handler != SIG_DFL);
    ASSERT_OK(cf_signal_stop(s));
    ASSERT_OK(cf_signal_stop(s));
    ASSERT_EQ(sigaction(SIGWINCH, NULL, &sa), 0);
    ASSERT(sa.sa_handler == SIG_DFL);
    ASSERT_EQ(cf_signal_signum(s), 0);
    ASSERT_OK(cf_signal_close(s, NULL, NULL));
    ASSERT_EQ(cf_signal_close(s, NULL, NULL), CF_EINVAL);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
}

static void test_signal_bad_arguments(void)
{
    ASSERT_OK(cf_loop_new(&L));
    cf_signal *s;
    ASSERT_EQ(cf_signal_new(NULL, &s), CF_EINVAL);
    ASSERT_OK(cf_signal_new(L, &s));
    ASSERT_EQ(cf_signal_start(s, 0, on_signal, NULL), CF_EINVAL);
    ASSERT_EQ(cf_signal_start(s, SIGKILL, on_signal, NULL), CF_EINVAL);
    ASSERT_EQ(cf_signal_start(s, SIGSTOP, on_signal, NULL), CF_EINVAL);
    ASSERT_EQ(cf_signal_start(s, 999, on_signal, NULL), CF_EINVAL);
    ASSERT_EQ(cf_signal_start(s, SIGUSR1, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_signal_stop(NULL), CF_EINVAL);
    ASSERT_OK(cf_signal_close(s, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_signal_raise_delivered);
    CF_TEST(test_signal_kill_self_two_watchers_two_loops);
    CF_TEST(test_signal_stop_restores_disposition);
    CF_TEST(test_signal_bad_arguments);
    return CF_TEST_END();
}
