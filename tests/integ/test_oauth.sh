#!/usr/bin/env bash
# test_oauth.sh: source authentication profiles end to end (issue 9).
#  - a fake HTTPS token endpoint (tests/fakeimap/tokenserver.py, a CA made here) that checks
#    what Microsoft's and Google's check and issues tokens living 5 s; the quirk server
#    (tests/fakeimap/quirkserver.py --tokens) accepts AUTHENTICATE XOAUTH2 only with a live
#    token it issued;
#  - `migrabox profile add/list/delete`, `migrabox migrate --auth-profile`: Office 365 with a
#    client secret and with a certificate (signed client assertion), Gmail with a service
#    account, each copied identically into a real Dovecot destination, with reconnections that
#    reuse or renew the token;
#  - the vendors' refusals worded with their fix; a hostile token endpoint (endless body,
#    10 MB JSON, slow drip, HTML, 503) failing clearly within the deadline;
#  - imap-admin against a real source Dovecot with a master user (separator and authzid);
#  - no secret, key or token in the database file, the outputs or the logs.
set -u
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QS=$ROOT/tests/fakeimap/quirkserver.py
TS=$ROOT/tests/fakeimap/tokenserver.py
CHECK=$HERE/presets_check.py
IMAPTOOL=$HERE/imaptool.py
DOVECOT=$HERE/dovecot.sh

if ! command -v dovecot >/dev/null; then
    skip "oauth: needs dovecot (tests/integ/dovecot.sh)"
    finish
fi

W=$(mktemp -d /tmp/mboauth.XXXXXX)
QPID="" TPID=""
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
    [ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
    bash "$DOVECOT" stop "$W/dst" "$W/src" >/dev/null 2>&1
    rm -rf "$W"
}
trap cleanup EXIT

bash "$DOVECOT" start "$W/dst" --master --autocreate >/dev/null || { fail "dovecot start"; finish; }
bash "$DOVECOT" start "$W/src" --master >/dev/null || { fail "source dovecot start"; finish; }
for u in o1 o2 o3 g1 a1 a2 o5t o5p g5; do
    bash "$DOVECOT" adduser "$W/dst" "$u@example.com" "pw-$u-dst" >/dev/null
done
SRC_PW="src-Pw-$RANDOM-x"
bash "$DOVECOT" adduser "$W/src" "paul@old.example" "$SRC_PW" >/dev/null
sleep 1
. "$W/dst/env"
export MASTER_PASSWORD
DST_MASTER=$MASTER_PASSWORD
SRC_MASTER=$(. "$W/src/env"; echo "$MASTER_PASSWORD")
SRC_TLS_PORT=$(. "$W/src/env"; echo "$IMAPS_PORT")
SRC_PLAIN_PORT=$(. "$W/src/env"; echo "$IMAP_PORT")

# ---- key material: a CA for the token endpoint, an app certificate, a service account ----
K=$W/keys
mkdir -p "$K"
(
cd "$K" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=migrabox token test CA" \
    -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" >/dev/null 2>&1 || exit 1
openssl req -newkey rsa:2048 -nodes -subj "/CN=login.test" -keyout server.key \
    -out server.csr >/dev/null 2>&1 || exit 1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile ext -out server.crt >/dev/null 2>&1 || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=migrabox app" \
    -keyout app.key -out app.crt >/dev/null 2>&1 || exit 1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key >/dev/null 2>&1 || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=other" \
    -keyout other.key -out other.crt >/dev/null 2>&1 || exit 1
) || { fail "openssl"; finish; }
APP_MOD=$(openssl x509 -in "$K/app.crt" -noout -modulus | cut -d= -f2)
SA_MOD=$(openssl rsa -in "$K/sa.key" -noout -modulus 2>/dev/null | cut -d= -f2)
X5T=$(openssl x509 -in "$K/app.crt" -outform DER | openssl dgst -sha1 -binary | base64 \
      | tr '+/' '-_' | tr -d '=')
