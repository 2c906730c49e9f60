#!/usr/bin/env bash
# Build build/migrabox_<version>_<arch>.deb from the release binary with dpkg-deb.
#   packaging/mkdeb.sh [BINARY] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/migrabox}
out=${2:-build}
[ -x "$bin" ] || { echo "mkdeb: $bin not built (run make)" >&2; exit 1; }
file "$bin" | grep -q "statically linked" || { echo "mkdeb: $bin is not static" >&2; exit 1; }

desc=$(git describe --tags --always 2>/dev/null || echo unknown)
count=$(git rev-list --count HEAD 2>/dev/null || echo 0)
sha=$(git rev-parse --short HEAD 2>/dev/null || echo 0)
case "$desc" in
    v[0-9]*) version=${desc#v}; version=${version//-/+} ;;
    *) version="0.1.0+git$count.$sha" ;;
esac
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$bin" "$stage/usr/bin/migrabox"
strip --strip-unneeded "$stage/usr/bin/migrabox" 2>/dev/null || true
install -D -m 0644 packaging/migrabox.service "$stage/lib/systemd/system/migrabox.service"
install -D -m 0640 packaging/migrabox.conf "$stage/etc/migrabox/migrabox.conf"
install -d -m 0755 "$stage/usr/share/man/man8" "$stage/usr/share/doc/migrabox"
gzip -9 -n -c packaging/migrabox.8 >"$stage/usr/share/man/man8/migrabox.8.gz"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: migrabox"
    echo
    echo "Files: *"
    echo "License: MIT"
    sed 's/^/ /; s/^ $/ ./' LICENSE
    echo
    echo "Comment: third-party components"
    sed 's/^/ /; s/^ $/ ./' packaging/THIRD-PARTY-NOTICES
} >"$stage/usr/share/doc/migrabox/copyright"
gzip -9 -n -c README.md >"$stage/usr/share/doc/migrabox/README.md.gz"

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CTRL
Package: migrabox
Version: $version
Architecture: $arch
Maintainer: migrabox developers <migrabox@localhost>
Installed-Size: $size
Depends: ca-certificates, adduser
Section: mail
Priority: optional
Homepage: https://localhost/migrabox
Description: mailbox-migration appliance (IMAP to IMAP, web UI)
 migrabox copies whole mailboxes (folders, messages, flags, dates,
 subscriptions) from Gmail, Exchange, Office 365, Domino, Yahoo or any IMAP
 server into a hosting provider's IMAP platform, exactly once, with a web UI,
 a JSON API and CSV bulk import. One static binary.
CTRL
echo "/etc/migrabox/migrabox.conf" >"$stage/DEBIAN/conffiles"
cat >"$stage/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd migrabox >/dev/null; then
        adduser --system --group --home /var/lib/migrabox --no-create-home \
            --gecos "migrabox appliance" migrabox >/dev/null
    fi
    install -d -o migrabox -g migrabox -m 0700 /var/lib/migrabox
    chgrp migrabox /etc/migrabox/migrabox.conf
    chmod 0640 /etc/migrabox/migrabox.conf
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || true
    fi
    echo "migrabox: edit /etc/migrabox/migrabox.conf and /etc/migrabox/master.secret, create a" \
         "web account (sudo -u migrabox migrabox user add NAME --admin -c" \
         "/etc/migrabox/migrabox.conf), then: systemctl enable --now migrabox"
fi
exit 0
POST
cat >"$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    systemctl stop migrabox >/dev/null 2>&1 || true
    systemctl disable migrabox >/dev/null 2>&1 || true
fi
exit 0
PRERM
cat >"$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
    rm -rf /var/lib/migrabox
    if getent passwd migrabox >/dev/null; then
        deluser --system migrabox >/dev/null 2>&1 || true
    fi
    if getent group migrabox >/dev/null; then
        delgroup --system migrabox >/dev/null 2>&1 || true
    fi
    rmdir /etc/migrabox 2>/dev/null || true
fi
exit 0
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/migrabox_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
