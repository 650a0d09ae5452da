/*
 * 08: ref/unref and refresh: a refreshed unref'd timer stays unref'd (and fires while the
 * loop is alive for another timer); one refreshed then ref'd keeps the loop alive; one that
 * stays unref'd never fires once nothing else is left.
 */
#include "rules.h"

static cf_timeout *u;
static cf_timeout *v;
static cf_timeout *w;

static void refresh_u(void *data)
{
    (void)data;
    CHECK(cf_timeout_refresh(u));
    SAYF("after refresh u.hasRef %s", js_bool(cf_timeout_has_ref(u)));
}

static void refresh_ref_v(void *data)
{
    (void)data;
    CHECK(cf_timeout_refresh(v));
    cf_timeout_ref(v);
    SAYF("v.hasRef %s", js_bool(cf_timeout_has_ref(v)));
}

static void refresh_w(void *data)
{
    (void)data;
    CHECK(cf_timeout_refresh(w));
    SAYF("w.hasRef %s", js_bool(cf_timeout_has_ref(w)));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_set_timeout(loop, 200, log_cb, TEXT("keepalive at 200"), NULL));
    CHECK(cf_set_timeout(loop, 100, log_cb, TEXT("u fired (unref, refreshed at 50)"), &u));
    cf_timeout_unref(u);
    CHECK(cf_set_timeout(loop, 50, refresh_u, NULL, NULL));
    CHECK(cf_set_timeout(loop, 300, log_cb, TEXT("v fired (refreshed and ref'd at 175)"), &v));
    cf_timeout_unref(v);
    CHECK(cf_set_timeout(loop, 175, refresh_ref_v, NULL, NULL));
    CHECK(cf_set_timeout(loop, 1000, log_cb, TEXT("w (never runs)"), &w));
    cf_timeout_unref(w);
    CHECK(cf_set_timeout(loop, 250, refresh_w, NULL, NULL));
    SAYF("u.hasRef %s", js_bool(cf_timeout_has_ref(u)));
    say("main");
    scenario_run();
    return scenario_end(); /* drops w, unref'd and never run */
}
