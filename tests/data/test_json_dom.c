/* Tests of the JSON DOM (lookups, paths, construction), the serializer (JSON.stringify byte
 * for byte) and the streaming selector (bounded memory on a large array). */
#include <string.h>

#include "harness.h"
#include "util/alloc.h"
#include "util/util.h"

static cf_json *parse(const char *text)
{
    cf_json *v = NULL;
    cf_error *err = NULL;
    int rc = cf_json_parse(text, strlen(text), NULL, &v, &err);
    if (rc)
        CF_TEST_FAILF("parse %s: %s", text, err ? err->message : "?");
    return v;
}

static char *stringify(const cf_json *v, unsigned flags)
{
    char *out = NULL;
    ASSERT_OK(cf_json_stringify(v, flags, &out, NULL));
    return out;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        CF_TEST_FAILF("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ASSERT_PTR(buf);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- lookups ---- */

static void test_json_dom_lookups(void)
{
    cf_json *v = parse("{\"a\": {\"b\": [10, 20, {\"c\": \"deep\"}]}, \"s\": \"x\\u0000y\", "
                       "\"t\": true, \"f\": false, \"z\": null, \"a.b\": 1}");
    ASSERT_EQ(cf_json_type_of(v), CF_JSON_OBJECT);
    ASSERT_EQ(cf_json_size(v), 6);
    ASSERT_STR_EQ(cf_json_number_text(cf_json_path(v, "a.b[1]"), NULL), "20");
    ASSERT_STR_EQ(cf_json_string(cf_json_path(v, "a.b[2].c"), NULL), "deep");
    ASSERT(cf_json_path(v, "") == v);
    ASSERT_STR_EQ(cf_json_number_text(cf_json_path(v, "[\"a.b\"]"), NULL), "1");
    ASSERT(cf_json_path(v, "a.b[3]") == NULL);
    ASSERT(cf_json_path(v, "a.x") == NULL);
    ASSERT(cf_json_path(v, "s.x") == NULL);
    ASSERT(cf_json_path(v, "a..b") == NULL);
    ASSERT(cf_json_path(v, "a.b[") == NULL);
    ASSERT(cf_json_path(v, "a.b[x]") == NULL);
    ASSERT(cf_json_path(v, ".a") == NULL);
    size_t len = 0;
    const char *s = cf_json_string(cf_json_get(v, "s"), &len);
    ASSERT_EQ(len, 3);
    ASSERT_MEM_EQ(s, "x\0y", 3);
    ASSERT_EQ(cf_json_bool(cf_json_get(v, "t")), 1);
    ASSERT_EQ(cf_json_bool(cf_json_get(v, "f")), 0);
    ASSERT_EQ(cf_json_type_of(cf_json_get(v, "z")), CF_JSON_NULL);
    ASSERT_EQ(cf_json_type_of(cf_json_get(v, "f")), CF_JSON_BOOL);
    ASSERT(cf_json_get(v, "missing") == NULL);
    ASSERT(cf_json_getn(v, "a.bc", 3) == cf_json_get(v, "a.b"));
    ASSERT(cf_json_string(cf_json_get(v, "t"), NULL) == NULL);
    ASSERT_STR_EQ(cf_json_type_name(cf_json_type_of(cf_json_get(v, "a"))), "object");
    ASSERT_STR_EQ(cf_json_type_name(CF_JSON_ARRAY), "array");
    cf_json_free(v);

    cf_json *arr = parse("[[1, 2], {\"x\": [true]}]");
    ASSERT_STR_EQ(cf_json_number_text(cf_json_path(arr, "[0][1]"), NULL), "2");
    ASSERT_EQ(cf_json_bool(cf_json_path(arr, "[1].x[0]")), 1);
    ASSERT(cf_json_path(arr, "x") == NULL);
    cf_json_free(arr);
}

static void test_json_dom_quoted_path_keys(void)
{
    cf_json *v = parse("{\"a\\\"b\": {\"c\\\\d\": 1, \"\": 2}}");
    ASSERT_STR_EQ(cf_json_number_text(cf_json_path(v, "[\"a\\\"b\"][\"c\\\\d\"]"), NULL), "1");
    ASSERT_STR_EQ(cf_json_number_text(cf_json_path(v, "[\"a\\\"b\"][\"\"]"), NULL), "2");
    ASSERT(cf_json_path(v, "[\"a\\xb\"]") == NULL);
    ASSERT(cf_json_path(v, "[\"a\"") == NULL);
    cf_json_free(v);
}

static void test_json_dom_duplicate_keys(void)
{
    const char *doc = "{\"k\":1,\"j\":2,\"k\":3}";
    cf_json *v = parse(doc);
    ASSERT_EQ(cf_json_size(v), 3);                                      /* kept in document order */
    ASSERT_STR_EQ(cf_json_number_text(cf_json_get(v, "k"), NULL), "3"); /* the last wins */
    char *out = stringify(v, CF_JSON_COMPACT);
    ASSERT_STR_EQ(out, doc);
    cf_free(out);
    ASSERT_OK(cf_json_object_set(v, "k", 1, cf_json_new_i64(4))); /* replaces the last */
    out = stringify(v, CF_JSON_COMPACT);
    ASSERT_STR_EQ(out, "{\"k\":1,\"j\":2,\"k\":4}");
    cf_free(out);
    cf_json_free(v);
}

static void test_json_dom_iteration(void)
{
    cf_json *v = parse("{\"one\": 1, \"two\": [2, 3], \"three\": \"3\"}");
    const char *keys[] = {"one", "two", "three"};
    const cf_json_type types[] = {CF_JSON_NUMBER, CF_JSON_ARRAY, CF_JSON_STRING};
    for (size_t i = 0; i < cf_json_size(v); i++) {
        size_t len;
        ASSERT_STR_EQ(cf_json_key_at(v, i, &len), keys[i]);
        ASSERT_EQ(len, strlen(keys[i]));
        ASSERT_EQ(cf_json_type_of(cf_json_at(v, i)), types[i]);
    }
    ASSERT(cf_json_at(v, 3) == NULL);
    ASSERT(cf_json_key_at(v, 3, NULL) == NULL);
    cf_json *two = cf_json_at(v, 1);
    ASSERT_EQ(cf_json_size(two), 2);
    ASSERT_STR_EQ(cf_json_number_text(cf_json_at(two, 1), NULL), "3");
    ASSERT(cf_json_key_at(two, 0, NULL) == NULL);
    ASSERT_EQ(cf_json_size(cf_json_at(v, 0)), 0);
    cf_json_free(v);
}

static void test_json_dom_numbers(void)
{
    cf_json *v = parse("[9223372036854775807, 9223372036854775808, -1.5e2, 7, \"7\"]");
    int64_t i;
    double d;
    ASSERT_OK(cf_json_get_i64(cf_json_at(v, 0), &i));
    ASSERT(i == INT64_MAX);
    ASSERT_EQ(cf_json_get_i64(cf_json_at(v, 1), &i), CF_ERANGE);
    ASSERT_EQ(cf_json_get_i64(cf_json_at(v, 2), &i), CF_EINVAL);
    ASSERT_OK(cf_json_get_double(cf_json_at(v, 2), &d));
    ASSERT(d == -150.0);
    ASSERT_OK(cf_json_get_double(cf_json_at(v, 3), &d));
    ASSERT(d == 7.0);
    ASSERT_EQ(cf_json_get_i64(cf_json_at(v, 4), &i), CF_EINVAL);
    ASSERT_EQ(cf_json_get_double(NULL, &d), CF_EINVAL);
    cf_json_free(v);
}

static void test_json_dom_parse_errors(void)
{
    cf_json *v = (cf_json *)1;
    cf_error *err = NULL;
    ASSERT_EQ(cf_json_parse("[1,\n 2,,]", 9, NULL, &v, &err), CF_EPARSE);
    ASSERT(v == NULL);
    ASSERT_PTR(err);
    ASSERT_EQ(err->code, CF_EPARSE);
    ASSERT_STR_EQ(err->message, "JSON: expected a value at line 2, column 4 (byte 7)");
    cf_error_free(err);
    ASSERT_EQ(cf_json_parse("[1] [2]", 7, NULL, &v, NULL), CF_EPARSE);
    ASSERT_EQ(cf_json_parse(NULL, 3, NULL, &v, NULL), CF_EINVAL);
    cf_json_limits lim = {.max_depth = 2, .max_string = 4};
    ASSERT_EQ(cf_json_parse("[[[]]]", 6, &lim, &v, NULL), CF_ETOOBIG);
    ASSERT_EQ(cf_json_parse("[\"abcde\"]", 9, &lim, &v, &err), CF_ETOOBIG);
    ASSERT_STR_EQ(err->message,
                  "JSON: string longer than the scratch buffer (4 bytes) at line 1, column 2 "
                  "(byte 1)");
    cf_error_free(err);
    ASSERT_OK(cf_json_parse("[\"abcd\"]", 8, &lim, &v, NULL));
    cf_json_free(v);
}

/* ---- serializer ---- */

static void test_json_dom_serialize_like_json_stringify(void)
{
    /* Expected texts come from Node: JSON.stringify(v) and JSON.stringify(v, null, 2). */
    const char *doc =
        "{\"a\":\"\\u0001\\b\\f\\n\\r\\t\\\"\\\\\\/\xC3\xA9\\u2028\\u007f\\ud800x\\udfff\","
        "\"e\":[],\"o\":{},\"n\":[1,{\"x\":null,\"y z\":[[]]}],\"t\":true,\"f\":false}";
    const char *pretty = "{\n  \"a\": \"\\u0001\\b\\f\\n\\r\\t\\\"\\\\/\xC3\xA9\xE2\x80\xA8\x7F"
                         "\\ud800x\\udfff\",\n  \"e\": [],\n  \"o\": {},\n  \"n\": [\n    1,\n"
                         "    {\n      \"x\": null,\n      \"y z\": [\n        []\n      ]\n"
                         "    }\n  ],\n  \"t\": true,\n  \"f\": false\n}";
    const char *compact = "{\"a\":\"\\u0001\\b\\f\\n\\r\\t\\\"\\\\/\xC3\xA9\xE2\x80\xA8\x7F"
                          "\\ud800x\\udfff\",\"e\":[],\"o\":{},\"n\":[1,{\"x\":null,\"y z\":[[]]}],"
                          "\"t\":true,\"f\":false}";
    cf_json_limits lim = {.flags = CF_JSON_LONE_SURROGATES};
    cf_json *v = NULL;
    ASSERT_OK(cf_json_parse(doc, strlen(doc), &lim, &v, NULL));
    char *out = stringify(v, CF_JSON_PRETTY);
    ASSERT_STR_EQ(out, pretty);
    cf_free(out);
    size_t len;
    ASSERT_OK(cf_json_stringify(v, CF_JSON_COMPACT, &out, &len));
    ASSERT_STR_EQ(out, compact);
    ASSERT_EQ(len, strlen(compact));
    cf_free(out);
    cf_json_free(v);
}

static void test_json_dom_serialize_scalars_and_bad_utf8(void)
{
    cf_json *s = cf_json_new_string("a\x80"
                                    "b\xED\xA0",
                                    5);
    char *out = stringify(s, CF_JSON_PRETTY);
    ASSERT_STR_EQ(out, "\"a\xEF\xBF\xBD"
                       "b\xEF\xBF\xBD\xEF\xBF\xBD\"");
    cf_free(out);
    cf_json_free(s);
    cf_json *n = cf_json_new_null();
    out = stringify(n, CF_JSON_PRETTY);
    ASSERT_STR_EQ(out, "null");
    cf_free(out);
    cf_json_free(n);
    ASSERT_EQ(cf_json_stringify(NULL, 0, &out, NULL), CF_EINVAL);
}

static int collect(const char *bytes, size_t len, void *data)
{
    size_t *total = data;
    (void)bytes;
    *total += len;
    return *total > 10000 ? CF_ECANCELED : 0;
}

static void test_json_dom_write_in_pieces(void)
{
    cf_json *arr = cf_json_new_array();
    for (int i = 0; i < 5000; i++)
        ASSERT_OK(cf_json_array_append(arr, cf_json_new_string("abcdefgh", 8)));
    size_t total = 0;
    ASSERT_EQ(cf_json_write(arr, CF_JSON_COMPACT, collect, &total), CF_ECANCELED);
    ASSERT(total > 10000 && total < 20000);
    char *out;
    size_t len;
    ASSERT_OK(cf_json_stringify(arr, CF_JSON_COMPACT, &out, &len));
    ASSERT_EQ(len, 2 + 5000 * 10 + 4999);
    cf_free(out);
    cf_json_free(arr);
}

/* The pretty print of the Ghibli films equals Node's JSON.stringify(films, null, 2). */
static void test_json_dom_ghibli_films_match_node(void)
{
    size_t len;
    size_t plen;
    size_t clen;
    char *text = read_all(CF_SOURCE_DIR "/data/ghibli.json", &len);
    char *want_pretty = read_all(CF_SOURCE_DIR "/tests/data/json/ghibli_films.pretty.json", &plen);
    char *want_compact =
        read_all(CF_SOURCE_DIR "/tests/data/json/ghibli_films.compact.json", &clen);
    cf_json *doc = NULL;
    ASSERT_OK(cf_json_parse(text, len, NULL, &doc, NULL));
    cf_json *films = cf_json_get(doc, "films");
    ASSERT_EQ(cf_json_type_of(films), CF_JSON_ARRAY);
    ASSERT_STR_EQ(cf_json_string(cf_json_path(doc, "films[0].title"), NULL), "Castle in the Sky");
    char *out;
    size_t olen;
    ASSERT_OK(cf_json_stringify(films, CF_JSON_PRETTY, &out, &olen));
    ASSERT_EQ(olen, plen);
    ASSERT_MEM_EQ(out, want_pretty, plen);
    cf_free(out);
    ASSERT_OK(cf_json_stringify(films, CF_JSON_COMPACT, &out, &olen));
    ASSERT_EQ(olen, clen);
    ASSERT_MEM_EQ(out, want_compact, clen);
    cf_free(out);
    cf_json_free(doc);
    free(text);
    free(want_pretty);
    free(want_compact);
}

static void test_json_dom_round_trip(void)
{
    const char *docs[] = {"[]",
                          "{}",
                          "0",
                          "-1.25e-3",
                          "\"\"",
                          "[null,true,false]",
                          "{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}",
                          "\"\\u0000\\u001f\xF0\x9F\x98\x80\""};
    for (size_t i = 0; i < CF_ARRAY_LEN(docs); i++) {
        cf_json *v = parse(docs[i]);
        char *out = stringify(v, CF_JSON_COMPACT);
        ASSERT_STR_EQ(out, docs[i]);
        char *pretty = stringify(v, CF_JSON_PRETTY);
        cf_json *w = parse(pretty);
        ASSERT(cf_json_equal(v, w));
        cf_free(out);
        cf_free(pretty);
        cf_json_free(v);
        cf_json_free(w);
    }
}

/* ---- construction ---- */

static void test_json_dom_build_values(void)
{
    cf_json *o = cf_json_new_object();
    ASSERT_OK(cf_json_object_set(o, "id", 2, cf_json_new_i64(INT64_MIN)));
    ASSERT_OK(cf_json_object_set(o, "pi", 2, cf_json_new_double(3.14159)));
    ASSERT_OK(cf_json_object_set(o, "third", 5, cf_json_new_double(1.0 / 3)));
    ASSERT_OK(cf_json_object_set(o, "big", 3, cf_json_new_double(1e300)));
    ASSERT_OK(cf_json_object_set(o, "neg0", 4, cf_json_new_double(-0.0)));
    ASSERT_OK(cf_json_object_set(o, "n", 1, cf_json_new_number("1E+2", 4)));
    cf_json *a = cf_json_new_array();
    ASSERT_OK(cf_json_array_append(a, cf_json_new_bool(1)));
    ASSERT_OK(cf_json_array_append(a, cf_json_new_null()));
    ASSERT_OK(cf_json_array_append(a, cf_json_new_string("q\"", 2)));
    ASSERT_OK(cf_json_object_set(o, "list", 4, a));
    char *out = stringify(o, CF_JSON_COMPACT);
    ASSERT_STR_EQ(out, "{\"id\":-9223372036854775808,\"pi\":3.14159,\"third\":0.3333333333333333,"
                       "\"big\":1e+300,\"neg0\":0,\"n\":1E+2,\"list\":[true,null,\"q\\\"\"]}");
    cf_free(out);
    double d;
    ASSERT_OK(cf_json_get_double(cf_json_get(o, "third"), &d));
    ASSERT(d == 1.0 / 3);
    ASSERT(cf_json_new_number("1.", 2) == NULL);
    ASSERT(cf_json_new_number("NaN", 3) == NULL);
    ASSERT(cf_json_new_double(1.0 / 0.0) == NULL);
    ASSERT_EQ(cf_json_array_append(o, cf_json_new_null()), CF_EINVAL); /* takes it anyway */
    ASSERT_EQ(cf_json_object_set(a, "x", 1, cf_json_new_null()), CF_EINVAL);
    ASSERT_EQ(cf_json_object_set(o, "x", 1, NULL), CF_EINVAL);
    cf_json_free(o);
}

static void test_json_dom_clone_and_equal(void)
{
    cf_json *v = parse("{\"a\":[1,\"2\",{\"b\":null}],\"c\":true}");
    cf_json *c = cf_json_clone(v);
    ASSERT(c != v);
    ASSERT(cf_json_equal(v, c));
    ASSERT_OK(cf_json_object_set(c, "c", 1, cf_json_new_bool(0)));
    ASSERT(!cf_json_equal(v, c));
    cf_json *w = parse("{\"c\":true,\"a\":[1,\"2\",{\"b\":null}]}");
    ASSERT(!cf_json_equal(v, w)); /* member order matters */
    cf_json *x = parse("[1.0]");
    cf_json *y = parse("[1]");
    ASSERT(!cf_json_equal(x, y)); /* numbers compare by text */
    ASSERT(cf_json_equal(NULL, NULL));
    cf_json_free(v);
    cf_json_free(c);
    cf_json_free(w);
    cf_json_free(x);
    cf_json_free(y);
}

/* A parsed tree can be changed like a built one, and frees cleanly afterwards. */
static void test_json_dom_change_parsed_tree(void)
{
    cf_json *v = parse("{\"a\": [1, 2], \"b\": {\"c\": \"d\"}, \"e\": []}");
    cf_json *a = cf_json_get(v, "a");
    for (int i = 3; i <= 40; i++)
        ASSERT_OK(cf_json_array_append(a, cf_json_new_i64(i)));
    ASSERT_OK(cf_json_array_append(cf_json_get(v, "e"), cf_json_new_string("x", 1)));
    ASSERT_OK(cf_json_object_set(v, "b", 1, cf_json_new_null())); /* replaces a parsed subtree */
    ASSERT_OK(cf_json_object_set(cf_json_get(v, "a") ? v : NULL, "new", 3, parse("[true]")));
    for (int i = 0; i < 20; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i);
        ASSERT_OK(cf_json_object_set(v, key, (size_t)n, cf_json_new_bool(i & 1)));
    }
    char *out = stringify(cf_json_path(v, "a[39]"), CF_JSON_COMPACT);
    ASSERT_STR_EQ(out, "40");
    cf_free(out);
    out = stringify(cf_json_get(v, "new"), CF_JSON_COMPACT);
    ASSERT_STR_EQ(out, "[true]");
    cf_free(out);
    ASSERT_EQ(cf_json_size(v), 24);
    ASSERT_STR_EQ(cf_json_key_at(v, 23, NULL), "k19");
    cf_json *outer = cf_json_new_array();
    ASSERT_OK(cf_json_array_append(outer, v)); /* a parsed root moves into a built tree */
    cf_json_free(outer);
}

static void test_json_dom_builder_with_chunks(void)
{
    const char *doc = "{\"films\": [{\"title\": \"Spirited Away\", \"year\": 2001}, "
                      "{\"title\": \"\\u5343\\u3068\\u5343\\u5c0b\"}]}";
    char scratch[64];
    cf_json_builder *b;
    ASSERT_OK(cf_json_builder_new(&b));
    cf_json_parser p;
    cf_json_parser_init(&p, cf_json_builder_event, b, scratch, sizeof scratch);
    ASSERT(cf_json_builder_take(b) == NULL);
    for (size_t i = 0; doc[i]; i++)
        ASSERT(cf_json_parser_feed(&p, doc + i, 1) >= 0);
    ASSERT_OK(cf_json_parser_finish(&p));
    cf_json *v = cf_json_builder_take(b);
    ASSERT_PTR(v);
    ASSERT_STR_EQ(cf_json_string(cf_json_path(v, "films[1].title"), NULL),
                  "\xE5\x8D\x83\xE3\x81\xA8\xE5\x8D\x83\xE5\xB0\x8B");
    cf_json_free(v);
    /* A partial tree is freed with the builder. */
    cf_json_parser_init(&p, cf_json_builder_event, b, scratch, sizeof scratch);
    ASSERT_EQ(cf_json_parser_feed(&p, "[{\"a\": [1, 2", 12), CF_JSON_NEED_MORE);
    cf_json_builder_free(b);
}

static void test_json_dom_parse_out_of_memory(void)
{
    const char *doc = "{\"a\": [1, \"two\", {\"three\": [true, null]}], \"b\\n\": \"x\\ty\"}";
    for (long n = 1;; n++) {
        cf_json *v = NULL;
        cf_error *err = NULL;
        cf__alloc_fail_after(n, (int)(n & 1)); /* once, or every call from the n-th on */
        int rc = cf_json_parse(doc, strlen(doc), NULL, &v, &err);
        cf__alloc_fail_after(0, 0);
        if (!rc) {
            ASSERT(n > 3); /* scratch, builder, its stacks, the arena */
            cf_json_free(v);
            break;
        }
        ASSERT_EQ(rc, CF_ENOMEM);
        cf_error_free(err);
    }
}

/* ---- selector ---- */

typedef struct picked {
    char text[1024];
    size_t len;
    size_t count;
    long max_live;
    int stop_at;
} picked;

static int pick(cf_json *item, size_t index, void *data)
{
    picked *p = data;
    ASSERT_EQ(index, p->count);
    p->count++;
    if (cf_json_type_of(item) == CF_JSON_OBJECT && cf_json_size(item) > 3)
        cf_json_object_set(item, "extra", 5, cf_json_new_i64(1)); /* freed with the item */
    long live = cf_live_allocations();
    if (live > p->max_live)
        p->max_live = live;
    char *s = NULL;
    int rc = cf_json_stringify(item, CF_JSON_COMPACT, &s, NULL);
    if (rc)
        return rc; /* out of memory under fault injection */
    if (p->len + strlen(s) + 2 > sizeof p->text)
        p->len = 0; /* keep only the recent items' text */
    p->len += (size_t)snprintf(p->text + p->len, sizeof p->text - p->len, "%s|", s);
    cf_free(s);
    return p->count == (size_t)p->stop_at ? CF_ECANCELED : 0;
}

/* Run a selector over `doc` in chunks of `step` bytes (0 = whole). */
static int select_doc(const char *path, const char *doc, size_t step, picked *p, char *msg,
                      size_t msg_len)
{
    cf_json_select *s;
    ASSERT_OK(cf_json_select_new(&s, path, NULL, pick, p));
    size_t len = strlen(doc);
    int rc = CF_JSON_NEED_MORE;
    for (size_t at = 0; at < len && rc >= 0;) {
        size_t n = step ? CF_MIN(step, len - at) : len;
        rc = cf_json_select_feed(s, doc + at, n);
        at += n;
    }
    if (rc >= 0)
        rc = cf_json_select_finish(s);
    if (msg)
        snprintf(msg, msg_len, "%s", cf_json_select_error(s));
    ASSERT_EQ(cf_json_select_count(s), p->count);
    cf_json_select_free(s);
    return rc;
}

static void test_json_select_top_level_array(void)
{
    const char *doc = "[{\"id\": 1, \"tags\": [\"a\", \"b\"]}, 2, \"three\", [4, [5]], null, {}]";
    for (size_t step = 0; step < 8; step++) {
        picked p = {0};
        ASSERT_OK(select_doc(NULL, doc, step, &p, NULL, 0));
        ASSERT_EQ(p.count, 6);
        ASSERT_STR_EQ(p.text, "{\"id\":1,\"tags\":[\"a\",\"b\"]}|2|\"three\"|[4,[5]]|null|{}|");
    }
    picked e = {0};
    ASSERT_OK(select_doc("", "[]", 0, &e, NULL, 0));
    ASSERT_EQ(e.count, 0);
}

static void test_json_select_array_at_a_path(void)
{
    const char *doc = "{\"meta\": {\"items\": [0]}, \"data\": {\"other\": [9], \"items\": "
                      "[{\"n\": 1}, {\"n\": 2, \"items\": [99]}], \"after\": [8]}, \"items\": [7]}";
    picked p = {0};
    ASSERT_OK(select_doc("data.items", doc, 0, &p, NULL, 0));
    ASSERT_STR_EQ(p.text, "{\"n\":1}|{\"n\":2,\"items\":[99]}|");
    picked q = {0};
    ASSERT_OK(select_doc("data.items", doc, 3, &q, NULL, 0));
    ASSERT_STR_EQ(q.text, p.text);
    picked r = {0};
    ASSERT_OK(select_doc("[1].x", "[{\"x\": [0]}, {\"y\": [5], \"x\": [1, 2]}, {\"x\": [3]}]", 0,
                         &r, NULL, 0));
    ASSERT_STR_EQ(r.text, "1|2|");
    picked t = {0};
    ASSERT_OK(select_doc("[\"a.b\"]", "{\"a\": {\"b\": [0]}, \"a.b\": [\"yes\"]}", 1, &t, NULL, 0));
    ASSERT_STR_EQ(t.text, "\"yes\"|");
}

static void test_json_select_errors(void)
{
    char msg[256];
    picked p = {0};
    ASSERT_EQ(select_doc("data", "{\"data\": {\"x\": 1}}", 0, &p, msg, sizeof msg), CF_EPARSE);
    ASSERT_STR_EQ(msg, "JSON: expected an array at path 'data' at line 1, column 10 (byte 9)");
    ASSERT_EQ(select_doc("data", "{\"info\": [1]}", 0, &p, msg, sizeof msg), CF_ENOENT);
    ASSERT_STR_EQ(msg, "JSON: no value at path 'data'");
    ASSERT_EQ(select_doc("", "[1, 2", 0, &p, msg, sizeof msg), CF_EPARSE);
    ASSERT_STR_EQ(msg, "JSON: unexpected end of input, expected ',' or ']' at line 1, column 6 "
                       "(byte 5)");
    picked s = {0};
    s.stop_at = 2;
    ASSERT_EQ(select_doc("", "[1, 2, 3]", 0, &s, NULL, 0), CF_ECANCELED);
    ASSERT_EQ(s.count, 2);
    cf_json_select *sel;
    ASSERT_EQ(cf_json_select_new(&sel, "a..b", NULL, pick, &p), CF_EINVAL);
    ASSERT_EQ(cf_json_select_new(&sel, "a[", NULL, pick, &p), CF_EINVAL);
    ASSERT_EQ(cf_json_select_new(&sel, "a", NULL, NULL, &p), CF_EINVAL);
}

/* A large array streams through with a constant number of live allocations. */
static void test_json_select_large_array_bounded_memory(void)
{
    picked p = {0};
    cf_json_select *s;
    ASSERT_OK(cf_json_select_new(&s, "films", NULL, pick, &p));
    long base = cf_live_allocations();
    char chunk[8192];
    size_t n = 0;
    n += (size_t)snprintf(chunk + n, sizeof chunk - n, "{\"count\": 40000, \"films\": [");
    for (int i = 0; i < 40000; i++) {
        n += (size_t)snprintf(chunk + n, sizeof chunk - n,
                              "%s{\"id\": %d, \"title\": \"Film \\u00e9 %d\", \"people\": [\"a\", "
                              "\"b\"], \"score\": %d.5}",
                              i ? ", " : "", i, i, i % 100);
        if (n > sizeof chunk - 200) {
            ASSERT_EQ(cf_json_select_feed(s, chunk, n), CF_JSON_NEED_MORE);
            n = 0;
        }
    }
    n += (size_t)snprintf(chunk + n, sizeof chunk - n, "], \"end\": true}");
    ASSERT_EQ(cf_json_select_feed(s, chunk, n), 0);
    ASSERT_OK(cf_json_select_finish(s));
    ASSERT_EQ(p.count, 40000);
    ASSERT(strstr(p.text,
                  "{\"id\":39999,\"title\":\"Film \xC3\xA9 39999\",\"people\":[\"a\",\"b\"],"
                  "\"score\":99.5,\"extra\":1}|"));
    ASSERT_LE(p.max_live - base, 20); /* one element (and its stringification) at a time */
    cf_json_select_free(s);
}

typedef struct taker {
    cf_json_select *sel;
    cf_json *kept[8];
    size_t n;
} taker;

/* Take every other element; the others are left to the selector. */
static int take_some(cf_json *item, size_t index, void *data)
{
    taker *t = data;
    if (index % 2)
        return 0;
    cf_json *v = cf_json_select_take(t->sel);
    ASSERT(v == item);
    ASSERT(!cf_json_select_take(t->sel)); /* once only */
    ASSERT(t->n < 8);
    t->kept[t->n++] = v;
    return 0;
}

/* Taken elements outlive the selector and the elements built after them. */
static void test_json_select_take_keeps_the_element(void)
{
    const char *doc = "[{\"n\": 0, \"s\": \"zero\"}, {\"n\": 1}, [2, {\"x\": \"two\"}], \"three\", "
                      "{\"n\": 4, \"deep\": {\"a\": [1, 2, 3]}}]";
    taker t = {0};
    ASSERT_OK(cf_json_select_new(&t.sel, NULL, NULL, take_some, &t));
    ASSERT(!cf_json_select_take(t.sel)); /* outside the callback */
    size_t len = strlen(doc);
    for (size_t at = 0; at < len; at += 3) /* 3 bytes a feed: elements end mid-chunk */
        ASSERT(cf_json_select_feed(t.sel, doc + at, CF_MIN((size_t)3, len - at)) >= 0);
    ASSERT_OK(cf_json_select_finish(t.sel));
    cf_json_select_free(t.sel);
    ASSERT_EQ(t.n, 3);
    const char *want[] = {"{\"n\":0,\"s\":\"zero\"}", "[2,{\"x\":\"two\"}]",
                          "{\"n\":4,\"deep\":{\"a\":[1,2,3]}}"};
    for (size_t i = 0; i < t.n; i++) {
        char *s = NULL;
        ASSERT_OK(cf_json_stringify(t.kept[i], CF_JSON_COMPACT, &s, NULL));
        ASSERT_STR_EQ(s, want[i]);
        cf_free(s);
        cf_json_free(t.kept[i]);
    }
}

static void test_json_select_out_of_memory(void)
{
    const char *doc = "{\"x\": [{\"a\": [1, 2]}, \"s\", {\"b\": {}}]}";
    for (long n = 1;; n++) {
        picked p = {0};
        cf_json_select *s = NULL;
        cf__alloc_fail_after(n, (int)(n & 1)); /* once, or every call from the n-th on */
        int rc = cf_json_select_new(&s, "x", NULL, pick, &p);
        if (!rc) {
            rc = cf_json_select_feed(s, doc, strlen(doc));
            if (rc >= 0)
                rc = cf_json_select_finish(s);
        }
        long counted = cf__alloc_fail_after(0, 0);
        cf_json_select_free(s);
        if (!rc) {
            ASSERT(counted < n); /* no allocation failed: done */
            break;
        }
        ASSERT_EQ(rc, CF_ENOMEM);
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_json_dom_lookups);
    CF_TEST(test_json_dom_quoted_path_keys);
    CF_TEST(test_json_dom_duplicate_keys);
    CF_TEST(test_json_dom_iteration);
    CF_TEST(test_json_dom_numbers);
    CF_TEST(test_json_dom_parse_errors);
    CF_TEST(test_json_dom_serialize_like_json_stringify);
    CF_TEST(test_json_dom_serialize_scalars_and_bad_utf8);
    CF_TEST(test_json_dom_write_in_pieces);
    CF_TEST(test_json_dom_ghibli_films_match_node);
    CF_TEST(test_json_dom_round_trip);
    CF_TEST(test_json_dom_build_values);
    CF_TEST(test_json_dom_clone_and_equal);
    CF_TEST(test_json_dom_change_parsed_tree);
    CF_TEST(test_json_dom_builder_with_chunks);
    CF_TEST(test_json_dom_parse_out_of_memory);
    CF_TEST(test_json_select_top_level_array);
    CF_TEST(test_json_select_array_at_a_path);
    CF_TEST(test_json_select_errors);
    CF_TEST(test_json_select_large_array_bounded_memory);
    CF_TEST(test_json_select_take_keeps_the_element);
    CF_TEST(test_json_select_out_of_memory);
    return CF_TEST_END();
}
