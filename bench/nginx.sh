# shellcheck shell=bash
# Sourced by the HTTP server benchmarks: nginx as the peer, with the fast-path settings they
# share (sendfile, an open-file cache, keep-alive without limits, no access log).

# nginx_conf DIR WORKERS PORT ROOT: write DIR/nginx.conf serving ROOT on 127.0.0.1:PORT
# with WORKERS worker processes, in the foreground, its logs and pid file in DIR.
nginx_conf() {
  local dir=$1 workers=$2 port=$3 root=$4
  mkdir -p "$dir/logs" "$root"
  cat >"$dir/nginx.conf" <<NGX
worker_processes $workers;
daemon off;
error_log $dir/logs/error.log;
pid $dir/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=16;
  keepalive_timeout 600s;
  keepalive_requests 100000000;
  types { }
  default_type "application/json; charset=utf-8";
  server {
    listen 127.0.0.1:$port;
    location / { root $root; }
  }
}
NGX
}
