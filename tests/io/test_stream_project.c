/*
 * The JSON elements → CSV stream pair and the file read stream's batches.
 *
 * Piped straight into a CSV transform, the elements transform builds only the members the
 * columns start with (a projection): the CSV text must be what cf_csv_write_json_record makes
 * from whole elements, for any chunking, and no other reader may ever see a projected
 * element (a paused stream, a stage in between). The selector's projection is checked on its
 * own: kept members, and the whole element rebuilt from its text even when it spans chunks.
 * The file read stream reads several chunks per pool job into lent buffers: bytes, order,
 * short reads, an error after some chunks, paused-mode reads and a destroy mid-batch.
 */
/* ctest-timeout: 120 */
#include <string.h>

#include "data/json_dom.h"
#include "harness.h"
#include "util/sys.h"

static cf_loop *loop_new(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    return loop;
}

static void close_all(cf_loop *loop, cf_stream **st, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(cf_stream_close(st[i], NULL, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
}

/* A growable text buffer. */
typedef struct text {
    char *p;
    size_t len, cap;
    int chunks;
} text;

static void text_add(text *t, const void *p, size_t len)
{
    if (t->len + len + 1 > t->cap) {
        t->cap = (t->len + len + 1) * 2;
        t->p = realloc(t->p, t->cap);
        ASSERT_PTR(t->p);
    }
    memcpy(t->p + t->len, p, len);
    t->len += len;
    t->p[t->len] = '\0';
    t->chunks++;
}

static int text_sink(const char *p, size_t len, void *data)
{
    text_add(data, p, len);
    return 0;
}

static void on_text(cf_stream *s, const void *chunk, size_t len, void *data)
{
    (void)s;
    text_add(data, chunk, len);
}

/* Elements that exercise the projection: duplicate keys (the last one counts), nested paths,
 * a quoted key, an escaped key, containers as values, and elements that are not objects. */
static const char doc[] =
    "[{\"id\":1,\"title\":\"first\",\"x\":{\"title\":\"no\"},\"title\":\"last, kept\","
    "\"a\":{\"b\":[1,{\"c\":\"deep\"}]},\"tags\":[\"t0\",\"t1\"],\"x.y\":true},"
    "[\"an\",\"array\"],42,null,\"str\","
    "{\"ti\\u0074le\":\"escaped key\",\"skip\":[[],{\"title\":1}],\"a\":{\"b\":-1.5e3}},"
    "{},{\"title\":null,\"tags\":{\"1\":\"not an index\"}},"
    "{\"description\":\"long \\\"text\\\" with, commas\",\"title\":\"\\u00e9t\\u00e9\"}]";

static const char *const cols[] = {"title",   "a.b",  "tags[1]", "[\"x.y\"]",
                                   "missing", "bad[", "[0]",     "a"};
#define NCOLS (sizeof cols / sizeof cols[0])

/* The CSV text cf_csv_write_json_record makes from each whole element of `doc`. */
static void reference_csv(const char *const *c, size_t n, text *out)
{
    cf_json *all = NULL;
    ASSERT_OK(cf_json_parse(doc, strlen(doc), NULL, &all, NULL));
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, text_sink, out));
    ASSERT_OK(cf_csv_write_json_header(&w, c, n));
    for (size_t i = 0; i < cf_json_size(all); i++)
        ASSERT_OK(cf_csv_write_json_record(&w, cf_json_at(all, i), c, n));
    ASSERT_OK(cf_csv_writer_flush(&w));
    cf_json_free(all);
}

/* elements → CSV with the document written `step` bytes at a time; the CSV text in *out. */
static void run_pair(const char *const *c, size_t n, size_t step, text *out)
{
    cf_loop *loop = loop_new();
    cf_stream *st[2];
    ASSERT_OK(cf_stream_json_elements_new(loop, NULL, NULL, &st[0]));
    ASSERT_OK(cf_stream_csv_new(loop, 0, c, n, 1, &st[1]));
    ASSERT_OK(cf_stream_pipe(st[0], st[1]));
    ASSERT_OK(cf_stream_on_data(st[1], on_text, out));
    size_t len = strlen(doc);
    for (size_t off = 0; off < len; off += step) {
        ASSERT(cf_stream_write(st[0], doc + off, off + step < len ? step : len - off) >= 0);
        ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
    }
    ASSERT_OK(cf_stream_end(st[0]));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    close_all(loop, st, 2);
}

