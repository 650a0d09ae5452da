/* Tests of the JSON push parser: events, errors and their positions, numbers, limits, and
 * chunks split at every position. */
#include <locale.h>
#include <math.h>
#include <string.h>

#include "harness.h"
#include "util/util.h"

/* ---- helpers: run the parser and record events as text ---- */

typedef struct rec {
    char log[8192];
    size_t len;
    int stop_at; /* return CF_ECANCELED at this event (1-based), 0 = never */
    int count;
    const char *chunk; /* the chunk being fed, to tell zero-copy text */
    size_t chunk_len;
    int copied; /* tokens whose text was not inside the chunk */
} rec;

static const char *const kind_names[] = {"?",   "{",   "}",    "[",     "]",   "key",
                                         "str", "num", "true", "false", "null"};

static int on_event(const cf_json_event *ev, void *data)
{
    rec *r = data;
    r->count++;
    int n =
        snprintf(r->log + r->len, sizeof r->log - r->len, "%s@%u", kind_names[ev->kind], ev->depth);
    r->len += (size_t)n;
    if (ev->text) {
        r->log[r->len++] = ':';
        for (size_t i = 0; i < ev->len && r->len < sizeof r->log - 8; i++) {
            unsigned char c = (unsigned char)ev->text[i];
            if (c < 0x20 || c >= 0x7F)
                r->len += (size_t)snprintf(r->log + r->len, 5, "<%02X>", c);
            else
                r->log[r->len++] = (char)c;
        }
        if (r->chunk && (ev->text < r->chunk || ev->text >= r->chunk + r->chunk_len))
            r->copied++;
    }
    r->log[r->len++] = ' ';
    r->log[r->len] = '\0';
    return r->count == r->stop_at ? CF_ECANCELED : 0;
}

static char scratch[256];

/* Parse `text` whole; returns the final code and fills `r` and `msg`. */
static int parse_whole(const char *text, size_t len, rec *r, char *msg, size_t msg_len)
{
    cf_json_parser p;
    cf_json_parser_init(&p, on_event, r, scratch, sizeof scratch);
    r->chunk = text;
    r->chunk_len = len;
    int rc = cf_json_parser_feed(&p, text, len);
    if (rc >= 0)
        rc = cf_json_parser_finish(&p);
    if (msg)
        snprintf(msg, msg_len, "%s", cf_json_parser_error(&p));
    return rc;
}

static int parse_str(const char *text, rec *r, char *msg, size_t msg_len)
{
    return parse_whole(text, strlen(text), r, msg, msg_len);
}

/* Parse `text` cut at the given positions (sorted); same outputs as parse_whole. */
static int parse_cut(const char *text, size_t len, const size_t *cuts, size_t ncuts, rec *r,
                     char *msg, size_t msg_len)
{
    cf_json_parser p;
    cf_json_parser_init(&p, on_event, r, scratch, sizeof scratch);
    size_t at = 0;
    int rc = CF_JSON_NEED_MORE;
    for (size_t i = 0; i <= ncuts && rc >= 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        rc = cf_json_parser_feed(&p, text + at, to - at);
        at = to;
    }
    if (rc >= 0)
        rc = cf_json_parser_finish(&p);
    snprintf(msg, msg_len, "%s", cf_json_parser_error(&p));
    return rc;
}

/* ---- events ---- */

static void test_json_events_of_a_document(void)
{
    rec r = {0};
    const char *doc = "{\"a\": [1, -2.5e3, \"x\"], \"b\": {\"c\": true, \"d\": false}, "
                      "\"e\": null, \"f\": []}";
    ASSERT_OK(parse_str(doc, &r, NULL, 0));
    ASSERT_STR_EQ(r.log, "{@0 key@1:a [@1 num@2:1 num@2:-2.5e3 str@2:x ]@1 key@1:b {@1 "
                         "key@2:c true@2 key@2:d false@2 }@1 key@1:e null@1 key@1:f [@1 ]@1 "
                         "}@0 ");
    ASSERT_EQ(r.copied, 0); /* no escapes, one chunk: every text is zero-copy */
}

static void test_json_scalar_documents(void)
{
    rec r = {0};
    ASSERT_OK(parse_str(" 42 ", &r, NULL, 0));
    ASSERT_OK(parse_str("\"s\"", &r, NULL, 0));
    ASSERT_OK(parse_str("null", &r, NULL, 0));
    ASSERT_OK(parse_str("-0.5E-7\n", &r, NULL, 0));
    ASSERT_STR_EQ(r.log, "num@0:42 str@0:s null@0 num@0:-0.5E-7 ");
}

