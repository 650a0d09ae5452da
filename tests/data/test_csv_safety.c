/*
 * CSV that is safe to open: a NUL byte is never written (RFC 4180 cannot carry one), and the
 * formula guard neutralizes every first byte a spreadsheet would evaluate.
 */
#include "harness.h"

/* A field: bytes that may hold a NUL, and their length. */
typedef struct field {
    const char *p;
    size_t len;
} field;

/* Write one record of `fields` with `flags`; returns the first error, output in `out`. */
static int write_record(cf_csv_mem *out, unsigned flags, const field *fields, size_t n)
{
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, flags, cf_csv_mem_write, out));
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = cf_csv_write_field(&w, fields[i].p, fields[i].len);
    if (!rc)
        rc = cf_csv_end_record(&w);
    int flushed = cf_csv_writer_flush(&w);
    return rc ? rc : flushed;
}

static void test_csv_safety_nul_refused(void)
{
    cf_csv_mem out = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_str(&w, "before"));
    ASSERT_EQ(cf_csv_write_field(&w, "a\0b", 3), CF_EINVAL);
    /* Sticky: the record cannot be finished without the field. */
    ASSERT_EQ(cf_csv_write_str(&w, "after"), CF_EINVAL);
    ASSERT_EQ(cf_csv_end_record(&w), CF_EINVAL);
    ASSERT_EQ(cf_csv_writer_flush(&w), CF_EINVAL);
    ASSERT(!out.data || !memchr(out.data, '\0', out.len));
    cf_csv_mem_free(&out);

    /* Whatever the flags and wherever the NUL is. */
    static const unsigned flags[] = {0, CF_CSV_QUOTE_ALL, CF_CSV_FORMULA_GUARD, CF_CSV_LF};
    static const field cases[] = {{"\0", 1}, {"x\0", 2}, {"\"q\0,\"", 5}, {"=\0", 2}};
    for (size_t f = 0; f < 4; f++) {
        for (size_t c = 0; c < 4; c++) {
            cf_csv_mem m = {0};
            field fields[2] = {{"ok", 2}, cases[c]};
            ASSERT_EQ(write_record(&m, flags[f], fields, 2), CF_EINVAL);
            ASSERT(!m.data || !memchr(m.data, '\0', m.len));
            cf_csv_mem_free(&m);
        }
    }
}

static void test_csv_safety_nul_from_json_refused(void)
{
    static const char json[] = "[{\"t\": \"ok\"}, {\"t\": \"a\\u0000b\"}]";
    static const char *const cols[] = {"t"};
    /* From a tree... */
    cf_json *doc;
    ASSERT_OK(cf_json_parse(json, sizeof json - 1, NULL, &doc, NULL));
    cf_csv_mem out = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_json_record(&w, cf_json_at(doc, 0), cols, 1));
    ASSERT_EQ(cf_csv_write_json_record(&w, cf_json_at(doc, 1), cols, 1), CF_EINVAL);
    ASSERT_EQ(out.len, 4);
    ASSERT_MEM_EQ(out.data, "ok\r\n", 4);
    cf_csv_mem_free(&out);
    cf_json_free(doc);
    /* ... and streamed. */
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    cf_csv_json *c;
    ASSERT_OK(cf_csv_json_new(&c, &w, NULL, cols, 1, 1, NULL));
    ASSERT_EQ(cf_csv_json_feed(c, json, sizeof json - 1), CF_EINVAL);
    ASSERT_EQ(cf_csv_json_rows(c), 1);
    ASSERT(!memchr(out.data, '\0', out.len));
    cf_csv_json_free(c);
    cf_csv_mem_free(&out);
}

static void test_csv_safety_formula_guard(void)
{
    static const field fields[] = {{"=1+2", 4}, {"+x", 2},     {"-5", 2}, {"@A1", 3},
                                   {"\tt", 2},  {"\rr", 2},    {"ok", 2}, {"", 0},
                                   {"a=b", 3},  {"=A1,B1", 6}, {"'", 1}};
    cf_csv_mem out = {0};
    ASSERT_OK(write_record(&out, CF_CSV_FORMULA_GUARD, fields, 11));
    static const char expected[] = "'=1+2,'+x,'-5,'@A1,'\tt,\"'\rr\",ok,,a=b,\"'=A1,B1\",'\r\n";
    ASSERT_EQ(out.len, sizeof expected - 1);
    ASSERT_MEM_EQ(out.data, expected, out.len);
    cf_csv_mem_free(&out);
    /* Without the flag the same fields are written as they are. */
    ASSERT_OK(write_record(&out, 0, fields, 1));
    ASSERT_STR_EQ(out.data, "=1+2\r\n");
    cf_csv_mem_free(&out);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_csv_safety_nul_refused);
    CF_TEST(test_csv_safety_nul_from_json_refused);
    CF_TEST(test_csv_safety_formula_guard);
    return CF_TEST_END();
}