static void test_pair_output_matches_whole_elements(void)
{
    text want = {0};
    reference_csv(cols, NCOLS, &want);
    ASSERT(strstr(want.p, "\"last, kept\"")); /* the reference itself reads the last duplicate */
    static const size_t steps[] = {1, 2, 7, 64, 4096};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        text got = {0};
        run_pair(cols, NCOLS, steps[i], &got);
        if (!got.p || strcmp(got.p, want.p) != 0)
            CF_TEST_FAILF("step %zu:\n%s\nwant:\n%s", steps[i], got.p ? got.p : "", want.p);
        free(got.p);
    }
    free(want.p);
}

/* A column with an empty path reads the whole element: nothing may be left out. */
static void test_pair_whole_element_column(void)
{
    static const char *const c[] = {"title", ""};
    text want = {0}, got = {0};
    reference_csv(c, 2, &want);
    run_pair(c, 2, 5, &got);
    ASSERT_STR_EQ(got.p, want.p);
    ASSERT(strstr(got.p, "not an index")); /* a member no named column reads */
    free(want.p);
    free(got.p);
}

/* The records of one tick come out as one chunk of text, and before the end. */
static void test_csv_records_of_a_tick_in_one_chunk(void)
{
    cf_loop *loop = loop_new();
    static const char *const c[] = {"n"};
    cf_stream *csv;
    ASSERT_OK(cf_stream_csv_new(loop, 0, c, 1, 1, &csv));
    text got = {0};
    ASSERT_OK(cf_stream_on_data(csv, on_text, &got));
    for (int i = 0; i < 3; i++) {
        cf_json *o = cf_json_new_object();
        ASSERT_OK(cf_json_object_set(o, "n", 1, cf_json_new_i64(i)));
        ASSERT(cf_stream_write_object(csv, o) >= 0);
    }
    ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
    ASSERT_STR_EQ(got.p, "n\r\n0\r\n1\r\n2\r\n");
    ASSERT_EQ(got.chunks, 1);
    ASSERT_OK(cf_stream_end(csv));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_STR_EQ(got.p, "n\r\n0\r\n1\r\n2\r\n");
    free(got.p);
    close_all(loop, &csv, 1);
}

/* An element begun while piped to the CSV transform but completed while the stream is
 * paused goes to the buffer, where anyone may read it: it must be whole. */
static void test_paused_mid_element_gets_whole_element(void)
{
    cf_loop *loop = loop_new();
    static const char *const c[] = {"a"};
    cf_stream *st[2];
    ASSERT_OK(cf_stream_json_elements_new(loop, NULL, NULL, &st[0]));
    ASSERT_OK(cf_stream_csv_new(loop, 0, c, 1, 1, &st[1]));
    ASSERT_OK(cf_stream_pipe(st[0], st[1]));
    text got = {0};
    ASSERT_OK(cf_stream_on_data(st[1], on_text, &got));
    static const char first[] = "[{\"a\":1,\"b\":[1,{\"z\":2}],";
    static const char rest[] = "\"c\":\"x\"},{\"a\":2,\"d\":3}]";
    ASSERT(cf_stream_write(st[0], first, strlen(first)) >= 0);
    ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
    ASSERT_OK(cf_stream_pause(st[0]));
    ASSERT(cf_stream_write(st[0], rest, strlen(rest)) >= 0);
    ASSERT(cf_run(loop, CF_RUN_NOWAIT) >= 0);
    const char *want[] = {"{\"a\":1,\"b\":[1,{\"z\":2}],\"c\":\"x\"}", "{\"a\":2,\"d\":3}"};
    for (int i = 0; i < 2; i++) {
        void *obj = NULL;
        ASSERT_EQ(cf_stream_read_object(st[0], &obj), 1);
        char *json = NULL;
        size_t len = 0;
        ASSERT_OK(cf_json_stringify(obj, CF_JSON_COMPACT, &json, &len));
        ASSERT_STR_EQ(json, want[i]);
        cf_free(json);
        cf_json_free(obj);
    }
    ASSERT(got.p == NULL); /* neither element reached the CSV stage */
    free(got.p);
    close_all(loop, st, 2);
}

