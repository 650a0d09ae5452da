/* ctest-labels: core tsan */
/* ctest-timeout: 120 */
/*
 * Trace export (calcifer/trace.h): a traced run gives Chrome Trace Event JSON that python3's
 * json module parses and that is well formed (spans nest on each track, timestamps never go
 * back on a track, every flow has its start and its finish, pool work sits on worker tracks,
 * counters are there); the ring keeps the file bounded however many events are recorded; a
 * path that cannot be written is reported by name while the loop runs on; SIGUSR2 and
 * CALCIFER_TRACE flush; scripts/trace2svg.py draws a valid SVG with one lane per thread.
 */
#include "harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The checker: exits 0 and prints "tracks flows spans counters" when the trace is well formed. */
static const char *const checker =
    "import json, sys\n"
    "doc = json.load(open(sys.argv[1]))\n"
    "ev = doc['traceEvents']\n"
    "tracks = {}\n"
    "starts, ends = set(), set()\n"
    "spans = counters = 0\n"
    "for e in ev:\n"
    "    ph = e['ph']\n"
    "    if ph == 'M':\n"
    "        continue\n"
    "    key = (e['pid'], e['tid'])\n"
    "    t = tracks.setdefault(key, {'last': -1.0, 'stack': [], 'open': []})\n"
    "    ts = float(e['ts'])\n"
    "    assert ts >= t['last'], ('time goes back', key, ts, t['last'])\n"
    "    t['last'] = ts\n"
    "    while t['stack'] and t['stack'][-1][0] <= ts + 0.0005:\n"
    "        t['stack'].pop()\n"
    "    if ph == 'X':\n"
    "        end = ts + float(e['dur'])\n"
    "        assert not t['stack'] or end <= t['stack'][-1][0] + 0.0015, ('overlap', e, "
    "t['stack'])\n"
    "        t['stack'].append((end, e['name']))\n"
    "        spans += 1\n"
    "    elif ph == 'B':\n"
    "        t['open'].append(e['name'])\n"
    "    elif ph == 'E':\n"
    "        assert t['open'], ('end without begin', e)\n"
    "        t['open'].pop()\n"
    "    elif ph == 's':\n"
    "        starts.add(e['id'])\n"
    "    elif ph == 'f':\n"
    "        ends.add(e['id'])\n"
    "    elif ph == 'C':\n"
    "        counters += 1\n"
    "for key, t in tracks.items():\n"
    "    assert not t['open'], ('begin without end', key)\n"
    "assert starts == ends, ('dangling flows', starts ^ ends)\n"
    "print(len(tracks), len(starts), spans, counters)\n";

/* Run the checker on `path`; returns its four numbers (-1 when it failed). */
static void check_trace(const char *path, int out[4])
{
    char script[512];
    cf_test_path(script, sizeof(script), "check.py");
    FILE *f = fopen(script, "w");
    ASSERT_PTR(f);
    fputs(checker, f);
    fclose(f);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "python3 '%s' '%s'", script, path);
    FILE *p = popen(cmd, "r");
    ASSERT_PTR(p);
    out[0] = out[1] = out[2] = out[3] = -1;
    int n = fscanf(p, "%d %d %d %d", &out[0], &out[1], &out[2], &out[3]);
    int status = pclose(p);
    if (n != 4 || status != 0)
        CF_TEST_FAILF("trace %s is not well formed (python3 exit %d)", path, status);
}

static void nothing(void *data)
{
    (void)data;
}

static void sleep_5ms(void *data)
{
    (void)data;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
}

static void work_done(int status, const cf_error *err, void *data)
{
    (void)err;
    (void)data;
    ASSERT_OK(status);
}

typedef struct workload {
    cf_loop *loop;
    int rounds;
} workload;

/* Each round: pool jobs, a microtask, a tick, an immediate and the next round's timer. */
static void round_cb(void *data)
{
    workload *w = data;
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(cf_work(w->loop, sleep_5ms, NULL, work_done, NULL));
    }
    ASSERT_OK(cf_queue_microtask(w->loop, nothing, NULL));
    ASSERT_OK(cf_next_tick(w->loop, nothing, NULL));
    ASSERT_OK(cf_set_immediate(w->loop, nothing, NULL, NULL));
    if (--w->rounds > 0)
        ASSERT_OK(cf_set_timeout(w->loop, 2, round_cb, w, NULL));
}

