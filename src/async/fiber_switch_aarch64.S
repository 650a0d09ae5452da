/*
 * Context switch for AArch64 (AAPCS64, Linux). The contract is in fiber_switch.h.
 *
 * A suspended context is its stack pointer; the 160-byte frame below it holds the
 * callee-saved registers:
 *
 *     sp+0   x19 x20  x21 x22  x23 x24  x25 x26  x27 x28  x29 x30 (lr)
 *     sp+96  d8 d9  d10 d11  d12 d13  d14 d15
 *
 * FPCR is not saved: all the fibers of a thread share its floating-point environment, as the
 * callbacks of its loop do (see fiber_switch_x86_64.S).
 *
 * cf__ctx_make writes such a frame with lr = cf__ctx_start, the entry function in x20 and
 * its argument in x19, so the first switch returns into the trampoline, which calls
 * entry(arg) on a 16-byte aligned stack.
 */

    .text

/* void cf__ctx_switch(cf__ctx *from, cf__ctx *to) */
    .globl  cf__ctx_switch
    .hidden cf__ctx_switch
    .type   cf__ctx_switch, %function
    .p2align 4
cf__ctx_switch:
    .cfi_startproc
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]
    ldr     x9, [x1]
    mov     sp, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    ret
    .cfi_endproc
    .size   cf__ctx_switch, .-cf__ctx_switch

/* The first code a new context runs: entry(arg), which never returns. */
    .type   cf__ctx_start, %function
    .p2align 4
cf__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size   cf__ctx_start, .-cf__ctx_start

/* void cf__ctx_make(cf__ctx *ctx, void *lo, size_t size, cf__ctx_entry entry, void *arg) */
    .globl  cf__ctx_make
    .hidden cf__ctx_make
    .type   cf__ctx_make, %function
    .p2align 4
cf__ctx_make:
    .cfi_startproc
    add     x9, x1, x2                  /* top of the stack, aligned down to 16 */
    and     x9, x9, #~15
    sub     x9, x9, #160
    mov     x10, #0
1:  str     xzr, [x9, x10]              /* zero the whole frame */
    add     x10, x10, #8
    cmp     x10, #160
    b.lo    1b
    str     x4, [x9, #0]                /* x19: arg */
    str     x3, [x9, #8]                /* x20: entry */
    adr     x10, cf__ctx_start
    str     x10, [x9, #88]              /* x30: where the first switch returns */
    str     x9, [x0]
    ret
    .cfi_endproc
    .size   cf__ctx_make, .-cf__ctx_make

    .section .note.GNU-stack,"",%progbits