/* A stage between the two: the elements it receives are whole. */
typedef struct seen {
    int objects;
    int whole;
} seen;

static void check_transform(cf_stream *s, const void *obj, size_t len, void *data)
{
    seen *n = data;
    (void)len;
    n->objects++;
    n->whole += cf_json_size(obj) == 3 && cf_json_get(obj, "big") != NULL;
    ASSERT(cf_stream_push_object(s, cf_stream_take_object(s)) >= 0);
    cf_stream_done(s, NULL);
}

static void test_stage_between_gets_whole_elements(void)
{
    cf_loop *loop = loop_new();
    static const char *const c[] = {"a"};
    static const cf_stream_impl impl = {.transform = check_transform};
    seen n = {0};
    cf_stream_options o = {.flags = CF_STREAM_OBJECTS,
                           .free_object = (void (*)(void *))cf_json_free};
    cf_stream *st[3];
    ASSERT_OK(cf_stream_json_elements_new(loop, NULL, NULL, &st[0]));
    ASSERT_OK(cf_stream_new(loop, CF_STREAM_TRANSFORM, &impl, &o, &n, &st[1]));
    ASSERT_OK(cf_stream_csv_new(loop, 0, c, 1, 0, &st[2]));
    ASSERT_OK(cf_stream_pipe(st[0], st[1]));
    ASSERT_OK(cf_stream_pipe(st[1], st[2]));
    text got = {0};
    ASSERT_OK(cf_stream_on_data(st[2], on_text, &got));
    static const char in[] = "[{\"a\":1,\"big\":[1,2,3],\"c\":{}},{\"a\":2,\"big\":\"s\",\"c\":0}]";
    ASSERT(cf_stream_write(st[0], in, strlen(in)) >= 0);
    ASSERT_OK(cf_stream_end(st[0]));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(n.objects, 2);
    ASSERT_EQ(n.whole, 2);
    ASSERT_STR_EQ(got.p, "1\r\n2\r\n");
    free(got.p);
    close_all(loop, st, 3);
}

/* ---- the selector's projection on its own ---- */

typedef struct proj_run {
    cf_json_select *sel;
    cf__json_step keys[2];
    text whole;  /* each element rebuilt whole, one per line */
    text kept;   /* each element as built, one per line */
    int spanned; /* projected elements begun in an earlier chunk */
} proj_run;

static int proj_fn(void *data, const cf__json_step **keys, size_t *n)
{
    proj_run *r = data;
    *keys = r->keys;
    *n = 2;
    return 1;
}

static void add_json(text *t, const cf_json *v)
{
    char *json = NULL;
    size_t len = 0;
    ASSERT_OK(cf_json_stringify(v, CF_JSON_COMPACT, &json, &len));
    text_add(t, json, len);
    text_add(t, "\n", 1);
    cf_free(json);
}

static int proj_item(cf_json *item, size_t index, void *data)
{
    proj_run *r = data;
    (void)index;
    add_json(&r->kept, item);
    int how = cf__json_select_projected(r->sel);
    ASSERT_EQ(how != 0, cf_json_type_of(item) == CF_JSON_OBJECT);
    r->spanned += how == 2;
    if (!how) {
        add_json(&r->whole, item);
        return 0;
    }
    cf_json *whole = NULL;
    ASSERT_OK(cf__json_select_whole(r->sel, &whole));
    add_json(&r->whole, whole);
    cf_json_free(whole);
    return 0;
}

