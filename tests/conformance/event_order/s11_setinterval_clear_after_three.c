/* 11: clearInterval from the interval's own callback stops further runs. */
#include "scenario.h"

static int n;
static cf_timeout *iv;
static char micro_labels[4][48];

static void interval(void *d)
{
    (void)d;
    n += 1;
    int k = n;
    printf("interval %d\n", k);
    snprintf(micro_labels[k], sizeof micro_labels[k], "micro after interval %d", k);
    resolved_then(log_then, micro_labels[k]); /* the handler's closure: its label */
    if (k == 3) {
        cf_clear_interval(iv);
        say("cleared");
        CHECK(cf_set_timeout(loop, 30, log_cb, LABEL("timeout after clear"), NULL));
    }
}

int main(void)
{
    scenario_begin();
    n = 0;
    CHECK(cf_set_interval(loop, 5, interval, NULL, &iv));
    scenario_run();
    return scenario_end();
}
