#!/usr/bin/env bash
# Run every libFuzzer target of a build for a bounded time on its corpus.
#   scripts/fuzz.sh BUILD_DIR SECONDS
# Each BUILD_DIR/fuzz/fuzz_<t> runs for SECONDS (-max_total_time) seeded from
# fuzz/corpus/<t>/; new inputs go to BUILD_DIR/fuzz/corpus/<t>/ and crashes to
# BUILD_DIR/fuzz/artifacts/, so the checked-in corpora change only by hand.
set -euo pipefail
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
targets=$(find "$build" -maxdepth 2 -type f -perm -u+x -name 'fuzz_*' | sort)
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz_* binary under $build (configure with CC=clang -DCF_BUILD_FUZZ=ON)" >&2
  exit 1
fi
status=0
for bin in $targets; do
  name=$(basename "$bin")
  corpus=${name#fuzz_}
  work="$build/fuzz/corpus/$corpus"
  artifacts="$build/fuzz/artifacts/$corpus/"
  mkdir -p "$work" "$artifacts" "$root/fuzz/corpus/$corpus"
  echo "fuzz.sh: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$work" "$root/fuzz/corpus/$corpus"; then
    echo "fuzz.sh: $name failed; see $artifacts" >&2
    status=1
  fi
done
exit $status
