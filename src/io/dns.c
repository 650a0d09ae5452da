/*
 * Name resolution on the thread pool (≈ Node's dns.lookup / dns.lookupService, libuv's
 * uv_getaddrinfo / uv_getnameinfo).
 *
 * A `dns_req` embeds the pool job. Cancellation is the lookup's abort signal, watched by the
 * pool (core/pool.h): an abort before a worker takes the job drops it (the lookup never
 * happens); after that the lookup runs to its end and its result is thrown away. Either way
 * the callback runs once, in the poll phase, with the abort error.
 */
#include "calcifer/dns.h"

#include <stdio.h>
#include <netdb.h>
#include <stdatomic.h>
#include <string.h>

#include "core/pool.h"
#include "io/internal.h"
#include "util/alloc.h"
#include "util/util.h"
#include "util/site.h"

typedef struct dns_req {
    cf__work work;
    cf_loop *loop;
    int is_name; /* getnameinfo */
    void *cb;
    void *data;
    cf_site site;        /* where the lookup was started: its error names it */
    cf_promise *promise; /* getaddrinfo_p: the promise takes the list itself */
    char *host;
    char *service;
    struct addrinfo hints;
    int has_hints;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int flags;
    /* outcome (written by the worker) */
    int eai;
    int sys_errno;
    struct addrinfo *res;
    char name_host[NI_MAXHOST];
    char name_service[NI_MAXSERV];
} dns_req;

/*
 * One CF code per EAI_* code, after libuv's uv__getaddrinfo_translate_error, with Node's names
 * where Node has one (ENOTFOUND, EAI_AGAIN as CF_EDNSAGAIN). Running out of memory and being
 * cancelled keep the library's one code for each concept. The asynchronous getaddrinfo_a
 * statuses (EAI_INPROGRESS, EAI_NOTCANCELED, EAI_ALLDONE) are never failures of the calls made
 * here and fall to CF_EUNKNOWN with any code a newer libc may add.
 */
int cf_dns_translate_error(int eai)
{
    switch (eai) {
    case 0:
        return 0;
#ifdef EAI_ADDRFAMILY /* glibc's, with _GNU_SOURCE */
    case EAI_ADDRFAMILY:
        return CF_EAI_ADDRFAMILY;
#endif
    case EAI_AGAIN:
        return CF_EDNSAGAIN;
    case EAI_BADFLAGS:
        return CF_EAI_BADFLAGS;
    case EAI_FAIL:
        return CF_EAI_FAIL;
    case EAI_FAMILY:
        return CF_EAI_FAMILY;
    case EAI_MEMORY:
        return CF_ENOMEM;
#ifdef EAI_NODATA
    case EAI_NODATA:
        return CF_EAI_NODATA;
#endif
    case EAI_NONAME:
        return CF_ENOTFOUND;
    case EAI_OVERFLOW:
        return CF_EAI_OVERFLOW;
    case EAI_SERVICE:
        return CF_EAI_SERVICE;
    case EAI_SOCKTYPE:
        return CF_EAI_SOCKTYPE;
    case EAI_SYSTEM:
        /* errno as the failed call left it; a libc that left none still failed. */
        return errno > 0 ? cf_translate_sys_error(errno) : CF_EIO;
#ifdef EAI_CANCELED
    case EAI_CANCELED:
        return CF_ECANCELED;
#endif
#ifdef EAI_INTR
    case EAI_INTR:
        return CF_EINTR;
#endif
#ifdef EAI_IDN_ENCODE
    case EAI_IDN_ENCODE:
        return CF_EAI_IDN_ENCODE;
#endif
    default:
        return CF_EUNKNOWN;
    }
}

#ifdef CF_TESTING
/*
 * Fault seam of test builds: while set, lookups answer this EAI_* code without asking the
 * resolver, so that answers no test machine gives on demand (EAI_AGAIN) can be checked.
 */
void cf__dns_fault_set(int eai);
static _Atomic int fault_eai;

void cf__dns_fault_set(int eai)
{
    atomic_store(&fault_eai, eai);
}
#endif

static void work_fn(cf__work *w)
{
    dns_req *r = CF_CONTAINER_OF(w, dns_req, work);
#ifdef CF_TESTING
    r->eai = atomic_load(&fault_eai);
    if (r->eai) {
        r->sys_errno = 0;
        return;
    }
#endif
    if (r->is_name) {
        r->eai =
            getnameinfo((struct sockaddr *)&r->addr, r->addrlen, r->name_host, sizeof r->name_host,
                        r->name_service, sizeof r->name_service, r->flags);
    } else {
        r->eai = getaddrinfo(r->host, r->service, r->has_hints ? &r->hints : NULL, &r->res);
    }
    r->sys_errno = r->eai == EAI_SYSTEM ? errno : 0;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
    }
    return 1;
}

