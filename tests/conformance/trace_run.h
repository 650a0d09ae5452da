/*
 * What the two trace drivers (test_event_order.c, test_node_rules.c) share: read a file whole,
 * and run a scenario program from a folder with its standard output and error captured and a
 * time limit (TIMEOUT_MS, then it is killed). Included by each driver's single source file.
 */
#ifndef CF_TESTS_TRACE_RUN_H
#define CF_TESTS_TRACE_RUN_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUT (1 << 20)
#define TIMEOUT_MS 60000

typedef struct buf {
    char *data;
    size_t len;
} buf;

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int read_file(const char *path, buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    out->data = malloc(MAX_OUTPUT);
    out->len = out->data ? fread(out->data, 1, MAX_OUTPUT, f) : 0;
    fclose(f);
    return out->data ? 0 : -1;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Run `path`, collect stdout and stderr. Returns the wait status, or -1 on timeout/error. */
static int run_program(const char *path, const char *dir, buf *out, buf *err)
{
    int po[2];
    int pe[2];
    if (pipe(po) < 0 || pipe(pe) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        if (chdir(dir) < 0)
            _exit(126);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    out->data = malloc(MAX_OUTPUT);
    err->data = malloc(MAX_OUTPUT);
    out->len = err->len = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    buf *bufs[2] = {out, err};
    int open_fds = 2;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    while (open_fds > 0) {
        long left = TIMEOUT_MS - elapsed_ms(&t0);
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int n = poll(fds, 2, (int)left);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2 && n > 0; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            buf *b = bufs[i];
            ssize_t r = read(fds[i].fd, b->data + b->len, MAX_OUTPUT - b->len);
            if (r > 0) {
                b->len += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            close(fds[i].fd);
            fds[i].fd = -1;
            open_fds--;
        }
    }
    if (timed_out)
        kill(pid, SIGKILL);
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return timed_out ? -1 : status;
}

#endif
