/*
 * fd watchers on pipes and socketpairs: readiness, level-triggered re-reporting, changing
 * the events, hang-ups, one watcher per fd, regular files, and closing watchers (and reusing
 * their fd numbers) from callbacks of the same poll batch; the handle shape (close callback,
 * ref, is_active).
 */
#include "harness.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "core/internal.h"
#include "util/sys.h"

#define S(lit) ((void *)(lit))

static cf_loop *L;

static void setup(void)
{
    ASSERT_OK(cf_loop_new(&L));
}

static void teardown(void)
{
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_OK(cf_loop_close(L));
}

static void pair(int sv[2])
{
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* ---- level-triggered reads ---- */

static int reads;
static char got[16];

static void read_one_cb(cf_watch *w, unsigned events, void *d)
{
    int fd = *(int *)d;
    ASSERT_EQ(events, CF_WATCH_READABLE);
    char c;
    ASSERT_EQ(cf__sys_read(fd, &c, 1), 1); /* one byte per callback: level-triggered */
    got[reads++] = c;
    if (reads == 3)
        ASSERT_OK(cf_watch_stop(w));
}

static void test_watch_readable_level_triggered(void)
{
    setup();
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    reads = 0;
    memset(got, 0, sizeof got);
    cf_watch *w;
    ASSERT_OK(cf_watch_new(L, p[0], &w));
    ASSERT_EQ(cf_watch_fd(w), p[0]);
    ASSERT_OK(cf_watch_start(w, CF_WATCH_READABLE, read_one_cb, &p[0]));
    ASSERT_EQ(cf__sys_write(p[1], "abcd", 4), 4);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* ends once the watcher stops itself */
    ASSERT_EQ(reads, 3);
    ASSERT_STR_EQ(got, "abc");
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
    teardown();
    close(p[0]);
    close(p[1]);
}

/* ---- writable, then switch to readable ---- */

static int sv_w[2];
static int phase_w;

static void rw_cb(cf_watch *w, unsigned events, void *d)
{
    (void)d;
    if (phase_w == 0) {
        ASSERT_EQ(events, CF_WATCH_WRITABLE);
        ASSERT_EQ(cf__sys_write(sv_w[0], "ping", 4), 4);
        /* Now wait for the answer only. */
        ASSERT_OK(cf_watch_start(w, CF_WATCH_READABLE, rw_cb, NULL));
        ASSERT_EQ(cf__sys_write(sv_w[1], "pong", 4), 4);
        phase_w = 1;
        return;
    }
    ASSERT_EQ(events, CF_WATCH_READABLE);
    char buf[8];
    ASSERT_EQ(cf__sys_read(sv_w[0], buf, sizeof buf), 4);
    ASSERT_MEM_EQ(buf, "pong", 4);
    phase_w = 2;
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
}

static void test_watch_writable_then_readable(void)
{
    setup();
    pair(sv_w);
    phase_w = 0;
    cf_watch *w;
    ASSERT_OK(cf_watch_new(L, sv_w[0], &w));
    ASSERT_OK(cf_watch_start(w, CF_WATCH_WRITABLE, rw_cb, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(phase_w, 2);
    char buf[8];
    ASSERT_EQ(cf__sys_read(sv_w[1], buf, sizeof buf), 4);
    ASSERT_MEM_EQ(buf, "ping", 4);
    teardown();
    close(sv_w[0]);
    close(sv_w[1]);
}

/* ---- hang-up ---- */

static unsigned hup_events;

static void hup_cb(cf_watch *w, unsigned events, void *d)
{
    (void)d;
    hup_events = events;
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
}

static void test_watch_hangup(void)
{
    setup();
    int sv[2];
    pair(sv);
    hup_events = 0;
    cf_watch *w;
    ASSERT_OK(cf_watch_new(L, sv[0], &w));
    ASSERT_OK(cf_watch_start(w, CF_WATCH_READABLE, hup_cb, NULL));
    close(sv[1]);
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT(hup_events & CF_WATCH_READABLE);
    ASSERT(!(hup_events & CF_WATCH_WRITABLE)); /* not wanted, not reported */
    char c;
    ASSERT_EQ(cf__sys_read(sv[0], &c, 1), 0); /* end of file */
    teardown();
    close(sv[0]);
}

/* ---- errors ---- */

static void never_cb(cf_watch *w, unsigned events, void *d)
{
    (void)w;
    (void)events;
    (void)d;
    ASSERT(0);
}

static void test_watch_errors(void)
{
    setup();
    cf_watch *w = NULL;
    ASSERT_EQ(cf_watch_new(NULL, 0, &w), CF_EINVAL);
    ASSERT_EQ(cf_watch_new(L, -1, &w), CF_EBADF);
    int sv[2];
    pair(sv);
    cf_watch *a;
    cf_watch *b;
    ASSERT_OK(cf_watch_new(L, sv[0], &a));
    ASSERT_OK(cf_watch_new(L, sv[0], &b));
    ASSERT_EQ(cf_watch_start(a, 0, never_cb, NULL), CF_EINVAL);
    ASSERT_EQ(cf_watch_start(a, 64, never_cb, NULL), CF_EINVAL);
    ASSERT_EQ(cf_watch_start(a, CF_WATCH_READABLE, NULL, NULL), CF_EINVAL);
    ASSERT_OK(cf_watch_start(a, CF_WATCH_READABLE, never_cb, NULL));
    ASSERT_EQ(cf_watch_start(b, CF_WATCH_READABLE, never_cb, NULL), CF_EEXIST);
    ASSERT_OK(cf_watch_stop(a));
    ASSERT_OK(cf_watch_start(b, CF_WATCH_READABLE, never_cb, NULL)); /* free again */
    ASSERT_OK(cf_watch_close(a, NULL, NULL));
    ASSERT_OK(cf_watch_close(b, NULL, NULL));
    ASSERT_EQ(cf_watch_close(b, NULL, NULL), CF_ECLOSED);
    /* A regular file cannot be polled. */
    char path[4096];
    int fd = cf__sys_open(cf_test_path(path, sizeof path, "f"), O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    cf_watch *f;
    ASSERT_OK(cf_watch_new(L, fd, &f));
    ASSERT_EQ(cf_watch_start(f, CF_WATCH_READABLE, never_cb, NULL), CF_EPERM);
    ASSERT_OK(cf_watch_close(f, NULL, NULL));
    /* A closed fd. */
    cf_watch *c;
    ASSERT_OK(cf_watch_new(L, 1000, &c));
    ASSERT_EQ(cf_watch_start(c, CF_WATCH_READABLE, never_cb, NULL), CF_EBADF);
    ASSERT_OK(cf_watch_close(c, NULL, NULL));
    teardown();
    close(fd);
    close(sv[0]);
    close(sv[1]);
}

/* ---- closing another watcher whose event is in the same batch, and reusing its fd ---- */

static int sa[2];
static int sb[2];
static cf_watch *wa;
static cf_watch *wb;
static cf_watch *wnew;
static int a_calls;
static int b_calls;
static int new_calls;

static void new_cb(cf_watch *w, unsigned events, void *d)
{
    (void)events;
    (void)d;
    new_calls++;
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
}

static void b_cb(cf_watch *w, unsigned events, void *d);

static void a_cb(cf_watch *w, unsigned events, void *d)
{
    (void)events;
    (void)d;
    a_calls++;
    /* Whichever runs first closes the other and reuses its fd number for a fresh pipe that
     * is not readable: the other's collected event must not reach the new watcher. */
    cf_watch *other = (w == wa) ? wb : wa;
    int *ofds = (w == wa) ? sb : sa;
    int num = ofds[0];
    ASSERT_OK(cf_watch_close(other, NULL, NULL));
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(dup2(p[1], num), num); /* closes the old fd; a pipe's write end never reads */
    close(p[0]);
    close(p[1]);
    ASSERT_OK(cf_watch_new(L, num, &wnew));
    ASSERT_OK(cf_watch_start(wnew, CF_WATCH_READABLE, new_cb, NULL));
    ASSERT_OK(cf_watch_close(w, NULL, NULL));
    cf_watch_unref(wnew);
}

static void b_cb(cf_watch *w, unsigned events, void *d)
{
    b_calls++;
    a_cb(w, events, d);
}

static void test_watch_close_other_in_same_batch(void)
{
    setup();
    pair(sa);
    pair(sb);
    a_calls = b_calls = new_calls = 0;
    ASSERT_OK(cf_watch_new(L, sa[0], &wa));
    ASSERT_OK(cf_watch_new(L, sb[0], &wb));
    ASSERT_OK(cf_watch_start(wa, CF_WATCH_READABLE, a_cb, NULL));
    ASSERT_OK(cf_watch_start(wb, CF_WATCH_READABLE, b_cb, NULL));
    ASSERT_EQ(cf__sys_write(sa[1], "x", 1), 1);
    ASSERT_EQ(cf__sys_write(sb[1], "x", 1), 1);
    ASSERT_OK(cf_run(L, CF_RUN_ONCE)); /* both ready in one epoll_wait */
    ASSERT_EQ(a_calls, 1);             /* exactly one of the two ran */
    ASSERT_EQ(new_calls, 0);
    ASSERT_OK(cf_watch_close(wnew, NULL, NULL));
    teardown();
    int num = (b_calls == 0) ? sb[0] : sa[0];
    close(num);
    close(sa[1]);
    close(sb[1]);
    close(b_calls == 0 ? sa[0] : sb[0]);
}

/* ---- the handle shape ---- */

static int watch_closed_count;

static void on_watch_closed(void *d)
{
    ASSERT(d == &watch_closed_count);
    watch_closed_count++;
}

static int ready_count;

static void count_ready(cf_watch *w, unsigned events, void *d)
{
    (void)d;
    ASSERT(events & CF_WATCH_WRITABLE);
    ready_count++;
    ASSERT_OK(cf_watch_stop(w));
}

static void test_watch_close_callback_ref_active(void)
{
    setup();
    watch_closed_count = 0;
    ready_count = 0;
    int sv[2];
    pair(sv);
    cf_watch *w;
    ASSERT_OK(cf_watch_new(L, sv[0], &w));
    ASSERT(!cf_watch_is_active(w));
    ASSERT(cf_watch_has_ref(w));
    ASSERT(!cf_watch_is_active(NULL));
    ASSERT(!cf_watch_has_ref(NULL));
    cf_watch_ref(NULL);
    cf_watch_unref(NULL);
    /* Unref'd before the start: started, it keeps nothing alive. */
    cf_watch_unref(w);
    cf_watch_unref(w);
    ASSERT_OK(cf_watch_start(w, CF_WATCH_READABLE, never_cb, NULL));
    ASSERT(cf_watch_is_active(w));
    ASSERT(!cf_watch_has_ref(w));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT)); /* returns: nothing referenced, nothing readable */
    /* Ref'd again, on a writable socket: the loop runs until the callback stops it. */
    cf_watch_ref(w);
    ASSERT(cf_watch_has_ref(w));
    ASSERT_OK(cf_watch_start(w, CF_WATCH_WRITABLE, count_ready, NULL));
    ASSERT_OK(cf_run(L, CF_RUN_DEFAULT));
    ASSERT_EQ(ready_count, 1);
    ASSERT(!cf_watch_is_active(w));
    ASSERT(cf_watch_has_ref(w));
    /* Close: the callback runs later, from the loop; a closing watcher refuses work. */
    ASSERT_OK(cf_watch_start(w, CF_WATCH_WRITABLE, count_ready, NULL));
    ASSERT_OK(cf_watch_close(w, on_watch_closed, &watch_closed_count));
    ASSERT(!cf_watch_is_active(w));
    ASSERT_EQ(watch_closed_count, 0);
    ASSERT_EQ(cf_watch_start(w, CF_WATCH_READABLE, never_cb, NULL), CF_ECLOSED);
    ASSERT_EQ(cf_watch_close(w, on_watch_closed, &watch_closed_count), CF_ECLOSED);
    ASSERT_EQ(cf_watch_close(NULL, NULL, NULL), CF_EINVAL);
    ASSERT_EQ(cf_loop_close(L), CF_EBUSY);
    teardown(); /* runs the close phase: the callback, once; the writable fd never reported */
    ASSERT_EQ(watch_closed_count, 1);
    ASSERT_EQ(ready_count, 1);
    close(sv[0]);
    close(sv[1]);
}

/* ---- lazy io (cf__io_set_lazy: the stream's watcher) ---- */

static int lazy_calls;

static void lazy_cb(cf_loop *loop, cf__io *io, unsigned revents)
{
    (void)loop;
    (void)io;
    (void)revents;
    lazy_calls++;
}

/*
 * A lazy io stopped in full stays in the poller, so starting it again costs nothing; an event
 * nobody wants then takes it out (no callback, and no level-triggered spin); cf__io_close
 * always takes it out, so the fd number can be reused.
 */
static void test_io_lazy_stop(void)
{
    setup();
    int sv[2];
    pair(sv);
    cf__io io;
    cf__io_init(&io, sv[0], lazy_cb);
    cf__io_set_lazy(&io);
    ASSERT_OK(cf__io_start(L, &io, CF__IO_IN));
    unsigned nfds = L->nfds;
    cf__io_stop(L, &io, CF__IO_IN);
    ASSERT_EQ(io.events, 0u);
    ASSERT_EQ(io.registered, (unsigned)CF__IO_IN); /* still in the poller */
    ASSERT_EQ(L->nfds, nfds);
    ASSERT(!cf__io_active(&io, CF__IO_IN));
    ASSERT_OK(cf__io_start(L, &io, CF__IO_IN)); /* as it stands: no epoll_ctl */
    ASSERT_EQ(io.events, (unsigned)CF__IO_IN);

    /* Stopped, then data comes: the poll takes the fd out instead of calling back. */
    cf__io_stop(L, &io, CF__IO_IN);
    ASSERT_EQ(write(sv[1], "x", 1), 1);
    ASSERT_EQ(cf__poll_wait(L, 0), 1); /* a bare io keeps no loop alive: poll by hand */
    ASSERT_EQ(lazy_calls, 0);
    ASSERT_EQ(io.registered, 0u);
    ASSERT_EQ(L->nfds, nfds - 1);
    ASSERT(L->watchers[sv[0]] == NULL);

    /* Started again: added again, and the byte waiting is reported. */
    ASSERT_OK(cf__io_start(L, &io, CF__IO_IN));
    ASSERT_EQ(cf__poll_wait(L, 0), 1);
    ASSERT_EQ(lazy_calls, 1);

    /* Stopped in full, then closed: out of the poller at once. */
    cf__io_stop(L, &io, CF__IO_IN);
    ASSERT_EQ(io.registered, (unsigned)CF__IO_IN);
    cf__io_close(L, &io);
    ASSERT_EQ(io.registered, 0u);
    ASSERT(L->watchers[sv[0]] == NULL);
    ASSERT_EQ(L->nfds, nfds - 1);
    close(sv[0]);
    close(sv[1]);
    teardown();
}

int main(int argc, char **argv)
{
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_watch_readable_level_triggered);
    CF_TEST(test_watch_writable_then_readable);
    CF_TEST(test_watch_hangup);
    CF_TEST(test_watch_errors);
    CF_TEST(test_watch_close_other_in_same_batch);
    CF_TEST(test_watch_close_callback_ref_active);
    CF_TEST(test_io_lazy_stop);
    return CF_TEST_END();
}
