#!/usr/bin/env bash
# clang-tidy over the library's sources with .clang-tidy's checks (function size limits of
# STYLE.md §8 and a few bug-prone patterns), using a build's compile_commands.json. Only the
# files that build compiled are checked (one poll and one context switch backend per build).
#   scripts/check-tidy.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "check-tidy: $db missing (build first)" >&2; exit 1; }
files=$(python3 - "$db" <<'PY'
import json, sys
entries = json.load(open(sys.argv[1]))
print("\n".join(sorted({e["file"] for e in entries
                        if "/src/" in e["file"] and e["file"].endswith(".c")})))
PY
)
out=$(echo "$files" | xargs -P 2 -n 6 clang-tidy -p "$build" --quiet 2>/dev/null || true)
if echo "$out" | grep -q "error:"; then
  echo "$out" | grep -E "error:|note:" >&2
  echo "check-tidy: fix the findings above" >&2
  exit 1
fi
echo "check-tidy: ok ($(echo "$files" | wc -l) files)"
