#!/usr/bin/env bash
# test_presets.sh: each server-type preset of the migration engine, proven on a scripted
# source that plays the quirks no installable server has (tests/fakeimap/quirkserver.py:
# Gmail labels and views, Exchange / Office 365 non-mail folders, French names, inexact
# RFC822.SIZE and throttling, Domino's "\" hierarchy), copied by `migrabox migrate` into a
# real Dovecot destination that is then dumped and compared message by message
# (tests/integ/presets_check.py). Also: a throttled / dropped / garbage-sending source must
# end in a clean retry, a kill -9 in the middle of a window and a rebuilt source folder must
# not duplicate anything. Passwords never appear in any output (checked).
set -u
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QS=$ROOT/tests/fakeimap/quirkserver.py
CHECK=$HERE/presets_check.py
IMAPTOOL=$HERE/imaptool.py
DOVECOT=$HERE/dovecot.sh

if ! command -v dovecot >/dev/null; then
    skip "presets: needs dovecot (tests/integ/dovecot.sh)"
    finish
fi

W=$(mktemp -d /tmp/mbpresets.XXXXXX)
QPID=""
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
    bash "$DOVECOT" stop "$W/dst" >/dev/null 2>&1
    rm -rf "$W"
}
trap cleanup EXIT

bash "$DOVECOT" start "$W/dst" --master --autocreate >/dev/null || { fail "dovecot start"; finish; }
USERS="g1 g2 g3 e1 e2 e3 e4 o1 o2 d1 h1"
for u in $USERS; do
    bash "$DOVECOT" adduser "$W/dst" "$u@example.com" "pw-$u-dst" >/dev/null
done
sleep 1  # Dovecot re-reads the passwd-file when its mtime changes (1 s resolution)
. "$W/dst/env"
export MASTER_PASSWORD
cat > "$W/mb.conf" <<EOF
[server]
data_dir = $W/var
[destination]
host = 127.0.0.1
port = $IMAPS_PORT
tls = implicit
ca_file = $W/dst/ca.crt
master_user = admin
master_password = $MASTER_PASSWORD
domains = example.com
EOF

# spec NAME BASE [PYTHON]: $W/NAME.json from tests/fakeimap/quirk_BASE.json, edited by the
# Python statements (variable d).
spec() {
    python3 - "$ROOT/tests/fakeimap/quirk_$2.json" "$W/$1.json" "${3:-pass}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
EOF
}

# qs_start NAME [PORT]: serve $W/NAME.json; sets QPORT
qs_start() {
    rm -f "$W/port" "$W/port.report"
    python3 "$QS" "$W/$1.json" "$W/port" --log "$W/qs-$1.log" --max-seconds 120 \
        ${2:+--port $2} &
    QPID=$!
    for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.05; done
    QPORT=$(cat "$W/port")
}
qs_stop() {  # the server writes its final report on SIGTERM
    kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null; QPID=""
}
qs_report() {  # qs_report PYEXPR: evaluate on the report dict r
    python3 -c "import json,sys; r=json.load(open('$W/port.report')); print($1)"
}

