#!/bin/sh
# Re-record the Node traces of the stream scenarios: for every NN-name/program.js here,
# run it under `node` (or $NODE) from its folder and write its standard output to
# NN-name/expected.txt. The Node version used is printed and kept in node-version.txt.
# The expected.txt files are only ever written by this script, never by hand.
# Usage: tests/conformance/streams/record.sh [FILTER]   (FILTER: part of a folder name)
set -eu
cd "$(dirname "$0")"
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
