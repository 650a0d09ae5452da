/*
 * Fibers (src/async/fiber.h): the stackful coroutines under async/await. Each behaviour is
 * checked with dedicated stacks and in copy-stack mode.
 */
/* ctest-labels: tsan */
/* ctest-timeout: 300 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <sys/wait.h>

#include "harness.h"
#include "async/fiber.h"
#include "util/util.h"

static const cf__fiber_opts dedicated = {0, 0};
static const cf__fiber_opts copying = {0, 1};
static const cf__fiber_opts *const modes[] = {&dedicated, &copying};

/* ---- ping-pong ---- */

typedef struct pingpong {
    long to_fiber;
    long to_main;
    int rounds;
} pingpong;

static void pingpong_body(void *arg)
{
    pingpong *p = arg;
    long local = 1000;
    for (int i = 0; i < p->rounds; i++) {
        p->to_main = p->to_fiber * 2 + local;
        local++;
        cf__fiber_yield();
    }
}

static void test_fiber_ping_pong_passes_values(void)
{
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        pingpong p = {0, 0, 1000};
        cf__fiber *f = NULL;
        ASSERT_OK(cf__fiber_new(&f, pingpong_body, &p, modes[m]));
        ASSERT(!cf__fiber_done(f));
        for (int i = 0; i < p.rounds; i++) {
            p.to_fiber = i;
            cf__fiber_resume(f);
            ASSERT_EQ(p.to_main, i * 2 + 1000 + i);
            ASSERT(!cf__fiber_done(f));
        }
        cf__fiber_resume(f);
        ASSERT(cf__fiber_done(f));
        cf__fiber_free(f);
    }
}

/* ---- identity ---- */

typedef struct identity {
    cf__fiber *seen;
    void *arg_seen;
} identity;

static void identity_body(void *arg)
{
    identity *id = arg;
    id->seen = cf__fiber_current();
    id->arg_seen = cf__fiber_arg(id->seen);
}

static void test_fiber_current_arg_and_done(void)
{
    ASSERT(cf__fiber_current() == NULL);
    identity id = {NULL, NULL};
    cf__fiber *f = NULL;
    ASSERT_EQ(cf__fiber_new(NULL, identity_body, &id, NULL), CF_EINVAL);
    ASSERT_EQ(cf__fiber_new(&f, NULL, &id, NULL), CF_EINVAL);
    ASSERT_OK(cf__fiber_new(&f, identity_body, &id, NULL));
    ASSERT_EQ(cf__fiber_stack_size(f), cf__fiber_default_stack_size());
    cf__fiber_resume(f);
    ASSERT(id.seen == f);
    ASSERT(id.arg_seen == &id);
    ASSERT(cf__fiber_done(f));
    ASSERT(cf__fiber_current() == NULL);
    cf__fiber_free(f);
    cf__fiber_free(NULL);
}

/* ---- deep recursion ---- */

typedef struct deep {
    size_t limit;     /* stack bytes to use before turning back */
    int yield_bottom; /* yield once at the deepest point */
    long result;
    size_t used;
} deep;

static long recurse(deep *d, const char *top, long depth)
{
    volatile char pad[400];
    for (size_t i = 0; i < sizeof pad; i += 64)
        pad[i] = (char)(depth + (long)i);
    /* The frame address, not a local's: ASan may keep locals on a heap "fake stack". */
    size_t used = (size_t)(top - (const char *)__builtin_frame_address(0));
    long here = 0;
    if (used >= d->limit) {
        d->used = used;
        if (d->yield_bottom)
            cf__fiber_yield();
    } else {
        here = recurse(d, top, depth + 1);
    }
    for (size_t i = 0; i < sizeof pad; i += 64) {
        if (pad[i] != (char)(depth + (long)i))
            return -1000000;
    }
    return here + depth;
}

static void deep_body(void *arg)
{
    deep *d = arg;
    d->result = recurse(d, __builtin_frame_address(0), 1);
}

/* The sum 1 + 2 + ... + n for the depth the recursion reached. */
static int deep_ok(const deep *d)
{
    for (long n = 1; n < 1000000; n++) {
        long sum = n * (n + 1) / 2;
        if (sum == d->result)
            return 1;
        if (sum > d->result)
            return 0;
    }
    return 0;
}

