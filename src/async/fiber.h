/*
 * Fibers: the stackful coroutines under async/await (private to the library).
 *
 * A fiber runs a function on a stack of its own and can suspend itself anywhere in that
 * function's call tree (cf__fiber_yield), to be continued later (cf__fiber_resume). The
 * promise layer builds tasks and `cf_await` on these five verbs; nothing here knows about
 * loops or promises.
 *
 * Semantics:
 * - Everything is per thread. The current fiber, the stack pool and the shared run stacks
 *   are thread-local, so several loops on several threads work side by side. A fiber is
 *   created, resumed, yielded and freed on one thread.
 * - Resume and yield nest like calls. `cf__fiber_resume(f)` switches from the current
 *   context (the thread's own stack, or another fiber) into `f`, and returns when `f` yields
 *   or its function returns. `cf__fiber_yield()` switches back to whoever resumed the
 *   current fiber. A fiber may resume another fiber (an async function starting another
 *   one): the chain main → A → B unwinds as B yields to A and A yields to main.
 * - When the fiber's function returns, the fiber is done: control goes back to its resumer,
 *   as from a yield, and its stack goes back to the pool at once. A done fiber cannot be
 *   resumed again; only cf__fiber_free remains.
 * - Stacks: dedicated stacks are carved from large per-thread regions (no memory mapping of
 *   their own), each with a guard page below it, and pooled per thread (free lists per size,
 *   the part that keeps its pages bounded). Default size 64 KiB, or the CF_STACK_SIZE
 *   environment variable (bytes, or with a K/M suffix; read once per process; at least
 *   16 KiB), or `opts->stack_size`. Running into a guard page (in either mode) prints
 *   `calcifer: task stack overflow (stack size N bytes); raise it with CF_STACK_SIZE or
 *   cf_async options` and kills the process with SIGSEGV.
 * - Copy-stack mode (`opts->shared_stack`): the fiber runs on one of a few run stacks shared
 *   by the thread's fibers; when another fiber needs that run stack, the used part of the
 *   suspended one's stack is copied out to a heap buffer of the right size, and copied back
 *   when it is resumed (a small image is kept in the fiber's own block). A suspended fiber
 *   then costs a few hundred bytes instead of at least a page. The price: while it is
 *   suspended, pointers into its stack are invalid, so such a fiber must not hand out
 *   pointers to its locals to other fibers or callbacks that run while it waits (pass heap
 *   memory instead; cf__ptr_on_movable_stack below lets the library check); and an
 *   allocation failure while saving a large image is fatal (prints and aborts), since a
 *   switch cannot fail.
 * - Switches save the callee-saved registers only: the fibers of a thread share its
 *   floating-point environment and signal mask.
 * - Under AddressSanitizer every switch is annotated (__sanitizer_start/finish_switch_fiber),
 *   under ThreadSanitizer every fiber is a TSan fiber, and every stack is registered with
 *   valgrind.
 */
#ifndef CF_ASYNC_FIBER_H
#define CF_ASYNC_FIBER_H

#include <stddef.h>
#include <stdint.h>

#include "async/fiber_switch.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CF__FIBER_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define CF__FIBER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CF__FIBER_ASAN)
#define CF__FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(CF__FIBER_TSAN)
#define CF__FIBER_TSAN 1
#endif

typedef struct cf__fiber cf__fiber;
struct cf__stack;

/* The fiber's body. `arg` is the pointer given to cf__fiber_new (borrowed). */
typedef void (*cf__fiber_fn)(void *arg);

/* The body of a fiber. Visible so that an owner can embed it (cf__fiber_init); only fiber.c
 * reads or writes its fields. */
