/*
 * Context switch for x86-64, System V ABI (Linux). The contract is in coro_switch.h.
 *
 * A suspended context is its stack pointer; below the return address the stack holds the
 * callee-saved registers and the floating-point control words, which the ABI also makes
 * callee-saved (MXCSR control bits and the x87 control word):
 *
 *     sp+0  MXCSR (4 bytes), x87 control word (2 bytes), padding
 *     sp+8  r15, r14, r13, r12, rbx, rbp
 *     sp+56 return address
 *
 * cf__ctx_make writes such a frame whose return address is cf__ctx_start, with the entry
 * function in r13 and its argument in r12, so the first switch "returns" into the
 * trampoline, which calls entry(arg) on a 16-byte aligned stack.
 */

#if defined(__CET__)
#define CF_ENDBR endbr64
#else
#define CF_ENDBR
#endif

    .text

/* void cf__ctx_switch(cf__ctx *from, cf__ctx *to) */
    .globl  cf__ctx_switch
    .hidden cf__ctx_switch
    .type   cf__ctx_switch, @function
    .p2align 4
cf__ctx_switch:
    .cfi_startproc
    CF_ENDBR
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   cf__ctx_switch, .-cf__ctx_switch

/* The first code a new context runs: entry(arg), which never returns. */
    .type   cf__ctx_start, @function
    .p2align 4
cf__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    CF_ENDBR
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   cf__ctx_start, .-cf__ctx_start

/* void cf__ctx_make(cf__ctx *ctx, void *lo, size_t size, cf__ctx_entry entry, void *arg) */
    .globl  cf__ctx_make
    .hidden cf__ctx_make
    .type   cf__ctx_make, @function
    .p2align 4
cf__ctx_make:
    .cfi_startproc
    CF_ENDBR
    leaq    (%rsi,%rdx), %rax           /* top of the stack, aligned down to 16 */
    andq    $-16, %rax
    movq    $0, -8(%rax)                /* a null return address ends backtraces */
    movq    $0, -16(%rax)
    leaq    cf__ctx_start(%rip), %r9
    movq    %r9, -24(%rax)              /* return address: after it, rsp % 16 == 0 */
    movq    $0, -32(%rax)               /* rbp */
    movq    $0, -40(%rax)               /* rbx */
    movq    %r8, -48(%rax)              /* r12: arg */
    movq    %rcx, -56(%rax)             /* r13: entry */
    movq    $0, -64(%rax)               /* r14 */
    movq    $0, -72(%rax)               /* r15 */
    movl    $0x1f80, -80(%rax)          /* MXCSR: all exceptions masked, round to nearest */
    movl    $0x037f, -76(%rax)          /* x87 control word: the ABI's initial value */
    subq    $80, %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   cf__ctx_make, .-cf__ctx_make

    .section .note.GNU-stack,"",@progbits
