#!/usr/bin/env bash
# Run the Promises/A+ test suite against Calcifer's promises and pass only when all of its
# tests pass: 872 passing, 0 failing, as mocha's summary says.
#
#   run-aplus.sh DIR ADDON
#
# DIR holds package.json, package-lock.json and adapter.js (copied there by CMake); the
# package is installed there with `npm ci` unless the pinned version is installed already.
# ADDON is the calcifer_aplus.node to test.
set -euo pipefail

expected=872
version=2.1.2
dir=${1:?usage: run-aplus.sh DIR ADDON}
addon=${2:?usage: run-aplus.sh DIR ADDON}
[ -f "$addon" ] || { echo "run-aplus: no addon at $addon (build the calcifer_aplus target)" >&2; exit 1; }
[ -f "$dir/package-lock.json" ] || { echo "run-aplus: no package-lock.json in $dir" >&2; exit 1; }
cd "$dir"

pkg=node_modules/promises-aplus-tests/package.json
installed=$(node -p "require('./$pkg').version" 2>/dev/null || true)
if [ "$installed" != "$version" ]; then
  echo "run-aplus: installing promises-aplus-tests@$version with npm ci into $dir"
  if ! timeout 300 npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1; then
    cat npm.log >&2
    echo "run-aplus: npm ci failed (the registry must be reachable the first time)" >&2
    exit 1
  fi
fi

# The CLI takes the adapter's path relative to the working directory. Each test waits up to
# --timeout ms for its `done` (the package's default, 200 ms, is little more than the suite's
# own 50 ms timers on a machine busy with parallel tests); the whole run is bounded.
set +e
CF_APLUS_ADDON="$addon" CF_APLUS_STATS=1 timeout 300 \
  node node_modules/promises-aplus-tests/lib/cli.js adapter.js --timeout 1000 >aplus.log 2>&1
status=$?
set -e
summary=$(sed 's/\x1b\[[0-9;]*m//g' aplus.log)
passing=$(echo "$summary" | sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' | tail -n 1)
failing=$(echo "$summary" | sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' | tail -n 1)
passing=${passing:-0}
failing=${failing:-0}
grep -E '^calcifer_aplus: ' aplus.log || true
echo "run-aplus: $passing passing, $failing failing (exit status $status); expected $expected passing"
if [ "$status" -ne 0 ] || [ "$passing" -ne "$expected" ] || [ "$failing" -ne 0 ]; then
  # The failures, as mocha lists them after its summary (or the end of the log without one).
  if echo "$summary" | grep -q ' passing '; then
    echo "$summary" | sed -n '/ passing /,$p' | head -n 200 >&2
  else
    echo "$summary" | tail -n 60 >&2
  fi
  echo "run-aplus: FAILED (full output: $dir/aplus.log)" >&2
  exit 1
fi
