/*
 * Resolving call sites: a code address in a user's program becomes the file, line and
 * function of the call (util/site.h says how the addresses are captured).
 *
 * Resolution runs only when an error is made, never when an operation starts, and each
 * address is resolved once: a hash table maps the address to its place. The first resolution
 * reports the process's modules to elfutils' libdwfl (from /proc/self/maps); a module's DWARF
 * is read the first time one of its addresses is asked for. An address outside every reported
 * module (a library loaded since) reports the modules again, once per such address.
 *
 * Order of sources, from best to least: the DWARF line table (file, line) and the innermost
 * function or inlined call containing the address (the caller's own name, even when inlined);
 * the object's symbol table (symbol+offset, object path); dladdr (the same from the dynamic
 * symbols); the address itself.
 *
 * Storage: entries and their strings live until the process ends (the strings are the
 * "static" strings of cf_site and cf_error). They are carved out of pages mapped for the
 * purpose, not taken from the library's counting allocator: they are not any loop's memory,
 * and a test's count of live blocks must not see a cache that outlives it. This table, the
 * Dwfl session and the mutex are the one piece of process-wide state of the error module;
 * they hold facts about the program's code, which never change while it runs.
 *
 * Separate debug files are not searched (only the DWARF inside each object): the standard
 * search may ask a debuginfod server over the network, which an error path must never do.
 */
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/site.h"

#define SITE_BUCKETS 1024        /* power of two */
#define ARENA_CHUNK  (64 * 1024) /* bytes mapped at a time */

/* The stack of the thread that resolves an address: libdw needs a deep one. */
#define RESOLVE_STACK (8 * 1024 * 1024)

typedef struct site_entry {
    struct site_entry *next;
    cf_site site; /* site.pc is the key */
} site_entry;

static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
static site_entry *buckets[SITE_BUCKETS];
static char *arena;       /* the free part of the current chunk */
static size_t arena_left; /* its size */
static Dwfl *dwfl;        /* NULL until the first resolution, or when libdwfl failed */
static int dwfl_tried;

/* ---- storage: never freed ---- */

static void *arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > arena_left) {
        size_t chunk = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        void *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        arena = p;
        arena_left = chunk;
    }
    void *out = arena;
    arena += size;
    arena_left -= size;
    return out;
}

static const char *arena_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = arena_alloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* ---- libdwfl ---- */

/* Only the DWARF inside each object (see the opening comment): no separate debug file. */
static int find_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                             Dwarf_Addr base, const char *file_name, const char *debuglink_file,
                             GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    (void)mod;
    (void)userdata;
    (void)modname;
    (void)base;
    (void)file_name;
    (void)debuglink_file;
    (void)debuglink_crc;
    (void)debuginfo_file_name;
    return -1;
}

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_no_debuginfo,
};

/* (Re)report the process's modules. Returns 0 or -1. */
static int report_modules(void)
{
    dwfl_report_begin(dwfl);
    int rc = dwfl_linux_proc_report(dwfl, getpid());
    if (dwfl_report_end(dwfl, NULL, NULL) != 0 || rc != 0)
        return -1;
    return 0;
}

/* The module holding `addr`, reporting the modules again once when none does. */
static Dwfl_Module *module_of(Dwarf_Addr addr)
{
    if (!dwfl && !dwfl_tried) {
        dwfl_tried = 1;
        dwfl = dwfl_begin(&dwfl_callbacks);
        if (dwfl && report_modules() != 0) {
            dwfl_end(dwfl);
            dwfl = NULL;
        }
    }
    if (!dwfl)
        return NULL;
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    if (!mod && report_modules() == 0)
        mod = dwfl_addrmodule(dwfl, addr);
    return mod;
}

/* libdwfl's state (modules, their DWARF, its search trees) goes at exit, so that leak checkers
 * see none of it. A resolution after this falls back to dladdr. */
__attribute__((destructor)) static void site_release(void)
{
    pthread_mutex_lock(&site_lock);
    if (dwfl) {
        dwfl_end(dwfl);
        dwfl = NULL;
    }
    pthread_mutex_unlock(&site_lock);
}

/* The name of a subprogram or inlined call DIE, following its abstract origin. */
static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    if (!dwarf_attr_integrate(die, DW_AT_name, &attr))
        return NULL;
    return dwarf_formstring(&attr);
}

/*
 * The innermost function containing `pc` among `parent`'s descendants: an inlined call's
 * name when the call was inlined (what __func__ said in the caller's code), else the
 * enclosing function's. `best` is the name found so far. Walked without allocating.
 */
static const char *innermost_function(Dwarf_Die *parent, Dwarf_Addr pc, const char *best)
{
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0)
        return best;
    do {
        int tag = dwarf_tag(&child);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine &&
            tag != DW_TAG_lexical_block)
            continue;
        if (dwarf_haspc(&child, pc) <= 0)
            continue;
        const char *name = tag == DW_TAG_lexical_block ? NULL : die_name(&child);
        return innermost_function(&child, pc, name ? name : best);
    } while (dwarf_siblingof(&child, &child) == 0);
    return best;
}

