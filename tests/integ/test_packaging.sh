#!/usr/bin/env bash
# Packaging: the man page renders and names every config key and CLI flag; `make deb` builds a
# package that installs with dpkg, whose systemd unit passes systemd-analyze verify, and that
# removes and purges cleanly.
set -u
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
man_page="$top/packaging/migrabox.8"

out=$(MANWIDTH=100 man -l "$man_page" 2>&1)
if [ $? -eq 0 ] && [[ $out == *"MIGRABOX(8)"* ]]; then ok "man page renders"; else fail "man page renders" "$out"; fi
warn=$(LC_ALL=C groff -man -ww -z "$man_page" 2>&1)
[ -z "$warn" ] && ok "man page has no groff warnings" || fail "man page has no groff warnings" "$warn"

# Every key of docs/CONFIG.md's tables and every long option of the CLI appear in it.
missing=""
for k in $(grep -oE '^\| `[a-z_]+`' "$top/docs/CONFIG.md" | tr -d '|` ' | sort -u); do
    grep -q -- "$k" "$man_page" || missing="$missing $k"
done
[ -z "$missing" ] && ok "every config key is in the man page" || fail "every config key is in the man page" "missing:$missing"
missing=""
for f in $( { "$MIGRABOX" migrate --help; "$MIGRABOX" --help; "$MIGRABOX" user --help 2>&1; \
              "$MIGRABOX" serve --help; "$MIGRABOX" import --help; "$MIGRABOX" profile --help; } 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -q -- "${f//-/\\\\-}" "$man_page" || grep -q -- "$f" "$man_page" || missing="$missing $f"
done
[ -z "$missing" ] && ok "every CLI flag is in the man page" || fail "every CLI flag is in the man page" "missing:$missing"

if [ "${SANITIZE:-0}" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v dpkg-deb >/dev/null; then
    skip "deb install test (needs root, dpkg and the static release build)"
    finish
fi
if dpkg -s migrabox >/dev/null 2>&1; then
    fail "no migrabox package installed before the test" "remove it first: dpkg --purge migrabox"
    finish
fi
outdir=$(mktemp -d)
trap 'dpkg --purge migrabox >/dev/null 2>&1; rm -rf "$outdir"' EXIT
deb=$(bash "$top/packaging/mkdeb.sh" "$MIGRABOX" "$outdir" 2>&1 | tail -1)
if [ -f "$deb" ]; then ok "make deb builds $(basename "$deb")"; else fail "make deb builds a package" "$deb"; finish; fi
contents=$(dpkg-deb -c "$deb")
for p in ./usr/bin/migrabox ./lib/systemd/system/migrabox.service ./etc/migrabox/migrabox.conf \
         ./usr/share/man/man8/migrabox.8.gz ./usr/share/doc/migrabox/copyright; do
    [[ $contents == *" $p"* ]] || fail "package contains $p"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/migrabox/migrabox.conf && ok "configuration is a conffile" || fail "configuration is a conffile"

out=$(DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" 2>&1)
if [ $? -eq 0 ]; then ok "dpkg -i installs the package"; else fail "dpkg -i installs the package" "$out"; finish; fi
getent passwd migrabox >/dev/null && ok "installation created the migrabox user" || fail "installation created the migrabox user"
st=$(stat -c '%U %a' /var/lib/migrabox 2>&1)
[ "$st" = "migrabox 700" ] && ok "data directory /var/lib/migrabox is migrabox-owned, 0700" || fail "data directory owned and private" "$st"
v=$(/usr/bin/migrabox --version 2>&1) && ok "installed binary runs ($v)" || fail "installed binary runs" "$v"
if command -v systemd-analyze >/dev/null; then
    out=$(systemd-analyze verify /lib/systemd/system/migrabox.service 2>&1)
    if [ $? -eq 0 ]; then ok "systemd-analyze verify accepts the unit"; else fail "systemd-analyze verify accepts the unit" "$out"; fi
else
    fail "systemd-analyze available"
fi
out=$(dpkg -r migrabox 2>&1) && ok "dpkg -r removes the package" || fail "dpkg -r removes the package" "$out"
[ ! -e /usr/bin/migrabox ] && [ -e /etc/migrabox/migrabox.conf ] && ok "removal keeps the conffile" || fail "removal keeps the conffile"
out=$(dpkg --purge migrabox 2>&1) && ok "dpkg --purge purges the package" || fail "dpkg --purge purges" "$out"
if [ ! -e /etc/migrabox ] && [ ! -e /var/lib/migrabox ] && ! getent passwd migrabox >/dev/null; then
    ok "purge leaves no file, directory or user behind"
else
    fail "purge leaves nothing behind" "$(ls -d /etc/migrabox /var/lib/migrabox 2>&1; getent passwd migrabox)"
fi
finish
