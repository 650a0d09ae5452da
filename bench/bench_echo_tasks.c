/*
 * TCP echo over loopback, one task per connection, Calcifer against Node in one run.
 *
 *   bench_echo_tasks [-c CONNECTIONS] [-d SECONDS] [-r RUNS] [-n iter|data]
 *
 * (10,000 connections, 5 seconds, 3 runs by default; -n picks the Node peer's form.)
 *
 * The server is a child process on 127.0.0.1: this program re-run with `--server` (a task per
 * accepted connection, started with cf_async, default settings, that awaits cf_tcp_read_p and
 * then cf_tcp_write_p of the same bytes until the end of the stream), or Node 20 running
 * bench/peers/echo_tasks.js (an async function per connection: `for await (const chunk of
 * socket)` and a write that awaits 'drain' when write() returns false). The client is this
 * process: a plain epoll loop, no Calcifer, so that it weighs the same on both servers. It
 * opens CONNECTIONS connections (256 at a time, each proven by one echo), then each does
 * ping-pong of a 64-byte message for SECONDS; then the connections sit idle while the
 * server's memory is read, and the client ends them (the servers see the end of the stream).
 * The server runs on CPU 1 and the client on CPU 0 (sched_setaffinity) when there are two.
 *
 * Each process opens one descriptor per connection, so the server is a child: each process
 * has its own RLIMIT_NOFILE, raised to the hard limit here (and inherited by the child).
 *
 * Prints `name calcifer node ratio` (ratio above 1: Calcifer is better), medians of the runs:
 *
 *   echo_<n>_rps            round trips per second over all connections
 *   echo_<n>_cpu_us_per_rt  the server process's CPU time (user + system, every thread, from
 *                           /proc/PID/stat) per round trip, in microseconds
 *   echo_<n>_B_per_conn     the server's resident memory with every connection open and idle
 *                           after the run, minus before the first connection, per connection
 *                           (Node: after a full GC; as it stood before the GC in a comment)
 *
 * then each run's figures and the CPU use of server and client as comment lines (a client
 * near 100% means the client, not the server, set the pace).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/loop.h"
#include "calcifer/promise.h"
#include "calcifer/signal.h"
#include "calcifer/task.h"
#include "calcifer/tcp.h"

#include "bench_util.h"

#define MSG_LEN     64
#define MAX_RUNS    9
#define OPEN_BATCH  256 /* below the listen backlog (511), so no SYN is dropped */
#define SPARE_FDS   64  /* descriptors besides the connections: stdio, epoll, pipes, Node's */
#define CLIENT_CPU  0
#define SERVER_CPU  1
#define DRAIN_LIMIT 30.0   /* seconds to wait for the last replies, or for the ends */
#define IDLE_SETTLE 500000 /* microseconds idle before reading the memory */

/* ---- the Calcifer server (child) ---- */

/* One connection: await a chunk, await writing it back, until the end of the stream. */
static int serve_connection(cf_task *task, void *arg)
{
    (void)task;
    cf_tcp *conn = arg;
    int rc;
    for (;;) {
        cf_result r = cf_await(cf_tcp_read_p(conn, NULL));
        rc = r.status;
        if (rc < 0)
            break;
        const cf_buf *chunk = r.value; /* borrowed until the next await; the write copies it */
        if (chunk->len == 0)
            break;
        rc = cf_await(cf_tcp_write_p(conn, chunk->base, chunk->len, NULL)).status;
        if (rc < 0)
            break;
    }
    (void)cf_await(cf_tcp_close_p(conn));
    /* A reset or the shutdown's close (CF_ECANCELED) ends a connection without failing the
     * server; anything else is reported, but not as an unhandled rejection. */
    if (rc < 0 && rc != CF_ECONNRESET && rc != CF_ECANCELED)
        fprintf(stderr, "bench_echo_tasks: connection: %s\n", cf_strerror(rc));
    return 0;
}

static void on_connection(cf_tcp *server, int status, const cf_error *err, cf_tcp *conn, void *data)
{
    (void)data;
    if (status < 0) {
        fprintf(stderr, "bench_echo_tasks: accept: %s\n", err->message);
        return;
    }
    cf_promise_release(cf_async(cf_tcp_loop(server), serve_connection, conn));
}