/*
 * glibc answers EAI_NONAME ("name or service not known") where only the service can be the
 * unknown name: no host was given, or AI_NUMERICSERV was set and the service is not a number.
 * Saying ENOTFOUND (a host name) there would blame the wrong input.
 */
static int service_was_unknown(const dns_req *r)
{
    if (r->is_name || !r->service)
        return 0;
    return !r->host || ((r->hints.ai_flags & AI_NUMERICSERV) && !all_digits(r->service));
}

static int status_of(const dns_req *r)
{
    if (r->eai == EAI_SYSTEM)
        return r->sys_errno ? cf_translate_sys_error(r->sys_errno) : CF_EIO;
    if (r->eai == EAI_NONAME && service_was_unknown(r))
        return CF_EAI_SERVICE;
    return cf_dns_translate_error(r->eai);
}

/*
 * The name Node gives a code in its messages: EAI_AGAIN for the temporary failure (whose
 * library code, CF_EDNSAGAIN, is named after the concept), else the code's own name
 * (ENOTFOUND, EAI_FAIL, EAI_SERVICE, ...).
 */
static const char *node_name(int status)
{
    return status == CF_EDNSAGAIN ? "EAI_AGAIN" : cf_err_name(status);
}

/*
 * Node's words, then the inputs and what the code means: "getaddrinfo ENOTFOUND
 * example.invalid: host name not found", "getaddrinfo EAI_SERVICE localhost, service x:
 * service not available for socket type", "getnameinfo EAI_FAMILY ?: ...".
 */
static const cf_error *make_error(const dns_req *r, int status, cf_error *fb)
{
    const char *name = node_name(status);
    if (r->is_name) {
        char where[128];
        cf__io_addr_text((const struct sockaddr *)&r->addr, r->addrlen, where, sizeof where);
        return cf__io_err(fb, r->site, status, "getnameinfo %s %s", name, where);
    }
    if (!r->service)
        return cf__io_err(fb, r->site, status, "getaddrinfo %s %s", name, r->host);
    if (!r->host)
        return cf__io_err(fb, r->site, status, "getaddrinfo %s service %s", name, r->service);
    return cf__io_err(fb, r->site, status, "getaddrinfo %s %s, service %s", name, r->host,
                      r->service);
}

static void req_free(dns_req *r)
{
    if (r->res)
        freeaddrinfo(r->res);
    cf__free(r->host);
    cf__free(r->service);
    cf__free(r);
}

static void freeaddrinfo_dtor(void *p)
{
    freeaddrinfo(p);
}

static void settle_addrinfo(dns_req *r, int status, const cf_error *e);

static void done_fn(cf__work *w, int status)
{
    dns_req *r = CF_CONTAINER_OF(w, dns_req, work);
    cf_error *abort_err = NULL;
    if (status == CF_ECANCELED && cf_abort_signal_aborted(w->signal))
        abort_err = cf__work_abort_error(w, r->site);
    else if (status == 0)
        status = status_of(r);
    cf_error fb;
    const cf_error *e = abort_err ? abort_err : status < 0 ? make_error(r, status, &fb) : NULL;
    if (r->is_name) {
        cf_dns_nameinfo_cb cb = (cf_dns_nameinfo_cb)r->cb;
        cb(status, e, status ? NULL : r->name_host, status ? NULL : r->name_service, r->data);
    } else if (r->promise) {
        settle_addrinfo(r, status, e);
    } else {
        cf_dns_addrinfo_cb cb = (cf_dns_addrinfo_cb)r->cb;
        cb(status, e, status ? NULL : r->res, r->data);
    }
    if (abort_err)
        cf_error_free(abort_err);
    else
        cf__io_err_free(e, &fb);
    req_free(r);
}

static int submit(dns_req *r, cf_abort_signal *signal)
{
    int rc = cf__work_submit(r->loop, &r->work, signal, work_fn, done_fn);
    if (rc < 0) {
        req_free(r);
        return rc;
    }
    return 0;
}