# migrate RUN TYPE LOGIN PASSWORD DEST: JSON summary in $W/RUN.out, stderr in $W/RUN.err
migrate() {
    local run=$1 type=$2 login=$3 pw=$4 dest=$5
    MIGRABOX_SOURCE_PASSWORD=$pw timeout 90 "$MIGRABOX" migrate -c "$W/mb.conf" \
        --source-host "127.0.0.1:$QPORT" --source-tls none --source-user "$login" \
        --type "$type" --dest-user "$dest" >"$W/$run.out" 2>"$W/$run.err"
    echo $? >"$W/$run.rc"
    if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$W/$run.err"; then
        fail "$run: sanitizer report" "$(grep -E -m3 'Sanitizer|runtime error' "$W/$run.err")"
    fi
    if grep -qF -- "$pw" "$W/$run.out" "$W/$run.err" "$W/qs-"*.log; then
        fail "$run: the source password appears in an output"
    fi
}
# summary RUN PYEXPR: evaluate on the JSON summary s (report folders by source name: f[...])
summary() {
    python3 -c "
import json
s = json.load(open('$W/$1.out'))
f = {x['source']: x for x in s['report']['folders']}
print($2)"
}
# expect RUN EXPR WANTED NAME: ok when summary RUN EXPR prints WANTED
expect() {
    local got
    got=$(summary "$1" "$2" 2>&1)
    if [ "$got" = "$3" ]; then ok "$4"; else fail "$4" "$2 = $got, expected $3"; fi
}
# verify RUN SPEC DEST NAME RULE...: dump DEST, compare with the spec's messages
verify() {
    local run=$1 sp=$2 dest=$3 name=$4 out
    shift 4
    python3 "$QS" --expect "$W/$sp.json" >"$W/$run.expect"
    if ! python3 "$IMAPTOOL" --env "$W/dst/env" --user "$dest" --master --tls implicit dump \
        >"$W/$run.dump" 2>"$W/$run.dumperr"; then
        fail "$name" "dump failed: $(head -c 300 "$W/$run.dumperr")"
        return
    fi
    if out=$(python3 "$CHECK" "$W/$run.expect" "$W/$run.dump" "$@" 2>&1); then
        ok "$name"
    else
        fail "$name" "$out"
    fi
}
done_ok() {  # done_ok RUN NAME
    if [ "$(cat "$W/$1.rc")" = 0 ] && [ "$(summary "$1" "s['state']")" = done ]; then
        ok "$2"
    else
        fail "$2" "rc=$(cat "$W/$1.rc"): $(tail -n 3 "$W/$1.err")"
    fi
}
no_violation() {  # the source was only read: EXAMINE, BODY.PEEK, no write command
    local v
    v=$(qs_report "r['violations']")
    if [ "$v" = "[]" ]; then ok "$1: source only read (EXAMINE, PEEK)"; else fail "$1" "$v"; fi
}

# ---- gmail -------------------------------------------------------------------------------
# Faults on the way: "NO [THROTTLED]" on the second body FETCH, then "* BYE Session expired,
# please login again" (Gmail's answer past its bandwidth limits) in [Gmail]/All Mail: the
# archive rule must hold across the reconnections.
spec gmail gmail 'd["faults"] = [{"kind": "throttle", "body": True, "after": 1, "mode": "code"}, {"kind": "throttle", "body": True, "after": 3, "mode": "bye_gmail"}]'
qs_start gmail
migrate gmail gmail alice@gmail.com gm-App-Secret-5 g1@example.com
done_ok gmail "gmail: migration done"
# Each labelled message once per label folder; archived-only messages (no label but the
# \Important / \Starred views) into Archive, not All Mail wholesale (All Mail holds 10);
# Starred and Important not copied; \Flagged kept (starred messages); nothing twice.
verify gmail gmail g1@example.com "gmail: labels -> folders, archived-only -> Archive, views skipped" \
    'INBOX=>INBOX' 'Work=>Work' 'Work/Clients=>Work/Clients' 'Voyages été=>Voyages été' \
    '[Gmail]/All Mail=>Archive:orphans' '#Archive=3' '[Gmail]/Sent Mail=>Sent' \
    '[Gmail]/Drafts=>Drafts' '[Gmail]/Spam=>Junk' '[Gmail]/Trash=>Trash' \
    '![Gmail]/All Mail' '![Gmail]/Starred' '![Gmail]/Important' '!Starred' '!Important' \
    '![Gmail]' nodup sizes
if python3 - "$W/gmail.expect" "$W/gmail.dump" <<'EOF'; then ok "gmail: a message with 3 labels is in its 3 folders, starred ones keep \\Flagged"; else fail "gmail: labels/flags"; fi
import json, sys
exp = json.load(open(sys.argv[1])); dump = json.load(open(sys.argv[2]))
sha = {m["id"]: m["sha256"] for f in exp["folders"] for m in f["messages"]}
where = {}
for f in dump["folders"]:
    for m in f["messages"]:
        where.setdefault(m["sha256"], []).append((f["name"], tuple(m["flags"])))