/* SIGTERM: stop accepting and close what is left, so that the loop ends and the child exits 0. */
static void on_term(cf_signal *sig, int signum, void *data)
{
    (void)signum;
    cf_tcp *server = data;
    cf_signal_close(sig, NULL, NULL);
    cf_tcp_close(server, NULL, NULL);
    cf_tcp_close_connections(server, NULL, NULL);
}

/* Serve on a free port of 127.0.0.1, print `port N`, run until SIGTERM. */
static int server_main(void)
{
    cf_loop *loop;
    cf_tcp *server;
    cf_signal *term;
    if (cf_loop_new(&loop) != 0 || cf_tcp_new(loop, &server) != 0 ||
        cf_signal_new(loop, &term) != 0)
        return 1;
    int rc = cf_tcp_listen(server, "127.0.0.1", 0, 0, 0, on_connection, NULL);
    if (rc < 0) {
        fprintf(stderr, "bench_echo_tasks: listen 127.0.0.1: %s\n", cf_strerror(rc));
        return 1;
    }
    if (cf_signal_start(term, SIGTERM, on_term, server) != 0)
        return 1;
    printf("port %d\n", cf_tcp_port(server));
    fflush(stdout);
    rc = cf_run(loop, CF_RUN_DEFAULT);
    return cf_loop_close(loop) == 0 && rc >= 0 ? 0 : 1;
}

/* ---- the server process, seen from the client ---- */

typedef struct child {
    pid_t pid;
    FILE *out; /* the child's stdout */
    int port;
} child;

