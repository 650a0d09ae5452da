/*
 * The block pool (util/objpool.h): zeroed, distinct, aligned blocks across several regions;
 * freed blocks reused before new room; every region but one given back once its blocks are
 * all free (the harness checks the region count returns to its start: each region is one live
 * block of the library's allocator in this build); an allocation failure injected at the
 * block or at the region is a NULL, not a crash.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "util/alloc.h"
#include "util/objpool.h"

/* Under AddressSanitizer the blocks come from the allocator (ASan sees each): no regions. */
#if defined(__SANITIZE_ADDRESS__)
#define REGIONS(n) 1
#else
#define REGIONS(n) (n)
#endif

#define BLOCK 528 /* a copy-stack task's block, about */
/* More than two regions' worth of blocks (2 MiB each). */
#define MANY 9000

static void fill(unsigned char *b, size_t n, unsigned char v)
{
    memset(b, v, n);
}

static int zeroed(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void test_objpool_blocks_across_regions(void)
{
    static unsigned char *blocks[MANY];
    cf__objpool p;
    cf__objpool_init(&p, BLOCK - 3); /* rounded up to 16 */
    ASSERT_EQ(p.size, BLOCK);
    for (int i = 0; i < MANY; i++) {
        blocks[i] = cf__objpool_alloc(&p);
        ASSERT_PTR(blocks[i]);
        ASSERT_EQ((uintptr_t)blocks[i] % 16, 0);
        ASSERT(zeroed(blocks[i], BLOCK));
        fill(blocks[i], BLOCK, (unsigned char)(i | 1)); /* ASan/valgrind: the whole block */
    }
    ASSERT(REGIONS(p.regions >= 3));
    for (int i = 0; i < MANY; i++) /* no two blocks overlap */
        ASSERT_EQ(blocks[i][0], (unsigned char)(i | 1));
    /* A freed block is the next one handed out, zeroed again. */
    unsigned char *again = blocks[4321];
    cf__objpool_free(&p, again);
    blocks[4321] = cf__objpool_alloc(&p);
    ASSERT(REGIONS(blocks[4321] == again));
    ASSERT(zeroed(blocks[4321], BLOCK));
    /* All free: one region is kept for the next burst, the others go back. */
    for (int i = 0; i < MANY; i++)
        cf__objpool_free(&p, blocks[i]);
    ASSERT(REGIONS(p.regions == 1));
    /* The kept region serves the next burst without a new mapping. */
    for (int i = 0; i < 100; i++) {
        blocks[i] = cf__objpool_alloc(&p);
        ASSERT_PTR(blocks[i]);
        ASSERT(zeroed(blocks[i], BLOCK));
    }
    ASSERT(REGIONS(p.regions == 1));
    for (int i = 0; i < 100; i++)
        cf__objpool_free(&p, blocks[i]);
    cf__objpool_free(&p, NULL);
    cf__objpool_destroy(&p);
    ASSERT_EQ(p.regions, 0);
}

static void test_objpool_allocation_failures(void)
{
    cf__objpool p;
    cf__objpool_init(&p, 64);
    cf__alloc_fail_after(1, 0); /* the block's own check */
    ASSERT(cf__objpool_alloc(&p) == NULL);
    cf__alloc_fail_after(2, 0); /* the first region's mapping */
    void *b = cf__objpool_alloc(&p);
    ASSERT(REGIONS(b == NULL));
    cf__objpool_free(&p, b);
    ASSERT_EQ(p.regions, 0);
    cf__alloc_fail_after(0, 0);
    b = cf__objpool_alloc(&p);
    ASSERT_PTR(b);
    cf__objpool_free(&p, b);
    cf__objpool_destroy(&p);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_objpool_blocks_across_regions);
    CF_TEST(test_objpool_allocation_failures);
    return CF_TEST_END();
}
