#!/usr/bin/env bash
# The Dovecot test harness itself (dovecot.sh + imaptool.py): two instances at once, plain,
# STARTTLS and implicit TLS against the instance CA, master user in both login forms, a master
# login to a missing user refused, INBOX.-prefixed layout, seed/dump round trip, restart after
# a crash, and nothing left running after stop.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"


work=$(mktemp -d)
A=$work/src B=$work/dst
cleanup() { "$DC" stop "$A" "$B" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

if "$DC" start "$A" --master >"$work/start.log" 2>&1 && "$DC" start "$B" --layout inbox-prefix \
    >>"$work/start.log" 2>&1; then
    ok "two instances started (std + master, inbox-prefix)"
else
    fail "two instances started" "$(cat "$work/start.log")"
    finish
fi
envA() { (. "$A/env"; echo "${!1:-}"); }
envB() { (. "$B/env"; echo "${!1:-}"); }

missing=""
for k in IMAP_HOST IMAP_PORT IMAPS_PORT CA_FILE MASTER_USER MASTER_PASSWORD SEPARATOR; do
    [ -n "$(envA $k)" ] || missing="$missing $k"
done
if [ -z "$missing" ] && [ "$(envA IMAP_HOST)" = 127.0.0.1 ] && [ "$(envA SEPARATOR)" = '*' ] \
    && [ "$(envA CA_FILE)" = "$A/ca.crt" ] && [ "$(envA MASTER_USER)" = admin ]; then
    ok "env file has the documented keys"
else
    fail "env file has the documented keys" "missing:$missing"
fi
ports="$(envA IMAP_PORT) $(envA IMAPS_PORT) $(envB IMAP_PORT) $(envB IMAPS_PORT)"
if [ "$(echo "$ports" | tr ' ' '\n' | sort -u | wc -l)" = 4 ]; then
    ok "four distinct ports ($ports)"
else
    fail "four distinct ports" "$ports"
fi
if [ "$(envB NS_PREFIX)" = INBOX. ] && [ "$(envB NS_DELIM)" = . ] && [ -z "$(envB MASTER_USER)" ]; then
    ok "inbox-prefix instance: NS_PREFIX=INBOX. NS_DELIM=. and no master user"
else
    fail "inbox-prefix instance env" "$(grep -v PASSWORD "$B/env")"
fi

export IMAP_PASSWORD='Sécret pass 1'   # non-ASCII: sent by imaptool with AUTHENTICATE PLAIN
"$DC" adduser "$A" alice@example.com "$IMAP_PASSWORD" >/dev/null
printf '%s\n' "$IMAP_PASSWORD" | "$DC" adduser "$B" bob@example.com - >/dev/null
"$DC" adduser "$A" carol@example.com 'plain-ascii' >/dev/null

# Plain LOGIN by hand over the plain port (bash /dev/tcp): greeting, CAPABILITY, LOGIN, LOGOUT.
plain_login() {  # plain_login PORT USER PASS -> transcript on stdout (the password is not echoed)
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r l <&3; echo "$l"
        printf "a CAPABILITY\r\nb LOGIN \"%s\" \"%s\"\r\nc LOGOUT\r\n" "$2" "$3" >&3
        while IFS= read -r l <&3; do echo "$l"; case "$l" in c\ *) break ;; esac; done' _ "$@"
}
out=$(plain_login "$(envA IMAP_PORT)" carol@example.com plain-ascii)
if [[ $out == "* OK"* ]] && grep -q '^b OK' <<<"$out" && grep -q 'STARTTLS' <<<"$out"; then
    ok "plain LOGIN on IMAP_PORT (STARTTLS offered)"
else
    fail "plain LOGIN on IMAP_PORT" "$out"
fi
t0=$(date +%s%N)
out=$(plain_login "$(envA IMAP_PORT)" carol@example.com wrong-password)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if grep -q '^b NO \[AUTHENTICATIONFAILED\]' <<<"$out" && [ "$ms" -lt 1500 ]; then
    ok "wrong password refused without the 2 s delay (${ms} ms; Dovecot flushes failures every 0.5 s)"
else
    fail "wrong password refused without delay (${ms} ms)" "$out"
fi

