/*
 * The adaptive spin for posts (cf_loop_set_post_spin): a loop in a quick exchange with another
 * thread waits for the next post awake; a loop whose posts come slowly sleeps at once; 0 turns
 * the spin off. The spin is seen through the testing build's count of polls made spinning.
 */
/* ctest-labels: tsan */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "calcifer/metrics.h"
#include "calcifer/watch.h"

#include "core/internal.h"

typedef struct pingpong {
    cf_loop *a;
    cf_remote *to_a;
    cf_remote *a_keep;
    cf_remote *to_b;
    cf_remote *b_keep;
    long count;     /* round trips done */
    long n;         /* round trips to make */
    long slow_from; /* from this round trip on, the echo takes 5 ms */
    uint64_t polls_at[3];
    long mark[3];          /* record A's spinning polls after these round trips */
    cf_loop_elu elu_start; /* after the first round trip */
    double quick_elu;      /* the utilization over the quick round trips (to mark[0]) */
    atomic_int b_ready;
    unsigned b_spin; /* cf_loop_set_post_spin of the echo loop */
} pingpong;

static void on_b(cf_loop *loop, int status, void *data);

static void on_a(cf_loop *loop, int status, void *data)
{
    pingpong *pp = data;
    ASSERT_OK(status);
    pp->count++;
    if (pp->count == 1)
        pp->elu_start = cf_loop_utilization(loop, NULL);
    if (pp->count == pp->mark[0])
        pp->quick_elu = cf_loop_utilization(loop, &pp->elu_start).utilization;
    for (int i = 0; i < 3; i++) {
        if (pp->count == pp->mark[i])
            pp->polls_at[i] = loop->busy_polls;
    }
    if (pp->count < pp->n) {
        ASSERT_OK(cf_remote_post(pp->to_b, on_b, pp));
        return;
    }
    cf_remote_release(pp->b_keep);
    pp->b_keep = NULL;
    cf_remote_release(pp->a_keep);
    pp->a_keep = NULL;
}

static void on_b(cf_loop *loop, int status, void *data)
{
    (void)loop;
    pingpong *pp = data;
    ASSERT_OK(status);
    if (pp->count >= pp->slow_from) {
        struct timespec ts = {0, 5 * 1000000}; /* a slow answer: 5 ms */
        nanosleep(&ts, NULL);
    }
    ASSERT_OK(cf_remote_post(pp->to_a, on_a, pp));
}

static void *echo_thread(void *arg)
{
    pingpong *pp = arg;
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_set_post_spin(loop, pp->b_spin));
    ASSERT_OK(cf_remote_new(loop, 0, &pp->to_b));
    ASSERT_OK(cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &pp->b_keep));
    atomic_store(&pp->b_ready, 1);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    cf_remote_release(pp->to_b);
    ASSERT_OK(cf_loop_close(loop));
    return NULL;
}

/* `n` round trips between the loop `pp->a` and an echo loop on another thread. */
static void exchange(pingpong *pp)
{
    ASSERT_OK(cf_remote_new(pp->a, 0, &pp->to_a));
    ASSERT_OK(cf_remote_new(pp->a, CF_REMOTE_KEEP_ALIVE, &pp->a_keep));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, echo_thread, pp), 0);
    while (!atomic_load(&pp->b_ready)) {
        sched_yield();
    }
    ASSERT_OK(cf_remote_post(pp->to_b, on_b, pp));
    ASSERT_OK(cf_run(pp->a, CF_RUN_DEFAULT));
    ASSERT_EQ(pp->count, pp->n);
    pthread_join(th, NULL);
    cf_remote_release(pp->to_a);
}

static void test_post_spin_arguments(void)
{
    ASSERT_EQ(cf_loop_set_post_spin(NULL, 10), CF_EINVAL);
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_EQ(cf_loop_set_post_spin(loop, CF_LOOP_POST_SPIN_MAX + 1), CF_EINVAL);
    ASSERT_OK(cf_loop_set_post_spin(loop, CF_LOOP_POST_SPIN_MAX));
    ASSERT_OK(cf_loop_set_post_spin(loop, 0));
    ASSERT_OK(cf_loop_close(loop));
}

/*
 * Quick round trips turn the spin on (the loop polls awake while it waits for the echo);
 * when the echo turns slow, the spin goes off within a few messages and stays off. "Quick" is
 * under the ceiling: the largest one here (1 ms), so that a loaded machine or a sanitizer
 * that slows each round trip to tens of microseconds still counts as quick, and the slow
 * echo takes 5 ms.
 */
