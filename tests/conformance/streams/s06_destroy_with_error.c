/* 06: destroy(err): 'error' then 'close' on the next tick; a second destroy does nothing. */
#include "streams.h"

static void nop_read(cf_stream *s, size_t size, void *data)
{
    (void)s;
    (void)size;
    (void)data;
}

static void sync_write(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)chunk;
    (void)len;
    (void)data;
    cf_stream_done(s, NULL);
}

static const cf_stream_impl r_impl = {.read = nop_read};
static const cf_stream_impl w_impl = {.write = sync_write};
static const cf_stream_impl d_impl = {.read = nop_read, .write = sync_write};

static void readable_close(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    (void)ev;
    (void)err;
    (void)data;
    SAYF("readable close (errored %s)", cf_error_message(cf_stream_error(s)));
}

static void say_cb(void *data)
{
    say(data);
}

int main(void)
{
    scenario_begin();
    cf_stream *st[4];
    CHECK(cf_stream_new(loop, CF_STREAM_READABLE, &r_impl, NULL, NULL, &st[0]));
    cf_stream *r = st[0];
    CHECK(cf_stream_on(r, CF_STREAM_EV_ERROR, log_event, TEXT("readable error")));
    CHECK(cf_stream_on(r, CF_STREAM_EV_CLOSE, readable_close, NULL));
    CHECK(cf_stream_push(r, "x", 1));
    CHECK(cf_stream_destroy(r, CF_ERROR(CF_EIO, "bad read")));
    CHECK(cf_stream_destroy(r, CF_ERROR(CF_EIO, "second")));
    SAYF("readable destroyed %s", js_bool(cf_stream_is_destroyed(r)));

    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &w_impl, NULL, NULL, &st[1]));
    cf_stream *w = st[1];
    CHECK(cf_stream_on(w, CF_STREAM_EV_ERROR, log_event, TEXT("writable error")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_CLOSE, log_event, TEXT("writable close")));
    CHECK(cf_stream_on(w, CF_STREAM_EV_FINISH, log_event, TEXT("writable finish")));
    CHECK(cf_stream_destroy(w, CF_ERROR(CF_EIO, "bad write")));
    SAYF("write after destroy -> %s", js_bool(cf_stream_write(w, "y", 1) == 0));

    CHECK(cf_stream_new(loop, CF_STREAM_DUPLEX, &d_impl, NULL, NULL, &st[2]));
    cf_stream *d = st[2];
    CHECK(cf_stream_on(d, CF_STREAM_EV_ERROR, log_event, TEXT("duplex error")));
    CHECK(cf_stream_on(d, CF_STREAM_EV_CLOSE, log_event, TEXT("duplex close")));
    CHECK(cf_stream_on(d, CF_STREAM_EV_END, log_event, TEXT("duplex end")));
    CHECK(cf_stream_on(d, CF_STREAM_EV_FINISH, log_event, TEXT("duplex finish")));
    CHECK(cf_stream_destroy(d, CF_ERROR(CF_EIO, "bad duplex")));

    CHECK(cf_stream_new(loop, CF_STREAM_WRITABLE, &w_impl, NULL, NULL, &st[3]));
    cf_stream *q = st[3];
    CHECK(cf_stream_on(q, CF_STREAM_EV_CLOSE, log_event, TEXT("plain destroy close")));
    CHECK(cf_stream_on(q, CF_STREAM_EV_ERROR, log_event, TEXT("plain destroy error")));
    CHECK(cf_stream_destroy(q, NULL));
    CHECK(cf_next_tick(loop, say_cb, TEXT("tick")));
    say("main end");
    scenario_run();
    return scenario_end(st, 4);
}