# TLS, verified against the instance CA (host name and IP).
s_client() { timeout 10 openssl s_client -brief -verify_return_error "$@" </dev/null 2>&1; }
out=$(s_client -connect "127.0.0.1:$(envA IMAP_PORT)" -starttls imap -CAfile "$A/ca.crt" \
    -verify_hostname localhost)
if grep -q 'Verification: OK' <<<"$out"; then
    ok "STARTTLS verified with CA_FILE and host name localhost"
else
    fail "STARTTLS verified with CA_FILE" "$out"
fi
out=$(s_client -connect "127.0.0.1:$(envA IMAPS_PORT)" -CAfile "$A/ca.crt" -verify_ip 127.0.0.1)
if grep -q 'Verification: OK' <<<"$out"; then
    ok "implicit TLS on IMAPS_PORT verified with CA_FILE and IP 127.0.0.1"
else
    fail "implicit TLS on IMAPS_PORT" "$out"
fi
out=$(s_client -connect "127.0.0.1:$(envA IMAPS_PORT)" -CAfile /etc/ssl/certs/ca-certificates.crt)
if ! grep -q 'Verification: OK' <<<"$out"; then
    ok "implicit TLS not trusted with the system CA bundle"
else
    fail "implicit TLS not trusted with the system CA bundle" "$out"
fi
out=$(s_client -connect "127.0.0.1:$(envB IMAPS_PORT)" -CAfile "$A/ca.crt")
if ! grep -q 'Verification: OK' <<<"$out"; then
    ok "each instance has its own CA (B's certificate not trusted by A's CA)"
else
    fail "each instance has its own CA" "$out"
fi

# Seed alice with a folder only she has, then open her box through the master user.
cat >"$work/spec.json" <<'EOF'
{"folders": [
 {"name": "INBOX", "messages": [
   {"content": "Subject: one\n\nbody one\n", "flags": ["\\Seen", "$Label1"],
    "internaldate": "2021-03-04T05:06:07+01:00"},
   {"content": "Subject: two\r\n\r\nbody two\r\n", "internaldate": 1600000000}]},
 {"name": "Alice only é", "subscribe": true, "messages": [
   {"content": "Subject: x\n\ny\n", "internaldate": "2020-02-29T23:59:59Z"}]},
 {"name": "Sent", "generate": {"count": 3, "size": 1500, "seed": 2, "flags": ["\\Seen"],
   "tag": "sent"}}
]}
EOF
out=$("$TOOL" --env "$A/env" --user alice@example.com seed "$work/spec.json" 2>&1)
if [ "$out" = '{"folders": 3, "messages": 6}' ]; then
    ok "imaptool seed: 3 folders, 6 messages"
else
    fail "imaptool seed" "$out"
fi
"$TOOL" --env "$A/env" --user alice@example.com dump >"$work/dumpA.json" 2>"$work/err"
if python3 - "$work/dumpA.json" <<'EOF'
import json, sys
d = {f["name"]: f for f in json.load(open(sys.argv[1]))["folders"]}
inbox = d["INBOX"]["messages"]
assert [m["internaldate"] for m in sorted(inbox, key=lambda m: m["internaldate"])] == \
    [1600000000, 1614830767], inbox
assert sorted(m["flags"] for m in inbox) == [[], ["$Label1", "\\Seen"]], inbox
assert d["Alice only é"]["subscribed"] is True
assert d["Sent"]["special_use"] == ["\\Sent"] and len(d["Sent"]["messages"]) == 3
assert all(m["flags"] == ["\\Seen"] for m in d["Sent"]["messages"])
EOF
then
    ok "imaptool dump: flags, UTC internaldate, special use, subscription, non-ASCII name"
else
    fail "imaptool dump" "$(cat "$work/err" "$work/dumpA.json" | head -40)"
fi

out=$("$TOOL" --env "$A/env" --user alice@example.com --master list 2>&1)
if grep -q '^Alice only é' <<<"$out"; then
    ok "master login via AUTHENTICATE PLAIN with authzid opens alice's box"
else
    fail "master login via AUTHENTICATE PLAIN" "$out"
fi
out=$("$TOOL" --env "$A/env" --user alice@example.com --master --login --tls implicit list 2>&1)
if grep -q '^Alice only é' <<<"$out"; then
    ok "master login via LOGIN \"alice@example.com*admin\" over implicit TLS opens alice's box"