static void test_fiber_deep_recursion_near_stack_size(void)
{
    static const size_t sizes[] = {0, 256 * 1024};
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        for (size_t k = 0; k < CF_ARRAY_LEN(sizes); k++) {
            cf__fiber_opts o = *modes[m];
            o.stack_size = sizes[k];
            deep d = {0, 0, 0, 0};
            cf__fiber *f = NULL;
            ASSERT_OK(cf__fiber_new(&f, deep_body, &d, &o));
            d.limit = cf__fiber_stack_size(f) / 4 * 3;
            cf__fiber_resume(f);
            ASSERT(cf__fiber_done(f));
            ASSERT_GE(d.used, d.limit);
            ASSERT(deep_ok(&d));
            cf__fiber_free(f);
        }
    }
}

/* Several deep fibers suspended at their deepest point, resumed in turn: in copy-stack mode
 * at least two share a run stack, so whole deep stacks are copied out and back. */
static void test_fiber_deep_stacks_survive_suspension(void)
{
    enum { N = 6 };
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        deep d[N];
        cf__fiber *f[N];
        for (int i = 0; i < N; i++) {
            d[i] = (deep){0, 1, 0, 0};
            ASSERT_OK(cf__fiber_new(&f[i], deep_body, &d[i], modes[m]));
            d[i].limit = cf__fiber_stack_size(f[i]) / 2 + (size_t)i * 1024;
            cf__fiber_resume(f[i]);
            ASSERT(!cf__fiber_done(f[i]));
        }
        for (int i = N - 1; i >= 0; i--) {
            cf__fiber_resume(f[i]);
            ASSERT(cf__fiber_done(f[i]));
            ASSERT(deep_ok(&d[i]));
            cf__fiber_free(f[i]);
        }
    }
}

/* ---- many fibers ---- */

typedef struct counter {
    unsigned id;
    unsigned sum;
} counter;

static void counter_body(void *arg)
{
    counter *c = arg;
    unsigned mine[8];
    for (unsigned i = 0; i < 8; i++)
        mine[i] = c->id * 8 + i;
    for (unsigned round = 0; round < 3; round++) {
        cf__fiber_yield();
        for (unsigned i = 0; i < 8; i++)
            c->sum += mine[i];
    }
}

/* ThreadSanitizer gives every fiber a thread-sized trace of its own: fewer fibers there. */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#if defined(TSAN_BUILD)
#define MANY_FIBERS 1000
#endif
#ifndef MANY_FIBERS
#define MANY_FIBERS 10000
#endif

static void test_fiber_ten_thousand_alive(void)
{
    enum { N = MANY_FIBERS };
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        cf__fiber **f = cf_calloc(N, sizeof *f);
        counter *c = cf_calloc(N, sizeof *c);
        ASSERT_PTR(f);
        ASSERT_PTR(c);
        for (unsigned i = 0; i < N; i++) {
            c[i].id = i;
            ASSERT_OK(cf__fiber_new(&f[i], counter_body, &c[i], modes[m]));
            cf__fiber_resume(f[i]);
        }
        for (int round = 0; round < 3; round++) {
            for (unsigned i = 0; i < N; i++)
                cf__fiber_resume(f[(i * 7919u) % N]);
        }
        for (unsigned i = 0; i < N; i++) {
            ASSERT(cf__fiber_done(f[i]));
            ASSERT_EQ(c[i].sum, 3 * (64 * i + 28));
            cf__fiber_free(f[i]);
        }
        cf_free(f);
        cf_free(c);
    }
    cf__fiber_pool_trim();
}

/* Lines of /proc/self/maps: the process's memory mappings. */
static long map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* More dedicated stacks alive than vm.max_map_count (65530) / 2 would allow with a mapping
 * each: they are carved from regions, so the mapping count hardly moves. */
