/*
 * Intrusive circular doubly-linked list (model: libuv's queue.h). A `cf_queue` is both the
 * head and the link embedded in each element; an empty head points at itself. Nothing here
 * allocates.
 */
#ifndef CF_UTIL_QUEUE_H
#define CF_UTIL_QUEUE_H

#include <stddef.h>

typedef struct cf_queue {
    struct cf_queue *next;
    struct cf_queue *prev;
} cf_queue;

#define cf_queue_data(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

static inline void cf_queue_init(cf_queue *q)
{
    q->next = q;
    q->prev = q;
}

static inline int cf_queue_empty(const cf_queue *q)
{
    return q == q->next;
}

static inline cf_queue *cf_queue_head(const cf_queue *q)
{
    return q->next;
}

/* Append `q` at the tail of list `h`. */
static inline void cf_queue_insert_tail(cf_queue *h, cf_queue *q)
{
    q->next = h;
    q->prev = h->prev;
    q->prev->next = q;
    h->prev = q;
}

static inline void cf_queue_insert_head(cf_queue *h, cf_queue *q)
{
    q->next = h->next;
    q->prev = h;
    q->next->prev = q;
    h->next = q;
}

/* Unlink `q`; it is left self-linked so a second remove is harmless. */
static inline void cf_queue_remove(cf_queue *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->next = q;
    q->prev = q;
}

/* Move every element of `h` to the (empty) list `n`, leaving `h` empty. */
static inline void cf_queue_move(cf_queue *h, cf_queue *n)
{
    if (cf_queue_empty(h)) {
        cf_queue_init(n);
        return;
    }
    n->next = h->next;
    n->prev = h->prev;
    n->next->prev = n;
    n->prev->next = n;
    cf_queue_init(h);
}

#define cf_queue_foreach(q, h) for ((q) = (h)->next; (q) != (h); (q) = (q)->next)

#endif
