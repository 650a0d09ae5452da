/*
 * Calcifer: name resolution (≈ Node's `dns.lookup` and `dns.lookupService`).
 *
 * getaddrinfo(3) and getnameinfo(3) run on the thread pool; results come back on the loop
 * thread in the poll phase.
 *
 * Cancelling: every lookup takes a `cf_abort_signal *signal` (NULL: none) right before its
 * callback, or last in the promise form (≈ an AbortSignal). An aborted lookup fails with
 * CF_ECANCELED, "The operation was aborted", whose cause (cf_error_cause) is the signal's
 * reason and whose place is the line that started it. A signal already aborted: the lookup
 * does not start; the callback runs from the loop (the promise rejects). Aborted before a
 * pool thread takes it: it is removed from the queue and never runs. Aborted while it runs:
 * getaddrinfo(3) cannot be interrupted, so it finishes and its result is dropped; the
 * callback reports the abort. After the callback the signal is ignored (the lookup keeps a
 * reference to it only until then).
 *
 * Callback convention (docs/conventions.md): `int status` and `const cf_error *err` (NULL on
 * success), borrowed until the callback returns. The message gives Node's words with Node's
 * code names (ENOTFOUND, EAI_AGAIN for CF_EDNSAGAIN, EAI_FAIL, EAI_SERVICE, ...), the names
 * looked up and what the code means: "getaddrinfo ENOTFOUND example.invalid: host name not
 * found", "getaddrinfo EAI_AGAIN example.com: temporary failure in name resolution",
 * "getaddrinfo EAI_SERVICE localhost, service x: service not available for socket type".
 *
 * Every EAI_* code has its own CF code (cf_dns_translate_error): an unknown host name is
 * CF_ENOTFOUND, an unknown service name CF_EAI_SERVICE, never the same code.
 */
#ifndef CALCIFER_DNS_H
#define CALCIFER_DNS_H

#include <sys/socket.h>

#include "calcifer/abort.h"
#include "calcifer/common.h"
#include "calcifer/error.h"
#include "calcifer/loop.h"
#include "calcifer/promise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---- */

/* libc's address list (<netdb.h>); include <netdb.h> to read its fields. */
struct addrinfo;

/* Sizes of cf_dns_name's fields (glibc's NI_MAXHOST and NI_MAXSERV). */
#define CF_DNS_MAXHOST 1025
#define CF_DNS_MAXSERV 32

/* The value of cf_dns_getnameinfo_p: the host and service names. */
typedef struct cf_dns_name {
    char host[CF_DNS_MAXHOST];
    char service[CF_DNS_MAXSERV];
} cf_dns_name;

/* ---- callback types ---- */

/* getaddrinfo result: `res` is the addrinfo list, borrowed until the callback returns. */
typedef void (*cf_dns_addrinfo_cb)(int status, const cf_error *err, const struct addrinfo *res,
                                   void *data);
/* getnameinfo result: `host` and `service` are borrowed until the callback returns. */
typedef void (*cf_dns_nameinfo_cb)(int status, const cf_error *err, const char *host,
                                   const char *service, void *data);

/* ---- lookups ---- */

/*
 * Resolve `host` and/or `service` (≈ dns.lookup(host, {all: true})). `hints` may be NULL (any
 * family, SOCK_STREAM, AI_ADDRCONFIG). A service name is looked up in the services database
 * (/etc/services, which a minimal system may lack); a port number needs none. Errors reported
 * to `cb`: CF_ENOTFOUND (no such host), CF_EAI_SERVICE (no such service for the socket type,
 * also a name where AI_NUMERICSERV wants a number), CF_EAI_NODATA, CF_EAI_ADDRFAMILY (no
 * address of the family asked for), CF_EDNSAGAIN (temporary failure), CF_EAI_FAIL,
 * CF_EAI_BADFLAGS / CF_EAI_FAMILY / CF_EAI_SOCKTYPE (bad hints), CF_EAI_IDN_ENCODE,
 * CF_ECANCELED (the signal aborted), CF_ENOMEM, -errno (EAI_SYSTEM).
 * Returns 0, CF_EINVAL (both names NULL, NULL callback), CF_ENOMEM. Ownership: `host`,
 * `service` and `hints` copied; `signal` borrowed (the lookup keeps a reference until its
 * callback returns). Thread: loop only.
 */
CF_EXTERN int cf_dns_getaddrinfo(cf_loop *loop, const char *host, const char *service,
                                 const struct addrinfo *hints, cf_abort_signal *signal,
                                 cf_dns_addrinfo_cb cb, void *data);
/*
 * Promise form: fulfils with the `struct addrinfo *` list, owned by the promise (freed with
 * freeaddrinfo). Errors reject, as above.
 */
CF_EXTERN cf_promise *cf_dns_getaddrinfo_p(cf_loop *loop, const char *host, const char *service,
                                           const struct addrinfo *hints, cf_abort_signal *signal);

/*
 * Turn an address into a host and service name (≈ dns.lookupService). `flags` are NI_*
 * flags (NI_NUMERICHOST, NI_NAMEREQD, ...). Errors: CF_ENOTFOUND, CF_EDNSAGAIN, CF_EAI_FAMILY
 * (an address family the resolver does not know), CF_EAI_FAIL, CF_EAI_OVERFLOW, CF_ECANCELED
 * (the signal aborted), CF_ENOMEM, -errno. Returns 0, CF_EINVAL (NULL or oversized address,
 * NULL callback), CF_ENOMEM. Ownership: `addr` copied; `signal` borrowed (a reference is kept
 * until the callback returns). Thread: loop only.
 */
CF_EXTERN int cf_dns_getnameinfo(cf_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
                                 int flags, cf_abort_signal *signal, cf_dns_nameinfo_cb cb,
                                 void *data);
/* Promise form: fulfils with a `cf_dns_name *` the promise owns. */
CF_EXTERN cf_promise *cf_dns_getnameinfo_p(cf_loop *loop, const struct sockaddr *addr,
                                           socklen_t addrlen, int flags, cf_abort_signal *signal);

/*
 * A getaddrinfo/getnameinfo EAI_* code as a CF_E* code, one code for each (after libuv):
 * EAI_ADDRFAMILY → CF_EAI_ADDRFAMILY, EAI_AGAIN → CF_EDNSAGAIN, EAI_BADFLAGS → CF_EAI_BADFLAGS,
 * EAI_FAIL → CF_EAI_FAIL, EAI_FAMILY → CF_EAI_FAMILY, EAI_MEMORY → CF_ENOMEM, EAI_NODATA →
 * CF_EAI_NODATA, EAI_NONAME → CF_ENOTFOUND, EAI_OVERFLOW → CF_EAI_OVERFLOW, EAI_SERVICE →
 * CF_EAI_SERVICE, EAI_SOCKTYPE → CF_EAI_SOCKTYPE, EAI_SYSTEM → -errno (as the failed call left
 * it; CF_EIO when none), EAI_CANCELED → CF_ECANCELED, EAI_INTR → CF_EINTR, EAI_IDN_ENCODE →
 * CF_EAI_IDN_ENCODE, 0 → 0, anything else → CF_EUNKNOWN. Thread: any.
 */
CF_EXTERN int cf_dns_translate_error(int eai);

/*
 * The lookups record their caller's place (calcifer/error.h, cf_site), so the error they report
 * later names the line that started the lookup.
 */

#ifdef __cplusplus
}
#endif

#endif /* CALCIFER_DNS_H */