struct cf__fiber {
    cf__ctx ctx;             /* the saved context while not running */
    cf__fiber *resumer;      /* where yield and return go */
    struct cf__stack *stack; /* dedicated (held until done) or the shared run stack */
    cf__fiber_fn fn;
    void *arg;
    char *save;          /* copy mode: the stack image while copied out (inline or heap) */
    uint32_t save_len;   /* bytes of the image */
    uint32_t save_cap;   /* bytes of `save` (0 while it is the inline room or NULL) */
    uint32_t stack_size; /* usable stack bytes (at most 1 GiB) */
    unsigned char state;
    unsigned char copy; /* copy-stack mode */
    unsigned char made; /* copy mode: the first frame has been written (ctx is valid) */
#if !defined(NDEBUG) || defined(CF_TESTING)
    const void *thread; /* the owning thread's state, to catch cross-thread use */
#endif
#if defined(CF__FIBER_ASAN)
    void *asan_fake;
    const void *asan_bottom;
    size_t asan_size;
#endif
#if defined(CF__FIBER_TSAN)
    void *tsan;
#endif
};

/*
 * Copy mode keeps a suspended fiber's image in the bytes right after the struct, in the same
 * block, when it fits: a task suspended in a sleep saves about 200 bytes of frames, and one
 * block instead of two saves an allocation and its overhead per suspended task. Larger images
 * go to a heap buffer of the right size.
 */
#define CF__FIBER_IMAGE_INLINE 208

/* Bytes of the block of a fiber: the struct, and in copy mode the inline image room. */
#define CF__FIBER_BLOCK(copy) (sizeof(cf__fiber) + ((copy) ? (size_t)CF__FIBER_IMAGE_INLINE : 0))

/* Creation options; a NULL `opts` or a zeroed struct means the defaults. */
typedef struct cf__fiber_opts {
    size_t stack_size; /* usable bytes, rounded up to pages; 0: cf__fiber_default_stack_size() */
    int shared_stack;  /* non-zero: copy-stack mode (see above) */
} cf__fiber_opts;

/* Counters of the calling thread's fibers, for tests and benchmarks. */
typedef struct cf__fiber_stats {
    uint64_t stacks_mapped;   /* stacks made by this thread so far (pool misses) */
    uint64_t stacks_unmapped; /* stacks whose pages this thread gave back so far */
    size_t stacks_pooled;     /* stacks waiting in this thread's pool with their pages now */
    size_t regions;           /* regions (mappings of many dedicated stacks) mapped now */
    size_t saved_bytes;       /* copy mode: bytes of stack images held in heap buffers now */
    uint64_t stack_copies;    /* copy mode: stack images copied out or in so far */
    uint64_t helper_trips;    /* copy mode: switches between two fibers of one run stack */
} cf__fiber_stats;

/*
 * Create a fiber that will run `fn(arg)` when first resumed; it does not start yet.
 * Returns 0 and sets `*out`, or CF_ENOMEM (no memory, or no region or run stack could be
 * mapped; on kernels without MADV_GUARD_INSTALL, before Linux 6.13, each dedicated stack's
 * guard page splits its region, so vm.max_map_count bounds live dedicated stacks to about
 * 32,000 there), or CF_EINVAL (NULL out or fn). Ownership: the caller owns the fiber (free it with
 * cf__fiber_free); `arg` is borrowed until the fiber is done or freed; `opts` is copied.
 * Thread: any, but the fiber then belongs to this thread.
 */
int cf__fiber_new(cf__fiber **out, cf__fiber_fn fn, void *arg, const cf__fiber_opts *opts);

/*
 * cf__fiber_new in memory the caller provides: `f` points to zeroed memory of
 * CF__FIBER_BLOCK(opts->shared_stack != 0) bytes, the struct first (an owner embeds the fiber
 * as its last member and allocates that much room after it). Returns 0 or CF_ENOMEM (no stack;
 * `f` holds nothing then). Ownership: the caller owns the memory and ends the fiber with
 * cf__fiber_fini before freeing it; `arg` and `opts` as for cf__fiber_new. Thread: as there.
 */
int cf__fiber_init(cf__fiber *f, cf__fiber_fn fn, void *arg, const cf__fiber_opts *opts);

/*
 * Switch into `f` (new or suspended) from the current context, the thread's own stack or
 * another fiber; returns when `f` yields or its function returns (check cf__fiber_done).
 * Resuming a running or done fiber, or a fiber of another thread, is a caller bug
 * (CF_ASSERT). Thread: the fiber's thread.
 */
