/*
 * CSV records from JSON values: columns by key and path, every JSON type, the formula guard,
 * the streaming converter and the selector + writer path (chunks split anywhere, the same
 * bytes as a whole-document conversion, constant memory, errors, allocation failures), and
 * the Ghibli films against the reference RFC 4180 file.
 */
/* ctest-labels: conformance */
#include "harness.h"
#include "calcifer/csv.h"
#include "calcifer/json.h"
#include "util/alloc.h"
#include "util/util.h"

/* ---- helpers ---- */

static cf_json *parse(const char *text)
{
    cf_json *v = NULL;
    cf_error *err = NULL;
    int rc = cf_json_parse(text, strlen(text), NULL, &v, &err);
    if (rc)
        CF_TEST_FAILF("JSON parse failed: %s", err ? err->message : cf_strerror(rc));
    return v;
}

/* One record from `json` with `columns` and `flags`, as text in `out` (caller frees). */
static void record_of(const char *json, const char *const *columns, size_t n, unsigned flags,
                      cf_csv_mem *out)
{
    cf_json *v = parse(json);
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, flags, cf_csv_mem_write, out));
    ASSERT_OK(cf_csv_write_json_record(&w, v, columns, n));
    cf_json_free(v);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        CF_TEST_FAILF("cannot open %s", path);
    ASSERT_EQ(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ASSERT_GE(n, 0);
    rewind(f);
    char *p = malloc((size_t)n + 1);
    ASSERT_PTR(p);
    ASSERT_EQ(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    p[n] = '\0';
    *len = (size_t)n;
    return p;
}

static int feed_str(cf_csv_json *c, const char *s)
{
    return cf_csv_json_feed(c, s, strlen(s));
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* ---- records ---- */

static void test_csv_json_scalars(void)
{
    static const char *const cols[] = {"s", "n", "t", "f", "z", "missing", "u", "q", "e"};
    cf_csv_mem out = {0};
    record_of("{\"s\":\"a,b\",\"n\":-1.50e3,\"t\":true,\"f\":false,\"z\":null,"
              "\"u\":\"\\u5929\\u7a7a \\ud83c\\udfac\",\"q\":\"say \\\"hi\\\"\\n\",\"e\":\"\"}",
              cols, 9, 0, &out);
    ASSERT_STR_EQ(out.data, "\"a,b\",-1.50e3,true,false,,,天空 🎬,\"say \"\"hi\"\"\n\",\r\n");
    cf_csv_mem_free(&out);
}

static void test_csv_json_paths(void)
{
    static const char *const cols[] = {"a.b[2].c",      "people[0]", "people[5]",
                                       "[\"odd.key\"]", "a.b[0]",    "a.x.y",
                                       "people.0",      "a.b[",      "title"};
    cf_csv_mem out = {0};
    record_of("{\"a\":{\"b\":[1,2,{\"c\":\"deep\"}]},\"people\":[\"x\",\"y\"],\"odd.key\":7,"
              "\"title\":\"Ponyo\"}",
              cols, 9, 0, &out);
    ASSERT_STR_EQ(out.data, "deep,x,,7,1,,,,Ponyo\r\n");
    cf_csv_mem_free(&out);

    /* A value that is not an object: paths into it are missing, "" is the value itself. */
    static const char *const self[] = {"", "[1]", "x"};
    record_of("[\"p\",\"q\"]", self, 3, 0, &out);
    ASSERT_STR_EQ(out.data, "\"[\"\"p\"\",\"\"q\"\"]\",q,\r\n");
    cf_csv_mem_free(&out);
}

static void test_csv_json_containers_as_compact_json(void)
{
    static const char *const cols[] = {"e", "o", "one", "two", "obj", "nl", "deep"};
    cf_csv_mem out = {0};
    record_of("{\"e\":[],\"o\":{},\"one\":[ 1 ],\"two\":[1, 2],\"obj\":{\"k\" : \"v\"},"
              "\"nl\":[\"a\\nb\\r\"],\"deep\":[[[null]]]}",
              cols, 7, 0, &out);
    ASSERT_STR_EQ(out.data, "[],{},[1],\"[1,2]\",\"{\"\"k\"\":\"\"v\"\"}\",\"[\"\"a\\nb\\r\"\"]\","
                            "[[[null]]]\r\n");
    cf_csv_mem_free(&out);

    /* QUOTE_ALL reaches container fields too. */
    static const char *const two[] = {"e", "n"};
    record_of("{\"e\":[],\"n\":5}", two, 2, CF_CSV_QUOTE_ALL, &out);
    ASSERT_STR_EQ(out.data, "\"[]\",\"5\"\r\n");
    cf_csv_mem_free(&out);
}

static void test_csv_json_formula_guard_spares_numbers(void)
{
    static const char *const cols[] = {"s", "n", "ns", "at", "t"};
    cf_csv_mem out = {0};
    record_of("{\"s\":\"=HYPERLINK(1)\",\"n\":-5,\"ns\":\"-5\",\"at\":\"@x,y\",\"t\":true}", cols,
              5, CF_CSV_FORMULA_GUARD, &out);
    ASSERT_STR_EQ(out.data, "'=HYPERLINK(1),-5,'-5,\"'@x,y\",true\r\n");
    cf_csv_mem_free(&out);
}

static void test_csv_json_header_and_bad_arguments(void)
{
    static const char *const cols[] = {"title", "a.b"};
    static const char *const with_null[] = {"title", NULL};
    cf_csv_mem out = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, CF_CSV_LF, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_json_header(&w, cols, 2));
    ASSERT_OK(cf_csv_write_json_record(&w, NULL, cols, 2)); /* no value: empty fields */
    ASSERT_EQ(cf_csv_write_json_header(&w, cols, 2), CF_EINVAL);
    ASSERT_EQ(cf_csv_write_json_record(&w, NULL, cols, 0), CF_EINVAL);
    ASSERT_EQ(cf_csv_write_json_record(&w, NULL, with_null, 2), CF_EINVAL);
    ASSERT_EQ(cf_csv_write_json_record(NULL, NULL, cols, 2), CF_EINVAL);
    ASSERT_STR_EQ(out.data, "title,a.b\n,\n");
    cf_csv_mem_free(&out);

    cf_csv_json *c = (cf_csv_json *)&w;
    ASSERT_EQ(cf_csv_json_new(&c, &w, NULL, cols, 0, 0, NULL), CF_EINVAL);
    ASSERT(!c);
    ASSERT_EQ(cf_csv_json_new(&c, NULL, NULL, cols, 2, 0, NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_json_new(&c, &w, NULL, with_null, 2, 0, NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_json_new(&c, &w, "a[", cols, 2, 0, NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_json_new(NULL, &w, NULL, cols, 2, 0, NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_json_feed(NULL, "[]", 2), CF_EINVAL);
    ASSERT_EQ(cf_csv_json_finish(NULL), CF_EINVAL);
    ASSERT_STR_EQ(cf_csv_json_error(NULL), "");
    ASSERT_EQ(cf_csv_json_rows(NULL), 0);
    cf_csv_json_free(NULL);
}

/* A sink that fails once `budget` bytes have gone through. */
typedef struct budget_sink {
    size_t budget;
    cf_csv_mem mem;
} budget_sink;

static int budget_write(const char *p, size_t len, void *ctx)
{
    budget_sink *s = ctx;
    if (len > s->budget)
        return CF_ENOSPC;
    s->budget -= len;
    return cf_csv_mem_write(p, len, &s->mem);
}

static void test_csv_json_sink_error_inside_a_container(void)
{
    /* The container is larger than the staging buffer, so it reaches the sink mid-field. */
    cf_json *arr = cf_json_new_array();
    ASSERT_PTR(arr);
    for (int i = 0; i < 2000; i++)
        ASSERT_OK(cf_json_array_append(arr, cf_json_new_string("abc,\"", 5)));
    cf_json *obj = cf_json_new_object();
    ASSERT_PTR(obj);
    ASSERT_OK(cf_json_object_set(obj, "big", 3, arr));
    static const char *const cols[] = {"big"};
    budget_sink s = {.budget = 100};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &s));
    ASSERT_EQ(cf_csv_write_json_record(&w, obj, cols, 1), CF_ENOSPC);
    ASSERT_EQ(cf_csv_write_json_record(&w, obj, cols, 1), CF_ENOSPC);
    ASSERT_EQ(cf_csv_write_str(&w, "x"), CF_ENOSPC);
    cf_json_free(obj);
    cf_csv_mem_free(&s.mem);
}

/* ---- the converter ---- */

static const char *const film_cols[] = {"title", "release_date"};

static void test_csv_json_ghibli_matches_reference(void)
{
    size_t json_len, ref_len;
    char *json = read_file(CF_SHARED_DIR "/data/ghibli/data.json", &json_len);
    char *ref = read_file(CF_SHARED_DIR "/conformance/tutorial/films-rfc4180.csv", &ref_len);

    /* Whole document through the DOM. */
    cf_json *doc = parse(json);
    const cf_json *films = cf_json_path(doc, "films");
    ASSERT_EQ(cf_json_type_of(films), CF_JSON_ARRAY);
    cf_csv_mem dom = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &dom));
    ASSERT_OK(cf_csv_write_json_header(&w, film_cols, 2));
    for (size_t i = 0; i < cf_json_size(films); i++)
        ASSERT_OK(cf_csv_write_json_record(&w, cf_json_at(films, i), film_cols, 2));
    cf_json_free(doc);
    ASSERT_EQ(dom.len, ref_len);
    ASSERT_MEM_EQ(dom.data, ref, ref_len);
    cf_csv_mem_free(&dom);

    /* Streamed, whole and one byte at a time. */
    for (size_t step = json_len; step >= 1; step = step == json_len ? 1 : 0) {
        cf_csv_mem out = {0};
        ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
        cf_csv_json *c = NULL;
        ASSERT_OK(cf_csv_json_new(&c, &w, "films", film_cols, 2, 1, NULL));
        int rc = CF_JSON_NEED_MORE;
        for (size_t i = 0; i < json_len; i += step) {
            rc = cf_csv_json_feed(c, json + i, CF_MIN(step, json_len - i));
            ASSERT(rc == 0 || rc == CF_JSON_NEED_MORE);
        }
        ASSERT_EQ(rc, 0);
        ASSERT_OK(cf_csv_json_finish(c));
        ASSERT_EQ(cf_csv_json_rows(c), 22);
        ASSERT_STR_EQ(cf_csv_json_error(c), "");
        cf_csv_json_free(c);
        ASSERT_EQ(out.len, ref_len);
        ASSERT_MEM_EQ(out.data, ref, ref_len);
        cf_csv_mem_free(&out);
    }
    free(json);
    free(ref);
}

/*
 * A generated array of film-like objects with every kind of value, some keys missing, some
 * repeated (the last one counts), nested values, and now and then an element that is not an
 * object at all.
 */
static char *make_array(size_t count, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    ASSERT_PTR(f);
    uint32_t seed = 2024;
    fputs("{\"meta\":{\"n\":1},\"films\":[\n", f);
    for (size_t i = 0; i < count; i++) {
        uint32_t r = rng_next(&seed);
        fputs(i ? ",\n  " : "", f);
        if (r % 97 == 0) {
            fputs(r & 1 ? "[\"not\",\"an\",{\"object\":1}]" : r & 2 ? "null" : "-0.5", f);
            continue;
        }
        if (r & 32)
            fputs("{\"title\":\"replaced\",\"meta\":{\"k\":[1]},", f);
        else
            fputs("{", f);
        fprintf(f, "\"id\":%zu,\"title\":\"Film \\\"%zu\\\", part %u\"", i, i, r % 7);
        if (r & 1)
            fprintf(f, ",\"release_date\":\"%u\"", 1980 + r % 45);
        fprintf(f, ",\"score\":%s,\"ok\":%s,\"none\":null", r & 2 ? "-1.5e2" : "97",
                r & 4 ? "true" : "false");
        if (r & 8)
            fputs(",\"tags\":[\"a\",\"b,c\",{\"k\":\"v\\nw\",\"k\":[]}]", f);
        if (r & 16)
            fputs(",\"meta\":{\"k\":{\"deep\":[true,{}]},\"odd.key\":\"@odd\"}", f);
        fprintf(f, ",\"jp\":\"\\u5929\\u7a7a \xe3\x81\xae\\t%u\",\"formula\":\"=%u+1\" }", r % 100,
                r % 10);
    }
    fputs("],\"after\":[1,2]}", f);
    fclose(f);
    return text;
}

static const char *const gen_cols[] = {
    "title",     "release_date",      "id",      "score",         "ok",      "none",   "tags",
    "jp",        "tags[2]",           "missing", "formula",       "tags[1]", "meta.k", "meta",
    "tags[2].k", "meta[\"odd.key\"]", "",        "meta.k.deep[1]"};
#define NGEN CF_ARRAY_LEN(gen_cols)

/* A sink that compares the output with what it should be, keeping none of it. */
typedef struct compare_sink {
    const char *expect;
    size_t len;
    size_t pos;
    long peak_live;
} compare_sink;

static int compare_write(const char *p, size_t len, void *ctx)
{
    compare_sink *s = ctx;
    ASSERT_LE(s->pos + len, s->len);
    ASSERT_MEM_EQ(s->expect + s->pos, p, len);
    s->pos += len;
    long live = cf_live_allocations();
    s->peak_live = live > s->peak_live ? live : s->peak_live;
    return 0;
}

static int on_selected(cf_json *item, size_t index, void *w)
{
    (void)index;
    return cf_csv_write_json_record(w, item, gen_cols, NGEN);
}

static void test_csv_json_streams_large_array_in_random_chunks(void)
{
    size_t count = 20000;
    size_t json_len;
    char *json = make_array(count, &json_len);

    /* Whole-input conversion through the DOM: what the stream must produce. */
    cf_json *doc = parse(json);
    const cf_json *films = cf_json_get(doc, "films");
    ASSERT_EQ(cf_json_size(films), count);
    cf_csv_mem whole = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, CF_CSV_FORMULA_GUARD, cf_csv_mem_write, &whole));
    ASSERT_OK(cf_csv_write_json_header(&w, gen_cols, NGEN));
    for (size_t i = 0; i < count; i++)
        ASSERT_OK(cf_csv_write_json_record(&w, cf_json_at(films, i), gen_cols, NGEN));
    cf_json_free(doc);

    /* Streamed in random chunks; rows are compared as they come out and none is kept. */
    long base = cf_live_allocations();
    compare_sink s = {whole.data, whole.len, 0, base};
    ASSERT_OK(cf_csv_writer_init(&w, CF_CSV_FORMULA_GUARD, compare_write, &s));
    cf_csv_json *c = NULL;
    ASSERT_OK(cf_csv_json_new(&c, &w, "films", gen_cols, NGEN, 1, NULL));
    uint32_t seed = 99;
    size_t rows_seen_midway = 0;
    for (size_t i = 0; i < json_len;) {
        size_t n = CF_MIN(1 + rng_next(&seed) % 4096, json_len - i);
        int rc = cf_csv_json_feed(c, json + i, n);
        ASSERT(rc == 0 || rc == CF_JSON_NEED_MORE);
        i += n;
        if (!rows_seen_midway && i >= json_len / 2)
            rows_seen_midway = (size_t)cf_csv_json_rows(c);
    }
    ASSERT_OK(cf_csv_json_finish(c));
    ASSERT_EQ(cf_csv_json_rows(c), count);
    cf_csv_json_free(c);
    ASSERT_EQ(s.pos, whole.len);
    /* Rows came out while the input was still arriving, and memory did not follow the input:
     * a few blocks for the element being built, not one per element. */
    ASSERT_GE(rows_seen_midway, count / 2 - 10);
    ASSERT_LE(s.peak_live - base, 200);

    /* The same with the JSON selector handing each element to cf_csv_write_json_record. */
    s.pos = 0;
    s.peak_live = base;
    ASSERT_OK(cf_csv_writer_init(&w, CF_CSV_FORMULA_GUARD, compare_write, &s));
    ASSERT_OK(cf_csv_write_json_header(&w, gen_cols, NGEN));
    cf_json_select *sel = NULL;
    ASSERT_OK(cf_json_select_new(&sel, "films", NULL, on_selected, &w));
    for (size_t i = 0; i < json_len;) {
        size_t n = CF_MIN(1 + rng_next(&seed) % 4096, json_len - i);
        int rc = cf_json_select_feed(sel, json + i, n);
        ASSERT(rc == 0 || rc == CF_JSON_NEED_MORE);
        i += n;
    }
    ASSERT_OK(cf_json_select_finish(sel));
    ASSERT_EQ(cf_json_select_count(sel), count);
    cf_json_select_free(sel);
    ASSERT_EQ(s.pos, whole.len);
    ASSERT_LE(s.peak_live - base, 200);
    cf_csv_mem_free(&whole);
    free(json);
}