static void test_fiber_dedicated_stacks_share_mappings(void)
{
    enum { N = MANY_FIBERS * 7 / 2 };
    cf__fiber_opts small = {16 * 1024, 0};
    cf__fiber **f = cf_calloc(N, sizeof *f);
    counter *c = cf_calloc(N, sizeof *c);
    ASSERT_PTR(f);
    ASSERT_PTR(c);
    cf__fiber_pool_trim();
    cf__fiber_stats s0;
    cf__fiber_stats_get(&s0); /* the copy-stack helper's stack may hold a region */
    long maps_before = map_count();
    for (unsigned i = 0; i < N; i++) {
        c[i].id = i;
        ASSERT_OK(cf__fiber_new(&f[i], counter_body, &c[i], &small));
        cf__fiber_resume(f[i]);
    }
    long maps_during = map_count();
    cf__fiber_stats s;
    cf__fiber_stats_get(&s);
    ASSERT(s.regions > s0.regions && s.regions < s0.regions + N / 100);
#if !defined(TSAN_BUILD) /* TSan maps memory of its own for every fiber */
    ASSERT(maps_during - maps_before < N / 100);
#else
    (void)maps_during;
    (void)maps_before;
#endif
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < N; i++)
            cf__fiber_resume(f[i]);
    }
    for (unsigned i = 0; i < N; i++) {
        ASSERT(cf__fiber_done(f[i]));
        ASSERT_EQ(c[i].sum, 3 * (64 * i + 28));
        cf__fiber_free(f[i]);
    }
    cf_free(f);
    cf_free(c);
    cf__fiber_pool_trim();
    cf__fiber_stats_get(&s);
    ASSERT_EQ(s.regions, s0.regions);
}

/* ---- the movable-stack predicate ---- */

static void movable_body(void *arg)
{
    int *out = arg;
    char local[8] = {0};
    out[0] = cf__ptr_on_movable_stack(local);
    out[1] = cf__ptr_on_movable_stack(out);
}

static void test_fiber_movable_stack_predicate(void)
{
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        int *out = cf_calloc(2, sizeof *out);
        ASSERT_PTR(out);
        cf__fiber *f = NULL;
        ASSERT_OK(cf__fiber_new(&f, movable_body, out, modes[m]));
        cf__fiber_resume(f);
        ASSERT(cf__fiber_done(f));
        cf__fiber_free(f);
        ASSERT_EQ(out[0], modes[m]->shared_stack ? 1 : 0); /* only copy mode moves locals */
        ASSERT_EQ(out[1], 0);                              /* heap memory never moves */
        cf_free(out);
    }
    int here = 0;
    ASSERT_EQ(cf__ptr_on_movable_stack(&here), 0); /* the thread's own stack */
    ASSERT_EQ(cf__ptr_on_movable_stack(NULL), 0);
}

/* ---- transfer: straight from one fiber to another ---- */

typedef struct relay {
    cf__fiber *next; /* the fiber to hand over to, or NULL: yield */
    char *log;
    char name;
} relay;

static void relay_body(void *arg)
{
    relay *r = arg;
    volatile int marker = r->name;
    for (int round = 0; round < 3; round++) {
        size_t len = strlen(r->log);
        r->log[len] = r->name;
        r->log[len + 1] = '\0';
        if (r->next)
            cf__fiber_transfer(r->next);
        else
            cf__fiber_yield();
        ASSERT(cf__fiber_current() != NULL);
        ASSERT_EQ(marker, r->name);
    }
}

/* main resumes a, a hands over to b, b to c, c yields: back in main, as from a's yield. */
static void test_fiber_transfer_hands_over(void)
{
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        char log[64] = "";
        relay rc = {NULL, log, 'c'};
        relay rb = {NULL, log, 'b'};
        relay ra = {NULL, log, 'a'};
        cf__fiber *a = NULL;
        cf__fiber *b = NULL;
        cf__fiber *c = NULL;
        ASSERT_OK(cf__fiber_new(&a, relay_body, &ra, modes[m]));
        ASSERT_OK(cf__fiber_new(&b, relay_body, &rb, modes[m]));
        ASSERT_OK(cf__fiber_new(&c, relay_body, &rc, modes[m]));
        ra.next = b;
        rb.next = c;
        for (int round = 0; round < 3; round++) {
            cf__fiber_resume(a);
            ASSERT(cf__fiber_current() == NULL);
        }
        ASSERT_STR_EQ(log, "abcabcabc");
        /* Each resumed on its own now: the last round ends each function. */
        ra.next = NULL;
        rb.next = NULL;
        cf__fiber_resume(a);
        cf__fiber_resume(b);
        cf__fiber_resume(c);
        ASSERT(cf__fiber_done(a) && cf__fiber_done(b) && cf__fiber_done(c));
        cf__fiber_free(a);
        cf__fiber_free(b);
        cf__fiber_free(c);
    }
}

/* ---- fibers resuming fibers ---- */

enum { CHAIN = 9 };

typedef struct chain {
    const cf__fiber_opts *opts;
    cf__fiber *f[CHAIN];
    int level[CHAIN];
    char log[256];
    size_t log_len;
} chain;