static void test_json_feed_results_and_offsets(void)
{
    rec r = {0};
    cf_json_parser p;
    cf_json_parser_init(&p, on_event, &r, scratch, sizeof scratch);
    ASSERT_EQ(cf_json_parser_feed(&p, "[1", 2), CF_JSON_NEED_MORE);
    ASSERT_EQ(cf_json_parser_feed(&p, "2]", 2), 0);
    ASSERT_EQ(cf_json_parser_feed(&p, "  \n", 3), 0);
    ASSERT_OK(cf_json_parser_finish(&p));
    ASSERT_STR_EQ(r.log, "[@0 num@1:12 ]@0 ");
    ASSERT_STR_EQ(cf_json_parser_error(&p), "");
    /* A top-level number is complete only at the end of input. */
    cf_json_parser_reset(&p);
    ASSERT_EQ(cf_json_parser_feed(&p, "12", 2), CF_JSON_NEED_MORE);
    ASSERT_OK(cf_json_parser_finish(&p));
    ASSERT_STR_EQ(r.log, "[@0 num@1:12 ]@0 num@0:12 ");
}

static int offset_cb(const cf_json_event *ev, void *data)
{
    uint64_t *offs = data;
    offs[offs[0]++ + 1] = ev->offset;
    return 0;
}

static void test_json_event_offsets(void)
{
    uint64_t offs[16] = {0};
    cf_json_parser p;
    cf_json_parser_init(&p, offset_cb, offs, scratch, sizeof scratch);
    const char *doc = " {\"ab\" : [ true ,\"x\\n\", 10 ] }";
    ASSERT_EQ(cf_json_parser_feed(&p, doc, strlen(doc)), 0);
    ASSERT_EQ(offs[0], 8);
    uint64_t want[] = {1, 2, 9, 11, 17, 24, 27, 29};
    for (size_t i = 0; i < 8; i++)
        ASSERT_EQ(offs[i + 1], want[i]);
}

static void test_json_zero_initialized_parser(void)
{
    rec r = {0};
    cf_json_parser p;
    memset(&p, 0, sizeof p);
    p.on_event = on_event;
    p.data = &r;
    p.scratch = scratch;
    p.scratch_len = sizeof scratch;
    ASSERT_EQ(cf_json_parser_feed(&p, "[\"a\\tb\"]", 8), 0);
    ASSERT_OK(cf_json_parser_finish(&p));
    ASSERT_STR_EQ(r.log, "[@0 str@1:a<09>b ]@0 ");
    /* With no callback the parser only validates. */
    cf_json_parser v;
    memset(&v, 0, sizeof v);
    ASSERT_EQ(cf_json_parser_feed(&v, "{\"a\":[1,2]}", 11), 0);
    ASSERT_OK(cf_json_parser_finish(&v));
}

/* ---- strings ---- */

static void test_json_string_escapes_and_utf8(void)
{
    rec r = {0};
    ASSERT_OK(parse_str("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\", "
                        "\"\\u0000\", \"é€😀\"]",
                        &r, NULL, 0));
    ASSERT_STR_EQ(r.log, "[@0 str@1:\"\\/<08><0C><0A><0D><09> "
                         "str@1:A<C3><A9><E2><82><AC><F0><9F><98><80> str@1:<00> "
                         "str@1:<C3><A9><E2><82><AC><F0><9F><98><80> ]@0 ");
    ASSERT_EQ(r.copied, 3); /* the escaped strings come from the scratch buffer */
}

