/*
 * The portable context switch (fallback): POSIX ucontext to start a context, _setjmp and
 * _longjmp to switch. The contract is in fiber_switch.h. CMake builds it when
 * CF_SWITCH_BACKEND=ucontext or when the CPU has no fiber_switch_<arch>.S.
 *
 * Why not swapcontext for every switch: it saves and restores the signal mask with a system
 * call each time (about 1 µs here). Here makecontext prepares a new context, setcontext
 * enters it once (its one signal-mask call), and every later switch saves the current flow
 * with _setjmp and continues the target with _longjmp, neither of which touches the signal
 * mask (the mask is per thread, and all of a thread's fibers share it anyway).
 *
 * makecontext passes only int arguments, so the context pointer is split into two halves.
 * Copy-stack mode needs the lowest stack byte a suspended context uses: `sp` is
 * cf__ctx_switch's frame address minus a margin larger than what _setjmp pushes below it (a
 * little more is saved than needed; valgrind may then flag reads below the stack pointer).
 */
#undef _FORTIFY_SOURCE /* __longjmp_chk refuses jumps to another stack */
#include <stdint.h>
#include <stdlib.h>

#include "async/fiber_switch.h"

#define SP_MARGIN 256

static void ctx_start(unsigned int hi, unsigned int lo)
{
    cf__ctx *ctx = (cf__ctx *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo);
    ctx->entry(ctx->arg);
    abort(); /* entry never returns */
}

void cf__ctx_make(cf__ctx *ctx, void *lo, size_t size, cf__ctx_entry entry, void *arg)
{
    uintptr_t p = (uintptr_t)ctx;
    ctx->lo = lo;
    ctx->entry = entry;
    ctx->arg = arg;
    ctx->saved = 0;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))ctx_start, 2, (unsigned int)(p >> 16 >> 16),
                (unsigned int)(p & 0xffffffffu));
    ctx->sp = (char *)lo + size - SP_MARGIN;
}

void cf__ctx_switch(cf__ctx *from, cf__ctx *to)
{
    char *sp = (char *)__builtin_frame_address(0) - SP_MARGIN;
    if (from->lo && sp < from->lo)
        sp = from->lo;
    from->sp = sp;
    from->saved = 1;
    if (_setjmp(from->jb) != 0)
        return; /* switched back to */
    if (to->saved)
        _longjmp(to->jb, 1);
    to->saved = 1; /* a new context: entered once through its ucontext */
    setcontext(&to->uc);
    abort();
}
