#!/usr/bin/env bash
# One port, many loops: `ghibli serve --workers N` against nginx (`worker_processes N`) and
# Node's cluster (bench/peers/cluster.js, N workers), all serving the same films JSON.
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target ghibli
#   bench/http_workers.sh build-rel [DURATION_S]
# Prints `name calcifer peer ratio`:
#  - server CPU time per request, in microseconds: utime+stime of every process of the server
#    (/proc/PID/stat of the process and its children: nginx's master and workers, Node's
#    primary and workers; ghibli's threads are in its one process) over a `wrk -t1 -c64
#    -dDURATION_S` run, divided by the requests wrk completed. N=1: the server on CPU 1, wrk
#    on CPU 0 (taskset). N=2: nothing pinned (two cores for the server and wrk alike). Ratio =
#    calcifer / peer: lower is better for Calcifer.
#  - the growth of that cost from N=1 to N=2 (cost at 2 / cost at 1) for each server.
#  - connections per worker under `wrk -t2 -c256 -d5s`: max/min of the workers' counts
#    printed on exit (`WORKER k CONNECTIONS n`), ghibli with SO_REUSEPORT and with --balance,
#    against Node's cluster (round-robin); then the same with 16 connections, where a hash
#    spreads least evenly.
set -euo pipefail
build=${1:?usage: bench/http_workers.sh BUILD_DIR [DURATION_S]}
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
ghibli="$build/bin/ghibli"
[ -x "$ghibli" ] || { echo "http_workers.sh: build $ghibli first" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx's workers run as another user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)

# start NAME CMD...: run CMD in the background, wait for its "PORT <n>" line; sets $port, $pid.
start() {
  local name=$1
  shift
  : >"$tmp/$name.out"
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    port=$(awk '/^PORT /{print $2; exit}' "$tmp/$name.out")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "http_workers.sh: $name did not start: $(cat "$tmp/$name.err")" >&2
  exit 1
}

# stop PID: SIGTERM, then wait (at most 30 s) for the process to end.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# ticks PID: utime+stime of PID and of its children (clock ticks).
ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}

# cost PID URL WRK_PREFIX...: microseconds of server CPU per request over one wrk run.
cost() {
  local spid=$1 url=$2
  shift 2
  "$@" wrk -t1 -c64 -d1s "$url" >/dev/null # warm-up
  local t0 t1 n
  t0=$(ticks "$spid")
  n=$("$@" wrk -t1 -c64 -d"${secs}s" "$url" | awk '/requests in/{print $1}')
  t1=$(ticks "$spid")
  awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN{printf "%.2f\n", d * 1e6 / hz / n}'
}

# spread NAME: max/min of the WORKER lines of $tmp/NAME.out.
spread() {
  awk '/^WORKER /{c=$4; if (max == "" || c > max) max = c; if (min == "" || c < min) min = c}
       END{if (min > 0) printf "%.2f\n", max / min; else print "inf"}' "$tmp/$1.out"
}

# The films JSON, as every server sends it.
start films "$ghibli" serve --port 0
curl -s "http://127.0.0.1:$port/films" -o "$tmp/films"
stop "$pid"

# nginx with N workers (bench/nginx.sh: the settings bench/http_server.sh uses too).
# shellcheck source=bench/nginx.sh
. "$here/nginx.sh"
nginx_conf_n() {
  mkdir -p "$tmp/www"
  cp "$tmp/films" "$tmp/www/films"
  nginx_conf "$tmp/nginx$1" "$1" "$ngx_port" "$tmp/www"
}

# start_nginx N PIN...: sets $port, $pid (the master).
start_nginx() {
  local n=$1
  shift
  ngx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  nginx_conf_n "$n"
  "$@" /usr/sbin/nginx -p "$tmp/nginx$n" -c "$tmp/nginx$n/nginx.conf" 2>"$tmp/nginx$n.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$ngx_port/films" -o /dev/null && break
    sleep 0.1
  done
  port=$ngx_port
  cmp -s "$tmp/films" <(curl -s "http://127.0.0.1:$port/films") || { echo "nginx serves other bytes" >&2; exit 1; }
}