static void test_post_spin_follows_the_exchange(void)
{
    pingpong pp = {.n = 2060, .slow_from = 2000, .mark = {1000, 2010, 2060}};
    pp.b_spin = CF_LOOP_POST_SPIN_DEFAULT;
    ASSERT_OK(cf_loop_new(&pp.a));
    ASSERT_OK(cf_loop_set_post_spin(pp.a, CF_LOOP_POST_SPIN_MAX));
    exchange(&pp);
    ASSERT(pp.polls_at[0] > 0); /* the quick exchange spun */
    /* Spinning for a post is waiting: the loop, which only echoes, is mostly idle. */
    fprintf(stderr, "# utilization over the quick round trips: %.2f\n", pp.quick_elu);
    ASSERT(pp.quick_elu < 0.6);
    /* The slow echo: the waits measured grow past the ceiling; the last 50 sleep at once. */
    ASSERT_EQ(pp.polls_at[2], pp.polls_at[1]);
    ASSERT_OK(cf_loop_close(pp.a));
}

typedef struct ticks {
    cf_loop *loop;
    int n;
    uint64_t polls_at_3;
} ticks;

static void tick(void *data)
{
    ticks *t = data;
    if (++t->n == 3)
        t->polls_at_3 = t->loop->busy_polls;
    if (t->n < 20)
        ASSERT_OK(cf_set_timeout(t->loop, 5, tick, t, NULL));
}

/*
 * After a quick exchange the posts stop, and the loop only waits for timers: the first wait
 * whose spin finds no post turns the spin off, instead of spinning in every idle moment.
 */
static void test_post_spin_goes_off_when_posts_stop(void)
{
    pingpong pp = {.n = 1000, .slow_from = 1000000, .mark = {1000}};
    pp.b_spin = CF_LOOP_POST_SPIN_DEFAULT;
    ASSERT_OK(cf_loop_new(&pp.a));
    ASSERT_OK(cf_loop_set_post_spin(pp.a, CF_LOOP_POST_SPIN_MAX));
    exchange(&pp);
    ASSERT(pp.polls_at[0] > 0); /* the quick exchange spun */
    ticks t = {.loop = pp.a};
    ASSERT_OK(cf_set_timeout(pp.a, 5, tick, &t, NULL));
    ASSERT_OK(cf_run(pp.a, CF_RUN_DEFAULT));
    ASSERT_EQ(t.n, 20);
    ASSERT_EQ(pp.a->busy_polls, t.polls_at_3); /* the last 17 waits slept at once */
    ASSERT_OK(cf_loop_close(pp.a));
}

/* Posts that come slowly from the start never turn the spin on. */
static void test_post_spin_stays_off_for_slow_posts(void)
{
    pingpong pp = {.n = 30, .slow_from = 0, .mark = {30}};
    pp.b_spin = CF_LOOP_POST_SPIN_DEFAULT;
    ASSERT_OK(cf_loop_new(&pp.a));
    ASSERT_OK(cf_loop_set_post_spin(pp.a, CF_LOOP_POST_SPIN_MAX));
    exchange(&pp);
    ASSERT_EQ(pp.polls_at[0], 0);
    ASSERT_OK(cf_loop_close(pp.a));
}

/* 0 turns it off: quick round trips, and the loop sleeps in every wait. */
static void test_post_spin_off(void)
{
    pingpong pp = {.n = 1000, .slow_from = 1000000, .mark = {1000}};
    ASSERT_OK(cf_loop_new(&pp.a));
    ASSERT_OK(cf_loop_set_post_spin(pp.a, 0));
    exchange(&pp);
    ASSERT_EQ(pp.polls_at[0], 0);
    ASSERT_OK(cf_loop_close(pp.a));
}

/* ---- the clock of a post found spinning ---- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct late_post {
    cf_remote *remote;
    uint64_t lag_ms;   /* the real clock minus cf_now in the post's callback */
    uint64_t fired_at; /* when the 100 ms timeout set by the post ran */
    uint64_t set_at;
} late_post;

static void on_late_timeout(void *data)
{
    late_post *lp = data;
    lp->fired_at = mono_ms();
}

static void on_late_post(cf_loop *loop, int status, void *data)
{
    ASSERT_OK(status);
    late_post *lp = data;
    lp->set_at = mono_ms();
    lp->lag_ms = lp->set_at - cf_now(loop);
    ASSERT_OK(cf_set_timeout(loop, 100, on_late_timeout, lp, NULL));
    cf_remote_release(lp->remote); /* the keep-alive reference: the loop ends after the timeout */
    lp->remote = NULL;
}

static void *post_after_300ms(void *arg)
{
    late_post *lp = arg;
    struct timespec ts = {0, 300 * 1000000}; /* the loop spins meanwhile */
    nanosleep(&ts, NULL);
    ASSERT_OK(cf_remote_post(lp->remote, on_late_post, lp));
    return NULL;
}

