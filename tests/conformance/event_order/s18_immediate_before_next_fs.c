/* 18: a pool job started in a poll-phase callback completes after that iteration's check. */
#include "scenario.h"

static const char *self;

static void fs2(void *d)
{
    (void)d;
    say("fs 2 callback");
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 2"), NULL));
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("timeout 2"), NULL));
}

static void fs1(void *d)
{
    (void)d;
    say("fs 1 callback");
    async_stat(self, fs2, NULL);
    CHECK(cf_set_immediate(loop, log_cb, LABEL("immediate 1"), NULL));
}

int main(int argc, char **argv)
{
    (void)argc;
    self = argv[0];
    scenario_begin();
    async_stat(self, fs1, NULL);
    scenario_run();
    return scenario_end();
}
