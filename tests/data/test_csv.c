/*
 * The CSV writer and reader: every writer option, every reader error with its position,
 * input split anywhere, limits, allocation failures, and a round trip through Python's csv
 * module (tests/data/csv_roundtrip.py, run with posix_spawn; the case fails when python3
 * cannot be started).
 */
#include <spawn.h>
#include <sys/wait.h>

#include "harness.h"
#include "calcifer/csv.h"
#include "util/alloc.h"
#include "util/util.h"

extern char **environ;

/* ---- helpers ---- */

/* Records seen by a reader, as text: each field in brackets, each record ended by ';'. */
typedef struct collect {
    char text[65536];
    size_t len;
    int records;
    int stop_at; /* return CF_ECANCELED on this record (1-based); 0: never */
} collect;

static void collect_add(collect *c, const char *p, size_t len)
{
    ASSERT(c->len + len < sizeof c->text);
    memcpy(c->text + c->len, p, len);
    c->len += len;
    c->text[c->len] = '\0';
}

static int on_collect(const cf_buf *fields, size_t nfields, void *data)
{
    collect *c = data;
    ASSERT(nfields >= 1);
    for (size_t i = 0; i < nfields; i++) {
        ASSERT_EQ(fields[i].base[fields[i].len], '\0');
        collect_add(c, "[", 1);
        collect_add(c, fields[i].base, fields[i].len);
        collect_add(c, "]", 1);
    }
    collect_add(c, ";", 1);
    c->records++;
    return c->records == c->stop_at ? CF_ECANCELED : 0;
}

/* Parse `text` whole and return the records as collect text (static storage). */
static const char *read_all(const char *text)
{
    static collect c;
    memset(&c, 0, sizeof c);
    cf_error *err = NULL;
    int rc = cf_csv_parse(text, strlen(text), on_collect, &c, &err);
    if (rc)
        CF_TEST_FAILF("parse failed: %s", err ? err->message : cf_strerror(rc));
    return c.text;
}

/* Write NUL-terminated records (each a NULL-terminated list) with `flags` into `out`. */
static void write_records(unsigned flags, const char *const *const *records, cf_csv_mem *out)
{
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, flags, cf_csv_mem_write, out));
    for (size_t i = 0; records[i]; i++) {
        size_t n = 0;
        while (records[i][n])
            n++;
        ASSERT_OK(cf_csv_write_record(&w, records[i], n));
    }
}

/* ---- writer ---- */

static void test_csv_writer_quotes_only_when_needed(void)
{
    static const char *const r1[] = {"plain", "a,b", "say \"hi\"", "two\nlines", NULL};
    static const char *const r2[] = {"cr\rhere", "", " spaced ", "crlf\r\nin", "'", NULL};
    static const char *const *const recs[] = {r1, r2, NULL};
    cf_csv_mem out = {0};
    write_records(0, recs, &out);
    ASSERT_STR_EQ(out.data, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
                            "\"cr\rhere\",, spaced ,\"crlf\r\nin\",'\r\n");
    cf_csv_mem_free(&out);
}

static void test_csv_writer_lf_flag(void)
{
    static const char *const r1[] = {"a", "b", NULL};
    static const char *const r2[] = {"c\nd", "e", NULL};
    static const char *const *const recs[] = {r1, r2, NULL};
    cf_csv_mem out = {0};
    write_records(CF_CSV_LF, recs, &out);
    ASSERT_STR_EQ(out.data, "a,b\n\"c\nd\",e\n");
    cf_csv_mem_free(&out);
}

static void test_csv_writer_quote_all(void)
{
    static const char *const r1[] = {"a", "", "x\"y", NULL};
    static const char *const r2[] = {"", NULL};
    static const char *const *const recs[] = {r1, r2, NULL};
    cf_csv_mem out = {0};
    write_records(CF_CSV_QUOTE_ALL, recs, &out);
    ASSERT_STR_EQ(out.data, "\"a\",\"\",\"x\"\"y\"\r\n\"\"\r\n");
    cf_csv_mem_free(&out);
}

static void test_csv_writer_formula_guard(void)
{
    static const char *const r1[] = {"=1+2", "+1", "-5", "@SUM(A1)", "\tx", "\rx", NULL};
    static const char *const r2[] = {"=A1,B1", "a=b", "", "'=x", " =x", "=\"q\"", NULL};
    static const char *const *const recs[] = {r1, r2, NULL};
    cf_csv_mem out = {0};
    write_records(CF_CSV_FORMULA_GUARD, recs, &out);
    ASSERT_STR_EQ(out.data, "'=1+2,'+1,'-5,'@SUM(A1),'\tx,\"'\rx\"\r\n"
                            "\"'=A1,B1\",a=b,,'=x, =x,\"'=\"\"q\"\"\"\r\n");
    cf_csv_mem_free(&out);

    /* Off by default; with QUOTE_ALL the prefix goes inside the quotes. */
    static const char *const r3[] = {"=1+2", "-5", NULL};
    static const char *const *const recs3[] = {r3, NULL};
    cf_csv_mem plain = {0};
    write_records(0, recs3, &plain);
    ASSERT_STR_EQ(plain.data, "=1+2,-5\r\n");
    cf_csv_mem_free(&plain);
    cf_csv_mem all = {0};
    write_records(CF_CSV_FORMULA_GUARD | CF_CSV_QUOTE_ALL, recs3, &all);
    ASSERT_STR_EQ(all.data, "\"'=1+2\",\"'-5\"\r\n");
    cf_csv_mem_free(&all);
}