/* File, line and function from the DWARF of `mod`. Returns 1 when the line is known. */
static int from_dwarf(Dwfl_Module *mod, Dwarf_Addr addr, cf_site *s)
{
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (!file || lineno <= 0)
        return 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    const char *func = cu ? innermost_function(cu, addr - bias, NULL) : NULL;
    if (!func)
        func = dwfl_module_addrname(mod, addr);
    s->file = arena_strdup(file);
    s->line = lineno;
    s->func = arena_strdup(func ? func : "?");
    return s->file && s->func;
}

/* "name+0xoff" for `pc`, in the arena. */
static const char *symbol_plus(const char *name, uintptr_t off)
{
    char text[256];
    (void)snprintf(text, sizeof text, "%s+0x%" PRIxPTR, name, off);
    return arena_strdup(text);
}

/* The symbol and object from the symbol table of `mod`. Returns 1 when a symbol was found. */
static int from_symtab(Dwfl_Module *mod, Dwarf_Addr addr, uintptr_t pc, cf_site *s)
{
    GElf_Off off = 0;
    GElf_Sym sym;
    const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    const char *object = NULL;
    (void)dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &object, NULL);
    if (!name || !object)
        return 0;
    s->file = arena_strdup(object);
    s->func = symbol_plus(name, (uintptr_t)off + (pc - (uintptr_t)addr));
    return s->file && s->func;
}

/* The dynamic symbol and object from dladdr, else the address alone. */
static void from_dladdr(uintptr_t pc, cf_site *s)
{
    Dl_info info;
    memset(&info, 0, sizeof info);
    if (dladdr((void *)(pc - 1), &info) && info.dli_fname)
        s->file = arena_strdup(info.dli_fname);
    if (info.dli_sname && info.dli_saddr)
        s->func = symbol_plus(info.dli_sname, pc - (uintptr_t)info.dli_saddr);
    if (!s->func) {
        char text[32];
        (void)snprintf(text, sizeof text, "0x%" PRIxPTR, pc);
        s->func = arena_strdup(text);
    }
    if (!s->file)
        s->file = "??";
}

/* Resolve `pc` from scratch (under the lock). */
static void resolve_uncached(const void *pc, cf_site *s)
{
    uintptr_t ret = (uintptr_t)pc;
    Dwarf_Addr addr = (Dwarf_Addr)(ret - 1); /* inside the call instruction */
    Dwfl_Module *mod = module_of(addr);
    *s = (cf_site){.pc = pc};
    if (mod && from_dwarf(mod, addr, s))
        return;
    *s = (cf_site){.pc = pc};
    if (mod && from_symtab(mod, addr, ret, s))
        return;
    *s = (cf_site){.pc = pc};
    from_dladdr(ret, s);
}

typedef struct resolve_job {
    const void *pc;
    cf_site site;
} resolve_job;

static void *resolve_thread(void *arg)
{
    resolve_job *j = arg;
    resolve_uncached(j->pc, &j->site);
    return NULL;
}

/*
 * Resolve `pc` on a thread of its own (under the lock), and wait for it. An error made inside
 * a task is resolved on the task's stack (64 KiB by default), and libdw's line-table reader
 * needs more than that (it keeps arrays of thousands of lines on the stack): the first error
 * of a task in a compilation unit overflowed it. A thread with RESOLVE_STACK bytes costs a
 * few tens of microseconds once per distinct address, on an error path. When no thread can
 * be started, dladdr alone (a few hundred bytes of stack) names the place.
 */
static void resolve_on_big_stack(const void *pc, cf_site *s)
{
    resolve_job j = {.pc = pc};
    pthread_attr_t attr;
    pthread_t t;
    int started = 0;
    if (pthread_attr_init(&attr) == 0) {
        (void)pthread_attr_setstacksize(&attr, RESOLVE_STACK);
        started = pthread_create(&t, &attr, resolve_thread, &j) == 0;
        (void)pthread_attr_destroy(&attr);
    }
    if (started && pthread_join(t, NULL) == 0) {
        *s = j.site;
        return;
    }
    *s = (cf_site){.pc = pc};
    from_dladdr((uintptr_t)pc, s);
}

void cf__site_resolve(cf_site *s)
{
    if (!s || s->file || !s->pc)
        return;
    size_t h = ((uintptr_t)s->pc >> 2) * 2654435761u & (SITE_BUCKETS - 1);
    (void)pthread_mutex_lock(&site_lock);
    site_entry *e = buckets[h];
    while (e && e->site.pc != s->pc) {
        e = e->next;
    }
    if (!e) {
        cf_site found;
        resolve_on_big_stack(s->pc, &found);
        e = arena_alloc(sizeof *e);
        if (e) {
            e->site = found;
            e->next = buckets[h];
            buckets[h] = e;
        }
    }
    if (e) {
        s->file = e->site.file;
        s->line = e->site.line;
        s->func = e->site.func;
    }
    (void)pthread_mutex_unlock(&site_lock);
}
