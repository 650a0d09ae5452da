/*
 * The loop's side of remotes (remote.c): what loop.c asks of the mailbox. Nothing here is public.
 */
#ifndef CF_CORE_REMOTE_H
#define CF_CORE_REMOTE_H

#include "calcifer/remote.h"

typedef struct cf__mailbox cf__mailbox;

/* A post in a mailbox: allocated by cf_remote_post, or embedded in the caller's object. */
typedef struct cf__post {
    struct cf__post *next;
    cf_remote_cb fn;
    void *data;
    int owned; /* allocated by cf_remote_post: freed before fn runs */
} cf__post;

/*
 * cf_remote_post with the caller's memory for the post (owned 0): it cannot fail for want of
 * memory. `p` must stay valid until fn runs. Returns 0 or CF_ECLOSED. Thread: any.
 */
int cf__remote_push(cf_remote *r, cf__post *p, cf_remote_cb fn, void *data);

/*
 * Non-zero while a keep-alive remote to `loop` is held, or posts wait to run. Thread: the
 * loop's.
 */
int cf__remote_keeps_alive(const cf_loop *loop);

/*
 * Busy polling (loop.c) spins on the mailbox too: between begin and end, posters skip the
 * eventfd write and the loop finds their posts by looking at the head. spin_check runs the
 * posts that arrived (returns 1 when it ran some), or yields the CPU when there were none (the
 * poster may be waiting for this CPU); spin_end clears
 * the flag and runs what came meanwhile (returns 1 when it ran some). Thread: the loop's.
 */
/*
 * The adaptive spin (cf_loop_set_post_spin): wait_begin, before a poll that may sleep, starts
 * measuring the wait and returns how long to spin first in us (0: sleep at once); wait_end,
 * after it, stops measuring. The mailbox takes a sample when a wait ends with its posts.
 * Thread: the loop's.
 */
unsigned cf__remote_wait_begin(cf_loop *loop);
void cf__remote_spin_missed(cf_loop *loop); /* the spin wait_begin asked for found no post */
void cf__remote_wait_end(cf_loop *loop);

void cf__remote_spin_begin(cf_loop *loop);
int cf__remote_spin_check(cf_loop *loop);
int cf__remote_spin_end(cf_loop *loop);

/*
 * From cf_loop_close: refuse posts from now on, run those that landed with CF_ECANCELED, stop
 * watching the eventfd and drop the loop's reference to the mailbox. Thread: the loop's.
 */
void cf__remote_loop_close(cf_loop *loop);

#endif /* CF_CORE_REMOTE_H */
