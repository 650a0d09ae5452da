/*
 * The context switch contract: one implementation per CPU architecture (coro_x86_64.S,
 * coro_aarch64.S) and the ucontext fallback (coro_ucontext.c); CMake compiles the one chosen
 * by CF_CORO_BACKEND and defines CF_CORO_BACKEND_<name> for the library's C files.
 * fiber.c is the only user (model: musl's per-arch files under one contract).
 *
 * A context is the saved state of a suspended flow of control. The assembly backends push
 * the callee-saved registers (and the floating-point control words) on the suspended stack
 * and keep only the stack pointer in the struct; the ucontext backend keeps a ucontext_t.
 * In both, `sp` is at or below the lowest stack byte the suspended flow still needs, which
 * is what copy-stack mode saves.
 */
#ifndef CF_ASYNC_CORO_SWITCH_H
#define CF_ASYNC_CORO_SWITCH_H

#include <stddef.h>

#if defined(CF_CORO_BACKEND_ucontext)
#include <ucontext.h>
#endif

typedef void (*cf__ctx_entry)(void *arg);

typedef struct cf__ctx {
    void *sp; /* the saved stack pointer (first field: the assembly stores it at offset 0) */
#if defined(CF_CORO_BACKEND_ucontext)
    char *lo; /* the stack's low end, to bound `sp` */
    cf__ctx_entry entry;
    void *arg;
    ucontext_t uc;
#endif
} cf__ctx;

/*
 * Prepare `ctx` so that the first cf__ctx_switch into it calls `entry(arg)` on the stack
 * [lo, lo + size). `entry` must never return (it switches away for the last time instead).
 * Writes the first frame onto the stack. Thread: any.
 */
void cf__ctx_make(cf__ctx *ctx, void *lo, size_t size, cf__ctx_entry entry, void *arg);

/*
 * The lowest stack address a suspended context still needs. The ucontext backend reads the
 * stack pointer swapcontext saved (x86-64, AArch64), or else a conservative estimate.
 */
static inline void *cf__ctx_sp(const cf__ctx *ctx)
{
#if defined(CF_CORO_BACKEND_ucontext) && defined(__x86_64__)
    return (void *)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(CF_CORO_BACKEND_ucontext) && defined(__aarch64__)
    return (void *)ctx->uc.uc_mcontext.sp;
#else
    return ctx->sp;
#endif
}

/*
 * Save the current flow into `from` and continue the one saved in `to`; returns when
 * something switches back to `from`. Thread: the calling thread.
 */
void cf__ctx_switch(cf__ctx *from, cf__ctx *to);

#endif
