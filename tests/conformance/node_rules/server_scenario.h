/*
 * Helpers of the server-lifecycle scenarios (80-89): each sNN_name.c prints, line
 * for line, what NN-name/program.js prints under Node. Public API only.
 *
 * The programs' own events are printed; the raw client that drives a server (≈ net.connect
 * plus write) prints nothing: its events race with the server's in Node too. It closes its
 * socket when the peer ends the stream (as a Node socket does without allowHalfOpen).
 */
#ifndef CF_SERVER_SCENARIO_H
#define CF_SERVER_SCENARIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer.h"

#define LABEL(s) ((void *)(s))

static cf_loop *loop;

static inline void say(const char *s)
{
    fputs(s, stdout);
    fputc('\n', stdout);
}

static inline void log_cb(void *label)
{
    say(label);
}

static inline void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, cf_strerror(rc));
        exit(2);
    }
}

#define CHECK(call) check((call), #call)

/* process.nextTick(() => log(label)) */
static inline void tick_say(const char *label)
{
    CHECK(cf_next_tick(loop, log_cb, LABEL(label)));
}

/* setImmediate(fn) */
static inline void immediate(cf_callback fn, void *data)
{
    CHECK(cf_set_immediate(loop, fn, data, NULL));
}

static inline void log_then(cf_promise *settled, cf_promise *next, void *label)
{
    (void)settled;
    (void)next;
    say(label);
}

/* Promise.resolve().then(() => log(label)) */
static inline void promise_say(const char *label)
{
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    if (!p)
        check(CF_ENOMEM, "cf_promise_resolved");
    cf_promise *next = cf_promise_then(p, log_then, NULL, LABEL(label));
    if (!next)
        check(CF_ENOMEM, "cf_promise_then");
    cf_promise_release(next);
    cf_promise_release(p);
}

/* ---- a raw client: connect, send `request`, call `on_response` once `marker` ended the input */

typedef struct raw_client {
    cf_tcp *t;
    const char *request;
    const char *marker;
    cf_callback on_response; /* may be NULL */
    void *data;
    char got[4096];
    size_t len;
} raw_client;

static inline void raw_closed(void *data)
{
    free(data);
}

static inline void raw_read(cf_tcp *t, int status, const cf_error *err, const char *bytes,
                            size_t len, void *data)
{
    (void)err;
    raw_client *c = data;
    if (status < 0) {
        cf_tcp_close(t, raw_closed, c);
        return;
    }
    size_t room = sizeof c->got - 1 - c->len;
    size_t n = len < room ? len : room;
    memcpy(c->got + c->len, bytes, n);
    c->len += n;
    c->got[c->len] = '\0';
    size_t mlen = c->marker ? strlen(c->marker) : 0;
    if (c->on_response && mlen && c->len >= mlen && !strcmp(c->got + c->len - mlen, c->marker)) {
        cf_callback cb = c->on_response;
        c->on_response = NULL;
        cb(c->data);
    }
}

static inline void raw_connected(cf_tcp *t, int status, const cf_error *err, void *data)
{
    (void)err;
    raw_client *c = data;
    if (status < 0) {
        cf_tcp_close(t, raw_closed, c);
        return;
    }
    CHECK(cf_tcp_read_start(t, raw_read, c));
    if (c->request)
        CHECK(cf_tcp_write_copy(t, c->request, strlen(c->request)));
}

static inline void raw_connect(int port, const char *request, const char *marker,
                               cf_callback on_response, void *data)
{
    raw_client *c = calloc(1, sizeof *c);
    if (!c)
        check(CF_ENOMEM, "calloc");
    c->request = request;
    c->marker = marker;
    c->on_response = on_response;
    c->data = data;
    CHECK(cf_tcp_new(loop, &c->t));
    CHECK(cf_tcp_connect(c->t, "127.0.0.1", port, NULL, raw_connected, c));
}

/* ---- frame ---- */

static inline void scenario_begin(void)
{
    CHECK(cf_loop_new(&loop));
}

static inline int scenario_end(void)
{
    cf_loop_drain(loop);
    CHECK(cf_run(loop, CF_RUN_DEFAULT));
    CHECK(cf_loop_close(loop));
    fflush(stdout);
    return 0;
}

#endif