multi = sorted(n for n, _ in where[sha["multi"]])
star = where[sha["starred"]]
arch_star = where[sha["arch-star"]]
assert multi == ["INBOX", "Voyages été", "Work"], multi
assert star == [("INBOX", ("\\Flagged",))], star
assert arch_star == [("Archive", ("\\Flagged", "\\Seen"))], arch_star
assert sorted(n for n, _ in where[sha["big-labelled"]]) == ["Work"]
EOF
expect gmail "f['[Gmail]/Starred']['status'], f['[Gmail]/Important']['status'], f['[Gmail]/All Mail']['dest'], f['[Gmail]/All Mail']['source_count']" \
    "skipped skipped Archive 3" "gmail: report: Starred/Important skipped, All Mail -> Archive (3 of 10)"
if [ "$(qs_report "len(r['faults_fired'])")" = 2 ] && grep -q "THROTTLED" "$W/gmail.err" \
    && grep -q "Session expired" "$W/gmail.err"; then
    ok "gmail: [THROTTLED] and BYE Session expired answered by reconnections"
else
    fail "gmail: throttling" "$(grep -i 'connection problem' "$W/gmail.err")"
fi
no_violation gmail
# Contrast: the same account as a standard server: no Archive rule (All Mail is a view and
# skipped, the archived messages are not copied), Important becomes an ordinary folder.
migrate gmail-defaut defaut alice@gmail.com gm-App-Secret-5 g2@example.com
done_ok gmail-defaut "gmail as defaut: done"
verify gmail-defaut gmail g2@example.com "gmail as defaut: no archive rule, Important copied as a folder" \
    '#Archive=0' '[Gmail]/Important=>[Gmail]/Important' '![Gmail]/All Mail' 'INBOX=>INBOX' nodup
# gmail_labels first (issue 13): every message once, in the first of its labels' folders in
# the source's folder order; the other copies are counted as left out. Compared with the
# "each" run above (g1): the same messages, and a message with 3 labels only in INBOX.
MIGRABOX_SOURCE_PASSWORD=gm-App-Secret-5 timeout 90 "$MIGRABOX" migrate -c "$W/mb.conf" \
    --source-host "127.0.0.1:$QPORT" --source-tls none --source-user alice@gmail.com \
    --type gmail --dest-user g3@example.com --gmail-labels first \
    >"$W/gmail-first.out" 2>"$W/gmail-first.err"
echo $? >"$W/gmail-first.rc"
done_ok gmail-first "gmail_labels first: migration done"
python3 "$IMAPTOOL" --env "$W/dst/env" --user g3@example.com --master --tls implicit dump \
    >"$W/gmail-first.dump" 2>/dev/null
if out=$(python3 - "$W/gmail.dump" "$W/gmail-first.dump" "$W/gmail-first.out" "$W/gmail.expect" <<'EOF' 2>&1
import json, sys
each, first, summ, exp = (json.load(open(p)) for p in sys.argv[1:5])
def where(d):
    w = {}
    for f in d["folders"]:
        for m in f["messages"]:
            w.setdefault(m["sha256"], []).append(f["name"])
    return w
we, wf = where(each), where(first)
assert set(we) == set(wf), "not the same messages"
assert all(len(v) == 1 for v in wf.values()), [v for v in wf.values() if len(v) > 1]
sha = {m["id"]: m["sha256"] for f in exp["folders"] for m in f["messages"]}
assert wf[sha["multi"]] == ["INBOX"], wf[sha["multi"]]
extra = sum(len(v) - 1 for v in we.values())
got = summ["report"]["left_out"]["messages_by_label"]
assert extra > 0 and got == extra, (got, extra)
print("%d message(s), %d extra label copies left out" % (len(wf), extra))
EOF
); then
    ok "gmail_labels first: each message once, in its first label's folder ($out)"
else
    fail "gmail_labels first: one copy per message" "$out
$(grep -v '^migrabox: folders' "$W/gmail-first.err" | tail -n 40)
$(head -c 3000 "$W/gmail-first.out")"
fi
qs_stop

