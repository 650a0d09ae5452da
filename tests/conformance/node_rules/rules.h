/*
 * Shared helpers of the node-rules scenario programs (tests/conformance/node_rules/).
 *
 * Each sNN_<name>.c is the C version of NN-<name>/program.js, written against the public API
 * only; it prints one line per console.log of the Node program, and test_node_rules.c compares
 * that with NN-<name>/expected.txt, recorded from Node 20 by record.sh. Vocabulary:
 *  - console.log(X)                  -> say("X") or log_cb with the text as data
 *  - process.on('beforeExit', f)     -> cf_loop_on_before_exit(loop, f, data)
 *  - process.on('exit', f)           -> cf_loop_on_exit(loop, f, data), run by cf_loop_close
 *  - process.off(...)                -> cf_loop_off_before_exit / cf_loop_off_exit
 *  - process.exit() in a callback    -> cf_stop(loop) as its last statement, then the program
 *                                       clears what is left and closes the loop
 *  - t.refresh(), t.hasRef()         -> cf_timeout_refresh, cf_timeout_has_ref; a timeout
 *                                       refreshed after it fired is held first (cf_timeout_hold)
 */
#ifndef CF_NODE_RULES_H
#define CF_NODE_RULES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "calcifer.h"

#include "../scenario_base.h"

static inline void log_cb(void *text)
{
    say(text);
}

/* A monotonic clock in milliseconds, with a fraction (≈ performance.now()). */
static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Spin the CPU for at least `ms` milliseconds without returning to the loop. */
static inline void busy_wait_ms(double ms)
{
    double t0 = now_ms();
    while (now_ms() - t0 < ms) {
    }
}

/* The end of the process: cf_loop_close runs the exit hooks. */
static inline int scenario_end(void)
{
    CHECK(cf_loop_close(loop));
    fflush(stdout);
    return 0;
}

#endif