static void test_csv_writer_passes_bytes_through(void)
{
    cf_csv_mem out = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_str(&w, "天空の城ラピュタ"));
    ASSERT_OK(cf_csv_write_str(&w, "Tenkū no shiro"));
    ASSERT_OK(cf_csv_write_field(&w, "\xff\xfe", 2));
    ASSERT_OK(cf_csv_end_record(&w));
    /* Every byte but NUL, which is refused (test_csv_safety.c). */
    static const char expect[] = "天空の城ラピュタ,Tenkū no shiro,\xff\xfe\r\n";
    ASSERT_EQ(out.len, sizeof expect - 1);
    ASSERT_MEM_EQ(out.data, expect, out.len);
    cf_csv_mem_free(&out);
}

static void test_csv_writer_lone_empty_field(void)
{
    cf_csv_mem out = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_field(&w, "", 0));
    ASSERT_OK(cf_csv_end_record(&w));
    ASSERT_OK(cf_csv_write_str(&w, NULL));
    ASSERT_OK(cf_csv_write_str(&w, ""));
    ASSERT_OK(cf_csv_end_record(&w));
    ASSERT_EQ(cf_csv_end_record(&w), CF_EINVAL); /* no field */
    ASSERT_STR_EQ(out.data, "\"\"\r\n,\r\n");
    ASSERT_EQ(cf_csv_writer_records(&w), 2);
    cf_csv_mem_free(&out);
}

static void test_csv_writer_header_first_only(void)
{
    static const char *const names[] = {"title", "release_date"};
    cf_csv_mem out = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_header(&w, names, 2));
    ASSERT_EQ(cf_csv_write_header(&w, names, 2), CF_EINVAL);
    ASSERT_EQ(cf_csv_write_record(&w, names, 0), CF_EINVAL);
    cf_buf bufs[2] = {{(char *)"Ponyo", 5}, {(char *)"2008", 4}};
    ASSERT_OK(cf_csv_write_record_bufs(&w, bufs, 2));
    ASSERT_STR_EQ(out.data, "title,release_date\r\nPonyo,2008\r\n");
    cf_csv_mem_free(&out);

    cf_csv_writer w2;
    ASSERT_OK(cf_csv_writer_init(&w2, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_str(&w2, "x"));
    ASSERT_EQ(cf_csv_write_header(&w2, names, 2), CF_EINVAL);
    ASSERT_OK(cf_csv_writer_flush(&w2));
    ASSERT_STR_EQ(out.data, "x");
    cf_csv_mem_free(&out);
}

static void test_csv_writer_rejects_bad_arguments(void)
{
    cf_csv_writer w;
    memset(&w, 0, sizeof w);
    ASSERT_EQ(cf_csv_write_str(&w, "x"), CF_EINVAL); /* not initialized */
    ASSERT_EQ(cf_csv_writer_init(&w, 0, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_writer_init(NULL, 0, cf_csv_mem_write, NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_writer_init(&w, 0x100, cf_csv_mem_write, NULL), CF_EINVAL);
    cf_csv_mem out = {0};
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_EQ(cf_csv_write_field(&w, NULL, 1), CF_EINVAL);
    ASSERT_EQ(cf_csv_write_record(&w, NULL, 1), CF_EINVAL);
    ASSERT_EQ(cf_csv_write_field(NULL, "x", 1), CF_EINVAL);
    ASSERT_EQ(cf_csv_mem_write("x", 1, NULL), CF_EINVAL);
    cf_csv_mem_free(&out);
    cf_csv_mem_free(NULL);
}

/* A sink that accepts `budget` bytes, then fails with `code`, counting its calls. */
typedef struct budget_sink {
    size_t budget;
    int code;
    int calls;
    size_t largest;
    cf_csv_mem mem;
} budget_sink;

static int budget_write(const char *p, size_t len, void *ctx)
{
    budget_sink *s = ctx;
    s->calls++;
    s->largest = len > s->largest ? len : s->largest;
    if (len > s->budget)
        return s->code;
    s->budget -= len;
    return cf_csv_mem_write(p, len, &s->mem);
}

static void test_csv_writer_sink_errors_are_sticky(void)
{
    budget_sink s = {.budget = 10, .code = CF_ENOSPC};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &s));
    ASSERT_OK(cf_csv_write_str(&w, "abc"));
    ASSERT_OK(cf_csv_end_record(&w)); /* 5 bytes */
    ASSERT_OK(cf_csv_write_str(&w, "defghijk"));
    ASSERT_EQ(s.calls, 1);                           /* staged until the record ends */
    ASSERT_EQ(cf_csv_end_record(&w), CF_ENOSPC);     /* 10 more bytes do not fit */
    ASSERT_EQ(cf_csv_write_str(&w, "x"), CF_ENOSPC); /* sticky */
    ASSERT_EQ(cf_csv_end_record(&w), CF_ENOSPC);
    ASSERT_EQ(cf_csv_writer_flush(&w), CF_ENOSPC);
    ASSERT_EQ(s.calls, 2);
    ASSERT_STR_EQ(s.mem.data, "abc\r\n");
    cf_csv_mem_free(&s.mem);

    /* A positive return from a sink is reported as CF_EIO. */
    budget_sink p = {.budget = 0, .code = 7};
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &p));
    ASSERT_OK(cf_csv_write_str(&w, "a"));
    ASSERT_EQ(cf_csv_end_record(&w), CF_EIO);
}

