/*
 * Fibers: stackful coroutines over the per-architecture context switch (fiber_switch.h).
 * The semantics are documented in fiber.h; this comment is about how they are kept.
 *
 * Per thread, `ts` holds a pseudo-fiber for the thread's own stack (`main`), the fiber
 * running now (`current`), and the helper context of copy-stack mode. Fibers form a chain
 * like calls: each resumed fiber remembers its `resumer`, and yield or return switches
 * back to it. Every switch goes through switch_to(), which does the copy-stack work, and
 * raw_switch(), which wraps cf__ctx_switch in the sanitizer annotations.
 *
 * Copy-stack mode. A shared run stack has one `owner`: the fiber whose frames are on it.
 * Saving is lazy: a fiber that yields keeps its frames in place, and they are copied out
 * (from its saved stack pointer to the top) only when another fiber bound to the same run
 * stack is switched in; switching back copies them in again, at the same addresses, so the
 * pointers inside the frames stay right. The copying must not run on the run stack being
 * overwritten. When the current fiber is itself on the target's run stack (a fiber resuming
 * or yielding to another fiber of the same run stack), it switches first to a small helper
 * context with a stack of its own, which does the copies and then switches to the target.
 *
 * Sanitizers. ASan: each switch is bracketed by __sanitizer_start_switch_fiber (with the
 * target's stack bounds; NULL for a fiber that is finishing, which frees its fake stack)
 * and __sanitizer_finish_switch_fiber once running on the new stack, which also reports
 * the bounds of the stack just left: that is how the thread's own stack bounds are learnt.
 * A stack's shadow is unpoisoned whenever it gets new frames (a new fiber, a copied-in
 * image). TSan: each fiber is a TSan fiber, and every switch says so. Valgrind: stacks are
 * registered in fiber_stack.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "async/fiber_switch.h"
#include "async/fiber.h"
#include "async/fiber_stack.h"
#include "calcifer/error.h"
#include "util/alloc.h"
#include "util/sys.h"
#include "util/util.h"

#if defined(CF__FIBER_ASAN)
#define CF_ASAN 1
#endif
#if defined(CF__FIBER_TSAN)
#define CF_TSAN 1
#endif

#if defined(CF_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CF_HAVE_VALGRIND 1
#endif
#endif
#if defined(CF_TSAN)
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#if defined(CF_ASAN) || defined(CF_TSAN)
#define HELPER_STACK_SIZE (64 * 1024)
#else
#define HELPER_STACK_SIZE (16 * 1024)
#endif

enum fiber_state { F_NEW, F_RUNNING, F_SUSPENDED, F_DONE };

/* Copy mode: CF__FIBER_IMAGE_INLINE bytes right after the struct, in the same block (fiber.h). */
#define IMAGE_OF(f) ((char *)((f) + 1))

typedef struct fiber_thread {
    cf__fiber main;        /* the thread's own stack */
    cf__fiber *current;    /* the running fiber; &main on the thread's own stack */
    cf__fiber *prev;       /* the fiber the last switch came from (ASan bookkeeping) */
    cf__fiber helper;      /* copy-stack helper context */
    cf__fiber *helper_to;  /* the helper's next target */
    int ready;             /* set up: key, overflow handler, alternate stack */
    uint64_t stack_copies; /* copy-mode statistics */
    uint64_t helper_trips;
    size_t saved_bytes;
} fiber_thread;

/*
 * Initial-exec: the library is position-independent, and the general-dynamic model would
 * cost a __tls_get_addr call on every switch; this costs some static TLS space (a few hundred
 * bytes, well within what glibc keeps for libraries loaded at startup or by dlopen).
 */
static _Thread_local fiber_thread ts CF__FIBER_TLS;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;

static void fiber_entry(void *arg);
static void helper_entry(void *arg);

/* ---- sanitizer annotations ---- */

static void san_unpoison(const cf__stack *s)
{
#if defined(CF_ASAN)
    __asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
#else
    (void)s;
#endif
}

/*
 * Memcheck marks stack bytes below the stack pointer inaccessible as frames return; bytes
 * about to receive a copied-in image or a first frame are made addressable again.
 */
static void vg_writable(void *p, size_t len)
{
#if defined(CF_HAVE_VALGRIND)
    VALGRIND_MAKE_MEM_UNDEFINED(p, len);
#else
    (void)p;
    (void)len;
#endif
}

