#!/usr/bin/env bash
# The migration options of issue 13 end to end, between throw-away Dovecot instances:
#  1. each option alone through `migrabox migrate` flags: --since, --before (the range's edges
#     across time zones), --exclude-folder (a pattern over nested folders, the ready-made
#     \Trash and \Junk with their subfolders), --map-folder (a rename, a move into a new
#     parent), --max-message-size (a cap just below and at a message's size);
#  2. all of them combined, then a later pass of the same job (new source messages, no flags:
#     the job's stored options apply identically);
#  3. bad option values are refused before anything runs;
#  4. options through the API (POST /api/jobs) survive to GET /api/jobs/{id} and are applied
#     by the workers; a CSV import's query parameters give every job of the batch its options;
#     « Tester la connexion » (POST /api/check) gains the destination's quota line
#     (GETQUOTAROOT on a Dovecot with the quota plugins).
# The destination is compared with the exact subset computed from the source dump by
# options_test.py (independent of src/migrate); the report's "left_out" counts are checked.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"
OT="$here/options_test.py"

[ -x "$MIGRABOX" ] || { fail "migrabox binary at $MIGRABOX"; finish; }

work=$(mktemp -d)
S=$work/src D=$work/dst
SERVE_PID=
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    "$DC" stop "$S" "$D" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$DC" start "$S" --master >"$work/start.log" 2>&1 ||
   ! "$DC" start "$D" --master --autocreate --quota >>"$work/start.log" 2>&1; then
    fail "dovecot instances started" "$(cat "$work/start.log")"
    finish
fi
envof() { (. "$1/env"; echo "${!2:-}"); }
SRC_PORT=$(envof "$S" IMAPS_PORT)
PW='opt source pw 1'
"$DC" adduser "$S" olga@example.com "$PW" >/dev/null
for u in since before excl map cap5000 cap4999 all api csv1 csv2 qsmall qbig; do
    "$DC" adduser "$D" $u@example.com "unused-$u-pw" >/dev/null
done
# « Tester la connexion »'s quota line: 50 KiB (less than the source) and 10 MiB.
sed -i -e 's|^\(qsmall@example.com:.*::::::\)$|\1userdb_quota_rule=*:storage=50K|' \
    -e 's|^\(qbig@example.com:.*::::::\)$|\1userdb_quota_rule=*:storage=10M|' "$D/users"

umask 077
envof "$D" MASTER_PASSWORD > "$work/master.secret"
cat > "$work/m.conf" <<EOF
[server]
data_dir = $work/var
[sources]
ca_file = $S/ca.crt
connect_timeout = 5
io_timeout = 30
[destination]
settle_time = 1
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

migrate() {  # migrate NAME DEST [FLAGS...]: summary in $work/NAME.json, exit status in $RC
    local name=$1 dest=$2
    shift 2
    MIGRABOX_SOURCE_PASSWORD=$PW "$MIGRABOX" migrate -c "$work/m.conf" \
        --source-host "127.0.0.1:$SRC_PORT" --source-tls implicit --source-user olga@example.com \
        --type defaut --dest-user "$dest@example.com" "$@" >"$work/$name.json" 2>"$work/$name.err"
    RC=$?
}
dump_src() { IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user olga@example.com dump >"$1"; }
dump_dst() { python3 "$TOOL" --env "$D/env" --user "$2@example.com" --master dump >"$1"; }
left_out() {  # left_out SUMMARY.json: the report's left_out counts as sorted JSON
    python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["report"]["left_out"], sort_keys=True))' "$1" 2>/dev/null
}
# verify NAME DEST OPTIONS_JSON: the destination holds exactly the expected subset and the
# summary's left_out counts are the expected ones.
verify() {
    local name=$1 dest=$2 out want got
    echo "$3" >"$work/$name.opts"
    dump_dst "$work/$name.dst.json" "$dest"
    if out=$(python3 "$OT" check "$work/src.json" "$work/$name.dst.json" "$work/$name.opts"); then
        want=$(echo "$out" | tail -n 1)
        got=$(left_out "$work/$name.json")
        if [ "$RC" = 0 ] && [ "$want" = "$got" ]; then
            ok "$name: destination is exactly the expected subset; left out $got"
        else
            fail "$name: exit 0 and left_out $want" "exit $RC, left_out $got; $(tail -n 3 "$work/$name.err" 2>/dev/null)"
        fi
    else
        fail "$name: destination is exactly the expected subset" "$out"
    fi
}

