/*
 * Test peers: start a real server or client program (Python's http.server, nginx, openssl,
 * curl), read what it prints, and stop it when the case ends. Every process a test starts
 * is killed and reaped by peer_stop, so no test leaves anything running.
 */
#ifndef CF_TESTS_PEER_H
#define CF_TESTS_PEER_H

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

typedef struct peer {
    pid_t pid;
    FILE *out; /* the program's stdout */
    int port;  /* from a "PORT <n>" line, when the program prints one */
} peer;

/* Every started peer, so a failing test (which exits at once) still stops them. */
static peer *peers_running_[32];

static inline void peer_kill_all_(void)
{
    for (size_t i = 0; i < sizeof peers_running_ / sizeof peers_running_[0]; i++) {
        if (peers_running_[i] && peers_running_[i]->pid > 0) {
            kill(peers_running_[i]->pid, SIGKILL);
            waitpid(peers_running_[i]->pid, NULL, 0);
            peers_running_[i]->pid = 0;
        }
    }
}

static inline void peer_track_(peer *p, int add)
{
    static int registered;
    if (!registered) {
        atexit(peer_kill_all_);
        registered = 1;
    }
    for (size_t i = 0; i < sizeof peers_running_ / sizeof peers_running_[0]; i++) {
        if (add && !peers_running_[i]) {
            peers_running_[i] = p;
            return;
        }
        if (!add && peers_running_[i] == p) {
            peers_running_[i] = NULL;
            return;
        }
    }
}

/* Start argv[0] (looked up in PATH) with its stdout on a pipe; stderr is inherited. */
static inline void peer_start(peer *p, const char *const argv[])
{
    int fds[2];
    ASSERT(pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0)
        CF_TEST_FAILF("cannot start %s: %s", argv[0], strerror(rc));
    p->out = fdopen(fds[0], "r");
    p->port = 0;
    peer_track_(p, 1);
}

/* Read lines until "PORT <n>"; fails the test if the program exits first. */
static inline int peer_wait_port(peer *p)
{
    char line[256];
    while (fgets(line, sizeof line, p->out)) {
        if (sscanf(line, "PORT %d", &p->port) == 1)
            return p->port;
    }
    CF_TEST_FAILF("peer exited before printing its port");
    return 0;
}

static inline void peer_stop(peer *p)
{
    peer_track_(p, 0);
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->out) {
        fclose(p->out);
        p->out = NULL;
    }
}

/* Run a command to completion (stdout to /dev/null unless `out`); returns its exit status. */
static inline int peer_run(const char *const argv[])
{
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
    if (rc != 0)
        return -1;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif
