/* The three stages of the pipeline scenarios (04, 05) and their event logging. */
#ifndef CF_STREAM_PIPELINE_STAGES_H
#define CF_STREAM_PIPELINE_STAGES_H

#include "streams.h"

static const char *const stage_names[3] = {"source", "upper", "sink"};

static void stage_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)s;
    const char *name = data;
    switch (ev) {
    case CF_STREAM_EV_END:
        SAYF("%s end", name);
        break;
    case CF_STREAM_EV_FINISH:
        SAYF("%s finish", name);
        break;
    case CF_STREAM_EV_CLOSE:
        SAYF("%s close", name);
        break;
    default:
        SAYF("%s error %s", name, cf_error_message(err));
        break;
    }
}

static void log_stages(cf_stream **st, const char *const *names)
{
    static const cf_stream_event evs[] = {CF_STREAM_EV_END, CF_STREAM_EV_FINISH, CF_STREAM_EV_CLOSE,
                                          CF_STREAM_EV_ERROR};
    for (int i = 0; i < 3; i++) {
        for (int e = 0; e < 4; e++)
            CHECK(cf_stream_on(st[i], evs[e], stage_event, (void *)names[i]));
    }
}

static void sink_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    SAYF("sink write %.*s", (int)len, (const char *)chunk);
    done_later(s);
}

#endif