t0=$(date +%s%N)
python3 "$OT" spec "$work/spec.json" && python3 "$OT" spec "$work/extra.json" --extra
IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user olga@example.com seed "$work/spec.json" >/dev/null ||
    { fail "source seeded"; finish; }
dump_src "$work/src.json"

# ---- 1. each option alone ----
migrate since since --since 2024-03-10
verify since since '{"since":"2024-03-10"}'
migrate before before --before 2024-03-20
verify before before '{"before":"2024-03-20"}'
migrate excl excl --exclude-folder 'Archives/*' --exclude-folder '\Trash' --exclude-folder '\Junk'
verify excl excl '{"folders":{"Archives/2019":null,"Archives/2019/Q1":null,"Trash":null,"Trash/Old":null,"Junk":null}}'
migrate map map --map-folder Projects=Clients/2024/Projects --map-folder Work/Sub=Renamed
verify map map '{"folders":{"Projects":"Clients/2024/Projects","Projects/Alpha":"Clients/2024/Projects/Alpha","Work/Sub":"Renamed"}}'
migrate cap5000 cap5000 --max-message-size 5000
verify cap5000 cap5000 '{"max_message_size":5000}'
migrate cap4999 cap4999 --max-message-size 4999
verify cap4999 cap4999 '{"max_message_size":4999}'
if grep -q 'message [0-9]* (5001 bytes) left out: larger than max_message_size (5000 bytes)' "$work/cap5000.err"; then
    ok "a message over the cap is logged with its size and the reason"
else
    fail "a message over the cap is logged with its size and the reason" "$(grep -i 'left out' "$work/cap5000.err" | head -3)"
fi

# ---- 2. combined, then a later pass with the stored options ----
ALL='{"since":"2024-03-10","before":"2024-03-20","max_message_size":5000,"folders":{"Archives/2019":null,"Archives/2019/Q1":null,"Junk":null,"Projects":"Clients/2024/Projects","Projects/Alpha":"Clients/2024/Projects/Alpha"}}'
migrate all all --since 2024-03-10 --before 2024-03-20 --max-message-size 5000 \
    --exclude-folder 'Archives/*' --exclude-folder '\Junk' --map-folder Projects=Clients/2024/Projects
verify all all "$ALL"
IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user olga@example.com seed "$work/extra.json" >/dev/null
dump_src "$work/src.json"
migrate all2 all
verify all2 all "$ALL"
if grep -q "the job's stored options apply" "$work/all2.err" &&
   [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["copied"])' "$work/all2.json")" = 2 ]; then
    ok "a later pass without flags applies the stored options and copies only the 2 new messages in range"
else
    fail "a later pass applies the stored options and copies 2" "$(head -c 600 "$work/all2.json")"
fi

# ---- 3. bad values are refused (exit 2, nothing run) ----
bad() {  # bad WORDS FLAG VALUE
    local what=$1
    shift
    migrate bad since "$@"
    if [ "$RC" = 2 ] && grep -q "$what" "$work/bad.err"; then
        ok "refused: $* ($what)"
    else
        fail "refused: $*" "exit $RC: $(cat "$work/bad.err")"
    fi
}
bad 'not a date YYYY-MM-DD' --since 2024-02-30
bad 'not a date YYYY-MM-DD' --before 24-03-01
bad 'must be a day before' --since 2024-03-10 --before 2024-03-10
bad 'unknown special folder' --exclude-folder '\Spam'
bad 'invalid pattern' --exclude-folder 'a//b'
bad 'expected SOURCE=DESTINATION' --map-folder Projects
bad 'mapped twice' --map-folder A=B --map-folder A=C
bad 'at least 1' --max-message-size 0
bad 'at least 1' --max-message-size 12k