void cf__fiber_resume(cf__fiber *f);

/*
 * From inside a fiber: suspend it and switch back to whoever resumed it. Returns when the
 * fiber is resumed again. Called on a thread's own stack (no current fiber) it is a caller
 * bug: CF_ASSERT, and a no-op in release builds. Thread: the fiber's thread.
 */
void cf__fiber_yield(void);

/*
 * From inside a fiber: suspend it and switch straight to `to` (new or suspended), which takes
 * over the current fiber's resumer: when `to` yields or returns, control goes where the
 * current fiber's yield would have gone. One switch instead of two (yield, then resume) for a
 * scheduler that knows which fiber runs next. Returns when the fiber is resumed again.
 * Transferring to a running or done fiber is a caller bug (CF_ASSERT). Thread: the fibers'.
 */
void cf__fiber_transfer(cf__fiber *to);

/* The fiber running now, or NULL on the thread's own stack. Thread: any (thread-local). */
cf__fiber *cf__fiber_current(void);

/* The `arg` given to cf__fiber_new (borrowed). Thread: any. */
void *cf__fiber_arg(const cf__fiber *f);

/* Non-zero once the fiber's function has returned. Thread: the fiber's thread. */
int cf__fiber_done(const cf__fiber *f);

/* The fiber's usable stack size in bytes. Thread: any. */
size_t cf__fiber_stack_size(const cf__fiber *f);

/*
 * Free a fiber that is done, new (never resumed) or suspended; NULL is a no-op. A done
 * fiber already gave its stack back. A suspended fiber's stack is discarded without running
 * the rest of its function, so whatever its frames still hold leaks: the owner should make
 * it finish first (the promise layer resumes it with a cancellation error). Freeing a
 * running fiber (the current one, or one waiting in cf__fiber_resume) is a caller bug
 * (CF_ASSERT). Ownership: takes `f`. Thread: the fiber's thread.
 */
void cf__fiber_free(cf__fiber *f);

/*
 * cf__fiber_free for a fiber made by cf__fiber_init: gives back its stack and image (same
 * rules) and leaves the memory to the caller, who may free it then. Thread: the fiber's.
 */
void cf__fiber_fini(cf__fiber *f);

/*
 * Unmap the calling thread's pooled stacks and unused shared run stacks (tests call it
 * before counting mappings; the pool is also released when the thread exits).
 * Thread: any; acts on the calling thread's pool.
 */
void cf__fiber_pool_trim(void);

/* The default usable stack size: CF_STACK_SIZE when set and valid, else 64 KiB. Thread: any. */
size_t cf__fiber_default_stack_size(void);

/*
 * Non-zero when `p` points into one of the calling thread's shared run stacks: memory of a
 * copy-stack fiber's frames, which is copied out and overwritten by other fibers while that
 * fiber is suspended. Library calls that keep a caller's buffer past their return (and so,
 * possibly, across a suspension of the calling task) refuse such a pointer with CF_EINVAL
 * and CF__MOVABLE_STACK_RULE as the error's message. NULL: 0. Thread: any (its own stacks).
 */
int cf__ptr_on_movable_stack(const void *p);

#define CF__MOVABLE_STACK_RULE                                                                     \
    "the buffer is on the stack of a copy-stack task, which moves while the task waits: "          \
    "pass heap memory, or start the task with a dedicated stack (CF_STACK_DEDICATED)"

/* Fill `out` with the calling thread's counters. Thread: any. */
void cf__fiber_stats_get(cf__fiber_stats *out);

/*
 * The thread-local state of fibers: initial-exec (no __tls_get_addr call per switch), except
 * with the ucontext backend, whose contexts are too large for the static TLS space a copy of
 * the library loaded with dlopen (a Node addon) may get.
 */
#if defined(CF_SWITCH_BACKEND_ucontext)
#define CF__FIBER_TLS
#else
#define CF__FIBER_TLS __attribute__((tls_model("initial-exec")))
#endif

#endif
