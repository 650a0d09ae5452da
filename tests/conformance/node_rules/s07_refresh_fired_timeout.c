/*
 * 07: cf_timeout_refresh on a one-shot timer that has fired re-arms it, whether called from
 * another callback (the timer is held with cf_timeout_hold, as a JavaScript program keeps its
 * Timeout object) or from its own; cf_timeout_has_ref stays true after it fired.
 */
#include "rules.h"

static cf_timeout *t;
static cf_timeout *self;
static int runs;
static int s;

static void t_cb(void *data)
{
    (void)data;
    runs++;
    SAYF("t fired %d", runs);
}

static void refresh_t(void *data)
{
    (void)data;
    SAYF("t.hasRef after firing: %s", js_bool(cf_timeout_has_ref(t)));
    say("refresh t from another timer at 100");
    CHECK(cf_timeout_refresh(t));
}

static void self_cb(void *data)
{
    (void)data;
    s++;
    SAYF("self %d", s);
    if (s == 2) {
        say("refresh t again");
        CHECK(cf_timeout_refresh(t));
    }
    if (s < 3)
        CHECK(cf_timeout_refresh(self));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 50, t_cb, NULL, &t));
    CHECK(cf_timeout_hold(t));
    CHECK(cf_set_timeout(loop, 100, refresh_t, NULL, NULL));
    CHECK(cf_set_timeout(loop, 200, self_cb, NULL, &self));
    say("main");
    scenario_run();
    cf_clear_timeout(t); /* a held timer is the program's to free */
    return scenario_end();
}
