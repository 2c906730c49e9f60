#!/usr/bin/env bash
# Pinned recipe: fetch Debian 13's (trixie) libmicrohttpd 1.0 *source* package, verify it, and
# build a static library without HTTPS (Debian's libmicrohttpd.a needs GnuTLS, which has no
# static archive in Debian; migrabox terminates TLS itself with mbedTLS). libmicrohttpd 1.0
# parses requests strictly (RFC 9110/9112): ambiguous framing (two Content-Length values,
# Transfer-Encoding with Content-Length) is answered 400.
#
# The build machine is Debian 12: the trixie source index is fetched into a private apt
# state directory under OUTDIR (signed by the Debian archive keys of debian-archive-keyring;
# the system's apt configuration is not touched), and the files are checked against the
# SHA-256 sums below.
#
#   third_party/libmicrohttpd.sh OUTDIR
#
# Produces OUTDIR/lib/libmicrohttpd.a and OUTDIR/include/microhttpd.h. Cached: a second
# run with the outputs present does nothing. Nothing is fetched from outside Debian's archive.
set -euo pipefail

VERSION=1.0.1-4
UPSTREAM=1.0.1
SUITE=trixie
SHA256_DSC=4c5ee2a49beb5b9b667fa6816acdc99f3fb0686b6abdfbe1303e304128cff055
SHA256_ORIG=a89e09fc9b4de34dde19f4fcb4faaa1ce10299b9908db1132bbfa1de47882b94
SHA256_DEBIAN=fde0a454e4e24a064309e08336ca4e0c8d3157a05dbfad563c587c1322289587

out=$(mkdir -p "$1" && cd "$1" && pwd)
if [ -f "$out/lib/libmicrohttpd.a" ] && [ -f "$out/include/microhttpd.h" ] \
   && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi

work="$out/src"
rm -rf "$work" && mkdir -p "$work"
cd "$work"

# A private apt configuration holding only the trixie deb-src entry.
apt_dir="$out/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
    >"$apt_dir/sources.list"
chmod -R a+rwX "$apt_dir" 2>/dev/null || true
APT_OPTS=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o APT::Get::List-Cleanup=0)
if ! apt-cache "${APT_OPTS[@]}" showsrc "libmicrohttpd=$VERSION" >/dev/null 2>&1; then
    echo "  FETCH   Debian $SUITE source index (private apt state in $apt_dir)"
    apt-get -q "${APT_OPTS[@]}" update >/dev/null
fi
if ! apt-cache "${APT_OPTS[@]}" showsrc "libmicrohttpd=$VERSION" >/dev/null 2>&1; then
    echo "libmicrohttpd.sh: Debian source package libmicrohttpd $VERSION not found in $SUITE." >&2
    exit 1
fi
echo "  FETCH   libmicrohttpd $VERSION (Debian source package)"
# apt drops privileges to _apt for downloads; let it write here.
chmod 0777 "$work" 2>/dev/null || true
apt-get source --download-only -q "${APT_OPTS[@]}" "libmicrohttpd=$VERSION" >/dev/null

check() {
    local f=$1 want=$2 got
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "libmicrohttpd.sh: checksum mismatch for $f: got $got, want $want" >&2
        exit 1
    fi
}
check "libmicrohttpd_$VERSION.dsc" "$SHA256_DSC"
check "libmicrohttpd_$UPSTREAM.orig.tar.gz" "$SHA256_ORIG"
check "libmicrohttpd_$VERSION.debian.tar.xz" "$SHA256_DEBIAN"

# Unpack with Debian's patches applied (security fixes included).
dpkg-source --no-check -x "libmicrohttpd_$VERSION.dsc" tree >/dev/null
cd tree
echo "  BUILD   libmicrohttpd $VERSION (static, --disable-https)"
./configure -q --prefix="$out" --disable-https --enable-static --disable-shared \
    --disable-curl --disable-doc --disable-examples \
    CFLAGS="-O2 -g -fPIC" >/dev/null
make -s -j"$(nproc)" >/dev/null 2>&1 || make -j"$(nproc)"
make -s install >/dev/null
echo "$VERSION" > "$out/VERSION"
cd "$out" && rm -rf "$work"
