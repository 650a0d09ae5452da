/* 17: from an I/O callback: its own code, nextTick, microtask, immediate, then the timer. */
#include "scenario.h"

static void fs_callback(void *d)
{
    (void)d;
    say("fs callback start");
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout"), NULL));
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate"), NULL));
    resolved_then(log_then, LABEL("microtask"));
    CHECK(cf_next_tick(loop, log_cb, LABEL("nextTick")));
    say("fs callback end");
}

int main(int argc, char **argv)
{
    (void)argc;
    scenario_begin();
    async_stat(argv[0], fs_callback, NULL);
    scenario_run();
    return scenario_end();
}