static int addrinfo_start(cf_loop *loop, const char *host, const char *service,
                          const struct addrinfo *hints, cf_dns_addrinfo_cb cb, void *data,
                          cf_promise *promise, cf_abort_signal *signal, cf_site site)
{
    if (!loop || (!cb && !promise) || (!host && !service))
        return CF_EINVAL;
    dns_req *r = cf__calloc(1, sizeof *r);
    if (!r)
        return CF_ENOMEM;
    r->loop = loop;
    r->cb = (void *)cb;
    r->data = data;
    r->site = site;
    r->promise = promise;
    r->host = host ? cf__strdup(host) : NULL;
    r->service = service ? cf__strdup(service) : NULL;
    if ((host && !r->host) || (service && !r->service)) {
        req_free(r);
        return CF_ENOMEM;
    }
    r->has_hints = 1;
    if (hints) {
        r->hints.ai_flags = hints->ai_flags;
        r->hints.ai_family = hints->ai_family;
        r->hints.ai_socktype = hints->ai_socktype;
        r->hints.ai_protocol = hints->ai_protocol;
    } else {
        r->hints.ai_family = AF_UNSPEC;
        r->hints.ai_socktype = SOCK_STREAM;
        r->hints.ai_flags = AI_ADDRCONFIG;
    }
    return submit(r, signal);
}

CF__NOINLINE int cf_dns_getaddrinfo(cf_loop *loop, const char *host, const char *service,
                                    const struct addrinfo *hints, cf_abort_signal *signal,
                                    cf_dns_addrinfo_cb cb, void *data)
{
    return cf__dns_getaddrinfo_at(loop, host, service, hints, signal, cb, data, CF__SITE_CALLER());
}

int cf__dns_getaddrinfo_at(cf_loop *loop, const char *host, const char *service,
                           const struct addrinfo *hints, cf_abort_signal *signal,
                           cf_dns_addrinfo_cb cb, void *data, cf_site site)
{
    if (!cb)
        return CF_EINVAL;
    return addrinfo_start(loop, host, service, hints, cb, data, NULL, signal, site);
}

static int nameinfo_start(cf_loop *loop, const struct sockaddr *addr, socklen_t addrlen, int flags,
                          cf_dns_nameinfo_cb cb, void *data, cf_abort_signal *signal, cf_site site)
{
    if (!loop || !cb || !addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage))
        return CF_EINVAL;
    dns_req *r = cf__calloc(1, sizeof *r);
    if (!r)
        return CF_ENOMEM;
    r->loop = loop;
    r->is_name = 1;
    r->cb = (void *)cb;
    r->data = data;
    r->site = site;
    memcpy(&r->addr, addr, addrlen);
    r->addrlen = addrlen;
    r->flags = flags;
    return submit(r, signal);
}

CF__NOINLINE int cf_dns_getnameinfo(cf_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
                                    int flags, cf_abort_signal *signal, cf_dns_nameinfo_cb cb,
                                    void *data)
{
    return nameinfo_start(loop, addr, addrlen, flags, cb, data, signal, CF__SITE_CALLER());
}

/* ---- promise forms ---- */

CF__NOINLINE cf_promise *cf_dns_getaddrinfo_p(cf_loop *loop, const char *host, const char *service,
                                              const struct addrinfo *hints, cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    int rc =
        addrinfo_start(loop, host, service, hints, NULL, NULL, cf_promise_retain(p), signal, site);
    if (!host && !service)
        return cf__io_p_started(p, site, rc, "getaddrinfo: no host and no service given");
    if (!service)
        return cf__io_p_started(p, site, rc, "getaddrinfo %s", host);
    if (!host)
        return cf__io_p_started(p, site, rc, "getaddrinfo service %s", service);
    return cf__io_p_started(p, site, rc, "getaddrinfo %s, service %s", host, service);
}

/* The promise form's completion: the promise takes the addrinfo list (freeaddrinfo). */
static void settle_addrinfo(dns_req *r, int status, const cf_error *e)
{
    cf_promise *p = r->promise;
    if (status == 0) {
        struct addrinfo *res = r->res;
        r->res = NULL;
        cf_promise_resolve(p, res, freeaddrinfo_dtor);
    } else {
        cf_promise_reject(p, cf_error_copy(e));
    }
    cf_promise_release(p);
}

static void nameinfo_settle(int status, const cf_error *err, const char *host, const char *service,
                            void *data)
{
    cf_dns_name *n = NULL;
    if (status == 0) {
        n = cf__calloc(1, sizeof *n);
        if (!n) {
            status = CF_ENOMEM;
            err = NULL;
        } else {
            snprintf(n->host, sizeof n->host, "%s", host);
            snprintf(n->service, sizeof n->service, "%s", service);
        }
    }
    cf__io_settle(data, status, err, n, cf_free);
}

CF__NOINLINE cf_promise *cf_dns_getnameinfo_p(cf_loop *loop, const struct sockaddr *addr,
                                              socklen_t addrlen, int flags, cf_abort_signal *signal)
{
    cf_site site = CF__SITE_CALLER();
    cf_promise *p = cf_promise_new(loop);
    if (!p)
        return NULL;
    int rc = nameinfo_start(loop, addr, addrlen, flags, nameinfo_settle, cf_promise_retain(p),
                            signal, site);
    return cf__io_p_started(p, site, rc, "getnameinfo");
}
