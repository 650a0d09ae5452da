#!/usr/bin/env bash
# Machine-checked rules of STYLE.md (model: curl's checksrc):
#  1. banned functions (unsafe string calls; raw allocation outside util/alloc.c; raw
#     read/write/open/accept/connect outside util/sys.h);
#  2. the layer rule: a src/<layer>/ file includes only its own layer, the layers above it
#     and util/; http/parser.c and data/ include util/ only;
#  3. only http/client.c includes <curl/curl.h>; no curl type in a public header;
#  4. application code stays in apps/: no Ghibli stand-in in src/ or include/, and apps/ and
#     examples/ include no private header of the library.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
report() {
  echo "check-style: $1" >&2
  fail=1
}

srcs=$(find src -name '*.c' -o -name '*.h' | sort)

# 1. Banned calls. Comments and strings are stripped roughly before matching.
strip() { sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e 's/"[^"]*"/""/g' "$1"; }
for f in $srcs; do
  body=$(strip "$f")
  for fn in sprintf vsprintf strcpy strcat strncpy strtok gets atoi atol alloca; do
    if echo "$body" | grep -nE "(^|[^a-zA-Z0-9_])${fn}[[:space:]]*\(" >/dev/null; then
      report "$f: banned function $fn()"
    fi
  done
  if [ "$f" != src/util/alloc.c ]; then
    for fn in malloc calloc realloc free; do
      if echo "$body" | grep -nE "(^|[^a-zA-Z0-9_.>])${fn}[[:space:]]*\(" >/dev/null; then
        report "$f: $fn() outside util/alloc.c (use cf__$fn)"
      fi
    done
  fi
  if [ "$f" != src/util/sys.h ]; then
    for fn in read write accept connect open; do
      if echo "$body" | grep -nE "(^|[^a-zA-Z0-9_.>])${fn}[[:space:]]*\(" >/dev/null; then
        report "$f: raw $fn() outside util/sys.h (use cf__sys_$fn)"
      fi
    done
  fi
done

# 2. The layer rule. Order: util < core < async < io < http; data stands beside core on util.
allowed() {
  case "$1" in
    util) echo "util" ;;
    core) echo "util core" ;;
    async) echo "util core async" ;;
    io) echo "util core async io data" ;;
    http) echo "util core async io http data" ;;
    data) echo "util data" ;;
  esac
}
for f in $srcs; do
  layer=$(echo "$f" | cut -d/ -f2)
  ok=$(allowed "$layer")
  if [ "$f" = src/http/parser.c ] || [ "$f" = src/http/parser.h ]; then ok="util http"; fi
  while IFS= read -r inc; do
    dir=${inc%%/*}
    [ "$dir" = calcifer ] && continue
    [ "$dir" = "$inc" ] && continue
    case " $ok " in *" $dir "*) ;; *) report "$f: includes $inc (layer $layer may use: $ok)" ;; esac
  done < <(grep -oE '^#include "[^"]+"' "$f" | sed -e 's/#include "//' -e 's/"$//')
done
# Public headers included by parser.c and data/ must not pull in a loop either.
for f in src/http/parser.c src/data/*.c; do
  [ -f "$f" ] || continue
  if grep -nE '#include "calcifer/(loop|timer|promise|coro|fs|tcp|http_client|http_server)\.h"' "$f" >/dev/null; then
    if [ "${f#src/data/}" != "$f" ] && grep -q 'CF_DATA_USES_LOOP' "$f"; then continue; fi
    report "$f: a util-only module includes a loop header"
  fi
done

# 3. curl stays inside http/client.c.
for f in $(grep -rlE '#include <curl/' src include 2>/dev/null); do
  [ "$f" = src/http/client.c ] || report "$f: includes curl (only src/http/client.c may)"
done
if grep -rnE '\bCURL[A-Za-z_]*\b' include >/dev/null 2>&1; then
  report "a curl type appears in a public header"
fi

# 4. No application code in the library; applications use the public headers only.
for f in $(grep -rlE 'ghibli_(api|server)|cf_ghibli' src include 2>/dev/null); do
  report "$f: names the Ghibli stand-in, which is application code (apps/ghibli_api)"
done
for f in $(find apps examples -name '*.c' -o -name '*.h' | sort); do
  if grep -nE '#include "(util|core|async|io|http|data)/' "$f" >/dev/null; then
    report "$f: includes a private header of the library (applications use include/ only)"
  fi
done

if [ $fail -ne 0 ]; then
  exit 1
fi
echo "check-style: ok"
