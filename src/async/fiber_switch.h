/*
 * The context switch contract: one implementation per CPU architecture (fiber_switch_x86_64.S,
 * fiber_switch_aarch64.S) and the ucontext fallback (fiber_ucontext.c); CMake compiles the one
 * chosen by CF_SWITCH_BACKEND and defines CF_SWITCH_BACKEND_<name> for the library's C files.
 * fiber.c is the only user (model: musl's per-arch files under one contract).
 *
 * A context is the saved state of a suspended flow of control. The assembly backends push
 * the callee-saved registers on the suspended stack and keep only the stack pointer in the
 * struct; the ucontext backend keeps a jmp_buf (and the ucontext_t of its first entry). No
 * backend touches the signal mask on a switch.
 * In both, `sp` is at or below the lowest stack byte the suspended flow still needs, which
 * is what copy-stack mode saves.
 */
#ifndef CF_ASYNC_FIBER_SWITCH_H
#define CF_ASYNC_FIBER_SWITCH_H

#include <stddef.h>

#if defined(CF_SWITCH_BACKEND_ucontext)
#include <setjmp.h>
#include <ucontext.h>
#endif

typedef void (*cf__ctx_entry)(void *arg);

typedef struct cf__ctx {
    void *sp; /* the saved stack pointer (first field: the assembly stores it at offset 0) */
#if defined(CF_SWITCH_BACKEND_ucontext)
    char *lo; /* the stack's low end, to bound `sp` */
    cf__ctx_entry entry;
    void *arg;
    int saved;     /* `jb` holds the flow (else: a new context, entered through `uc`) */
    jmp_buf jb;    /* the suspended flow */
    ucontext_t uc; /* the first entry of a new context */
#endif
} cf__ctx;

/*
 * Prepare `ctx` so that the first cf__ctx_switch into it calls `entry(arg)` on the stack
 * [lo, lo + size). `entry` must never return (it switches away for the last time instead).
 * Writes the first frame onto the stack. Thread: any.
 */
void cf__ctx_make(cf__ctx *ctx, void *lo, size_t size, cf__ctx_entry entry, void *arg);

/*
 * The lowest stack address a suspended context still needs (the ucontext backend: a
 * conservative estimate, a little below it).
 */
static inline void *cf__ctx_sp(const cf__ctx *ctx)
{
    return ctx->sp;
}

/*
 * Save the current flow into `from` and continue the one saved in `to`; returns when
 * something switches back to `from`. Thread: the calling thread.
 */
void cf__ctx_switch(cf__ctx *from, cf__ctx *to);

#endif
