#!/usr/bin/env bash
# What observability costs the HTTP server, in instructions per request (callgrind), which a
# loaded machine does not blur. ghibli_serve (the server bench/http_server.sh measures) runs
# under `valgrind --tool=callgrind` three ways: from BUILD (hooks compiled in, off), from
# BUILD-noobs (-DCF_NO_OBSERVE: every hook compiled out) and from BUILD with --metrics (the
# loop's timed metrics on). A Python http.client on 127.0.0.1 sends the requests over 4
# keep-alive connections taken in turns, one request in flight at a time, so that each run
# executes the same code; then the server gets SIGTERM and closes.
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DCF_BUILD_BENCH=ON -DCF_BUILD_TESTS=OFF
#   cmake --build build-rel --target example_ghibli_serve
#   bench/http_observe.sh build-rel [REQUESTS] [PATH...]     (20000 and "/films /" by default)
# Each server runs twice, with REQUESTS and with 2 x REQUESTS requests; instructions per request
# are (I(2N) - I(N)) / N, so that the start, the data set's loading and the close drop out.
# Prints, per path, `name with without ratio` (ratio = with / without: 1.01 is 1% more) and
# `name on off ratio` for the metrics (on / off, same build).
set -euo pipefail
build=${1:?usage: bench/http_observe.sh BUILD_DIR [REQUESTS] [PATH...]}
n=${2:-20000}
shift $(($# < 2 ? $# : 2))
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(/films /)
cd "$(dirname "$0")/.."
base="$build-noobs"
serve=bin/examples/ghibli_serve
[ -x "$build/$serve" ] || { echo "http_observe.sh: build $build/$serve first" >&2; exit 1; }
command -v valgrind >/dev/null 2>&1 || { echo "http_observe.sh: valgrind is not installed" >&2; exit 1; }
# Configured as bench/bench_observe.sh does, so that the two scripts share BUILD-noobs.
cmake -S . -B "$base" -DCMAKE_BUILD_TYPE=Release -DCF_BUILD_BENCH=ON -DCF_BUILD_TESTS=OFF \
  -DCF_BUILD_EXAMPLES=ON -DCMAKE_C_FLAGS=-DCF_NO_OBSERVE >/dev/null
cmake --build "$base" --target example_ghibli_serve >/dev/null

out=$(mktemp -d "${TMPDIR:-/tmp}/http-observe.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT

# The client: COUNT GETs of PATH over 4 connections in turns; fails on any other answer
# than 200 or a short body.
cat >"$out/client.py" <<'PY'
import http.client, sys
port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(4)]
for i in range(count):
    c = conns[i % 4]
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or len(body) != int(r.getheader("Content-Length", "-1")):
        sys.exit(f"http_observe.sh: GET {path}: {r.status}, {len(body)} bytes")
for c in conns:
    c.close()
PY

# ir BIN COUNT PATH [FLAG...]: the instructions ghibli_serve from BIN executes while serving
# COUNT requests for PATH, from its start to its close.
ir() {
  local bin=$1 count=$2 path=$3
  shift 3
  : >"$out/serve.out"
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$bin/$serve" --port 0 \
    --keep-alive 0 "$@" >"$out/serve.out" 2>"$out/serve.err" &
  pid=$!
  local port=
  for _ in $(seq 600); do # valgrind takes a few seconds to start the server
    port=$(awk '/^PORT /{print $2; exit}' "$out/serve.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "http_observe.sh: $bin/$serve did not start: $(cat "$out/serve.err")" >&2
    exit 1
  fi
  python3 "$out/client.py" "$port" "$count" "$path"
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  if [ "$rc" -ne 0 ]; then
    echo "http_observe.sh: $bin/$serve exited with $rc: $(cat "$out/serve.err")" >&2
    exit 1
  fi
  sed -n 's/.*Collected : //p' "$out/serve.err"
}

# per_request BIN PATH [FLAG...]: instructions per request, (I(2N) - I(N)) / N, to 0.1.
per_request() {
  local bin=$1 path=$2
  shift 2
  local a b
  a=$(ir "$bin" "$n" "$path" "$@")
  b=$(ir "$bin" $((2 * n)) "$path" "$@")
  echo $(((b - a) * 10 / n))
}

row() { # NAME A B, A and B in tenths: `name A B A/B`
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{printf "%-40s %10.1f %10.1f %8.3f\n", n, a/10, b/10, a/b}'
}

for path in "${paths[@]}"; do
  off=$(per_request "$build" "$path")
  noobs=$(per_request "$base" "$path")
  on=$(per_request "$build" "$path" --metrics)
  printf '%-40s %10s %10s %8s\n' "# GET $path (instructions per request)" with without ratio
  row "GET $path" "$off" "$noobs"
  printf '%-40s %10s %10s %8s\n' "# GET $path, metrics on" on off ratio
  row "GET $path" "$on" "$off"
done
