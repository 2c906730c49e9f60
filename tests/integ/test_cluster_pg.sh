#!/usr/bin/env bash
# Several appliances on one PostgreSQL store (issue 16): four `migrabox serve` nodes share a
# private PostgreSQL cluster (pg.sh) and a Dovecot pair; a 50-mailbox CSV batch is queued.
# Mid-batch node A is killed (SIGKILL), node D is cut silently from PostgreSQL (partproxy.py
# turns into a black hole: nothing reset or refused), then node B is killed: D's store calls
# fail within [store] timeout (3 s here) + 2 s, their running jobs are taken over by the live
# nodes after [store] lease (5 s here), the partitioned node notices its lease is lost and
# stops its runs, and when its link comes back (what it sent meanwhile delivered late) it
# registers again as a new node without writing over the new owners: its lost jobs' rows and
# message maps are the new owner's. Every job ends done, every mailbox is exact (no loss, no
# duplicate), the takeover times are printed, and GET /api/nodes lists the live nodes. Then the
# store-wide write lock is held for three leases from another session (what a node cut in the
# middle of a transaction does), first with a dead node waiting to be taken over, then during
# a delta pass of the batch: the live nodes keep renewing their leases, the dead node is taken
# over once the lock is free, the pass ends done and every mailbox is still exact. The
# checks are in cluster_test.py; the source is slowed by faultproxy.py (--delay-ms) so that
# jobs run long enough to be interrupted. Two more rounds on databases of their own: the
# per-host cap across two nodes, counted at the source (conncount.py), and the fence
# (fence_test.py: a node frozen with SIGSTOP, taken over, thawed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/pg.sh"
DC="$here/dovecot.sh"
TOOL="$here/imaptool.py"

if [ "${SANITIZE:-0}" = 1 ]; then
    skip "cluster suite: run once, on the release build (not under sanitizers)"
    finish
fi
if ! pg_available; then
    skip "cluster suite: PostgreSQL 15 server binaries not installed ($PG_BIN)"
    finish
fi
if ! command -v dovecot >/dev/null; then
    skip "cluster suite: Dovecot not installed"
    finish
fi

