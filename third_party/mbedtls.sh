#!/usr/bin/env bash
# Pinned recipe: fetch Debian 13's (trixie) mbedTLS 3.6 LTS *source* package, verify it, and
# build the three static libraries (libmbedcrypto.a, libmbedx509.a, libmbedtls.a) that
# migrabox links. Debian 12's libmbedtls-dev is 2.28 (upstream support ended in 2024, TLS 1.2
# only); 3.6 speaks TLS 1.3 and TLS 1.2.
#
# Configuration: upstream's default include/mbedtls/mbedtls_config.h (TLS 1.3 and TLS 1.2
# both enabled, session tickets, AES-NI/PCLMUL code paths) with the two changes Debian's own
# build makes for threads, MBEDTLS_THREADING_C and MBEDTLS_THREADING_PTHREAD (migrabox's
# workers, HTTPS pumps and the PSA key store share the library). The edited header is the one
# installed, so migrabox is compiled against exactly the configuration the library was built
# with.
#
# One more change: MBEDTLS_CHACHA20_ALT and MBEDTLS_POLY1305_ALT. mbedTLS's ChaCha20 and
# Poly1305 are replaced by migrabox's (src/aead/: AVX2 ChaCha20, 64-bit-limb Poly1305, the
# same results; see src/aead/aead.h): their context headers src/aead/chacha20_alt.h and
# poly1305_alt.h are installed beside mbedtls/chacha20.h, and the functions come from
# migrabox's own objects at link time (the Makefile links the archives as one group). The
# headers' checksum is part of the build's stamp, so that a change to them rebuilds mbedTLS.
#
# Like third_party/libmicrohttpd.sh: the trixie source index is fetched into a private apt
# state directory under OUTDIR (signed by the Debian archive keys of debian-archive-keyring;
# the system's apt configuration is not touched), and the files are checked against the
# SHA-256 sums below. Debian's patches are applied.
#
#   third_party/mbedtls.sh OUTDIR
#
# Produces OUTDIR/lib/libmbed{crypto,x509,tls}.a and OUTDIR/include/{mbedtls,psa}/. Cached: a
# second run with the outputs present does nothing.
set -euo pipefail

VERSION=3.6.6-0.1~deb13u1
UPSTREAM=3.6.6
SUITE=trixie
SHA256_DSC=eb9ed1adbbddcb0d00276fac6fcee0056c64ce01481c2522a16dca75792eb5eb
SHA256_ORIG=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
SHA256_DEBIAN=210466c522eeebc85cf2f76bd5aef935b4ebac465559cc0a84f9e73a8ed6601c

out=$(mkdir -p "$1" && cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
ALT_HEADERS="$root/src/aead/chacha20_alt.h $root/src/aead/poly1305_alt.h"
# shellcheck disable=SC2086
STAMP="$VERSION alt:$(cat $ALT_HEADERS | sha256sum | cut -c1-16)"
if [ -f "$out/lib/libmbedtls.a" ] && [ -f "$out/lib/libmbedx509.a" ] \
   && [ -f "$out/lib/libmbedcrypto.a" ] && [ -f "$out/include/mbedtls/mbedtls_config.h" ] \
   && [ "$(cat "$out/VERSION.mbedtls" 2>/dev/null)" = "$STAMP" ]; then
    exit 0
fi

work="$out/src-mbedtls"
rm -rf "$work" && mkdir -p "$work"
cd "$work"

# A private apt configuration holding only the trixie deb-src entry (shared with
# libmicrohttpd.sh: same directory, same content).
apt_dir="$out/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
    >"$apt_dir/sources.list"
chmod -R a+rwX "$apt_dir" 2>/dev/null || true
APT_OPTS=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o APT::Get::List-Cleanup=0)
have_source() {  # is mbedtls $VERSION in the private source index?
    local idx
    idx=$(apt-cache "${APT_OPTS[@]}" showsrc mbedtls 2>/dev/null || true)
    grep -qx "Version: $VERSION" <<<"$idx"
}
if ! have_source; then
    echo "  FETCH   Debian $SUITE source index (private apt state in $apt_dir)"
    apt-get -q "${APT_OPTS[@]}" update >/dev/null
fi
if ! have_source; then
    echo "mbedtls.sh: Debian source package mbedtls $VERSION not found in $SUITE." >&2
    exit 1
fi
echo "  FETCH   mbedtls $VERSION (Debian source package)"
# apt drops privileges to _apt for downloads; let it write here.
chmod 0777 "$work" 2>/dev/null || true
apt-get source --download-only -q "${APT_OPTS[@]}" "mbedtls=$VERSION" >/dev/null

check() {
    local f=$1 want=$2 got
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "mbedtls.sh: checksum mismatch for $f: got $got, want $want" >&2
        exit 1
    fi
}
check "mbedtls_$VERSION.dsc" "$SHA256_DSC"
check "mbedtls_$UPSTREAM.orig.tar.bz2" "$SHA256_ORIG"
check "mbedtls_$VERSION.debian.tar.xz" "$SHA256_DEBIAN"

# Unpack with Debian's patches applied.
dpkg-source --no-check -x "mbedtls_$VERSION.dsc" tree >/dev/null
cd tree
cfg=include/mbedtls/mbedtls_config.h
for opt in MBEDTLS_THREADING_C MBEDTLS_THREADING_PTHREAD MBEDTLS_CHACHA20_ALT MBEDTLS_POLY1305_ALT; do
    sed -i "s|^//#define $opt\$|#define $opt|" "$cfg"
    grep -q "^#define $opt\$" "$cfg" || { echo "mbedtls.sh: cannot enable $opt in $cfg" >&2; exit 1; }
done
for opt in MBEDTLS_SSL_PROTO_TLS1_3 MBEDTLS_SSL_PROTO_TLS1_2 MBEDTLS_PSA_CRYPTO_C; do
    grep -q "^#define $opt\$" "$cfg" || { echo "mbedtls.sh: $opt is not enabled in $cfg" >&2; exit 1; }
done
# shellcheck disable=SC2086
cp $ALT_HEADERS include/mbedtls/
echo "  BUILD   mbedtls $VERSION (static, TLS 1.3 + 1.2, pthread)"
# The release tarball ships the generated sources: no Python or Perl needed.
make -s -C library -j"$(nproc)" static CFLAGS="-O2 -g" >/dev/null 2>&1 \
    || make -C library -j"$(nproc)" static CFLAGS="-O2 -g"
rm -rf "$out/include/mbedtls" "$out/include/psa"
mkdir -p "$out/include" "$out/lib"
cp -r include/mbedtls include/psa "$out/include/"
cp library/libmbedcrypto.a library/libmbedx509.a library/libmbedtls.a "$out/lib/"
echo "$STAMP" > "$out/VERSION.mbedtls"
cd "$out" && rm -rf "$work"
