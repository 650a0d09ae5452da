/*
 * Remotes: messages into a loop from any thread (calcifer/remote.h).
 *
 * Each loop has at most one mailbox, made with its first remote. A mailbox is a lock-free
 * stack of posts (a Treiber stack: push is one compare-and-swap), an eventfd and two counts:
 * references (the loop's own and one per remote) and keep-alive references. The loop takes
 * the whole stack with one atomic exchange in its poll phase and reverses it, so posts run
 * in the order their compare-and-swaps took effect: per thread, the order of posting (model:
 * the pool's completion stack in pool.c; libuv's uv_async_send coalesces instead, and a
 * queue with a mutex costs a lock per message on both sides).
 *
 * Closing is a value of the stack head. cf_loop_close swaps the head for MAILBOX_CLOSED, so
 * a post either lands before the swap (and is run, with CF_ECANCELED) or sees the marker and
 * fails with CF_ECLOSED: no post is lost and none outlives the loop. The mailbox itself, with
 * its eventfd, lives until its last reference goes, so a remote held by another thread never
 * writes to a descriptor number that has been reused.
 *
 * Keep-alive references are counted apart; loop_alive reads the count (one relaxed load, only
 * for a loop that has a mailbox). Dropping the last one writes the eventfd, so a loop asleep
 * in epoll_wait with nothing else to wait for wakes up and ends.
 */
#include "calcifer/remote.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/loop.h"
#include "core/remote.h"
#include "core/watch.h"
#include "util/alloc.h"
#include "util/sys.h"

typedef cf__post post;

/* The look at the head before each system call of a spin (head_arrives). */
#define LOOK_NS    2000u
#define LOOK_MIN   200u /* a look shorter than this is not worth its clock reads */
#define LOOK_PROBE 16u

/* The head of a closed mailbox: an address no post can have. */
static post closed_marker;
#define MAILBOX_CLOSED (&closed_marker)

struct cf__mailbox {
    _Alignas(64) _Atomic(post *) head;  /* written by every poster: a cache line of its own */
    atomic_int spinning;                /* the loop busy-polls: posters need not wake it */
    _Alignas(64) atomic_long refs;      /* the loop's reference and one per remote */
    atomic_long keep;                   /* keep-alive references */
    int fd;                             /* eventfd; closed with the last reference */
    cf_loop *loop;                      /* NULL once the loop has closed */
    cf__io io;                          /* loop thread only */
    post *leftover;                     /* loop thread only: posts a failed run left */
    _Alignas(64) _Atomic(post *) spare; /* run posts for posters to reuse (see post_alloc) */
    atomic_uint nspare;                 /* about how many (the loop's nrecycled, for posters) */
    unsigned nrecycled;                 /* loop thread: pushed since the stack was found empty */
    uint64_t wait_start_us;             /* loop thread: a wait being measured; 0: none */
    uint32_t wait_avg_us;               /* loop thread: average wait until a post came */
    int spin_missed;                    /* loop thread: this wait's spin ended without a post */
    uint32_t look_ns;                   /* loop thread: the next look at the head (head_arrives) */
    uint32_t look_probe;                /* loop thread: spins with no look, to try one again */
};

struct cf_remote {
    cf__mailbox *mb;
    unsigned flags;
};

static void posts_free(post *p)
{
    while (p) {
        post *next = p->next;
        cf__free(p);
        p = next;
    }
}

static void mailbox_unref(cf__mailbox *mb)
{
    if (atomic_fetch_sub_explicit(&mb->refs, 1, memory_order_acq_rel) != 1)
        return;
    posts_free(atomic_load_explicit(&mb->spare, memory_order_acquire));
    close(mb->fd);
    cf__free(mb);
}

/*
 * Posts are reused rather than freed: a post made by one thread and freed by another costs
 * both sides the allocator's cross-thread paths (measured: 60% of a one-way stream of posts).
 * The loop pushes each run post on its mailbox's spare stack (at most SPARE_MAX of them); a
 * poster with no post of its own takes the whole stack at once once it holds SPARE_BATCH (an
 * exchange: no ABA, and any number of posters) into a cache of its thread, freed when the
 * thread exits.
 */
#define SPARE_MAX   256u
#define SPARE_BATCH 32u /* taken only this many at a time: one look at the loop's line per 32 */

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local post *cache;

static void cache_exit(void *unused)
{
    (void)unused;
    posts_free(cache);
    cache = NULL;
}

static void cache_key_make(void)
{
    (void)pthread_key_create(&cache_key, cache_exit);
}

static post *post_alloc(cf__mailbox *mb)
{
    post *p = cache;
    if (!p && atomic_load_explicit(&mb->nspare, memory_order_relaxed) >= SPARE_BATCH) {
        p = atomic_exchange_explicit(&mb->spare, NULL, memory_order_acquire);
        if (p && pthread_once(&cache_once, cache_key_make) == 0)
            (void)pthread_setspecific(cache_key,
                                      &cache); /* any non-NULL value: the exit hook runs */
    }
    if (!p)
        return cf__malloc(sizeof(*p));
    cache = p->next;
    return p;
}

