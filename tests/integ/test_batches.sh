#!/usr/bin/env bash
# Batches (issue 12): pre-stage, delta passes without passwords, exactly once across jobs,
# finalize, automatic passes — through the JSON API of a real `migrabox serve` against a
# Dovecot pair (source: three seeded users; destination: --master --autocreate). The checks
# are in batches_test.py; this script prepares servers, configuration and the account.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"

work=$(mktemp -d)
SRC=$work/src DST=$work/dst
cleanup() {
    "$DC" stop "$SRC" "$DST" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

if ! "$DC" start "$SRC" >"$work/dc.log" 2>&1 \
    || ! "$DC" start "$DST" --master --autocreate >>"$work/dc.log" 2>&1; then
    fail "start two Dovecot instances" "$(tail -20 "$work/dc.log")"
    finish
fi
export SRC_PASSWORDS='Lot-Pw;1 Lot-Pw-2 Lot-Pw-é3'
# every user before the first login (Dovecot re-reads a passwd-file only when its mtime moves)
i=0
for pw in 'Lot-Pw;1' 'Lot-Pw-2' 'Lot-Pw-é3'; do
    i=$((i + 1))
    printf '%s\n' "$pw" | "$DC" adduser "$SRC" "u$i@src.test" - >/dev/null
    printf 'unused-%s\n' "$RANDOM$RANDOM" | "$DC" adduser "$DST" "u$i@example.com" - >/dev/null
done
i=0
for pw in 'Lot-Pw;1' 'Lot-Pw-2' 'Lot-Pw-é3'; do
    i=$((i + 1))
    cat >"$work/spec$i.json" <<EOF
{"folders": [
  {"name": "INBOX", "generate": {"count": 20, "size": 3000, "seed": $i, "flags": ["\\\\Seen"]}},
  {"name": "Archives", "subscribe": true, "generate": {"count": 5, "size": 2000, "seed": 1$i}}
]}
EOF
    if ! IMAP_PASSWORD="$pw" python3 "$TOOL" --env "$SRC/env" --user "u$i@src.test" \
        seed "$work/spec$i.json" >>"$work/dc.log" 2>&1; then
        fail "seed the source mailbox u$i" "$(tail -5 "$work/dc.log")"
    fi
done

# shellcheck disable=SC1091
dst_port=$(. "$DST/env"; echo "$IMAPS_PORT")
# shellcheck disable=SC1091
src_port=$(. "$SRC/env"; echo "$IMAP_PORT")
(umask 077; . "$DST/env"; printf '%s\n' "$MASTER_PASSWORD" >"$work/master.secret")
cat >"$work/a.conf" <<EOF
[server]
listen = 127.0.0.1:0
data_dir = $work/var
workers = 2
tls = off
credential_retention = 30d
; automatic passes every few seconds in this test
sync_min_interval = 1s

[sources]
ca_file = $SRC/ca.crt
; the test source is on loopback, which non-admin accounts (the API-token checks) may not
; reach by default
allow = 127.0.0.0/8
connect_timeout = 5
io_timeout = 30
retry_delay = 1h

[destination]
host = 127.0.0.1
port = $dst_port
tls = implicit
ca_file = $DST/ca.crt
master_user = admin
master_password_file = $work/master.secret
separator = *
domains = example.com, example.org
connect_timeout = 5
EOF
export ADMIN_PW='Adm1n-lots' ORG_PW='Org-lots-1' OTHER_PW='Other-lots-2'
if ! MIGRABOX_PASSWORD=$ADMIN_PW "$MIGRABOX" user add admin --admin -c "$work/a.conf" \
    >"$work/user.out" 2>&1 \
    || ! MIGRABOX_PASSWORD=$ORG_PW "$MIGRABOX" user add panel --domain example.com \
        -c "$work/a.conf" >>"$work/user.out" 2>&1 \
    || ! MIGRABOX_PASSWORD=$OTHER_PW "$MIGRABOX" user add other --domain example.org \
        -c "$work/a.conf" >>"$work/user.out" 2>&1; then
    fail "user add" "$(cat "$work/user.out")"
    finish
fi

sed 's|^\[server\]$|[server]\nwebhook_url = http://hooks.example.net/x|' "$work/a.conf" >"$work/bad.conf"
out=$("$MIGRABOX" serve -c "$work/bad.conf" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [[ $out == *'webhook_url: use https://'* ]]; then
    ok "serve refuses a plain-http webhook_url that is not loopback (exit 2)"
else
    fail "serve: plain-http webhook_url" "exit $rc: $out"
fi

export WORK=$work TOOL SRC DST SRC_PORT=$src_port
python3 "$here/batches_test.py" >"$work/py.out" 2>&1
pyrc=$?
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        "skip - "*) skip "${line#skip - }" ;;
        *) echo "$line" ;;
    esac
done <"$work/py.out"
[ $pyrc -eq 0 ] || [ "$T_FAIL" -gt 0 ] || fail "batches_test.py exited $pyrc"
finish
