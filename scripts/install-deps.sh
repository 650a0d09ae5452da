#!/usr/bin/env bash
# Check that every Debian package the build, the tests and the demo need is installed.
# As root, install the missing ones with apt-get; otherwise print the exact command and stop.
#
#   scripts/install-deps.sh          build + tests + demo
#   scripts/install-deps.sh --bench  also what the benchmarks compare against
#   scripts/install-deps.sh --lean   also what the lean build's libcurl is built from
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format clang-tidy libclang-rt-14-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libdw-dev ca-certificates
  valgrind curl openssl nginx-light python3 jq nodejs npm
)
# The Promises/A+ test's Node-API addon needs node_api.h. Debian's nodejs (node 18) leaves it
# to libnode-dev (Node-API is ABI-stable: an addon built against those headers loads in a newer
# node); NodeSource's nodejs ships it itself and conflicts with libnode-dev, so that package is
# asked for only when the header is missing.
if [ ! -f /usr/include/node/node_api.h ] && [ ! -f /usr/local/include/node/node_api.h ]; then
  packages+=(libnode-dev)
fi
case "${1:-}" in
  --bench) packages+=(libuv1-dev wrk hyperfine) ;;
  --lean) packages+=(dpkg-dev debian-archive-keyring libnghttp2-dev libbrotli-dev libzstd-dev) ;;
esac

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *)
      # A tool present on PATH from elsewhere (node from another source, say) is enough.
      case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
        python3) command -v python3 >/dev/null 2>&1 && continue ;;
      esac
      missing+=("$p")
      ;;
  esac
done

# The tests resolve "localhost" (tests/io/test_dns.c, test_tcp.c): glibc finds it in /etc/hosts,
# which a container runtime or the installer writes but a bare debootstrap root lacks. Only a
# missing file is written; an existing one is never touched.
if [ ! -e /etc/hosts ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "calcifer: /etc/hosts is missing: the tests resolve localhost; as root write:" >&2
    echo "calcifer:   printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts" >&2
    exit 1
  fi
  echo "calcifer: writing /etc/hosts (localhost), which this system lacks" >&2
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >/etc/hosts
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "calcifer: missing Debian packages: ${missing[*]}" >&2
  echo "calcifer: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "calcifer: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
