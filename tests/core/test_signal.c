/*
 * Signal watchers: delivery by raise() and kill(getpid()), several watchers and several
 * loops, several listeners of one signal in start order, stop restoring the old disposition,
 * the handle shape (close callback, ref, is_active), bad arguments.
 */
#include "harness.h"

#include <signal.h>

#include "core/internal.h"

#define S(lit) ((void *)(lit))

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
    ASSERT_EQ(cf_signal_close(s, NULL, NULL), CF_ECLOSED);
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

/* ---- several listeners per signal (≈ process.on adds one) ---- */

static char order[64];
static volatile sig_atomic_t prior_hits;

static void prior_handler(int signum)
{
    (void)signum;
    prior_hits++;
}

static void listen_log(cf_signal *sig, int signum, void *d)
{
    (void)sig;
    ASSERT_EQ(signum, SIGUSR1);
    size_t n = strlen(order);
    snprintf(order + n, sizeof order - n, "%s", (const char *)d);
}

/* Raise SIGUSR1 and run the loop once: the byte is read in that iteration's poll phase. */
static void deliver_usr1(void)
{
    order[0] = '\0';
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    ASSERT(cf_run(L, CF_RUN_ONCE) >= 0); /* >0: the listeners are still started */
}

static void test_signal_two_listeners_in_start_order(void)
{
    ASSERT_OK(cf_loop_new(&L));
    /* The process had its own handler before: it comes back after the last listener. */
    struct sigaction mine;
    struct sigaction old;
    struct sigaction now;
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = prior_handler;
    sigemptyset(&mine.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &mine, &old), 0);
    prior_hits = 0;
    cf_signal *a;
    cf_signal *b;
    ASSERT_OK(cf_signal_new(L, &a));
    ASSERT_OK(cf_signal_new(L, &b));
    ASSERT_OK(cf_signal_start(b, SIGUSR1, listen_log, S("b")));
    ASSERT_OK(cf_signal_start(a, SIGUSR1, listen_log, S("a")));
    deliver_usr1();
    ASSERT_STR_EQ(order, "ba"); /* both, in the order started */
    ASSERT_EQ(prior_hits, 0);   /* the listeners replaced the process's handler */
    /* A restarted listener goes last; the other one keeps listening. */
    ASSERT_OK(cf_signal_start(b, SIGUSR1, listen_log, S("B")));
    deliver_usr1();
    ASSERT_STR_EQ(order, "aB");
    /* Stopping one leaves the other, and the disposition stays the library's. */
    ASSERT_OK(cf_signal_stop(a));
    ASSERT(cf_signal_is_active(b));
    deliver_usr1();
    ASSERT_STR_EQ(order, "B");
    ASSERT_EQ(sigaction(SIGUSR1, NULL, &now), 0);
    ASSERT(now.sa_handler != prior_handler);
    /* Closing the last one restores the handler the process had. */
    ASSERT_OK(cf_signal_close(b, NULL, NULL));
    ASSERT_EQ(sigaction(SIGUSR1, NULL, &now), 0);
    ASSERT(now.sa_handler == prior_handler);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(prior_hits, 1);
    ASSERT_OK(cf_signal_close(a, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(order, "B");
    ASSERT_EQ(sigaction(SIGUSR1, &old, NULL), 0);
    ASSERT_OK(cf_loop_close(L));
}

/* One listener closing another from its callback: the closed one is not called. */
static cf_signal *victim_sig;

static void close_victim(cf_signal *sig, int signum, void *d)
{
    listen_log(sig, signum, d);
    ASSERT_OK(cf_signal_close(victim_sig, NULL, NULL));
}

static void test_signal_listener_closes_the_next(void)
{
    ASSERT_OK(cf_loop_new(&L));
    cf_signal *first;
    cf_signal *third;
    ASSERT_OK(cf_signal_new(L, &first));
    ASSERT_OK(cf_signal_new(L, &victim_sig));
    ASSERT_OK(cf_signal_new(L, &third));
    ASSERT_OK(cf_signal_start(first, SIGUSR1, close_victim, S("1")));
    ASSERT_OK(cf_signal_start(victim_sig, SIGUSR1, listen_log, S("2")));
    ASSERT_OK(cf_signal_start(third, SIGUSR1, listen_log, S("3")));
    deliver_usr1();
    ASSERT_STR_EQ(order, "13");
    ASSERT_OK(cf_signal_close(first, NULL, NULL));
    ASSERT_OK(cf_signal_close(third, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    struct sigaction now;
    ASSERT_EQ(sigaction(SIGUSR1, NULL, &now), 0);
    ASSERT(now.sa_handler == SIG_DFL);
    ASSERT_OK(cf_loop_close(L));
}

/* ---- the handle shape ---- */

static int sig_closed;

static void on_sig_closed(void *d)
{
    ASSERT(d == &sig_closed);
    sig_closed++;
}

static void test_signal_close_callback_ref_active(void)
{
    ASSERT_OK(cf_loop_new(&L));
    sig_closed = 0;
    cf_signal *s;
    ASSERT_OK(cf_signal_new(L, &s));
    ASSERT(!cf_signal_is_active(s));
    ASSERT(cf_signal_has_ref(s));
    ASSERT(!cf_signal_is_active(NULL));
    ASSERT(!cf_signal_has_ref(NULL));
    cf_signal_ref(NULL);
    cf_signal_unref(NULL);
    /* Unref'd: started, it does not keep the loop alive; the setting survives a restart. */
    cf_signal_unref(s);
    ASSERT_OK(cf_signal_start(s, SIGUSR1, listen_log, S("u")));
    ASSERT(cf_signal_is_active(s));
    ASSERT(!cf_signal_has_ref(s));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* returns at once: nothing referenced */
    ASSERT_OK(cf_signal_start(s, SIGUSR1, listen_log, S("u")));
    ASSERT(!cf_signal_has_ref(s));
    cf_signal_ref(s);
    cf_signal_ref(s);
    ASSERT(cf_signal_has_ref(s));
    ASSERT(cf_run(L, CF_RUN_NOWAIT) > 0); /* ref'd and started: work remains */
    ASSERT_OK(cf_signal_stop(s));
    ASSERT(!cf_signal_is_active(s));
    ASSERT_OK(cf_signal_start(s, SIGUSR1, listen_log, S("u")));
    /* Close: the callback runs later, from the loop; a closing watcher refuses work. */
    ASSERT_OK(cf_signal_close(s, on_sig_closed, &sig_closed));
    ASSERT(!cf_signal_is_active(s));
    ASSERT_EQ(sig_closed, 0);
    ASSERT_EQ(cf_signal_start(s, SIGUSR1, listen_log, S("u")), CF_ECLOSED);
    ASSERT_EQ(cf_signal_close(s, on_sig_closed, &sig_closed), CF_ECLOSED);
    ASSERT_EQ(cf_signal_close(NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(sig_closed, 1);
    ASSERT_OK(cf_loop_close(L));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_signal_raise_delivered);
    CF_TEST(test_signal_kill_self_two_watchers_two_loops);
    CF_TEST(test_signal_stop_restores_disposition);
    CF_TEST(test_signal_bad_arguments);
    CF_TEST(test_signal_two_listeners_in_start_order);
    CF_TEST(test_signal_listener_closes_the_next);
    CF_TEST(test_signal_close_callback_ref_active);
    return CF_TEST_END();
}
