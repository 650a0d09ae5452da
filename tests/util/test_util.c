/* Tests of the util layer: error table, error objects, the counting allocator, dbuf. */
#include <string.h>

#include "harness.h"
#include "util/alloc.h"
#include "util/buf.h"

static void test_util_error_names_and_messages(void)
{
    ASSERT_EQ(CF_ENOENT, -ENOENT);
    ASSERT_STR_EQ(cf_err_name(CF_ENOENT), "ENOENT");
    ASSERT_STR_EQ(cf_strerror(CF_EACCES), "permission denied");
    ASSERT_STR_EQ(cf_err_name(CF_EPARSE), "EPARSE");
    ASSERT_STR_EQ(cf_strerror(CF_EOF), "end of file");
    ASSERT_STR_EQ(cf_strerror(-123456), "unknown error");
    ASSERT_EQ(cf_translate_sys_error(EWOULDBLOCK), CF_EAGAIN);
}

static void test_util_error_object_names_input(void)
{
    cf_error *e = CF_ERROR_SYS(CF_EACCES, "open '%s'", "films.csv");
    ASSERT_PTR(e);
    ASSERT_STR_EQ(e->message, "open 'films.csv': permission denied");
    ASSERT_EQ(e->code, CF_EACCES);
    ASSERT_STR_EQ(e->func, "test_util_error_object_names_input");
    cf_error *c = cf_error_copy(e);
    ASSERT_STR_EQ(c->message, e->message);
    cf_error_free(e);
    cf_error_free(c);
    cf_error *plain = CF_ERROR(CF_ETIMEDOUT, NULL);
    ASSERT_STR_EQ(plain->message, "connection timed out");
    cf_error_free(plain);
}

static void test_util_alloc_counts_and_fails_on_demand(void)
{
    long before = cf_live_allocations();
    void *p = cf__malloc(10);
    ASSERT_EQ(cf_live_allocations(), before + 1);
    cf__free(p);
    ASSERT_EQ(cf_live_allocations(), before);
    cf__alloc_fail_after(2, 0);
    void *a = cf__malloc(1);
    void *b = cf__malloc(1);
    void *c = cf__malloc(1);
    cf__alloc_fail_after(0, 0);
    ASSERT(a != NULL);
    ASSERT(b == NULL);
    ASSERT(c != NULL);
    cf__free(a);
    cf__free(c);
}

static void test_util_dbuf_grows_until_its_limit(void)
{
    cf_dbuf b;
    cf__dbuf_init(&b, 8);
    ASSERT_OK(cf__dbuf_adds(&b, "abc"));
    ASSERT_OK(cf__dbuf_printf(&b, "%d", 12345));
    ASSERT_STR_EQ(b.data, "abc12345");
    ASSERT_EQ(cf__dbuf_addc(&b, 'x'), CF_ETOOBIG);
    ASSERT_STR_EQ(b.data, "abc12345");
    size_t len = 0;
    char *taken = cf__dbuf_take(&b, &len);
    ASSERT_EQ(len, 8);
    cf__free(taken);
    cf__dbuf_free(&b);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_util_error_names_and_messages);
    CF_TEST(test_util_error_object_names_input);
    CF_TEST(test_util_alloc_counts_and_fails_on_demand);
    CF_TEST(test_util_dbuf_grows_until_its_limit);
    return CF_TEST_END();
}
