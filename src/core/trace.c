/*
 * Trace export (calcifer/trace.h): a ring buffer of events, written as Chrome Trace Event JSON.
 *
 * The ring holds `mask + 1` fixed-size events (a power of two); `head` counts every event
 * ever recorded and the newest overwrites the oldest, so memory is fixed when tracing starts.
 * Only the loop thread writes it: worker spans are recorded by the loop when it takes the
 * completion, from the times the worker stored in the job (core/pool.h).
 *
 * Every span is one complete event ("X", a begin and a duration), never a B/E pair, so a ring
 * that dropped its oldest events still holds only whole spans. The writer sorts the events by
 * track and time (spans are recorded when they end, which is out of order), drops the flows
 * whose start or finish has been overwritten, and resolves the code addresses to names once
 * per distinct address. The file is rewritten whole at each flush, always one JSON document.
 *
 * Process-wide state (the one exception to "no globals" here, both set once): the SIGUSR2
 * flush counter a signal handler bumps, and the loop traced through CALCIFER_TRACE, flushed
 * at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calcifer/error.h"
#include "calcifer/trace.h"
#include "util/alloc.h"
#include "util/util.h"

typedef struct tev {
    uint64_t ts;      /* ns, monotonic */
    uint64_t val;     /* X: duration (ns); C: value; s/t/f: flow id */
    const void *addr; /* the code that ran (named at flush), or NULL */
    const void *site; /* return address of the call that created it, or NULL */
    const char *name; /* static name (phases, counters), or NULL */
    uint16_t tid;     /* 0: the loop; k: pool worker k-1 */
    char ph;          /* 'X', 'C', 's', 't', 'f' */
    uint8_t kind;     /* CF__OBS_* kind of a callback span, 0xff otherwise */
} tev;

struct cf__trace {
    tev *ring;
    size_t mask;
    uint64_t head;
    uint64_t origin; /* ns: ts 0 of the file */
    char *path;
    int write_failed; /* reported once */
    unsigned flush_seen;
};

/*
 * Bumped by the handler (on whichever thread the signal lands) and read by every traced loop
 * on its own thread: a lock-free atomic, which a handler may use, where a volatile
 * sig_atomic_t would be a data race between threads.
 */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the SIGUSR2 flush counter needs a lock-free int");
static atomic_uint flush_requests;
static cf_loop *_Atomic env_loop;

static void on_sigusr2(int sig)
{
    (void)sig;
    atomic_fetch_add_explicit(&flush_requests, 1, memory_order_relaxed);
}

/* Flush on SIGUSR2, unless the program has a handler of its own for it. */
static void install_signal(void)
{
    struct sigaction old;
    if (sigaction(SIGUSR2, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr2;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGUSR2, &sa, NULL);
}

int cf__trace_on(const cf_loop *loop)
{
    return loop->obs.trace != NULL;
}

int cf_trace_active(const cf_loop *loop)
{
    return loop && loop->obs.trace != NULL;
}

void cf__trace_event(cf_loop *loop, char ph, int tid, uint64_t ts, uint64_t val, const void *addr,
                     const char *name)
{
    struct cf__trace *t = loop->obs.trace;
    tev *e = &t->ring[t->head++ & t->mask];
    e->ts = ts;
    e->val = val;
    e->addr = addr;
    e->site = NULL;
    e->name = name;
    e->tid = (uint16_t)tid;
    e->ph = ph;
    e->kind = 0xff;
}

void cf__trace_callback(cf_loop *loop, uint64_t ts, uint64_t dur, int kind, const void *fn,
                        const void *site)
{
    struct cf__trace *t = loop->obs.trace;
    tev *e = &t->ring[t->head++ & t->mask];
    e->ts = ts;
    e->val = dur;
    e->addr = fn;
    e->site = site;
    e->name = NULL;
    e->tid = 0;
    e->ph = 'X';
    e->kind = (uint8_t)kind;
}

/* Create (truncate) the file with an empty trace: a path that cannot be written fails now. */
static int touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cf_translate_sys_error(errno);
    fputs("{\"traceEvents\":[]}\n", f);
    if (fclose(f) != 0)
        return cf_translate_sys_error(errno);
    return 0;
}

int cf_trace_start(cf_loop *loop, const char *path, size_t max_events)
{
    if (!loop || !path || !*path || max_events > CF_TRACE_EVENTS_MAX)
        return CF_EINVAL;
    if (loop->obs.trace)
        (void)cf_trace_stop(loop);
    int rc = touch(path);
    if (rc < 0) {
        fprintf(stderr, "calcifer: cannot write trace '%s': %s; running without a trace\n", path,
                cf_strerror(rc));
        return rc;
    }
    size_t cap = 64;
    while (cap < (max_events ? max_events : CF_TRACE_EVENTS_DEFAULT)) {
        cap *= 2;
    }
    struct cf__trace *t = cf__calloc(1, sizeof(*t));
    if (!t)
        return CF_ENOMEM;
    t->ring = cf__calloc(cap, sizeof(tev));
    t->path = cf__strdup(path);
    if (!t->ring || !t->path) {
        cf__free(t->ring);
        cf__free(t->path);
        cf__free(t);
        return CF_ENOMEM;
    }
    t->mask = cap - 1;
    t->origin = cf__obs_now_ns();
    t->flush_seen = atomic_load_explicit(&flush_requests, memory_order_relaxed);
    loop->obs.trace = t;
    install_signal();
    rc = cf__obs_refresh(loop);
    if (rc < 0)
        cf__trace_close(loop);
    return rc;
}

