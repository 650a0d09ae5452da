#!/usr/bin/env bash
# `make demo`: Calcifer's flagship, offline. Fetches the Studio Ghibli films from the bundled
# API stand-in (started inside the process, on 127.0.0.1) in each of the three styles of the
# tutorial, shows that the three CSV files are identical, prints them as a table, then runs
# the tutorial's three programs against the stand-in served by `ghibli serve`.
#
#   scripts/demo.sh [BUILD_DIR]      (the Makefile has built BUILD_DIR, default build)
#
# Needs no network. Everything it writes goes to a temporary folder, removed at the end.
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/.."
ghibli="$build/bin/ghibli"
examples="$build/bin/examples"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  bold=$'\033[1m' green=$'\033[32m' reset=$'\033[0m'
else
  bold='' green='' reset=''
fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
show() { printf '%s$ %s%s\n' "$green" "$*" "$reset"; }

if [ ! -x "$ghibli" ]; then
  echo "demo: $ghibli is missing; build first (make)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/calcifer-demo.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. the three styles ----
step "1. ghibli films --offline, written with callbacks, with promises, with async/await"
for style in callbacks promises async; do
  show "ghibli films --offline --style $style -o films-$style.csv"
  "$ghibli" films --offline --style "$style" -o "$work/films-$style.csv"
done

# ---- 2. identical ----
step "2. The three files are identical"
(
  cd "$work"
  show "cmp films-callbacks.csv films-promises.csv && cmp films-promises.csv films-async.csv"
  cmp films-callbacks.csv films-promises.csv
  cmp films-promises.csv films-async.csv
  echo "identical: $(wc -l <films-async.csv) lines, $(wc -c <films-async.csv) bytes each"
  show "sha256sum films-*.csv"
  sha256sum films-callbacks.csv films-promises.csv films-async.csv
)

# ---- 3. the table ----
# Aligned columns from the RFC 4180 file: python3's csv module when it is there (it is one
# of the project's dependencies), else a plain split on commas.
table() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for n, r in enumerate(rows):
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if n == 0:
        print("  ".join("-" * w for w in widths))
' "$1"
  else
    tr -d '\r' <"$1" | column -t -s,
  fi
}
step "3. The films, as a table"
show "ghibli films --offline --fields title,release_date,director,running_time"
"$ghibli" films --offline --fields title,release_date,director,running_time -o "$work/table.csv"
table "$work/table.csv"

# ---- 4. the tutorial's own programs ----
step "4. The tutorial's three programs, against the stand-in served by 'ghibli serve'"
if [ -x "$examples/callback_movies" ]; then
  examples=$(cd "$examples" && pwd)
  "$ghibli" serve --port 0 >"$work/serve.out" &
  server_pid=$!
  port=
  for _ in $(seq 1 100); do # up to 10 s for the server to print its port
    port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$work/serve.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "demo: 'ghibli serve' did not start" >&2
    exit 1
  fi
  mkdir "$work/tutorial"
  for program in callback_movies promise_movies async_await_movies; do
    show "GHIBLI_API_URL=http://127.0.0.1:$port $program"
    (cd "$work/tutorial" && GHIBLI_API_URL="http://127.0.0.1:$port" "$examples/$program")
  done
  (
    cd "$work/tutorial"
    cmp callbackMovies.csv promiseMovies.csv
    cmp promiseMovies.csv asyncAwaitMovies.csv
    show "head -3 callbackMovies.csv"
    head -3 callbackMovies.csv
    echo "identical: callbackMovies.csv promiseMovies.csv asyncAwaitMovies.csv ($(wc -l <callbackMovies.csv) lines)"
  )
else
  echo "(examples not built; configure with -DCF_BUILD_EXAMPLES=ON to run them)"
fi

step "Done. Try: $ghibli people --offline --with films   (or: man docs/ghibli.1)"
