#!/bin/sh
# Re-record the Node traces of a scenario suite (node_rules, streams): for every
# SUITE/NN-name/program.js, run it under `node` (or $NODE) from its folder and write its
# standard output to NN-name/expected.txt. The Node version used is printed and kept in
# SUITE/node-version.txt. The expected.txt files are only ever written by this script, never
# by hand.
# Usage: tests/conformance/record.sh SUITE [FILTER]   (FILTER: part of a folder name)
set -eu
[ $# -ge 1 ] || { echo "usage: $0 node_rules|streams [FILTER]" >&2; exit 2; }
cd "$(dirname "$0")/$1" || { echo "$0: no suite '$1'" >&2; exit 2; }
shift
NODE=${NODE:-node}
version=$("$NODE" --version)
echo "recording with node $version"
case "$version" in
v20.*) ;;
*) echo "warning: the traces are meant to come from Node 20, this is $version" >&2 ;;
esac
for dir in [0-9][0-9]-*/; do
    dir=${dir%/}
    case "$dir" in *"${1:-}"*) ;; *) continue ;; esac
    if ! (cd "$dir" && "$NODE" program.js >expected.txt.new); then
        rm -f "$dir/expected.txt.new"
        echo "$dir: node failed" >&2
        exit 1
    fi
    mv "$dir/expected.txt.new" "$dir/expected.txt"
    echo "$dir: $(wc -l <"$dir/expected.txt") lines"
done
echo "$version" >node-version.txt
