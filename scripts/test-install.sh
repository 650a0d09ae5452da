#!/usr/bin/env bash
# Install a build into a deep temporary prefix, build a small program against the install in
# every way docs/install.md documents, and RUN each one with no LD_LIBRARY_PATH:
#   1. pkg-config: README.md's compile line word for word (the shared library, found through the
#      rpath in calcifer.pc), the same with --static, and calcifer-static (libcalcifer.a);
#   2. CMake's find_package(calcifer): calcifer::calcifer (static) and calcifer::calcifer_shared,
#      both from the consumer's build tree and after the consumer's own `cmake --install`.
# Then move the whole prefix elsewhere and do it all again: the .pc files and the CMake package
# find the prefix from where they lie.
#   scripts/test-install.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: scripts/test-install.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH
fail() {
  echo "test-install: $*" >&2
  exit 1
}

# The compile line users are told to type: it must be README.md's, word for word.
# shellcheck disable=SC2016 # the line is evaluated later, as typed
readme_line='cc -o app app.c $(pkg-config --cflags --libs calcifer)'
grep -qF -- "$readme_line" "$src/README.md" || fail "README.md does not show: $readme_line"

prefix="$tmp/a/deep/path/to/the/prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
for f in include/calcifer.h include/calcifer/loop.h bin/ghibli share/man/man1/ghibli.1; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done

# A timer and a job on the thread pool: the pool's threads start in the installed library.
cat >"$tmp/app.c" <<'C'
#include <calcifer.h>
#include <stdio.h>
#include <string.h>

static void later(void *data)
{
    *(int *)data += 40;
}

static void job(void *data)
{
    *(int *)data += 2; /* on a worker thread; the loop reads it after done */
}

int main(void)
{
    cf_loop *loop;
    int seen = 0;
    if (cf_loop_new(&loop) != 0 || cf_set_timeout(loop, 1, later, &seen, NULL) != 0 ||
        cf_work(loop, job, NULL, NULL, &seen) != 0)
        return 1;
    cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    printf("calcifer %s %d\n", cf_version(), seen);
    return seen == 42 && strcmp(cf_version(), CF_VERSION_STRING) == 0 ? 0 : 1;
}
C

# Run `$1` (a program) in its own directory; it must print the version and exit 0.
run() {
  local out
  out=$(cd "$(dirname "$1")" && "$1" 2>&1) || fail "$2: $1 does not run: $out"
  [ "$out" = "calcifer $(sed -n 's/^Version: //p' "$pc") 42" ] || fail "$2: $1 printed: $out"
}

# Whether program `$1` loads libcalcifer.so at run time.
needs_shared() {
  readelf -d "$1" | grep -q 'NEEDED.*libcalcifer\.so\.0'
}

# Build and run the program against the install at `$1` every documented way; `$2` names it.
check_prefix() {
  local at=$1 name=$2 dir="$tmp/use-$2"
  pc=$(find "$at" -name calcifer.pc -path '*/pkgconfig/*' | head -n 1)
  [ -n "$pc" ] || fail "$name: no calcifer.pc under $at"
  mkdir -p "$dir/cm"
  cp "$tmp/app.c" "$dir/"
  # 1. pkg-config.
  (
    cd "$dir"
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(dirname "$pc")
    eval "$readme_line"
    # shellcheck disable=SC2046
    cc -o app-static-flags app.c $(pkg-config --cflags --libs --static calcifer)
    # shellcheck disable=SC2046
    cc -o app-archive app.c $(pkg-config --cflags --libs calcifer-static)
  ) || fail "$name: a pkg-config build failed"
  needs_shared "$dir/app" || fail "$name: the README's line did not link libcalcifer.so"
  run "$dir/app" "$name, pkg-config calcifer"
  run "$dir/app-static-flags" "$name, pkg-config --static calcifer"
  ! needs_shared "$dir/app-archive" || fail "$name: calcifer-static linked libcalcifer.so"
  run "$dir/app-archive" "$name, pkg-config calcifer-static"
  # 2. CMake's find_package, then the consumer's own install (its build rpath is dropped there).
  cat >"$dir/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(app C)
find_package(calcifer 0.2 REQUIRED)
add_executable(app_static ../app.c)
target_link_libraries(app_static PRIVATE calcifer::calcifer)
add_executable(app_shared ../app.c)
target_link_libraries(app_shared PRIVATE calcifer::calcifer_shared)
install(TARGETS app_static app_shared DESTINATION bin)
CM
  {
    cmake -S "$dir/cm" -B "$dir/cm/build" -DCMAKE_PREFIX_PATH="$at" &&
      cmake --build "$dir/cm/build" &&
      cmake --install "$dir/cm/build" --prefix "$dir/cm/installed"
  } >"$dir/cm.log" 2>&1 || { cat "$dir/cm.log" >&2; fail "$name: the find_package build failed"; }
  ! needs_shared "$dir/cm/build/app_static" || fail "$name: calcifer::calcifer is not static"
  needs_shared "$dir/cm/build/app_shared" || fail "$name: calcifer::calcifer_shared is not shared"
  for exe in build/app_static build/app_shared installed/bin/app_static installed/bin/app_shared; do
    run "$dir/cm/$exe" "$name, find_package"
  done
  # A program run under valgrind through the shared library: the pool's threads are joined.
  if command -v valgrind >/dev/null; then
    valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible "$dir/app" >/dev/null 2>"$dir/vg.log" ||
      { cat "$dir/vg.log" >&2; fail "$name: valgrind found errors in the shared-library program"; }
  fi
  "$at/bin/ghibli" --version >/dev/null || fail "$name: the installed ghibli does not run"
}

check_prefix "$prefix" deep
# The relocated install, with the first one gone: nothing may still point into it.
mv "$tmp/a" "$tmp/moved"
check_prefix "$tmp/moved/deep/path/to/the/prefix" moved
echo "test-install: a deep prefix and the same prefix moved: pkg-config (the README's line," \
  "--static, calcifer-static) and find_package (calcifer::calcifer," \
  "calcifer::calcifer_shared), all run without LD_LIBRARY_PATH: ok"
