/*
 * Task stacks with default settings (docs/stacks.md): many tasks at once without a memory
 * mapping each, bounded memory per suspended task, the movable-stack rule of library calls
 * that keep a caller's buffer, and a dedicated stack on request.
 */
/* ctest-timeout: 300 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "harness.h"
#include "calcifer/fs.h"
#include "calcifer/task.h"

#include "async/fiber.h"
#include "util/util.h"

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    long resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

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

/* ---- many sleeping tasks, default settings ---- */

/* ThreadSanitizer and ASan make every task much bigger: fewer tasks there. */
#if defined(CF_SANITIZE_BUILD)
#define MANY_TASKS 20000
#else
#define MANY_TASKS 200000
#endif

typedef struct sleepers {
    long started;
    long finished;
    long suspended_rss; /* RSS once every task is suspended */
    long suspended_maps;
} sleepers;

static int sleeper(cf_task *task, void *arg)
{
    sleepers *s = arg;
    long i = s->started++;
    volatile char locals[64]; /* a little stack in use, as a real task has */
    locals[0] = (char)i;
    cf_result r = cf_sleep(cf_task_loop(task), 10 + (uint64_t)(i % 41));
    if (r.status < 0)
        return r.status;
    s->finished += locals[0] == (char)i;
    return 0;
}

/* More than vm.max_map_count / 2 tasks alive at once, in bounded memory. */
static void test_stacks_many_tasks_default_settings(void)
{
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    sleepers s = {0, 0, 0, 0};
    long before = rss_bytes();
    for (long i = 0; i < MANY_TASKS; i++) {
        cf_promise *p = cf_async(loop, sleeper, &s);
        ASSERT_PTR(p);
        ASSERT_NE(cf_promise_state(p), CF_PROMISE_REJECTED);
        cf_promise_release(p);
    }
    s.suspended_rss = rss_bytes();
    s.suspended_maps = map_count();
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(s.started, MANY_TASKS);
    ASSERT_EQ(s.finished, MANY_TASKS);
    long per_task = (s.suspended_rss - before) / MANY_TASKS;
    fprintf(stderr, "# %d tasks suspended: %ld bytes each, %ld mappings\n", MANY_TASKS, per_task,
            s.suspended_maps);
    /* No mapping per task, and well under a page each: copy-stack mode by default (about
     * 1 KB with the assembly switch, 2.5 KB with the ucontext fallback's bigger contexts; a
     * dedicated stack would keep at least a 4 KiB page per task). */
    ASSERT(s.suspended_maps < 2000);
#if !defined(CF_SANITIZE_BUILD)
    ASSERT(per_task < 3 * 1024);
#endif
}

/* ---- the movable-stack rule ---- */

typedef struct reader {
    int fd;
    int stack_rc;    /* the read into a buffer on the task's stack */
    char why[512];   /* its error message */
    int heap_rc;     /* the read into heap memory */
    char first;      /* what the heap read got */
    int callback_rc; /* the callback form with the stack buffer */
} reader;

static void no_cb(int status, const cf_error *err, void *data)
{
    (void)status;
    (void)err;
    (void)data;
}

static int read_task(cf_task *task, void *arg)
{
    reader *r = arg;
    cf_loop *loop = cf_task_loop(task);
    char on_stack[16];
    cf_result res = cf_await(cf_fs_read_p(loop, r->fd, on_stack, sizeof on_stack, 0, NULL));
    r->stack_rc = res.status;
    if (res.error && res.error->message)
        snprintf(r->why, sizeof r->why, "%s", res.error->message);
    r->callback_rc = cf_fs_read(loop, r->fd, on_stack, sizeof on_stack, 0, NULL, no_cb, NULL);
    char *heap = cf_malloc(16);
    if (!heap)
        return CF_ENOMEM;
    res = cf_await(cf_fs_read_p(loop, r->fd, heap, 16, 0, NULL));
    r->heap_rc = res.status < 0 ? res.status : (int)(intptr_t)res.value; /* bytes read */
    r->first = heap[0];
    cf_free(heap);
    return 0;
}

static int temp_file(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/cf_test_stacks_XXXXXX");
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, "hello, stacks", 13), 13);
    return fd;
}

static void test_stacks_buffer_on_movable_stack_refused(void)
{
    char path[64];
    int fd = temp_file(path, sizeof path);
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    reader r;
    memset(&r, 0, sizeof r);
    r.fd = fd;
    cf_promise *p = cf_async(loop, read_task, &r);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(r.stack_rc, CF_EINVAL);
    ASSERT_PTR(strstr(r.why, "the buffer is on the stack of a copy-stack task"));
    ASSERT_EQ(r.callback_rc, CF_EINVAL);
    ASSERT_EQ(r.heap_rc, 13);
    ASSERT_EQ(r.first, 'h');
    close(fd);
    unlink(path);
}

/* ---- a dedicated stack on request ---- */

typedef struct dedicated {
    int fd;
    int rc; /* bytes read, or the error */
    char got[16];
    int on_movable;
} dedicated;

static int dedicated_task(cf_task *task, void *arg)
{
    dedicated *d = arg;
    char on_stack[16] = {0};
    d->on_movable = cf__ptr_on_movable_stack(on_stack);
    cf_result res =
        cf_await(cf_fs_read_p(cf_task_loop(task), d->fd, on_stack, sizeof on_stack - 1, 0, NULL));
    d->rc = res.status < 0 ? res.status : (int)(intptr_t)res.value; /* bytes read */
    memcpy(d->got, on_stack, sizeof d->got);
    return 0;
}

static void test_stacks_dedicated_stack_keeps_buffers(void)
{
    char path[64];
    int fd = temp_file(path, sizeof path);
    cf_loop *loop = NULL;
    ASSERT_OK(cf_loop_new(&loop));
    dedicated d;
    memset(&d, 0, sizeof d);
    d.fd = fd;
    cf_task_opts o;
    memset(&o, 0, sizeof o);
    o.stack = CF_STACK_DEDICATED;
    o.stack_size = 256 * 1024;
    cf_promise *p = cf_async_ex(loop, dedicated_task, &d, &o);
    ASSERT_PTR(p);
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT_EQ(cf_promise_state(p), CF_PROMISE_FULFILLED);
    cf_promise_release(p);
    ASSERT_OK(cf_loop_close(loop));
    ASSERT_EQ(d.on_movable, 0);
    ASSERT_EQ(d.rc, 13);
    ASSERT_STR_EQ(d.got, "hello, stacks");
    close(fd);
    unlink(path);
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_stacks_many_tasks_default_settings);
    CF_TEST(test_stacks_buffer_on_movable_stack_refused);
    CF_TEST(test_stacks_dedicated_stack_keeps_buffers);
    return CF_TEST_END();
}
