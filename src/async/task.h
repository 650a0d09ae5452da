/*
 * Tasks, abort signals and groups: the declarations shared by task.c, abort.c and group.c.
 * Nothing here is public.
 *
 * - Per loop, the task layer keeps a cf__task_loop in the loop's CF__SLOT_TASK slot: the
 *   list of live tasks, the spare reactions still attached to promises, the timeout signals
 *   whose timer runs, and the default stack options. Its destructor (at cf_loop_close, before
 *   the promise layer's) resumes every suspended task with CF_ECANCELED until it ends, then
 *   frees what is left.
 * - A task is a fiber plus the state of its current suspension, in one block. `refs` counts the
 *   fiber (until the task ends), each reaction attached for it and each queued wake-up
 *   microtask; the block is freed when it drops to 0.
 * - Group members report their end with cf__group_task_ended; closing a group drives its
 *   suspended members to their end with cf__task_force.
 */
#ifndef CF_ASYNC_TASK_H
#define CF_ASYNC_TASK_H

#include "async/fiber.h"
#include "async/promise.h"
#include "calcifer/abort.h"
#include "calcifer/task.h"
#include "calcifer/group.h"
#include "calcifer/timer.h"
#include "core/loop.h"
#include "util/queue.h"
#include "util/objpool.h"

typedef struct cf__task_loop {
    cf_loop *loop;
    cf_queue tasks;         /* every task not yet freed */
    cf_queue spares;        /* spare reactions attached to promises (struct spare in task.c) */
    cf_queue timeouts;      /* timeout signals whose timer is running (abort.c) */
    cf_queue sleeps;        /* promise sleeps not settled yet (cf_sleep_p) */
    cf__loop_closer closer; /* cf__loop_close_all: tasks and sleeps end with CF_ECANCELED */
    cf__objpool blocks[2];  /* task blocks: [0] dedicated stack, [1] copy-stack (image room) */
    size_t stack_size;      /* default for new tasks; 0: the fiber layer's */
    cf_stack_mode stack;
    int closing; /* the loop is closing: tasks are being finished */
} cf__task_loop;

/* The loop's task-layer state, made on first use. NULL when memory is exhausted. */
cf__task_loop *cf__task_loop_get(cf_loop *loop);

/*
 * What only some tasks need, allocated on first need: a task started with a signal (or in a
 * group) and a task that awaits with a signal. Each listener's `data` is the task.
 */
typedef struct cf__task_ext {
    cf_abort_signal *signal; /* cancels the task (one reference), or NULL */
    cf_error *cancel_err;    /* why the task was cancelled (owned), once it was */
    cf_abort_listener sig_listener;
    cf_abort_listener await_listener; /* cf_await_signal */
} cf__task_ext;

/*
 * Laid out for a million suspended tasks: the rarely used parts are in `ext`, what the task
 * returns or throws shares one slot each (a later return or throw replaces the earlier one),
 * and the fiber is the last member, its copy-stack image room right after it in the same
 * block (CF__FIBER_BLOCK), so a task and its fiber are one allocation.
 */
struct cf_task {
    uint8_t waiting;         /* suspended in an await, sleep or wait */
    uint8_t wake_set;        /* the wake-up of this suspension is decided (wake_rc, wake_err) */
    uint8_t in_micro;        /* resumed by a microtask (for the await fast path) */
    uint8_t done;            /* the function has returned */
    uint8_t react_busy;      /* `reaction` is attached to a promise */
    uint8_t ret_kind;        /* which of `ret` is set (CF__TASK_RET_*) */
    uint8_t thrown_is_value; /* `thrown` is cf_task_throw_value's value, not an error */
    uint8_t copy;            /* copy-stack: the block (with image room) is from blocks[1] */
    int wake_rc;
    int cancel_rc; /* non-zero once cancelled */
    int rc;        /* what the function returned */
    unsigned refs;
    unsigned seq;      /* suspension count */
    unsigned wake_seq; /* the suspension a queued wake-up microtask is for */
    cf_loop *loop;
    cf_async_fn fn;
    void *arg;
    cf_promise *result; /* the task's promise (one reference), or NULL */
    union {
        void *value;           /* cf_task_return, freed by ret_dtor */
        cf_promise *promise;   /* cf_task_return_promise (one reference) */
        cf_thenable *thenable; /* cf_task_return_thenable (borrowed) */
    } ret;
    void (*ret_dtor)(void *);
    union {
        cf_error *err; /* cf_task_throw (owned), or NULL */
        void *value;   /* cf_task_throw_value, when thrown_is_value */
    } thrown;
    void (*thrown_dtor)(void *);
    cf_promise *held;           /* the promise of the last await (one reference) */
    const cf_error *last_error; /* of the last failed await (borrowed) */
    const cf_error *wake_err;   /* the error that goes with wake_rc */
    cf_error *own_error;        /* an error of the last await that the task owns */
    cf_timeout *timer;          /* a sleep's, while armed */
    cf__task_ext *ext;          /* signal, cancellation error and listeners, or NULL */
    cf__reaction reaction;
    cf_group *group;
    cf_queue glink;      /* in the group's list of tasks */
    cf_queue link;       /* in cl->tasks */
    cf_task *run_parent; /* the task that resumed this one, while it runs */
    const void *site_pc; /* where cf_async was called: the place of the task's own errors */
    const void *wait_pc; /* return address of the await or sleep it is suspended in (reports) */
    cf__fiber fiber[1];  /* last: its image room follows (an array, so `fiber` is a pointer) */
};

enum { CF__TASK_RET_VALUE, CF__TASK_RET_PROMISE, CF__TASK_RET_THENABLE };

/*
 * Start a task (cf_async_ex, cf_group_spawn). `result` (may be NULL) is the promise the task
 * settles; the task takes its own reference. With `g`, the task joins the group (counted and
 * listed before it starts) and uses the group's signal. Returns 0 once the task has run to
 * its first suspension or its end, or CF_ENOMEM / the signal's code (nothing started; `result`
 * is left untouched).
 */
int cf__task_start(cf_loop *loop, cf_async_fn fn, void *arg, const cf_task_opts *opts, cf_group *g,
                   cf_promise *result);

/* Resume a suspended task with `code` until it has ended (its later awaits fail at once). */
void cf__task_force(cf_task *t, int code);

/* Non-zero when `g` has a task that is running now (on the chain of resumed tasks). */
int cf__task_chain_in_group(const cf_group *g);

/* The group's part of a task's start: list and count it (before it first runs). */
void cf__group_task_joined(cf_group *g, cf_task *t);

/* The group's part of a task's end: `err` is the rejection (borrowed), NULL on success. */
void cf__group_task_ended(cf_group *g, cf_task *t, int rc, const cf_error *err);

/* Unlink the timeout signals of a closing loop from its timers (abort.c). */
void cf__abort_loop_closing(cf__task_loop *cl);

/* cf_await on behalf of a public call whose caller is at `pc` (cf_group_wait): an abort of
 * the await names that caller's line. */
cf_result cf__await_from(cf_promise *p, const void *pc);

#endif
