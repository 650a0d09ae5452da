#!/usr/bin/env bash
# Build the lean libcurl of the lean build profile (`make lean`, docs/lean.md): Debian's curl
# source, with Debian's patches, built for HTTP and HTTPS only, as a static library, next to
# static links to the libraries it needs (OpenSSL, nghttp2, zlib, brotli, zstd), and a
# libcurl.pc that links them all statically.
#
#   scripts/build-curl.sh DEST
#
# The source comes from the Debian archive through apt (deb-src lines in a private apt
# configuration, so the system's sources are left alone and apt checks the archive's
# signatures; DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR name other mirrors than
# deb.debian.org). Needs dpkg-dev, cmake and the -dev packages of the libraries above
# (scripts/install-deps.sh installs them). Does nothing when DEST already holds a build.
set -euo pipefail
dest=${1:?usage: scripts/build-curl.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
[ -f "$dest/lib/pkgconfig/libcurl.pc" ] && exit 0

work="$dest/work"
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/src"
. /etc/os-release
suite=${VERSION_CODENAME:?build-curl.sh: /etc/os-release names no Debian release}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
{
  echo "deb-src [signed-by=$keyring] $mirror $suite main"
  echo "deb-src [signed-by=$keyring] $mirror $suite-updates main"
  echo "deb-src [signed-by=$keyring] $security $suite-security main"
} >"$work/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")

echo "build-curl: fetching curl's source from the Debian archive ($suite)"
apt-get "${apt_opts[@]}" update >"$work/apt.log" 2>&1 || {
  cat "$work/apt.log" >&2
  echo "build-curl: apt-get update failed (is deb.debian.org reachable?)" >&2
  exit 1
}
(cd "$work/src" && apt-get "${apt_opts[@]}" source curl >>"$work/apt.log" 2>&1) || {
  cat "$work/apt.log" >&2
  echo "build-curl: apt-get source curl failed" >&2
  exit 1
}
src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -1)
[ -n "$src" ] || { echo "build-curl: no curl source in $work/src" >&2; exit 1; }
version=$(sed -n 's/^Version: //p' "$work"/src/curl_*.dsc | head -1)

# HTTP and HTTPS only; the libraries Debian's libcurl loads for other protocols and for
# Kerberos, IDN and the public suffix list are left out. TLS, HTTP/2 and the decoders stay.
echo "build-curl: building curl $version (HTTP and HTTPS only, static)"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$dest" \
  -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_MANUAL=OFF -DHTTP_ONLY=ON \
  -DCURL_USE_OPENSSL=ON -DUSE_NGHTTP2=ON -DCURL_ZLIB=ON -DCURL_BROTLI=ON -DCURL_ZSTD=ON \
  -DUSE_LIBIDN2=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF \
  -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DENABLE_THREADED_RESOLVER=ON \
  -DCURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt -DCURL_CA_PATH=/etc/ssl/certs \
  >"$work/cmake.log" 2>&1 || { tail -40 "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j"$(nproc)" >"$work/make.log" 2>&1 || {
  tail -40 "$work/make.log" >&2
  exit 1
}
cmake --install "$work/build" >"$work/install.log" 2>&1 || {
  tail -40 "$work/install.log" >&2
  exit 1
}

# What the client relies on must be there: fail now rather than lose it quietly.
features=$("$dest/bin/curl-config" --features)
for f in SSL HTTP2 libz brotli zstd AsynchDNS; do
  grep -qx "$f" <<<"$features" || { echo "build-curl: the built libcurl lacks $f" >&2; exit 1; }
done

# Static links to the system's archives, so that -L$dest/lib finds them before the shared
# libraries of the same names.
multiarch=$(gcc -print-multiarch)
deps=(nghttp2 ssl crypto z brotlidec brotlicommon zstd)
for l in "${deps[@]}"; do
  a=/usr/lib/$multiarch/lib$l.a
  [ -f "$a" ] || { echo "build-curl: $a is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
  ln -sf "$a" "$dest/lib/lib$l.a"
done
rm -rf "$dest/lib/pkgconfig" "$dest/lib/cmake"
mkdir -p "$dest/lib/pkgconfig"
cat >"$dest/lib/pkgconfig/libcurl.pc" <<PC
prefix=$dest
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libcurl
Description: curl $version, HTTP and HTTPS only, static (Calcifer's lean build)
Version: ${version%%-*}
Libs: -L\${libdir} -lcurl -l${deps[0]} $(printf -- '-l%s ' "${deps[@]:1}")-pthread -ldl
Cflags: -I\${includedir} -DCURL_STATICLIB
PC
rm -rf "$work"
echo "build-curl: $dest/lib/libcurl.a"
