#!/usr/bin/env bash
# Pinned recipe: fetch Debian 12's libmicrohttpd *source* package, verify it, and build a
# static library without HTTPS (Debian's libmicrohttpd.a needs GnuTLS, which has no static
# archive in Debian; migrabox terminates TLS itself with mbedTLS).
#
#   third_party/libmicrohttpd.sh OUTDIR
#
# Produces OUTDIR/lib/libmicrohttpd.a and OUTDIR/include/microhttpd.h. Cached: a second
# run with the outputs present does nothing. Nothing is fetched from outside Debian's archive.
set -euo pipefail

VERSION=0.9.75-6
UPSTREAM=0.9.75
SHA256_DSC=c0f8a9cd77c41285d2d48fc68bbee2e460a55042fcd5d3f6b9946c017d4b6846
SHA256_ORIG=796e7e217a4802679fcac667a4e98501c53185dcf50ca0583870e84192620131
SHA256_DEBIAN=566c247bfbf67e20858705ae695f58db747d50ed8512f2bc46a28bef9086e5af

out=$(mkdir -p "$1" && cd "$1" && pwd)
if [ -f "$out/lib/libmicrohttpd.a" ] && [ -f "$out/include/microhttpd.h" ] \
   && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi

work="$out/src"
rm -rf "$work" && mkdir -p "$work"
cd "$work"

if ! apt-cache showsrc "libmicrohttpd=$VERSION" >/dev/null 2>&1; then
    echo "libmicrohttpd.sh: Debian source package libmicrohttpd $VERSION not known to apt." >&2
    echo "  Run 'make deps' (third_party/install-deps.sh) to add the deb-src entry." >&2
    exit 1
fi
echo "  FETCH   libmicrohttpd $VERSION (Debian source package)"
# apt drops privileges to _apt for downloads; let it write here.
chmod 0777 "$work" 2>/dev/null || true
apt-get source --download-only -q "libmicrohttpd=$VERSION" >/dev/null

check() {
    local f=$1 want=$2 got
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "libmicrohttpd.sh: checksum mismatch for $f: got $got, want $want" >&2
        exit 1
    fi
}
check "libmicrohttpd_$VERSION.dsc" "$SHA256_DSC"
check "libmicrohttpd_$UPSTREAM.orig.tar.xz" "$SHA256_ORIG"
check "libmicrohttpd_$VERSION.debian.tar.xz" "$SHA256_DEBIAN"

# Unpack with Debian's patches applied (security fixes included).
dpkg-source --no-check -x "libmicrohttpd_$VERSION.dsc" tree >/dev/null
cd tree
echo "  BUILD   libmicrohttpd $VERSION (static, --disable-https)"
./configure -q --prefix="$out" --disable-https --enable-static --disable-shared \
    --disable-curl --disable-doc --disable-examples --disable-nls \
    CFLAGS="-O2 -g -fPIC" >/dev/null
make -s -j"$(nproc)" >/dev/null 2>&1 || make -j"$(nproc)"
make -s install >/dev/null
echo "$VERSION" > "$out/VERSION"
cd "$out" && rm -rf "$work"
