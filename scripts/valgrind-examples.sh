#!/usr/bin/env bash
# Run every example program under valgrind; any leak or error fails the run.
# Examples that need a server are run by their own test drivers; here each example listed
# in examples/valgrind.list runs with its arguments.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
list=examples/valgrind.list
[ -f "$list" ] || { echo "valgrind-examples: no $list"; exit 0; }
count=0
while read -r name args; do
  case "$name" in ''|'#'*) continue ;; esac
  exe="$build/bin/examples/$name"
  [ -x "$exe" ] || { echo "valgrind-examples: $exe missing" >&2; exit 1; }
  # shellcheck disable=SC2086
  valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible "$exe" $args >/dev/null
  count=$((count + 1))
done < "$list"
echo "valgrind-examples: $count example(s) clean"