static void test_csv_json_converter_errors(void)
{
    cf_csv_mem out = {0};
    cf_csv_writer w;
    cf_csv_json *c = NULL;

    /* JSON syntax: the parser's error, sticky. */
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_json_new(&c, &w, NULL, film_cols, 2, 1, NULL));
    ASSERT_EQ(feed_str(c, "[{\"title\":\"a\"},\n{\"title\" \"b\"}]"), CF_EPARSE);
    ASSERT(strstr(cf_csv_json_error(c), "line 2"));
    ASSERT_EQ(cf_csv_json_finish(c), CF_EPARSE);
    ASSERT_STR_EQ(out.data, "title,release_date\r\na,\r\n");
    cf_csv_json_free(c);
    cf_csv_mem_free(&out);

    /* The value at the path is not an array; no value at the path. */
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_json_new(&c, &w, "films", film_cols, 2, 0, NULL));
    ASSERT_EQ(feed_str(c, "{\"films\":{}}"), CF_EPARSE);
    ASSERT_STR_EQ(cf_csv_json_error(c), "JSON: expected an array at path 'films' (byte 9)");
    cf_csv_json_free(c);
    ASSERT_OK(cf_csv_json_new(&c, &w, "films", film_cols, 2, 0, NULL));
    ASSERT_EQ(feed_str(c, "{\"people\":[]}"), 0);
    ASSERT_EQ(cf_csv_json_finish(c), CF_ENOENT);
    ASSERT_STR_EQ(cf_csv_json_error(c), "JSON: no value at path 'films'");
    ASSERT_EQ(cf_csv_json_rows(c), 0);
    cf_csv_json_free(c);
    ASSERT(!out.data);

    /* A selected value longer than the limit. */
    cf_json_limits lim = {.max_string = 16};
    ASSERT_OK(cf_csv_json_new(&c, &w, NULL, film_cols, 2, 0, &lim));
    ASSERT_EQ(feed_str(c, "[{\"title\":\"sixteen chars...\"},{\"title\":\"seventeen chars..\"}]"),
              CF_ETOOBIG);
    ASSERT(strstr(cf_csv_json_error(c), "longer than"));
    ASSERT_EQ(cf_csv_json_rows(c), 1);
    cf_csv_json_free(c);
    cf_csv_mem_free(&out);

    /* Truncated input. */
    ASSERT_OK(cf_csv_json_new(&c, &w, NULL, film_cols, 2, 0, NULL));
    ASSERT_EQ(feed_str(c, "[{\"title\":1}"), CF_JSON_NEED_MORE);
    ASSERT_EQ(cf_csv_json_finish(c), CF_EPARSE);
    cf_csv_json_free(c);
    ASSERT_STR_EQ(out.data, "1,\r\n");
    cf_csv_mem_free(&out);

    /* The sink fails: the writer's error comes back, sticky, with the row. */
    budget_sink s = {.budget = 26};
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &s));
    ASSERT_OK(cf_csv_json_new(&c, &w, NULL, film_cols, 2, 1, NULL));
    ASSERT_EQ(feed_str(c, "[{\"title\":\"a\"},{\"title\":\"b\"},"), CF_ENOSPC);
    ASSERT_STR_EQ(cf_csv_json_error(c), "CSV: writing row 2: no space left on device");
    ASSERT_EQ(feed_str(c, "]"), CF_ENOSPC);
    ASSERT_EQ(cf_csv_json_finish(c), CF_ENOSPC);
    ASSERT_EQ(cf_csv_json_rows(c), 1);
    cf_csv_json_free(c);
    cf_csv_mem_free(&s.mem);

    /* Even the header can fail. */
    budget_sink h = {.budget = 3};
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &h));
    ASSERT_OK(cf_csv_json_new(&c, &w, NULL, film_cols, 2, 1, NULL));
    ASSERT_EQ(feed_str(c, "[]"), CF_ENOSPC);
    ASSERT_STR_EQ(cf_csv_json_error(c), "CSV: writing the header: no space left on device");
    cf_csv_json_free(c);
}