typedef struct big_check {
    const char *big;
    size_t n;
    int records;
} big_check;

static int on_big(const cf_buf *fields, size_t nfields, void *data)
{
    big_check *bc = data;
    ASSERT_EQ(nfields, 2);
    ASSERT_STR_EQ(fields[0].base, "head");
    ASSERT_EQ(fields[1].len, bc->n);
    ASSERT_MEM_EQ(fields[1].base, bc->big, bc->n);
    bc->records++;
    return 0;
}

static void test_csv_writer_stages_and_flushes_large_fields(void)
{
    /* A field far larger than the staging buffer, full of quotes, goes through whole. */
    size_t n = 3 * CF_CSV_WRITER_BUFSIZE + 17;
    char *big = malloc(n);
    ASSERT_PTR(big);
    for (size_t i = 0; i < n; i++)
        big[i] = i % 7 == 0 ? '"' : (char)('a' + i % 26);
    budget_sink s = {.budget = SIZE_MAX, .code = CF_EIO};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &s));
    ASSERT_OK(cf_csv_write_str(&w, "head"));
    ASSERT_OK(cf_csv_write_field(&w, big, n));
    ASSERT_OK(cf_csv_end_record(&w));
    ASSERT_GE(s.calls, 3);
    ASSERT_LE(s.largest, CF_CSV_WRITER_BUFSIZE);
    /* Read it back in chunks and check the field. */
    big_check bc = {big, n, 0};
    cf_csv_reader r;
    cf_csv_reader_init(&r, on_big, &bc);
    r.max_record = 2 * n;
    for (size_t i = 0; i < s.mem.len; i += 1000)
        ASSERT_OK(cf_csv_reader_feed(&r, s.mem.data + i, CF_MIN(1000, s.mem.len - i)));
    ASSERT_OK(cf_csv_reader_finish(&r));
    ASSERT_EQ(bc.records, 1);
    cf_csv_reader_reset(&r);
    /* A single run longer than the buffer after a flush goes to the sink in one call. */
    budget_sink t = {.budget = SIZE_MAX, .code = CF_EIO};
    ASSERT_OK(cf_csv_writer_init(&w, 0, budget_write, &t));
    ASSERT_OK(cf_csv_write_field(&w, big + 1, 6)); /* no quote inside: plain */
    char *plain = malloc(n);
    ASSERT_PTR(plain);
    memset(plain, 'z', n);
    ASSERT_OK(cf_csv_write_field(&w, plain, n));
    ASSERT_OK(cf_csv_end_record(&w));
    ASSERT_EQ(t.largest, n);
    ASSERT_EQ(t.mem.len, 6 + 1 + n + 2);
    free(plain);
    free(big);
    cf_csv_mem_free(&s.mem);
    cf_csv_mem_free(&t.mem);
}

static void test_csv_mem_sink_limit_and_oom(void)
{
    cf_csv_mem out = {.max = 8};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &out));
    ASSERT_OK(cf_csv_write_str(&w, "abcd"));
    ASSERT_OK(cf_csv_end_record(&w)); /* 6 bytes */
    ASSERT_OK(cf_csv_write_str(&w, "e"));
    ASSERT_EQ(cf_csv_end_record(&w), CF_ETOOBIG);     /* 9 > 8 */
    ASSERT_EQ(cf_csv_write_str(&w, "f"), CF_ETOOBIG); /* sticky */
    ASSERT_EQ(out.len, 6);
    cf_csv_mem_free(&out);
    ASSERT_EQ(out.max, 8);

    cf_csv_mem m = {0};
    ASSERT_OK(cf_csv_writer_init(&w, 0, cf_csv_mem_write, &m));
    cf__alloc_fail_after(1, 0);
    ASSERT_OK(cf_csv_write_str(&w, "x"));
    ASSERT_EQ(cf_csv_end_record(&w), CF_ENOMEM);
    cf__alloc_fail_after(0, 0);
    ASSERT(!m.data);
    cf_csv_mem_free(&m);
}

