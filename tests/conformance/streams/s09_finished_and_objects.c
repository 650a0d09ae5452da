/* 09: object mode counts objects against the mark; finished reports the end or the error. */
#include "streams.h"

static cf_stream *st[2];

static void w_write(cf_stream *s, const void *obj, size_t len, void *data)
{
    (void)len;
    (void)data;
    SAYF("_write %d", *(const int *)obj);
    done_later(s);
}

static void nop_read(cf_stream *s, size_t size, void *data)
{
    (void)s;
    (void)size;
    (void)data;
}

static const cf_stream_impl w_impl = {.write = w_write};
static const cf_stream_impl r_impl = {.read = nop_read};

static void fin(cf_stream *s, int status, const cf_error *err, void *data)
{
    (void)s;
    (void)status;
    SAYF("finished %s: %s", (const char *)data, err ? cf_error_message(err) : "ok");
}

static void destroy_r(void *data)
{
    cf_stream_destroy(data, CF_ERROR(CF_EIO, "gone"));
}

static int *make_int(int n)
{
    int *p = cf_malloc(sizeof *p);
    if (!p)
        exit(2);
    *p = n;
    return p;
}

int main(void)
{
    scenario_begin();
    cf_stream_options o = {.high_water = 2, .flags = CF_STREAM_OBJECTS, .free_object = cf_free};
    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &w_impl, &o, NULL, &st[0]));
    cf_stream *w = st[0];
    CHECK(cf_stream_finished(w, NULL, fin, TEXT("writable")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_DRAIN, log_event, TEXT("drain")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_FINISH, log_event, TEXT("finish")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_CLOSE, log_event, TEXT("close")));
    for (int n = 1; n <= 3; n++)
        SAYF("write %d -> %s", n, js_bool(cf_stream_write_object(w, make_int(n)) == 0));
    CHECK(cf_stream_end(w));
    cf_stream_options ro = {.flags = CF_STREAM_OBJECTS, .free_object = cf_free};
    CHECK(cf_stream_new(loop, CF_STREAM_READABLE, &r_impl, &ro, NULL, &st[1]));
    cf_stream *r = st[1];
    CHECK(cf_stream_finished(r, NULL, fin, TEXT("readable")));
    CHECK(cf_stream_on(r, CF_STREAM_EV_ERROR, log_event, TEXT("readable error")));
    CHECK(cf_stream_on(r, CF_STREAM_EV_CLOSE, log_event, TEXT("readable close")));
    CHECK(cf_stream_push_object(r, make_int(1)));
    CHECK(cf_set_immediate(loop, destroy_r, r, NULL));
    say("main end");
    scenario_run();
    return scenario_end(st, 2);
}