static void pin_to(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

/* Start argv[0] on SERVER_CPU with its stdout on a pipe; read its `port N` line. */
static int spawn_server(char *const argv[], child *c)
{
    int fds[2];
    c->pid = -1;
    c->out = NULL;
    if (pipe(fds) != 0)
        return -1;
    c->pid = fork();
    if (c->pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
        pin_to(SERVER_CPU);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    c->out = fdopen(fds[0], "r");
    c->port = 0;
    char line[128];
    while (c->out && fgets(line, sizeof line, c->out)) {
        if (sscanf(line, "port %d", &c->port) == 1)
            return 0;
    }
    return -1;
}

/*
 * SIGTERM, then wait (SIGKILL after 10 s). Returns 0 when the child exited with 0 or, for
 * Node, which has no handler, was ended by the SIGTERM.
 */
static int stop_server(child *c, int is_node)
{
    int status = 0;
    kill(c->pid, SIGTERM);
    double give_up = now_ms() + 10e3;
    while (waitpid(c->pid, &status, WNOHANG) == 0) {
        if (now_ms() > give_up) {
            fprintf(stderr, "bench_echo_tasks: the server did not stop; killing it\n");
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    if (c->out)
        fclose(c->out);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (is_node && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
        return 0;
    fprintf(stderr, "bench_echo_tasks: the server failed (wait status %#x)\n", status);
    return -1;
}

/* User + system CPU time of every thread of `pid`, in seconds (/proc/PID/stat). */
static double proc_cpu_s(pid_t pid)
{
    char path[64];
    char buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long utime = 0;
    unsigned long stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Resident memory of `pid` in bytes (/proc/PID/statm). */
static long proc_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    long pages = 0;
    long resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- the client ---- */

typedef struct client {
    long n;      /* connections */
    double secs; /* ping-pong time */
    int *fd;
    unsigned char *got; /* bytes of the current reply received, per connection */
    int ep;
    char msg[MSG_LEN];
} client;

typedef struct result {
    double rps;
    double cpu_us; /* server CPU per round trip */
    double bytes;  /* per connection (Node: after a GC) */
    double bytes_raw;
    double server_util; /* server CPU / wall during the ping-pong */
    double client_util;
} result;

static int fail(const char *what)
{
    fprintf(stderr, "bench_echo_tasks: %s: %s\n", what, strerror(errno));
    return -1;
}

/* Read exactly MSG_LEN bytes from a blocking socket (SO_RCVTIMEO bounds each read). */
static int read_reply(int fd)
{
    char buf[MSG_LEN];
    size_t got = 0;
    while (got < MSG_LEN) {
        ssize_t r = read(fd, buf + got, MSG_LEN - got);
        if (r <= 0)
            return r == 0 ? (errno = ECONNRESET, -1) : -1;
        got += (size_t)r;
    }
    return 0;
}

static int open_one(client *cl, int port, long i)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail("socket");
    cl->fd[i] = fd;
    int one = 1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return fail("connect 127.0.0.1");
    if (write(fd, cl->msg, MSG_LEN) != MSG_LEN)
        return fail("write");
    return 0;
}

/* Open every connection, OPEN_BATCH at a time, each proven by one echo; then non-blocking. */
static int open_all(client *cl, int port)
{
    for (long i = 0; i < cl->n; i++)
        cl->fd[i] = -1;
    for (long first = 0; first < cl->n; first += OPEN_BATCH) {
        long end = first + OPEN_BATCH < cl->n ? first + OPEN_BATCH : cl->n;
        for (long i = first; i < end; i++) {
            if (open_one(cl, port, i) != 0)
                return -1;
        }
        for (long i = first; i < end; i++) {
            if (read_reply(cl->fd[i]) != 0)
                return fail("first echo");
        }
    }
    for (long i = 0; i < cl->n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        fcntl(cl->fd[i], F_SETFL, O_NONBLOCK);
        if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, cl->fd[i], &ev) != 0)
            return fail("epoll_ctl");
    }
    return 0;
}

/* One readable connection; returns 1 when a whole reply arrived, 0 for part, -1 on error. */
static int take_reply(client *cl, long i)
{
    char buf[MSG_LEN];
    ssize_t r = read(cl->fd[i], buf, MSG_LEN - cl->got[i]);
    if (r < 0 && errno == EAGAIN)
        return 0;
    if (r <= 0) {
        errno = r == 0 ? ECONNRESET : errno;
        return fail("read");
    }
    cl->got[i] = (unsigned char)(cl->got[i] + r);
    if (cl->got[i] < MSG_LEN)
        return 0;
    cl->got[i] = 0;
    return 1;
}

/* Ping-pong on every connection for cl->secs, then wait for the replies in flight. */
static long pingpong(client *cl)
{
    struct epoll_event ev[1024];
    long count = 0;
    long in_flight = 0;
    double start = now_ms();
    double stop_at = start + cl->secs * 1e3;
    double give_up = stop_at + DRAIN_LIMIT * 1e3;
    for (long i = 0; i < cl->n; i++, in_flight++) {
        if (write(cl->fd[i], cl->msg, MSG_LEN) != MSG_LEN)
            return fail("write");
    }
    int sending = 1;
    while (in_flight > 0) {
        int k = epoll_wait(cl->ep, ev, 1024, 100);
        double now = now_ms();
        if (now >= stop_at)
            sending = 0;
        if (k < 0 && errno != EINTR)
            return fail("epoll_wait");
        if (now >= give_up) {
            fprintf(stderr, "bench_echo_tasks: %ld replies still missing\n", in_flight);
            return -1;
        }
        for (int e = 0; e < k; e++) {
            long i = (long)ev[e].data.u64;
            int r = take_reply(cl, i);
            if (r < 0)
                return -1;
            if (r == 0)
                continue;
            count++;
            if (!sending)
                in_flight--;
            else if (write(cl->fd[i], cl->msg, MSG_LEN) != MSG_LEN)
                return fail("write");
        }
    }
    return count;
}

/* End every connection (the server sees the end of the stream), wait for its end, close. */
static int close_all(client *cl)
{
    struct epoll_event ev[1024];
    long open = 0;
    for (long i = 0; i < cl->n; i++) {
        if (cl->fd[i] >= 0 && shutdown(cl->fd[i], SHUT_WR) == 0)
            open++;
    }
    double give_up = now_ms() + DRAIN_LIMIT * 1e3;
    int rc = 0;
    while (open > 0 && now_ms() < give_up) {
        int k = epoll_wait(cl->ep, ev, 1024, 100);
        for (int e = 0; e < k; e++) {
            long i = (long)ev[e].data.u64;
            char buf[MSG_LEN];
            ssize_t r = read(cl->fd[i], buf, sizeof buf);
            if (r > 0 || (r < 0 && errno == EAGAIN))
                continue;
            epoll_ctl(cl->ep, EPOLL_CTL_DEL, cl->fd[i], NULL);
            close(cl->fd[i]);
            cl->fd[i] = -1;
            open--;
        }
    }
    if (open > 0) {
        fprintf(stderr, "bench_echo_tasks: %ld connections not ended by the server\n", open);
        rc = -1;
    }
    for (long i = 0; i < cl->n; i++) {
        if (cl->fd[i] >= 0)
            close(cl->fd[i]);
        cl->fd[i] = -1;
    }
    return rc;
}

/* Node only: ask for a full GC (SIGUSR2) and wait for its `gc done`. */
static void node_gc(child *c)
{
    char line[128];
    kill(c->pid, SIGUSR2);
    while (fgets(line, sizeof line, c->out)) {
        if (strncmp(line, "gc done", 7) == 0)
            return;
    }
}

/* Connect, ping-pong, measure, end; the server is already listening. */
static int measure(client *cl, child *srv, int is_node, result *out)
{
    long before = proc_rss(srv->pid);
    if (open_all(cl, srv->port) != 0)
        return -1;
    double cpu0 = proc_cpu_s(srv->pid);
    double self0 = self_cpu_s();
    double t0 = now_ms();
    long count = pingpong(cl);
    double wall = (now_ms() - t0) / 1e3;
    double cpu = proc_cpu_s(srv->pid) - cpu0;
    double self = self_cpu_s() - self0;
    if (count <= 0)
        return -1;
    usleep(IDLE_SETTLE);
    long idle = proc_rss(srv->pid);
    out->bytes_raw = (double)(idle - before) / (double)cl->n;
    if (is_node) {
        node_gc(srv);
        usleep(IDLE_SETTLE);
        idle = proc_rss(srv->pid);
    }
    out->bytes = (double)(idle - before) / (double)cl->n;
    out->rps = (double)count / wall;
    out->cpu_us = cpu * 1e6 / (double)count;
    out->server_util = cpu / wall;
    out->client_util = self / wall;
    return close_all(cl);
}

static int one_run(client *cl, char *const argv[], int is_node, result *out)
{
    child srv;
    memset(out, 0, sizeof *out);
    if (spawn_server(argv, &srv) != 0) {
        fprintf(stderr, "bench_echo_tasks: the %s server did not start\n",
                is_node ? "Node" : "Calcifer");
        if (srv.pid > 0)
            (void)stop_server(&srv, is_node);
        return -1;
    }
    cl->ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = cl->ep < 0 ? fail("epoll_create1") : measure(cl, &srv, is_node, out);
    for (long i = 0; i < cl->n; i++) {
        if (cl->fd[i] >= 0)
            close(cl->fd[i]);
        cl->fd[i] = -1;
    }
    if (cl->ep >= 0)
        close(cl->ep);
    if (stop_server(&srv, is_node) != 0)
        rc = -1;
    return rc;
}

/* ---- report ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of field `off` of runs[0..n). */
static double median_of(const result *runs, int n, size_t off)
{
    double v[MAX_RUNS];
    for (int i = 0; i < n; i++)
        v[i] = *(const double *)((const char *)&runs[i] + off);
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

/* `higher`: a rate (ratio = calcifer / node); else a cost (ratio = node / calcifer). */
static void line(const char *prefix, const char *what, double ours, double node, int higher)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%s", prefix, what);
    double ratio = higher ? ours / node : node / ours;
    printf("%-28s %12.2f %12.2f %7.2fx\n", name, ours, node, ratio);
}

static void report(long n, const result *mine, const result *node, int runs)
{
    char prefix[32];
    if (n >= 1000 && n % 1000 == 0)
        snprintf(prefix, sizeof prefix, "echo_%ldk", n / 1000);
    else
        snprintf(prefix, sizeof prefix, "echo_%ld", n);
    printf("%-28s %12s %12s %8s\n", "name", "calcifer", "node", "ratio");
    line(prefix, "rps", median_of(mine, runs, offsetof(result, rps)),
         median_of(node, runs, offsetof(result, rps)), 1);
    line(prefix, "cpu_us_per_rt", median_of(mine, runs, offsetof(result, cpu_us)),
         median_of(node, runs, offsetof(result, cpu_us)), 0);
    line(prefix, "B_per_conn", median_of(mine, runs, offsetof(result, bytes)),
         median_of(node, runs, offsetof(result, bytes)), 0);
    for (int r = 0; r < runs; r++) {
        printf("# run %d: calcifer %.0f rt/s %.2f us/rt %.0f B/conn (server CPU %.0f%%, client "
               "%.0f%%); node %.0f rt/s %.2f us/rt %.0f B/conn, %.0f before its GC (server CPU "
               "%.0f%%, client %.0f%%)\n",
               r + 1, mine[r].rps, mine[r].cpu_us, mine[r].bytes, 100 * mine[r].server_util,
               100 * mine[r].client_util, node[r].rps, node[r].cpu_us, node[r].bytes,
               node[r].bytes_raw, 100 * node[r].server_util, 100 * node[r].client_util);
    }
}

/* ---- main ---- */

typedef struct opts {
    long conns;
    double secs;
    int runs;
    const char *form;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            goto bad;
        if (strcmp(argv[i], "-c") == 0)
            o->conns = strtol(v, NULL, 10);
        else if (strcmp(argv[i], "-d") == 0)
            o->secs = strtod(v, NULL);
        else if (strcmp(argv[i], "-r") == 0)
            o->runs = (int)strtol(v, NULL, 10);
        else if (strcmp(argv[i], "-n") == 0)
            o->form = v;
        else
            goto bad;
        i++;
    }
    if (o->conns >= 1 && o->secs > 0 && o->runs >= 1 && o->runs <= MAX_RUNS &&
        (strcmp(o->form, "iter") == 0 || strcmp(o->form, "data") == 0))
        return 0;
bad:
    fprintf(stderr, "usage: bench_echo_tasks [-c CONNECTIONS >= 1] [-d SECONDS > 0] "
                    "[-r RUNS 1..9] [-n iter|data]\n");
    return -1;
}

/* Raise RLIMIT_NOFILE to the hard limit; fail when `conns` connections cannot fit. */
static int raise_fd_limit(long conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return fail("getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return fail("setrlimit");
    if ((rlim_t)conns + SPARE_FDS > rl.rlim_cur) {
        fprintf(stderr,
                "bench_echo_tasks: %ld connections need %ld descriptors in the client and "
                "in the server each; RLIMIT_NOFILE allows %llu\n",
                conns, conns + SPARE_FDS, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--server") == 0)
        return server_main();
    opts o = {.conns = 10000, .secs = 5, .runs = 3, .form = "iter"};
    if (parse(argc, argv, &o) != 0 || raise_fd_limit(o.conns) != 0)
        return 2;
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = '\0';
    char node[] = "/usr/bin/node";
    char gc_flag[] = "--expose-gc";
    char server_flag[] = "--server";
    char script[4200];
    char form[16];
    snprintf(script, sizeof script, "%s/peers/echo_tasks.js", bench_dir());
    snprintf(form, sizeof form, "%s", o.form);
    char *const cf_argv[] = {self, server_flag, NULL};
    char *const node_argv[] = {node, gc_flag, script, form, NULL};

    signal(SIGPIPE, SIG_IGN);
    pin_to(CLIENT_CPU);
    client cl = {.n = o.conns, .secs = o.secs};
    cl.fd = calloc((size_t)o.conns, sizeof *cl.fd);
    cl.got = calloc((size_t)o.conns, 1);
    for (long i = 0; cl.fd && i < o.conns; i++)
        cl.fd[i] = -1;
    memset(cl.msg, 'e', sizeof cl.msg);
    result mine[MAX_RUNS];
    result peer[MAX_RUNS];
    int rc = cl.fd && cl.got ? 0 : 1;
    for (int r = 0; r < o.runs && rc == 0; r++) {
        if (one_run(&cl, cf_argv, 0, &mine[r]) != 0 || one_run(&cl, node_argv, 1, &peer[r]) != 0)
            rc = 1;
    }
    if (rc == 0)
        report(o.conns, mine, peer, o.runs);
    free(cl.fd);
    free(cl.got);
    return rc;
}
