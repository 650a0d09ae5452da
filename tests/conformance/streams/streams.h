/*
 * Shared helpers of the stream scenario programs (tests/conformance/streams/).
 *
 * Each sNN_<name>.c is the C version of NN-<name>/program.js, written against the public API
 * only; it prints one line per console.log of the Node program, and test_streams.c compares
 * that with NN-<name>/expected.txt, recorded from Node 20 by record.sh. Vocabulary:
 *  - new Writable({ write })        -> cf_stream_new(loop, CF_STREAM_WRITABLE, &impl, ...)
 *  - callback() inside a hook       -> cf_stream_done(s, NULL)
 *  - s.on('finish', f)              -> cf_stream_on(s, CF_STREAM_EV_FINISH, f, data)
 *  - setImmediate(callback)         -> cf_set_immediate(loop, done_later, s, NULL)
 *  - `${w.write(x)}`                -> js_bool(cf_stream_write(...) == 0)
 * At the end every stream is closed (cf_stream_close) and the loop run until they are freed.
 */
#ifndef CF_STREAM_SCENARIO_H
#define CF_STREAM_SCENARIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer.h"

#include "../scenario_base.h"

/* A listener that prints its data as the line, and "<text> <message>" for an error. */
static inline void log_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    if (ev == CF_STREAM_EV_ERROR)
        SAYF("%s %s", (const char *)data, cf_error_message(err));
    else
        say(data);
}

/* Finish the pending hook of the stream on the next check phase (≈ setImmediate(callback)). */
static inline void done_cb(void *data)
{
    cf_stream_done(data, NULL);
}

static inline void done_later(cf_stream *s)
{
    CHECK(cf_set_immediate(loop, done_cb, s, NULL));
}

/* Close the streams (after the run: they are done), run the loop until they are freed. */
static inline int scenario_end(cf_stream **streams, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK(cf_stream_close(streams[i], NULL, NULL));
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
    CHECK(cf_loop_close(loop));
    fflush(stdout);
    return 0;
}

#endif