static void test_select_projection_and_whole(void)
{
    /* The reference: every element of doc, whole, one per line. */
    cf_json *all = NULL;
    ASSERT_OK(cf_json_parse(doc, strlen(doc), NULL, &all, NULL));
    text want = {0};
    for (size_t i = 0; i < cf_json_size(all); i++)
        add_json(&want, cf_json_at(all, i));
    cf_json_free(all);
    static const size_t steps[] = {1, 3, 16, sizeof doc};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        proj_run r = {0};
        const char *p1 = "title", *p2 = "[\"x.y\"]", *c1 = p1, *c2 = p2;
        ASSERT_EQ(cf__json_path_next(&c1, p1, &r.keys[0]), 1);
        ASSERT_EQ(cf__json_path_next(&c2, p2, &r.keys[1]), 1);
        ASSERT_OK(cf_json_select_new(&r.sel, NULL, NULL, proj_item, &r));
        cf__json_select_set_project(r.sel, proj_fn, &r);
        size_t len = strlen(doc);
        for (size_t off = 0; off < len; off += steps[k])
            ASSERT(cf_json_select_feed(r.sel, doc + off,
                                       off + steps[k] < len ? steps[k] : len - off) >= 0);
        ASSERT_OK(cf_json_select_finish(r.sel));
        cf_json_select_free(r.sel);
        ASSERT_STR_EQ(r.whole.p, want.p);
        /* Built: only the members named title or "x.y", in document order. */
        ASSERT_STR_EQ(r.kept.p,
                      "{\"title\":\"first\",\"title\":\"last, kept\",\"x.y\":true}\n"
                      "[\"an\",\"array\"]\n42\nnull\n\"str\"\n{\"title\":\"escaped key\"}\n{}\n"
                      "{\"title\":null}\n{\"title\":\"\xc3\xa9t\xc3\xa9\"}\n");
        if (steps[k] < 16)
            ASSERT(r.spanned > 0);
        else if (steps[k] == sizeof doc)
            ASSERT_EQ(r.spanned, 0);
        free(r.whole.p);
        free(r.kept.p);
    }
    free(want.p);
}

/* ---- the file read stream ---- */

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 131 + i / 4093) & 0xff);
}

static void write_pattern(const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_PTR(f);
    for (size_t i = 0; i < len; i++)
        fputc(pattern_byte(i), f);
    ASSERT_OK(fclose(f));
}

typedef struct reader {
    size_t got;
    size_t chunk;
    int chunks;
    int bad;
    int destroy_after; /* destroy the stream after this many chunks (0: never) */
    int status;
    int done;
} reader;

static void on_bytes(cf_stream *s, const void *chunk, size_t len, void *data)
{
    reader *r = data;
    const unsigned char *p = chunk;
    r->bad += len == 0 || len > r->chunk;
    for (size_t i = 0; i < len; i++)
        r->bad += p[i] != pattern_byte(r->got + i);
    r->got += len;
    if (++r->chunks == r->destroy_after)
        cf_stream_destroy(s, CF_ERROR(CF_ECANCELED, "enough"));
}

static void on_finished(cf_stream *s, int status, const cf_error *err, void *data)
{
    reader *r = data;
    (void)s;
    (void)err;
    r->status = status;
    r->done = 1;
}

static void read_file(const char *path, size_t chunk, reader *r)
{
    cf_loop *loop = loop_new();
    cf_stream *s;
    ASSERT_OK(cf_stream_fs_read_new(loop, path, chunk, &s));
    r->chunk = chunk ? chunk : 64 * 1024;
    ASSERT_OK(cf_stream_finished(s, NULL, on_finished, r));
    ASSERT_OK(cf_stream_on_data(s, on_bytes, r));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(r->done, 1);
    close_all(loop, &s, 1);
}

