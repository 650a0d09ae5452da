#!/usr/bin/env bash
# The cost of observability compiled in but turned off: bench_observe --plain from BUILD
# (the normal build) against the same program built with -DCF_NO_OBSERVE (every hook compiled
# out), in BUILD-noobs. Runs alternate between the two builds; prints medians.
#   bench/bench_observe.sh BUILD [ROUNDS]     (BUILD made with -DCF_BUILD_BENCH=ON)
# Each line: name with-hooks without ratio (seconds; ratio = with / without: 1.01 is 1% slower).
# Then, when valgrind is installed, the same as instructions executed (callgrind), which a
# loaded machine does not blur: the single-threaded workloads, one run each.
set -euo pipefail
build=${1:?usage: bench/bench_observe.sh BUILD_DIR [ROUNDS]}
rounds=${2:-5}
cd "$(dirname "$0")/.."
base="$build-noobs"
if [ ! -x "$build/bin/bench_observe" ]; then
  echo "bench_observe.sh: $build/bin/bench_observe is missing (configure with -DCF_BUILD_BENCH=ON)" >&2
  exit 1
fi
cmake -S . -B "$base" -DCMAKE_BUILD_TYPE=Release -DCF_BUILD_BENCH=ON -DCF_BUILD_TESTS=OFF \
  -DCF_BUILD_EXAMPLES=OFF -DCMAKE_C_FLAGS=-DCF_NO_OBSERVE >/dev/null
cmake --build "$base" --target bench_observe >/dev/null
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
if command -v valgrind >/dev/null 2>&1; then
  printf '%-40s %10s %10s %8s\n' "# name (instructions, millions)" with without ratio
  for w in immediates microtasks timers; do
    for b in "$build" "$base"; do
      valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$b/bin/bench_observe" \
        --plain -r 1 --only "$w" 2>&1 >/dev/null | sed -n 's/.*Collected : //p' >"$out/ir.$(basename "$b")"
    done
    a=$(cat "$out/ir.$(basename "$build")")
    b=$(cat "$out/ir.$(basename "$base")")
    python3 -c "import sys; a, b = int(sys.argv[2]), int(sys.argv[3]); print(f'{sys.argv[1]:40s} {a/1e6:10.1f} {b/1e6:10.1f} {a/b:8.3f}')" "$w" "$a" "$b"
  done
fi
