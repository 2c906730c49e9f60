#!/usr/bin/env bash
# Pinned recipe: fetch Debian 12's (bookworm) PostgreSQL 15 *source* package, verify it, and
# build libpq as static archives (libpq.a, libpgcommon.a, libpgport.a) for the PostgreSQL store
# backend. Debian 12's libpq-dev ships libpq.a without libpgcommon.a/libpgport.a and a libpq
# configured with GSSAPI and LDAP (whose libraries have no usable static archives); this build
# has neither: --without-gssapi --without-ldap, no readline, ICU or zlib (the client library
# does not use them), and TLS with OpenSSL (--with-ssl=openssl), linked against Debian's
# static libssl.a/libcrypto.a (libssl-dev).
#
# Like third_party/libmicrohttpd.sh: the bookworm source index is fetched into a private apt
# state directory under OUTDIR (signed by the Debian archive keys of debian-archive-keyring;
# the system's apt configuration is not touched), and the files are checked against the
# SHA-256 sums below. Debian's patches are applied. Only src/common, src/port and
# src/interfaces/libpq are compiled (no server).
#
#   third_party/libpq.sh OUTDIR
#
# Produces OUTDIR/lib/{libpq,libpgcommon,libpgport}.a and OUTDIR/include/pq/{libpq-fe.h,
# postgres_ext.h,pg_config_ext.h}. Cached: a second run with the outputs present does nothing.
set -euo pipefail

VERSION=15.18-0+deb12u1
UPSTREAM=15.18
SUITE=bookworm
SHA256_DSC=d940b57dd029ef0712212164410fcb51854c883f3fc0c3a11486acdfd2ca5947
SHA256_ORIG=11df0df97fe3ea4ba9a791faaf39cee1d2fe571e78885b5b55d8517d27c323b4
SHA256_DEBIAN=efe6fc2007229a2cc7b087d75cb1213d49e275ec47c4b896d5e0880b4904f8b3

out=$(mkdir -p "$1" && cd "$1" && pwd)
if [ -f "$out/lib/libpq.a" ] && [ -f "$out/lib/libpgcommon.a" ] && [ -f "$out/lib/libpgport.a" ] \
   && [ -f "$out/include/pq/libpq-fe.h" ] \
   && [ "$(cat "$out/VERSION.libpq" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi

work="$out/src-libpq"
rm -rf "$work" && mkdir -p "$work"
cd "$work"

# A private apt configuration holding only the bookworm deb-src entry (its own directory: the
# other recipes' holds trixie).
apt_dir="$out/apt-bookworm"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
    >"$apt_dir/sources.list"
chmod -R a+rwX "$apt_dir" 2>/dev/null || true
APT_OPTS=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o APT::Get::List-Cleanup=0)
have_source() {  # is postgresql-15 $VERSION in the private source index?
    local idx
    idx=$(apt-cache "${APT_OPTS[@]}" showsrc postgresql-15 2>/dev/null || true)
    grep -qx "Version: $VERSION" <<<"$idx"
}
if ! have_source; then
    echo "  FETCH   Debian $SUITE source index (private apt state in $apt_dir)"
    apt-get -q "${APT_OPTS[@]}" update >/dev/null
fi
if ! have_source; then
    echo "libpq.sh: Debian source package postgresql-15 $VERSION not found in $SUITE." >&2
    exit 1
fi
echo "  FETCH   postgresql-15 $VERSION (Debian source package)"
# apt drops privileges to _apt for downloads; let it write here.
chmod 0777 "$work" 2>/dev/null || true
apt-get source --download-only -q "${APT_OPTS[@]}" "postgresql-15=$VERSION" >/dev/null

check() {
    local f=$1 want=$2 got
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "libpq.sh: checksum mismatch for $f: got $got, want $want" >&2
        exit 1
    fi
}
check "postgresql-15_$VERSION.dsc" "$SHA256_DSC"
check "postgresql-15_$UPSTREAM.orig.tar.bz2" "$SHA256_ORIG"
check "postgresql-15_$VERSION.debian.tar.xz" "$SHA256_DEBIAN"

dpkg-source --no-check -x "postgresql-15_$VERSION.dsc" tree >/dev/null
cd tree
echo "  BUILD   libpq $VERSION (static, OpenSSL, no GSSAPI/LDAP)"
./configure -q --prefix="$out" --without-gssapi --without-ldap --without-readline \
    --without-icu --without-zlib --without-llvm --with-ssl=openssl \
    --with-system-tzdata=/usr/share/zoneinfo CFLAGS="-O2 -g -fPIC" >/dev/null
# The generated headers first (utils/errcodes.h...): src/port and src/common include them,
# and a parallel make does not order that by itself. Then the client-side (frontend) libraries
# only.
make -s -C src/backend generated-headers >/dev/null 2>&1 || make -C src/backend generated-headers
for t in "src/port libpgport.a" "src/common libpgcommon.a" "src/interfaces/libpq all-static-lib"; do
    set -- $t
    make -s -C "$1" -j"$(nproc)" "$2" >/dev/null 2>&1 || make -C "$1" -j"$(nproc)" "$2"
done
mkdir -p "$out/lib" "$out/include/pq"
cp src/interfaces/libpq/libpq.a "$out/lib/libpq.a"
cp src/common/libpgcommon.a "$out/lib/libpgcommon.a"
cp src/port/libpgport.a "$out/lib/libpgport.a"
cp src/interfaces/libpq/libpq-fe.h src/include/postgres_ext.h src/include/pg_config_ext.h \
    "$out/include/pq/"
echo "$VERSION" > "$out/VERSION.libpq"
cd "$out" && rm -rf "$work"