static void chain_log(chain *c, char what, int level)
{
    c->log[c->log_len++] = what;
    c->log[c->log_len++] = (char)('0' + level);
}

static void chain_body(void *arg);

typedef struct chain_arg {
    chain *c;
    int level;
} chain_arg;

static chain_arg chain_args[CHAIN];

/* Level L starts level L+1, which yields back twice; L yields to its own resumer between. */
static void chain_body(void *arg)
{
    chain_arg *a = arg;
    chain *c = a->c;
    int level = a->level;
    volatile int marker = level * 1111;
    chain_log(c, 's', level);
    if (level + 1 < CHAIN) {
        /* Copy mode spreads fibers over four run stacks in turn: skipping three puts the
         * child of an odd level on its parent's run stack, the child of an even one not. */
        for (int i = 0; c->opts->shared_stack && level % 2 && i < 3; i++) {
            cf__fiber *skip = NULL;
            ASSERT_OK(cf__fiber_new(&skip, chain_body, NULL, c->opts));
            cf__fiber_free(skip);
        }
        ASSERT_OK(cf__fiber_new(&c->f[level + 1], chain_body, &chain_args[level + 1], c->opts));
        cf__fiber_resume(c->f[level + 1]);
        chain_log(c, 'r', level);
        cf__fiber_yield();
        cf__fiber_resume(c->f[level + 1]);
        ASSERT(cf__fiber_done(c->f[level + 1]));
        cf__fiber_free(c->f[level + 1]);
    } else {
        cf__fiber_yield();
    }
    ASSERT(cf__fiber_current() == c->f[level]);
    ASSERT_EQ(marker, level * 1111);
    chain_log(c, 'e', level);
}

static void test_fiber_resumes_fiber(void)
{
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        cf__fiber_stats before;
        cf__fiber_stats_get(&before);
        chain c;
        memset(&c, 0, sizeof c);
        c.opts = modes[m];
        for (int i = 0; i < CHAIN; i++)
            chain_args[i] = (chain_arg){&c, i};
        ASSERT_OK(cf__fiber_new(&c.f[0], chain_body, &chain_args[0], c.opts));
        cf__fiber_resume(c.f[0]);
        ASSERT(cf__fiber_current() == NULL);
        ASSERT_STR_EQ(c.log, "s0s1s2s3s4s5s6s7s8r7r6r5r4r3r2r1r0");
        cf__fiber_resume(c.f[0]);
        ASSERT(cf__fiber_done(c.f[0]));
        ASSERT_STR_EQ(c.log, "s0s1s2s3s4s5s6s7s8r7r6r5r4r3r2r1r0e8e7e6e5e4e3e2e1e0");
        cf__fiber_free(c.f[0]);
        cf__fiber_stats after;
        cf__fiber_stats_get(&after);
        /* Nine levels on four run stacks: some parent and child share one. */
        if (c.opts->shared_stack)
            ASSERT_GE(after.helper_trips - before.helper_trips, 2);
    }
}

/* ---- copy-stack mode: locals and pointers to them survive, many fibers interleaved ---- */

typedef struct walker {
    unsigned seed;
    unsigned rounds;
    int ok;
} walker;

static void walker_body(void *arg)
{
    walker *w = arg;
    unsigned values[32];
    unsigned *self_ptr[4];
    for (unsigned i = 0; i < 32; i++)
        values[i] = w->seed * 31u + i;
    for (unsigned i = 0; i < 4; i++)
        self_ptr[i] = &values[i * 8];
    double x = w->seed * 0.5;
    w->ok = 1;
    for (unsigned r = 0; r < w->rounds; r++) {
        cf__fiber_yield();
        for (unsigned i = 0; i < 32; i++) {
            if (values[i] != w->seed * 31u + i + r)
                w->ok = 0;
            values[i]++;
        }
        for (unsigned i = 0; i < 4; i++) {
            if (self_ptr[i] != &values[i * 8] || *self_ptr[i] != values[i * 8])
                w->ok = 0;
        }
        if (x != w->seed * 0.5 + r)
            w->ok = 0;
        x += 1.0;
    }
}