else
    fail "master login via LOGIN user*admin" "$out"
fi
out=$(plain_login "$(envA IMAP_PORT)" 'nobody@example.com*admin' "$(envA MASTER_PASSWORD)")
if grep -q '^b NO \[AUTHORIZATIONFAILED\]' <<<"$out"; then
    ok "master LOGIN to a missing user: NO [AUTHORIZATIONFAILED]"
else
    fail "master LOGIN to a missing user" "$out"
fi
out=$("$TOOL" --env "$A/env" --user nobody@example.com --master list 2>&1)
if grep -q 'AUTHORIZATIONFAILED' <<<"$out"; then
    ok "master AUTHENTICATE PLAIN to a missing user: AUTHORIZATIONFAILED"
else
    fail "master AUTHENTICATE PLAIN to a missing user" "$out"
fi
if ! grep -qF -e "$(envA MASTER_PASSWORD)" -e "$IMAP_PASSWORD" "$A/dovecot.log"; then
    ok "no password in the Dovecot log"
else
    fail "no password in the Dovecot log"
fi

# INBOX.-prefixed layout: the same content seeded under INBOX.* dumps to the same messages.
sed -e 's/"Alice only é"/"INBOX.Alice only é"/' -e 's/"Sent"/"INBOX.Sent"/' "$work/spec.json" \
    >"$work/specB.json"
"$TOOL" --env "$B/env" --user bob@example.com seed "$work/specB.json" >/dev/null 2>"$work/err"
"$TOOL" --env "$B/env" --user bob@example.com --tls starttls dump >"$work/dumpB.json" 2>>"$work/err"
if python3 - "$work/dumpA.json" "$work/dumpB.json" <<'EOF'
import json, sys
a = {f["name"]: f for f in json.load(open(sys.argv[1]))["folders"]}
b = {f["name"]: f for f in json.load(open(sys.argv[2]))["folders"]}
assert b["INBOX.Sent"]["delimiter"] == "." and b["INBOX.Sent"]["special_use"] == ["\\Sent"], b
for name in ("Alice only é", "Sent"):
    assert a[name]["messages"] == b["INBOX." + name]["messages"], name
assert a["INBOX"]["messages"] == b["INBOX"]["messages"]
EOF
then
    ok "inbox-prefix layout: INBOX.Sent is \\Sent, delimiter '.', same messages as std"
else
    fail "inbox-prefix layout" "$(cat "$work/err"; head -30 "$work/dumpB.json")"
fi

# Crash (SIGKILL of the master), then start again on the same DIR: users and mail are kept.
pidB=$("$DC" status "$B" | awk '{print $3}')
kill -KILL "$pidB"
sleep 0.2
if ! "$DC" status "$B" >/dev/null && "$DC" start "$B" --layout inbox-prefix >"$work/start.log" 2>&1 \
    && "$DC" status "$B" >/dev/null; then
    out=$("$TOOL" --env "$B/env" --user bob@example.com list 2>&1)
    if grep -q '^INBOX.Alice only é' <<<"$out"; then
        ok "restart after a crash (stale pid file) keeps users and mail"
    else
        fail "restart after a crash keeps users and mail" "$out"
    fi
else
    fail "restart after a crash" "$(cat "$work/start.log")"
fi

instA=$(envA DOVECOT_INSTANCE) instB=$(envB DOVECOT_INSTANCE)
portA=$(envA IMAP_PORT)
t0=$(date +%s%N)
"$DC" stop "$A" "$B" >"$work/stop.log" 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
left=""
for f in /proc/[0-9]*/cmdline; do  # live processes of either instance (by title or config)
    args=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    grep -qF -e "$instA/" -e "$instB/" -e "-c $A/dovecot.conf" -e "-c $B/dovecot.conf" <<<"$args" \
        || continue
    pid=${f#/proc/}; pid=${pid%/cmdline}
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null || left="$left $pid:$args"
done
if [ -z "$left" ] && ! "$DC" status "$A" >/dev/null && ! "$DC" status "$B" >/dev/null; then
    ok "stop: both instances gone, no process left (${ms} ms)"
else
    fail "stop: no process left" "$left $(cat "$work/stop.log")"
fi
if ! timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$portA" 2>/dev/null; then
    ok "port closed after stop"
else
    fail "port closed after stop"
fi
finish