/* ---- writing ---- */

static int ev_cmp(const void *pa, const void *pb)
{
    const tev *a = pa;
    const tev *b = pb;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    int ax = a->ph == 'X';
    int bx = b->ph == 'X';
    if (ax != bx)
        return ax ? -1 : 1; /* a span before the flow or counter that sits at its start */
    if (ax && a->val != b->val)
        return a->val > b->val ? -1 : 1; /* the enclosing span first */
    return 0;
}

static int u64_cmp(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa;
    uint64_t b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

static int has_id(const uint64_t *ids, size_t n, uint64_t id)
{
    return bsearch(&id, ids, n, sizeof(*ids), u64_cmp) != NULL;
}

/* The names of code addresses, resolved once each. */
typedef struct name_map {
    const void **addr;
    char **name;
    size_t n;
    size_t cap;
} name_map;

static const char *name_of(name_map *m, const void *addr, int site)
{
    const void *key = site ? (const char *)addr + 1 : addr; /* keep sites apart from functions */
    for (size_t i = 0; i < m->n; i++) {
        if (m->addr[i] == key)
            return m->name[i];
    }
    char buf[256];
    cf__obs_name(addr, site, buf, sizeof(buf));
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        const void **a = cf__realloc(m->addr, cap * sizeof(*a));
        if (!a)
            return "?";
        m->addr = a;
        char **nm = cf__realloc(m->name, cap * sizeof(*nm));
        if (!nm)
            return "?";
        m->name = nm;
        m->cap = cap;
    }
    char *copy = cf__strdup(buf);
    if (!copy)
        return "?";
    m->addr[m->n] = key;
    m->name[m->n++] = copy;
    return copy;
}

static void name_map_free(name_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        cf__free(m->name[i]);
    }
    cf__free(m->addr);
    cf__free(m->name);
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_ts(FILE *f, const char *key, uint64_t ns)
{
    fprintf(f, ",\"%s\":%" PRIu64 ".%03u", key, ns / 1000u, (unsigned)(ns % 1000u));
}

static int track(const tev *e)
{
    return e->tid == 0 ? 1 : 100 + e->tid;
}

static void put_event(FILE *f, const tev *e, uint64_t origin, name_map *names, int pid)
{
    const char *name = e->name ? e->name : e->addr ? name_of(names, e->addr, 0) : "?";
    fprintf(f, ",\n{\"ph\":\"%c\",\"pid\":%d,\"tid\":%d,\"name\":", e->ph, pid, track(e));
    put_json_string(f, e->ph == 's' || e->ph == 't' || e->ph == 'f' ? "pool job" : name);
    put_ts(f, "ts", e->ts > origin ? e->ts - origin : 0);
    switch (e->ph) {
    case 'X':
        put_ts(f, "dur", e->val);
        fprintf(f, ",\"cat\":\"%s\"", e->name ? "loop" : e->tid ? "pool" : "callback");
        if (e->kind != 0xff) {
            fprintf(f, ",\"args\":{\"kind\":\"%s\",\"created at\":", cf__obs_kind_name(e->kind));
            put_json_string(f, e->site ? name_of(names, e->site, 1) : "");
            fputc('}', f);
        }
        break;
    case 'C':
        fprintf(f, ",\"cat\":\"loop\",\"args\":{\"value\":%" PRIu64 "}", e->val);
        break;
    default:
        fprintf(f, ",\"cat\":\"pool\",\"id\":\"0x%" PRIx64 "\"", e->val);
        if (e->ph != 's')
            fputs(",\"bp\":\"e\"", f);
        fputs(",\"args\":{\"work\":", f);
        put_json_string(f, e->addr ? name_of(names, e->addr, 0) : "?");
        fputc('}', f);
        break;
    }
    fputc('}', f);
}

static void put_metadata(FILE *f, const tev *ev, size_t n, int pid)
{
    fprintf(f,
            "{\"ph\":\"M\",\"pid\":%d,\"tid\":1,\"name\":\"process_name\","
            "\"args\":{\"name\":\"calcifer\"}}",
            pid);
    fprintf(f,
            ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":1,\"name\":\"thread_name\","
            "\"args\":{\"name\":\"loop\"}}",
            pid);
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].tid != last) {
            last = ev[i].tid;
            fprintf(f,
                    ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\","
                    "\"args\":{\"name\":\"pool worker %d\"}}",
                    pid, track(&ev[i]), last - 1);
        }
    }
}

