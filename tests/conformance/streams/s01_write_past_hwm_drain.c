/* 01: write returns "full" past a 4-byte mark; 'drain' comes once everything is written. */
#include "streams.h"

static void w_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    SAYF("_write %.*s (length %zu)", (int)len, (const char *)chunk, cf_stream_writable_length(s));
    done_later(s);
}

static const cf_stream_impl impl = {.write = w_write};

static void on_drain(cf_stream *w, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)ev;
    (void)err;
    (void)data;
    SAYF("drain (length %zu)", cf_stream_writable_length(w));
    SAYF("write gh -> %s", js_bool(cf_stream_write(w, "gh", 2) == 0));
    CHECK(cf_stream_end(w));
}

int main(void)
{
    scenario_begin();
    cf_stream *w;
    cf_stream_options o = {.high_water = 4};
    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &impl, &o, NULL, &w));
    CHECK(cf_stream_on(w, CF_STREAM_EV_DRAIN, on_drain, NULL));
    CHECK(cf_stream_on(w, CF_STREAM_EV_FINISH, log_event, TEXT("finish")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_CLOSE, log_event, TEXT("close")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_ERROR, log_event, TEXT("error")));
    SAYF("write ab -> %s", js_bool(cf_stream_write(w, "ab", 2) == 0));
    SAYF("write cd -> %s", js_bool(cf_stream_write(w, "cd", 2) == 0));
    SAYF("write ef -> %s", js_bool(cf_stream_write(w, "ef", 2) == 0));
    SAYF("length %zu, needDrain %s", cf_stream_writable_length(w),
         js_bool(cf_stream_needs_drain(w)));
    say("main end");
    scenario_run();
    return scenario_end(&w, 1);
}
