#!/usr/bin/env bash
# HTTP server throughput and idle-connection memory, against Node's http server and nginx
# (one worker), all serving the same films JSON (the Ghibli stand-in's /films).
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target example_ghibli_serve
#   bench/http_server.sh build-rel [DURATION_S] [IDLE_CONNECTIONS] [ROUNDS]
# Prints `name calcifer peer ratio`: requests per second with `wrk -t1 -c64 -dDURATION_S`
# (the median of ROUNDS runs of each server, taken in turns; ratio = calcifer / peer, higher
# is better for Calcifer), and resident bytes per idle keep-alive connection (ratio = peer /
# calcifer, higher is better for Calcifer). Calcifer runs twice: as it comes, and with the
# loop's busy polling on (--busy-poll 50, cf_loop_set_busy_poll), the `_busy_poll` lines.
set -euo pipefail
build=${1:?usage: bench/http_server.sh BUILD_DIR [DURATION_S] [IDLE_CONNECTIONS] [ROUNDS]}
secs=${2:-10}
idle=${3:-10000}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
serve="$build/bin/examples/ghibli_serve"
[ -x "$serve" ] || { echo "http_server.sh: build $serve first" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx's worker runs as another user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

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
  echo "http_server.sh: $name did not start: $(cat "$tmp/$name.err")" >&2
  exit 1
}

rate() { # URL → requests per second
  wrk -t1 -c64 -d1s "$1" >/dev/null # warm-up
  wrk -t1 -c64 -d"${secs}s" "$1" | awk '/^Requests\/sec:/{print $2}'
}

start calcifer "$serve" --port 0 --keep-alive 0
cal_port=$port
cal_pid=$pid
curl -s "http://127.0.0.1:$cal_port/films" -o "$tmp/films"

start calcifer_bp "$serve" --port 0 --keep-alive 0 --busy-poll 50
bp_port=$port

start node node "$here/peers/http_server.js" "$tmp/films" 0
node_port=$port
node_pid=$pid

# nginx, one worker, with its usual fast-path settings for static files.
ngx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck source=bench/nginx.sh
. "$here/nginx.sh"
mkdir -p "$tmp/www"
cp "$tmp/films" "$tmp/www/films"
nginx_conf "$tmp/nginx" 1 "$ngx_port" "$tmp/www"
/usr/sbin/nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.err" &
pids+=($!)
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$ngx_port/films" -o /dev/null && break
  sleep 0.1
done
ngx_worker=$(pgrep -P "$(cat "$tmp/nginx/nginx.pid")" | head -1)

cmp -s "$tmp/films" <(curl -s "http://127.0.0.1:$ngx_port/films") || { echo "nginx serves other bytes" >&2; exit 1; }
cmp -s "$tmp/films" <(curl -s "http://127.0.0.1:$node_port/films") || { echo "node serves other bytes" >&2; exit 1; }

median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
: >"$tmp/cal.r"
: >"$tmp/bp.r"
: >"$tmp/nod.r"
: >"$tmp/ngx.r"
for _ in $(seq "$rounds"); do
  rate "http://127.0.0.1:$cal_port/films" >>"$tmp/cal.r"
  rate "http://127.0.0.1:$bp_port/films" >>"$tmp/bp.r"
  rate "http://127.0.0.1:$node_port/films" >>"$tmp/nod.r"
  rate "http://127.0.0.1:$ngx_port/films" >>"$tmp/ngx.r"
done
cal=$(median <"$tmp/cal.r")
bp=$(median <"$tmp/bp.r")
nod=$(median <"$tmp/nod.r")
ngx=$(median <"$tmp/ngx.r")
printf '%-34s %12s %12s %8s\n' name calcifer peer ratio
awk -v c="$cal" -v p="$nod" 'BEGIN{printf "%-34s %12.0f %12.0f %7.2fx\n", "films_req_per_s_vs_node", c, p, c/p}'
awk -v c="$cal" -v p="$ngx" 'BEGIN{printf "%-34s %12.0f %12.0f %7.2fx\n", "films_req_per_s_vs_nginx_1worker", c, p, c/p}'
awk -v c="$bp" -v p="$ngx" 'BEGIN{printf "%-34s %12.0f %12.0f %7.2fx\n", "films_req_per_s_busy_poll_vs_nginx", c, p, c/p}'

cal_b=$(python3 "$here/http_idle.py" "$cal_port" "$cal_pid" "$idle" /films)
nod_b=$(python3 "$here/http_idle.py" "$node_port" "$node_pid" "$idle" /films)
ngx_b=$(python3 "$here/http_idle.py" "$ngx_port" "$ngx_worker" "$idle" /films)
awk -v c="$cal_b" -v p="$nod_b" -v n="$idle" 'BEGIN{printf "%-34s %12.0f %12.0f %7.2fx\n", "idle_bytes_per_conn_" n "_vs_node", c, p, p/c}'
awk -v c="$cal_b" -v p="$ngx_b" -v n="$idle" 'BEGIN{printf "%-34s %12.0f %12.0f %7.2fx\n", "idle_bytes_per_conn_" n "_vs_nginx", c, p, p/c}'
