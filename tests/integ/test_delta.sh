#!/usr/bin/env bash
# Delta passes of one job (`migrabox migrate` run again) between two throw-away Dovecot
# instances, Dovecot offering CONDSTORE:
#  1. first pass: done, destination == source;
#  2. nothing changed at the source: every folder is left alone, unread (the report marks it
#     "unchanged", the log says so), counted as already there;
#  3. a message added to one folder, a flag changed in another: exactly those two folders
#     are read again, the rest left alone, destination == source;
#  4. the destination folder of an unchanged source folder deleted and made again (new
#     UIDVALIDITY): that folder is read again and its messages copied again.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"
MT="$here/migrate_test.py"

work=$(mktemp -d)
S=$work/src D=$work/dst
cleanup() { "$DC" stop "$S" "$D" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$DC" start "$S" >"$work/start.log" 2>&1 ||
   ! "$DC" start "$D" --master --autocreate >>"$work/start.log" 2>&1; then
    fail "dovecot instances started" "$(cat "$work/start.log")"
    finish
fi
envof() { (. "$1/env"; echo "${!2:-}"); }
PW='delta pw 1'
"$DC" adduser "$S" dora@example.com "$PW" >/dev/null
"$DC" adduser "$D" dora@example.com unused-dora >/dev/null
umask 077
envof "$D" MASTER_PASSWORD >"$work/master.secret"
cat >"$work/mb.conf" <<EOF
[server]
data_dir = $work/var
[sources]
ca_file = $S/ca.crt
[destination]
settle_time = 2
host = 127.0.0.1
port = $(envof "$D" IMAPS_PORT)
tls = implicit
ca_file = $D/ca.crt
master_user = $(envof "$D" MASTER_USER)
auth = master-separator
separator = $(envof "$D" SEPARATOR)
master_password_file = $work/master.secret
domains = example.com
EOF
umask 022

python3 "$MT" corpus small "$work/c" >/dev/null || { fail "corpus generated"; finish; }
IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user dora@example.com seed "$work/c/spec.json" \
    >/dev/null || { fail "source seeded"; finish; }

migrate() {  # migrate NAME: one pass; summary in $work/NAME.json, stderr in $work/NAME.err
    MIGRABOX_SOURCE_PASSWORD=$PW "$MIGRABOX" migrate -c "$work/mb.conf" \
        --source-host "127.0.0.1:$(envof "$S" IMAPS_PORT)" --source-tls implicit \
        --source-user dora@example.com --type defaut --dest-user dora@example.com \
        >"$work/$1.json" 2>"$work/$1.err"
    RC=$?
}
same() {  # same NAME: destination == source
    IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user dora@example.com dump >"$work/$1.src"
    python3 "$TOOL" --env "$D/env" --user dora@example.com --master dump >"$work/$1.dst"
    python3 "$MT" compare "$work/$1.src" "$work/$1.dst" 2>&1
}
# folders NAME: "unchanged" folders and the others, from the report in the job's row
folders() {
    python3 - "$work/var" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1] + "/migrabox.db")
rep = json.loads(db.execute("SELECT report FROM jobs ORDER BY id DESC LIMIT 1").fetchone()[0])
same = sorted(f["source"] for f in rep["folders"] if f.get("unchanged"))
read = sorted(f["source"] for f in rep["folders"] if not f.get("unchanged") and f["status"] == "done")
print("unchanged=%s read=%s" % (",".join(same), ",".join(read)))
PY
}
get() { python3 "$MT" get "$work/$1.json" "$2" "${3-}"; }

# 1. the first pass
migrate p1
if [ "$RC" = 0 ] && [ "$(get p1 state)" = done ] && out=$(same p1); then
    ok "1. first pass: done, destination equals source ($(tail -n1 <<<"$out"))"
else
    fail "1. first pass" "exit $RC; $(tail -n 5 "$work/p1.err"); ${out:-}"
fi
nfolders=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["folders"]))' \
    "$work/c/spec.json")

# 2. nothing changed
migrate p2
f2=$(folders)
n2=$(tr ',' '\n' <<<"${f2#unchanged=}" | sed 's/ read=.*//' | grep -c .)
if [ "$RC" = 0 ] && [ "$(get p2 state)" = done ] && [ "$(get p2 copied)" = 0 ] &&
   [ "$n2" = "$nfolders" ] && [[ $f2 == *" read=" ]] &&
   grep -q "$nfolders folder(s) unchanged since the last pass" "$work/p2.err"; then
    ok "2. nothing changed: the $nfolders folders left alone, unread ($f2), 0 copied," \
        "$(get p2 skipped) already there"
else
    fail "2. nothing changed: every folder left alone" \
        "exit $RC, copied $(get p2 copied ?), $f2; $(grep -v '^migrabox: folders' "$work/p2.err" | tail -n 5)"
fi

# 3. a message added to INBOX, a flag changed in "Parent/Enfant"
IMAP_PASSWORD=$PW python3 - "$S/env" <<'PY' || fail "3. source changed"
import imaplib, os, shlex, ssl, sys, time
env = dict(shlex.split(l)[0].split("=", 1) for l in open(sys.argv[1]) if "=" in l)
ctx = ssl.create_default_context(cafile=env["CA_FILE"])
m = imaplib.IMAP4_SSL("127.0.0.1", int(env["IMAPS_PORT"]), ssl_context=ctx)
m.login("dora@example.com", os.environ["IMAP_PASSWORD"])
msg = b"From: a@example.com\r\nSubject: arrived later\r\nMessage-ID: <late@delta>\r\n\r\nbody\r\n"
m.append("INBOX", None, imaplib.Time2Internaldate(time.time()), msg)
m.select("Parent/Enfant")
typ, d = m.uid("SEARCH", None, "ALL")
m.uid("STORE", d[0].split()[0], "+FLAGS", "(\\Flagged $Later)")
m.logout()
PY
migrate p3
f3=$(folders)
if [ "$RC" = 0 ] && [ "$(get p3 copied)" = 1 ] && [[ $f3 == *" read=INBOX,Parent/Enfant" ]] &&
   out=$(same p3); then
    ok "3. one message added, one flag changed: only those two folders read ($f3)," \
        "1 copied, destination equals source ($(tail -n1 <<<"$out"))"
else
    fail "3. only the changed folders read" "exit $RC, copied $(get p3 copied ?), $f3; ${out:-}"
fi

# 4. the destination folder "Abonné" deleted and made again: its copies are gone
python3 - "$D/env" <<'PY' || fail "4. destination folder made again"
import imaplib, shlex, ssl, sys
env = dict(shlex.split(l)[0].split("=", 1) for l in open(sys.argv[1]) if "=" in l)
ctx = ssl.create_default_context(cafile=env["CA_FILE"])
m = imaplib.IMAP4_SSL("127.0.0.1", int(env["IMAPS_PORT"]), ssl_context=ctx)
m.login("dora@example.com" + env["SEPARATOR"] + env["MASTER_USER"], env["MASTER_PASSWORD"])
name = '"Abonn&AOk-"'
m.delete(name)
m.create(name)
m.logout()
PY
migrate p4
f4=$(folders)
if [ "$RC" = 0 ] && [ "$(get p4 state)" = done ] && [[ $f4 == *" read=Abonné" ]] &&
   out=$(same p4); then
    ok "4. a destination folder made again: that folder read and copied again ($f4," \
        "$(get p4 copied) copied), destination equals source"
else
    fail "4. a destination folder made again is read again" \
        "exit $RC, copied $(get p4 copied ?), $f4; ${out:-}; $(tail -n 5 "$work/p4.err")"
fi
finish
