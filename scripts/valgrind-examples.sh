#!/usr/bin/env bash
# Run programs under valgrind; any memory error or any definite, indirect or possible leak
# fails the run. (A pool thread still alive at exit would show as "possibly lost": this is the
# check that the thread pool is shut down at exit.)
#   1. every example in examples/valgrind.list, with its arguments;
#   2. a program built here against the library that uses the thread pool (cf_work), files
#      (cf_fs_write_file, cf_fs_read_file) and DNS (cf_dns_getaddrinfo of localhost);
#   3. `ghibli films --offline -o FILE` in each style (files, the pool, the HTTP client and the
#      bundled server in one process);
#   4. `ghibli serve --port 0` and `ghibli films --url` against it, as two processes on
#      127.0.0.1 (the HTTP server and the HTTP client each under valgrind);
#   5. the thread pool's and the coroutines' own tests.
#   scripts/valgrind-examples.sh [BUILD_DIR]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "valgrind-examples: $*" >&2
  exit 1
}

# valgrind with its report in a file (add --log-file=LOG); status 99 on a finding.
# shellcheck disable=SC2054 # the commas are in valgrind's own option values
vg=(valgrind -q --error-exitcode=99 --child-silent-after-fork=yes --leak-check=full
  --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible)

# check NAME PROGRAM ARGS...: run it under valgrind; it must exit 0 with a clean report.
count=0
check() {
  local name=$1 log="$tmp/$1.vg" rc=0
  shift
  "${vg[@]}" --log-file="$log" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  if [ "$rc" -ne 0 ] || [ -s "$log" ]; then
    cat "$log" "$tmp/$name.err" >&2
    fail "$name: exit status $rc under valgrind"
  fi
  count=$((count + 1))
}

# 1. The examples.
list=examples/valgrind.list
[ -f "$list" ] || fail "no $list"
while read -r name args; do
  case "$name" in '' | '#'*) continue ;; esac
  exe="$build/bin/examples/$name"
  [ -x "$exe" ] || fail "$exe missing"
  # shellcheck disable=SC2086
  check "example-$name" "$exe" $args
done <"$list"

# 2. The thread pool, files and DNS, through the public API of the static library.
[ -f "$build/lib/libcalcifer.a" ] || fail "$build/lib/libcalcifer.a missing"
cat >"$tmp/pool_io.c" <<'C'
#include <calcifer.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

static const char text[] = "Howl's Moving Castle\n";
static int steps;

static void job(void *data)
{
    *(int *)data = 42; /* on a worker thread */
}

static void job_done(int status, const cf_error *err, void *data)
{
    (void)err;
    if (status == 0 && *(int *)data == 42)
        steps++;
}

static void resolved(int status, const cf_error *err, const struct addrinfo *res, void *data)
{
    (void)err;
    (void)data;
    if (status == 0 && res)
        steps++;
}

static void read_back(int status, const cf_error *err, const char *bytes, size_t len, void *data)
{
    (void)err;
    (void)data;
    if (status == 0 && len == strlen(text) && memcmp(bytes, text, len) == 0)
        steps++;
}

static void written(int status, const cf_error *err, void *data)
{
    cf_loop *loop = data;
    (void)err;
    if (status == 0 && cf_fs_read_file(loop, "pool_io.txt", NULL, read_back, NULL) == 0)
        steps++;
}

int main(void)
{
    cf_loop *loop;
    int value = 0;
    if (cf_loop_new(&loop) != 0)
        return 1;
    if (cf_work(loop, job, NULL, job_done, &value) != 0 ||
        cf_fs_write_file(loop, "pool_io.txt", text, strlen(text), 0, NULL, written, loop) != 0 ||
        cf_dns_getaddrinfo(loop, "localhost", "80", NULL, NULL, resolved, NULL) != 0)
        return 1;
    int rc = cf_run(loop, CF_RUN_DEFAULT);
    if (cf_loop_close(loop) != 0 || rc != 0 || steps != 4) {
        fprintf(stderr, "pool_io: %d of 4 steps\n", steps);
        return 1;
    }
    return 0;
}
C
# shellcheck disable=SC2046
# The build tree's calcifer-static.pc names libcalcifer.a and what it needs (libcurl, libdw).
cc -std=c11 -Wall -Wextra -Werror -g -Iinclude -o "$tmp/pool_io" "$tmp/pool_io.c" \
  $(PKG_CONFIG_PATH="$build/lib/pkgconfig" pkg-config --libs calcifer-static) ||
  fail "pool_io does not compile against the library"
(cd "$tmp" && check pool_io "$tmp/pool_io")
count=$((count + 1)) # the subshell's count is lost

# 3. ghibli -o in each style: the three files must be the same.
ghibli="$build/bin/ghibli"
[ -x "$ghibli" ] || fail "$ghibli missing"
for style in callbacks promises async; do
  check "ghibli-$style" "$ghibli" films --offline --style "$style" -o "$tmp/films-$style.csv"
  [ -s "$tmp/films-$style.csv" ] || fail "ghibli --style $style wrote no films"
  cmp -s "$tmp/films-callbacks.csv" "$tmp/films-$style.csv" ||
    fail "ghibli --style $style wrote another file than --style callbacks"
done

# 4. The HTTP server and client as two processes, both under valgrind; the server is stopped
# with SIGTERM, which it handles by closing its loop and exiting 0.
# Started directly (no function, no subshell): $! is valgrind, which receives the signal.
"${vg[@]}" --log-file="$tmp/serve.vg" "$ghibli" serve --port 0 >"$tmp/serve.out" \
  2>"$tmp/serve.err" &
server_pid=$!
port=
for _ in $(seq 600); do # 60 s at most: valgrind starts slowly
  port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$tmp/serve.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/serve.vg" "$tmp/serve.err" >&2; fail "ghibli serve did not start"; }
check ghibli-client "$ghibli" films --url "http://127.0.0.1:$port/films" -o "$tmp/films-served.csv"
cmp -s "$tmp/films-callbacks.csv" "$tmp/films-served.csv" ||
  fail "ghibli films --url wrote another file than --offline"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
if [ "$rc" -ne 0 ] || [ -s "$tmp/serve.vg" ]; then
  cat "$tmp/serve.vg" "$tmp/serve.err" >&2
  fail "ghibli serve: exit status $rc under valgrind"
fi
count=$((count + 1))
echo "valgrind-examples: $count programs clean (examples, pool/fs/dns, ghibli -o, HTTP server and client)"

# 5. The pool's test (several loops on several threads, the shutdown at exit) and the
# coroutine tests: every stack switch is registered with valgrind, so this checks the fibers
# and the tasks built on them, not only the programs that use them.
for t in test_pool test_fiber test_task test_group; do
  exe="$build/tests/$t"
  [ -x "$exe" ] || fail "$exe missing"
  (cd "$tmp" && check "$t" "$exe")
done
echo "valgrind-examples: test_pool, test_fiber, test_task and test_group clean"
