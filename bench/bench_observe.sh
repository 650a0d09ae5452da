#!/usr/bin/env bash
# The cost of observability compiled in but turned off: bench_observe --plain from BUILD
# (the normal build) against the same program built with -DCF_NO_OBSERVE (every hook compiled
# out), in BUILD-noobs. Runs alternate between the two builds; prints medians.
#   bench/bench_observe.sh BUILD [ROUNDS]     (BUILD made with -DCF_BUILD_BENCH=ON)
# Each line: name with-hooks without ratio (seconds; ratio = with / without: 1.01 is 1% slower).
# Then, when valgrind is installed, the same as instructions executed (callgrind), which a
# loaded machine does not blur: the single-threaded workloads, one run each, with and without
# the hooks and with the timed metrics on against off (same build); then the same for the
# awaits of bench_await --plain, as instructions per await. (BUILD-noobs is configured with the
# examples on, as bench/http_observe.sh does, so that the two share it.)
set -euo pipefail
build=${1:?usage: bench/bench_observe.sh BUILD_DIR [ROUNDS]}
rounds=${2:-5}
cd "$(dirname "$0")/.."
base="$build-noobs"
for prog in bench_observe bench_await; do
  if [ ! -x "$build/bin/$prog" ]; then
    echo "bench_observe.sh: $build/bin/$prog is missing (configure with -DCF_BUILD_BENCH=ON)" >&2
    exit 1
  fi
done
cmake -S . -B "$base" -DCMAKE_BUILD_TYPE=Release -DCF_BUILD_BENCH=ON -DCF_BUILD_TESTS=OFF \
  -DCF_BUILD_EXAMPLES=ON -DCMAKE_C_FLAGS=-DCF_NO_OBSERVE >/dev/null
cmake --build "$base" --target bench_observe bench_await >/dev/null
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-observe.XXXXXX")
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$rounds"); do
  "$build/bin/bench_observe" --plain -r 1 >"$out/with.$i"
  "$base/bin/bench_observe" --plain -r 1 >"$out/without.$i"
done
python3 - "$out" "$rounds" <<'PY'
import sys, statistics
out, rounds = sys.argv[1], int(sys.argv[2])
def load(kind):
    runs = {}
    for i in range(1, rounds + 1):
        for line in open(f"{out}/{kind}.{i}"):
            name, value = line.rsplit(None, 1)
            runs.setdefault(name.strip(), []).append(float(value))
    return runs
w, wo = load("with"), load("without")
print(f"{'# name (hooks compiled in, off)':40s} {'with':>10s} {'without':>10s} {'ratio':>8s}")
for name in w:
    a, b = statistics.median(w[name]), statistics.median(wo[name])
    print(f"{name:40s} {a:10.4f} {b:10.4f} {a / b:8.3f}")
PY
if ! command -v valgrind >/dev/null 2>&1; then
  exit 0
fi

# ir CMD...: the instructions CMD executes under callgrind (its stdout dropped).
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : //p'
}
# row NAME A B SCALE: `name A B A/B`, A and B divided by SCALE.
row() {
  python3 -c 'import sys; n, a, b, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]); print(f"{n:40s} {a/s:10.1f} {b/s:10.1f} {a/b:8.3f}")' "$@"
}

printf '%-40s %10s %10s %8s\n' "# name (instructions, millions)" with without ratio
for w in immediates microtasks timers; do
  row "$w" "$(ir "$build/bin/bench_observe" --plain -r 1 --only "$w")" \
    "$(ir "$base/bin/bench_observe" --plain -r 1 --only "$w")" 1e6
done
printf '%-40s %10s %10s %8s\n' "# name, metrics on (instructions, millions)" on off ratio
for w in immediates microtasks timers; do
  row "$w" "$(ir "$build/bin/bench_observe" --plain -r 1 --metrics --only "$w")" \
    "$(ir "$build/bin/bench_observe" --plain -r 1 --only "$w")" 1e6
done

# The awaits (bench_await --plain): instructions per await, from runs of N and 2N awaits
# ((I(2N) - I(N)) / N), so that the program's start and the loop's setup drop out.
n=200000
# per_await BIN [--metrics] WORKLOAD: instructions per await.
per_await() {
  local bin=$1
  shift
  local a b
  a=$(ir "$bin/bench_await" --plain "$@" "$n")
  b=$(ir "$bin/bench_await" --plain "$@" $((2 * n)))
  echo $(((b - a) * 1000 / n))
}
printf '%-40s %10s %10s %8s\n' "# name (instructions per await)" with without ratio
for w in await_settled await_fresh await_null await_pair; do
  off=$(per_await "$build/bin" --only "$w")
  echo "$off" >"$out/off.$w"
  row "$w" "$off" "$(per_await "$base/bin" --only "$w")" 1e3
done
printf '%-40s %10s %10s %8s\n' "# name, metrics on (instructions per await)" on off ratio
for w in await_settled await_fresh await_null await_pair; do
  row "$w" "$(per_await "$build/bin" --metrics --only "$w")" "$(cat "$out/off.$w")" 1e3
done