# ---- exchange ----------------------------------------------------------------------------
# English Exchange: non-mail folders skipped with their children; mail folders by their names
# (no special-use attributes); inexact RFC822.SIZE; one "NO Server Unavailable. 15" on a body
# FETCH (retried on a new connection); a connection dropped without a word on an EXAMINE;
# a listed folder that cannot be opened (reported
# failed, its messages counted refused).
spec exchange exchange 'd["faults"] = [{"kind": "throttle", "body": True, "after": 1, "mode": "unavailable"}, {"kind": "select_no", "folder": "Old Stuff"}, {"kind": "throttle", "command": "EXAMINE", "after": 4, "mode": "drop"}]'
qs_start exchange
migrate exchange exchange 'CONTOSO\jdoe' ex-Secret-9 e1@example.com
done_ok exchange "exchange: migration done"
verify exchange exchange e1@example.com "exchange: mail folders copied, non-mail folders absent, sizes exact" \
    'INBOX=>INBOX' 'INBOX/Projects=>INBOX/Projects' 'Sent Items=>Sent' 'Deleted Items=>Trash' \
    'Junk Email=>Junk' 'Drafts=>Drafts' 'Archive=>Archive' '!Calendar' '!Calendar/Birthdays' \
    '!Contacts' '!Tasks' '!Journal' '!Notes' '!Outbox' '!RSS Feeds' '!Sync Issues' \
    '!Sync Issues/Conflicts' '!Conversation History' '!Sent Items' '!Deleted Items' \
    '!Junk Email' '#Old Stuff=0' nodup sizes
expect exchange "f['Calendar']['reason'], f['Sync Issues/Conflicts']['status']" \
    "not a mail folder skipped" "exchange: report: non-mail folders skipped with children"
expect exchange "f['Old Stuff']['status'], f['Old Stuff']['failed'], s['failed'], s['copied']" \
    "failed 3 3 46" "exchange: a folder the source refuses to open is reported failed and counted"
# (retried on a new connection: lane 0 reconnects; one of the run's extra connections stops
# and gives its folder to the others)
if grep -qE "refused to send the messages of|(connection problem|stopped) \(NO Server Unavailable\. 15\)" \
        "$W/exchange.err" \
    && [ "$(qs_report "r['logins']")" -ge 3 ] && [ "$(qs_report "len(r['faults_fired'])")" = 2 ]; then
    ok "exchange: 'NO Server Unavailable. 15' and a dropped connection retried"
else
    fail "exchange: Server Unavailable retry" "$(grep -i unavailable "$W/exchange.err")"
fi
no_violation exchange
# Contrast: the same server as defaut copies the calendar folders.
migrate exchange-defaut defaut 'CONTOSO\jdoe' ex-Secret-9 e2@example.com
verify exchange-defaut exchange e2@example.com "exchange as defaut: Calendar copied (the skip list is the preset's)" \
    'Calendar=>Calendar' 'Calendar/Birthdays=>Calendar/Birthdays' 'INBOX=>INBOX' nodup
qs_stop

# ---- exchange, source folder rebuilt (UIDVALIDITY changed) --------------------------------
# A third of INBOX has no Message-ID; RFC822.SIZE is inexact: the second run must recognise
# every message already copied (by Message-ID + date, or date + content) and add nothing.
spec uv1 exchange 'd["folders"] = [x for x in d["folders"] if x["name"] == "INBOX"]'
spec uv2 exchange 'd["folders"] = [x for x in d["folders"] if x["name"] == "INBOX"]; d["uidvalidity"] = 1800000000'
qs_start uv1
migrate uv1 exchange 'CONTOSO\jdoe' ex-Secret-9 e3@example.com
P=$QPORT
qs_stop
qs_start uv2 "$P"
migrate uv2 exchange 'CONTOSO\jdoe' ex-Secret-9 e3@example.com
done_ok uv2 "exchange, UIDVALIDITY changed: second run done"
verify uv2 uv2 e3@example.com "exchange, UIDVALIDITY changed: nothing copied twice (inexact sizes, no Message-ID)" \
    'INBOX=>INBOX' nodup
