/*
 * Timeouts, timers and immediates: order (due time, then start), the 1 ms minimum, timeouts
 * started in the timers phase, clearing, intervals, caller-owned timers and their handle shape
 * (close callback, ref, is_active), keep-alive of all three, refresh and hold, the heap under
 * random starts and stops, and sleeping with an abort signal. Most cases run on the fake
 * clock, which jumps to the next timer instead of sleeping, so long delays cost nothing.
 */
#include "harness.h"

#include "core/internal.h"
#include "util/alloc.h"

#define S(lit) ((void *)(lit))

static char trace[1024];
static cf_loop *L;

static void log_s(const char *s)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof trace - n, "%s%s", n ? " " : "", s);
}

static void t_log(void *d)
{
    log_s(d);
}

static void setup(int fake)
{
    trace[0] = '\0';
    ASSERT_OK(cf_loop_new(&L));
    if (fake)
        cf__clock_fake(L, 1, 1000);
}

static void teardown(void)
{
    ASSERT_OK(cf_loop_close(L));
    L = NULL;
}

static void test_timer_order_by_due_then_start(void)
{
    setup(1);
    ASSERT_OK(cf_set_timeout(L, 20, t_log, S("c20"), NULL));
    ASSERT_OK(cf_set_timeout(L, 10, t_log, S("a10"), NULL));
    ASSERT_OK(cf_set_timeout(L, 10, t_log, S("b10"), NULL));
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("x5"), NULL));
    cf__clock_advance(L, 5);
    cf_update_time(L);
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("y5"), NULL)); /* due with a10 and b10, later */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "x5 a10 b10 y5 c20");
    teardown();
}

static void test_timer_zero_is_one(void)
{
    setup(1);
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("one"), NULL));
    ASSERT_OK(cf_set_timeout(L, 0, t_log, S("zero"), NULL));
    ASSERT_OK(cf_set_timeout(L, UINT64_MAX, t_log, S("huge"), NULL)); /* > TIMEOUT_MAX: 1 */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "one zero huge");
    ASSERT_EQ(cf_now(L), 1001);
    teardown();
}

static cf_timer *zero_timer;

static void zero_cb(cf_timer *t, void *d)
{
    (void)t;
    (void)d;
    log_s("zero");
}

static void start_zero_from_timer2(void *d)
{
    log_s(d);
    ASSERT_OK(cf_timer_start(zero_timer, 0, 0, zero_cb, NULL));
    ASSERT_OK(cf_set_immediate(L, t_log, S("immediate"), NULL));
}

static void test_timer_started_in_phase_waits(void)
{
    setup(1);
    ASSERT_OK(cf_timer_new(L, &zero_timer));
    ASSERT_OK(cf_set_timeout(L, 1, start_zero_from_timer2, S("first"), NULL));
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("second"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "first second immediate zero");
    ASSERT_OK(cf_timer_close(zero_timer, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
}

static cf_timeout *victim;

static void clear_victim(void *d)
{
    log_s(d);
    cf_clear_timeout(victim);
}

static void test_timer_clear_from_timer(void)
{
    setup(1);
    ASSERT_OK(cf_set_timeout(L, 5, clear_victim, S("killer"), NULL));
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("victim"), &victim));
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("after"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "killer after");
    teardown();
}

static cf_timeout *interval;
static int interval_runs;

static void interval_cb(void *d)
{
    (void)d;
    interval_runs++;
    char buf[16];
    snprintf(buf, sizeof buf, "i%d@%d", interval_runs, (int)(cf_now(L) - 1000));
    log_s(buf);
    if (interval_runs == 3)
        cf_clear_interval(interval);
}

static void test_timer_interval_clear_after_three(void)
{
    setup(1);
    interval_runs = 0;
    ASSERT_OK(cf_set_interval(L, 10, interval_cb, NULL, &interval));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "i1@10 i2@20 i3@30");
    teardown();
}

static int handle_runs;
static int handle_data;

static void handle_cb(cf_timer *t, void *d)
{
    ASSERT(d == &handle_data);
    handle_runs++;
    if (handle_runs == 2) {
        ASSERT_EQ(cf_timer_get_repeat(t), 7);
        cf_timer_set_repeat(t, 0);
    }
}