static void test_json_lone_surrogates_flag(void)
{
    rec r = {0};
    char msg[CF_JSON_ERROR_SIZE];
    ASSERT_EQ(parse_str("\"\\uD800\"", &r, msg, sizeof msg), CF_EPARSE);
    ASSERT_STR_EQ(msg, "JSON: lone surrogate \\uD800 in string at line 1, column 8 (byte 7)");
    ASSERT_EQ(parse_str("\"\\uDC00\"", &r, msg, sizeof msg), CF_EPARSE);
    ASSERT_STR_EQ(msg, "JSON: lone surrogate \\uDC00 in string at line 1, column 7 (byte 6)");
    ASSERT_EQ(parse_str("\"\\uD800\\u0041\"", &r, msg, sizeof msg), CF_EPARSE);

    const char *docs[] = {"[\"\\uD800\", \"\\uD800\\n\", \"\\uDC00\\uD800\", "
                          "\"\\uD800\\uD800\\uDC00\", \"\\uD83Dx\"]"};
    cf_json_parser p;
    memset(&r, 0, sizeof r);
    cf_json_parser_init(&p, on_event, &r, scratch, sizeof scratch);
    p.flags = CF_JSON_LONE_SURROGATES;
    ASSERT_EQ(cf_json_parser_feed(&p, docs[0], strlen(docs[0])), 0);
    ASSERT_STR_EQ(r.log, "[@0 str@1:<ED><A0><80> str@1:<ED><A0><80><0A> "
                         "str@1:<ED><B0><80><ED><A0><80> str@1:<ED><A0><80><F0><90><80><80> "
                         "str@1:<ED><A0><BD>x ]@0 ");
}

/* ---- errors: what was expected, and where ---- */

static void expect_error(const char *doc, size_t len, int code, const char *message)
{
    rec r = {0};
    char msg[CF_JSON_ERROR_SIZE];
    int rc = parse_whole(doc, len, &r, msg, sizeof msg);
    if (rc != code || strcmp(msg, message) != 0)
        CF_TEST_FAILF("input %.*s: got %d \"%s\", want %d \"%s\"", (int)len, doc, rc, msg, code,
                      message);
}

#define EXPECT_ERROR(doc, code, message) expect_error(doc, sizeof(doc) - 1, code, message)

static void test_json_error_messages_structure(void)
{
    EXPECT_ERROR(
        "{\n  \"title\": \"Castle in the Sky, (1986)\",\n  \"rt_score\": 9 \"director\": 1\n}",
        CF_EPARSE, "JSON: expected ',' or '}' at line 3, column 17 (byte 58)");
    EXPECT_ERROR("", CF_EPARSE,
                 "JSON: unexpected end of input, expected a value at line 1, column 1 (byte 0)");
    EXPECT_ERROR("  \r\n ", CF_EPARSE,
                 "JSON: unexpected end of input, expected a value at line 2, column 2 (byte 5)");
    EXPECT_ERROR("[1,]", CF_EPARSE, "JSON: expected a value at line 1, column 4 (byte 3)");
    EXPECT_ERROR("[1 2]", CF_EPARSE, "JSON: expected ',' or ']' at line 1, column 4 (byte 3)");
    EXPECT_ERROR("[", CF_EPARSE,
                 "JSON: unexpected end of input, expected a value or ']' at line 1, column 2 "
                 "(byte 1)");
    EXPECT_ERROR("[1", CF_EPARSE,
                 "JSON: unexpected end of input, expected ',' or ']' at line 1, column 3 (byte 2)");
    EXPECT_ERROR("{\"a\" 1}", CF_EPARSE, "JSON: expected ':' at line 1, column 6 (byte 5)");
    EXPECT_ERROR("{1:1}", CF_EPARSE,
                 "JSON: expected a string key or '}' at line 1, column 2 (byte 1)");
    EXPECT_ERROR("{\"a\":1,}", CF_EPARSE,
                 "JSON: expected a string key at line 1, column 8 (byte 7)");
    EXPECT_ERROR("{\"a\":1]", CF_EPARSE, "JSON: expected ',' or '}' at line 1, column 7 (byte 6)");
    EXPECT_ERROR("[] x", CF_EPARSE,
                 "JSON: unexpected data after the top-level value at line 1, column 4 (byte 3)");
    EXPECT_ERROR("{}{}", CF_EPARSE,
                 "JSON: unexpected data after the top-level value at line 1, column 3 (byte 2)");
    EXPECT_ERROR("\xEF\xBB\xBF{}", CF_EPARSE,
                 "JSON: expected a value at line 1, column 1 (byte 0)");
    EXPECT_ERROR("[\x00]", CF_EPARSE, "JSON: expected a value or ']' at line 1, column 2 (byte 1)");
}

