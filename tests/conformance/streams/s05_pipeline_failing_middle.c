/* 05: the middle stage fails on its second chunk: every stage is destroyed with the error. */
#include "pipeline_stages.h"

static const char *const names[3] = {"source", "middle", "sink"};
static int pushed;
static int seen;
static cf_stream *st[3];

static void source_read(cf_stream *s, size_t size, void *data)
{
    (void)size;
    (void)data;
    pushed++;
    if (pushed <= 5) {
        char buf[8];
        int len = snprintf(buf, sizeof buf, "c%d", pushed);
        cf_stream_push(s, buf, (size_t)len);
    } else {
        cf_stream_push_end(s);
    }
}

static void middle_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    seen++;
    SAYF("middle transform %.*s", (int)len, (const char *)chunk);
    if (seen == 2) {
        cf_stream_done(s, CF_ERROR(CF_EIO, "middle failed"));
        return;
    }
    cf_stream_push(s, chunk, len);
    cf_stream_done(s, NULL);
}

static const cf_stream_impl source_impl = {.read = source_read};
static const cf_stream_impl middle_impl = {.transform = middle_transform};
static const cf_stream_impl sink_impl = {.write = sink_write};

static void done(cf_stream *last, int status, const cf_error *err, void *data)
{
    (void)last;
    (void)status;
    (void)data;
    SAYF("pipeline done: %s", err ? cf_error_message(err) : "ok");
    SAYF("destroyed %s %s %s", js_bool(cf_stream_is_destroyed(st[0])),
         js_bool(cf_stream_is_destroyed(st[1])), js_bool(cf_stream_is_destroyed(st[2])));
}

int main(void)
{
    scenario_begin();
    CHECK(cf_stream_new(loop, CF_STREAM_READABLE, &source_impl, NULL, NULL, &st[0]));
    CHECK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &middle_impl, NULL, NULL, &st[1]));
    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, NULL, &st[2]));
    log_stages(st, names);
    CHECK(cf_stream_pipeline(st, 3, NULL, done, NULL));
    say("main end");
    scenario_run();
    return scenario_end(st, 3);
}
