#!/usr/bin/env bash
# bench/cluster.sh (the "cluster" round of make bench, issue 16): the same CSV batch of
# BENCH_CLUSTER_N (40) mailboxes (40 messages, ~150 KB each) through `migrabox serve`, from a
# source behind a WAN-like link (tests/integ/faultproxy.py, +BENCH_CLUSTER_DELAY_MS (25) ms
# per command) to a local Dovecot, on this one machine:
#   sqlite-1x6  one node, SQLite store, 6 workers (the single appliance)
#   pg-1x6      one node, PostgreSQL store (private cluster, TLS verified), 6 workers
#   pg-3x2      three nodes on that store, 2 workers each (same 6 workers in all)
#   pg-3x6      three nodes, 6 workers each
# Wall time from the nodes' start to the last job done; every mailbox verified (content,
# flags, dates; no loss, no duplicate). On one machine the nodes share its CPUs: pg-3x6 shows
# the correctness and the overhead of the cluster, not a scale-out, which is estimated in
# docs/PERFORMANCE.md from the per-node figures. Writes build/bench/cluster.txt.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIGRABOX=${MIGRABOX:-$ROOT/build/migrabox}
export MIGRABOX
I=$ROOT/tests/integ
# shellcheck source=../tests/integ/pg.sh
. "$I/pg.sh"
DC=$I/dovecot.sh
N=${BENCH_CLUSTER_N:-40}
DELAY=${BENCH_CLUSTER_DELAY_MS:-25}
CONFIGS=${BENCH_CLUSTER_CONFIGS:-sqlite-1x6 pg-1x6 pg-3x2 pg-3x6}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
pg_available || { echo "cluster: PostgreSQL 15 server not installed" >&2; exit 1; }
W=$(mktemp -d)
chmod 711 "$W"
pids=()
cleanup() {
    for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null; done
    "$DC" stop "$W/src" "$W/dst" >/dev/null 2>&1
    pg_stop "$W/pg"
    rm -rf "$W"
}
trap cleanup EXIT
say() { echo "cluster: $*" >&2; }

pg_start "$W/pg" || exit 1
"$DC" start "$W/src" >/dev/null && "$DC" start "$W/dst" --master --autocreate >/dev/null || exit 1
PW='Bench-Clu-1'
for i in $(seq 1 "$N"); do
    printf '%s\n' "$PW" | "$DC" adduser "$W/src" "u$i@src.test" - >/dev/null
    for c in $CONFIGS; do
        printf 'x-%s\n' "$RANDOM" | "$DC" adduser "$W/dst" "u$i-$c@example.com" - >/dev/null
    done
done
seed() {
    printf '{"folders": [{"name": "INBOX", "generate": {"count": 30, "size": 4000, "seed": %d, "flags": ["\\\\Seen"]}}, {"name": "Archives", "subscribe": true, "generate": {"count": 10, "size": 3000, "seed": %d}}]}\n' \
        "$1" "$((1000 + $1))" >"$W/spec$1.json"
    IMAP_PASSWORD=$PW python3 "$I/imaptool.py" --env "$W/src/env" --user "u$1@src.test" \
        seed "$W/spec$1.json" >/dev/null
}
export -f seed
export W I PW
say "seeding $N source mailboxes"
seq 1 "$N" | xargs -P 2 -I{} bash -c 'seed {}' || exit 1
# shellcheck disable=SC1091
dst_port=$(. "$W/dst/env"; echo "$IMAPS_PORT")
# shellcheck disable=SC1091
src_port=$(. "$W/src/env"; echo "$IMAP_PORT")
(umask 077; . "$W/dst/env"; printf '%s\n' "$MASTER_PASSWORD" >"$W/master.secret")
python3 "$I/faultproxy.py" --port-file "$W/sp.port" --target "127.0.0.1:$src_port" \
    --delay-ms "$DELAY" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$W/sp.port" ] && break; sleep 0.1; done