/* Loop thread: a run post goes back for reuse, or is freed past SPARE_MAX. */
static void post_recycle(cf__mailbox *mb, post *p)
{
    /* The count is the loop's own (a store, no read-modify-write): an empty stack found by
     * the push means a poster took the rest, and the count starts again. */
    if (mb->nrecycled >= SPARE_MAX) {
        if (atomic_load_explicit(&mb->spare, memory_order_relaxed)) {
            cf__free(p);
            return;
        }
        mb->nrecycled = 0;
    }
    post *head = atomic_load_explicit(&mb->spare, memory_order_relaxed);
    do {
        p->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&mb->spare, &head, p, memory_order_release,
                                                    memory_order_relaxed));
    mb->nrecycled = head ? mb->nrecycled + 1 : 1;
    atomic_store_explicit(&mb->nspare, mb->nrecycled, memory_order_relaxed);
}

/* Take every post so far, oldest first. */
static post *take_posts(cf__mailbox *mb, post *replacement)
{
    post *stack = atomic_exchange_explicit(&mb->head, replacement, memory_order_acquire);
    post *list = NULL;
    while (stack && stack != MAILBOX_CLOSED) {
        post *next = stack->next;
        stack->next = list;
        list = stack;
        stack = next;
    }
    return list;
}

static void run_post(cf_loop *loop, post *p, int status)
{
    cf_remote_cb fn = p->fn;
    void *data = p->data;
    if (p->owned) /* an embedded post belongs to `data`, which fn may free */
        post_recycle(loop->mailbox, p);
    uint64_t t0 = CF__OBS_CB_BEGIN(loop);
    fn(loop, status, data);
    CF__OBS_CB_END(loop, t0, CF__OBS_IO, (const void *)fn, NULL);
    cf__after_callback(loop);
}

/* The posts a failed run left (oldest first), then those taken now. */
static post *take_all(cf__mailbox *mb, post *replacement)
{
    post *list = take_posts(mb, replacement);
    post *left = mb->leftover;
    if (!left)
        return list;
    mb->leftover = NULL;
    post *tail = left;
    while (tail->next) {
        tail = tail->next;
    }
    tail->next = list;
    return left;
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A wait ended with posts: fold its length into the average (weight 1/4, so that a few
 * quick exchanges turn the spin on and a few slow ones turn it off). A wait is never counted
 * as more than WAIT_CAP_US: one long idle time must not hide the next conversation for long.
 */
#define WAIT_CAP_US 10000u
static void wait_fold(cf__mailbox *mb, uint64_t took)
{
    if (took > WAIT_CAP_US)
        took = WAIT_CAP_US;
    mb->wait_avg_us = (uint32_t)((3u * (uint64_t)mb->wait_avg_us + took) / 4u);
}

static void wait_sample(cf__mailbox *mb)
{
    if (!mb->wait_start_us)
        return;
    uint64_t took = monotonic_us() - mb->wait_start_us;
    mb->wait_start_us = 0;
    mb->spin_missed = 0;
    wait_fold(mb, took);
}

unsigned cf__remote_wait_begin(cf_loop *loop)
{
    cf__mailbox *mb = loop->mailbox;
    unsigned ceiling = loop->post_spin_us;
    if (!ceiling)
        return 0;
    mb->wait_start_us = monotonic_us();
    if (mb->wait_avg_us >= ceiling)
        return 0;
    /* Twice the average covers most waits of a steady exchange; a few us at least. */
    unsigned spin = 2u * mb->wait_avg_us;
    if (spin < 5u)
        spin = 5u;
    return spin < ceiling ? spin : ceiling;
}

void cf__remote_spin_missed(cf_loop *loop)
{
    loop->mailbox->spin_missed = 1;
}

void cf__remote_wait_end(cf_loop *loop)
{
    cf__mailbox *mb = loop->mailbox;
    if (mb->wait_start_us && mb->spin_missed) {
        /*
         * The spin ended without a post, and so did the wait after it (I/O or a timer ended
         * it): the posts have stopped coming quickly. Count it as a wait of at least the
         * ceiling, so that the spin goes off instead of costing every idle moment from now on.
         */
        uint64_t took = monotonic_us() - mb->wait_start_us;
        wait_fold(mb, took > loop->post_spin_us ? took : loop->post_spin_us);
    }
    mb->wait_start_us = 0;
    mb->spin_missed = 0;
}

/* Run the posts so far, in order (poll phase). */
static void run_mailbox(cf_loop *loop)
{
    cf__mailbox *mb = loop->mailbox;
    wait_sample(mb);
    post *p = take_all(mb, NULL);
    while (p) {
        post *next = p->next;
        run_post(loop, p, 0);
        p = next;
        if (p && cf__loop_failed(loop)) {
            /* Keep the rest for the next poll phase, in order, and make sure there is one. */
            mb->leftover = p;
            cf__sys_wakeup(mb->fd);
            return;
        }
    }
}

/* Poll phase: the eventfd is readable. */
static void mailbox_cb(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)revents;
    cf__sys_wakeup_clear(io->fd);
    run_mailbox(loop);
}

