/*
 * The error accessors (cf_error_message, cf_error_code, cf_error_site) and the error table's
 * promise that every code has a name and a message of its own.
 */
#include <string.h>

#include "harness.h"

static void test_error_accessors_read_the_error(void)
{
    int line = __LINE__ + 1;
    cf_error *e = CF_ERROR_SYS(CF_EACCES, "open '%s'", "films.csv");
    ASSERT_PTR(e);
    ASSERT_STR_EQ(cf_error_message(e), "open 'films.csv': permission denied");
    ASSERT(cf_error_message(e) == e->message); /* borrowed from the error, not a copy */
    ASSERT_EQ(cf_error_code(e), CF_EACCES);
    cf_site s = cf_error_site(e);
    ASSERT_PTR(s.file);
    ASSERT(strstr(s.file, "test_error.c") != NULL);
    ASSERT_EQ(s.line, line);
    ASSERT_STR_EQ(s.func, "test_error_accessors_read_the_error");
    cf_error_free(e);
}

static void test_error_accessors_without_an_error(void)
{
    ASSERT_STR_EQ(cf_error_message(NULL), "no error");
    ASSERT_EQ(cf_error_code(NULL), 0);
    cf_site s = cf_error_site(NULL);
    ASSERT(s.file == NULL && s.line == 0 && s.func == NULL);
    /* A user-built error with neither message nor place. */
    cf_error bare = {CF_EAI_SERVICE, NULL, NULL, 42, "f", NULL, NULL};
    ASSERT_STR_EQ(cf_error_message(&bare), "service not available for socket type");
    s = cf_error_site(&bare);
    ASSERT(s.file == NULL && s.line == 0 && s.func == NULL);
}

#define COLLECT(name, value, msg) {CF_##name, #name, msg},
static const struct {
    int code;
    const char *name;
    const char *message;
} rows[] = {CF_ERRNO_MAP(COLLECT)};
#undef COLLECT

/* No two codes share a value, a name or a message; each looks itself up. */
static void test_error_codes_are_distinct(void)
{
    size_t n = sizeof rows / sizeof rows[0];
    for (size_t i = 0; i < n; i++) {
        ASSERT(rows[i].code < 0);
        ASSERT_STR_EQ(cf_err_name(rows[i].code), rows[i].name);
        ASSERT_STR_EQ(cf_strerror(rows[i].code), rows[i].message);
        for (size_t j = 0; j < i; j++) {
            ASSERT(rows[j].code != rows[i].code);
            ASSERT(strcmp(rows[j].name, rows[i].name) != 0);
            ASSERT(strcmp(rows[j].message, rows[i].message) != 0);
        }
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_error_accessors_read_the_error);
    CF_TEST(test_error_accessors_without_an_error);
    CF_TEST(test_error_codes_are_distinct);
    return CF_TEST_END();
}