static void test_fiber_copy_stack_keeps_locals(void)
{
    enum { N = 1000, ROUNDS = 20 };
    cf__fiber **f = cf_calloc(N, sizeof *f);
    walker *w = cf_calloc(N, sizeof *w);
    ASSERT_PTR(f);
    ASSERT_PTR(w);
    cf__fiber_stats before;
    cf__fiber_stats_get(&before);
    for (unsigned i = 0; i < N; i++) {
        w[i] = (walker){i + 1, ROUNDS, 0};
        ASSERT_OK(cf__fiber_new(&f[i], walker_body, &w[i], &copying));
    }
    for (unsigned r = 0; r <= ROUNDS; r++) {
        for (unsigned i = 0; i < N; i++)
            cf__fiber_resume(f[(i * 389u + r) % N]);
    }
    cf__fiber_stats after;
    cf__fiber_stats_get(&after);
    ASSERT_GE(after.stack_copies - before.stack_copies, (uint64_t)N * ROUNDS);
    for (unsigned i = 0; i < N; i++) {
        ASSERT(cf__fiber_done(f[i]));
        ASSERT(w[i].ok);
        cf__fiber_free(f[i]);
    }
    cf__fiber_stats_get(&after);
    ASSERT_EQ(after.saved_bytes, before.saved_bytes);
    cf_free(f);
    cf_free(w);
}

/* ---- pool ---- */

static void nothing_body(void *arg)
{
    int *runs = arg;
    (*runs)++;
    cf__fiber_yield();
}

static void run_batch(int n, int *runs)
{
    cf__fiber *f[64];
    for (int i = 0; i < n; i++)
        ASSERT_OK(cf__fiber_new(&f[i], nothing_body, runs, NULL));
    for (int i = 0; i < n; i++)
        cf__fiber_resume(f[i]);
    for (int i = 0; i < n; i++) {
        cf__fiber_resume(f[i]);
        cf__fiber_free(f[i]);
    }
}

static void test_fiber_pool_reuses_stacks(void)
{
    int runs = 0;
    cf__fiber_pool_trim();
    cf__fiber_stats s0;
    cf__fiber_stats_get(&s0);
    ASSERT_EQ(s0.stacks_pooled, 0);
    run_batch(64, &runs);
    cf__fiber_stats s1;
    cf__fiber_stats_get(&s1);
    ASSERT_EQ(s1.stacks_mapped - s0.stacks_mapped, 64);
    ASSERT_EQ(s1.stacks_pooled, 64);
    for (int i = 0; i < 10; i++)
        run_batch(64, &runs);
    cf__fiber_stats s2;
    cf__fiber_stats_get(&s2);
    ASSERT_EQ(s2.stacks_mapped, s1.stacks_mapped);
    ASSERT_EQ(runs, 64 * 11);
    cf__fiber_pool_trim();
    cf__fiber_stats_get(&s2);
    ASSERT_EQ(s2.stacks_pooled, 0);
    ASSERT_EQ(s2.stacks_unmapped - s0.stacks_unmapped, 64);
}

static void test_fiber_free_suspended_or_new(void)
{
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        int runs = 0;
        cf__fiber *never = NULL;
        cf__fiber *waiting = NULL;
        ASSERT_OK(cf__fiber_new(&never, nothing_body, &runs, modes[m]));
        ASSERT_OK(cf__fiber_new(&waiting, nothing_body, &runs, modes[m]));
        cf__fiber_resume(waiting);
        ASSERT_EQ(runs, 1);
        cf__fiber_free(never);
        cf__fiber_free(waiting);
    }
    cf__fiber_pool_trim();
}

/* ---- threads: current fiber and pools are per thread ---- */

static void *thread_main(void *arg)
{
    long *result = arg;
    for (size_t m = 0; m < CF_ARRAY_LEN(modes); m++) {
        enum { N = 50 };
        walker w[N];
        cf__fiber *f[N];
        for (unsigned i = 0; i < N; i++) {
            w[i] = (walker){i + 7, 30, 0};
            if (cf__fiber_new(&f[i], walker_body, &w[i], modes[m]) != 0)
                return NULL;
        }
        for (unsigned r = 0; r <= 30; r++) {
            for (unsigned i = 0; i < N; i++)
                cf__fiber_resume(f[i]);
        }
        for (unsigned i = 0; i < N; i++) {
            *result += w[i].ok && cf__fiber_done(f[i]);
            cf__fiber_free(f[i]);
        }
    }
    return NULL;
}

static void test_fiber_threads_run_their_own(void)
{
    pthread_t t[3];
    long result[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, thread_main, &result[i]), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
        ASSERT_EQ(result[i], 100);
    }
}

