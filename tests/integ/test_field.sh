#!/usr/bin/env bash
# Field conditions for the migration engine (issue 10), between throw-away Dovecot instances
# with tests/integ/faultproxy.py in front of them:
#  A. the restart race: kill -9 at >= 20 moments, each inside a window, each followed by an
#     immediate restart, while the destination link holds what the killed process had sent
#     and delivers it seconds later (a server still committing a dead client's MULTIAPPEND):
#     destination == source, no duplicate; and the same without MULTIAPPEND and UIDPLUS;
#  B. connections cut at random bytes (0.3-1.5 MB into each connection) on both sides, >= 50
#     cuts in all: ONE `migrabox migrate` run ends done, destination == source.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"
MT="$here/migrate_test.py"
PROXY="$here/faultproxy.py"

if [ "$(id -u)" != 0 ]; then
    skip "field tests need root (dovecot.sh)"
    finish
fi
[ -x "$MIGRABOX" ] || { fail "migrabox binary at $MIGRABOX"; finish; }
KILLS=20
[ "${SANITIZE:-0}" = 1 ] && KILLS=12

work=$(mktemp -d)
S=$work/src D=$work/dst
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    "$DC" stop "$S" "$D" >/dev/null 2>&1
    if [ -n "${KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass() { ok "$*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
envof() { (. "$1/env"; echo "${!2:-}"); }

if ! "$DC" start "$S" --master >"$work/start.log" 2>&1 ||
   ! "$DC" start "$D" --master --autocreate >>"$work/start.log" 2>&1; then
    fail "dovecot instances started" "$(cat "$work/start.log")"
    finish
fi
PW='field-pw-1'
"$DC" adduser "$S" field@example.com "$PW" >/dev/null
for u in race1 race2 cut1; do "$DC" adduser "$D" $u@example.com "unused-$u" >/dev/null; done
python3 "$MT" corpus field "$work/corpus" --scale "${FIELD_SCALE:-2.5}" >"$work/corpus.info" ||
    { fail "corpus"; finish; }
IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user field@example.com \
    seed "$work/corpus/spec.json" >/dev/null || { fail "source seeded"; finish; }
N=$(python3 "$MT" get "$work/corpus.info" messages)
B=$(python3 "$MT" get "$work/corpus.info" bytes)
ok "source seeded: $N messages, $B bytes"
IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user field@example.com dump >"$work/src.json"

# proxy NAME TARGET_PORT ARGS...: start a fault proxy; its port in $PPORT.
proxy() {
    local name=$1 port=$2
    shift 2
    python3 "$PROXY" --port-file "$work/$name.port" --stats "$work/$name.stats" \
        --target "127.0.0.1:$port" "$@" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
    PPORT=$(cat "$work/$name.port")
}
stat_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/$1.stats" "$2"; }

# cfg FILE DATA_DIR DEST_PORT SETTLE: destination in plaintext through a proxy (so that it can
# hide capabilities), the source on its TLS port (directly or through a proxy).
cfg() {
    cat >"$1" <<EOC
[server]
data_dir = $2
[sources]
ca_file = $S/ca.crt
connect_timeout = 5
io_timeout = 20
give_up_after = 600
[destination]
host = 127.0.0.1
port = $3
tls = none
master_user = $(envof "$D" MASTER_USER)
separator = $(envof "$D" SEPARATOR)
master_password = "$(envof "$D" MASTER_PASSWORD)"
settle_time = $4
domains = example.com
EOC
}

# ---- A: kill -9 and an immediate restart while the destination still stores the batch ----
race() {  # race NAME DEST_USER STRIP KILLS
    local name=$1 user=$2 strip=$3 kills=$4
    proxy "$name" "$(envof "$D" IMAP_PORT)" --delay-ms 150 --hold-on-close 5 \
        ${strip:+--strip-caps "$strip"}
    cfg "$work/$name.conf" "$work/var-$name" "$PPORT" 10
    local plan start
    plan=$(python3 -c "print(','.join(['window'] * $kills))")
    start=$(now_ms)
    MIGRABOX_SOURCE_PASSWORD=$PW python3 "$MT" crash --db "$work/var-$name/migrabox.db" \
        --plan "$plan" --seed 7 --timeout 300 --final "$work/$name.json" --log "$work/$name.err" -- \
        "$MIGRABOX" migrate -c "$work/$name.conf" --source-host "127.0.0.1:$(envof "$S" IMAPS_PORT)" \
        --source-tls implicit --source-user field@example.com --type domino \
        --dest-user "$user@example.com" >"$work/$name.out" 2>&1
    local rc=$? ms=$(( $(now_ms) - start ))
    sed 's/^/  /' "$work/$name.out"
    local k late removed
    k=$(python3 "$MT" get "$work/$name.out" kills 0)
    late=$(stat_of "$name" held_bytes_delivered_late)
    removed=$(grep -o '[0-9]* extra cop[a-z]* stored late by an interrupted connection removed' \
        "$work/$name.err" | awk '{s += $1} END {print s + 0}')
    if [ "$rc" = 0 ] && [ "$k" -ge "$kills" ] &&
       [ "$(python3 "$MT" get "$work/$name.json" state)" = done ]; then
        pass "A. $name: $k kills, each restarted at once; $late bytes a killed run had sent" \
            "reached the destination 5 s later; $removed late cop(y/ies) removed; done in $ms ms"
    else
        fail "A. $name: $kills kills with an immediate restart, then done" \
            "rc $rc, kills $k; $(tail -n 5 "$work/$name.err")"
    fi
    python3 "$TOOL" --env "$D/env" --user "$user@example.com" --master dump >"$work/$name.dst.json"
    local out
    if out=$(python3 "$MT" compare "$work/src.json" "$work/$name.dst.json" 2>&1); then
        ok "A. $name: destination equals source, no duplicate, no loss ($(tail -n1 <<<"$out"))"
    else
        fail "A. $name: destination equals source" "$out"
    fi
}
PARTS=${FIELD_PARTS:-AB}   # FIELD_PARTS=B: only part B (while working on it)
if [[ $PARTS == *A* ]]; then
    race race-multiappend race1 "" "$KILLS"
    race race-plain race2 "MULTIAPPEND,UIDPLUS" $(( KILLS / 2 ))
fi
[[ $PARTS == *B* ]] || finish

# ---- B: cuts at random bytes on both sides, one run ----
proxy cut-src "$(envof "$S" IMAPS_PORT)" --cuts 25 --cut-min 300000 --cut-max 1500000 --seed 3
SPORT=$PPORT
proxy cut-dst "$(envof "$D" IMAP_PORT)" --cuts 25 --cut-min 300000 --cut-max 1500000 --seed 4
cfg "$work/cut.conf" "$work/var-cut" "$PPORT" 3
start=$(now_ms)
MIGRABOX_SOURCE_PASSWORD=$PW "$MIGRABOX" migrate -c "$work/cut.conf" \
    --source-host "127.0.0.1:$SPORT" --source-tls implicit --source-user field@example.com \
    --type defaut --dest-user cut1@example.com >"$work/cut.json" 2>"$work/cut.err"
rc=$?
ms=$(( $(now_ms) - start ))
cuts=$(( $(stat_of cut-src cuts) + $(stat_of cut-dst cuts) ))
if [ "$rc" = 0 ] && [ "$cuts" -ge 50 ] && [ "$(python3 "$MT" get "$work/cut.json" state)" = done ]; then
    pass "B. $cuts connection cuts at random bytes ($(stat_of cut-src cuts) source," \
        "$(stat_of cut-dst cuts) destination): one run, done in $ms ms"
else
    fail "B. >= 50 cuts on both sides, one run ends done" \
        "rc $rc, cuts $cuts; $(grep -v '^migrabox: folders' "$work/cut.err" | tail -n 8)"
fi
python3 "$TOOL" --env "$D/env" --user cut1@example.com --master dump >"$work/cut.dst.json"
if out=$(python3 "$MT" compare "$work/src.json" "$work/cut.dst.json" 2>&1); then
    ok "B. after the cuts: destination equals source, no duplicate ($(tail -n1 <<<"$out"))"
else
    fail "B. after the cuts: destination equals source" "$out"
fi
finish
