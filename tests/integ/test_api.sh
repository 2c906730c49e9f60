#!/usr/bin/env bash
# The JSON API against a real `migrabox serve` (listen 127.0.0.1:0, data_dir in a temp dir) and,
# when Dovecot is installed, a Dovecot pair from the harness (source: std layout with a seeded user;
# destination: --master --autocreate with the destination user). The checks themselves are in
# api_test.py; this script prepares servers, configuration and accounts, checks the `user`
# command's errors, and counts the "ok"/"FAIL" lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"

work=$(mktemp -d)
SRC=$work/src DST=$work/dst
have_dovecot=0
cleanup() {
    [ "$have_dovecot" = 1 ] && "$DC" stop "$SRC" "$DST" >/dev/null 2>&1
    [ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$KEEP_WORK"; rm -rf "$work"
}
trap cleanup EXIT

export SRC_USER='alice@src.test'
export SRC_PASSWORD='Src-Pw;é"42'
export DEST_ADDR='dest@example.com'
if command -v dovecot >/dev/null; then
    if "$DC" start "$SRC" >"$work/dc.log" 2>&1 && "$DC" start "$DST" --master --autocreate \
        >>"$work/dc.log" 2>&1; then
        have_dovecot=1
        printf '%s\n' "$SRC_PASSWORD" | "$DC" adduser "$SRC" "$SRC_USER" - >/dev/null
        printf 'unused-%s\n' "$RANDOM$RANDOM" | "$DC" adduser "$DST" "$DEST_ADDR" - >/dev/null
        # SMALL_DEST: the quota plugin refuses every message over 6 KB (the 8 KB messages of
        # Archives/2020): refused messages in a job's report.
        export SMALL_DEST='small@example.com'
        printf 'unused-%s\n' "$RANDOM$RANDOM" | "$DC" adduser "$DST" "$SMALL_DEST" - >/dev/null
        small_fields="userdb_mail_plugins=quota userdb_quota=count:User userdb_quota_vsizes=yes"
        small_fields="$small_fields userdb_quota_max_mail_size=6k"
        sed -i "s|^\($SMALL_DEST:.*::::::\)\$|\1$small_fields|" "$DST/users"
        cat >"$work/spec.json" <<'EOF'
{"folders": [
  {"name": "INBOX", "generate": {"count": 40, "size": 4000, "seed": 1, "flags": ["\\Seen"]}},
  {"name": "Sent", "subscribe": true, "generate": {"count": 15, "size": 2500, "seed": 2}},
  {"name": "Archives/2020", "subscribe": true,
   "generate": {"count": 25, "size": 8000, "seed": 3, "flags": ["\\Flagged"]}}
]}
EOF
        if ! IMAP_PASSWORD="$SRC_PASSWORD" python3 "$TOOL" --env "$SRC/env" --user "$SRC_USER" \
            seed "$work/spec.json" >>"$work/dc.log" 2>&1; then
            fail "seed the source mailbox" "$(tail -5 "$work/dc.log")"
        fi
        export SEEDED_MESSAGES=80
    else
        fail "start two Dovecot instances" "$(tail -20 "$work/dc.log")"
    fi
else
    skip "no Dovecot: « Tester la connexion » and a real migration are not exercised"
fi

if [ "$have_dovecot" = 1 ]; then
    # shellcheck disable=SC1091
    dst_port=$(. "$DST/env"; echo "$IMAPS_PORT")
    (umask 077; . "$DST/env"; printf '%s\n' "$MASTER_PASSWORD" >"$work/master.secret")
    src_ca=$SRC/ca.crt dst_ca=$DST/ca.crt
    # Jobs that are not meant to succeed log in to the source with a wrong password: a
    # permanent failure within a second (a closed port would be retried for ~14 s per job).
    DUMMY_HOST=127.0.0.1:$(. "$SRC/env"; echo "$IMAP_PORT")
else
    DUMMY_HOST=127.0.0.1:9
    dst_port=1
    (umask 077; echo unused >"$work/master.secret")
    src_ca=/etc/ssl/certs/ca-certificates.crt dst_ca=$src_ca
fi

mkconf() {  # mkconf FILE DATA_DIR TLS
    cat >"$1" <<EOF
[server]
listen = 127.0.0.1:0
data_dir = $2
workers = 2
tls = $3
max_upload_bytes = 2M
max_import_rows = 10000
session_ttl = 1h
; passwords erased when a job ends: the retry-needs-a-password path is tested here
credential_retention = 0

[sources]
ca_file = $src_ca
; the test sources are on loopback, which non-admin accounts may not reach by default
allow = 127.0.0.0/8
connect_timeout = 5
io_timeout = 30
retry_delay = 1h

[destination]
host = 127.0.0.1
port = $dst_port
tls = implicit
ca_file = $dst_ca
master_user = admin
master_password_file = $work/master.secret
separator = *
domains = example.com, example.org
connect_timeout = 5
$(store_conf "$2")
EOF
}
mkconf "$work/a.conf" "$work/varA" off
mkconf "$work/b.conf" "$work/varB" on

# ---- migrabox user ----
export ADMIN_PW='Adm1n pass «x»' ORG_PW='org-Secret-9'
if MIGRABOX_PASSWORD=$ADMIN_PW "$MIGRABOX" user add admin --admin -c "$work/a.conf" \
        >"$work/user.out" 2>&1 \
    && printf '%s\n' "$ORG_PW" | "$MIGRABOX" user add orgacct --domain Example.ORG -c "$work/a.conf" \
        >>"$work/user.out" 2>&1; then
    ok "user add: an admin (password from MIGRABOX_PASSWORD) and a domain account (from stdin)"
else
    fail "user add" "$(cat "$work/user.out")"
fi
out=$(MIGRABOX_PASSWORD=other "$MIGRABOX" user add admin -c "$work/a.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *'already exists'* ]]; then
    ok "user add: a duplicate name is refused with a clear error (exit $rc)"
else
    fail "user add: duplicate" "exit $rc: $out"
fi
out=$(printf '\n' | env -u MIGRABOX_PASSWORD "$MIGRABOX" user add empty -c "$work/a.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *'empty password'* ]]; then
    ok "user add: an empty password is refused (exit $rc)"
else
    fail "user add: empty password" "exit $rc: $out"
fi
out=$(printf '\n' | env -u MIGRABOX_PASSWORD LC_ALL= LC_MESSAGES= LANG=fr_FR.UTF-8 \
    "$MIGRABOX" user add empty -c "$work/a.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *'migrabox user add: mot de passe vide refusé'* ]] \
    && [[ $out == *'remarque : un compte'* ]] && [[ $out != *'empty password'* ]]; then
    ok "user add: the refusal in French under LANG=fr_FR.UTF-8"
else
    fail "user add: French refusal" "exit $rc: $out"
fi
out=$(env -u MIGRABOX_PASSWORD "$MIGRABOX" user add nopw -c "$work/a.conf" </dev/null 2>&1)
rc=$?
[ $rc -ne 0 ] && ok "user add: no password at all is refused (exit $rc)" \
    || fail "user add: no password" "exit $rc: $out"
out=$(MIGRABOX_PASSWORD=x "$MIGRABOX" user add other --domain elsewhere.net -c "$work/a.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *'not one of the hosted domains'* ]]; then
    ok "user add: a domain outside [destination] domains is refused"
else
    fail "user add: foreign domain" "exit $rc: $out"
fi
out=$("$MIGRABOX" user list -c "$work/a.conf" 2>&1)
if [ "$out" = $'admin\tadmin\t\norgacct\t-\texample.org' ]; then
    ok "user list shows both accounts, domains lower-cased"
else
    fail "user list" "$out"
fi
for cmd in serve import "user"; do
    if "$MIGRABOX" $cmd --help 2>&1 | grep -q '^usage: migrabox '"$cmd"; then
        ok "migrabox $cmd --help"
    else
        fail "migrabox $cmd --help"
    fi
done
out=$("$MIGRABOX" serve -c "$work/missing.conf" 2>&1)
rc=$?
[ $rc -eq 2 ] && [[ $out == *missing.conf* ]] && ok "serve: a missing config file exits 2 naming it" \
    || fail "serve: missing config" "exit $rc: $out"

# ---- migrabox import (CLI) ----
printf 'a@src.test;pw;imap.src.test;defaut;a@example.com;False\nb@src.test;;imap.src.test;nope;b@example.com;x\n' \
    >"$work/bad.csv"
out=$(LC_ALL=C "$MIGRABOX" import -c "$work/a.conf" "$work/bad.csv" 2>&1)
rc=$?
if [ $rc -eq 1 ] && [[ $out == *'line 2, column 2 (pass_source)'* ]] \
    && [[ $out == *'line 2, column 4 (type_messagerie)'* ]] && [[ $out == *'nothing was queued'* ]]; then
    ok "import: errors named by line and column, exit 1"
else
    fail "import: errors" "exit $rc: $out"
fi
out=$(LC_ALL= LC_MESSAGES= LANG=fr_FR.UTF-8 "$MIGRABOX" import -c "$work/a.conf" "$work/bad.csv" 2>&1)
rc=$?
if [ $rc -eq 1 ] && [[ $out == *'ligne 2, colonne 2 (pass_source) : pass_source est vide'* ]] \
    && [[ $out == *'ligne 2, colonne 4 (type_messagerie) : type_messagerie inconnu'* ]] \
    && [[ $out == *"aucune migration n'a été ajoutée"* ]] && [[ $out != *'line 2'* ]]; then
    ok "import: errors in French under LANG=fr_FR.UTF-8"
else
    fail "import: French errors" "exit $rc: $out"
fi

# ---- migrabox migrate (CLI): its messages in the language of LC_ALL / LC_MESSAGES / LANG ----
mig() {  # mig LOCALE ARGS...: stderr and stdout of a migrate run under that locale
    local loc=$1
    shift
    LC_ALL= LC_MESSAGES= LANG=$loc MIGRABOX_SOURCE_PASSWORD=pw "$MIGRABOX" migrate -c "$work/a.conf" \
        --source-user u@src.test --type defaut "$@" 2>&1
}
out_c=$(mig C --source-host 127.0.0.1:1 --dest-user nodomain)
out_fr=$(mig fr_FR.UTF-8 --source-host 127.0.0.1:1 --dest-user nodomain)
if [ "$out_c" = "migrabox migrate: --dest-user must be a full address (name@domain)" ] \
    && [ "$out_fr" = "migrabox migrate: --dest-user doit être une adresse complète (nom@domaine)" ]; then
    ok "migrate: a usage error in English under LANG=C, in French under LANG=fr_FR.UTF-8"
else
    fail "migrate: usage error by locale" "C: $out_c / fr: $out_fr"
fi
out_c=$(mig C --source-host 999.1.1.1 --dest-user a@example.com)
out_fr=$(mig fr_FR.UTF-8 --source-host 999.1.1.1 --dest-user a@example.com)
if [ "$out_c" = "migrabox migrate: --source-host: invalid IPv4 address (HOST or HOST:PORT)" ] \
    && [ "$out_fr" = "migrabox migrate: --source-host : adresse IPv4 invalide (HÔTE ou HÔTE:PORT)" ]; then
    ok "migrate: the host parser's reason in English (C) and in French (fr_FR)"
else
    fail "migrate: host reason by locale" "C: $out_c / fr: $out_fr"
fi
out_c=$(mig C --source-host 127.0.0.1:1 --dest-user a@example.com)
rc_c=$?
out_fr=$(mig fr_FR.UTF-8 --source-host 127.0.0.1:1 --dest-user a@example.com)
why='cannot connect to source server 127.0.0.1:1: connection refused by 127.0.0.1:1'
why_fr='connexion impossible au serveur source 127.0.0.1:1 : connexion refusée par 127.0.0.1:1'
if [ $rc_c -eq 1 ] && [[ $out_c == *"migrabox: FAILED: $why"* ]] \
    && [[ $out_fr == *"migrabox: ÉCHOUÉE : $why_fr"* ]] && [[ $out_fr == *'"error":"'"$why"'"'* ]]; then
    ok "migrate: a failed run says FAILED (C) / ÉCHOUÉE (fr_FR) with the engine's reason in the same language, the JSON summary keeps the English"
else
    fail "migrate: failed run by locale" "C: $out_c / fr: $out_fr"
fi

printf 'login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only\r\n%s\r\n%s\r\n' \
    "cli1@src.test;Cli-Pw-1;$DUMMY_HOST;defaut;cli1@example.com;False" \
    "cli2@src.test;\"Cli;Pw-2\";$DUMMY_HOST;exchange;cli2@example.org;True" \
    >"$work/good.csv"
out=$("$MIGRABOX" import -c "$work/a.conf" "$work/good.csv" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "batch 1: 2 jobs queued" ]; then
    ok "import: a valid file is queued as one batch ($out)"
else
    fail "import: valid file" "exit $rc: $out"
fi
export CLI_PASSWORDS='Cli-Pw-1 Cli;Pw-2'

export WORK=$work TOOL SRC DST DUMMY_HOST
export HAVE_DOVECOT=$have_dovecot
python3 "$here/api_test.py" >"$work/py.out" 2>&1
pyrc=$?
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        "skip - "*) skip "${line#skip - }" ;;
        *) echo "$line" ;;
    esac
done <"$work/py.out"
[ $pyrc -eq 0 ] || [ "$T_FAIL" -gt 0 ] || fail "api_test.py exited $pyrc"
finish