static int mailbox_open(cf_loop *loop)
{
    if (loop->mailbox)
        return 0;
    cf__mailbox *mb = cf__calloc(1, sizeof(*mb));
    if (!mb)
        return CF_ENOMEM;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
        int rc = cf_translate_sys_error(errno);
        cf__free(mb);
        return rc;
    }
    atomic_init(&mb->head, NULL);
    atomic_init(&mb->refs, 1);
    atomic_init(&mb->keep, 0);
    atomic_init(&mb->spare, NULL);
    atomic_init(&mb->nspare, 0);
    mb->wait_avg_us = WAIT_CAP_US; /* no spin until posts are seen to come quickly */
    mb->look_ns = LOOK_NS;
    mb->fd = fd;
    mb->loop = loop;
    cf__io_init(&mb->io, fd, mailbox_cb);
    int rc = cf__io_start(loop, &mb->io, CF__IO_IN);
    if (rc < 0) {
        close(fd);
        cf__free(mb);
        return rc;
    }
    loop->mailbox = mb;
    return 0;
}

int cf_remote_new(cf_loop *loop, unsigned flags, cf_remote **out)
{
    if (out)
        *out = NULL;
    if (!loop || !out || (flags & ~(unsigned)CF_REMOTE_KEEP_ALIVE))
        return CF_EINVAL;
    CF_ASSERT(cf__loop_is_loop_thread(loop));
    int rc = mailbox_open(loop);
    if (rc < 0)
        return rc;
    cf_remote *r = cf__malloc(sizeof(*r));
    if (!r)
        return CF_ENOMEM;
    r->mb = loop->mailbox;
    r->flags = flags;
    atomic_fetch_add_explicit(&r->mb->refs, 1, memory_order_relaxed);
    if (flags & CF_REMOTE_KEEP_ALIVE)
        atomic_fetch_add_explicit(&r->mb->keep, 1, memory_order_relaxed);
    *out = r;
    return 0;
}

cf_remote *cf_remote_dup(cf_remote *r)
{
    if (!r)
        return NULL;
    cf_remote *d = cf__malloc(sizeof(*d));
    if (!d)
        return NULL;
    *d = *r;
    atomic_fetch_add_explicit(&r->mb->refs, 1, memory_order_relaxed);
    if (r->flags & CF_REMOTE_KEEP_ALIVE)
        atomic_fetch_add_explicit(&r->mb->keep, 1, memory_order_relaxed);
    return d;
}

void cf_remote_release(cf_remote *r)
{
    if (!r)
        return;
    cf__mailbox *mb = r->mb;
    if ((r->flags & CF_REMOTE_KEEP_ALIVE) &&
        atomic_fetch_sub_explicit(&mb->keep, 1, memory_order_acq_rel) == 1) {
        cf__sys_wakeup(mb->fd); /* the loop may be waiting for nothing else */
    }
    cf__free(r);
    mailbox_unref(mb);
}

int cf_remote_post(cf_remote *r, cf_remote_cb fn, void *data)
{
    if (!r || !fn)
        return CF_EINVAL;
    cf__mailbox *mb = r->mb;
    if (atomic_load_explicit(&mb->head, memory_order_relaxed) == MAILBOX_CLOSED)
        return CF_ECLOSED;
    post *p = post_alloc(mb);
    if (!p)
        return CF_ENOMEM;
    p->owned = 1;
    /* seq_cst push: pairs with the spinning flag (see cf__remote_push) */
    int rc = cf__remote_push(r, p, fn, data);
    if (rc < 0)
        cf__free(p);
    return rc;
}

