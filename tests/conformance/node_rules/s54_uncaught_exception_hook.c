/*
 * 54: the uncaught-exception hook (cf_on_uncaught_exception) in each unhandled-rejection mode,
 * with and without an unhandled-rejection hook: cf_throw_uncaught from a microtask or a timer
 * reaches it at once and the run goes on; an unhandled rejection reaches it (with its promise,
 * ≈ origin 'unhandledRejection') in throw mode without the other hook, and in strict mode
 * before the other hook (or a warning). warn-with-error-code without the other hook: cf_run
 * returns CF_EUNHANDLED at the end (exit status 1). The program re-runs itself under each mode
 * (child_scenario.h).
 */
#include "child_scenario.h"

static void on_uncaught(const cf_error *err, cf_promise *p, void *data)
{
    (void)data;
    SAYF("uncaughtException: %s (%s)", err->message,
         p ? "unhandledRejection" : "uncaughtException");
}

static void on_unhandled(cf_promise *p, void *data)
{
    (void)data;
    SAYF("unhandledRejection: %s", cf_promise_error(p)->message);
}

/* () => { log(text); throw new Error(message) }: the data is {text, message}. */
static void throws(void *data)
{
    const char *const *texts = data;
    say(texts[0]);
    (void)cf_throw_uncaught(loop, CF_ERROR(CF_EINVAL, "%s", texts[1]));
}

static int child(void)
{
    static const char *const micro[] = {"micro throws", "from micro"};
    static const char *const timer[] = {"timer throws", "from timer"};
    scenario_begin();
    CHECK(cf_on_uncaught_exception(loop, on_uncaught, NULL));
    if (getenv("WITH_HOOK"))
        CHECK(cf_on_unhandled_rejection(loop, on_unhandled, NULL));
    cf_promise_release(cf_promise_rejected(loop, CF_ERROR(CF_EINVAL, "boom")));
    CHECK(cf_queue_microtask(loop, throws, (void *)micro));
    CHECK(cf_queue_microtask(loop, log_cb, TEXT("micro 2")));
    CHECK(cf_set_timeout(loop, 1, throws, (void *)timer, NULL));
    CHECK(cf_set_timeout(loop, 1, log_cb, TEXT("timer 2"), NULL));
    CHECK(cf_set_timeout(loop, 30, log_cb, TEXT("timer 3"), NULL));
    CHECK(cf_next_tick(loop, log_cb, TEXT("tick")));
    say("main");
    cf_loop_drain(loop);
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    if (rc < 0 && rc != CF_EUNHANDLED)
        check(rc, "cf_run");
    CHECK(cf_loop_close(loop));
    fflush(stdout);
    return rc < 0 ? 1 : 0;
}

int main(void)
{
    if (child_is_child())
        return child();
    static const char *const modes[] = {"throw", "strict", "warn", "warn-with-error-code", "none"};
    static char env[5][64];
    static const char with_hook[] = "WITH_HOOK=1";
    for (size_t i = 0; i < 5; i++) {
        snprintf(env[i], sizeof env[i], "CALCIFER_UNHANDLED_REJECTIONS=%s", modes[i]);
        const char *const plain[] = {env[i], NULL};
        const char *const hooked[] = {env[i], with_hook, NULL};
        SAYF("--- %s", modes[i]);
        child_run(plain);
        SAYF("--- %s, unhandledRejection hook", modes[i]);
        child_run(hooked);
    }
    return 0;
}
