#!/usr/bin/env bash
# The flagship end to end: each tutorial program and `ghibli films`, a fresh process per run,
# against one local server, side by side with the tutorial's Node programs (node with
# `request` and `axios` from npm, installed into bench/peers/tutorial/node_modules here).
#
#   bench/bench_flagship.sh [BUILD_DIR] [-r RUNS]
#
# BUILD_DIR (default build-bench; a Release build is best) must hold bin/ghibli and
# bin/examples/; run it on build-lean (`make lean`) too for the lean build's figures. The server is the project's API stand-in (`ghibli serve`), the same for
# both sides. Wall time is hyperfine's mean over RUNS runs after warm-up (a loop timed with
# `date` when hyperfine is missing); peak memory is the median of /usr/bin/time's maximum
# resident set size over 5 runs. Each line: name calcifer peer ratio (ratio = peer/calcifer;
# times in ms, memory in KiB).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build-bench
runs=50
while [ $# -gt 0 ]; do
  case "$1" in
    -r) runs=$2; shift 2 ;;
    *) build=$1; shift ;;
  esac
done
build=$(cd "$build" && pwd)
ghibli="$build/bin/ghibli"
ex="$build/bin/examples"
peers="$root/bench/peers/tutorial"
for f in "$ghibli" "$ex/callback_movies" "$ex/promise_movies" "$ex/async_await_movies"; do
  [ -x "$f" ] || { echo "bench_flagship: $f is missing (build BUILD_DIR first)" >&2; exit 1; }
done
command -v node >/dev/null || { echo "bench_flagship: node is missing" >&2; exit 1; }
if [ ! -d "$peers/node_modules/axios" ] || [ ! -d "$peers/node_modules/request" ]; then
  echo "bench_flagship: npm install (axios, request) into $peers/node_modules" >&2
  (cd "$peers" && npm install --no-audit --no-fund --silent >/dev/null)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/calcifer-bench.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$ghibli" serve --port 0 >"$work/serve.out" &
server_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$work/serve.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "bench_flagship: the server did not start" >&2; exit 1; }
export GHIBLI_API_URL="http://127.0.0.1:$port"
cd "$work"

# Check that both sides do the same job before timing them.
"$ex/callback_movies" >/dev/null && node "$peers/callbackMovies.js" >/dev/null
cp callbackMovies.csv c.csv
node "$peers/callbackMovies.js" >/dev/null
cmp -s c.csv callbackMovies.csv || { echo "bench_flagship: outputs differ" >&2; exit 1; }

# Mean wall time in ms of a command line.
wall_ms() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/h.json" "$1" >/dev/null 2>&1
    jq '.results[0].mean * 1000' "$work/h.json"
  else
    local start end
    start=$(date +%s%N)
    for _ in $(seq 1 "$runs"); do $1 >/dev/null 2>&1; done
    end=$(date +%s%N)
    awk -v s="$start" -v e="$end" -v n="$runs" 'BEGIN { print (e - s) / n / 1e6 }'
  fi
}

# Median over 5 runs of the peak resident set size in KiB.
peak_kib() {
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f %M $1 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n 3p
}

line() {
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-34s %10.2f %10.2f %8.1fx\n", n, a, b, b / a }'
}

if ldd "$ghibli" | grep -q 'libcurl\.so'; then
  echo "# $build: libcurl shared ($(ldd "$ghibli" | grep -c '=>') shared libraries loaded)"
else
  echo "# $build: libcurl static, HTTP(S) only (the lean build, docs/lean.md)"
fi
printf "%-34s %10s %10s %9s   (ms wall, KiB peak RSS)\n" "# name" calcifer peer ratio
run_pair() {
  local name=$1 mine=$2 theirs=$3
  line "${name}_wall_ms" "$(wall_ms "$mine")" "$(wall_ms "$theirs")"
  line "${name}_peak_rss_kib" "$(peak_kib "$mine")" "$(peak_kib "$theirs")"
}
run_pair tutorial_callbacks "$ex/callback_movies" "node $peers/callbackMovies.js"
run_pair tutorial_promises "$ex/promise_movies" "node $peers/promiseMovies.js"
run_pair tutorial_async_await "$ex/async_await_movies" "node $peers/asyncAwaitMovies.js"
# ghibli to standard output, and to a file through the atomic writer (which fsyncs the file
# and its folder before the rename: the durability costs a few ms of disk time).
run_pair ghibli_films_stdout "$ghibli films --url $GHIBLI_API_URL/films" \
  "node $peers/asyncAwaitMovies.js"
run_pair ghibli_films_file "$ghibli films --url $GHIBLI_API_URL/films -o films.csv" \
  "node $peers/asyncAwaitMovies.js"