expect uv2 "s['copied'], f['INBOX']['skipped']" "0 30" "exchange, UIDVALIDITY changed: 30 recognised, 0 sent again"
qs_stop

# ---- office 365 --------------------------------------------------------------------------
# French folder names to the destination's special folders by name; "Calendrier 2020" is
# mail; throttled twice ("NO Request is throttled. Suggested Backoff Time", then "BAD Request
# is throttled" + "BYE Connection closed. 14"): reconnect, back off as suggested, resume.
spec office office 'd["faults"] = [{"kind": "throttle", "body": True, "after": 1, "mode": "o365_no", "backoff_ms": 1000}, {"kind": "throttle", "body": True, "after": 3, "mode": "o365_bad_bye", "backoff_ms": 1000}]'
qs_start office
migrate office office jean.martin@contoso.fr o365-Secret-7 o1@example.com
done_ok office "office: migration done after two throttles"
verify office office o1@example.com "office: French names mapped, non-mail folders absent, nothing twice, sizes exact" \
    'INBOX=>INBOX' 'INBOX/Factures=>INBOX/Factures' 'Éléments envoyés=>Sent' \
    'Éléments supprimés=>Trash' 'Courrier indésirable=>Junk' 'Brouillons=>Drafts' \
    'Clients=>Clients' 'Clients/Dupont & Fils=>Clients/Dupont & Fils' \
    'Calendrier 2020=>Calendrier 2020' '!Calendrier' '!Calendrier/Anniversaires' '!Contacts' \
    '!Tâches' '!Journal' '!Notes' '!Problèmes de synchronisation' \
    '!Problèmes de synchronisation/Conflits' '!Historique des conversations' \
    "!Boîte d'envoi" '!Éléments envoyés' nodup sizes
# Each throttle answered: lane 0 reconnects after the suggested backoff; an extra connection
# stops (fewer connections) and the others take no new folder before the backoff has passed.
n=$(grep -cE "connection problem \(.*Request is throttled. Suggested Backoff Time: 1000 milliseconds\); reconnecting in 1 s|stopped \(.*Request is throttled. Suggested Backoff Time: 1000 milliseconds\)" "$W/office.err")
if [ "$n" = 2 ] && [ "$(qs_report "len(r['faults_fired'])")" = 2 ]; then
    ok "office: both throttles answered by a reconnection after the suggested backoff"
else
    fail "office: throttle handling" "$(grep -i throttl "$W/office.err")"
fi
no_violation office
qs_stop

# ---- office 365, kill -9 in the middle of a window ---------------------------------------
# The source stalls after 10 bodies: the destination holds 10 messages of a 30-message window
# whose outcome the engine has not recorded; kill -9; the next run must find those 10 by
# content (RFC822.SIZE is inexact) and copy only the 20 others.
spec kill office 'd["folders"] = [x for x in d["folders"] if x["name"] == "INBOX"]; d["faults"] = [{"kind": "stall", "after_bodies": 10, "seconds": 60}]'
qs_start kill
MIGRABOX_SOURCE_PASSWORD=o365-Secret-7 "$MIGRABOX" migrate -c "$W/mb.conf" \
    --source-host "127.0.0.1:$QPORT" --source-tls none --source-user jean.martin@contoso.fr \
    --type office --dest-user o2@example.com >"$W/kill1.out" 2>"$W/kill1.err" &
MPID=$!
for _ in $(seq 1 200); do
    [ "$(qs_report "r['bodies_sent']" 2>/dev/null || echo 0)" -ge 10 ] && break
    sleep 0.05