/* Record a fiber's stack bounds for ASan (the thread's own stack learns them on leaving). */
static void san_bounds(cf__fiber *f)
{
#if defined(CF_ASAN)
    f->asan_bottom = f->stack->lo;
    f->asan_size = (size_t)(f->stack->hi - f->stack->lo);
#else
    (void)f;
#endif
}

#if defined(CF_ASAN) || defined(CF_TSAN)
static void san_start(cf__fiber *from, cf__fiber *to, int from_done)
{
#if defined(CF_ASAN)
    __sanitizer_start_switch_fiber(from_done ? NULL : &from->asan_fake, to->asan_bottom,
                                   to->asan_size);
#else
    (void)from;
    (void)from_done;
#endif
#if defined(CF_TSAN)
    __tsan_switch_to_fiber(to->tsan, 0);
#else
    (void)to;
#endif
}
#endif

/* Now running as `self`, arrived from ts.prev. */
static void san_finish(cf__fiber *self)
{
#if defined(CF_ASAN)
    cf__fiber *prev = ts.prev;
    __sanitizer_finish_switch_fiber(self->asan_fake, &prev->asan_bottom, &prev->asan_size);
#else
    (void)self;
#endif
}

static void san_fiber_new(cf__fiber *f)
{
#if defined(CF_TSAN)
    f->tsan = __tsan_create_fiber(0);
#else
    (void)f;
#endif
}

static void san_fiber_free(cf__fiber *f)
{
#if defined(CF_TSAN)
    if (f->tsan)
        __tsan_destroy_fiber(f->tsan);
    f->tsan = NULL;
#else
    (void)f;
#endif
}

/* ---- per-thread state ---- */

static void thread_exit(void *unused)
{
    (void)unused;
    if (ts.helper.stack) {
        san_fiber_free(&ts.helper);
        cf__stack_release(ts.helper.stack);
        ts.helper.stack = NULL;
    }
    cf__stack_trim();
    cf__guard_thread_exit();
}

static void make_key(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        exit_key = 0;
}

static inline cf__fiber *current(void)
{
    if (CF_UNLIKELY(!ts.current)) {
        ts.current = &ts.main;
        ts.main.state = F_RUNNING;
#if !defined(NDEBUG) || defined(CF_TESTING)
        ts.main.thread = &ts;
#endif
#if defined(CF_TSAN)
        ts.main.tsan = __tsan_get_current_fiber();
#endif
    }
    return ts.current;
}

/* First fiber of the thread: the exit hook, the overflow handler and an alternate stack. */
static int thread_setup(void)
{
    if (CF_LIKELY(ts.ready))
        return 0;
    current();
    pthread_once(&key_once, make_key);
    int rc = cf__guard_thread_init();
    if (rc != 0)
        return rc;
    pthread_setspecific(exit_key, &ts);
    ts.ready = 1;
    return 0;
}

/* The copy-stack helper: a context with a small stack of its own, made on first need. */
static int helper_setup(void)
{
    if (ts.helper.stack)
        return 0;
    cf__stack *s = cf__stack_acquire(HELPER_STACK_SIZE);
    if (!s)
        return CF_ENOMEM;
    ts.helper.stack = s;
    ts.helper.stack_size = (uint32_t)s->size;
    ts.helper.state = F_RUNNING;
#if !defined(NDEBUG) || defined(CF_TESTING)
    ts.helper.thread = &ts;
#endif
    san_bounds(&ts.helper);
    san_fiber_new(&ts.helper);
    cf__ctx_make(&ts.helper.ctx, s->lo, (size_t)(s->hi - s->lo), helper_entry, NULL);
    return 0;
}

const cf__stack *cf__fiber_running_stack(void)
{
    return ts.current ? ts.current->stack : NULL;
}

/* ---- copy-stack images ---- */

static void fatal_oom(void)
{
    static const char msg[] = "calcifer: out of memory saving a coroutine stack\n";
    (void)cf__sys_write(2, msg, sizeof msg - 1);
    abort();
}

/* Copy the frames of `f` (the run stack's owner, not running) out to its heap buffer. */
static void image_save(cf__fiber *f)
{
    char *sp = cf__ctx_sp(&f->ctx);
    size_t len = (size_t)(f->stack->hi - sp);
    if (len <= CF__FIBER_IMAGE_INLINE) {
        if (f->save_cap) {
            cf__free(f->save);
            ts.saved_bytes -= f->save_cap;
            f->save_cap = 0;
        }
        f->save = IMAGE_OF(f);
    } else if (len > f->save_cap || f->save_cap > 2 * len + 256) {
        char *buf = cf__realloc(f->save_cap ? f->save : NULL, len);
        if (!buf)
            fatal_oom();
        ts.saved_bytes = ts.saved_bytes - f->save_cap + len;
        f->save = buf;
        f->save_cap = (uint32_t)len;
    }
    memcpy(f->save, sp, len);
    f->save_len = (uint32_t)len;
    ts.stack_copies++;
}

