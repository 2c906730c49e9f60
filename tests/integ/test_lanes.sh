#!/usr/bin/env bash
# When a run opens connection pairs beyond its first ([sources] open_connections, default
# when-useful; docs/ARCHITECTURE.md "Lanes"), between throw-away Dovecot instances:
#  1. a small mailbox on loopback is copied on one connection pair: a second one (a TLS
#     handshake and a login on each server) would cost more than it could save;
#  2. a mailbox of many small folders behind a link of 60 ms round trip opens more connection
#     pairs as soon as the copy starts: the folders' round trips alone would keep them busy;
#  3. a mailbox of 12 folders of 200 messages on loopback: the run starts on one pair (their
#     round trips alone would not pay for another) and opens more while it copies, from the
#     pace it measures (the folders left would keep another pair busy far longer than opening
#     it takes, even on a loaded machine);
#  4. open_connections = at-once: every connection pair of connections_per_job when the copy
#     starts, whatever the mailbox (what the field tests use to play faults on several lanes).
# Every destination is dumped and compared with its source; the source's logins are counted in
# its Dovecot log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"
MT="$here/migrate_test.py"
PROXY="$here/faultproxy.py"

[ -x "$MIGRABOX" ] || { fail "migrabox binary at $MIGRABOX"; finish; }

work=$(mktemp -d)
S=$work/src D=$work/dst
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    "$DC" stop "$S" "$D" >/dev/null 2>&1
    if [ -n "${KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
envof() { (. "$1/env"; echo "${!2:-}"); }
pass() { ok "$*"; }

if ! "$DC" start "$S" >"$work/start.log" 2>&1 ||
   ! "$DC" start "$D" --master >>"$work/start.log" 2>&1; then
    fail "dovecot instances started" "$(cat "$work/start.log")"
    finish
fi
PW='lanes-pw-1'
for u in small many big; do "$DC" adduser "$S" "$u@example.com" "$PW" >/dev/null; done
for u in small1 many1 big1 atonce1; do "$DC" adduser "$D" "$u@example.com" "unused-$u" >/dev/null; done

spec() {  # spec FILE PYTHON: a seed spec, folders from a Python expression
    python3 -c "import json, sys; json.dump({'folders': $2}, open(sys.argv[1], 'w'))" "$1"
}
# small: 3 folders, 12 messages; many: 16 folders of 2 messages; big: 12 folders of 200
# messages of 8 KB.
spec "$work/small.json" '[{"name": n, "generate": {"count": 4, "size": 3000, "seed": i}}
    for i, n in enumerate(["INBOX", "Sent", "Archive"])]'
spec "$work/many.json" '[{"name": "INBOX", "generate": {"count": 2, "size": 2000, "seed": 1}}] +
    [{"name": "Dossier %02d" % i, "generate": {"count": 2, "size": 2000, "seed": 10 + i}}
     for i in range(15)]'
spec "$work/big.json" '[{"name": "INBOX", "generate": {"count": 200, "size": 8000, "seed": 1}}] +
    [{"name": "Dossier %02d" % i, "generate": {"count": 200, "size": 8000, "seed": 2 + i}}
     for i in range(11)]'
sleep 1.1 # Dovecot re-reads its passwd-file at most once a second
for u in small many big; do
    IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user "$u@example.com" \
        seed "$work/$u.json" >/dev/null || { fail "source $u seeded"; finish; }
    IMAP_PASSWORD=$PW python3 "$TOOL" --env "$S/env" --user "$u@example.com" dump \
        >"$work/$u.src.json"
done
ok "sources seeded (small: 12 messages in 3 folders; many: 32 in 16; big: 2,400 in 12)"

# The source's TLS port behind a proxy holding each client->server byte 60 ms.
python3 "$PROXY" --port-file "$work/slow.port" --target "127.0.0.1:$(envof "$S" IMAPS_PORT)" \
    --delay-ms 60 2>"$work/slow.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/slow.port" ] && break; sleep 0.05; done

cfg() {  # cfg FILE [OPEN_CONNECTIONS]
    {
        echo "[server]"
        echo "data_dir = $work/var"
        echo "[sources]"
        echo "ca_file = $S/ca.crt"
        echo "connections_per_job = 4"
        [ -n "${2:-}" ] && echo "open_connections = $2"
        echo "[destination]"
        echo "host = 127.0.0.1"
        echo "port = $(envof "$D" IMAPS_PORT)"
        echo "tls = implicit"
        echo "ca_file = $D/ca.crt"
        echo "master_user = $(envof "$D" MASTER_USER)"
        echo "separator = $(envof "$D" SEPARATOR)"
        echo "master_password = \"$(envof "$D" MASTER_PASSWORD)\""
        echo "settle_time = 2"
        echo "domains = example.com"
    } >"$1"
}
cfg "$work/auto.conf"
cfg "$work/atonce.conf" at-once

