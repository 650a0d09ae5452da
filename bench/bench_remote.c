/*
 * Messages between loops on two threads: Calcifer's remotes and worker ports against Node's
 * MessagePort between the main thread and a worker_threads Worker, in one run.
 *
 *   bench_remote [N]        (N round trips per run, 100,000 by default; 10 N one way)
 *
 * Prints `name calcifer peer ratio` (best of three runs each; ratio = calcifer / peer, above
 * 1: Calcifer is faster). The peer is bench/peers/message_port.js run with /usr/bin/node (or
 * `node` on the PATH).
 *
 *   roundtrip_kps   thousands of round trips per second: a message goes from one loop to a
 *                   loop on another thread, whose callback sends one back, N times in a row
 *                   (cf_remote_post both ways; Node: port.postMessage and the worker's echo).
 *                   Default settings: the loops' adaptive spin for posts is on
 *                   (cf_loop_set_post_spin).
 *   roundtrip_nospin_kps  the same with that spin off: each loop sleeps in epoll_wait at
 *                   once and is woken by the other's eventfd write, per message.
 *   roundtrip_busy_kps  the same with both loops busy-polling for 100 us before they sleep
 *                   (cf_loop_set_busy_poll): no thread is put to sleep and woken per message.
 *   oneway_Mps      millions of messages per second, from a thread to a loop: the sender
 *                   posts 10 N messages as fast as it can, the loop counts them; the time runs
 *                   from the start signal to the last arrival.
 *   port_rt_kps     round trips per second through a worker's ports (cf_worker_post_json and
 *                   the worker's echo with cf_worker_parent_post_json, a JSON number each way;
 *                   Node: the same numbers through worker.postMessage and parentPort).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/json.h"
#include "calcifer/loop.h"
#include "calcifer/remote.h"
#include "calcifer/worker.h"

#define RUNS 3

static long n_msgs = 100000;
static long n_oneway = 1000000; /* one way: ten times as many, so a run lasts tens of ms */
static unsigned busy_us;        /* cf_loop_set_busy_poll of both loops in the round trips */
static unsigned post_spin = CF_LOOP_POST_SPIN_DEFAULT; /* cf_loop_set_post_spin of both */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- round trip between two loops ---- */

typedef struct pingpong {
    cf_remote *to_a; /* the main loop */
    cf_remote *to_b; /* the echo thread's loop (keep-alive while the run lasts) */
    cf_remote *b_keep;
    cf_remote *a_keep; /* the main loop runs until the last echo */
    long count;
    atomic_int b_ready;
} pingpong;

static void on_b(cf_loop *loop, int status, void *data);

static void on_a(cf_loop *loop, int status, void *data)
{
    (void)loop;
    pingpong *pp = data;
    if (status < 0)
        return;
    if (++pp->count < n_msgs) {
        cf_remote_post(pp->to_b, on_b, pp);
        return;
    }
    cf_remote_release(pp->b_keep); /* the echo loop may end */
    pp->b_keep = NULL;
    cf_remote_release(pp->a_keep); /* and this one */
    pp->a_keep = NULL;
}

static void on_b(cf_loop *loop, int status, void *data)
{
    (void)loop;
    pingpong *pp = data;
    if (status == 0)
        cf_remote_post(pp->to_a, on_a, pp);
}

static void *echo_thread(void *arg)
{
    pingpong *pp = arg;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        exit(1);
    cf_loop_set_busy_poll(loop, busy_us);
    cf_loop_set_post_spin(loop, post_spin);
    cf_remote_new(loop, 0, &pp->to_b);
    cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &pp->b_keep);
    atomic_store(&pp->b_ready, 1);
    cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    return NULL;
}

static double run_roundtrip(cf_loop *loop)
{
    pingpong pp = {0};
    cf_loop_set_busy_poll(loop, busy_us);
    cf_loop_set_post_spin(loop, post_spin);
    cf_remote_new(loop, 0, &pp.to_a);
    cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &pp.a_keep);
    pthread_t th;
    pthread_create(&th, NULL, echo_thread, &pp);
    while (!atomic_load(&pp.b_ready)) {
    }
    double start = now_ms();
    cf_remote_post(pp.to_b, on_b, &pp);
    cf_run(loop, CF_RUN_DEFAULT); /* one run for the whole exchange, as the port benchmark */
    double ms = now_ms() - start;
    pthread_join(th, NULL);
    cf_remote_release(pp.to_b);
    cf_remote_release(pp.to_a);
    return pp.count == n_msgs ? ms : -1;
}

/* ---- one way: a thread posts, a loop counts ---- */

typedef struct oneway {
    cf_remote *to_a;
    long count;
    atomic_int go;
} oneway;

static void on_msg(cf_loop *loop, int status, void *data)
{
    (void)loop;
    oneway *ow = data;
    if (status == 0)
        ow->count++;
}

static void *sender(void *arg)
{
    oneway *ow = arg;
    while (!atomic_load(&ow->go)) {
    }
    for (long i = 0; i < n_oneway; i++) {
        if (cf_remote_post(ow->to_a, on_msg, ow) != 0)
            exit(1);
    }
    cf_remote_release(ow->to_a); /* keep-alive: the loop ends after the last one */
    return NULL;
}

