#!/usr/bin/env bash
# Install a build into a temporary prefix, then build a small program against the installed
# library twice: with pkg-config, and with CMake's find_package(calcifer). Run it both times.
#   scripts/test-install.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: scripts/test-install.sh BUILD_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/app.c" <<'C'
#include <calcifer.h>
#include <stdio.h>
#include <string.h>

static void later(void *data)
{
    *(int *)data = 42;
}

int main(void)
{
    cf_loop *loop;
    int seen = 0;
    if (cf_loop_new(&loop) != 0 || cf_set_timeout(loop, 1, later, &seen, NULL) != 0)
        return 1;
    cf_run(loop, CF_RUN_DEFAULT);
    cf_loop_close(loop);
    printf("calcifer %s %d\n", cf_version(), seen);
    return seen == 42 && strcmp(cf_version(), CF_VERSION_STRING) == 0 ? 0 : 1;
}
C
# 1. pkg-config, static and shared.
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig:$tmp/prefix/lib64/pkgconfig"
libdir=$(pkg-config --variable=libdir calcifer)
# shellcheck disable=SC2046
cc -o "$tmp/app-pc" "$tmp/app.c" $(pkg-config --cflags calcifer) "$libdir/libcalcifer.a" \
  $(pkg-config --libs libcurl) -lpthread -lm
"$tmp/app-pc" | grep -q "calcifer" || { echo "test-install: pkg-config program failed" >&2; exit 1; }
cc -o "$tmp/app-so" "$tmp/app.c" $(pkg-config --cflags --libs calcifer)
LD_LIBRARY_PATH="$libdir" "$tmp/app-so" >/dev/null || { echo "test-install: shared program failed" >&2; exit 1; }
# 2. CMake's find_package.
mkdir -p "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(app C)
find_package(calcifer REQUIRED)
add_executable(app ../app.c)
target_link_libraries(app PRIVATE calcifer::calcifer)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/build" >/dev/null
"$tmp/cm/build/app" >/dev/null || { echo "test-install: find_package program failed" >&2; exit 1; }
# 3. What the install holds.
for f in include/calcifer.h include/calcifer/loop.h bin/ghibli share/man/man1/ghibli.1; do
  [ -e "$tmp/prefix/$f" ] || { echo "test-install: $f was not installed" >&2; exit 1; }
done
echo "test-install: pkg-config (static and shared), find_package and the ghibli command: ok"