static void test_fs_read_batches(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in.bin", cf_test_tmpdir());
    const size_t size = 1000003; /* 15 full 64 KiB chunks and a part: several batches */
    write_pattern(path, size);
    static const size_t chunks[] = {0, 7, 100000, 300000, 1 << 20};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        reader r = {0};
        read_file(path, chunks[i], &r);
        ASSERT_EQ(r.status, 0);
        ASSERT_EQ(r.got, size);
        ASSERT_EQ(r.bad, 0);
    }
}

static void test_fs_read_short_read_and_error_mid_batch(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in.bin", cf_test_tmpdir());
    const size_t size = 400000;
    write_pattern(path, size);
    /* The second pread comes back short: reading goes on from there. */
    reader r = {0};
    cf__sys_fault_set(CF__SYS_READ, 2, 1000);
    read_file(path, 0, &r);
    cf__sys_fault_clear();
    ASSERT_EQ(r.status, 0);
    ASSERT_EQ(r.got, size);
    ASSERT_EQ(r.bad, 0);
    /* The third pread fails: the two chunks before it arrive, then the error. */
    reader e = {0};
    cf__sys_fault_set(CF__SYS_READ, 3, CF_EIO);
    read_file(path, 0, &e);
    cf__sys_fault_clear();
    ASSERT_EQ(e.status, CF_EIO);
    ASSERT_EQ(e.got, (size_t)2 * 64 * 1024);
    ASSERT_EQ(e.bad, 0);
}

static void test_fs_read_destroy_mid_batch(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in.bin", cf_test_tmpdir());
    write_pattern(path, 1 << 20);
    reader r = {.destroy_after = 2};
    read_file(path, 0, &r);
    ASSERT_EQ(r.status, CF_ECANCELED);
    /* A chunk already buffered may still be emitted (as Node's flow does); reading stops. */
    ASSERT(r.chunks >= 2 && r.chunks <= 3);
    ASSERT(r.got < (size_t)1 << 20);
    ASSERT_EQ(r.bad, 0);
}

/* Paused mode: cf_stream_read hands out memory the caller owns, not a lent buffer. */
typedef struct paused {
    cf_stream *s;
    size_t got;
    int bad;
    int ended;
} paused;

static void on_readable(cf_stream *s, cf_stream_event ev, const cf_error *err, void *data)
{
    paused *p = data;
    (void)err;
    if (ev == CF_STREAM_EV_END) {
        p->ended = 1;
        return;
    }
    cf_buf b;
    while (cf_stream_read(s, 0, &b) == 1) {
        const unsigned char *q = (const unsigned char *)b.base;
        for (size_t i = 0; i < b.len; i++)
            p->bad += q[i] != pattern_byte(p->got + i);
        p->got += b.len;
        cf_free(b.base);
    }
}

static void test_fs_read_paused_mode(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/in.bin", cf_test_tmpdir());
    const size_t size = 700001;
    write_pattern(path, size);
    cf_loop *loop = loop_new();
    paused p = {0};
    ASSERT_OK(cf_stream_fs_read_new(loop, path, 0, &p.s));
    ASSERT_OK(cf_stream_on(p.s, CF_STREAM_EV_READABLE, on_readable, &p));
    ASSERT_OK(cf_stream_on(p.s, CF_STREAM_EV_END, on_readable, &p));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(p.ended, 1);
    ASSERT_EQ(p.got, size);
    ASSERT_EQ(p.bad, 0);
    close_all(loop, &p.s, 1);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_pair_output_matches_whole_elements);
    CF_TEST(test_pair_whole_element_column);
    CF_TEST(test_csv_records_of_a_tick_in_one_chunk);
    CF_TEST(test_paused_mid_element_gets_whole_element);
    CF_TEST(test_stage_between_gets_whole_elements);
    CF_TEST(test_select_projection_and_whole);
    CF_TEST(test_fs_read_batches);
    CF_TEST(test_fs_read_short_read_and_error_mid_batch);
    CF_TEST(test_fs_read_destroy_mid_batch);
    CF_TEST(test_fs_read_paused_mode);
    return CF_TEST_END();
}
