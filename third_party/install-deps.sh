#!/usr/bin/env bash
# Install every build, test and demo dependency of migrabox from Debian 12 packages.
# Idempotent; run as root (or through sudo). Also adds a deb-src entry for Debian 12's
# archives. mbedTLS 3.6 and libmicrohttpd 1.0 are not installed here: `make` builds them
# statically from Debian 13's source packages (third_party/mbedtls.sh, libmicrohttpd.sh, with
# their own private apt state), with the build-essential and dpkg-dev (dpkg-source, bzip2,
# xz) listed below. Debian 12's libmbedtls-dev (2.28) is not used any more. libpq (the
# PostgreSQL store) is built the same way from Debian 12's postgresql-15 source package
# (third_party/libpq.sh) against libssl-dev's static OpenSSL; the postgresql-15 server
# package is for the tests only (tests/integ/pg.sh starts private clusters).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS=(
    build-essential pkg-config ca-certificates file dpkg-dev xz-utils adduser passwd
    libsqlite3-dev libcsv-dev libssl-dev
    clang clang-format libclang-rt-14-dev valgrind gdb
    dovecot-imapd isync openssl curl python3 sqlite3 time
    systemd man-db groff-base
    postgresql-15 postgresql-client-15
    chromium
)

# deb-src: the same archives as the binary entries, as Types: deb-src.
src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/migrabox-debsrc.sources
need_update=0
if [ -f "$src" ] && ! grep -qs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources; then
    sed 's/^Types: deb$/Types: deb-src/' "$src" | $SUDO tee "$dst" >/dev/null
    need_update=1
elif [ ! -f "$src" ] && ! grep -qs '^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null; then
    echo "deb-src http://deb.debian.org/debian bookworm main" | $SUDO tee /etc/apt/sources.list.d/migrabox-debsrc.list >/dev/null
    need_update=1
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$need_update" = 1 ] || [ ${#missing[@]} -gt 0 ] || ! apt-cache showsrc libmicrohttpd >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
    # Debian's dovecot-core postinst starts a system Dovecot; tests run their own instances.
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Browser tests: playwright-core from npm (pinned in tests/web/package-lock.json), driving
# Debian's chromium. Node.js >= 20 is needed by playwright-core.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/web/package-lock.json" ]; then
    if ! command -v node >/dev/null 2>&1; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
    fi
    if [ ! -d "$here/tests/web/node_modules/playwright-core" ]; then
        (cd "$here/tests/web" && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
echo "install-deps: all packages present"
