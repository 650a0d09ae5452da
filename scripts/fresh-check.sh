#!/usr/bin/env bash
# The fresh-machine check: build a minimal Debian 12 root (debootstrap --variant=minbase, plus
# git, make and ca-certificates and nothing else), clone this checkout into it with the shared
# conformance data beside it, and run the README's two commands in a chroot as root:
# `make demo`, then `make test`. Everything else the build and the tests need must come from
# scripts/install-deps.sh inside the root, so a missing install step fails here.
#
#   scripts/fresh-check.sh              a new root in a temporary directory, removed at the end
#   FRESH_ROOT=DIR scripts/fresh-check.sh   build (or reuse the base of) the root in DIR, keep it
#
# Needs root, debootstrap and the Debian mirror (DEBIAN_MIRROR, default deb.debian.org).
# Takes 20-40 minutes on two cores: too slow for every CI run, run it before a release or
# after touching the build, the dependencies or the tests. The clone is of HEAD: commit first.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
shared=$(cd "$src/../shared" 2>/dev/null && pwd || true)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: must run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || {
  echo "fresh-check: debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
}

root=${FRESH_ROOT:-}
keep=1
if [ -z "$root" ]; then
  root=$(mktemp -d /var/tmp/calcifer-fresh.XXXXXX)
  keep=0
fi
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "$keep" -eq 0 ]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# 1. The base root, once: a tarball of it lets a second run start from a clean base.
base="$root.base.tar"
if [ ! -f "$base" ]; then
  echo "fresh-check: debootstrap --variant=minbase bookworm into $root"
  rm -rf --one-file-system "$root" && mkdir -p "$root"
  debootstrap --variant=minbase --include=git,make,ca-certificates bookworm "$root" "$mirror" \
    >"$root.debootstrap.log" 2>&1 || {
    tail -n 20 "$root.debootstrap.log" >&2
    exit 1
  }
  tar -C "$root" -cf "$base" .
else
  echo "fresh-check: a clean base root from $base"
  rm -rf --one-file-system "$root" && mkdir -p "$root"
  tar -C "$root" -xf "$base"
fi

# 2. What a container gives a root: /proc, /sys, /dev, a resolver for the mirror.
for m in proc sys dev dev/pts dev/shm; do
  mkdir -p "$root/$m"
  case "$m" in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sys "$root/sys" ;;
    dev/pts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" ;;
    dev/shm) mount -t tmpfs shm "$root/dev/shm" ;;
    dev) mount -o bind /dev "$root/dev" ;;
  esac
  mounted+=("$root/$m")
done
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The site's own certificate authorities (an outbound proxy's, say), which every machine of the
# site trusts: without them the npm registry is unreachable from the root, as it would not be
# from a fresh machine of the site. The project installs nothing from here.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
fi
# The same mirror as the host's apt (the root's own sources.list names $mirror).
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
echo "deb $mirror bookworm-updates main" >>"$root/etc/apt/sources.list"

# 3. The checkout, as CI sees it: a fresh clone with shared/ beside it, read-only.
mkdir -p "$root/work"
git clone -q "$src" "$root/work/main"
if [ -n "$shared" ]; then
  cp -a "$shared" "$root/work/shared"
  chmod -R a-w "$root/work/shared"
fi

# 4. The README's two commands, as root, with the environment of a fresh login.
# The site's certificate settings pass through, as they do to CI; nothing else of this shell's.
passenv=()
for v in SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS; do
  [ -n "${!v:-}" ] && passenv+=("$v=${!v}")
done
run() {
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TERM=dumb CI=true CF_WERROR=ON "${passenv[@]}" /bin/bash -c "cd /work/main && $1"
}
echo "fresh-check: make demo"
run "make demo"
echo "fresh-check: make test"
run "make test"
echo "fresh-check: make demo and make test passed on a minimal Debian 12 root"