TENANT=contoso.onmicrosoft.com
APP_ID=6f1c3a52-0b7e-4d1a-9f3e-2a5b8c7d9e01
CERT_APP_ID=7a2d4b63-1c8f-4e2b-8a4f-3b6c9d8e0f12
SECRET_VALUE="Qx8Q~sEcReT.vAlUe-$RANDOM$RANDOM"
printf '%s\n' "$SECRET_VALUE" > "$K/secret"
printf 'f3b2c1d0-secret-id-not-value\n' > "$K/secret-id"
SA_EMAIL=migrabox@proj-42.iam.gserviceaccount.com
python3 - "$K/sa.key" "$K/sa.json" "$SA_EMAIL" <<'PY'
import json, sys
key = open(sys.argv[1]).read()
json.dump({"type": "service_account", "project_id": "proj-42", "private_key_id": "abc123",
           "private_key": key, "client_email": sys.argv[3], "client_id": "1234567890",
           "token_uri": "https://oauth2.googleapis.com/token"}, open(sys.argv[2], "w"))
PY
printf '%s\n' "$SRC_MASTER" > "$K/src-master"
SA_KEY_LINE=$(sed -n 2p "$K/sa.key")
APP_KEY_LINE=$(sed -n 2p "$K/app.key")

cat > "$W/ts.json" <<JSON
{"cert": "$K/server.crt", "key": "$K/server.key", "ttl": 5, "tokens_file": "$W/tokens.json",
 "microsoft": {"$TENANT": {"$APP_ID": {"secret": "$SECRET_VALUE"},
                           "$CERT_APP_ID": {"x5t": "$X5T", "modulus": "$APP_MOD"}}},
 "google": {"client_email": "$SA_EMAIL", "modulus": "$SA_MOD", "delegated": true,
            "users": ["alice@gmail.com", "bob@gmail.com"]}}
JSON
echo '{}' > "$W/tokens.json"
python3 "$TS" "$W/ts.json" "$W/tport" 2>"$W/ts.err" &
TPID=$!
for _ in $(seq 1 100); do [ -s "$W/tport" ] && break; sleep 0.05; done
TPORT=$(cat "$W/tport")
[ -n "$TPORT" ] || { fail "token server start" "$(cat "$W/ts.err")"; finish; }
TURL=https://127.0.0.1:$TPORT
treport() { python3 -c "import json; r=json.load(open('$W/tport.report')); print($1)"; }

cat > "$W/mb.conf" <<CONF
[server]
data_dir = $W/var
[sources]
ca_file = $K/ca.crt
connect_timeout = 3
; the fake sources listen on loopback, which non-admin accounts may not reach by default
allow = 127.0.0.0/8
; one connection pair: the token's expiry and renewal are checked across the reconnections of
; one connection (extra connections that stop on a fault do not reconnect)
connections_per_job = 1
[destination]
host = 127.0.0.1
port = $IMAPS_PORT
tls = implicit
ca_file = $W/dst/ca.crt
master_user = admin
master_password = $DST_MASTER
domains = example.com
CONF

spec() {  # spec NAME BASE PYTHON: $W/NAME.json from quirk_BASE.json edited by PYTHON (d)
    python3 - "$ROOT/tests/fakeimap/quirk_$2.json" "$W/$1.json" "${3:-pass}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
}
qs_start() {
    rm -f "$W/port" "$W/port.report"
    python3 "$QS" "$W/$1.json" "$W/port" --log "$W/qs-$1.log" --max-seconds 300 \
        --tokens "$W/tokens.json" &
    QPID=$!
    for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.05; done
    QPORT=$(cat "$W/port")
}
qs_stop() { kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null; QPID=""; }
qs_report() { python3 -c "import json; r=json.load(open('$W/port.report')); print($1)"; }