# ---- 4. the API: POST /api/jobs fields, POST /api/imports query parameters ----
# Destination boxes of the 200-row verify (options_api.py): v<i> for every row kind but the
# missing-mailbox one; 10 MiB quota (none for i % 10 == 0), 50 KiB for the over-quota rows.
for i in $(seq 0 199); do
    case $((i % 5)) in
        2) ;;
        4) echo "v$i@example.com:{PLAIN}unused-v$i::::::userdb_quota_rule=*:storage=50K" ;;
        *) if [ $((i % 10)) = 0 ]; then echo "v$i@example.com:{PLAIN}unused-v$i::::::"
           else echo "v$i@example.com:{PLAIN}unused-v$i::::::userdb_quota_rule=*:storage=10M"; fi ;;
    esac
done >>"$D/users"
sleep 1  # Dovecot re-reads the passwd-file when its mtime changes (1 s resolution)
umask 077
{
    printf '[server]\nlisten = 127.0.0.1:0\ndata_dir = %s\nworkers = 2\ntls = off\n' "$work/varS"
    sed -n '/^\[sources\]/,$p' "$work/m.conf"
} >"$work/serve.conf"
umask 022
ADMIN_PW='opt-admin-pw-9'
if MIGRABOX_PASSWORD=$ADMIN_PW "$MIGRABOX" user add admin --admin -c "$work/serve.conf" >"$work/user.out" 2>&1; then
    WORK=$work ADMIN_PW=$ADMIN_PW SRC_PW=$PW SRC_IMAPS=$SRC_PORT SRC_IMAP=$(envof "$S" IMAP_PORT) \
        MIGRABOX=$MIGRABOX python3 "$here/options_api.py" >"$work/api.out" 2>&1
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "api: ${line#ok - }" ;;
            "FAIL - "*) fail "api: ${line#FAIL - }" ;;
            *) echo "$line" ;;
        esac
    done <"$work/api.out"
    RC=0
    verify api api "$ALL"
    CSV_OPTS='{"since":"2024-03-10","max_message_size":5000,"folders":{"Trash":null,"Trash/Old":null,"Archives/2019":null,"Archives/2019/Q1":null,"Work/Sub":"Renamed"}}'
    verify csv1 csv1 "$CSV_OPTS"
    verify csv2 csv2 "$CSV_OPTS"
else
    fail "admin account created" "$(cat "$work/user.out")"
fi

# ---- 5. migrabox import: the same option flags, kept with every job of the batch ----
printf 'a@example.org;pw-a;127.0.0.1:%s;defaut;cli1@example.com;False\nb@example.org;pw-b;127.0.0.1:%s;defaut;cli2@example.com;False\n' \
    "$SRC_PORT" "$SRC_PORT" >"$work/cli.csv"
if "$MIGRABOX" import -c "$work/serve.conf" --since 2024-03-10 --exclude-folder Trash \
        --max-message-size 5000 --map-folder Work/Sub=Renamed "$work/cli.csv" >"$work/cli.out" 2>&1; then
    got=$(sqlite3 "$work/varS/migrabox.db" "SELECT options FROM jobs WHERE dest_login IN \
        ('cli1@example.com', 'cli2@example.com') ORDER BY id" 2>&1)
    if [ "$(grep -c '"since":"2024-03-10"' <<<"$got")" = 2 ] &&
       [ "$(grep -c '"max_message_size":5000' <<<"$got")" = 2 ] &&
       [ "$(grep -c 'Trash' <<<"$got")" = 2 ] && [ "$(grep -c 'Renamed' <<<"$got")" = 2 ]; then
        ok "import: the option flags are kept with both jobs of the batch"
    else
        fail "import: option flags kept with the jobs" "$got"
    fi
else
    fail "import with option flags" "$(cat "$work/cli.out")"
fi
if "$MIGRABOX" import -c "$work/serve.conf" --before 24-03-01 "$work/cli.csv" >"$work/cli2.out" 2>&1; then
    fail "import: a bad option value is refused" "exit 0"
elif [ $? = 2 ] && grep -q "not a date YYYY-MM-DD" "$work/cli2.out"; then
    ok "import: a bad option value is refused (exit 2, nothing queued)"
else
    fail "import: a bad option value is refused with its reason" "$(cat "$work/cli2.out")"
fi

echo "# test_options: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
finish