static void test_json_error_messages_tokens(void)
{
    EXPECT_ERROR("\"abc", CF_EPARSE,
                 "JSON: unexpected end of input in a string at line 1, column 5 (byte 4)");
    EXPECT_ERROR("\"\\x\"", CF_EPARSE,
                 "JSON: invalid escape '\\x' in string at line 1, column 3 (byte 2)");
    EXPECT_ERROR("\"\\u12G4\"", CF_EPARSE,
                 "JSON: expected a hex digit in \\u escape at line 1, column 6 (byte 5)");
    EXPECT_ERROR("\"a\tb\"", CF_EPARSE,
                 "JSON: unescaped control character 0x09 in string at line 1, column 3 (byte 2)");
    EXPECT_ERROR("-", CF_EPARSE,
                 "JSON: unexpected end of input, expected a digit at line 1, column 2 (byte 1)");
    EXPECT_ERROR("-a", CF_EPARSE, "JSON: expected a digit after '-' at line 1, column 2 (byte 1)");
    EXPECT_ERROR("[1.e1]", CF_EPARSE,
                 "JSON: expected a digit after '.' at line 1, column 4 (byte 3)");
    EXPECT_ERROR("[1e+]", CF_EPARSE,
                 "JSON: expected a digit in the exponent at line 1, column 5 (byte 4)");
    EXPECT_ERROR("01", CF_EPARSE,
                 "JSON: unexpected data after the top-level value at line 1, column 2 (byte 1)");
    EXPECT_ERROR("[+1]", CF_EPARSE, "JSON: expected a value or ']' at line 1, column 2 (byte 1)");
    EXPECT_ERROR("[.5]", CF_EPARSE, "JSON: expected a value or ']' at line 1, column 2 (byte 1)");
    EXPECT_ERROR("tru", CF_EPARSE,
                 "JSON: unexpected end of input, expected 'true' at line 1, column 4 (byte 3)");
    EXPECT_ERROR("[nul1]", CF_EPARSE,
                 "JSON: invalid literal, expected 'null' at line 1, column 5 (byte 4)");
    EXPECT_ERROR("[True]", CF_EPARSE, "JSON: expected a value or ']' at line 1, column 2 (byte 1)");
}

static void test_json_error_messages_utf8(void)
{
    EXPECT_ERROR("\"\xC0\x80\"", CF_EPARSE,
                 "JSON: invalid UTF-8 byte 0xC0 in string at line 1, column 2 (byte 1)");
    EXPECT_ERROR("\"\xE0\x80\x80\"", CF_EPARSE, /* overlong */
                 "JSON: invalid UTF-8 continuation byte 0x80 in string at line 1, column 3 "
                 "(byte 2)");
    EXPECT_ERROR("\"\xED\xA0\x80\"", CF_EPARSE, /* a surrogate encoded in UTF-8 */
                 "JSON: invalid UTF-8 continuation byte 0xA0 in string at line 1, column 3 "
                 "(byte 2)");
    EXPECT_ERROR("\"\xF4\x90\x80\x80\"", CF_EPARSE, /* past U+10FFFF */
                 "JSON: invalid UTF-8 continuation byte 0x90 in string at line 1, column 3 "
                 "(byte 2)");
    EXPECT_ERROR("\"\xF5\x80\x80\x80\"", CF_EPARSE,
                 "JSON: invalid UTF-8 byte 0xF5 in string at line 1, column 2 (byte 1)");
    EXPECT_ERROR("\"\xE2\x82\"", CF_EPARSE, /* truncated */
                 "JSON: invalid UTF-8 continuation byte 0x22 in string at line 1, column 4 "
                 "(byte 3)");
    EXPECT_ERROR("\"\x80\"", CF_EPARSE,
                 "JSON: invalid UTF-8 byte 0x80 in string at line 1, column 2 (byte 1)");
}

static void test_json_errors_are_sticky(void)
{
    cf_json_parser p;
    cf_json_parser_init(&p, NULL, NULL, scratch, sizeof scratch);
    ASSERT_EQ(cf_json_parser_feed(&p, "[1,,", 4), CF_EPARSE);
    ASSERT_EQ(cf_json_parser_feed(&p, "2]", 2), CF_EPARSE);
    ASSERT_EQ(cf_json_parser_finish(&p), CF_EPARSE);
    ASSERT_STR_EQ(cf_json_parser_error(&p), "JSON: expected a value at line 1, column 4 (byte 3)");
    cf_json_parser_reset(&p);
    ASSERT_STR_EQ(cf_json_parser_error(&p), "");
    ASSERT_EQ(cf_json_parser_feed(&p, "[]", 2), 0);
    ASSERT_EQ(cf_json_parser_feed(NULL, "[]", 2), CF_EINVAL);
    ASSERT_EQ(cf_json_parser_finish(NULL), CF_EINVAL);
}

