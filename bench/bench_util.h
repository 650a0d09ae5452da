/*
 * What the benchmarks share: a monotonic clock in milliseconds, the process's resident
 * memory, and the bench/ folder (where the Node peers live). Header-only, `static inline` so
 * that a benchmark using only part of it builds without unused-function warnings.
 */
#ifndef CF_BENCH_UTIL_H
#define CF_BENCH_UTIL_H

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC, in milliseconds. */
static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The resident set size from /proc/self/statm, in bytes; 0 when it cannot be read. */
static inline long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    long resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* The folder holding this header, bench/ (from __FILE__), or "." when the path has none. */
static inline const char *bench_dir(void)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    return dir;
}

#endif