conf() {  # conf FILE DATA_DIR WORKERS BACKEND DB
    cat >"$1" <<EOF
[server]
listen = 127.0.0.1:0
data_dir = $2
workers = $3
tls = off
[sources]
ca_file = $W/src/ca.crt
allow = 127.0.0.0/8
max_connections_per_host = 100
[destination]
host = 127.0.0.1
port = $dst_port
ca_file = $W/dst/ca.crt
master_user = admin
master_password_file = $W/master.secret
domains = example.com
EOF
    if [ "$4" = pg ]; then
        printf '[store]\nbackend = postgresql\nurl = %s\npassword_file = %s\nca_file = %s\nlease = 30s\n' \
            "postgresql://migrabox@127.0.0.1:$PG_PORT/$5" "$PG_PWFILE" "$PG_CA" >>"$1"
    fi
}
pending() {  # pending BACKEND DB_OR_FILE: jobs not yet ended
    if [ "$1" = pg ]; then
        PG_DB=$2 pg_psql "$W/pg" "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
    else
        sqlite3 "$2" "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
    fi
}
result() { printf '%-11s %5s %7s %8s %s\n' "$@" | tee -a "$OUT/cluster.txt"; }
: >"$OUT/cluster.txt"
result config nodes workers "wall s" "verified"
for c in $CONFIGS; do
    backend=${c%%-*} shape=${c#*-} nodes=${shape%x*} workers=${shape#*x}
    db=bench_${c//-/_}
    if [ "$backend" = pg ]; then
        PG_DB=postgres pg_psql "$W/pg" "CREATE DATABASE $db OWNER migrabox" >/dev/null
    fi
    for n in $(seq 1 "$nodes"); do
        mkdir -p "$W/$c-$n"
        conf "$W/$c-$n.conf" "$W/$c-$n" "$workers" "$backend" "$db"
    done
    {
        echo "login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only"
        for i in $(seq 1 "$N"); do
            echo "u$i@src.test;$PW;127.0.0.1:$(cat "$W/sp.port");defaut;u$i-$c@example.com;False"
        done
    } >"$W/$c.csv"
    "$MIGRABOX" import -c "$W/$c-1.conf" "$W/$c.csv" >/dev/null || { say "$c: import failed"; continue; }
    for n in $(seq 2 "$nodes"); do cp "$W/$c-1/secret.key" "$W/$c-$n/secret.key"; done
    where=$db
    [ "$backend" = pg ] || where=$W/$c-1/migrabox.db
    t0=$(date +%s.%N)
    npids=()
    for n in $(seq 1 "$nodes"); do
        "$MIGRABOX" serve -c "$W/$c-$n.conf" 2>"$W/$c-$n.log" &
        npids+=($!)
        pids+=($!)
    done
    while [ "$(pending "$backend" "$where" 2>/dev/null || echo 1)" != 0 ]; do sleep 0.2; done
    t1=$(date +%s.%N)
    for p in "${npids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    bad=0
    for i in $(seq 1 "$N"); do
        IMAP_PASSWORD=$PW python3 "$I/imaptool.py" --env "$W/src/env" --user "u$i@src.test" dump \
            >"$W/s.json" 2>/dev/null
        python3 "$I/imaptool.py" --env "$W/dst/env" --user "u$i-$c@example.com" --master dump \
            >"$W/d.json" 2>/dev/null
        python3 "$I/migrate_test.py" compare "$W/s.json" "$W/d.json" --dst-prefix "" \
            >/dev/null 2>&1 || bad=$((bad + 1))
    done
    result "$c" "$nodes" "$((nodes * workers))" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" \
        "$([ "$bad" = 0 ] && echo "all $N exact" || echo "$bad of $N WRONG")"
done
{
    echo "($N mailboxes of 40 messages, source +$DELAY ms per command through faultproxy.py," \
        "destination local; $(nproc) CPUs shared by every node, PostgreSQL and Dovecot)"
} | tee -a "$OUT/cluster.txt"