/* The ids of the flows whose start and finish are both in `ev` (sorted), or NULL. */
static uint64_t *complete_flows(const tev *ev, size_t n, size_t *count)
{
    uint64_t *s = cf__malloc((n + 1) * sizeof(*s));
    uint64_t *fin = cf__malloc((n + 1) * sizeof(*fin));
    size_t ns = 0;
    size_t nf = 0;
    if (!s || !fin) {
        cf__free(s);
        cf__free(fin);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (ev[i].ph == 's')
            s[ns++] = ev[i].val;
        else if (ev[i].ph == 'f')
            fin[nf++] = ev[i].val;
    }
    qsort(fin, nf, sizeof(*fin), u64_cmp);
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        if (has_id(fin, nf, s[i]))
            s[k++] = s[i];
    }
    qsort(s, k, sizeof(*s), u64_cmp);
    cf__free(fin);
    *count = k;
    return s;
}

static int write_events(FILE *f, const struct cf__trace *t, tev *ev, size_t n)
{
    size_t nflows = 0;
    uint64_t *flows = complete_flows(ev, n, &nflows);
    if (!flows)
        return CF_ENOMEM;
    int pid = (int)getpid();
    name_map names = {0};
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", f);
    put_metadata(f, ev, n, pid);
    for (size_t i = 0; i < n; i++) {
        int flow = ev[i].ph == 's' || ev[i].ph == 't' || ev[i].ph == 'f';
        if (flow && !has_id(flows, nflows, ev[i].val))
            continue;
        put_event(f, &ev[i], t->origin, &names, pid);
    }
    uint64_t dropped = t->head > n ? t->head - n : 0;
    fprintf(f,
            "\n],\"otherData\":{\"ring_events\":%zu,\"recorded\":%" PRIu64 ",\"dropped\":%" PRIu64
            "}}\n",
            (size_t)(t->mask + 1), t->head, dropped);
    name_map_free(&names);
    cf__free(flows);
    return 0;
}

int cf_trace_flush(cf_loop *loop)
{
    if (!loop || !loop->obs.trace)
        return CF_EINVAL;
    struct cf__trace *t = loop->obs.trace;
    size_t cap = t->mask + 1;
    size_t n = t->head < cap ? (size_t)t->head : cap;
    tev *ev = cf__malloc((n ? n : 1) * sizeof(*ev));
    if (!ev)
        return CF_ENOMEM;
    uint64_t first = t->head - n;
    for (size_t i = 0; i < n; i++) {
        ev[i] = t->ring[(first + i) & t->mask];
    }
    qsort(ev, n, sizeof(*ev), ev_cmp);
    int rc = 0;
    FILE *f = fopen(t->path, "w");
    if (!f) {
        rc = cf_translate_sys_error(errno);
    } else {
        rc = write_events(f, t, ev, n);
        if (fclose(f) != 0 && rc == 0)
            rc = cf_translate_sys_error(errno);
    }
    cf__free(ev);
    if (rc < 0 && !t->write_failed) {
        t->write_failed = 1;
        fprintf(stderr, "calcifer: cannot write trace '%s': %s\n", t->path, cf_strerror(rc));
    }
    return rc;
}

void cf__trace_close(cf_loop *loop)
{
    struct cf__trace *t = loop->obs.trace;
    if (!t)
        return;
    cf_loop *self = loop;
    atomic_compare_exchange_strong(&env_loop, &self, NULL);
    cf__free(t->ring);
    cf__free(t->path);
    cf__free(t);
    loop->obs.trace = NULL;
    (void)cf__obs_refresh(loop);
}

int cf_trace_stop(cf_loop *loop)
{
    if (!loop || !loop->obs.trace)
        return CF_EINVAL;
    int rc = cf_trace_flush(loop);
    cf__trace_close(loop);
    return rc;
}

void cf__trace_iteration(cf_loop *loop)
{
    struct cf__trace *t = loop->obs.trace;
    unsigned seen = atomic_load_explicit(&flush_requests, memory_order_relaxed);
    if (CF_UNLIKELY(seen != t->flush_seen)) {
        t->flush_seen = seen;
        (void)cf_trace_flush(loop);
    }
}

/* ---- CALCIFER_TRACE ---- */

static void flush_at_exit(void)
{
    cf_loop *loop = atomic_exchange(&env_loop, NULL);
    if (loop && cf__loop_is_loop_thread(loop) && loop->obs.trace)
        (void)cf_trace_flush(loop);
}

void cf__trace_env(cf_loop *loop)
{
    static atomic_int claimed;
    const char *path = getenv("CALCIFER_TRACE");
    if (!path || !*path || atomic_exchange(&claimed, 1))
        return;
    size_t events = 0;
    const char *s = getenv("CALCIFER_TRACE_EVENTS");
    if (s && *s)
        events = (size_t)strtoull(s, NULL, 10);
    if (events > CF_TRACE_EVENTS_MAX)
        events = CF_TRACE_EVENTS_MAX;
    if (cf_trace_start(loop, path, events) < 0)
        return;
    atomic_store(&env_loop, loop);
    atexit(flush_at_exit);
}
