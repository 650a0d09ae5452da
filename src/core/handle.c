/*
 * The handle base (core/handle.h): keep-alive accounting and close requests.
 *
 * Invariants: loop->open_handles counts the handles initialized with cf__handle_init whose
 * close_fn has not run yet; loop->active_handles equals the number of handles of the loop whose
 * flags have both ACTIVE and REF. Every transition goes through the functions below, which add or
 * remove a handle's contribution when the pair changes.
 */
#include "core/internal.h"

#include "calcifer/error.h"
#include "util/util.h"

#define COUNTED (CF__HANDLE_ACTIVE | CF__HANDLE_REF)

static inline int counted(unsigned flags)
{
    return (flags & COUNTED) == COUNTED;
}

/* Apply a new flag word and keep loop->active_handles right. */
static inline void set_flags(cf__handle *h, unsigned flags)
{
    int was = counted(h->flags);
    int now = counted(flags);
    h->flags = flags;
    if (was && !now) {
        CF_ASSERT(h->loop->active_handles > 0);
        h->loop->active_handles--;
    } else if (!was && now) {
        h->loop->active_handles++;
    }
}

void cf__handle_init_at(cf_loop *loop, cf__handle *h, const void *site)
{
    h->loop = loop;
    h->flags = CF__HANDLE_REF;
    h->close_req = NULL;
    cf_queue_init(&h->close_link);
    h->origin = site;
    cf_queue_insert_tail(&loop->all_handles, &h->all_link);
    loop->open_handles++;
}

void cf__handle_init(cf_loop *loop, cf__handle *h)
{
    /* Without the user's site, the library function that made the handle. */
    cf__handle_init_at(loop, h, __builtin_extract_return_addr(__builtin_return_address(0)));
}

void cf__handle_init_internal(cf_loop *loop, cf__handle *h)
{
    h->loop = loop;
    h->flags = CF__HANDLE_REF | CF__HANDLE_INTERNAL;
    h->close_req = NULL;
    cf_queue_init(&h->close_link);
    cf_queue_init(&h->all_link);
    h->origin = NULL;
}

void cf__handle_set_close_req(cf__handle *h, cf__close_fn req)
{
    CF_ASSERT(!cf__handle_is_closing(h));
    h->close_req = req;
}

void cf__handle_start(cf__handle *h)
{
    CF_ASSERT(!cf__handle_is_closing(h));
    set_flags(h, h->flags | CF__HANDLE_ACTIVE);
}

void cf__handle_stop(cf__handle *h)
{
    set_flags(h, h->flags & ~(unsigned)CF__HANDLE_ACTIVE);
}

void cf__handle_ref(cf__handle *h)
{
    set_flags(h, h->flags | CF__HANDLE_REF);
}

void cf__handle_unref(cf__handle *h)
{
    set_flags(h, h->flags & ~(unsigned)CF__HANDLE_REF);
}

int cf__handle_has_ref(const cf__handle *h)
{
    return (h->flags & CF__HANDLE_REF) != 0;
}

int cf__handle_close(cf__handle *h, cf__close_fn close_fn)
{
    if (cf__handle_is_closing(h))
        return CF_EINVAL;
    CF_ASSERT(close_fn);
    cf__handle_stop(h);
    h->flags |= CF__HANDLE_CLOSING;
    h->close_fn = close_fn;
    cf_queue_insert_tail(&h->loop->closing, &h->close_link);
    return 0;
}
