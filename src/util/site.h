/*
 * Call sites: how a public function records where its caller is, and how such a record
 * becomes a file, a line and a function (calcifer/error.h, cf_site).
 *
 * A public function that starts an operation captures CF__SITE_CALLER() in its own body: the
 * address its caller returns to, a store of one pointer. It is defined CF__NOINLINE, since an
 * inlined copy would capture the address of whatever it was inlined into. The library never
 * calls such a function itself: it calls the internal variant that takes the site (the
 * cf__*_at functions), with the user's site or CF__SITE_NONE, so no library address is ever
 * taken for the user's place. The address is resolved only when an error is made
 * (cf__site_resolve, util/site.c).
 */
#ifndef CF_UTIL_SITE_H
#define CF_UTIL_SITE_H

#include "calcifer/error.h"

/* The caller of the function this is written in (which must be CF__NOINLINE). */
#define CF__SITE_CALLER()                                                                          \
    ((cf_site){.pc = __builtin_extract_return_addr(__builtin_return_address(0))})

/* No place: errors then name the library line that made them. */
#define CF__SITE_NONE ((cf_site){0})

#define CF__NOINLINE __attribute__((noinline))

/*
 * Fill `s`'s file, line and func from its `pc` (a return address: the call is at pc - 1),
 * from the DWARF line table when there is one, else from the symbol table or dladdr (object
 * and "symbol+0xoff"), else the address itself ("0x..."). A site that already names a file,
 * or has no pc, is left as it is. The strings live as long as the process. Results are
 * cached per address. Thread: any (one mutex).
 */
void cf__site_resolve(cf_site *s);

/* Set `e`'s place to `site` (resolved) when `e` has none yet. Returns `e`. Thread: any. */
cf_error *cf__error_set_site(cf_error *e, cf_site site);

/*
 * cf_error_rethrow for a caller at `pc` (a return address, as CF__SITE_CALLER's): a copy of
 * `e` with `pc`'s place added after its earlier rethrows. The caller owns the result; NULL
 * for a NULL `e` or on OOM. Thread: any.
 */
cf_error *cf__error_rethrow_at(const cf_error *e, const void *pc);

#endif