/* ---- reader ---- */

static void test_csv_reader_records_and_line_ends(void)
{
    ASSERT_STR_EQ(read_all("a,b\r\nc,d\r\n"), "[a][b];[c][d];");
    ASSERT_STR_EQ(read_all("a,b\nc,d\n"), "[a][b];[c][d];");
    ASSERT_STR_EQ(read_all("a,b\r\nc,d"), "[a][b];[c][d];"); /* no final line end */
    ASSERT_STR_EQ(read_all("a\n\"b\"\r\nc"), "[a];[b];[c];");
    ASSERT_STR_EQ(read_all(""), "");
    ASSERT_STR_EQ(read_all("x"), "[x];");
}

static void test_csv_reader_quoted_fields(void)
{
    ASSERT_STR_EQ(read_all("\"a,b\",\"say \"\"hi\"\"\"\r\n"), "[a,b][say \"hi\"];");
    ASSERT_STR_EQ(read_all("\"two\r\nlines\",\"lf\nonly\",\"cr\ronly\"\r\n"),
                  "[two\r\nlines][lf\nonly][cr\ronly];");
    ASSERT_STR_EQ(read_all("\"\"\"\""), "[\"];");
    ASSERT_STR_EQ(read_all("\"\",\"\"\n\"\"\n"), "[][];[];");
    ASSERT_STR_EQ(read_all(" a , b \n"), "[ a ][ b ];");
    ASSERT_STR_EQ(read_all("天空,\"の城\"\n"), "[天空][の城];");
}

static void test_csv_reader_empty_fields(void)
{
    ASSERT_STR_EQ(read_all(",,\r\n"), "[][][];");
    ASSERT_STR_EQ(read_all("a,\r\n,b\n"), "[a][];[][b];");
    ASSERT_STR_EQ(read_all("a,"), "[a][];");
    ASSERT_STR_EQ(read_all("\r\n\n"), "[];[];"); /* blank lines: one empty field each */
    ASSERT_STR_EQ(read_all("a\r\n\r\nb\r\n"), "[a];[];[b];");
}

static void test_csv_reader_fields_may_hold_nul(void)
{
    collect c = {0};
    ASSERT_OK(cf_csv_parse("a\0b,\"c\0\"\n", 9, on_collect, &c, NULL));
    ASSERT_EQ(c.len, 10);
    ASSERT_MEM_EQ(c.text, "[a\0b][c\0];", 10);
}

/* Parse `text`, expect `code` and the exact message; also fed one byte at a time. */
static void expect_error(const char *text, int code, const char *msg)
{
    collect c = {0};
    cf_error *err = NULL;
    ASSERT_EQ(cf_csv_parse(text, strlen(text), on_collect, &c, &err), code);
    ASSERT_PTR(err);
    ASSERT_EQ(err->code, code);
    ASSERT_STR_EQ(err->message, msg);
    cf_error_free(err);

    cf_csv_reader r;
    cf_csv_reader_init(&r, NULL, NULL);
    int rc = 0;
    for (size_t i = 0; text[i] && !rc; i++)
        rc = cf_csv_reader_feed(&r, text + i, 1);
    if (!rc)
        rc = cf_csv_reader_finish(&r);
    ASSERT_EQ(rc, code);
    ASSERT_STR_EQ(cf_csv_reader_error(&r), msg);
    ASSERT_EQ(cf_csv_reader_feed(&r, "x", 1), code); /* sticky */
    ASSERT_EQ(cf_csv_reader_finish(&r), code);
    cf_csv_reader_reset(&r);
    ASSERT_STR_EQ(cf_csv_reader_error(&r), "");
}

static void test_csv_reader_errors_say_where(void)
{
    expect_error("a,b\r\nc,d\"e\r\n", CF_EPARSE,
                 "CSV: '\"' inside an unquoted field at line 2, column 4 (byte 8)");
    expect_error("\"ab\"c,d\n", CF_EPARSE,
                 "CSV: expected ',' or a line end after a closing quote at line 1, column 5 "
                 "(byte 4)");
    expect_error("x\n\"a\nb\" ,c\n", CF_EPARSE,
                 "CSV: expected ',' or a line end after a closing quote at line 3, column 3 "
                 "(byte 7)");
    expect_error("a\rb\n", CF_EPARSE, "CSV: CR not followed by LF at line 1, column 2 (byte 1)");
    expect_error("a,b\r", CF_EPARSE, "CSV: CR not followed by LF at line 1, column 4 (byte 3)");
    expect_error("ok\nx,\"open\nnever closed", CF_EPARSE,
                 "CSV: unterminated quoted field at line 2, column 3 (byte 5)");
}

