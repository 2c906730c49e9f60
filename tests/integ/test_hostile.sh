#!/usr/bin/env bash
# Hostile clients (issue 11): one check per finding, against a real `migrabox serve` on
# 127.0.0.1 (clients bind other 127.0.0.0/8 addresses to look like many hosts). The checks are
# in hostile_test.py; every one is bounded in time. Loopback only.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(umask 077; echo "unused-$RANDOM" >"$work/master.secret")
cat >"$work/h.conf" <<EOF2
[server]
listen = 127.0.0.1:0
data_dir = $work/var
workers = 1
tls = off
max_upload_bytes = 10M
max_import_rows = 100000
header_timeout = 2
request_timeout = 4
max_connections_per_address = 48
trusted_proxies = 127.0.0.250
proxy_header = X-Forwarded-For

[sources]
connect_timeout = 3
io_timeout = 5
retry_delay = 1h
check_timeout = 5
deny = 127.0.0.99, forbidden.test

[destination]
host = 127.0.0.1
port = 1
tls = none
master_password_file = $work/master.secret
separator = *
domains = example.com, example.org
EOF2
export ADMIN_PW="Adm-$RANDOM-pw" ORG_PW="Org-$RANDOM-pw"
MIGRABOX_PASSWORD=$ADMIN_PW "$MIGRABOX" user add admin --admin -c "$work/h.conf" >/dev/null 2>&1 \
    && MIGRABOX_PASSWORD=$ORG_PW "$MIGRABOX" user add orgacct --domain example.org -c "$work/h.conf" \
        >/dev/null 2>&1 \
    || fail "user add"
WORK=$work python3 "$here/hostile_test.py" >"$work/py.out" 2>&1
pyrc=$?
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        *) echo "$line" ;;
    esac
done <"$work/py.out"
[ $pyrc -eq 0 ] || [ "$T_FAIL" -gt 0 ] || fail "hostile_test.py exited $pyrc"
finish