# migrate RUN TYPE LOGIN PROFILE DEST: JSON summary in RUN.out, stderr in RUN.err.
# HOST (default the quirk server; "-" = none, the profile's) and TLS (default none).
migrate() {
    local run=$1 host=${HOST:-127.0.0.1:$QPORT} t0 t1 hostarg=()
    [ "$host" = - ] || hostarg=(--source-host "$host")
    t0=$(date +%s%N)
    env -u MIGRABOX_SOURCE_PASSWORD timeout 120 "$MIGRABOX" migrate -c "${CONF:-$W/mb.conf}" \
        "${hostarg[@]}" --source-tls "${TLS:-none}" --source-user "$3" --type "$2" \
        --dest-user "$5" --auth-profile "$4" >"$W/$run.out" 2>"$W/$run.err"
    echo $? >"$W/$run.rc"
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 )) >"$W/$run.ms"
    if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$W/$run.err"; then
        fail "$run: sanitizer report" "$(grep -E -m3 'Sanitizer|runtime error' "$W/$run.err")"
    fi
}
summary() { python3 -c "import json; s=json.load(open('$W/$1.out')); print($2)"; }
done_ok() {
    if [ "$(cat "$W/$1.rc")" = 0 ] && [ "$(summary "$1" "s['state']")" = done ]; then ok "$2"
    else fail "$2" "rc=$(cat "$W/$1.rc"): $(tail -n 3 "$W/$1.err")"; fi
}
failed_with() {  # failed_with RUN WORDS NAME
    if [ "$(cat "$W/$1.rc")" = 1 ] && grep -qF -- "$2" "$W/$1.out"; then ok "$3"
    else fail "$3" "rc=$(cat "$W/$1.rc"): $(head -c 600 "$W/$1.out") $(tail -n 2 "$W/$1.err")"; fi
}
verify() {  # verify RUN SPEC DEST NAME RULE...
    local run=$1 sp=$2 dest=$3 name=$4 out
    shift 4
    python3 "$QS" --expect "$W/$sp.json" >"$W/$run.expect"
    if ! python3 "$IMAPTOOL" --env "$W/dst/env" --user "$dest" --master --tls implicit dump \
        >"$W/$run.dump" 2>"$W/$run.dumperr"; then
        fail "$name" "dump failed: $(head -c 300 "$W/$run.dumperr")"; return
    fi
    if out=$(python3 "$CHECK" "$W/$run.expect" "$W/$run.dump" "$@" 2>&1); then ok "$name"
    else fail "$name" "$out"; fi
}
padd() {  # padd NAME ARGS...: migrabox profile add, output in $W/padd-NAME.{out,err}
    local n=$1; shift
    "$MIGRABOX" profile add "$n" -c "$W/mb.conf" "$@" >"$W/padd-$n.out" 2>"$W/padd-$n.err"
}

# ---- profiles --------------------------------------------------------------------------
check "profile add: microsoft365 with a client secret" padd ms --kind microsoft365 \
    --tenant "$TENANT" --client-id "$APP_ID" --client-secret-file "$K/secret" \
    --token-url "$TURL/$TENANT/oauth2/v2.0/token"
check "profile add: microsoft365 with a certificate and its key" padd mscert \
    --kind microsoft365 --tenant "$TENANT" --client-id "$CERT_APP_ID" \
    --certificate "$K/app.crt" --key "$K/app.key" --token-url "$TURL/$TENANT/oauth2/v2.0/token"
check "profile add: google service account" padd gw --kind google \
    --service-account-file "$K/sa.json" --token-url "$TURL/token"
check "profile add: imap-admin (master user, separator)" padd adm --kind imap-admin \
    --admin-user admin --admin-password-file "$K/src-master" \
    --source-host "127.0.0.1:$SRC_TLS_PORT"
check "profile add: imap-admin (authzid)" padd admz --kind imap-admin --admin-user admin \
    --admin-password-file "$K/src-master" --method authzid
padd badsecret --kind microsoft365 --tenant "$TENANT" --client-id "$APP_ID" \
    --client-secret-file "$K/secret-id" --token-url "$TURL/$TENANT/oauth2/v2.0/token"
padd noapp --kind microsoft365 --tenant "$TENANT" \
    --client-id 00000000-dead-beef-0000-000000000000 \
    --client-secret-file "$K/secret" --token-url "$TURL/$TENANT/oauth2/v2.0/token"
for h in endless huge drip html busy; do
    padd "h-$h" --kind microsoft365 --tenant "$h" --client-id "$APP_ID" \
        --client-secret-file "$K/secret" --token-url "$TURL/$h/oauth2/v2.0/token"
done
if ! padd mixed --kind microsoft365 --tenant "$TENANT" --client-id "$CERT_APP_ID" \
        --certificate "$K/app.crt" --key "$K/other.key" \
   && grep -q "not the key of this certificate" "$W/padd-mixed.err"; then
    ok "profile add: a key that is not the certificate's is refused in words"
else
    fail "profile add: mismatched key" "$(cat "$W/padd-mixed.err")"
