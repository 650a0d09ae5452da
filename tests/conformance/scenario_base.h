/*
 * What the scenario programs of the trace suites that print Node's console.log lines
 * (node_rules/rules.h, streams/streams.h) share: the one loop, printing a line, aborting on a
 * failed call, JavaScript's `${bool}`, and the start and run of a scenario. Each suite's
 * header includes this one and adds its own vocabulary and scenario_end.
 */
#ifndef CF_SCENARIO_BASE_H
#define CF_SCENARIO_BASE_H

#include <stdio.h>
#include <stdlib.h>

#include "calcifer.h"

/* Texts are string literals passed as callback data; callbacks only read them. */
#define TEXT(s) ((void *)(s))

static cf_loop *loop;

static inline void say(const char *s)
{
    fputs(s, stdout);
    fputc('\n', stdout);
}

/* printf-style say, for the lines of the Node program built with template strings. */
#define SAYF(...)                                                                                  \
    do {                                                                                           \
        printf(__VA_ARGS__);                                                                       \
        fputc('\n', stdout);                                                                       \
    } while (0)

/* Abort the scenario with a message on stderr (the driver then reports it). */
static inline void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, cf_strerror(rc));
        exit(2);
    }
}

#define CHECK(call) check((call), #call)

/* JavaScript's `${bool}`. */
static inline const char *js_bool(int b)
{
    return b ? "true" : "false";
}

static inline void scenario_begin(void)
{
    CHECK(cf_loop_new(&loop));
}

/* After the main program: drain (as Node does after the main module), then run the loop. */
static inline void scenario_run(void)
{
    cf_loop_drain(loop);
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
}

#endif