# run NAME CONF SOURCE_USER PORT DEST: one migrate; RC, $work/NAME.json, .err; LOGINS = the
# source's logins for SOURCE_USER during the run; LANES = the last "N connections" line's N
# (1 without one).
run() {
    local name=$1 conf=$2 user=$3 port=$4 dest=$5 before
    before=$(grep -c "Login: user=<$user@example.com>" "$S/dovecot.log")
    MIGRABOX_SOURCE_PASSWORD=$PW timeout 300 "$MIGRABOX" migrate -c "$conf" \
        --source-host "127.0.0.1:$port" --source-tls implicit --source-user "$user@example.com" \
        --type defaut --dest-user "$dest@example.com" >"$work/$name.json" 2>"$work/$name.err"
    RC=$?
    sleep 0.2 # the log lines of the last logins
    LOGINS=$(( $(grep -c "Login: user=<$user@example.com>" "$S/dovecot.log") - before ))
    LANES=$(grep -o '[0-9]* connections copy folders side by side' "$work/$name.err" | tail -n1 |
        cut -d' ' -f1)
    LANES=${LANES:-1}
}
# exact NAME SOURCE DEST: state done, nothing failed, the destination equal to the source
exact() {
    local state
    state=$(python3 "$MT" get "$work/$1.json" state ?)
    python3 "$TOOL" --env "$D/env" --user "$3@example.com" --master dump >"$work/$1.dst.json"
    [ "$RC" = 0 ] && [ "$state" = done ] && [ "$(python3 "$MT" get "$work/$1.json" failed)" = 0 ] &&
        python3 "$MT" compare "$work/$2.src.json" "$work/$1.dst.json" --dst-prefix "" >/dev/null 2>&1
}
verdict() {  # verdict SOURCE NAME: the comparison's last lines
    python3 "$MT" compare "$work/$1.src.json" "$work/$2.dst.json" --dst-prefix "" 2>&1 | tail -n 3
}
SRC_PORT=$(envof "$S" IMAPS_PORT)

# 1. small, loopback: one pair
run small "$work/auto.conf" small "$SRC_PORT" small1
if exact small small small1 && [ "$LANES" = 1 ] && [ "$LOGINS" = 1 ]; then
    pass "1. small mailbox on loopback: done and exact on one connection pair" \
        "(1 source login, no extra connection)"
else
    fail "1. small mailbox on loopback: one connection pair" \
        "rc $RC, lanes $LANES, source logins $LOGINS; $(verdict small small); $(tail -n 3 "$work/small.err")"
fi

# 2. many small folders, 60 ms away: more pairs from the start
run many "$work/auto.conf" many "$(cat "$work/slow.port")" many1
first=$(grep -n 'connections copy folders side by side' "$work/many.err" | head -n1 | cut -d: -f1)
done1=$(grep -n 'folder .*: [0-9]* copied' "$work/many.err" | head -n1 | cut -d: -f1)
if exact many many many1 && [ "$LANES" -ge 2 ] && [ "$LOGINS" = "$LANES" ] && [ -n "$first" ] &&
   { [ -z "$done1" ] || [ "$first" -lt "$done1" ]; }; then
    pass "2. 16 folders behind a 60 ms round trip: $LANES connection pairs from the start" \
        "($LOGINS source logins), done and exact"
else
    fail "2. many folders behind a slow link: more connection pairs at once" \
        "rc $RC, lanes $LANES, source logins $LOGINS, first lanes line $first, first folder line $done1; $(verdict many many); $(tail -n 3 "$work/many.err")"
fi

# 3. 12 folders of 200 messages on loopback: more pairs while it copies
run big "$work/auto.conf" big "$SRC_PORT" big1
if exact big big big1 && [ "$LANES" -ge 2 ] && [ "$LOGINS" = "$LANES" ]; then
    pass "3. 2,400 messages in 12 folders on loopback: grew to $LANES" \
        "connection pairs while copying ($(grep -c 'connections copy folders' "$work/big.err") step(s)), done and exact"
else
    fail "3. more connection pairs opened while copying" \
        "rc $RC, lanes $LANES, source logins $LOGINS; $(verdict big big); $(grep -v '^migrabox: folders' "$work/big.err" | tail -n 5)"
fi

# 4. at-once: the small mailbox on every pair it may have (3 folders: 3 pairs)
run atonce "$work/atonce.conf" small "$SRC_PORT" atonce1
if exact atonce small atonce1 && [ "$LANES" = 3 ] && [ "$LOGINS" = 3 ]; then
    pass "4. open_connections = at-once: the small mailbox on 3 connection pairs (one per folder)," \
        "done and exact"
else
    fail "4. open_connections = at-once" \
        "rc $RC, lanes $LANES, source logins $LOGINS; $(verdict small atonce); $(tail -n 3 "$work/atonce.err")"
fi
finish
