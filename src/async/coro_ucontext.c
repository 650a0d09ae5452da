/*
 * The portable context switch (fallback): POSIX ucontext, makecontext and swapcontext. The
 * contract is in coro_switch.h. Much slower than the assembly backends (swapcontext saves
 * and restores the signal mask with a system call on every switch) and each context carries
 * a ucontext_t of about a kilobyte, but it works on any CPU glibc supports. CMake builds it
 * when CF_CORO_BACKEND=ucontext or when the CPU has no coro_<arch>.S.
 *
 * makecontext passes only int arguments, so the context pointer is split into two halves.
 * Copy-stack mode needs the lowest stack byte a suspended context uses: cf__ctx_sp reads the
 * stack pointer swapcontext saved on x86-64 and AArch64; on other CPUs `sp` is estimated
 * from cf__ctx_switch's frame address minus a margin larger than its frame (a little more
 * is saved than needed; valgrind may then flag reads below the stack pointer).
 */
#include <stdint.h>
#include <stdlib.h>

#include "async/coro_switch.h"

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
    swapcontext(&from->uc, &to->uc);
}
