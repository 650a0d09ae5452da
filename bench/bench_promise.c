/*
 * Promise reactions per second: Calcifer against Node in one run.
 *
 *   bench_promise [N]        (N reactions per run, 1,000,000 by default)
 *
 * Prints `name calcifer peer ratio`, rates in millions of reactions per second (best of three
 * runs each; ratio = calcifer / peer, above 1: Calcifer is faster). The peer is
 * bench/peers/promise_chain.js run with /usr/bin/node (or `node` on the PATH).
 *
 *   then_chain_Mps    N then() reactions chained on a fulfilled promise: the chain is built
 *                     first (p = then(p, h) N times), then run; the time covers both.
 *   then_dynamic_Mps  N reactions where each handler attaches the next one to a fresh
 *                     resolved promise (a loop of microtask steps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calcifer/loop.h"
#include "calcifer/promise.h"

#define RUNS 3

static long n_reactions = 1000000;
static long count;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_step(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    (void)data;
    count++;
}

/* Build a chain of n thens on a fulfilled promise, run it; milliseconds. */
static double run_chain(cf_loop *loop)
{
    count = 0;
    double start = now_ms();
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    for (long i = 0; i < n_reactions; i++) {
        cf_promise *next = cf_promise_then(p, on_step, NULL, NULL);
        cf_promise_release(p);
        p = next;
    }
    cf_promise_release(p);
    cf_loop_drain(loop);
    double ms = now_ms() - start;
    return count == n_reactions ? ms : -1;
}

static void dynamic_step(cf_promise *settled, cf_promise *next, void *data)
{
    (void)settled;
    (void)next;
    if (++count < n_reactions) {
        cf_promise *p = cf_promise_resolved(data, NULL, NULL);
        cf_promise_release(cf_promise_then(p, dynamic_step, NULL, data));
        cf_promise_release(p);
    }
}

static double run_dynamic(cf_loop *loop)
{
    count = 0;
    double start = now_ms();
    cf_promise *p = cf_promise_resolved(loop, NULL, NULL);
    cf_promise_release(cf_promise_then(p, dynamic_step, NULL, loop));
    cf_promise_release(p);
    cf_loop_drain(loop);
    double ms = now_ms() - start;
    return count == n_reactions ? ms : -1;
}

static double best_of(cf_loop *loop, double (*fn)(cf_loop *))
{
    double best = 0;
    for (int i = 0; i < RUNS; i++) {
        double ms = fn(loop);
        if (ms < 0) {
            fprintf(stderr, "bench_promise: wrong reaction count\n");
            exit(1);
        }
        if (i == 0 || ms < best)
            best = ms;
    }
    return best;
}

/* Run the Node peer; fills the milliseconds of its two runs (0 when node is missing). */
static void node_peer(double *chain_ms, double *dynamic_ms)
{
    *chain_ms = 0;
    *dynamic_ms = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    const char *node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "node";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s/peers/promise_chain.js %ld 2>/dev/null", node, dir,
             n_reactions);
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char name[32];
    double ms;
    while (fscanf(f, "%31s %lf", name, &ms) == 2) {
        if (strcmp(name, "chain") == 0)
            *chain_ms = ms;
        else if (strcmp(name, "dynamic") == 0)
            *dynamic_ms = ms;
    }
    pclose(f);
}

static void print_line(const char *name, double ms, double peer_ms)
{
    double rate = (double)n_reactions / ms / 1e3; /* millions per second */
    if (peer_ms <= 0) {
        printf("%-20s %10.2f %10s %8s\n", name, rate, "-", "-");
        return;
    }
    double peer = (double)n_reactions / peer_ms / 1e3;
    printf("%-20s %10.2f %10.2f %7.2fx\n", name, rate, peer, rate / peer);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_reactions = strtol(argv[1], NULL, 10);
    if (n_reactions <= 0)
        n_reactions = 1000000;
    cf_loop *loop;
    if (cf_loop_new(&loop) != 0)
        return 1;
    double chain = best_of(loop, run_chain);
    double dynamic = best_of(loop, run_dynamic);
    int rc = cf_loop_close(loop);
    double node_chain;
    double node_dynamic;
    node_peer(&node_chain, &node_dynamic);
    printf("%-20s %10s %10s %8s\n", "name", "calcifer", "node", "ratio");
    print_line("then_chain_Mps", chain, node_chain);
    print_line("then_dynamic_Mps", dynamic, node_dynamic);
    return rc == 0 ? 0 : 1;
}