/*
 * A post found by a spin (no wait returned to move the clock) sees the time it runs at: a
 * timeout it sets lasts its whole delay, as in any I/O callback.
 */
static void test_post_found_spinning_sees_the_current_time(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_set_busy_poll(loop, CF_LOOP_BUSY_POLL_MAX)); /* spins past the post */
    late_post lp = {0};
    ASSERT_OK(cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &lp.remote));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, post_after_300ms, &lp), 0);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    pthread_join(th, NULL);
    ASSERT(loop->busy_polls > 1); /* the post was found spinning */
    ASSERT_LE(lp.lag_ms, 50);     /* not the 300 ms the spin lasted */
    ASSERT_GE(lp.fired_at - lp.set_at, 99);
    ASSERT_OK(cf_loop_close(loop));
}

/* ---- a stream of posts does not keep the fds from being polled ---- */

typedef struct flood {
    cf_loop *loop;
    cf_remote *remote; /* keep-alive: the loop runs until the flooder lets go */
    atomic_long ran;   /* posts run by the loop */
    atomic_int stop;   /* set when the pipe's watcher ran */
    int timed_out;     /* the flooder gave up: the watcher never ran while it posted */
    int pipe_fd[2];
    long ran_at_watch; /* posts run when the watcher ran */
    cf_watch *watch;
} flood;

static void on_flood_post(cf_loop *loop, int status, void *data)
{
    (void)loop;
    flood *f = data;
    if (status < 0)
        return;
    /* A callback slower than a post: the poster stays ahead, and every look at the mailbox
     * finds posts waiting. */
    struct timespec t0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2000);
    /* Once the stream is going, the pipe becomes readable; the loop must see it. */
    if (atomic_fetch_add(&f->ran, 1) + 1 == 1000)
        ASSERT_EQ(write(f->pipe_fd[1], "x", 1), 1);
}

static void on_flood_readable(cf_watch *w, unsigned events, void *data)
{
    flood *f = data;
    ASSERT(events & CF_WATCH_READABLE);
    f->ran_at_watch = atomic_load(&f->ran);
    atomic_store(&f->stop, 1);
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
}

static void *flooder(void *arg)
{
    flood *f = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long posted = 0;
    while (!atomic_load(&f->stop)) {
        /* At most 1024 posts ahead of the loop: memory stays small whatever the speeds. */
        if (posted - atomic_load(&f->ran) < 1024) {
            ASSERT_OK(cf_remote_post(f->remote, on_flood_post, f));
            posted++;
            continue;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 5) { /* the loop never polled its fds */
            f->timed_out = 1;
            break;
        }
        sched_yield();
    }
    cf_remote_release(f->remote);
    return NULL;
}

/*
 * The spin looks at the mailbox before it polls the fds; a stream of posts that never lets the
 * look come back empty must still leave room for the fds (at least every eighth spin).
 */
static void test_post_stream_leaves_room_for_fds(void)
{
    flood f = {0};
    ASSERT_OK(cf_loop_new(&f.loop));
    ASSERT_OK(cf_loop_set_busy_poll(f.loop, CF_LOOP_BUSY_POLL_MAX));
    ASSERT_EQ(pipe(f.pipe_fd), 0);
    ASSERT_OK(cf_watch_new(f.loop, f.pipe_fd[0], &f.watch));
    ASSERT_OK(cf_watch_start(f.watch, CF_WATCH_READABLE, on_flood_readable, &f));
    ASSERT_OK(cf_remote_new(f.loop, CF_REMOTE_KEEP_ALIVE, &f.remote));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, flooder, &f), 0);
    ASSERT_OK(cf_run(f.loop, CF_RUN_DEFAULT));
    pthread_join(th, NULL);
    ASSERT_EQ(f.timed_out, 0);
    ASSERT_GE(f.ran_at_watch, 1000);
    /* At most 1025 posts wait at any time, a spin runs them at most twice (its look, its end),
     * and the fds are polled by the eighth spin in a row at the latest: 17 batches after the
     * one that wrote to the pipe. Measured: about 15,000; with no bound, hundreds of
     * thousands or never. */
    ASSERT_LE(f.ran_at_watch, 1000 + 18 * 1025);
    close(f.pipe_fd[0]);
    close(f.pipe_fd[1]);
    ASSERT_OK(cf_loop_close(f.loop));
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_post_spin_arguments);
    CF_TEST(test_post_spin_follows_the_exchange);
    CF_TEST(test_post_spin_stays_off_for_slow_posts);
    CF_TEST(test_post_spin_goes_off_when_posts_stop);
    CF_TEST(test_post_spin_off);
    CF_TEST(test_post_found_spinning_sees_the_current_time);
    CF_TEST(test_post_stream_leaves_room_for_fds);
    return CF_TEST_END();
}
