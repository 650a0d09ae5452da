/*
 * Fault seams behind util/sys.h, compiled only into CF_TESTING builds. Each operation has a
 * countdown; when it reaches zero the wrapper fails with the armed code (or caps a transfer).
 * Every call is also counted, so a test can check how many system calls a scenario made.
 */
#include "util/sys.h"

#ifdef CF_TESTING
#include <stdatomic.h>

static atomic_long fault_nth[CF__SYS_OP_COUNT];
static atomic_long fault_code[CF__SYS_OP_COUNT];
static atomic_long calls[CF__SYS_OP_COUNT]; /* every call through the seam, armed or not */

void cf__sys_fault_set(enum cf__sys_op op, long nth, long code)
{
    atomic_store(&fault_code[op], code);
    atomic_store(&fault_nth[op], nth);
}

void cf__sys_fault_clear(void)
{
    for (int i = 0; i < CF__SYS_OP_COUNT; i++) {
        atomic_store(&fault_nth[i], 0);
        atomic_store(&fault_code[i], 0);
    }
}

long cf__sys_calls(enum cf__sys_op op)
{
    return atomic_load(&calls[op]);
}

long cf__sys_fault_check(enum cf__sys_op op)
{
    atomic_fetch_add(&calls[op], 1);
    long nth = atomic_load(&fault_nth[op]);
    if (nth <= 0)
        return 0;
    if (atomic_fetch_sub(&fault_nth[op], 1) != 1)
        return 0;
    return atomic_load(&fault_code[op]);
}
#else
/* An empty translation unit is not valid ISO C. */
typedef int cf__sys_unused;
#endif