static void run_workload(cf_loop *loop, int rounds)
{
    workload w = {loop, rounds};
    ASSERT_OK(cf_set_timeout(loop, 1, round_cb, &w, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_trace_is_well_formed_json(void)
{
    char path[512];
    cf_test_path(path, sizeof(path), "trace.json");
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_trace_start(loop, path, 0));
    ASSERT(cf_trace_active(loop));
    run_workload(loop, 5);
    ASSERT_OK(cf_trace_stop(loop));
    ASSERT(!cf_trace_active(loop));
    ASSERT_EQ(cf_trace_stop(loop), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
    int n[4];
    check_trace(path, n);
    ASSERT(n[0] >= 2);  /* the loop and at least one worker */
    ASSERT(n[1] >= 15); /* a flow per pool job */
    ASSERT(n[2] >= 50);
    ASSERT(n[3] >= 4);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import json,sys; ev=json.load(open(sys.argv[1]))[\"traceEvents\"]; "
             "names={e[\"name\"] for e in ev}; "
             "assert {\"timers\",\"poll\",\"check\",\"iteration\",\"pool queue depth\"} <= names; "
             "assert any(n.startswith(\"round_cb \") and \"test_trace.c:\" in n for n in names); "
             "assert any(n.startswith(\"sleep_5ms \") and e[\"tid\"] > 100 for e in ev "
             "for n in [e[\"name\"]])' '%s'",
             path);
    ASSERT_EQ(system(cmd), 0);
}

static void test_trace_ring_is_bounded(void)
{
    char small[512];
    char large[512];
    cf_test_path(small, sizeof(small), "small.json");
    cf_test_path(large, sizeof(large), "large.json");
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_trace_start(loop, small, 256));
    run_workload(loop, 20);
    ASSERT_OK(cf_trace_flush(loop));
    long after_20 = file_size(small);
    run_workload(loop, 200);
    ASSERT_OK(cf_trace_stop(loop));
    long after_220 = file_size(small);
    ASSERT(after_20 > 0 && after_220 > 0);
    ASSERT(after_220 < 256 * 400); /* 256 events of at most a few hundred bytes */
    ASSERT(after_220 < after_20 * 2);
    int n[4];
    check_trace(small, n); /* dropping the oldest events left it well formed */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
             "o=d[\"otherData\"]; assert o[\"ring_events\"] == 256 and o[\"dropped\"] > 1000; "
             "assert len([e for e in d[\"traceEvents\"] if e[\"ph\"] != \"M\"]) <= 256' '%s'",
             small);
    ASSERT_EQ(system(cmd), 0);
    /* The same run with the default ring keeps more. */
    ASSERT_OK(cf_trace_start(loop, large, 0));
    run_workload(loop, 200);
    ASSERT_OK(cf_trace_stop(loop));
    ASSERT(file_size(large) > after_220 * 4);
    ASSERT_OK(cf_loop_close(loop));
}

static void unwritable(void)
{
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_EQ(cf_trace_start(loop, "/nonexistent-calcifer-dir/t.json", 0), CF_ENOENT);
    ASSERT(!cf_trace_active(loop));
    run_workload(loop, 2); /* runs on, untraced */
    ASSERT_EQ(cf_trace_flush(loop), CF_EINVAL);
    ASSERT_OK(cf_loop_close(loop));
}

static void test_trace_unwritable_path_is_reported(void)
{
    char text[1024];
    cf_test_capture_stderr(unwritable, text, sizeof(text));
    ASSERT(strstr(text, "calcifer: cannot write trace '/nonexistent-calcifer-dir/t.json': "));
    ASSERT(strstr(text, "running without a trace"));
}

typedef struct sig_state {
    cf_loop *loop;
    const char *path;
    long size_before;
    long size_after;
} sig_state;

static void check_flushed(void *data)
{
    sig_state *s = data;
    s->size_after = file_size(s->path);
}

static void send_signal(void *data)
{
    sig_state *s = data;
    s->size_before = file_size(s->path);
    raise(SIGUSR2); /* the flush happens at the end of this iteration */
    ASSERT_OK(cf_set_timeout(s->loop, 5, check_flushed, s, NULL));
}

static void test_trace_sigusr2_flushes(void)
{
    char path[512];
    cf_test_path(path, sizeof(path), "signal.json");
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_trace_start(loop, path, 0));
    sig_state s = {loop, path, 0, 0};
    run_workload(loop, 2);
    ASSERT_OK(cf_set_timeout(loop, 1, send_signal, &s, NULL));
    ASSERT_OK(cf_run(loop, CF_RUN_DEFAULT));
    ASSERT(s.size_before < 100); /* the empty trace written at the start */
    ASSERT(s.size_after > 1000);
    ASSERT_OK(cf_trace_stop(loop));
    ASSERT_OK(cf_loop_close(loop));
}