static void test_csv_reader_split_anywhere(void)
{
    static const char doc[] = "title,\"note, with comma\"\r\n"
                              "\"multi\r\nline\",\"q\"\"uote\"\n"
                              ",,\r\n"
                              "\"\"\r\n"
                              "\r\n"
                              "天空の城,\"end\"";
    const char *whole = read_all(doc);
    char expect[4096];
    snprintf(expect, sizeof expect, "%s", whole);
    ASSERT_STR_EQ(expect, "[title][note, with comma];[multi\r\nline][q\"uote];[][][];[];[];"
                          "[天空の城][end];");
    size_t n = sizeof doc - 1;
    /* One byte at a time. */
    collect c = {0};
    cf_csv_reader r;
    cf_csv_reader_init(&r, on_collect, &c);
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(cf_csv_reader_feed(&r, doc + i, 1));
    ASSERT_OK(cf_csv_reader_finish(&r));
    ASSERT_STR_EQ(c.text, expect);
    ASSERT_EQ(cf_csv_reader_records(&r), 6);
    cf_csv_reader_reset(&r);
    /* Every split into three chunks. */
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j += 3) {
            memset(&c, 0, sizeof c);
            cf_csv_reader_init(&r, on_collect, &c);
            ASSERT_OK(cf_csv_reader_feed(&r, doc, i));
            ASSERT_OK(cf_csv_reader_feed(&r, doc + i, j - i));
            ASSERT_OK(cf_csv_reader_feed(&r, doc + j, n - j));
            ASSERT_OK(cf_csv_reader_finish(&r));
            ASSERT_STR_EQ(c.text, expect);
            cf_csv_reader_reset(&r);
        }
    }
}

static void test_csv_reader_limits(void)
{
    cf_csv_reader r;
    cf_csv_reader_init(&r, NULL, NULL);
    r.max_record = 8; /* "abc" + NUL + "defg" + NUL would be 9 */
    ASSERT_OK(cf_csv_reader_feed(&r, "ab,c\r\n", 6));
    ASSERT_EQ(cf_csv_reader_feed(&r, "abc,defg\r\n", 10), CF_ETOOBIG);
    ASSERT_STR_EQ(cf_csv_reader_error(&r),
                  "CSV: record longer than 8 bytes at line 2, column 9 (byte 14)");
    cf_csv_reader_reset(&r);
    ASSERT_EQ(r.max_record, 8);
    ASSERT_OK(cf_csv_reader_feed(&r, "\"1234567\"\n", 10));
    ASSERT_EQ(cf_csv_reader_feed(&r, "\"12345678\"\n", 11), CF_ETOOBIG);
    cf_csv_reader_reset(&r);

    cf_csv_reader_init(&r, NULL, NULL);
    r.max_fields = 3;
    ASSERT_OK(cf_csv_reader_feed(&r, "a,b,c\n", 6));
    ASSERT_EQ(cf_csv_reader_feed(&r, ",,,\n", 4), CF_ETOOBIG);
    ASSERT_STR_EQ(cf_csv_reader_error(&r),
                  "CSV: more than 3 fields in a record at line 2, column 4 (byte 9)");
    cf_csv_reader_reset(&r);
}

static void test_csv_reader_callback_stops(void)
{
    collect c = {.stop_at = 2};
    cf_csv_reader r;
    cf_csv_reader_init(&r, on_collect, &c);
    ASSERT_EQ(cf_csv_reader_feed(&r, "a\nb\nc\n", 6), CF_ECANCELED);
    ASSERT_STR_EQ(c.text, "[a];[b];");
    ASSERT_STR_EQ(cf_csv_reader_error(&r), "CSV: stopped by the record callback (ECANCELED)");
    ASSERT_EQ(cf_csv_reader_feed(&r, "d\n", 2), CF_ECANCELED);
    cf_csv_reader_reset(&r);

    /* The last record, delivered by finish, can stop too. */
    collect d = {.stop_at = 1};
    cf_csv_reader_init(&r, on_collect, &d);
    ASSERT_OK(cf_csv_reader_feed(&r, "z", 1));
    ASSERT_EQ(cf_csv_reader_finish(&r), CF_ECANCELED);
    cf_csv_reader_reset(&r);
}

