/*
 * Context switch for x86-64, System V ABI (Linux). The contract is in fiber_switch.h.
 *
 * A suspended context is its stack pointer; below the resume address the stack holds the
 * six callee-saved general registers:
 *
 *     sp+0  r15, r14, r13, r12, rbx, rbp
 *     sp+48 resume address
 *
 * Nothing else is saved. The MXCSR control bits and the x87 control word are callee-saved
 * too, but all the fibers of a thread share the thread's floating-point environment, as the
 * callbacks of its loop do: saving and comparing them cost more than the rest of the switch
 * (6 ns of a 14 ns round trip here). A fiber that changes the rounding mode or the exception
 * masks restores them before it suspends.
 *
 * The switch ends with `pop; jmp *` rather than `ret`: a `ret` into another stack's call
 * chain always misses the CPU's return-address predictor (and leaves it off by one for the
 * next return), while the indirect jump is predicted from its own history.
 *
 * cf__ctx_make writes such a frame whose resume address is cf__ctx_start, with the entry
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
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    popq    %rcx
    jmpq    *%rcx
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
    movq    %r9, -24(%rax)              /* resume address: after it, rsp % 16 == 0 */
    movq    $0, -32(%rax)               /* rbp */
    movq    $0, -40(%rax)               /* rbx */
    movq    %r8, -48(%rax)              /* r12: arg */
    movq    %rcx, -56(%rax)             /* r13: entry */
    movq    $0, -64(%rax)               /* r14 */
    movq    $0, -72(%rax)               /* r15 */
    subq    $72, %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   cf__ctx_make, .-cf__ctx_make

    .section .note.GNU-stack,"",@progbits