/*
 * CALCIFER_TRACE (it applies to a process's first loop), in a fresh process: this program
 * run again with CF_TRACE_TEST_CHILD set, which ends with exit() and no cf_loop_close, so
 * that the exit handler is what flushes.
 */
static int env_child(void)
{
    cf_loop *loop;
    if (cf_loop_new(&loop) < 0 || !cf_trace_active(loop))
        return 2;
    run_workload(loop, 2);
    exit(0);
}

static void test_trace_env_variable(void)
{
    char path[512];
    cf_test_path(path, sizeof(path), "env.json");
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "CF_TRACE_TEST_CHILD=1 CALCIFER_TRACE='%s' /proc/%d/exe", path,
             (int)getpid());
    ASSERT_EQ(system(cmd), 0);
    int n[4];
    check_trace(path, n);
    ASSERT(n[1] >= 6); /* the pool jobs' flows */
    ASSERT(n[2] >= 10);
}

static void test_trace_svg_has_a_lane_per_thread(void)
{
    char path[512];
    char svg[512];
    char summary[512];
    cf_test_path(path, sizeof(path), "t.json");
    cf_test_path(svg, sizeof(svg), "t.svg");
    cf_test_path(summary, sizeof(summary), "summary.txt");
    cf_loop *loop;
    ASSERT_OK(cf_loop_new(&loop));
    ASSERT_OK(cf_trace_start(loop, path, 0));
    run_workload(loop, 4);
    ASSERT_OK(cf_trace_stop(loop));
    ASSERT_OK(cf_loop_close(loop));
    int n[4];
    check_trace(path, n);
    char cmd[4000];
    snprintf(cmd, sizeof(cmd), "python3 '%s/scripts/trace2svg.py' '%s' -o '%s' > '%s'",
             CF_SOURCE_DIR, path, svg, summary);
    ASSERT_EQ(system(cmd), 0);
    snprintf(
        cmd, sizeof(cmd),
        "python3 -c 'import xml.etree.ElementTree as ET,sys; r=ET.parse(sys.argv[1]).getroot(); "
        "assert r.tag.endswith(\"svg\"); "
        "lanes=[g for g in r.iter() if g.get(\"class\")==\"lane\"]; "
        "sys.exit(0 if len(lanes)==int(sys.argv[2]) else 1)' '%s' %d",
        svg, n[0]);
    ASSERT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "grep -q 'sites by total time' '%s' && grep -q 'longest blocks' '%s' && "
             "grep -q 'loop delay' '%s' && grep -q 'round_cb' '%s'",
             summary, summary, summary, summary);
    ASSERT_EQ(system(cmd), 0);
}

int main(int argc, char **argv)
{
    setenv("CF_THREADPOOL_SIZE", "2", 1);
    if (getenv("CF_TRACE_TEST_CHILD"))
        return env_child();
    CF_TEST_BEGIN(argc, argv);
    CF_TEST(test_trace_is_well_formed_json);
    CF_TEST(test_trace_ring_is_bounded);
    CF_TEST(test_trace_unwritable_path_is_reported);
    CF_TEST(test_trace_sigusr2_flushes);
    CF_TEST(test_trace_env_variable);
    CF_TEST(test_trace_svg_has_a_lane_per_thread);
    return CF_TEST_END();
}
