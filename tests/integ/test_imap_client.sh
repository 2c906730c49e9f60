#!/usr/bin/env bash
# The IMAP client (src/imap) against real Dovecot instances (tests/integ/dovecot.sh):
# plain, STARTTLS and implicit TLS (certificate refused without the CA, accepted with it or
# when insecure); LOGIN with a non-ASCII password, AUTHENTICATE PLAIN with an authorization
# identity through the master user, "user*master" LOGIN, a master login to a missing box;
# NAMESPACE, LIST with SPECIAL-USE and subscriptions, LSUB; STATUS, EXAMINE; streamed FETCH
# compared with an independent dump; APPEND with synchronizing literals, LITERAL+ windows and
# MULTIAPPEND with APPENDUID; a folder copied source → destination through the client with
# flags and dates; and a 40 MB message copied with a bounded peak RSS (< 2 MB growth).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
PYTOOL="$here/imaptool.py"
FAKE="$here/../fakeimap/fakeimap.py"
TOOL="$TESTBIN/imap_tool"
COPY="$TESTBIN/imap_copy"

for b in "$TOOL" "$COPY"; do
    [ -x "$b" ] || { fail "helper $b built"; finish; }
done

work=$(mktemp -d)
A=$work/a B=$work/b
cleanup() { "$DC" stop "$A" "$B" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
if ! "$DC" start "$A" --master >"$work/start.log" 2>&1 ||
   ! "$DC" start "$B" --layout inbox-prefix --autocreate >>"$work/start.log" 2>&1; then
    fail "dovecot instances started" "$(cat "$work/start.log")"
    finish
fi
envA() { (. "$A/env"; echo "${!1:-}"); }
envB() { (. "$B/env"; echo "${!1:-}"); }
PA=$(envA IMAP_PORT) SA=$(envA IMAPS_PORT) CAA=$(envA CA_FILE)
PB=$(envB IMAP_PORT) SB=$(envB IMAPS_PORT) CAB=$(envB CA_FILE)
MASTER_PW=$(envA MASTER_PASSWORD)

APW='Sécret "pw" \ 2'          # non-ASCII, quote and backslash: must go as a literal
BPW='bob-pw-123'
"$DC" adduser "$A" alice@example.com "$APW" >/dev/null
"$DC" adduser "$B" bob@example.com "$BPW" >/dev/null

# Seed the source with imaptool.py (Python imaplib, independent of src/imap).
cat >"$work/seed.json" <<'EOF'
{"folders": [
  {"name": "INBOX", "subscribe": true, "generate": {"count": 6, "size": 3000, "seed": 1,
     "flags": ["\\Seen"], "start": 1600000000}},
  {"name": "Sent", "subscribe": true, "messages": [
     {"content": "Subject: sent 1\n\nhello\n", "flags": ["\\Seen", "$Forwarded"],
      "internaldate": "2021-03-04T05:06:07+01:00"}]},
  {"name": "Éléments envoyés", "subscribe": false, "messages": [
     {"content": "Subject: é\n\nbody\n", "flags": ["\\Flagged"],
      "internaldate": "2019-01-02T03:04:05+00:00"}]},
  {"name": "Archives/2019", "subscribe": true}
]}
EOF
if IMAP_PASSWORD="$APW" python3 "$PYTOOL" --env "$A/env" --user alice@example.com seed \
    "$work/seed.json" >"$work/seed.log" 2>&1; then
    ok "source seeded with imaptool.py"
else
    fail "source seeded with imaptool.py" "$(tail -n 5 "$work/seed.log")"
fi

# tool NAME ARGS...: run imap_tool (protocol trace in $work/NAME.err), output in $work/NAME.out
tool() {
    local name=$1; shift
    "$TOOL" --trace "$@" >"$work/$name.out" 2>"$work/$name.err"
}
has() { grep -Eq -- "$2" "$work/$1.out"; }
nosecret() {  # nosecret NAME SECRET: the secret is nowhere in the output or the trace
    ! grep -Fq -- "$2" "$work/$1.out" "$work/$1.err"
}
show() { tail -n 20 "$work/$1.out"; tail -n 8 "$work/$1.err"; }

# --- transports ---
if IMAP_PASS="$APW" tool plain --port "$PA" login alice@example.com logout &&
   has plain '^ok login$' && nosecret plain "$APW" && nosecret plain 'cret'; then
    ok "plain: LOGIN with a non-ASCII password (literal), password absent from trace"
else
    fail "plain: LOGIN with a non-ASCII password" "$(show plain)"
fi
if grep -Eq '^C: A[0-9]+ LOGIN "alice@example.com" \{[0-9]+\+?\}$' "$work/plain.err"; then
    ok "plain: the password went as a literal"
else
    fail "plain: the password went as a literal" "$(grep LOGIN "$work/plain.err")"
fi
if IMAP_PASS="$APW" tool starttls --port "$PA" --starttls --ca "$CAA" login alice@example.com \
    caps && has starttls '^ok login$' && ! has starttls '^caps .* STARTTLS ' &&
    grep -q '^C: A1 STARTTLS$' "$work/starttls.err"; then
    ok "STARTTLS with the instance CA, capabilities asked again after the handshake"
else
    fail "STARTTLS with the instance CA" "$(show starttls)"
fi
if IMAP_PASS="$APW" tool tls --port "$SA" --tls --ca "$CAA" login alice@example.com &&
   has tls '^ok login$'; then
    ok "implicit TLS with the instance CA"
else
    fail "implicit TLS with the instance CA" "$(show tls)"
fi
if tool tlsbad --port "$SA" --tls '!connect' && has tlsbad '^ERR connect protocol .*(certificate|verif)'; then
    ok "implicit TLS: self-signed chain refused without its CA ($(sed -n 's/^ERR connect //p' "$work/tlsbad.out"))"
else
    fail "implicit TLS: self-signed chain refused without its CA" "$(show tlsbad)"
fi
if tool tlsins --port "$SA" --tls --insecure noop && has tlsins '^ok noop$'; then
    ok "implicit TLS: accepted with insecure"
else
    fail "implicit TLS: accepted with insecure" "$(show tlsins)"
fi

# --- authentication ---
if IMAP_PASS='not-the-password' tool badpw --port "$PA" '!login' alice@example.com &&
   has badpw '^ERR login auth NO \[AUTHENTICATIONFAILED\]'; then
    ok "wrong password: auth error with the server's words"
else
    fail "wrong password: auth error" "$(show badpw)"
fi
if IMAP_PASS="$MASTER_PW" tool mplain --port "$PA" plain alice@example.com admin examine INBOX &&
   has mplain '^mailbox exists=6 ' && nosecret mplain "$MASTER_PW"; then
    ok "AUTHENTICATE PLAIN as alice with the master user (authzid), SASL-IR"
else
    fail "AUTHENTICATE PLAIN with authzid" "$(show mplain)"
fi
if IMAP_PASS="$MASTER_PW" tool mlogin --port "$PA" login 'alice@example.com*admin' examine INBOX &&
   has mlogin '^mailbox exists=6 '; then
    ok "LOGIN user*master"
else
    fail "LOGIN user*master" "$(show mlogin)"
fi
if IMAP_PASS="$MASTER_PW" tool mmissing --port "$PA" '!plain' nobody@example.com admin &&
   has mmissing '^ERR plain notfound NO \[AUTHORIZATIONFAILED\]'; then
    ok "master login to a missing box: notfound ([AUTHORIZATIONFAILED])"
else
    fail "master login to a missing box" "$(show mmissing)"
fi

# --- folders ---
if IMAP_PASS="$APW" tool list --port "$PA" login alice@example.com namespace list lsub \
    'list' subscribed id; then
    sentflags=$(sed -n 's/^folder raw="Sent" .* flags=\(0x[0-9a-f]*\) subscribed=1$/\1/p' "$work/list.out" | head -n1)
    if has list '^ns personal "" "/"$' &&
       has list '^folder raw="&AMk-l&AOk-ments envoy&AOk-s" name="Éléments envoyés" valid=1 delim="/" flags=0x[0-9a-f]+ subscribed=0$' &&
       [ -n "$sentflags" ] && [ $((sentflags & 0x2000)) -ne 0 ] &&
       has list '^folder raw="Archives/2019" name="Archives/2019" valid=1 delim="/"' &&
       grep -q 'LIST "" "\*" RETURN (SUBSCRIBED SPECIAL-USE)$' "$work/list.err"; then
        ok "NAMESPACE, LIST-EXTENDED with SPECIAL-USE (Sent = \\Sent), mUTF-7 names decoded"
    else
        fail "NAMESPACE / LIST" "$(show list)"
    fi
    # the subscribed-only listing: Sent and Archives/2019 and INBOX, not Éléments envoyés
    if [ "$(grep -c '^folder .* subscribed=1$' "$work/list.out")" -ge 5 ] &&
       grep -q 'LIST (SUBSCRIBED) "" "\*" RETURN (SPECIAL-USE)' "$work/list.err" &&
       grep -q '^C: A[0-9]* LSUB "" "\*"$' "$work/list.err"; then
        ok "LSUB and LIST (SUBSCRIBED)"
    else
        fail "LSUB and LIST (SUBSCRIBED)" "$(show list)"
    fi
else
    fail "folder commands" "$(show list)"
fi
if BPW_="$BPW" IMAP_PASS="$BPW" tool nsb --port "$PB" login bob@example.com namespace list &&
   has nsb '^ns personal "INBOX\." "\."$' && has nsb '^folder raw="INBOX\.Sent" .* delim="\."'; then
    ok "inbox-prefix server: namespace INBOX. with '.', autocreated INBOX.Sent"
else
    fail "inbox-prefix server namespace" "$(show nsb)"
fi

# --- STATUS / EXAMINE / SEARCH / metadata ---
# (have=1f: MESSAGES UIDNEXT UIDVALIDITY UNSEEN and HIGHESTMODSEQ, Dovecot offering CONDSTORE)
if IMAP_PASS="$APW" tool sel --port "$PA" login alice@example.com status INBOX examine INBOX \
    search ALL meta 1:* &&
   has sel '^status messages=6 uidnext=7 uidvalidity=[1-9][0-9]* unseen=0 have=1f$' &&
   has sel '^mailbox exists=6 uidvalidity=[1-9][0-9]* uidnext=7 ro=1 ' &&
   has sel '^search 6: 1 2 3 4 5 6$' &&
   [ "$(grep -c '^meta uid=[1-6] size=[0-9]* date="[0-9]*-[A-Z][a-z][a-z]-20[0-9][0-9] [0-9:]* [-+][0-9]*" flags=(\\Seen \\Recent)$' "$work/sel.out")" = 6 ]; then
    ok "STATUS, EXAMINE (UIDVALIDITY, UIDNEXT, EXISTS), UID SEARCH, UID FETCH metadata"
else
    fail "STATUS / EXAMINE / SEARCH / meta" "$(show sel)"
fi

# --- streamed FETCH compared with an independent dump ---
IMAP_PASSWORD="$APW" python3 "$PYTOOL" --env "$A/env" --user alice@example.com dump >"$work/dumpA.json"
want=$(python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
print(" ".join(sorted(m["sha256"] for f in d["folders"] if f["name"]=="INBOX" for m in f["messages"])))' "$work/dumpA.json")
if IMAP_PASS="$APW" tool fetch --port "$PA" login alice@example.com examine INBOX fetch 1:*; then
    got=$(sed -n 's/^body uid=[0-9]* size=\([0-9]*\) got=\1 sha256=//p' "$work/fetch.out" | sort | tr '\n' ' ' | sed 's/ $//')
    if [ -n "$want" ] && [ "$got" = "$want" ] && has fetch '^fetched 6$'; then
        ok "streamed UID FETCH BODY.PEEK[]: 6 bodies, same SHA-256 as imaptool dump"
    else
        fail "streamed UID FETCH" "want: $want
got:  $got"
    fi
else
    fail "streamed UID FETCH" "$(show fetch)"
fi

# --- APPEND: synchronizing literals, LITERAL+ window, MULTIAPPEND ---
sha3000=$(python3 "$FAKE" --sha 3000)
if IMAP_PASS="$BPW" tool appsync --port "$PB" --no-literal-plus login bob@example.com \
    create INBOX.Copy append INBOX.Copy 3000 '\Seen' '17-Jul-1996 02:44:25 -0700' \
    append INBOX.Copy 3000 - - append INBOX.Copy 3000 '$Label1' - flush &&
   [ "$(grep -c '^appended #[123] status=ok code=APPENDUID uidvalidity=[1-9][0-9]* uid=[123] ' "$work/appsync.out")" = 3 ] &&
   [ "$(grep -Ec '^C: A[0-9]+ APPEND "INBOX.Copy" .* \{3000\}$' "$work/appsync.err")" = 3 ] &&
   [ "$(grep -c '^S: + ' "$work/appsync.err")" = 3 ]; then
    ok "APPEND with synchronizing literals (LITERAL+ disabled): 3 × \"+\", APPENDUID 1..3"
else
    fail "APPEND with synchronizing literals" "$(show appsync)"
fi
if IMAP_PASS="$BPW" tool appplus --port "$PB" --window 4 login bob@example.com \
    appendn INBOX.Copy 20 3000 &&
   [ "$(grep -c '^appended #[0-9]* status=ok code=APPENDUID uidvalidity=[1-9][0-9]* uid=[0-9]' "$work/appplus.out")" = 20 ] &&
   [ "$(grep -Ec '^C: A[0-9]+ APPEND "INBOX.Copy" .* \{3000\+\}$' "$work/appplus.err")" = 20 ]; then
    uids=$(sed -n 's/^appended #[0-9]* status=ok code=APPENDUID uidvalidity=[0-9]* uid=\([0-9]*\) .*/\1/p' "$work/appplus.out" | tr '\n' ' ')
    if [ "$uids" = "4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 " ]; then
        ok "APPEND with LITERAL+, window 4: 20 messages, APPENDUID in order"
    else
        fail "APPEND with LITERAL+ APPENDUIDs" "$uids"
    fi
else
    fail "APPEND with LITERAL+" "$(show appplus)"
fi
if IMAP_PASS="$BPW" tool appmulti --port "$PB" --multi 5 login bob@example.com \
    appendn INBOX.Copy 10 3000 &&
   [ "$(grep -c '^appended #[0-9]* status=ok code=APPENDUID' "$work/appmulti.out")" = 10 ] &&
   [ "$(grep -c '^C: (end of MULTIAPPEND)$' "$work/appmulti.err")" = 2 ] &&
   has appmulti 'uid=33 '; then
    ok "MULTIAPPEND: 10 messages in 2 commands, one UID each from the APPENDUID set"
else
    fail "MULTIAPPEND" "$(show appmulti)"
fi
IMAP_PASSWORD="$BPW" python3 "$PYTOOL" --env "$B/env" --user bob@example.com dump >"$work/dumpB.json"
if python3 - "$work/dumpB.json" "$sha3000" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
f = [f for f in d["folders"] if f["name"] == "INBOX.Copy"][0]
ms = f["messages"]
assert len(ms) == 33, len(ms)
assert all(m["sha256"] == sys.argv[2] and m["size"] == 3000 for m in ms)
dated = [m for m in ms if m["internaldate"] == 837596665]
assert len(dated) == 1 and "\\Seen" in dated[0]["flags"], dated
assert sum(1 for m in ms if "$Label1" in m["flags"]) == 1
EOF
then
    ok "destination holds the 33 appended messages intact (content, flags, INTERNALDATE)"
else
    fail "destination content after APPEND" "$(head -c 600 "$work/dumpB.json")"
fi

# --- a folder copied through the client: source FETCH literal → destination APPEND literal ---
if SRC_PASS="$APW" DST_PASS="$BPW" "$COPY" --src-port "$SA" --src-tls --ca "$CAA" \
    --dst-port "$PB" --src-user alice@example.com --dst-user bob@example.com \
    --window 8 Sent INBOX.Sent >"$work/copy.out" 2>&1; then
    IMAP_PASSWORD="$BPW" python3 "$PYTOOL" --env "$B/env" --user bob@example.com dump >"$work/dumpB2.json"
    if python3 - "$work/dumpA.json" "$work/dumpB2.json" <<'EOF'
import json, sys
a = {f["name"]: f for f in json.load(open(sys.argv[1]))["folders"]}
b = {f["name"]: f for f in json.load(open(sys.argv[2]))["folders"]}
assert a["Sent"]["messages"] == b["INBOX.Sent"]["messages"], (a["Sent"], b["INBOX.Sent"])
EOF
    then
        ok "folder copied over TLS → plain with flags and INTERNALDATE (dumps equal)"
    else
        fail "folder copy: dumps differ" "$(cat "$work/copy.out")"
    fi
else
    fail "folder copy" "$(cat "$work/copy.out")"
fi

# --- memory: a 40 MB message through the client ---
BIG=40000000
if IMAP_PASS="$APW" tool bigseed --port "$PA" login alice@example.com create Big \
    append Big $BIG '\Seen' - flush && has bigseed '^appended #1 status=ok'; then
    if MASTER="$MASTER_PW" SRC_PASS="$APW" DST_PASS="$BPW" "$COPY" --src-port "$PA" \
        --dst-port "$SB" --dst-tls --ca "$CAB" --src-user alice@example.com \
        --dst-user bob@example.com Big INBOX.Big >"$work/big.out" 2>&1; then
        line=$(grep '^rss ' "$work/big.out")
        delta=$(sed -n 's/^rss .*delta_kb=\(-\{0,1\}[0-9]*\)$/\1/p' "$work/big.out")
        speed=$(grep '^messages ' "$work/big.out")
        echo "  40 MB copy: $line ($speed)"
        shabig=$(python3 "$FAKE" --sha $BIG)
        if grep -q "^copied uid=1 sha256=$shabig dst_uid=1$" "$work/big.out" &&
           [ -n "$delta" ] && [ "$delta" -lt 2048 ]; then
            ok "40 MB message copied with peak RSS growth ${delta} kB (< 2048 kB): $line"
        else
            fail "40 MB message copy memory" "$(cat "$work/big.out")"
        fi
    else
        fail "40 MB message copy" "$(cat "$work/big.out")"
    fi
else
    fail "40 MB message seeded" "$(show bigseed)"
fi

finish
