/* 04: pipeline(source, upper, sink) succeeds: every stage ends, finishes, closes; then cb. */
#include <ctype.h>

#include "pipeline_stages.h"

static const char *const words[] = {"alpha", "beta", "gamma"};
static int next_word;
static char out[64];

static void source_read(cf_stream *s, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (next_word < 3) {
        const char *w = words[next_word++];
        cf_stream_push(s, w, strlen(w));
    } else {
        cf_stream_push_end(s);
    }
}

static void upper_transform(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)data;
    char buf[64];
    for (size_t i = 0; i < len && i < sizeof buf; i++)
        buf[i] = (char)toupper(((const unsigned char *)chunk)[i]);
    cf_stream_push(s, buf, len);
    cf_stream_done(s, NULL);
}

static void collect_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    if (out[0])
        strncat(out, " ", sizeof out - strlen(out) - 1);
    strncat(out, chunk, len < sizeof out - strlen(out) - 1 ? len : sizeof out - strlen(out) - 1);
    sink_write(s, chunk, len, data);
}

static const cf_stream_impl source_impl = {.read = source_read};
static const cf_stream_impl upper_impl = {.transform = upper_transform};
static const cf_stream_impl sink_impl = {.write = collect_write};

static void done(cf_stream *last, int status, const cf_error *err, void *data)
{
    (void)last;
    (void)status;
    (void)data;
    SAYF("pipeline done: %s, %s", err ? cf_error_message(err) : "ok", out);
}

int main(void)
{
    scenario_begin();
    cf_stream *st[3];
    CHECK(cf_stream_new(loop, CF_STREAM_READABLE, &source_impl, NULL, NULL, &st[0]));
    CHECK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &upper_impl, NULL, NULL, &st[1]));
    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &sink_impl, NULL, NULL, &st[2]));
    log_stages(st, stage_names);
    CHECK(cf_stream_pipeline(st, 3, NULL, done, NULL));
    say("main end");
    scenario_run();
    return scenario_end(st, 3);
}