/* Fail allocation n = 1, 2, ... (once, then sticky) until the conversion succeeds. */
static void test_csv_json_out_of_memory(void)
{
    static const char doc[] = "{\"films\":[{\"title\":\"a,b\",\"release_date\":\"1986\","
                              "\"tags\":[1,{\"x\":[2]}]},{\"title\":\"c\"}]}";
    static const char *const cols[] = {"title", "release_date", "tags"};
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (long n = 1;; n++) {
            cf_csv_mem out = {0};
            cf_csv_writer w;
            ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
            cf_csv_json *c = NULL;
            cf__alloc_fail_after(n, sticky);
            int rc = cf_csv_json_new(&c, &w, "films", cols, 3, 1, NULL);
            if (!rc)
                rc = cf_csv_json_feed(c, doc, sizeof doc - 1);
            if (!rc)
                rc = cf_csv_json_finish(c);
            long counted = cf__alloc_fail_after(0, 0);
            cf_csv_json_free(c);
            if (!rc) {
                ASSERT(counted < n);
                ASSERT_STR_EQ(out.data, "title,release_date,tags\r\n\"a,b\",1986,"
                                        "\"[1,{\"\"x\"\":[2]}]\"\r\nc,,\r\n");
                cf_csv_mem_free(&out);
                break;
            }
            ASSERT_EQ(rc, CF_ENOMEM);
            cf_csv_mem_free(&out);
            ASSERT_LE(n, 500);
        }
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_csv_json_scalars);
    CF_TEST(test_csv_json_paths);
    CF_TEST(test_csv_json_containers_as_compact_json);
    CF_TEST(test_csv_json_formula_guard_spares_numbers);
    CF_TEST(test_csv_json_header_and_bad_arguments);
    CF_TEST(test_csv_json_sink_error_inside_a_container);
    CF_TEST(test_csv_json_ghibli_matches_reference);
    CF_TEST(test_csv_json_streams_large_array_in_random_chunks);
    CF_TEST(test_csv_json_converter_errors);
    CF_TEST(test_csv_json_out_of_memory);
    return CF_TEST_END();
}