static void test_timer_handle_repeat_again_due(void)
{
    setup(1);
    handle_runs = 0;
    cf_timer *t;
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT_EQ(cf_timer_again(t), CF_EINVAL); /* never started */
    ASSERT(!cf_timer_is_active(t));
    ASSERT_OK(cf_timer_start(t, 50, 7, handle_cb, &handle_data));
    ASSERT_EQ(cf_timer_get_due_in(t), 50);
    ASSERT_OK(cf_timer_again(t)); /* restarts with the repeat as timeout */
    ASSERT_EQ(cf_timer_get_due_in(t), 7);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(handle_runs, 2); /* the repeat was set to 0 during the second run */
    ASSERT_EQ(cf_now(L), 1014);
    ASSERT(!cf_timer_is_active(t));
    ASSERT_OK(cf_timer_again(t)); /* no repeat: nothing happens */
    ASSERT(!cf_timer_is_active(t));
    ASSERT_OK(cf_timer_start(t, 1, 0, handle_cb, &handle_data));
    ASSERT_OK(cf_timer_stop(t));
    ASSERT_OK(cf_timer_stop(t));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(handle_runs, 2);
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY); /* the handle is still open */
    ASSERT_OK(cf_timer_close(t, t_log, S("closed")));
    ASSERT_EQ(cf_timer_close(t, NULL, NULL), CF_ECLOSED);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "closed");
    teardown();
}

static void close_self_cb(cf_timer *t, void *d)
{
    log_s(d);
    ASSERT_OK(cf_timer_close(t, t_log, S("close-cb")));
}