static double run_oneway(cf_loop *loop)
{
    oneway ow = {0};
    cf_remote_new(loop, CF_REMOTE_KEEP_ALIVE, &ow.to_a);
    pthread_t th;
    pthread_create(&th, NULL, sender, &ow);
    double start = now_ms();
    atomic_store(&ow.go, 1);
    cf_run(loop, CF_RUN_DEFAULT);
    double ms = now_ms() - start;
    pthread_join(th, NULL);
    return ow.count == n_oneway ? ms : -1;
}

/* ---- round trip through a worker's ports ---- */

static void worker_echo(cf_worker_self *self, cf_worker_message *msg, void *data)
{
    (void)data;
    const cf_json *v = cf_worker_message_json(msg);
    if (cf_json_type_of(v) != CF_JSON_NUMBER) {
        cf_worker_parent_close(self);
        return;
    }
    cf_worker_parent_post_json(self, cf_worker_message_take_json(msg));
}

static int worker_entry(cf_worker_self *self, cf_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return cf_worker_parent_on_message(self, worker_echo, NULL);
}

static void parent_msg(cf_worker *w, cf_worker_message *msg, void *data)
{
    long *count = data;
    if (++*count < n_msgs) {
        cf_worker_post_json(w, cf_worker_message_take_json(msg));
        return;
    }
    cf_worker_post_json(w, cf_json_new_null()); /* ends the worker */
}

static void worker_closed(void *data)
{
    (void)data;
}

static double run_port(cf_loop *loop)
{
    cf_worker *w;
    if (cf_worker_new(loop, NULL, worker_entry, NULL, &w) != 0)
        return -1;
    long count = 0;
    cf_worker_on_message(w, parent_msg, &count);
    double start = now_ms();
    cf_worker_post_json(w, cf_json_new_i64(42));
    cf_run(loop, CF_RUN_DEFAULT);
    double ms = now_ms() - start;
    cf_worker_close(w, worker_closed, NULL);
    cf_run(loop, CF_RUN_DEFAULT);
    return count == n_msgs ? ms : -1;
}

static double best_of(cf_loop *loop, double (*fn)(cf_loop *))
{
    double best = 0;
    for (int i = 0; i < RUNS; i++) {
        double ms = fn(loop);
        if (ms < 0) {
            fprintf(stderr, "bench_remote: wrong message count\n");
            exit(1);
        }
        if (i == 0 || ms < best)
            best = ms;
    }
    return best;
}

/* Run the Node peer; fills its milliseconds (0 when node is missing). */
static void node_peer(double *rt_ms, double *oneway_ms)
{
    *rt_ms = 0;
    *oneway_ms = 0;
    const char *node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "node";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/message_port.js %ld %ld 2>/dev/null", node, CF_BENCH_PEERS_DIR,
             n_msgs, n_oneway);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char name[32];
    double ms;
    while (fscanf(f, "%31s %lf", name, &ms) == 2) {
        if (strcmp(name, "roundtrip") == 0)
            *rt_ms = ms;
        else if (strcmp(name, "oneway") == 0)
            *oneway_ms = ms;
    }
    pclose(f);
}

/* `scale` turns messages per millisecond into the unit printed. */
static void print_line(const char *name, long n, double ms, double peer_ms, double scale)
{
    double rate = (double)n / ms * scale;
    if (peer_ms <= 0) {
        printf("%-20s %10.2f %10s %8s\n", name, rate, "-", "-");
        return;
    }
    double peer = (double)n / peer_ms * scale;
    printf("%-20s %10.2f %10.2f %7.2fx\n", name, rate, peer, rate / peer);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_msgs = strtol(argv[1], NULL, 10);
    if (n_msgs <= 0)
        n_msgs = 100000;
    n_oneway = 10 * n_msgs;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    double rt = best_of(loop, run_roundtrip);
    post_spin = 0;
    double rt_sleep = best_of(loop, run_roundtrip);
    post_spin = CF_LOOP_POST_SPIN_DEFAULT;
    busy_us = 100;
    double rt_busy = best_of(loop, run_roundtrip);
    busy_us = 0;
    cf_loop_set_busy_poll(loop, 0);
    double ow = best_of(loop, run_oneway);
    double port = best_of(loop, run_port);
    cf_loop_close(loop);
    double peer_rt;
    double peer_ow;
    node_peer(&peer_rt, &peer_ow);
    printf("%-20s %10s %10s %8s\n", "name", "calcifer", "peer", "ratio");
    print_line("roundtrip_kps", n_msgs, rt, peer_rt, 1.0);
    print_line("roundtrip_nospin_kps", n_msgs, rt_sleep, peer_rt, 1.0);
    print_line("roundtrip_busy_kps", n_msgs, rt_busy, peer_rt, 1.0);
    print_line("oneway_Mps", n_oneway, ow, peer_ow, 1e-3);
    print_line("port_rt_kps", n_msgs, port, peer_rt, 1.0);
    return 0;
}
