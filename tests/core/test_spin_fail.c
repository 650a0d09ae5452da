/* ctest-labels: core */
/* ctest-timeout: 30 */
/*
 * A post whose callback fails the run while the loop spins for posts (busy polling): the run
 * stops at the end of that callback, and the posts after it wait, in order, for the next run.
 */
#include "harness.h"

#include "calcifer/remote.h"

#include "core/internal.h"
#include "core/loop.h"

static int ran[8];
static int nran;

static void on_post(cf_loop *loop, int status, void *data)
{
    int id = (int)(intptr_t)data;
    if (status != 0)
        return;
    ran[nran++] = id;
    if (id == 0)
        cf__loop_fail(loop, CF_ECANCELED);
}

static void check_fail_stops_posts(unsigned busy_us)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_loop_set_busy_poll(loop, busy_us));
    cf_remote *keep;
    ASSERT_OK(cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &keep));
    nran = 0;
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(cf_remote_post(keep, on_post, (void *)(intptr_t)i));
    }
    ASSERT_EQ(cf_run(loop, CF_RUN_DEFAULT), CF_ECANCELED);
    ASSERT_EQ(nran, 1); /* the failed run ran nothing after the failing callback */
    ASSERT_EQ(ran[0], 0);
    cf_remote_release(keep);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(nran, 3);
    ASSERT_EQ(ran[1], 1);
    ASSERT_EQ(ran[2], 2);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_spin_fail_without_busy_poll(void)
{
    check_fail_stops_posts(0);
}

static void test_spin_fail_while_busy_polling(void)
{
    check_fail_stops_posts(1000);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_spin_fail_without_busy_poll);
    CF_TEST(test_spin_fail_while_busy_polling);
    return CF_TEST_END();
}