static void test_timer_close_inside_callback(void)
{
    setup(1);
    cf_timer *t;
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT_OK(cf_timer_start(t, 3, 3, close_self_cb, S("tick")));
    ASSERT_OK(cf_set_immediate(L, t_log, S("imm"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "imm tick close-cb");
    teardown();
}

static void test_timer_unref_no_keepalive(void)
{
    setup(1);
    cf_timeout *t1;
    cf_timeout *t2;
    ASSERT_OK(cf_set_timeout(L, 100, t_log, S("unref'd"), &t1));
    cf_timeout_unref(t1);
    ASSERT(!cf_timeout_has_ref(t1));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* nothing keeps the loop alive */
    ASSERT_STR_EQ(trace, "");
    ASSERT_OK(cf_set_timeout(L, 200, t_log, S("ref'd"), &t2));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* the unref'd one fires while the loop runs */
    ASSERT_STR_EQ(trace, "unref'd ref'd");
    ASSERT_OK(cf_set_timeout(L, 100, t_log, S("again"), &t1));
    cf_timeout_unref(t1);
    cf_timeout_unref(t1);
    cf_timeout_ref(t1);
    ASSERT(cf_timeout_has_ref(t1));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "unref'd ref'd again");
    /* An unref'd timeout still pending when the loop closes is freed by the loop. */
    ASSERT_OK(cf_set_interval(L, 100, t_log, S("never"), &t1));
    cf_timeout_unref(t1);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
}

static cf_timeout *refreshed;
static int refresh_runs;

static void refresh_cb(void *d)
{
    (void)d;
    refresh_runs++;
    if (refresh_runs < 3)
        ASSERT_OK(cf_timeout_refresh(refreshed)); /* ≈ timeout.refresh() from its callback */
}

static void test_timer_js_refresh(void)
{
    setup(1);
    refresh_runs = 0;
    ASSERT_OK(cf_set_timeout(L, 4, refresh_cb, NULL, &refreshed));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(refresh_runs, 3);
    ASSERT_EQ(cf_now(L), 1012);
    teardown();
}

/* ---- the heap under random starts and stops ---- */

#define RAND_TIMERS 3000

typedef struct rt {
    cf_timer *t;
    uint64_t due;
    int order; /* start order */
    int fired;
    int stopped;
} rt;

static rt rts[RAND_TIMERS];
static int last_index;
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int start_counter;
static uint64_t run_start;

static void rand_cb(cf_timer *t, void *d)
{
    (void)t;
    rt *r = d;
    ASSERT(!r->fired);
    ASSERT(!r->stopped);
    /* Due before the run started: fired in the first timers phase; later: exactly on time. */
    ASSERT_EQ(cf_now(L), r->due > run_start ? r->due : run_start);
    if (last_index >= 0) {
        rt *p = &rts[last_index];
        ASSERT(p->due < r->due || (p->due == r->due && p->order < r->order));
    }
    r->fired = 1;
    last_index = (int)(r - rts);
}

static void test_timer_heap_random_order(void)
{
    setup(1);
    last_index = -1;
    start_counter = 0;
    for (int i = 0; i < RAND_TIMERS; i++) {
        rt *r = &rts[i];
        memset(r, 0, sizeof *r);
        ASSERT_OK(cf_timer_new(L, &r->t));
        /* Half share few durations (long lists), half are all over the place. */
        uint64_t d = (i % 2) ? rng() % 8 : rng() % 100000;
        if (i % 7 == 0) {
            cf__clock_advance(L, rng() % 5);
            cf_update_time(L);
        }
        ASSERT_OK(cf_timer_start(r->t, d, 0, rand_cb, r));
        r->due = cf_now(L) + d;
        r->order = start_counter++;
    }
    /* Random stops and restarts. */
    for (int k = 0; k < RAND_TIMERS; k++) {
        rt *r = &rts[rng() % RAND_TIMERS];
        if (rng() % 2) {
            ASSERT_OK(cf_timer_stop(r->t));
            r->stopped = 1;
        } else {
            uint64_t d = rng() % 5000;
            ASSERT_OK(cf_timer_start(r->t, d, 0, rand_cb, r));
            r->due = cf_now(L) + d;
            r->order = start_counter++;
            r->stopped = 0;
        }
    }
    run_start = cf_now(L);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    for (int i = 0; i < RAND_TIMERS; i++) {
        ASSERT_EQ(rts[i].fired, !rts[i].stopped);
        ASSERT_OK(cf_timer_close(rts[i].t, NULL, NULL));
    }
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
}

/* ---- immediates ---- */

static cf_immediate *imm_next;

static void imm_queue_more(void *d)
{
    log_s(d);
    ASSERT_OK(cf_set_immediate(L, t_log, S("queued-in-check"), NULL));
    ASSERT_OK(cf_set_timeout(L, 1, t_log, S("timer"), NULL));
    cf_clear_immediate(imm_next); /* cleared in the check phase that runs it */
    cf__clock_advance(L, 5);      /* the timer is due when the next iteration starts */
}

static void test_timer_immediates_order(void)
{
    setup(1);
    ASSERT_OK(cf_set_immediate(L, imm_queue_more, S("i1"), NULL));
    ASSERT_OK(cf_set_immediate(L, t_log, S("i2"), &imm_next));
    ASSERT_OK(cf_set_immediate(L, t_log, S("i3"), NULL));
    ASSERT_STR_EQ(trace, "");
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    /* Immediates queued in the check phase wait for the next iteration (a due timer first). */
    ASSERT_STR_EQ(trace, "i1 i3 timer queued-in-check");
    teardown();
}

static void test_timer_immediate_clear_and_unref(void)
{
    setup(0);
    cf_immediate *a;
    cf_immediate *b;
    ASSERT_OK(cf_set_immediate(L, t_log, S("a"), &a));
    ASSERT_OK(cf_set_immediate(L, t_log, S("b"), &b));
    cf_clear_immediate(a);
    cf_clear_immediate(NULL);
    cf_immediate_unref(b);
    ASSERT(!cf_immediate_has_ref(b));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* only an unref'd immediate: the loop ends */
    ASSERT_STR_EQ(trace, "");
    cf_immediate_ref(b);
    ASSERT(cf_immediate_has_ref(b));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "b");
    /* An unref'd immediate runs when something else keeps the loop going. */
    ASSERT_OK(cf_set_immediate(L, t_log, S("u"), &b));
    cf_immediate_unref(b);
    ASSERT_OK(cf_set_immediate(L, t_log, S("r"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "b u r");
    /* Dropped at close if it never ran. */
    ASSERT_OK(cf_set_immediate(L, t_log, S("dropped"), &b));
    cf_immediate_unref(b);
    teardown();
}

static void test_timer_bad_arguments_and_oom(void)
{
    setup(1);
    cf_timeout *o = NULL;
    ASSERT_EQ(cf_set_timeout(NULL, 1, t_log, NULL, &o), CF_EINVAL);
    ASSERT(o == NULL);
    ASSERT_EQ(cf_set_timeout(L, 1, NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_set_immediate(L, NULL, NULL, NULL), CF_EINVAL);
    cf_timer *t = NULL;
    ASSERT_EQ(cf_timer_new(NULL, &t), CF_EINVAL);
    ASSERT_EQ(cf_timer_start(NULL, 1, 0, NULL, NULL), CF_EINVAL);
    cf_clear_timeout(NULL);
    for (long n = 1; n < 10; n++) {
        cf__alloc_fail_after(n, 1);
        int rc = cf_set_timeout(L, 5, t_log, S("x"), NULL);
        cf__alloc_fail_after(0, 0);
        if (rc == 0)
            break;
        ASSERT_EQ(rc, CF_ENOMEM);
    }
    cf__alloc_fail_after(1, 0);
    ASSERT_EQ(cf_set_immediate(L, t_log, S("y"), NULL), CF_ENOMEM);
    cf__alloc_fail_after(0, 0);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "x");
    teardown();
}

/* ---- timeout.refresh(), hold, hasRef (Node's rules, see tests/conformance/node_rules) ---- */

static void test_timer_refresh_moves_and_keeps_ref(void)
{
    setup(1);
    cf_timeout *a;
    cf_timeout *u;
    ASSERT_OK(cf_set_timeout(L, 10, t_log, S("a"), &a));
    ASSERT_OK(cf_set_timeout(L, 10, t_log, S("b"), NULL));
    ASSERT_OK(cf_set_timeout(L, 30, t_log, S("u"), &u));
    ASSERT_OK(cf_timeout_refresh(a)); /* same instant: goes after b */
    cf_timeout_unref(u);
    cf__clock_advance(L, 5);
    cf_update_time(L);
    ASSERT_OK(cf_timeout_refresh(u)); /* due at 35 now, still unref'd */
    ASSERT(!cf_timeout_has_ref(u));
    ASSERT(cf_timeout_is_active(u));
    ASSERT_OK(cf_set_timeout(L, 28, t_log, S("m"), NULL)); /* due at 33: before u now */
    ASSERT_OK(cf_set_timeout(L, 40, t_log, S("keep"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "b a m u keep");
    ASSERT_EQ(cf_now(L), 1045);
    teardown();
}

static cf_timeout *held;
static int held_runs;

static void held_cb(void *d)
{
    (void)d;
    held_runs++;
    log_s("held");
}

static void refresh_held(void *d)
{
    (void)d;
    ASSERT(!cf_timeout_is_active(held));
    ASSERT(cf_timeout_has_ref(held)); /* as Node: hasRef() stays true after firing */
    ASSERT_OK(cf_timeout_refresh(held));
    ASSERT(cf_timeout_is_active(held));
    log_s("refresh");
}

static void test_timer_hold_refresh_after_fire(void)
{
    setup(1);
    held_runs = 0;
    ASSERT_OK(cf_set_timeout(L, 5, held_cb, NULL, &held));
    ASSERT_OK(cf_timeout_hold(held));
    ASSERT_OK(cf_timeout_hold(held)); /* idempotent */
    ASSERT_OK(cf_set_timeout(L, 20, refresh_held, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "held refresh held");
    ASSERT_EQ(cf_now(L), 1025);
    /* A fired, held timeout keeps nothing alive, and is valid until it is cleared. */
    ASSERT(!cf_timeout_is_active(held));
    ASSERT_OK(cf_run(L, CF_RUN_NOWAIT));
    ASSERT_OK(cf_timeout_refresh(held));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(held_runs, 3);
    cf_clear_timeout(held);
    ASSERT_EQ(cf_timeout_refresh(held), CF_ECLOSED); /* freed, slot not reused yet */
    /* A held timer that is never cleared goes with the loop (the harness checks the leak). */
    ASSERT_OK(cf_set_timeout(L, 5, held_cb, NULL, &held));
    ASSERT_OK(cf_timeout_hold(held));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
}

static void clear_self_held(void *d)
{
    (void)d;
    log_s("self");
    cf_clear_timeout(held); /* held, but cleared from its own callback: freed on return */
}

static void refresh_self(void *d)
{
    (void)d;
    log_s("again");
    if (++held_runs < 3)
        ASSERT_OK(cf_timeout_refresh(held));
}

static void test_timer_refresh_from_own_callback(void)
{
    setup(1);
    held_runs = 0;
    ASSERT_OK(cf_set_timeout(L, 7, refresh_self, NULL, &held)); /* not held */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "again again again");
    ASSERT_EQ(cf_now(L), 1021);
    trace[0] = '\0';
    ASSERT_OK(cf_set_timeout(L, 3, clear_self_held, NULL, &held));
    ASSERT_OK(cf_timeout_hold(held));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "self");
    ASSERT_EQ(cf_timeout_hold(held), CF_ECLOSED);
    teardown();
}

static void test_timer_refresh_bad_input(void)
{
    setup(1);
    ASSERT_EQ(cf_timeout_refresh(NULL), CF_EINVAL);
    ASSERT_EQ(cf_timeout_hold(NULL), CF_EINVAL);
    ASSERT(!cf_timeout_has_ref(NULL));
    ASSERT(!cf_timeout_is_active(NULL));
    cf_timeout_ref(NULL);
    cf_timeout_unref(NULL);
    /* A cleared timeout, and one that fired without being held: stale, refused. */
    cf_timeout *t;
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("x"), &t));
    cf_clear_timeout(t);
    ASSERT_EQ(cf_timeout_refresh(t), CF_ECLOSED);
    ASSERT_EQ(cf_timeout_hold(t), CF_ECLOSED);
    ASSERT(!cf_timeout_has_ref(t));
    ASSERT(!cf_timeout_is_active(t));
    cf_timeout_ref(t); /* ignored: must not count for keep-alive */
    cf_timeout_unref(t);
    cf_clear_timeout(t); /* twice: nothing happens */
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("fired"), &t));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "fired");
    ASSERT_EQ(cf_timeout_refresh(t), CF_ECLOSED);
    ASSERT(!cf_timeout_has_ref(t));
    cf_timeout_ref(t);
    cf_clear_timeout(t);
    ASSERT_OK(cf_run(L, CF_RUN_NOWAIT)); /* nothing re-armed, nothing kept alive */
    ASSERT_STR_EQ(trace, "fired");
    /* The slot is reused by the next timeout, which works normally. */
    cf_timeout *n;
    ASSERT_OK(cf_set_timeout(L, 5, t_log, S("next"), &n));
    ASSERT_OK(cf_timeout_refresh(n));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "fired next");
    teardown();
}