fi
if ! padd plain --kind microsoft365 --tenant "$TENANT" --client-id "$APP_ID" \
        --client-secret-file "$K/secret" --token-url "http://127.0.0.1:$TPORT/x" \
   && grep -q "https://" "$W/padd-plain.err"; then
    ok "profile add: a plain http token_url is refused"
else
    fail "profile add: http token_url" "$(cat "$W/padd-plain.err")"
fi
if ! padd ms --kind microsoft365 --tenant "$TENANT" --client-id "$APP_ID" \
        --client-secret-file "$K/secret" && grep -q "already exists" "$W/padd-ms.err"; then
    ok "profile add: a duplicate name is refused"
else
    fail "profile add: duplicate" "$(cat "$W/padd-ms.err")"
fi
"$MIGRABOX" profile list -c "$W/mb.conf" >"$W/plist.out" 2>&1
if grep -q "^ms	microsoft365	tenant=$TENANT client_id=$APP_ID" "$W/plist.out" \
   && grep -q "^gw	google	client_email=$SA_EMAIL" "$W/plist.out" \
   && grep -q "^admz	imap-admin	admin_user=admin method=authzid" "$W/plist.out"; then
    ok "profile list: names, kinds and public fields"
else
    fail "profile list" "$(cat "$W/plist.out")"
fi

# ---- migrabox import --auth-profile ----------------------------------------------------
printf 'jean.martin@contoso.fr;;outlook.office365.com;office;o1@example.com;0\nx@contoso.fr;Pw-Row-2;outlook.office365.com;office;o2@example.com;0\n' >"$W/batch.csv"
if ! "$MIGRABOX" import -c "$W/mb.conf" "$W/batch.csv" >"$W/imp0.out" 2>&1 \
   && grep -q "pass_source" "$W/imp0.out" \
   && ! "$MIGRABOX" import -c "$W/mb.conf" --auth-profile nope "$W/batch.csv" >"$W/imp1.out" 2>&1 \
   && grep -q 'no source authentication profile "nope"' "$W/imp1.out" \
   && "$MIGRABOX" import -c "$W/mb.conf" --auth-profile ms "$W/batch.csv" >"$W/imp2.out" 2>&1 \
   && python3 - "$W/var/migrabox.db" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT dest_login, auth_profile, source_secret IS NOT NULL FROM jobs WHERE batch_id IS NOT NULL "
    "ORDER BY id").fetchall()
assert rows == [("o1@example.com", "ms", 0), ("o2@example.com", None, 1)], rows
PY
then
    ok "import --auth-profile: the row without password uses the profile (no secret kept), the other keeps its password"
else
    fail "import --auth-profile" "$(cat "$W/imp0.out" "$W/imp1.out" "$W/imp2.out")"
fi
# those two jobs are for `serve`; this script runs migrations in the foreground only
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM jobs WHERE batch_id IS NOT NULL'); c.commit()" "$W/var/migrabox.db"

# ---- Office 365 with a client secret: tokens of 5 s, reconnections -------------------------
# A dropped connection right after the second body FETCH reconnects after 2 s (the cached
# token is still valid: no new request); "BAD Request is throttled. Suggested Backoff Time:
# 7000 milliseconds" + BYE after the fifth makes the engine wait 7 s: the token has expired,
# the reconnection gets a new one.
spec office office 'd["faults"] = [{"kind": "throttle", "body": True, "after": 2, "mode": "drop"}, {"kind": "throttle", "body": True, "after": 5, "mode": "o365_bad_bye", "backoff_ms": 7000}]'
qs_start office
R0=$(treport "r['issued']")
migrate office office jean.martin@contoso.fr ms o1@example.com
done_ok office "office via microsoft365 client secret: migration done"
verify office office o1@example.com "office via client secret: mail folders identical at the destination" \
    'INBOX=>INBOX' 'INBOX/Factures=>INBOX/Factures' 'Éléments envoyés=>Sent' \
    'Éléments supprimés=>Trash' 'Courrier indésirable=>Junk' 'Brouillons=>Drafts' \
    '!Calendrier' '!Contacts' '!Tâches' nodup sizes
