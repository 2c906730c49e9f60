#!/usr/bin/env bash
# The release binary is fully static and runs in an empty chroot holding only itself,
# /etc/hosts, /etc/resolv.conf and a CA bundle.
set -u
. "$(dirname "$0")/lib.sh"

if [ "${SANITIZE:-0}" = 1 ]; then
    skip "static binary checks (sanitizer builds link dynamically)"
    finish
fi

out=$(file "$MIGRABOX")
case "$out" in *"statically linked"*) ok "file says statically linked" ;;
    *) fail "file says statically linked" "$out" ;; esac

out=$(ldd "$MIGRABOX" 2>&1)
case "$out" in *"not a dynamic executable"*) ok "ldd says not a dynamic executable" ;;
    *) fail "ldd says not a dynamic executable" "$out" ;; esac

if [ "$(id -u)" = 0 ]; then
    root=$(mktemp -d)
    mkdir -p "$root/etc/ssl/certs"
    cp "$MIGRABOX" "$root/migrabox"
    printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
    printf 'nameserver 127.0.0.1\n' > "$root/etc/resolv.conf"
    [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    n=$(find "$root" -type f | wc -l)
    out=$(chroot "$root" /migrabox --version 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [[ $out == "migrabox "* ]]; then
        ok "--version runs in an empty chroot ($n files: $out)"
    else
        fail "--version runs in an empty chroot" "rc=$rc: $out"
    fi
    rm -rf "$root"
else
    skip "chroot test needs root"
fi
finish