work=$(mktemp -d)
chmod 711 "$work"
SRC=$work/src DST=$work/dst
pids=()
cleanup() {
    [ -n "${CLUSTER_KEEP:-}" ] && mkdir -p "$CLUSTER_KEEP" && cp "$work"/*.log "$work"/*.tail "$CLUSTER_KEEP"/ 2>/dev/null
    for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null; done
    "$DC" stop "$SRC" "$DST" >/dev/null 2>&1
    pg_stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

if ! pg_start "$work/pg" 2>"$work/pgstart.log"; then
    fail "private PostgreSQL cluster starts" "$(tail -20 "$work/pgstart.log")"
    finish
fi
if ! "$DC" start "$SRC" >"$work/dc.log" 2>&1 \
    || ! "$DC" start "$DST" --master --autocreate >>"$work/dc.log" 2>&1; then
    fail "start two Dovecot instances" "$(tail -20 "$work/dc.log")"
    finish
fi
N=${CLUSTER_MAILBOXES:-50}
export SRC_PW='Clu-Pw;1'
for i in $(seq 1 "$N"); do
    printf '%s\n' "$SRC_PW" | "$DC" adduser "$SRC" "u$i@src.test" - >/dev/null
    printf 'unused-%s\n' "$RANDOM$RANDOM" | "$DC" adduser "$DST" "u$i@example.com" - >/dev/null
done
seed_one() {
    local i=$1
    printf '{"folders": [{"name": "INBOX", "generate": {"count": 30, "size": 4000, "seed": %d, "flags": ["\\\\Seen"]}}, {"name": "Archives", "subscribe": true, "generate": {"count": 10, "size": 3000, "seed": %d}}]}\n' \
        "$i" "$((1000 + i))" >"$work/spec$i.json"
    IMAP_PASSWORD="$SRC_PW" python3 "$TOOL" --env "$SRC/env" --user "u$i@src.test" \
        seed "$work/spec$i.json" >/dev/null 2>>"$work/seed.err"
}
export -f seed_one
export work TOOL SRC
if ! seq 1 "$N" | xargs -P 4 -I{} bash -c 'seed_one {}'; then
    fail "seed $N source mailboxes" "$(tail -5 "$work/seed.err")"
    finish
fi
ok "$N source mailboxes seeded (40 messages each)"

# shellcheck disable=SC1091
dst_port=$(. "$DST/env"; echo "$IMAPS_PORT")
# shellcheck disable=SC1091
src_port=$(. "$SRC/env"; echo "$IMAP_PORT")
(umask 077; . "$DST/env"; printf '%s\n' "$MASTER_PASSWORD" >"$work/master.secret")
# The source through a WAN-like link (each command waits 150 ms): jobs last several seconds,
# so that the batch is still running when A is killed, D cut off and B killed one after the
# other (with 40 ms, the claims across nodes and the extra connections finished it first).
python3 "$here/faultproxy.py" --port-file "$work/srcproxy.port" --target "127.0.0.1:$src_port" \
    --delay-ms 150 >/dev/null 2>&1 &
pids+=($!)
# Node D's link to PostgreSQL, which the test cuts.
python3 "$here/partproxy.py" --port-file "$work/pgproxy.port" --target "127.0.0.1:$PG_PORT" \
    >/dev/null 2>&1 &
partproxy=$!
pids+=("$partproxy")
for _ in $(seq 1 50); do [ -s "$work/srcproxy.port" ] && [ -s "$work/pgproxy.port" ] && break; sleep 0.1; done

mkconf() {  # mkconf NAME PG_PORT
    mkdir -p "$work/$1"
    cat >"$work/$1.conf" <<EOF
[server]
listen = 127.0.0.1:0
data_dir = $work/$1
workers = 3
tls = off
[sources]
ca_file = $SRC/ca.crt
allow = 127.0.0.0/8
# Every mailbox is on one source host: room for all 12 workers with 2 connections each (the
# default cap of 10, counted across nodes, would leave most workers idle and node A, the one
# killed, with too few jobs to kill it in the middle of).
max_connections_per_host = 30
connect_timeout = 5
io_timeout = 20
retry_delay = 2
max_attempts = 10
[destination]
host = 127.0.0.1
port = $dst_port
tls = implicit
ca_file = $DST/ca.crt
master_user = admin
master_password_file = $work/master.secret
separator = *
domains = example.com
settle_time = 2
[store]
backend = postgresql
url = postgresql://migrabox@127.0.0.1:$2/migrabox
password_file = $PG_PWFILE
ca_file = $PG_CA
lease = 5s
timeout = 3s
EOF
}
for n in A B C; do mkconf "$n" "$PG_PORT"; done
mkconf D "$(cat "$work/pgproxy.port")"

export ADMIN_PW='Clu-Admin-1'
MIGRABOX_PASSWORD=$ADMIN_PW "$MIGRABOX" user add admin --admin -c "$work/A.conf" >/dev/null \
    || { fail "user add (PostgreSQL store)"; finish; }
{
    echo "login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only"
    for i in $(seq 1 "$N"); do
        echo "u$i@src.test;\"Clu-Pw;1\";127.0.0.1:$(cat "$work/srcproxy.port");defaut;u$i@example.com;False"
    done
} >"$work/batch.csv"
if ! out=$("$MIGRABOX" import -c "$work/A.conf" "$work/batch.csv" 2>&1); then
    fail "import of the $N-mailbox batch" "$out"
    finish
fi
# Every node seals and opens source passwords with the same key.
for n in B C D; do cp "$work/A/secret.key" "$work/$n/secret.key"; done

export WORK=$work SRC DST TOOL N PARTPROXY=$partproxy MB_PG_DIR=$work/pg
python3 "$here/cluster_test.py" >"$work/py.out" 2>&1
pyrc=$?
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        "skip - "*) skip "${line#skip - }" ;;
        *) echo "  $line" ;;
    esac
done <"$work/py.out"
[ $pyrc -eq 0 ] || [ "$T_FAIL" -gt 0 ] || fail "cluster_test.py exited with status $pyrc"
# ---- Per-host connection cap across nodes: two nodes of one worker each on one store
# (database "conns"), the source host capped at 3 connections, runs of 2 connections each
# ([sources] connections_per_job = 2: the extra lane takes a slot in the store,
# db_job_conn_take), 6 jobs: the source never sees more than 3 connections at once (counted
# by conncount.py in front of it), where the two nodes counting alone would open 4. ----
PG_DB=postgres pg_psql "$work/pg" "CREATE DATABASE conns OWNER migrabox" >/dev/null
python3 "$here/conncount.py" --port-file "$work/cnt.port" --target "127.0.0.1:$(cat "$work/srcproxy.port")" \
    --stats "$work/cnt.json" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/cnt.port" ] && break; sleep 0.1; done
for n in E F; do
    mkconf "$n" "$PG_PORT"
    sed -i -e "s|^url = .*|url = postgresql://migrabox@127.0.0.1:$PG_PORT/conns|" \
        -e 's/^max_attempts = 10$/max_attempts = 10\nconnections_per_job = 2\nopen_connections = at-once/' \
        -e 's/^max_connections_per_host = 30$/max_connections_per_host = 3/' \
        -e 's/^workers = 3$/workers = 1/' \
        "$work/$n.conf"
done
{
    echo "login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only"
    for i in 1 2 3 4 5 6; do
        printf 'unused-%s\n' "$RANDOM$RANDOM" | "$DC" adduser "$DST" "c$i@example.com" - >/dev/null
        echo "u$i@src.test;\"Clu-Pw;1\";127.0.0.1:$(cat "$work/cnt.port");defaut;c$i@example.com;False"
    done
} >"$work/conns.csv"
if ! out=$("$MIGRABOX" import -c "$work/E.conf" "$work/conns.csv" 2>&1); then
    fail "import of the 6 jobs of one source host" "$out"
    finish
fi
cp "$work/E/secret.key" "$work/F/secret.key"
start=$(date +%s)
for n in E F; do
    "$MIGRABOX" serve -c "$work/$n.conf" </dev/null >/dev/null 2>"$work/$n.log" &
    pids+=($!)
done
left=6
for _ in $(seq 1 360); do
    left=$(PG_DB=conns pg_psql "$work/pg" "SELECT count(*) FROM jobs WHERE state <> 'done'")
    [ "$left" = 0 ] && break
    sleep 0.5
done
stats=$(cat "$work/cnt.json")
nodes=$(PG_DB=conns pg_psql "$work/pg" "SELECT count(DISTINCT node) FROM jobs")
lanes=$(PG_DB=conns pg_psql "$work/pg" "SELECT count(*) FROM job_log WHERE code = 'log_lanes_started'")
max_open=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_open"])' "$work/cnt.json")
if [ "$left" = 0 ] && [ "$max_open" -le 3 ] && [ "$nodes" = 2 ] && [ "$lanes" -ge 1 ]; then
    ok "cap 3 for one source host across 2 nodes (6 jobs, up to 2 connections per run): at most $max_open source connections at once ($stats; jobs on $nodes nodes, $lanes run(s) with 2 connections, $(( $(date +%s) - start )) s)"
else
    fail "cap 3 for one source host across 2 nodes" "left=$left nodes=$nodes lanes=$lanes stats=$stats
$(tail -5 "$work/E.log")"
fi
# ---- The fence: node G frozen (SIGSTOP) mid-run, its jobs taken over by H, then thawed: its
# writes are refused and every mailbox is exact (fence_test.py, database "fence"). ----
PG_DB=postgres pg_psql "$work/pg" "CREATE DATABASE fence OWNER migrabox" >/dev/null
for n in G H; do
    mkconf "$n" "$PG_PORT"
    sed -i -e "s|^url = .*|url = postgresql://migrabox@127.0.0.1:$PG_PORT/fence|" \
        -e 's/^max_attempts = 10$/max_attempts = 10\nconnections_per_job = 1/' "$work/$n.conf"
done
{
    echo "login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only"
    for i in 11 12 13 14 15 16; do
        printf 'unused-%s\n' "$RANDOM$RANDOM" | "$DC" adduser "$DST" "f$i@example.com" - >/dev/null
        echo "u$i@src.test;\"Clu-Pw;1\";127.0.0.1:$(cat "$work/srcproxy.port");defaut;f$i@example.com;False"
    done
} >"$work/fence.csv"
if ! out=$("$MIGRABOX" import -c "$work/G.conf" "$work/fence.csv" 2>&1); then
    fail "import of the 6 jobs of the fence round" "$out"
    finish
fi
cp "$work/G/secret.key" "$work/H/secret.key"
PG_DBNAME=fence FIRST=11 COUNT=6 python3 "$here/fence_test.py" >"$work/fence.out" 2>&1
pyrc=$?
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok "fence: ${line#ok - }" ;;
        "FAIL - "*) fail "fence: ${line#FAIL - }" ;;
        *) echo "  $line" ;;
    esac
done <"$work/fence.out"
[ $pyrc -eq 0 ] || grep -q '^FAIL' "$work/fence.out" || fail "fence_test.py exited with status $pyrc"
finish