ISSUED=$(( $(treport "r['issued']") - R0 ))
LOGINS=$(qs_report "r.get('xoauth2_ok', 0)")
# One login per connection (the first and each reconnection) and only 2 tokens asked for
# (cached, renewed once expired).
if [ "$ISSUED" = 2 ] && [ "$LOGINS" = 3 ] && [ "$(qs_report "r.get('xoauth2_refused', 0)")" = 0 ]; then
    ok "office: $LOGINS XOAUTH2 logins with 2 token requests (cached token reused, expired one renewed)"
else
    fail "office: token reuse/renewal" "issued=$ISSUED logins=$LOGINS $(grep -i 'token\|reconnect' "$W/office.err" | head -5)"
fi
echo "measured: office with 5 s tokens and 2 reconnections (2 s + 7 s backoff): $(cat "$W/office.ms") ms, $LOGINS logins, $ISSUED token requests"
qs_stop

# ---- Office 365 with a certificate (signed client assertion) ----------------------------
spec office2 office 'pass'
qs_start office2
migrate officecert office jean.martin@contoso.fr mscert o2@example.com
done_ok officecert "office via microsoft365 certificate (RS256 client assertion with x5t): done"
verify officecert office2 o2@example.com "office via certificate: identical at the destination" \
    'INBOX=>INBOX' 'Éléments envoyés=>Sent' '!Calendrier' nodup sizes
R1=$(treport "r['issued']")
migrate officecert2 office jean.martin@contoso.fr mscert o2@example.com
if [ "$(summary officecert2 "s['state'], s['copied']")" = "done 0" ] \
   && [ "$(( $(treport "r['issued']") - R1 ))" = 1 ]; then
    ok "office via certificate again: delta copies nothing, one token request (fresh jti accepted)"
else
    fail "office again" "$(head -c 300 "$W/officecert2.out")"
fi
# the same mailbox by password (timing comparison), then by token into the same box
t0=$(date +%s%N)
MIGRABOX_SOURCE_PASSWORD=o365-Secret-7 timeout 120 "$MIGRABOX" migrate -c "$W/mb.conf" \
    --source-host "127.0.0.1:$QPORT" --source-tls none --source-user jean.martin@contoso.fr \
    --type office --dest-user o3@example.com >"$W/officepw.out" 2>"$W/officepw.err"
t1=$(date +%s%N)
migrate officetok office jean.martin@contoso.fr mscert o3@example.com
if [ "$(summary officepw "s['state']")" = done ] && [ "$(summary officetok "s['state'], s['copied']")" = "done 0" ]; then
    ok "office by password then by token into the same box: the same job, nothing copied twice"
else
    fail "office password vs token" "$(head -c 300 "$W/officepw.out") $(head -c 300 "$W/officetok.out")"
fi
echo "measured: office by password $(( (t1 - t0) / 1000000 )) ms; office via certificate token (first run, no fault) $(cat "$W/officecert.ms") ms"

# Refusals at the IMAP level, in Microsoft's forms
migrate msother office someone.else@contoso.fr mscert o3@example.com
failed_with msother "register the app in Exchange (New-ServicePrincipal)" \
    "office: 'NO AUTHENTICATE failed.' -> worded with the fix"
qs_stop
spec noaccess office 'd["xoauth2_no_access"] = True'
qs_start noaccess
migrate noaccess office jean.martin@contoso.fr ms o3@example.com
failed_with noaccess "Add-MailboxPermission" \
    "office: 'User is authenticated but not connected' -> Add-MailboxPermission named"
qs_stop

# Refusals by the token endpoint
spec office3 office 'pass'
qs_start office3
migrate badsecret office jean.martin@contoso.fr badsecret o3@example.com
failed_with badsecret "not its Secret ID" \
    "microsoft365: AADSTS7000215 (secret ID given) -> 'give the secret's Value, not its Secret ID'"
migrate noapp office jean.martin@contoso.fr noapp o3@example.com
failed_with noapp "AADSTS700016" "microsoft365: AADSTS700016 -> unknown app / admin consent"
# A token endpoint answering 503 is retried ("5xx with retry") until give_up_after without
# progress: 10 s here.
sed 's/^\[sources\]$/[sources]\ngive_up_after = 10/' "$W/mb.conf" >"$W/mb-fast.conf"
for h in endless huge drip html busy; do
    CONF=$W/mb-fast.conf migrate "h-$h" office jean.martin@contoso.fr "h-$h" o3@example.com
