/* 03: a Readable in flowing mode: 'data' per chunk, then 'end', then 'close'. */
#include "streams.h"

static int n;

static void r_read(cf_stream *s, size_t size, void *data)
{
    (void)size;
    (void)data;
    n++;
    SAYF("_read %d", n);
    if (n <= 3) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "chunk%d", n);
        cf_stream_push(s, buf, (size_t)len);
    } else {
        cf_stream_push_end(s);
    }
}

static const cf_stream_impl impl = {.read = r_read};

static void on_data(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)s;
    (void)data;
    SAYF("data %.*s", (int)len, (const char *)chunk);
}

static void say_cb(void *data)
{
    say(data);
}

int main(void)
{
    scenario_begin();
    cf_stream *r;
    CHECK(cf_stream_new(loop, CF_STREAM_READABLE, &impl, NULL, NULL, &r));
    CHECK(cf_stream_on_data(r, on_data, NULL));
    CHECK(cf_stream_on(r, CF_STREAM_EV_END, log_event, TEXT("end")));
    CHECK(cf_stream_on(r, CF_STREAM_EV_CLOSE, log_event, TEXT("close")));
    CHECK(cf_stream_on(r, CF_STREAM_EV_ERROR, log_event, TEXT("error")));
    SAYF("flowing %s", js_bool(cf_stream_is_flowing(r)));
    CHECK(cf_next_tick(loop, say_cb, TEXT("tick")));
    CHECK(cf_set_immediate(loop, say_cb, TEXT("immediate"), NULL));
    say("main end");
    scenario_run();
    return scenario_end(&r, 1);
}
