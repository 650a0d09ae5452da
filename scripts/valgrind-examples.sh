#!/usr/bin/env bash
# Run every example program, and the coroutine tests, under valgrind; any leak or error fails
# the run.
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
  valgrind -q --error-exitcode=99 --child-silent-after-fork=yes --leak-check=full \
    --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible "$exe" $args >/dev/null
  count=$((count + 1))
done < "$list"
echo "valgrind-examples: $count example(s) clean"
# The coroutine tests too: every stack switch is registered with valgrind, so this checks the
# fibers and the tasks built on them, not only the programs that use them.
for t in test_fiber test_task test_group; do
  exe="$build/tests/$t"
  [ -x "$exe" ] || { echo "valgrind-examples: $exe missing" >&2; exit 1; }
  valgrind -q --error-exitcode=99 --child-silent-after-fork=yes --leak-check=full \
    --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible "$exe" >/dev/null
done
echo "valgrind-examples: test_fiber, test_task and test_group clean"