/* ---- the handle shape of cf_timer: close callback, ref, is_active ---- */

static int closed_count;

static void on_closed(void *d)
{
    closed_count++;
    log_s(d);
}

static void noop_cb(cf_timer *t, void *d)
{
    (void)t;
    (void)d;
    log_s("fired");
}

static void test_timer_handle_close_callback(void)
{
    setup(1);
    closed_count = 0;
    cf_timer *t;
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT_OK(cf_timer_start(t, 5, 5, noop_cb, NULL));
    ASSERT_EQ(cf_timer_close(NULL, on_closed, NULL), CF_EINVAL);
    ASSERT_OK(cf_timer_close(t, on_closed, S("closed")));
    ASSERT_EQ(closed_count, 0); /* never inside the close call */
    /* Closing: the handle refuses work, a second close is CF_ECLOSED and its cb never runs. */
    ASSERT(!cf_timer_is_active(t));
    ASSERT_EQ(cf_timer_close(t, on_closed, S("twice")), CF_ECLOSED);
    ASSERT_EQ(cf_timer_start(t, 1, 0, noop_cb, NULL), CF_ECLOSED);
    ASSERT_EQ(cf_timer_again(t), CF_ECLOSED);
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY); /* the close callback has not run yet */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(closed_count, 1);
    ASSERT_STR_EQ(trace, "closed"); /* the started timer never fired */
    /* A NULL callback is allowed. */
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT_OK(cf_timer_close(t, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    teardown();
}

static void test_timer_handle_ref_and_active(void)
{
    setup(1);
    cf_timer *t;
    ASSERT_OK(cf_timer_new(L, &t));
    ASSERT(!cf_timer_is_active(t));
    ASSERT(cf_timer_has_ref(t)); /* ref'd by default, in any state */
    ASSERT(!cf_timer_is_active(NULL));
    ASSERT(!cf_timer_has_ref(NULL));
    cf_timer_ref(NULL);
    cf_timer_unref(NULL);
    /* Unref'd before it starts: the setting survives the start, the loop does not wait. */
    cf_timer_unref(t);
    cf_timer_unref(t);
    ASSERT(!cf_timer_has_ref(t));
    ASSERT_OK(cf_timer_start(t, 10, 0, noop_cb, NULL));
    ASSERT(cf_timer_is_active(t));
    ASSERT(!cf_timer_has_ref(t));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, ""); /* nothing kept the loop alive */
    ASSERT(cf_timer_is_active(t));
    cf_timer_ref(t);
    ASSERT(cf_timer_has_ref(t));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "fired");
    ASSERT(!cf_timer_is_active(t)); /* a one-shot is stopped once it fired */
    ASSERT(cf_timer_has_ref(t));
    ASSERT_OK(cf_timer_start(t, 5, 0, noop_cb, NULL));
    ASSERT_OK(cf_timer_stop(t));
    ASSERT(!cf_timer_is_active(t));
    ASSERT_OK(cf_timer_close(t, NULL, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "fired");
    teardown();
}