static void test_csv_reader_rejects_bad_arguments(void)
{
    cf_csv_reader r;
    cf_csv_reader_init(&r, NULL, NULL);
    ASSERT_EQ(cf_csv_reader_feed(&r, NULL, 1), CF_EINVAL);
    ASSERT_OK(cf_csv_reader_feed(&r, NULL, 0));
    ASSERT_OK(cf_csv_reader_finish(&r));
    ASSERT_EQ(cf_csv_reader_feed(&r, "a", 1), CF_EINVAL); /* after finish */
    ASSERT_OK(cf_csv_reader_finish(&r));
    cf_csv_reader_reset(&r);
    ASSERT_EQ(cf_csv_reader_feed(NULL, "a", 1), CF_EINVAL);
    ASSERT_EQ(cf_csv_reader_finish(NULL), CF_EINVAL);
    ASSERT_EQ(cf_csv_parse(NULL, 1, NULL, NULL, NULL), CF_EINVAL);
    ASSERT_STR_EQ(cf_csv_reader_error(NULL), "");
}

/* Fail allocation n = 1, 2, ... (once, then sticky) until the parse succeeds. */
static void test_csv_reader_out_of_memory(void)
{
    static const char doc[] =
        "a,\"b\nb\",c\r\n,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
        ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"
        "0123456789012345678901234567890123456789012345678901234567890123"
        "0123456789012345678901234567890123456789012345678901234567890123"
        ",last";
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (long n = 1;; n++) {
            collect c = {0};
            cf_csv_reader r;
            cf_csv_reader_init(&r, on_collect, &c);
            cf__alloc_fail_after(n, sticky);
            int rc = cf_csv_reader_feed(&r, doc, sizeof doc - 1);
            if (!rc)
                rc = cf_csv_reader_finish(&r);
            long counted = cf__alloc_fail_after(0, 0);
            cf_csv_reader_reset(&r);
            if (!rc) {
                ASSERT(counted < n);
                ASSERT_EQ(c.records, 3);
                break;
            }
            ASSERT_EQ(rc, CF_ENOMEM);
            ASSERT_STR_EQ(cf_csv_reader_error(&r), ""); /* reset cleared it */
            ASSERT_LE(n, 50);
        }
    }
    /* cf_csv_parse reports the failure too (its error object may itself fail). */
    cf__alloc_fail_after(1, 0);
    cf_error *err = NULL;
    ASSERT_EQ(cf_csv_parse("a,b", 3, NULL, NULL, &err), CF_ENOMEM);
    cf__alloc_fail_after(0, 0);
    ASSERT_PTR(err);
    ASSERT_STR_EQ(err->message, "CSV: out of memory at line 1, column 1 (byte 0)");
    cf_error_free(err);
}

/* ---- writer → reader ---- */

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

typedef struct expect_records {
    char fields[64][8][24];
    size_t lens[64][8];
    size_t counts[64];
    size_t next;
} expect_records;

static int on_expect(const cf_buf *fields, size_t nfields, void *data)
{
    expect_records *e = data;
    ASSERT_EQ(nfields, e->counts[e->next]);
    for (size_t i = 0; i < nfields; i++) {
        ASSERT_EQ(fields[i].len, e->lens[e->next][i]);
        ASSERT_MEM_EQ(fields[i].base, e->fields[e->next][i], fields[i].len);
    }
    e->next++;
    return 0;
}

static void test_csv_writer_output_reads_back(void)
{
    static const char alphabet[] = {'a', ',', '"', '\r', '\n', ' ', '=', '-', '\t', '\xe2'};
    static expect_records e;
    uint32_t seed = 12345;
    for (unsigned flags = 0; flags < 4; flags++) {
        memset(&e, 0, sizeof e);
        cf_csv_mem out = {0};
        cf_csv_writer w;
        ASSERT_OK(cf_csv_writer_init(&w, flags, cf_csv_mem_write, &out));
        for (size_t r = 0; r < 64; r++) {
            e.counts[r] = 1 + rng_next(&seed) % 8;
            for (size_t f = 0; f < e.counts[r]; f++) {
                size_t len = rng_next(&seed) % 24;
                for (size_t i = 0; i < len; i++)
                    e.fields[r][f][i] = alphabet[rng_next(&seed) % sizeof alphabet];
                e.lens[r][f] = len;
                ASSERT_OK(cf_csv_write_field(&w, e.fields[r][f], len));
            }
            ASSERT_OK(cf_csv_end_record(&w));
        }
        cf_csv_reader rd;
        cf_csv_reader_init(&rd, on_expect, &e);
        for (size_t i = 0; i < out.len; i += 7)
            ASSERT_OK(cf_csv_reader_feed(&rd, out.data + i, CF_MIN(7, out.len - i)));
        ASSERT_OK(cf_csv_reader_finish(&rd));
        ASSERT_EQ(e.next, 64);
        cf_csv_reader_reset(&rd);
        cf_csv_mem_free(&out);
    }
}

/* ---- round trip with Python's csv module ---- */

/* Run `python3 tests/data/csv_roundtrip.py mode in out`; the case fails without python3. */
static void run_python(const char *mode, const char *in, const char *out)
{
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/data/csv_roundtrip.py", CF_SOURCE_DIR);
    char *argv[] = {(char *)"python3", script, (char *)mode, (char *)in, (char *)out, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "python3", NULL, NULL, argv, environ);
    if (rc)
        CF_TEST_FAILF("cannot start python3 (%s): the round trip needs it", strerror(rc));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        CF_TEST_FAILF("python3 csv_roundtrip.py %s failed (status %d)", mode, status);
}

