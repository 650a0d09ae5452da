/* 08: paused mode: 'readable', read() takes everything, read(n) exactly n bytes or nothing. */
#include "streams.h"

static const char *const parts[] = {"abc", "defg", "hi"};
static int next_part;
static int round_no;

static void r_read(cf_stream *s, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (next_part < 3) {
        const char *p = parts[next_part++];
        SAYF("_read -> %s", p);
        cf_stream_push(s, p, strlen(p));
    } else {
        say("_read -> null");
        cf_stream_push_end(s);
    }
}

static const cf_stream_impl impl = {.read = r_read};

static void say_read(const char *what, int rc, cf_buf *b)
{
    if (rc == 1)
        SAYF("%s %.*s", what, (int)b->len, b->base);
    else
        SAYF("%s null", what);
    if (rc == 1)
        cf_free(b->base);
}

static void on_readable(cf_stream *r, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)ev;
    (void)err;
    (void)data;
    round_no++;
    SAYF("readable %d (length %zu)", round_no, cf_stream_readable_length(r));
    cf_buf b;
    if (round_no == 1) {
        say_read("read(2)", cf_stream_read(r, 2, &b), &b);
        say_read("read(100)", cf_stream_read(r, 100, &b), &b);
    }
    while (cf_stream_read(r, 0, &b) == 1)
        say_read("read()", 1, &b);
}

int main(void)
{
    scenario_begin();
    cf_stream *r;
    cf_stream_options o = {.high_water = 4};
    CHECK(cf_stream_new(loop, CF_STREAM_READABLE, &impl, &o, NULL, &r));
    CHECK(cf_stream_on(r, CF_STREAM_EV_READABLE, on_readable, NULL));
    CHECK(cf_stream_on(r, CF_STREAM_EV_END, log_event, TEXT("end")));
    CHECK(cf_stream_on(r, CF_STREAM_EV_CLOSE, log_event, TEXT("close")));
    SAYF("flowing %s", js_bool(cf_stream_is_flowing(r)));
    say("main end");
    scenario_run();
    return scenario_end(&r, 1);
}
