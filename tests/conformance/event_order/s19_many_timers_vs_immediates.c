/* 19: from an I/O callback, the immediates (and their microtasks) run before the timers. */
#include "scenario.h"

static void immediate1(void *d)
{
    (void)d;
    say("immediate 1");
    resolved_then(log_then, LABEL("micro from immediate 1"));
}

static void fs_callback(void *d)
{
    (void)d;
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout 1"), NULL));
    CHECK(cf_set_immediate(loop, immediate1, NULL, NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout 2"), NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 2"), NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout 3"), NULL));
}

int main(int argc, char **argv)
{
    (void)argc;
    scenario_begin();
    async_stat(argv[0], fs_callback, NULL);
    scenario_run();
    return scenario_end();
}