done
hostile_ok=1
for pair in "endless:an answer over" "huge:announced an answer of" "drip:within 9 s" \
            "html:text/html" "busy:HTTP 503"; do
    h=${pair%%:*} words=${pair#*:}
    ms=$(cat "$W/h-$h.ms")
    if [ "$(cat "$W/h-$h.rc")" != 1 ] || ! grep -qF -- "$words" "$W/h-$h.out" || [ "$ms" -gt 15000 ]; then
        hostile_ok=0
        fail "hostile token endpoint: $h" "$ms ms: $(head -c 400 "$W/h-$h.out")"
    fi
done
[ $hostile_ok = 1 ] && ok "hostile token endpoint (endless body, 10 MB JSON, slow drip, HTML, 503): clear error within the deadline (drip $(cat "$W/h-drip.ms") ms)"
qs_stop

# ---- 500 messages with tokens living 5 s, and the same mailbox by password ---------------
# Two "BAD Request is throttled … 6000 milliseconds" + BYE make the run outlive its tokens:
# each reconnection must log in with a renewed one. The same mailbox and faults through a
# password login give the time without tokens.
spec office500 office 'd["folders"] = [f for f in d["folders"] if f["name"] in ("INBOX", "Éléments envoyés")]
for f in d["folders"]:
    f["generate"] = {"prefix": f["name"][:3].lower(), "count": 300 if f["name"] == "INBOX" else 200, "pad": 1200}
d["faults"] = [{"kind": "throttle", "body": True, "after": 3, "mode": "o365_bad_bye", "backoff_ms": 6000, "times": 2}]'
qs_start office500
R0=$(treport "r['issued']")
migrate office500 office jean.martin@contoso.fr ms o5t@example.com
ISSUED=$(( $(treport "r['issued']") - R0 ))
done_ok office500 "office, 500 messages, 5 s tokens outlived twice: done"
verify office500 office500 o5t@example.com "office, 500 messages via tokens: identical at the destination" \
    'INBOX=>INBOX' 'Éléments envoyés=>Sent' nodup sizes
qs_stop
qs_start office500
t0=$(date +%s%N)
MIGRABOX_SOURCE_PASSWORD=o365-Secret-7 timeout 120 "$MIGRABOX" migrate -c "$W/mb.conf" \
    --source-host "127.0.0.1:$QPORT" --source-tls none --source-user jean.martin@contoso.fr \
    --type office --dest-user o5p@example.com >"$W/office500p.out" 2>"$W/office500p.err"
echo $? >"$W/office500p.rc"
echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$W/office500p.ms"
done_ok office500p "office, the same 500 messages by password: done"
qs_stop
echo "measured: 500 messages, office: 5 s tokens $(cat "$W/office500.ms") ms ($ISSUED token requests), password $(cat "$W/office500p.ms") ms (both with two 6 s back-offs)"
[ "$ISSUED" -ge 2 ] && ok "office, 500 messages: $ISSUED token requests (renewed after the back-offs)" \
    || fail "office, 500 messages: tokens renewed" "issued=$ISSUED"

# ---- Gmail with a service account -------------------------------------------------------
spec gmail gmail 'pass'
qs_start gmail
migrate gmail gmail alice@gmail.com gw g1@example.com
done_ok gmail "gmail via google service account: migration done"
verify gmail gmail g1@example.com "gmail via service account: identical at the destination" \
    'INBOX=>INBOX' 'Work=>Work' 'Work/Clients=>Work/Clients' '[Gmail]/Sent Mail=>Sent' \
    '[Gmail]/All Mail=>Archive:orphans' '![Gmail]/Starred' '![Gmail]/Important' nodup sizes
if [ "$(treport "r['by_key'].get('google/alice@gmail.com', 0)")" = 1 ]; then
    ok "gmail: one token for the mailbox (sub = alice@gmail.com)"
else
    fail "gmail token" "$(cat "$W/tport.report")"
fi


migrate gmailbob gmail bob@gmail.com gw g1@example.com
failed_with gmailbob "Gmail refused the service account's token for bob@gmail.com" \
    "gmail: token refused by IMAP (continuation with JSON status, then NO [AUTHENTICATIONFAILED]) -> worded"
migrate gmailnobody gmail carol@gmail.com gw g1@example.com
failed_with gmailnobody "does not know the mailbox carol@gmail.com" \
    "google: invalid_grant 'Invalid email or User ID' -> unknown mailbox"
if [ "$(qs_report "r.get('xoauth2_refused', 0)")" = 1 ] && grep -q "AUTHENTICATIONFAILED" "$W/gmailbob.out"; then
    ok "gmail: the refusal took Gmail's form"
else
    fail "gmail refusal form" "$(qs_report "r")"
fi
qs_stop

spec gmail500 gmail 'import copy
base = d["messages"][0]
d["messages"] = []
for i in range(500):
    m = copy.deepcopy(base)
    m["id"] = "m500-%d" % i
    m["subject"] = "message %d" % i
    m["labels"] = ["\\Inbox"] if i % 3 else ["Work"]
    m["pad"] = 800 + 8 * i   # never ends in a lone CR (Dovecot would drop it)
    m["flags"] = ["\\Seen"] if i % 2 else []
    d["messages"].append(m)
d["faults"] = [{"kind": "throttle", "body": True, "after": 4, "mode": "bye_gmail"}]'
qs_start gmail500
R0=$(treport "r['issued']")
# 500 messages; "BYE Session expired" half-way: reconnect, resume
migrate gmail500 gmail alice@gmail.com gw g5@example.com
ISSUED=$(( $(treport "r['issued']") - R0 ))
done_ok gmail500 "gmail, 500 messages via the service account, a BYE half-way: done"
verify gmail500 gmail500 g5@example.com "gmail, 500 messages via the service account: identical" \
    'INBOX=>INBOX' 'Work=>Work' nodup sizes
echo "measured: 500 messages, gmail with 5 s tokens and a reconnection: $(cat "$W/gmail500.ms") ms, $ISSUED token request(s)"
qs_stop

# ---- the API: profiles, « Tester », jobs and imports with auth_profile (oauth_api.py) -----
export ADMIN_PW="Adm-$RANDOM-pw" ORG_PW="Org-$RANDOM-pw" ORG2_PW="Org2-$RANDOM-pw"
for u in o4 o5 o6 o7 o8 o9 o10 o11; do
    bash "$DOVECOT" adduser "$W/dst" "$u@example.com" "pw-$u-dst" >/dev/null
done
sleep 1
for conf in api busy; do
    cap=10; [ $conf = busy ] && cap=1
    sed -e "s|^data_dir = .*|data_dir = $W/varapi\nlisten = 127.0.0.1:0\nworkers = 2\ntls = off|" \
        -e "s|^connect_timeout = 3|connect_timeout = 3\nmax_connections_per_host = $cap|" \
        "$W/mb.conf" > "$W/$conf.conf"
done
MIGRABOX_PASSWORD=$ADMIN_PW "$MIGRABOX" user add admin --admin -c "$W/api.conf" >/dev/null 2>&1
MIGRABOX_PASSWORD=$ORG_PW "$MIGRABOX" user add orgacct --domain example.com -c "$W/api.conf" >/dev/null 2>&1
MIGRABOX_PASSWORD=$ORG2_PW "$MIGRABOX" user add org2 --domain example.com -c "$W/api.conf" >/dev/null 2>&1
spec apioffice office 'pass'
spec slowoffice office 'd["faults"] = [{"kind": "stall", "after_bodies": 3, "seconds": 4}]'
qs_start slowoffice
SLOWPID=$QPID SLOWPORT=$QPORT QPID=""
mv "$W/port.report" "$W/slow.report" 2>/dev/null
qs_start apioffice
WORK=$W TENANT=$TENANT APP_ID=$APP_ID SECRET_VALUE=$SECRET_VALUE TURL=$TURL QPORT=$QPORT \
    QPORT_SLOW=$SLOWPORT TREPORT=$W/tport.report timeout 300 python3 "$HERE/oauth_api.py" \
    >"$W/oauth_api.out" 2>&1
echo "oauth_api.py exit $?" >>"$W/oauth_api.out"
grep -E '^(ok|FAIL) - |^  |^measured:' "$W/oauth_api.out"
grep -q '^oauth_api.py exit 0' "$W/oauth_api.out" || grep -q '^FAIL' "$W/oauth_api.out" \
    || fail "oauth_api.py" "$(tail -5 "$W/oauth_api.out")"
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$W"/serve-*.log; then
    fail "serve: sanitizer report" "$(grep -hE -m3 'Sanitizer|runtime error' "$W"/serve-*.log)"
fi
T_PASS=$((T_PASS + $(grep -c '^ok - ' "$W/oauth_api.out")))
T_FAIL=$((T_FAIL + $(grep -c '^FAIL - ' "$W/oauth_api.out")))
qs_stop
kill "$SLOWPID" 2>/dev/null; wait "$SLOWPID" 2>/dev/null

# ---- imap-admin against a real Dovecot source --------------------------------------------
cat > "$W/seed.json" <<'SEED'
{"folders": [{"name": "INBOX", "generate": {"count": 12, "size": 2000, "seed": 3}},
             {"name": "Archives", "generate": {"count": 5, "size": 5000, "seed": 4}}]}
SEED
IMAP_PASSWORD=$SRC_PW python3 "$IMAPTOOL" --env "$W/src/env" --user paul@old.example \
    seed "$W/seed.json" >/dev/null || fail "source seeded"
sed -i "s|^ca_file = $K/ca.crt|ca_file = $W/src/ca.crt|" "$W/mb.conf"
HOST=- TLS=implicit migrate admin defaut paul@old.example adm a1@example.com
HOST=127.0.0.1:$SRC_PLAIN_PORT migrate admin2 defaut paul@old.example admz a2@example.com
done_ok admin "imap-admin separator (LOGIN user*admin, host from the profile, TLS): done"
done_ok admin2 "imap-admin authzid (AUTHENTICATE PLAIN authzid=user): done"
IMAP_PASSWORD=$SRC_PW python3 "$IMAPTOOL" --env "$W/src/env" --user paul@old.example dump >"$W/src.dump" 2>/dev/null
python3 "$IMAPTOOL" --env "$W/dst/env" --user a1@example.com --master --tls implicit dump >"$W/a1.dump" 2>/dev/null
python3 "$IMAPTOOL" --env "$W/dst/env" --user a2@example.com --master --tls implicit dump >"$W/a2.dump" 2>/dev/null
if python3 - "$W/src.dump" "$W/a1.dump" "$W/a2.dump" <<'PY'; then ok "imap-admin: both destinations hold exactly the source's messages"; else fail "imap-admin compare"; fi
import json, sys
def msgs(p):
    d = json.load(open(p))
    return {f["name"]: sorted(m["sha256"] for m in f["messages"]) for f in d["folders"] if f["messages"]}
s = msgs(sys.argv[1])
assert sum(len(v) for v in s.values()) == 17, s
for p in sys.argv[2:]:
    assert msgs(p) == s, (p, msgs(p))
PY

# ---- a profile deleted, secrets nowhere in clear -----------------------------------------
"$MIGRABOX" profile delete badsecret -c "$W/mb.conf" >"$W/pdel.out" 2>&1
if grep -q "deleted" "$W/pdel.out" && ! "$MIGRABOX" profile list -c "$W/mb.conf" | grep -q '^badsecret'; then
    ok "profile delete"
else
    fail "profile delete" "$(cat "$W/pdel.out")"
fi
HOST=127.0.0.1:1 migrate gone office jean.martin@contoso.fr badsecret o3@example.com
if [ "$(cat "$W/gone.rc")" = 2 ] && grep -q 'no source authentication profile "badsecret"' "$W/gone.err"; then
    ok "migrate with a deleted profile: refused with that reason"
else
    fail "deleted profile" "$(cat "$W/gone.err")"
fi
leaks=""
for f in "$W/var/migrabox.db" "$W/var/migrabox.db-wal" "$W/varapi/migrabox.db" \
         "$W/varapi/migrabox.db-wal" "$W"/serve-*.log "$W"/*.out "$W"/*.err "$W"/qs-*.log "$W"/padd-*; do
    [ -f "$f" ] || continue
    for s in "$SECRET_VALUE" "$SRC_MASTER" "$SA_KEY_LINE" "$APP_KEY_LINE" "tok-"; do
        if grep -aqF -- "$s" "$f"; then leaks="$leaks $(basename "$f"):${s:0:6}"; fi
    done
done
if [ -z "$leaks" ]; then
    ok "no client secret, admin password, private key or token in the database, outputs or logs"
else
    fail "secret leak" "$leaks"
fi
finish