static void test_json_callback_stops_the_parser(void)
{
    rec r = {0};
    r.stop_at = 3;
    char msg[CF_JSON_ERROR_SIZE];
    ASSERT_EQ(parse_str("[1, 2, 3, 4]", &r, msg, sizeof msg), CF_ECANCELED);
    ASSERT_EQ(r.count, 3);
    ASSERT_STR_EQ(msg, "JSON: stopped by the event callback (ECANCELED) at byte 4");
}

/* ---- numbers ---- */

static void test_json_number_to_i64(void)
{
    int64_t v = 7;
    ASSERT_OK(cf_json_number_to_i64("0", 1, &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(cf_json_number_to_i64("-0", 2, &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(cf_json_number_to_i64("9223372036854775807", 19, &v));
    ASSERT(v == INT64_MAX);
    ASSERT_OK(cf_json_number_to_i64("-9223372036854775808", 20, &v));
    ASSERT(v == INT64_MIN);
    ASSERT_EQ(cf_json_number_to_i64("9223372036854775808", 19, &v), CF_ERANGE);
    ASSERT(v == INT64_MAX);
    ASSERT_EQ(cf_json_number_to_i64("-9223372036854775809", 20, &v), CF_ERANGE);
    ASSERT(v == INT64_MIN);
    ASSERT_EQ(cf_json_number_to_i64("123456789012345678901234567890", 30, &v), CF_ERANGE);
    ASSERT_EQ(cf_json_number_to_i64("1.5", 3, &v), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_i64("1e3", 3, &v), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_i64("01", 2, &v), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_i64("+1", 2, &v), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_i64("", 0, &v), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_i64("12", 1, &v), 0); /* length is respected */
    ASSERT_EQ(v, 1);
}

static void test_json_number_to_double(void)
{
    double d = 0;
    ASSERT_OK(cf_json_number_to_double("0.1", 3, &d));
    ASSERT(d == 0.1);
    ASSERT_OK(cf_json_number_to_double("-1.5e3", 6, &d));
    ASSERT(d == -1500.0);
    ASSERT_OK(cf_json_number_to_double("123456789012345678901234567890", 30, &d));
    ASSERT(d == 123456789012345678901234567890.0);
    ASSERT_EQ(cf_json_number_to_double("1e400", 5, &d), CF_ERANGE);
    ASSERT(isinf(d) && d > 0);
    ASSERT_EQ(cf_json_number_to_double("-1e400", 6, &d), CF_ERANGE);
    ASSERT(isinf(d) && d < 0);
    ASSERT_OK(cf_json_number_to_double("1e-400", 6, &d));
    ASSERT(d == 0.0);
    ASSERT_EQ(cf_json_number_to_double("1.", 2, &d), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_double("0x10", 4, &d), CF_EINVAL);
    ASSERT_EQ(cf_json_number_to_double("nan", 3, &d), CF_EINVAL);
    char big[400];
    memset(big, '1', sizeof big);
    big[1] = '.';
    ASSERT_OK(cf_json_number_to_double(big, sizeof big, &d)); /* longer than the stack copy */
    ASSERT(d > 1.11 && d < 1.12);
    /* A locale whose decimal point is ',' does not change the result. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        ASSERT_OK(cf_json_number_to_double("2.5", 3, &d));
        ASSERT(d == 2.5);
        setlocale(LC_NUMERIC, "C");
    }
}

/* ---- limits ---- */

static int depth_doc(unsigned depth, unsigned max_depth)
{
    static char buf[2 * CF_JSON_MAX_DEPTH + 8];
    for (unsigned i = 0; i < depth; i++) {
        buf[i] = '[';
        buf[2 * depth - 1 - i] = ']';
    }
    cf_json_parser p;
    cf_json_parser_init(&p, NULL, NULL, scratch, sizeof scratch);
    p.max_depth = max_depth;
    int rc = cf_json_parser_feed(&p, buf, 2 * depth);
    return rc >= 0 ? cf_json_parser_finish(&p) : rc;
}

static void test_json_depth_limit(void)
{
    ASSERT_OK(depth_doc(CF_JSON_DEFAULT_DEPTH, 0));
    ASSERT_EQ(depth_doc(CF_JSON_DEFAULT_DEPTH + 1, 0), CF_ETOOBIG);
    ASSERT_OK(depth_doc(3, 3));
    ASSERT_EQ(depth_doc(4, 3), CF_ETOOBIG);
    ASSERT_OK(depth_doc(CF_JSON_MAX_DEPTH, 100000));
    ASSERT_EQ(depth_doc(CF_JSON_MAX_DEPTH + 1, 100000), CF_ETOOBIG);
    cf_json_parser p;
    cf_json_parser_init(&p, NULL, NULL, scratch, sizeof scratch);
    p.max_depth = 2;
    ASSERT_EQ(cf_json_parser_feed(&p, "[{\"a\":[1]}]", 11), CF_ETOOBIG);
    ASSERT_STR_EQ(cf_json_parser_error(&p),
                  "JSON: nesting deeper than 2 levels at line 1, column 7 (byte 6)");
}

static void test_json_string_limit(void)
{
    char small[8];
    const char *docs[] = {"[\"12345678\"]", "[\"123456789\"]", "{\"123456789\":1}", "[123456789]",
                          "[\"12345678\\n\"]",
                          /* a UTF-8 sequence crossing the limit fails before it is validated */
                          "[\"1234567\xC3\xA9\"]", "[\"1234567\xC3x\"]"};
    const int want[] = {0, CF_ETOOBIG, CF_ETOOBIG, CF_ETOOBIG, CF_ETOOBIG, CF_ETOOBIG, CF_ETOOBIG};
    const char *msgs[] = {"",
                          "JSON: string longer than the scratch buffer (8 bytes) at line 1, "
                          "column 2 (byte 1)",
                          "JSON: key longer than the scratch buffer (8 bytes) at line 1, column 2 "
                          "(byte 1)",
                          "JSON: number longer than the scratch buffer (8 bytes) at line 1, "
                          "column 2 (byte 1)",
                          "JSON: string longer than the scratch buffer (8 bytes) at line 1, "
                          "column 2 (byte 1)",
                          "JSON: string longer than the scratch buffer (8 bytes) at line 1, "
                          "column 2 (byte 1)",
                          "JSON: string longer than the scratch buffer (8 bytes) at line 1, "
                          "column 2 (byte 1)"};
    for (size_t i = 0; i < CF_ARRAY_LEN(docs); i++) {
        size_t len = strlen(docs[i]);
        for (size_t cut = 0; cut <= len; cut++) { /* the same whole and split */
            cf_json_parser p;
            cf_json_parser_init(&p, NULL, NULL, small, sizeof small);
            int rc = cf_json_parser_feed(&p, docs[i], cut);
            if (rc >= 0)
                rc = cf_json_parser_feed(&p, docs[i] + cut, len - cut);
            if (rc >= 0)
                rc = cf_json_parser_finish(&p);
            if (rc != want[i])
                CF_TEST_FAILF("doc %zu cut %zu: %d", i, cut, rc);
            ASSERT_STR_EQ(cf_json_parser_error(&p), msgs[i]);
        }
    }
}

static void test_json_document_limit(void)
{
    cf_json_parser p;
    cf_json_parser_init(&p, NULL, NULL, scratch, sizeof scratch);
    p.max_bytes = 10;
    ASSERT_EQ(cf_json_parser_feed(&p, "[1,2,", 5), CF_JSON_NEED_MORE);
    ASSERT_EQ(cf_json_parser_feed(&p, "3,4,5]", 6), CF_ETOOBIG);
    ASSERT_STR_EQ(cf_json_parser_error(&p),
                  "JSON: document longer than 10 bytes at line 1, column 11 (byte 10)");
    cf_json_parser_reset(&p);
    ASSERT_EQ(cf_json_parser_feed(&p, "[1,2,3,4] ", 10), 0);
    ASSERT_OK(cf_json_parser_finish(&p));
}

static void test_json_no_scratch_buffer(void)
{
    cf_json_parser p;
    cf_json_parser_init(&p, NULL, NULL, NULL, 0);
    ASSERT_EQ(cf_json_parser_feed(&p, "[\"plain, any length\", 1]", 24), 0);
    cf_json_parser_reset(&p);
    ASSERT_EQ(cf_json_parser_feed(&p, "[\"esc\\n\"]", 9), CF_ETOOBIG);
}

/* ---- chunks split anywhere ---- */

static const char split_doc[] =
    "{\"k\\u00e9y\": [true, false, null, -12.5e+3, 0, 1E2, \"a\\\"b\\\\c\\n\\ud83d\\ude00 "
    "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\", {}, [], {\"\": \"\"}], \"n\": 123456}";

static void test_json_split_at_every_position(void)
{
    rec whole = {0};
    char msg[CF_JSON_ERROR_SIZE];
    size_t len = sizeof split_doc - 1;
    ASSERT_OK(parse_whole(split_doc, len, &whole, msg, sizeof msg));
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            rec r = {0};
            size_t cuts[2] = {i, j};
            ASSERT_OK(parse_cut(split_doc, len, cuts, 2, &r, msg, sizeof msg));
            if (strcmp(r.log, whole.log) != 0)
                CF_TEST_FAILF("cut at %zu and %zu: %s", i, j, r.log);
        }
    }
}

static void test_json_one_byte_at_a_time(void)
{
    rec whole = {0};
    rec bytes = {0};
    char msg[CF_JSON_ERROR_SIZE];
    size_t len = sizeof split_doc - 1;
    size_t cuts[sizeof split_doc];
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    ASSERT_OK(parse_whole(split_doc, len, &whole, msg, sizeof msg));
    ASSERT_OK(parse_cut(split_doc, len, cuts, len - 1, &bytes, msg, sizeof msg));
    ASSERT_STR_EQ(bytes.log, whole.log);
}

/* Every proper prefix of a document wrapped in an object is truncated. */
static void test_json_finish_reports_truncation(void)
{
    size_t len = sizeof split_doc - 1;
    for (size_t i = 0; i < len; i++) {
        cf_json_parser p;
        cf_json_parser_init(&p, NULL, NULL, scratch, sizeof scratch);
        ASSERT_EQ(cf_json_parser_feed(&p, split_doc, i), CF_JSON_NEED_MORE);
        ASSERT_EQ(cf_json_parser_finish(&p), CF_EPARSE);
        ASSERT(strstr(cf_json_parser_error(&p), "unexpected end of input"));
    }
}

static void test_json_errors_same_when_split(void)
{
    const char *bad[] = {"[1, 2,, 3]",
                         "{\"a\": \"\xE2\x82\"}",
                         "[\"\\uD83D\\u0041\"]",
                         "{\"a\" 1}",
                         "[1.e5]",
                         "[truex]",
                         "[\"a\x01\"]"};
    for (size_t k = 0; k < CF_ARRAY_LEN(bad); k++) {
        size_t len = strlen(bad[k]);
        rec w = {0};
        char wmsg[CF_JSON_ERROR_SIZE];
        int wrc = parse_whole(bad[k], len, &w, wmsg, sizeof wmsg);
        ASSERT_EQ(wrc, CF_EPARSE);
        for (size_t i = 0; i <= len; i++) {
            rec r = {0};
            char msg[CF_JSON_ERROR_SIZE];
            ASSERT_EQ(parse_cut(bad[k], len, &i, 1, &r, msg, sizeof msg), wrc);
            ASSERT_STR_EQ(msg, wmsg);
            ASSERT_STR_EQ(r.log, w.log);
        }
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_json_events_of_a_document);
    CF_TEST(test_json_scalar_documents);
    CF_TEST(test_json_feed_results_and_offsets);
    CF_TEST(test_json_event_offsets);
    CF_TEST(test_json_zero_initialized_parser);
    CF_TEST(test_json_string_escapes_and_utf8);
    CF_TEST(test_json_lone_surrogates_flag);
    CF_TEST(test_json_error_messages_structure);
    CF_TEST(test_json_error_messages_tokens);
    CF_TEST(test_json_error_messages_utf8);
    CF_TEST(test_json_errors_are_sticky);
    CF_TEST(test_json_callback_stops_the_parser);
    CF_TEST(test_json_number_to_i64);
    CF_TEST(test_json_number_to_double);
    CF_TEST(test_json_depth_limit);
    CF_TEST(test_json_string_limit);
    CF_TEST(test_json_document_limit);
    CF_TEST(test_json_no_scratch_buffer);
    CF_TEST(test_json_split_at_every_position);
    CF_TEST(test_json_one_byte_at_a_time);
    CF_TEST(test_json_finish_reports_truncation);
    CF_TEST(test_json_errors_same_when_split);
    return CF_TEST_END();
}