static cf_timeout *active_iv;

static void clear_active_iv(void *d)
{
    log_s(d);
    ASSERT(cf_timeout_is_active(active_iv));
    cf_clear_interval(active_iv);
    ASSERT(!cf_timeout_is_active(active_iv));
}

static void test_timer_timeout_ref_and_active(void)
{
    setup(1);
    cf_timeout *o;
    ASSERT_OK(cf_set_timeout(L, 10, t_log, S("timeout"), &o));
    ASSERT(cf_timeout_is_active(o));
    ASSERT(cf_timeout_has_ref(o));
    cf_timeout_unref(o);
    ASSERT(!cf_timeout_has_ref(o));
    ASSERT(cf_timeout_is_active(o)); /* unref'd, still pending */
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "");
    cf_timeout_ref(o);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "timeout");
    /* An interval stays active between its runs, until cleared. */
    ASSERT_OK(cf_set_interval(L, 10, t_log, S("iv"), &active_iv));
    ASSERT_OK(cf_set_timeout(L, 25, clear_active_iv, S("clear"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "timeout iv iv clear");
    teardown();
}

static cf_immediate *self_imm;

static void imm_checks_self(void *d)
{
    log_s(d);
    /* Running: no longer queued, so it has no ref and ref() does not count it again. */
    ASSERT(!cf_immediate_has_ref(self_imm));
    cf_immediate_ref(self_imm);
    ASSERT(!cf_immediate_has_ref(self_imm));
}

/* Immediates follow the same rules as timeouts: idempotent, a finished one has no ref. */
static void test_timer_immediate_ref_rules(void)
{
    setup(1);
    cf_immediate *imm;
    ASSERT_OK(cf_set_immediate(L, t_log, S("imm"), &imm));
    ASSERT(cf_immediate_has_ref(imm));
    cf_immediate_unref(imm);
    cf_immediate_unref(imm);
    ASSERT(!cf_immediate_has_ref(imm));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* only an unref'd immediate: the loop ends */
    ASSERT_STR_EQ(trace, "");
    cf_immediate_ref(imm);
    cf_immediate_ref(imm);
    ASSERT(cf_immediate_has_ref(imm));
    ASSERT_OK(cf_set_immediate(L, imm_checks_self, S("self"), &self_imm));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "imm self");
    /* The loop ended: had ref() counted the running immediate, it would still be alive. */
    ASSERT_OK(cf_run(L, CF_RUN_NOWAIT));
    ASSERT(!cf_immediate_has_ref(NULL));
    cf_immediate_ref(NULL);
    cf_immediate_unref(NULL);
    teardown();
}

