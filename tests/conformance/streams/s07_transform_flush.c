/* 07: a Transform with a flush: chunks upper-cased, a trailer after the last one. */
#include <ctype.h>

#include "streams.h"

static void t_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    SAYF("_transform %.*s", (int)len, (const char *)chunk);
    char buf[16];
    for (size_t i = 0; i < len && i < sizeof buf; i++)
        buf[i] = (char)toupper(((const unsigned char *)chunk)[i]);
    cf_stream_push(s, buf, len);
    cf_stream_done(s, NULL);
}

static void t_flush(cf_stream *s, void *data)
{
    (void)data;
    say("_flush");
    cf_stream_push(s, "[trailer]", 9);
    done_later(s);
}

static const cf_stream_impl impl = {.transform = t_transform, .flush = t_flush};

static void on_data(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)s;
    (void)data;
    SAYF("data %.*s", (int)len, (const char *)chunk);
}

int main(void)
{
    scenario_begin();
    cf_stream *t;
    CHECK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &impl, NULL, NULL, &t));
    CHECK(cf_stream_on_data(t, on_data, NULL));
    CHECK(cf_stream_on(t, CF_STREAM_EV_PREFINISH, log_event, TEXT("prefinish")));
    CHECK(cf_stream_on(t, CF_STREAM_EV_FINISH, log_event, TEXT("finish")));
    CHECK(cf_stream_on(t, CF_STREAM_EV_END, log_event, TEXT("end")));
    CHECK(cf_stream_on(t, CF_STREAM_EV_CLOSE, log_event, TEXT("close")));
    CHECK(cf_stream_on(t, CF_STREAM_EV_ERROR, log_event, TEXT("error")));
    SAYF("write a -> %s", js_bool(cf_stream_write(t, "a", 1) == 0));
    SAYF("write b -> %s", js_bool(cf_stream_write(t, "b", 1) == 0));
    CHECK(cf_stream_write(t, "c", 1));
    CHECK(cf_stream_end(t));
    say("main end");
    scenario_run();
    return scenario_end(&t, 1);
}