/* ---- overflow ---- */

static volatile int overflow_stop;

static long overflow_recurse(long n)
{
    volatile char pad[256];
    if (overflow_stop)
        return 0;
    pad[0] = (char)n;
    return overflow_recurse(n + 1) + pad[0];
}

static void overflow_body(void *arg)
{
    long *out = arg;
    *out = overflow_recurse(0);
}

/* Run a fiber that recurses without end in a child; returns what the child wrote to stderr. */
static void overflow_child(int mode, char *out, size_t cap, int *status)
{
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        cf__fiber_opts o = {16 * 1024, mode};
        long result = 0;
        cf__fiber *f = NULL;
        if (cf__fiber_new(&f, overflow_body, &result, &o) != 0)
            _exit(3);
        cf__fiber_resume(f);
        _exit(4);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    ASSERT_EQ(waitpid(pid, status, 0), pid);
}

static void test_fiber_overflow_is_reported(void)
{
    for (int mode = 0; mode < 2; mode++) {
        char err[4096];
        int status = 0;
        overflow_child(mode, err, sizeof err, &status);
        ASSERT(WIFSIGNALED(status));
        ASSERT_EQ(WTERMSIG(status), SIGSEGV);
        ASSERT_PTR(strstr(err, "calcifer: task stack overflow (stack size 16384 bytes); "
                               "raise it with CF_STACK_SIZE or cf_async options\n"));
    }
}

/* ---- CF_STACK_SIZE ---- */

static void test_fiber_stack_size_from_env(void)
{
    const char *expect = getenv("CF_TEST_EXPECT_STACK");
    if (expect) {
        /* The re-executed child: check what the parent set. */
        ASSERT_EQ(cf__fiber_default_stack_size(), strtoul(expect, NULL, 10));
        identity id = {NULL, NULL};
        cf__fiber *f = NULL;
        ASSERT_OK(cf__fiber_new(&f, identity_body, &id, NULL));
        ASSERT_EQ(cf__fiber_stack_size(f), strtoul(expect, NULL, 10));
        cf__fiber_resume(f);
        cf__fiber_free(f);
        return;
    }
    ASSERT_EQ(cf__fiber_default_stack_size(),
              getenv("CF_STACK_SIZE") ? cf__fiber_default_stack_size() : 64 * 1024);
    static const char *const cases[][2] = {
        {"96K", "98304"}, {"1m", "1048576"}, {"20000", "20480"}, {"bogus", "65536"}};
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            if (!freopen("/dev/null", "w", stdout))
                _exit(126);
            setenv("CF_STACK_SIZE", cases[i][0], 1);
            setenv("CF_TEST_EXPECT_STACK", cases[i][1], 1);
            char *argv[] = {(char *)"test_fiber", (char *)"test_fiber_stack_size_from_env", NULL};
            execv(CF_BUILD_DIR "/tests/test_fiber", argv);
            /* ENOEXEC: a cross-built binary under qemu-user, which cannot re-execute it. */
            _exit(errno == ENOEXEC ? 125 : 127);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFEXITED(status));
        if (WEXITSTATUS(status) == 125) {
            fprintf(stderr, "# CF_STACK_SIZE not checked: cannot re-execute this binary here\n");
            return;
        }
        ASSERT_EQ(WEXITSTATUS(status), 0);
    }
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_fiber_ping_pong_passes_values);
    CF_TEST(test_fiber_current_arg_and_done);
    CF_TEST(test_fiber_deep_recursion_near_stack_size);
    CF_TEST(test_fiber_deep_stacks_survive_suspension);
    CF_TEST(test_fiber_ten_thousand_alive);
    CF_TEST(test_fiber_dedicated_stacks_share_mappings);
    CF_TEST(test_fiber_movable_stack_predicate);
    CF_TEST(test_fiber_resumes_fiber);
    CF_TEST(test_fiber_transfer_hands_over);
    CF_TEST(test_fiber_copy_stack_keeps_locals);
    CF_TEST(test_fiber_pool_reuses_stacks);
    CF_TEST(test_fiber_free_suspended_or_new);
    CF_TEST(test_fiber_threads_run_their_own);
    CF_TEST(test_fiber_overflow_is_reported);
    CF_TEST(test_fiber_stack_size_from_env);
    return CF_TEST_END();
}