url() { echo "http://127.0.0.1:$1/films"; }

# ---- CPU per request, N = 1 (server on CPU 1, wrk on CPU 0) ----
start cal1 taskset -c 1 "$ghibli" serve --port 0
cal1=$(cost "$pid" "$(url "$port")" taskset -c 0)
stop "$pid"
start_nginx 1 taskset -c 1
ngx1=$(cost "$pid" "$(url "$port")" taskset -c 0)
stop "$pid"
start node1 taskset -c 1 node "$here/peers/cluster.js" "$tmp/films" 1
cmp -s "$tmp/films" <(curl -s "$(url "$port")") || { echo "node serves other bytes" >&2; exit 1; }
nod1=$(cost "$pid" "$(url "$port")" taskset -c 0)
stop "$pid"

# ---- CPU per request, N = 2 (nothing pinned) ----
start cal2 "$ghibli" serve --port 0 --workers 2
cal2=$(cost "$pid" "$(url "$port")")
stop "$pid"
start cal2b "$ghibli" serve --port 0 --workers 2 --balance
cal2b=$(cost "$pid" "$(url "$port")")
stop "$pid"
start_nginx 2
ngx2=$(cost "$pid" "$(url "$port")")
stop "$pid"
start node2 node "$here/peers/cluster.js" "$tmp/films" 2
nod2=$(cost "$pid" "$(url "$port")")
stop "$pid"

# ---- connections per worker under 256 and 16 connections ----
for c in 256 16; do
  for name in reuse: balance:--balance; do
    start "spread${c}_${name%%:*}" "$ghibli" serve --port 0 --workers 2 ${name#*:}
    wrk -t2 -c"$c" -d5s "$(url "$port")" >/dev/null
    stop "$pid"
  done
  start "spread${c}_node" node "$here/peers/cluster.js" "$tmp/films" 2
  wrk -t2 -c"$c" -d5s "$(url "$port")" >/dev/null
  stop "$pid"
done

line() { awk -v n="$1" -v c="$2" -v p="$3" 'BEGIN{printf "%-40s %10.2f %10.2f %7.2fx\n", n, c, p, c/p}'; }
printf '%-40s %10s %10s %8s\n' name calcifer peer ratio
line cpu_us_per_req_1w_vs_nginx "$cal1" "$ngx1"
line cpu_us_per_req_1w_vs_node_cluster "$cal1" "$nod1"
line cpu_us_per_req_2w_vs_nginx "$cal2" "$ngx2"
line cpu_us_per_req_2w_vs_node_cluster "$cal2" "$nod2"
line cpu_us_per_req_2w_balance_vs_nginx "$cal2b" "$ngx2"
line cpu_growth_1w_to_2w_vs_nginx "$(awk -v a="$cal2" -v b="$cal1" 'BEGIN{print a/b}')" \
  "$(awk -v a="$ngx2" -v b="$ngx1" 'BEGIN{print a/b}')"
line cpu_growth_1w_to_2w_vs_node_cluster "$(awk -v a="$cal2" -v b="$cal1" 'BEGIN{print a/b}')" \
  "$(awk -v a="$nod2" -v b="$nod1" 'BEGIN{print a/b}')"
for c in 256 16; do
  node_spread=$(spread "spread${c}_node")
  line "conns_max_min_${c}_reuseport_vs_node" "$(spread "spread${c}_reuse")" "$node_spread"
  line "conns_max_min_${c}_balance_vs_node" "$(spread "spread${c}_balance")" "$node_spread"
done
for c in 256 16; do
  for name in reuse balance node; do
    echo "# spread${c}_$name: $(grep '^WORKER' "$tmp/spread${c}_$name.out" | awk '{printf "%s ", $4}')"
  done
done
