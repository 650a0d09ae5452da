/*
 * Stack overflow detection for fibers.
 *
 * A fiber that runs off the bottom of its stack touches the PROT_NONE guard page and gets
 * SIGSEGV. Its stack is exhausted, so the handler runs on an alternate signal stack, which
 * every thread that creates fibers gets here unless it already has one. The handler checks
 * whether the faulting address lies in the guard page of the stack the thread is running
 * on; if so it prints one line saying so and lets the fault kill the process with SIGSEGV
 * (the default action, so exit status and core dumps stay what tools expect). Any other
 * fault goes to the handler that was installed before (ASan's, the application's, or the
 * default action), so installing ours takes nothing away.
 *
 * The handler is installed once per process, the first time a fiber is created; the
 * previous action is kept in `previous`, written once before the handler can run. A handler
 * installed later by the application replaces ours, and guard-page faults then reach it.
 * A frame larger than the guard page can jump over it; such faults are not recognised.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "async/fiber_stack.h"
#include "calcifer/error.h"
#include "util/sys.h"

#define ALT_STACK_SIZE (64 * 1024)

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static struct sigaction previous;

static _Thread_local char *alt_stack; /* the alternate stack made for this thread, or NULL */

/* Append the decimal digits of `n` to `p`; returns the new end. Async-signal-safe. */
static char *put_size(char *p, size_t n)
{
    char digits[24];
    int len = 0;
    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (len)
        *p++ = digits[--len];
    return p;
}

static char *put_str(char *p, const char *s)
{
    size_t len = strlen(s);
    memcpy(p, s, len);
    return p + len;
}

static void report_overflow(size_t size)
{
    char msg[256];
    char *p = put_str(msg, "calcifer: task stack overflow (stack size ");
    p = put_size(p, size);
    p = put_str(p, " bytes); raise it with CF_STACK_SIZE or cf_async options\n");
    (void)cf__sys_write(2, msg, (size_t)(p - msg));
}

/* Restore the default action; a fault then kills the process when the instruction re-runs. */
static void fall_to_default(int sig, const siginfo_t *info)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0)
        raise(sig); /* sent by kill(): nothing will re-run */
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    const cf__stack *s = cf__fiber_running_stack();
    const char *addr = info->si_addr;
    if (s && addr >= s->map && addr < s->lo) {
        report_overflow(s->size);
        fall_to_default(sig, info);
        return;
    }
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(sig, info, uctx);
        return;
    }
    if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
        fall_to_default(sig, info);
        return;
    }
    previous.sa_handler(sig);
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    /* Read the previous action before ours can run, so the handler never sees it half set. */
    if (sigaction(SIGSEGV, NULL, &previous) != 0)
        return;
    sigaction(SIGSEGV, &sa, NULL);
}

int cf__guard_thread_init(void)
{
    pthread_once(&install_once, install_handler);
    stack_t old;
    if (sigaltstack(NULL, &old) != 0)
        return 0;
    if (!(old.ss_flags & SS_DISABLE))
        return 0; /* the thread has one already (its own, or a sanitizer's) */
    char *mem =
        mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return CF_ENOMEM;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem;
    ss.ss_size = ALT_STACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, ALT_STACK_SIZE);
        return 0;
    }
    alt_stack = mem;
    return 0;
}

void cf__guard_thread_exit(void)
{
    if (!alt_stack)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == alt_stack) {
        stack_t off;
        memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
    }
    munmap(alt_stack, ALT_STACK_SIZE);
    alt_stack = NULL;
}