/* ---- sleeping with an abort signal ---- */

static void on_settled(cf_promise *settled, cf_promise *next, void *d)
{
    (void)settled;
    (void)next;
    log_s(d);
}

static cf_abort_controller *sleep_ctrl;

static void abort_sleep(void *d)
{
    log_s(d);
    ASSERT_OK(cf_abort(sleep_ctrl, CF_ERROR(CF_EPARSE, "gave up")));
}

static void test_timer_sleep_aborted_by_signal(void)
{
    setup(1);
    /* No signal: fulfilled after the delay. */
    cf_promise *plain = cf_sleep_p(L, 10, NULL);
    cf_promise_release(cf_promise_then(plain, on_settled, NULL, S("slept")));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "slept");
    ASSERT_EQ(cf_promise_state(plain), CF_PROMISE_FULFILLED);
    ASSERT_EQ(cf_now(L), 1010);
    cf_promise_release(plain);
    /* Aborted after 5 ms of an hour: rejected then, and its timeout is gone with it. */
    trace[0] = '\0';
    ASSERT_OK(cf_abort_new(&sleep_ctrl));
    cf_promise *p = cf_sleep_p(L, 3600000, cf_abort_get_signal(sleep_ctrl));
    cf_promise_release(cf_promise_catch(p, on_settled, S("rejected")));
    ASSERT_OK(cf_set_timeout(L, 5, abort_sleep, S("abort"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "abort rejected");
    ASSERT_EQ(cf_now(L), 1015); /* the loop did not wait for the hour */
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    const cf_error *e = cf_promise_error(p);
    ASSERT_STR_EQ(e->message, "The operation was aborted");
    ASSERT(cf_error_cause(e) != NULL);
    ASSERT_EQ(cf_error_cause(e)->code, CF_EPARSE); /* the signal's reason */
    ASSERT_STR_EQ(cf_error_cause(e)->message, "gave up");
    ASSERT(strstr(cf_error_site(e).file, "test_timer.c") != NULL); /* the caller's line */
    cf_promise_release(p);
    /* An already aborted signal: rejected at once, no timeout started. */
    trace[0] = '\0';
    p = cf_sleep_p(L, 50, cf_abort_get_signal(sleep_ctrl));
    ASSERT_EQ(cf_promise_code(p), CF_ECANCELED);
    ASSERT_EQ(cf_error_cause(cf_promise_error(p))->code, CF_EPARSE);
    cf_promise_release(cf_promise_catch(p, on_settled, S("at-once")));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "at-once");
    ASSERT_EQ(cf_now(L), 1015);
    cf_promise_release(p);
    cf_abort_free(sleep_ctrl);
    /* A signal that never aborts: the sleep ends normally and stops listening. */
    ASSERT_OK(cf_abort_new(&sleep_ctrl));
    p = cf_sleep_p(L, 7, cf_abort_get_signal(sleep_ctrl));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    ASSERT_OK(cf_abort(sleep_ctrl, NULL)); /* after the sleep: nothing happens to it */
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    cf_abort_free(sleep_ctrl);
    teardown();
}

