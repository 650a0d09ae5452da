/* 02: end(): the pending write completes, _final runs, then prefinish, finish, close. */
#include "streams.h"

static cf_stream *w;

static void later(void *data)
{
    cf_stream_done(data, NULL);
}

static void w_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    SAYF("_write %.*s", (int)len, (const char *)chunk);
    CHECK(cf_set_timeout(loop, 1, later, s, NULL));
}

static void w_final(cf_stream *s, void *data)
{
    (void)data;
    say("_final");
    done_later(s);
}

static const cf_stream_impl impl = {.write = w_write, .final = w_final};

static void on_event(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)data;
    if (ev == CF_STREAM_EV_FINISH)
        SAYF("finish (finished %s)", js_bool(cf_stream_writable_finished(s)));
    else if (ev == CF_STREAM_EV_CLOSE)
        SAYF("close (destroyed %s)", js_bool(cf_stream_is_destroyed(s)));
    else if (ev == CF_STREAM_EV_PREFINISH)
        say("prefinish");
    else
        SAYF("error %s", cf_error_message(err));
}

static void on_tick(void *data)
{
    say(data);
}

int main(void)
{
    scenario_begin();
    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &impl, NULL, NULL, &w));
    CHECK(cf_stream_on(w, CF_STREAM_EV_PREFINISH, on_event, NULL));
    CHECK(cf_stream_on(w, CF_STREAM_EV_FINISH, on_event, NULL));
    CHECK(cf_stream_on(w, CF_STREAM_EV_CLOSE, on_event, NULL));
    CHECK(cf_stream_on(w, CF_STREAM_EV_ERROR, on_event, NULL));
    CHECK(cf_stream_write(w, "one", 3));
    CHECK(cf_stream_write(w, "two", 3));
    CHECK(cf_stream_end(w));
    SAYF("ended %s, finished %s", js_bool(cf_stream_writable_ended(w)),
         js_bool(cf_stream_writable_finished(w)));
    CHECK(cf_next_tick(loop, on_tick, TEXT("tick")));
    CHECK(cf_queue_microtask(loop, on_tick, TEXT("microtask")));
    scenario_run();
    return scenario_end(&w, 1);
}
