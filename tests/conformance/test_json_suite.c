/*
 * JSONTestSuite conformance (nst/JSONTestSuite, test_parsing/): every y_ file is accepted,
 * every n_ file rejected, every i_ file either, with no crash and no leak. Each file is fed
 * whole, one byte at a time and in seeded random chunks; the events, the result and the
 * error message must be the same every way. Accepted files also go through the DOM: parse,
 * serialize compactly, parse again, and compare. One TAP line per file; i_ lines say which
 * way the parser went, so a change of behaviour shows in review.
 */
/* ctest-labels: conformance */
/* ctest-timeout: 300 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calcifer/json.h"
#include "util/util.h"

#ifndef CF_SHARED_DIR
#define CF_SHARED_DIR "../shared"
#endif

#define SUITE_DIR CF_SHARED_DIR "/conformance/json/test_parsing/"

/* The events of one run, serialized into a growable byte log. */
typedef struct log {
    char *data;
    size_t len;
    size_t cap;
} log_t;

static void log_add(log_t *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        l->data = realloc(l->data, cap);
        if (!l->data)
            abort();
        l->cap = cap;
    }
    memcpy(l->data + l->len, p, n);
    l->len += n;
}

static int record(const cf_json_event *ev, void *data)
{
    log_t *l = data;
    uint64_t head[4] = {(uint64_t)ev->kind, ev->depth, ev->len, ev->offset};
    log_add(l, head, sizeof head);
    if (ev->text)
        log_add(l, ev->text, ev->len);
    return 0;
}

typedef struct outcome {
    int rc;
    log_t events;
    char msg[CF_JSON_ERROR_SIZE];
} outcome;

static uint32_t next_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* Parse `buf` in chunks: step 0 means whole, 1 one byte at a time, otherwise random chunks
 * of 1..step bytes drawn from `seed`. */
static void run(const char *buf, size_t len, size_t step, uint32_t seed, outcome *o)
{
    static char scratch[4096];
    cf_json_parser p;
    memset(o, 0, sizeof *o);
    cf_json_parser_init(&p, record, &o->events, scratch, sizeof scratch);
    size_t at = 0;
    int rc = CF_JSON_NEED_MORE;
    while (at < len && rc >= 0) {
        size_t n = len - at;
        if (step == 1)
            n = 1;
        else if (step > 1) {
            size_t r = 1 + next_rand(&seed) % step;
            n = CF_MIN(n, r);
        }
        rc = cf_json_parser_feed(&p, buf + at, n);
        at += n;
    }
    if (rc >= 0)
        rc = cf_json_parser_finish(&p);
    o->rc = rc;
    snprintf(o->msg, sizeof o->msg, "%s", cf_json_parser_error(&p));
}

static int same(const outcome *a, const outcome *b)
{
    if (a->rc != b->rc || a->events.len != b->events.len || strcmp(a->msg, b->msg) != 0)
        return 0;
    return !a->events.len || !memcmp(a->events.data, b->events.data, a->events.len);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (!n)
            break;
        *len += n;
    }
    fclose(f);
    return buf;
}

/* DOM round trip of an accepted document: parse, stringify, parse, compare. */
static const char *dom_round_trip(const char *buf, size_t len)
{
    cf_json *v = NULL;
    cf_json *w = NULL;
    char *text = NULL;
    size_t tlen = 0;
    const char *why = NULL;
    if (cf_json_parse(buf, len, NULL, &v, NULL))
        why = "the DOM parser rejected an accepted document";
    else if (cf_json_stringify(v, CF_JSON_COMPACT, &text, &tlen))
        why = "stringify failed";
    else if (cf_json_parse(text, tlen, NULL, &w, NULL))
        why = "the serialized text does not parse";
    else if (!cf_json_equal(v, w))
        why = "the round trip changed the value";
    cf_json_free(v);
    cf_json_free(w);
    cf_free(text);
    return why;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_files(char ***out)
{
    DIR *d = opendir(SUITE_DIR);
    if (!d) {
        printf("Bail out! cannot open %s\n", SUITE_DIR);
        exit(1);
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".json"))
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    *out = names;
    return n;
}

/* Check one file; returns NULL when it passes, or why it failed. */
static const char *check_file(const char *name, const char *buf, size_t len, uint32_t seed,
                              int *accepted)
{
    static const size_t steps[] = {1, 2, 3, 7, 64};
    outcome whole;
    outcome split;
    const char *why = NULL;
    run(buf, len, 0, seed, &whole);
    *accepted = whole.rc == 0;
    if (name[0] == 'y' && whole.rc)
        why = whole.msg;
    if (name[0] == 'n' && !whole.rc)
        why = "accepted a document that must be rejected";
    for (size_t i = 0; !why && i < CF_ARRAY_LEN(steps); i++) {
        run(buf, len, steps[i], seed + (uint32_t)i, &split);
        if (!same(&whole, &split))
            why = "fed in chunks, the parser gave other events or another result";
        free(split.events.data);
    }
    free(whole.events.data);
    if (!why && *accepted)
        why = dom_round_trip(buf, len);
    return why;
}

int main(void)
{
    char **names;
    size_t n = list_files(&names);
    int failed = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s%s", SUITE_DIR, names[i]);
        size_t len;
        char *buf = read_file(path, &len);
        long before = cf_live_allocations();
        int accepted = 0;
        const char *why = buf ? check_file(names[i], buf, len, (uint32_t)i * 2654435761u, &accepted)
                              : "cannot read the file";
        if (!why && cf_live_allocations() != before)
            why = "leaked library allocations";
        count++;
        if (why) {
            failed++;
            printf("not ok %zu %s # %s\n", count, names[i], why);
        } else if (names[i][0] == 'i') {
            printf("ok %zu %s # %s\n", count, names[i], accepted ? "accepted" : "rejected");
        } else {
            printf("ok %zu %s\n", count, names[i]);
        }
        free(buf);
        free(names[i]);
    }
    free(names);
    printf("1..%zu\n", count);
    if (count != 318) {
        printf("# expected 318 files, found %zu\n", count);
        return 1;
    }
    return failed ? 1 : 0;
}