/* A deadline (cf_abort_signal_timeout) shorter than the sleep, awaited in a task. */
static int sleep_past_deadline(cf_task *task, void *arg)
{
    (void)arg;
    cf_loop *loop = cf_task_loop(task);
    cf_abort_signal *deadline = NULL;
    ASSERT_OK(cf_abort_signal_timeout(loop, 20, &deadline));
    cf_result r = cf_await(cf_sleep_p(loop, 1000, deadline));
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_STR_EQ(r.error->message, "The operation was aborted");
    ASSERT_EQ(cf_error_cause(r.error)->code, CF_ETIMEDOUT);
    log_s("deadline");
    cf_abort_signal_release(deadline);
    return 0;
}

static void test_timer_sleep_deadline_in_task(void)
{
    setup(1);
    cf_promise *t = cf_async(L, sleep_past_deadline, NULL);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "deadline");
    ASSERT_EQ(cf_now(L), 1020);
    ASSERT_EQ(cf_promise_state(t), CF_PROMISE_FULFILLED);
    cf_promise_release(t);
    teardown();
}

/* The awaiting form: a task's cf_sleep is aborted by the task's signal, with the same error. */
static int sleep_in_task(cf_task *task, void *arg)
{
    (void)arg;
    cf_result r = cf_sleep(cf_task_loop(task), 3600000);
    ASSERT_EQ(r.status, CF_ECANCELED);
    ASSERT_STR_EQ(r.error->message, "The operation was aborted");
    ASSERT_EQ(cf_error_cause(r.error)->code, CF_EPARSE);
    log_s("task-sleep-aborted");
    return 0;
}