int cf__remote_push(cf_remote *r, cf__post *p, cf_remote_cb fn, void *data)
{
    cf__mailbox *mb = r->mb;
    p->fn = fn;
    p->data = data;
    post *head = atomic_load_explicit(&mb->head, memory_order_relaxed);
    do {
        if (head == MAILBOX_CLOSED)
            return CF_ECLOSED;
        p->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&mb->head, &head, p, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /*
     * The first of a batch wakes the loop (it takes the rest with it), unless the loop is
     * spinning on the head (busy polling): it sees the post without a system call. Both sides
     * are sequentially consistent (push, then read `spinning`; clear `spinning`, then read the
     * head), so when this skips the write, the loop's last look at the head finds the post.
     */
    if (!head && !atomic_load(&mb->spinning))
        cf__sys_wakeup(mb->fd);
    return 0;
}

int cf_remote_closed(const cf_remote *r)
{
    return r && atomic_load_explicit(&r->mb->head, memory_order_acquire) == MAILBOX_CLOSED;
}

/* ---- loop side (core/remote.h) ---- */

int cf__remote_keeps_alive(const cf_loop *loop)
{
    cf__mailbox *mb = loop->mailbox;
    if (!mb)
        return 0;
    /*
     * The count first, then the stack: a holder posts, then releases (acq_rel), so a loop that
     * sees the count reach 0 also sees the last posts, and runs them before it ends.
     */
    if (atomic_load_explicit(&mb->keep, memory_order_acquire) > 0)
        return 1;
    return atomic_load_explicit(&mb->head, memory_order_relaxed) != NULL || mb->leftover;
}

void cf__remote_spin_begin(cf_loop *loop)
{
    if (loop->mailbox)
        atomic_store(&loop->mailbox->spinning, 1);
}

/* A CPU's spin-wait hint: lets the other hyperthread run and eases the exit from the loop. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/*
 * Watch the head alone for a while before the next system calls. A post from a loop that is
 * running on the other CPU arrives within a microsecond or two of the last one (its callback,
 * its loop's phases, one compare-and-swap), sooner than the poll and the yield between looks
 * take (measured: a round trip 2.2-3 us with them alone, under 1 us with the look).
 *
 * The look adapts: one that ends without a post halves the next (down to none), one that
 * finds a post restores LOOK_NS. With no look, every LOOK_PROBE-th spin tries a full one. On
 * loaded CPUs the poster is often waiting for this very CPU, and a look only delays it; the
 * yield is what lets it run (LOOK_NS and the rest are defined with the mailbox).
 */
static int head_arrives(cf__mailbox *mb)
{
    if (atomic_load_explicit(&mb->head, memory_order_relaxed))
        return 1;
    uint32_t budget = mb->look_ns;
    if (!budget && ++mb->look_probe % LOOK_PROBE == 0)
        budget = LOOK_NS;
    if (!budget)
        return 0;
    uint64_t end = cf__obs_now_ns() + budget;
    do {
        for (int i = 0; i < 16; i++) {
            cpu_relax();
            if (atomic_load_explicit(&mb->head, memory_order_relaxed)) {
                mb->look_ns = LOOK_NS;
                return 1;
            }
        }
    } while (cf__obs_now_ns() < end);
    mb->look_ns = budget / 2 >= LOOK_MIN ? budget / 2 : 0;
    return 0;
}

int cf__remote_spin_check(cf_loop *loop)
{
    cf__mailbox *mb = loop->mailbox;
    if (!mb)
        return 0;
    if (!mb->leftover && !head_arrives(mb)) {
        /*
         * Yield between looks: the thread that will post is often runnable on this very CPU
         * (more threads than cores), and spinning would hold the CPU it needs for the rest of
         * the time slice, a slice per round trip (measured: 20k round trips/s spinning against
         * 100k yielding, on two loaded cores). With nothing else to run, the yield is one
         * short system call.
         */
        sched_yield();
        return 0;
    }
    /* No wait returned to move the clock: a deadline set by a post counts from now. */
    cf__loop_update_time(loop);
    run_mailbox(loop);
    return 1;
}

int cf__remote_spin_end(cf_loop *loop)
{
    cf__mailbox *mb = loop->mailbox;
    if (!mb)
        return 0;
    atomic_store(&mb->spinning, 0);
    /* A post that saw the flag set wrote no eventfd: this look is the one that finds it. */
    if (!atomic_load(&mb->head) && !mb->leftover)
        return 0;
    if (cf__loop_failed(loop)) {
        /* No post runs in a failed run: the eventfd makes a later run's poll find them. */
        cf__sys_wakeup(mb->fd);
        return 1;
    }
    cf__loop_update_time(loop);
    run_mailbox(loop);
    return 1;
}

void cf__remote_loop_close(cf_loop *loop)
{
    /* The thread's cache of posts goes with its loop (here and at the end, after the last
     * callbacks): a program's memory is back in full once its loops are closed and its other
     * threads have exited. */
    cf__mailbox *mb = loop->mailbox;
    if (!mb) {
        cache_exit(NULL);
        return;
    }
    /* From here every post fails; those that landed run now, told that the loop is closing. */
    post *p = take_all(mb, MAILBOX_CLOSED);
    while (p) {
        post *next = p->next;
        run_post(loop, p, CF_ECANCELED);
        p = next;
    }
    cf__io_close(loop, &mb->io);
    mb->loop = NULL;
    loop->mailbox = NULL;
    mailbox_unref(mb);
    cache_exit(NULL);
}