static void image_restore(cf__fiber *f)
{
    /* Also the bytes just below: glibc's swapcontext pushes the resume address there. */
    size_t slack = CF_MIN((size_t)128, (size_t)(f->stack->hi - f->stack->lo) - f->save_len);
    vg_writable(f->stack->hi - f->save_len - slack, f->save_len + slack);
    memcpy(f->stack->hi - f->save_len, f->save, f->save_len);
    ts.stack_copies++;
}

/* Make `to` the owner of its run stack: save the owner's frames, put `to`'s in place. */
static void swap_in(cf__fiber *to)
{
    cf__stack *s = to->stack;
    cf__fiber *owner = s->owner;
    san_unpoison(s);
    if (owner && owner->state != F_DONE)
        image_save(owner);
    if (!to->made) {
        vg_writable(s->lo, (size_t)(s->hi - s->lo));
        cf__ctx_make(&to->ctx, s->lo, (size_t)(s->hi - s->lo), fiber_entry, to);
        to->made = 1;
    } else {
        image_restore(to);
    }
    s->owner = to;
}

/* ---- switching ---- */

/*
 * The switch itself. Without sanitizers nothing runs after cf__ctx_switch, so callers end
 * with it as a tail call: the fiber switched back to then continues straight in its caller
 * (task code), and no `ret` lands in another stack's call chain, which the CPU's return
 * predictor would miss every time (two misses per round trip cost more than the switch).
 */
static inline void raw_switch(cf__fiber *from, cf__fiber *to, int from_done)
{
    ts.current = to;
#if defined(CF_ASAN) || defined(CF_TSAN)
    ts.prev = from;
    san_start(from, to, from_done);
    cf__ctx_switch(&from->ctx, &to->ctx);
    san_finish(from);
#else
    (void)from_done;
    cf__ctx_switch(&from->ctx, &to->ctx);
#endif
}

/*
 * The copy-stack work before switching to `to` from a flow running on `on` (a stack that
 * may already be given back); returns the context to switch to.
 */
static cf__fiber *prepare_copy(const cf__stack *on, cf__fiber *to)
{
    if (on == to->stack) {
        ts.helper_to = to;
        ts.helper_trips++;
        return &ts.helper;
    }
    swap_in(to);
    return to;
}

static inline void switch_to(cf__fiber *from, cf__fiber *to, int from_done)
{
    if (CF_UNLIKELY(to->copy && to->stack->owner != to))
        to = prepare_copy(from->stack, to);
    raw_switch(from, to, from_done);
}

static void helper_entry(void *arg)
{
    (void)arg;
    san_finish(&ts.helper);
    for (;;) {
        cf__fiber *to = ts.helper_to;
        swap_in(to);
        raw_switch(&ts.helper, to, 0);
    }
}

/* A finished fiber gives its stack back. */
static void fiber_release_stack(cf__fiber *f)
{
    if (!f->stack)
        return;
    if (f->copy) {
        if (f->stack->owner == f)
            f->stack->owner = NULL;
        cf__stack_unshare(f->stack);
        ts.saved_bytes -= f->save_cap;
        if (f->save_cap)
            cf__free(f->save);
        f->save = NULL;
        f->save_len = 0;
        f->save_cap = 0;
    } else {
        cf__stack_release(f->stack);
    }
    f->stack = NULL;
}

/*
 * The fiber's function has returned. Its stack goes back now, while the fiber still runs on
 * it: nothing else runs on this thread before the switch below leaves it for good, so no
 * other fiber can take it meanwhile, and the resumer has nothing left to do after the switch.
 */
static __attribute__((noinline, noreturn)) void fiber_exit(cf__fiber *f)
{
    f->state = F_DONE;
    const cf__stack *on = f->stack;
    fiber_release_stack(f);
    cf__fiber *to = f->resumer;
    if (to->copy && to->stack->owner != to)
        to = prepare_copy(on, to);
    raw_switch(f, to, 1);
    abort(); /* a done fiber is never switched to */
}

/*
 * The bottom frame of every fiber, kept to one saved register: a copy-stack fiber's image
 * holds it for as long as the fiber is suspended (the end's work is in fiber_exit).
 */
