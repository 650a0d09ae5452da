#!/usr/bin/env bash
# Fail when clang-format would change any tracked or new C file.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' | grep -v '^fuzz/corpus/' || true)
[ -z "$files" ] && exit 0
if ! echo "$files" | xargs clang-format --dry-run --Werror 2>/tmp/cf-format.$$; then
  head -n 40 /tmp/cf-format.$$ >&2
  rm -f /tmp/cf-format.$$
  echo "check-format: run 'make format'" >&2
  exit 1
fi
rm -f /tmp/cf-format.$$
echo "check-format: ok"
