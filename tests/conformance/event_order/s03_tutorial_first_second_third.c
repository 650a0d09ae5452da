/* 03: a 0 ms timer runs after the main program. */
#include "scenario.h"

static void first(void)
{
    say("first");
}

static void second(void)
{
    CHECK(cf_set_timeout(loop, 0, log_cb, LABEL("second"), NULL));
}

static void third(void)
{
    say("third");
}

int main(void)
{
    scenario_begin();
    first();
    second();
    third();
    scenario_run();
    return scenario_end();
}