static void fiber_entry(void *arg)
{
    cf__fiber *f = arg;
    san_finish(f);
    f->fn(f->arg);
    fiber_exit(f);
}

/* ---- the private API ---- */

static int fiber_attach_stack(cf__fiber *f, size_t size)
{
    if (f->copy) {
        if (helper_setup() != 0)
            return CF_ENOMEM;
        f->stack = cf__stack_share(size);
        return f->stack ? 0 : CF_ENOMEM;
    }
    f->stack = cf__stack_acquire(size);
    if (!f->stack)
        return CF_ENOMEM;
    san_unpoison(f->stack);
    cf__ctx_make(&f->ctx, f->stack->lo, (size_t)(f->stack->hi - f->stack->lo), fiber_entry, f);
    return 0;
}

int cf__fiber_init(cf__fiber *f, cf__fiber_fn fn, void *arg, const cf__fiber_opts *opts)
{
    int rc = thread_setup();
    if (rc != 0)
        return rc;
    size_t want = opts && opts->stack_size ? opts->stack_size : cf__fiber_default_stack_size();
    f->fn = fn;
    f->arg = arg;
    f->copy = opts && opts->shared_stack ? 1 : 0;
    f->state = F_NEW;
#if !defined(NDEBUG) || defined(CF_TESTING)
    f->thread = &ts;
#endif
    f->stack_size = (uint32_t)cf__stack_round(want);
    rc = fiber_attach_stack(f, f->stack_size);
    if (rc != 0)
        return rc;
    san_bounds(f);
    san_fiber_new(f);
    return 0;
}

int cf__fiber_new(cf__fiber **out, cf__fiber_fn fn, void *arg, const cf__fiber_opts *opts)
{
    if (!out || !fn)
        return CF_EINVAL;
    *out = NULL;
    cf__fiber *f = cf__calloc(1, CF__FIBER_BLOCK(opts && opts->shared_stack));
    if (!f)
        return CF_ENOMEM;
    int rc = cf__fiber_init(f, fn, arg, opts);
    if (rc != 0) {
        cf__free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void cf__fiber_resume(cf__fiber *f)
{
    CF_ASSERT(f && f->thread == &ts);
    CF_ASSERT(f->state == F_NEW || f->state == F_SUSPENDED);
    cf__fiber *self = current();
    f->resumer = self;
    f->state = F_RUNNING;
    switch_to(self, f, 0); /* a tail call: see raw_switch */
}

void cf__fiber_yield(void)
{
    cf__fiber *self = ts.current;
    CF_ASSERT(self && self != &ts.main);
    if (!self || self == &ts.main)
        return;
    self->state = F_SUSPENDED;
    switch_to(self, self->resumer, 0); /* a tail call: see raw_switch */
}

void cf__fiber_transfer(cf__fiber *to)
{
    cf__fiber *self = ts.current;
    CF_ASSERT(self && self != &ts.main && to && to != self && to->thread == &ts);
    CF_ASSERT(to->state == F_NEW || to->state == F_SUSPENDED);
    to->resumer = self->resumer;
    to->state = F_RUNNING;
    self->state = F_SUSPENDED;
    switch_to(self, to, 0); /* a tail call: see raw_switch */
}

cf__fiber *cf__fiber_current(void)
{
    cf__fiber *f = ts.current;
    return f == &ts.main ? NULL : f;
}

void *cf__fiber_arg(const cf__fiber *f)
{
    return f->arg;
}

int cf__fiber_done(const cf__fiber *f)
{
    return f->state == F_DONE;
}

size_t cf__fiber_stack_size(const cf__fiber *f)
{
    return f->stack_size;
}

void cf__fiber_fini(cf__fiber *f)
{
    CF_ASSERT(f->thread == &ts);
    CF_ASSERT(f->state != F_RUNNING);
    fiber_release_stack(f);
    san_fiber_free(f);
}

void cf__fiber_free(cf__fiber *f)
{
    if (!f)
        return;
    cf__fiber_fini(f);
    cf__free(f);
}

void cf__fiber_pool_trim(void)
{
    cf__stack_trim();
}

int cf__ptr_on_movable_stack(const void *p)
{
    return p && cf__stack_in_shared(p);
}

void cf__fiber_stats_get(cf__fiber_stats *out)
{
    memset(out, 0, sizeof *out);
    cf__stack_stats(out);
    out->saved_bytes = ts.saved_bytes;
    out->stack_copies = ts.stack_copies;
    out->helper_trips = ts.helper_trips;
}