static void write_file(const char *path, const char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_PTR(f);
    ASSERT_EQ(fwrite(p, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
}

/* Read a whole file into a malloc'd NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ASSERT_PTR(f);
    char *p = NULL;
    size_t n = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        p = realloc(p, n + got + 1);
        ASSERT_PTR(p);
        memcpy(p + n, chunk, got);
        n += got;
    }
    fclose(f);
    if (!p)
        p = calloc(1, 1);
    ASSERT_PTR(p);
    p[n] = '\0';
    *len = n;
    return p;
}

/* The exchange format of csv_roundtrip.py: "x" + hex per field, ' ' between, '\n' after. */
static void encode_field(FILE *f, const char *p, size_t len, int first)
{
    fputs(first ? "x" : " x", f);
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", (unsigned char)p[i]);
}

static int on_encode(const cf_buf *fields, size_t nfields, void *data)
{
    for (size_t i = 0; i < nfields; i++)
        encode_field(data, fields[i].base, fields[i].len, i == 0);
    fputc('\n', data);
    return 0;
}

/* The tricky records, as NULL-terminated lists. */
static const char *const tricky_1[] = {"plain", "comma, inside", "quote \" inside", "\"", NULL};
static const char *const tricky_2[] = {"LF\ninside", "CR\rinside", "CRLF\r\ninside", "\r\n", NULL};
static const char *const tricky_3[] = {"  leading", "trailing  ", " ", "", "", NULL};
static const char *const tricky_4[] = {"", NULL};
static const char *const tricky_5[] = {"天空の城ラピュタ", "Tenkū no shiro", "émoji 🎬", NULL};
static const char *const tricky_6[] = {"=1+2", "+x", "-5", "@SUM(A1)", "\tTab", "\rCR", NULL};
static const char *const tricky_7[] = {"=A1,\"B1\"", "'already", "a=b", ",", "\"\"", NULL};
static const char *const *const tricky[] = {tricky_1, tricky_2, tricky_3, tricky_4,
                                            tricky_5, tricky_6, tricky_7, NULL};

/* The exchange text of the tricky records, with the formula guard applied when asked. */
static char *tricky_exchange(int guard, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    ASSERT_PTR(f);
    for (size_t r = 0; tricky[r]; r++) {
        for (size_t i = 0; tricky[r][i]; i++) {
            const char *s = tricky[r][i];
            int g = guard && s[0] && strchr("=+-@\t\r", s[0]);
            char buf[256];
            snprintf(buf, sizeof buf, "%s%s", g ? "'" : "", s);
            encode_field(f, buf, strlen(buf), i == 0);
        }
        fputc('\n', f);
    }
    fclose(f);
    return text;
}

static void test_csv_python_roundtrip(void)
{
    char c_csv[8192], c_rec[8192], py_in[8192], py_csv[8192];
    cf_test_path(c_csv, sizeof c_csv, "c.csv");
    cf_test_path(c_rec, sizeof c_rec, "c.rec");
    cf_test_path(py_in, sizeof py_in, "py.rec");
    cf_test_path(py_csv, sizeof py_csv, "py.csv");
    for (unsigned flags = 0; flags <= CF_CSV_FORMULA_GUARD; flags += CF_CSV_FORMULA_GUARD) {
        for (unsigned lf = 0; lf <= CF_CSV_LF; lf += CF_CSV_LF) {
            /* C writes, Python reads. */
            cf_csv_mem out = {0};
            write_records(flags | lf, tricky, &out);
            write_file(c_csv, out.data, out.len);
            run_python("read", c_csv, c_rec);
            size_t got_len, want_len;
            char *got = read_file(c_rec, &got_len);
            char *want = tricky_exchange(flags != 0, &want_len);
            ASSERT_STR_EQ(got, want);
            free(got);
            free(want);
            /* Python writes the same records: byte for byte what C wrote (CRLF, no guard). */
            if (!flags && !lf) {
                want = tricky_exchange(0, &want_len);
                write_file(py_in, want, want_len);
                free(want);
                run_python("write", py_in, py_csv);
                size_t py_len;
                char *py = read_file(py_csv, &py_len);
                ASSERT_EQ(py_len, out.len);
                ASSERT_MEM_EQ(py, out.data, py_len);
                free(py);
            }
            cf_csv_mem_free(&out);
        }
    }
    /* Python writes (guarded values as plain text), C reads one byte at a time. */
    size_t want_len;
    char *want = tricky_exchange(1, &want_len);
    write_file(py_in, want, want_len);
    run_python("write", py_in, py_csv);
    size_t py_len;
    char *py = read_file(py_csv, &py_len);
    char *back = NULL;
    size_t back_len = 0;
    FILE *f = open_memstream(&back, &back_len);
    ASSERT_PTR(f);
    cf_csv_reader r;
    cf_csv_reader_init(&r, on_encode, f);
    for (size_t i = 0; i < py_len; i++)
        ASSERT_OK(cf_csv_reader_feed(&r, py + i, 1));
    ASSERT_OK(cf_csv_reader_finish(&r));
    cf_csv_reader_reset(&r);
    fclose(f);
    ASSERT_STR_EQ(back, want);
    free(back);
    free(py);
    free(want);
}

/* ---- the sink and record callbacks: data last ---- */

typedef struct order_sink {
    char text[256];
    size_t len;
    int calls;
    int fail_on_call; /* the call that fails with CF_ENOSPC; 0: none */
} order_sink;

/* A sink in the one shape: bytes, their length, then the pointer given at init. */
static int order_write(const char *bytes, size_t len, void *data)
{
    order_sink *s = data;
    s->calls++;
    if (s->calls == s->fail_on_call)
        return CF_ENOSPC;
    ASSERT_LE(s->len + len, sizeof s->text - 1);
    memcpy(s->text + s->len, bytes, len);
    s->len += len;
    s->text[s->len] = '\0';
    return 0;
}

static int order_record(const cf_buf *fields, size_t nfields, void *data)
{
    int *seen = data;
    ASSERT_EQ(nfields, 2);
    ASSERT_STR_EQ(fields[0].base, *seen == 0 ? "id" : "1");
    (*seen)++;
    return 0;
}

/*
 * The writer hands its bytes to a sink of the shape int (bytes, len, data), with data the
 * pointer given to cf_csv_writer_init; a sink's error stops the writer with that code; the
 * reader's record callback gets (fields, nfields, data). cf_csv_mem_write is such a sink.
 */
static void test_csv_sink_and_record_order(void)
{
    order_sink s = {0};
    cf_csv_writer w;
    ASSERT_OK(cf_csv_writer_init(&w, 0, order_write, &s));
    const char *head[] = {"id", "title"};
    const char *row[] = {"1", "Castle, in the Sky"};
    ASSERT_OK(cf_csv_write_header(&w, head, 2));
    ASSERT_OK(cf_csv_write_record(&w, row, 2));
    ASSERT_STR_EQ(s.text, "id,title\r\n1,\"Castle, in the Sky\"\r\n");
    ASSERT_EQ(s.calls, 2); /* once per record */
    int seen = 0;
    ASSERT_OK(cf_csv_parse(s.text, s.len, order_record, &seen, NULL));
    ASSERT_EQ(seen, 2);

    order_sink failing = {.fail_on_call = 1};
    ASSERT_OK(cf_csv_writer_init(&w, 0, order_write, &failing));
    ASSERT_EQ(cf_csv_write_record(&w, row, 2), CF_ENOSPC);
    ASSERT_EQ(cf_csv_write_record(&w, row, 2), CF_ENOSPC); /* sticky */
    ASSERT_EQ(failing.len, 0);

    cf_csv_mem mem = {0};
    ASSERT_OK(cf_csv_mem_write("a,b", 3, &mem));
    ASSERT_STR_EQ(mem.data, "a,b");
    cf_csv_mem_free(&mem);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_csv_writer_quotes_only_when_needed);
    CF_TEST(test_csv_writer_lf_flag);
    CF_TEST(test_csv_writer_quote_all);
    CF_TEST(test_csv_writer_formula_guard);
    CF_TEST(test_csv_writer_passes_bytes_through);
    CF_TEST(test_csv_writer_lone_empty_field);
    CF_TEST(test_csv_writer_header_first_only);
    CF_TEST(test_csv_writer_rejects_bad_arguments);
    CF_TEST(test_csv_writer_sink_errors_are_sticky);
    CF_TEST(test_csv_writer_stages_and_flushes_large_fields);
    CF_TEST(test_csv_mem_sink_limit_and_oom);
    CF_TEST(test_csv_reader_records_and_line_ends);
    CF_TEST(test_csv_reader_quoted_fields);
    CF_TEST(test_csv_reader_empty_fields);
    CF_TEST(test_csv_reader_fields_may_hold_nul);
    CF_TEST(test_csv_reader_errors_say_where);
    CF_TEST(test_csv_reader_split_anywhere);
    CF_TEST(test_csv_reader_limits);
    CF_TEST(test_csv_reader_callback_stops);
    CF_TEST(test_csv_reader_rejects_bad_arguments);
    CF_TEST(test_csv_reader_out_of_memory);
    CF_TEST(test_csv_writer_output_reads_back);
    CF_TEST(test_csv_python_roundtrip);
    CF_TEST(test_csv_sink_and_record_order);
    return CF_TEST_END();
}
