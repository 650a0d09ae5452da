#!/usr/bin/env bash
# Run every benchmark of a build made with -DCF_BUILD_BENCH=ON (a Release build is best):
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCF_BUILD_BENCH=ON
#   cmake --build build-bench --target bench_core
#   bench/run.sh build-bench [-r REPEAT]
# Each line: name calcifer peer ratio (seconds; ratio = peer / calcifer).
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [-r REPEAT]}
shift
for b in "$build"/bin/bench_*; do
  [ -x "$b" ] || continue
  echo "## $(basename "$b")"
  "$b" "$@"
done
# Benchmarks written as scripts (bench/<topic>.sh BUILD_DIR) run after the programs.
for s in "$(dirname "$0")"/*.sh; do
  [ "$(basename "$s")" = run.sh ] && continue
  echo "## $(basename "$s")"
  "$s" "$build"
done