static void test_timer_sleep_aborted_in_task(void)
{
    setup(1);
    ASSERT_OK(cf_abort_new(&sleep_ctrl));
    cf_task_opts opts = {.signal = cf_abort_get_signal(sleep_ctrl)};
    cf_promise *t = cf_async_ex(L, sleep_in_task, NULL, &opts);
    ASSERT_OK(cf_set_timeout(L, 5, abort_sleep, S("abort"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "abort task-sleep-aborted");
    ASSERT_EQ(cf_now(L), 1005);
    ASSERT_EQ(cf_promise_state(t), CF_PROMISE_FULFILLED);
    cf_promise_release(t);
    cf_abort_free(sleep_ctrl);
    teardown();
}

static uint64_t long_runs[3];
static int long_n;
static cf_timeout *long_iv;

/* The callback "runs" 50 ms on the fake clock, longer than the 20 ms period. */
static void long_cb(void *d)
{
    (void)d;
    long_runs[long_n++] = cf_now(L);
    cf__clock_advance(L, 50);
    if (long_n == 3)
        cf_clear_interval(long_iv);
}

static void test_timer_interval_longer_than_period(void)
{
    setup(1);
    long_n = 0;
    ASSERT_OK(cf_set_interval(L, 20, long_cb, NULL, &long_iv));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(long_n, 3);
    /*
     * The next run is due one period after the clock of the phase the callback ran in, so it
     * is already late when the callback returns; the poll phase's wait, computed from that
     * clock as libuv's, still lasts a period: 50 ms of callback, then 20 ms, then the next.
     */
    ASSERT_EQ(long_runs[0], 1020);
    ASSERT_EQ(long_runs[1], 1090);
    ASSERT_EQ(long_runs[2], 1160);
    teardown();
}

/* The real clock: a short timer fires after at least its delay. */
static void test_timer_real_clock(void)
{
    setup(0);
    uint64_t start = cf_now(L);
    ASSERT_OK(cf_set_timeout(L, 15, t_log, S("real"), NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(trace, "real");
    ASSERT_GE(cf_now(L), start + 15);
    teardown();
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_timer_order_by_due_then_start);
    CF_TEST(test_timer_zero_is_one);
    CF_TEST(test_timer_started_in_phase_waits);
    CF_TEST(test_timer_clear_from_timer);
    CF_TEST(test_timer_interval_clear_after_three);
    CF_TEST(test_timer_handle_repeat_again_due);
    CF_TEST(test_timer_close_inside_callback);
    CF_TEST(test_timer_unref_no_keepalive);
    CF_TEST(test_timer_js_refresh);
    CF_TEST(test_timer_heap_random_order);
    CF_TEST(test_timer_immediates_order);
    CF_TEST(test_timer_immediate_clear_and_unref);
    CF_TEST(test_timer_bad_arguments_and_oom);
    CF_TEST(test_timer_real_clock);
    CF_TEST(test_timer_refresh_moves_and_keeps_ref);
    CF_TEST(test_timer_hold_refresh_after_fire);
    CF_TEST(test_timer_refresh_from_own_callback);
    CF_TEST(test_timer_refresh_bad_input);
    CF_TEST(test_timer_handle_close_callback);
    CF_TEST(test_timer_handle_ref_and_active);
    CF_TEST(test_timer_timeout_ref_and_active);
    CF_TEST(test_timer_immediate_ref_rules);
    CF_TEST(test_timer_sleep_aborted_by_signal);
    CF_TEST(test_timer_sleep_deadline_in_task);
    CF_TEST(test_timer_sleep_aborted_in_task);
    CF_TEST(test_timer_interval_longer_than_period);
    return CF_TEST_END();
}