done
sleep 1  # let the destination store the 10 pipelined APPENDs
kill -9 "$MPID" 2>/dev/null
wait "$MPID" 2>/dev/null
# What the destination really holds now: the pipelined APPENDs it completed (none when the
# messages were still in an open MULTIAPPEND command, which the server then discards whole).
stored=$(python3 "$IMAPTOOL" --env "$W/dst/env" --user o2@example.com --master --tls implicit dump \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(f["messages"]) for f in d["folders"]))')
# The job looks busy for 60 s after its last heartbeat; age it instead of waiting.
python3 -c "
import sqlite3; db = sqlite3.connect('$W/var/migrabox.db')
db.execute(\"UPDATE jobs SET heartbeat_at = 0 WHERE state = 'running'\"); db.commit()"
migrate kill2 office jean.martin@contoso.fr o365-Secret-7 o2@example.com
done_ok kill2 "office, kill -9 mid-window: resumed run done"
verify kill2 kill o2@example.com "office, kill -9 mid-window: no duplicate, nothing missing" 'INBOX=>INBOX' nodup sizes
if grep -q "$stored of 30 interrupted message(s) were already on the destination" "$W/kill2.err"; then
    ok "office, kill -9 mid-window: the $stored message(s) stored before the kill recognised by content, not sent again"
else
    fail "office, kill -9: recovery" "destination held $stored; $(cat "$W/kill2.err")"
fi
qs_stop

# ---- domino ------------------------------------------------------------------------------
spec domino domino
qs_start domino
migrate domino domino 'Jean Dupont/Contoso' notes-Secret-3 d1@example.com
done_ok domino "domino: migration done"
verify domino domino d1@example.com "domino: \\ hierarchy nested with / at the destination" \
    'INBOX=>INBOX' 'Sent=>Sent' 'Drafts=>Drafts' 'Trash=>Trash' 'Archives=>Archive' \
    'Archives\2019 (old)=>Archive/2019 (old)' 'Projets\Clients A/B=>Projets/Clients A_B' \
    'Réunions\Compte-rendus=>Réunions/Compte-rendus' '#Réunions=0' \
    '!Archives\2019 (old)' '!Projets\Clients A/B' nodup sizes
if python3 -c "
import json, sys
d = json.load(open('$W/domino.dump'))
sys.exit(any('\\\\' in f['name'] for f in d['folders']))"; then
    ok "domino: no destination folder name contains a backslash"
else
    fail "domino: backslash left in a destination name"
fi
m=$(qs_report "r['max_bodies_per_fetch']")
if [ "$m" -le 20 ] && [ "$(summary domino "f['INBOX']['copied']")" = 45 ]; then
    ok "domino: small batches (at most $m bodies per FETCH, 45 messages in INBOX)"
else
    fail "domino: batch size" "max bodies per FETCH $m"
fi
no_violation domino
qs_stop

# ---- hostile source ----------------------------------------------------------------------
# Garbage in the middle of a FETCH, then a connection closed in the middle of a literal:
# each ends the session; the engine reconnects, resumes, copies everything exactly once.
# One message also carries an INTERNALDATE that cannot be sent back in an APPEND: it is copied
# without it instead of stopping the migration.
spec hostile exchange 'd["folders"] = [x for x in d["folders"] if x["name"] in ("INBOX", "Sent Items")]; d["faults"] = [{"kind": "garbage", "after_bodies": 5}, {"kind": "close_mid_literal", "after_bodies": 17}]; [f for f in d["folders"] if f["name"] == "INBOX"][0]["generate"]["override"] = {"3": {"idate_raw": "31-Foo-2020 25:61:00 +9999"}}'
qs_start hostile
migrate hostile exchange 'CONTOSO\jdoe' ex-Secret-9 h1@example.com
done_ok hostile "hostile source: migration done after garbage and a cut literal"
verify hostile hostile h1@example.com "hostile source: every message once, intact" \
    'INBOX=>INBOX' 'Sent Items=>Sent' nodup sizes
if grep -q "protocol error" "$W/hostile.err" && grep -q "connection closed" "$W/hostile.err"; then
    ok "hostile source: both faults seen and retried"
else
    fail "hostile source: faults" "$(grep -i 'connection problem' "$W/hostile.err")"
fi
if grep -q 'unusable date "31-Foo-2020 25:61:00 +9999", copied without it' "$W/hostile.err"; then
    ok "hostile source: a malformed INTERNALDATE is dropped, the message still copied"
else
    fail "hostile source: malformed INTERNALDATE" "$(grep -i -E "disconnect|error|fatal" "$W/dst/dovecot.log" | tail -8)"
fi
qs_stop

finish
