#!/usr/bin/env bash
# bench/run.sh (make bench): migrabox against mbsync, doveadm backup/sync (imapc) and a naive
# one-message-at-a-time copier, on a local Dovecot pair, with the same corpus, the same
# transport and a fresh destination box for every run. Prints a table and writes it to
# build/bench/results.txt (logs of every run under build/bench/runs/).
#
# Rounds:
#   loopback  bench/corpus/mixed.json: 2,000 messages of mixed sizes (2 KB - 5 MB, 44.8 MB)
#             in 7 folders, source and destination on 127.0.0.1;
#   rtt50     bench/corpus/rtt.json: 300 messages (5 MB), the source behind
#             bench/delay_proxy.py adding BENCH_DELAY_MS (25) each way = 50 ms RTT, the
#             destination local (a migration appliance next to the provider's platform);
#   big       BENCH_BIG_COUNT (20) messages of BENCH_BIG_MB (20) MB, loopback: peak RSS
#             against message size;
#   folders50 a many-folder mailbox (BENCH_FOLDERS, default 24 folders of 12 messages, 2-20 KB)
#             with BOTH sides behind a delay proxy (BENCH_DELAY_MS each way: 50 ms RTT);
#   folders50src  the same mailbox, the source alone behind the delay;
#   delta200  an unchanged delta pass: a BENCH_DELTA_FOLDERS (200)-folder mailbox (2 small
#             messages per folder) is copied once on loopback (not timed), then the same tool
#             runs again with the same state (migrabox data_dir, mbsync SyncState) with both
#             sides behind a proxy of BENCH_DELTA_DELAY_MS (50) each way (100 ms RTT): the
#             timed pass finds nothing to copy.
#             These three rounds run migrabox and mbsync (and migrabox-alt) only: doveadm has
#             no destination connection to delay and the naive copier would take minutes.
#   bulk      BENCH_BULK_N (60) generated mailboxes (2-5 folders, 20-50 messages of 2-14 KB
#             each) queued as one CSV through `migrabox serve` with BENCH_BULK_WORKERS (8)
#             workers (bench/bulk_serve.py: POST /api/imports, then GET /api/jobs every
#             ~100 ms, timed: API p50/p99), against mbsync and imapsync (when installed) run
#             BENCH_BULK_WORKERS at a time with xargs -P, one configuration per mailbox. Wall
#             time from queueing to the last mailbox done; every mailbox verified.
#   cluster   bench/cluster.sh: one CSV batch through one node on SQLite, one node on
#             PostgreSQL, three nodes on PostgreSQL (same and three times the workers): the
#             cluster's correctness and overhead on this machine (build/bench/cluster.txt).
# Every run is verified: the destination box is dumped over IMAP and compared with the
# source (content, flags, INTERNALDATE); a run that copied wrongly is marked and not counted.
# Every run also records the CPU of the two Dovecot servers' processes that served it and how
# busy the machine was (see record); the report shows where a loopback run's CPU goes.
#
# Environment: MIGRABOX (default build/migrabox), BENCH_TLS implicit|none (default implicit:
# TLS on every IMAP connection of every tool), BENCH_ROUNDS (default "loopback rtt50 big
# folders50 folders50src delta200 bulk"),
# BENCH_TOOLS (default "migrabox mbsync doveadm-backup doveadm-sync naive"), BENCH_REPEAT
# (runs per tool in the loopback round, default 5; the median wall time is reported),
# BENCH_DELAY_MS, BENCH_BIG_COUNT, BENCH_BIG_MB, BENCH_KEEP=1 (keep the work directory),
# BENCH_MIGRABOX_ALT=PATH (a second migrabox binary, e.g. an engine change, run as the tool
# "migrabox-alt" next to the others), BENCH_LANES=N ([sources] connections_per_job of every
# migrabox run, the bulk round's serve included; unset: the default), BENCH_OPEN=when-useful|
# at-once ([sources] open_connections of every migrabox run; unset: the default),
# BENCH_SERVERS_DIR (where the two Dovecot servers keep their mail, default /dev/shm when it
# has 6 GB free, else the work directory under /tmp; see "Servers' mail on tmpfs" below).
# Needs dovecot-imapd, isync, time, python3 (root or not: tests/integ/dovecot.sh runs Dovecot
# as the invoking user when it is not root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIGRABOX=${MIGRABOX:-$ROOT/build/migrabox}
case "$MIGRABOX" in /*) ;; *) MIGRABOX="$ROOT/$MIGRABOX" ;; esac
PY=${PYTHON:-python3}
DOVECOT_SH=$ROOT/tests/integ/dovecot.sh
IMAPTOOL=$ROOT/tests/integ/imaptool.py
VERIFY=$ROOT/bench/verify.py
OUT=$ROOT/build/bench
TLS=${BENCH_TLS:-implicit}
ROUNDS=${BENCH_ROUNDS:-loopback rtt50 big folders50 folders50src delta200 bulk cluster}
TOOLS=${BENCH_TOOLS:-migrabox mbsync doveadm-backup doveadm-sync naive}
# A second migrabox binary (an engine change to evaluate) runs as the tool "migrabox-alt".
ALT=${BENCH_MIGRABOX_ALT:-}
if [ -n "$ALT" ] && [ -z "${BENCH_TOOLS:-}" ]; then
    TOOLS="migrabox migrabox-alt ${TOOLS#migrabox }"
fi
REPEAT=${BENCH_REPEAT:-5}
# [sources] connections_per_job of the migrabox runs (unset: the default).
LANES=${BENCH_LANES:-}
OPEN=${BENCH_OPEN:-}
DELAY_MS=${BENCH_DELAY_MS:-25}
BIG_COUNT=${BENCH_BIG_COUNT:-20}
BIG_MB=${BENCH_BIG_MB:-20}
NFOLDERS=${BENCH_FOLDERS:-24}
DELTA_FOLDERS=${BENCH_DELTA_FOLDERS:-200}
DELTA_DELAY_MS=${BENCH_DELTA_DELAY_MS:-50}
BULK_N=${BENCH_BULK_N:-60}
BULK_W=${BENCH_BULK_WORKERS:-8}
BULK_TOOLS="migrabox mbsync imapsync"

die() { echo "bench: $*" >&2; exit 1; }
say() { printf 'bench: %s\n' "$*" >&2; }

case "$TLS" in implicit|none) ;; *) die "BENCH_TLS must be implicit or none" ;; esac
PATH=$PATH:/usr/sbin  # dovecot, for a normal user's PATH
[ -x "$MIGRABOX" ] || die "no migrabox binary at $MIGRABOX (make first)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
command -v dovecot >/dev/null || die "dovecot missing (apt-get install dovecot-imapd)"
command -v "$PY" >/dev/null || die "python3 missing"

W=$(mktemp -d /tmp/migrabox-bench.XXXXXX)
# Servers' mail on tmpfs. The two Dovecot servers are the fixture, not what is measured: their
# mail stores (both servers' directories) go to BENCH_SERVERS_DIR, by default /dev/shm. On a
# disk whose ext4 has no journal (this machine's root file system), ext4 checks each candidate
# inode for a recent deletion at each file creation (recently_deleted()), and Dovecot creates
# a file per saved message and rewrites its index files: that was a quarter of the machine's
# CPU during the bulk round and a fifth in the loopback one, the same for every tool, which
# only blurred the tools' differences. The tools' own state (migrabox's data_dir with its
# SQLite fsyncs, mbsync's SyncState, the logs) stays in $W on disk.
SV_BASE=${BENCH_SERVERS_DIR:-}
if [ -z "$SV_BASE" ]; then
    SV_BASE=$W
    if [ -d /dev/shm ] && [ -w /dev/shm ] \
       && [ "$(df -Pk /dev/shm | awk 'NR == 2 {print $4}')" -ge 6291456 ]; then
        SV_BASE=/dev/shm
    fi
fi
SV=$(mktemp -d "$SV_BASE/migrabox-bench-servers.XXXXXX")
PROXY_PID=""
PROXY_PIDS=()
cleanup() {
    local rc=$?
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
    stop_proxies
    local dirs=()
    for d in "$SV/src" "$SV/dst"; do [ -f "$d/dovecot.conf" ] && dirs+=("$d"); done
    [ ${#dirs[@]} -gt 0 ] && bash "$DOVECOT_SH" stop "${dirs[@]}" >/dev/null 2>&1
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "work directory kept: $W (servers: $SV)"
    else
        rm -rf "$W" "$SV"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT/runs"
mkdir -p "$OUT/runs"
RESULTS=$W/results.tsv
printf 'round\ttool\trep\twall_s\trss_kb\tcpu_s\trc\tmessages\tbytes\tverify\tnote\tapi_p50_ms\tapi_p99_ms\tsrc_cpu_s\tdst_cpu_s\tbusy_pct\n' \
    > "$RESULTS"

stop_proxies() {
    local p
    for p in "${PROXY_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PROXY_PIDS=()
}
start_proxy() {  # start_proxy TARGET_PORT DELAY_MS NAME [LISTEN_PORT]: sets PROXY_PORT
    local f="$W/proxy-$3.port"
    rm -f "$f"
    "$PY" "$ROOT/bench/delay_proxy.py" --target "127.0.0.1:$1" --delay-ms "$2" \
        --listen-port "${4:-0}" --port-file "$f" > /dev/null 2>> "$OUT/runs/proxy-$3.err" &
    PROXY_PIDS+=($!)
    local _
    for _ in $(seq 1 100); do [ -s "$f" ] && break; sleep 0.05; done
    [ -s "$f" ] || die "delay proxy $3 did not start"
    PROXY_PORT=$(cat "$f")
}
secret() { head -c 18 /dev/urandom | base64 | tr -d '+/=' | head -c 20; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# ---- the Dovecot pair and the source boxes ----
T0=$(now)
bash "$DOVECOT_SH" start "$SV/src" >/dev/null
bash "$DOVECOT_SH" start "$SV/dst" --master >/dev/null
src_env() { (. "$SV/src/env"; eval "echo \$$1"); }
dst_env() { (. "$SV/dst/env"; eval "echo \$$1"); }
SRC_MASTER=$(head -c 32 "$(src_env DOVECOT_PIDFILE)" | tr -dc 0-9)
DST_MASTER=$(head -c 32 "$(dst_env DOVECOT_PIDFILE)" | tr -dc 0-9)
CLK_TCK=$(getconf CLK_TCK)
if [ "$TLS" = implicit ]; then
    SRC_PORT=$(src_env IMAPS_PORT); DST_PORT=$(dst_env IMAPS_PORT)
else
    SRC_PORT=$(src_env IMAP_PORT); DST_PORT=$(dst_env IMAP_PORT)
fi
SRC_CA=$SV/src/ca.crt
DST_CA=$SV/dst/ca.crt
install -m 600 /dev/null "$W/master.pw"
dst_env MASTER_PASSWORD | tr -d '\n' > "$W/master.pw"

declare -A SRC_USER
for corpus in mixed rtt big folders delta; do
    SRC_USER[$corpus]="$corpus@source.test"
    install -m 600 /dev/null "$W/$corpus.pw"
    secret > "$W/$corpus.pw"
    bash "$DOVECOT_SH" adduser "$SV/src" "${SRC_USER[$corpus]}" - < "$W/$corpus.pw" >/dev/null
done
"$PY" - "$BIG_COUNT" "$BIG_MB" > "$W/big.json" <<'EOF'
import json, sys
n, mb = int(sys.argv[1]), int(sys.argv[2])
half = n // 2
f = [{"name": "INBOX", "generate": {"count": n - half, "size": mb << 20, "seed": 201,
                                     "flags": ["\\Seen"]}}]
if half:
    f.append({"name": "Big", "generate": {"count": half, "size": mb << 20, "seed": 202}})
print(json.dumps({"folders": f}))
EOF
# Many folders (names with a hierarchy and non-ASCII), small messages.
"$PY" - "$NFOLDERS" 12 301 > "$W/folders.json" <<'EOF2'
import json, sys
n, per, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
names = ["INBOX", "Sent", "Drafts", "Trash"]
i = 0
while len(names) < n:
    names.append(["Projets/P%02d" % i, "Clients/Société %02d" % i, "Archive/%d" % (2000 + i)][i % 3])
    i += 1
f = []
for k, name in enumerate(names[:n]):
    f.append({"name": name, "generate": {"count": per // 2, "size": 2000 + 300 * k,
                                          "seed": seed + 2 * k, "flags": ["\\Seen"]}})
    f.append({"name": name, "generate": {"count": per - per // 2, "size": max(3000, 20000 - 200 * k),
                                          "seed": seed + 2 * k + 1}})
print(json.dumps({"folders": f}))
EOF2
"$PY" - "$DELTA_FOLDERS" 2 401 > "$W/delta.json" <<'EOF2'
import json, sys
n, per, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
names = ["INBOX"] + ["Dossiers/F%03d" % i for i in range(n - 1)]
print(json.dumps({"folders": [{"name": name, "generate": {"count": per, "size": 3000,
                               "seed": seed + k, "flags": ["\\Seen"]}}
                              for k, name in enumerate(names)]}))
EOF2
corpus_file() {
    case "$1" in
    big|folders|delta|bulk*) echo "$W/$1.json" ;;
    *) echo "$ROOT/bench/corpus/$1.json" ;;
    esac
}
want_corpus() {
    case " $ROUNDS " in
        *" loopback "*) [ "$1" = mixed ] && return 0 ;;
    esac
    case " $ROUNDS " in *" rtt50 "*) [ "$1" = rtt ] && return 0 ;; esac
    case " $ROUNDS " in *" big "*) [ "$1" = big ] && return 0 ;; esac
    case " $ROUNDS " in
        *" folders50 "*|*" folders50src "*) [ "$1" = folders ] && return 0 ;;
    esac
    case " $ROUNDS " in *" delta200 "*) [ "$1" = delta ] && return 0 ;; esac
    return 1
}
seed() {  # seed CORPUS: APPEND the corpus (plain IMAP, local), then dump it for verification
    local c=$1
    IMAP_PASSWORD=$(cat "$W/$c.pw") "$PY" "$IMAPTOOL" --env "$SV/src/env" \
        --user "${SRC_USER[$c]}" --password-env IMAP_PASSWORD seed "$(corpus_file "$c")" \
        > "$W/seed-$c.out"
    IMAP_PASSWORD=$(cat "$W/$c.pw") "$PY" "$VERIFY" dump --env "$SV/src/env" \
        --user "${SRC_USER[$c]}" > "$W/src-$c.json"
}
say "seeding the source boxes ($ROUNDS)"
pids=()
for c in mixed rtt big folders delta; do
    if want_corpus "$c"; then seed "$c" & pids+=($!); fi
done
for p in "${pids[@]}"; do wait "$p" || die "seeding failed"; done
corpus_stats() {  # corpus_stats CORPUS -> "messages bytes folders"
    "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))["folders"]
print(sum(len(v) for v in d.values()), sum(m["size"] for v in d.values() for m in v),
      sum(1 for v in d.values() if v))' "$W/src-$1.json"
}
# Fresh destination boxes, one per run, all created now: Dovecot's passwd-file is re-read
# at most once a second, so a box added just before its first login may not be seen yet.
dest_user() { echo "$1-$2-$3@dest.test"; }
# The tools of a round: every tool for loopback, rtt50 and big; for the latency rounds the
# IMAP-to-IMAP tools that connect to both sides (doveadm writes into the destination store and
# has no destination connection to delay; the one-at-a-time copier would take minutes), with
# imapsync in folders50 and folders50src whenever it is installed, as in the bulk round (the
# issue's ratio is against it there); delta200 without it (no state: an "unchanged" pass
# would compare every header of 200 folders at 100 ms).
round_tools() {
    case "$1" in
    folders50|folders50src|delta200)
        local t out=""
        for t in $TOOLS; do
            case "$t" in migrabox|migrabox-alt|mbsync) out="$out $t" ;; esac
        done
        [ "$1" = delta200 ] || out="$out imapsync"
        echo $out
        ;;
    *) echo $TOOLS ;;
    esac
}
for round in $ROUNDS; do
    [ "$round" = bulk ] && continue  # below: one box per mailbox and tool
    [ "$round" = cluster ] && continue  # bench/cluster.sh has its own servers
    reps=1
    [ "$round" = loopback ] && reps=$REPEAT
    for rep in $(seq 1 "$reps"); do
        for tool in $(round_tools "$round"); do
            secret | bash "$DOVECOT_SH" adduser "$SV/dst" "$(dest_user "$round" "$tool" "$rep")" - \
                >/dev/null
        done
    done
done
# ---- the bulk round's mailboxes: BULK_N source boxes, one destination box per box and tool
SRC_PLAIN_PORT=$(src_env IMAP_PORT)
if [[ " $ROUNDS " == *" bulk "* ]]; then
    for i in $(seq 1 "$BULK_N"); do
        c=bulk$i
        SRC_USER[$c]="$c@source.test"
        install -m 600 /dev/null "$W/$c.pw"
        secret > "$W/$c.pw"
        bash "$DOVECOT_SH" adduser "$SV/src" "${SRC_USER[$c]}" - < "$W/$c.pw" >/dev/null
        for tool in $BULK_TOOLS; do
            secret | bash "$DOVECOT_SH" adduser "$SV/dst" "$(dest_user "$c" "$tool" 1)" - >/dev/null
        done
    done
    # 2-5 folders, 20-50 messages of 2-14 KB per box, a third \Seen, deterministic.
    "$PY" - "$BULK_N" "$W" <<'EOF2'
import json, sys
n, w = int(sys.argv[1]), sys.argv[2]
names = ["INBOX", "Sent", "Archive/2024", "Projets/Été", "Trash"]
for i in range(1, n + 1):
    nf = 2 + (i * 7) % 4
    total = 20 + (i * 13) % 31
    f = []
    for k in range(nf):
        cnt = total // nf + (1 if k < total % nf else 0)
        seen = cnt // 3
        base = {"size": 2000 + ((i * 31 + k * 17) % 13) * 1000}
        if seen:
            f.append({"name": names[k], "generate": dict(base, count=seen, seed=1000 * i + 2 * k,
                                                         flags=["\\Seen"])})
        f.append({"name": names[k], "generate": dict(base, count=cnt - seen,
                                                     seed=1000 * i + 2 * k + 1)})
    json.dump({"folders": f}, open("%s/bulk%d.json" % (w, i), "w"))
EOF2
    sleep 1  # Dovecot re-reads the passwd-file at most once a second
    say "seeding $BULK_N bulk source boxes"
    pids=()
    for i in $(seq 1 "$BULK_N"); do
        seed "bulk$i" & pids+=($!)
        if [ ${#pids[@]} -ge 4 ]; then
            for p in "${pids[@]}"; do wait "$p" || die "seeding bulk failed"; done
            pids=()
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || die "seeding bulk failed"; done
    # All boxes as one "corpus" for the table's message and byte counts.
    "$PY" - "$BULK_N" "$W" > "$W/src-bulk.json" <<'EOF2'
import json, sys
n, w = int(sys.argv[1]), sys.argv[2]
out = {}
for i in range(1, n + 1):
    for name, msgs in json.load(open("%s/src-bulk%d.json" % (w, i)))["folders"].items():
        out["bulk%d/%s" % (i, name)] = msgs
print(json.dumps({"folders": out}))
EOF2
fi
say "setup done in $(elapsed "$T0" "$(now)") s"

# ---- one run of one tool ----
# build_cmd SPORT DPORT: the command line of run_tool's tool (in the array cmd) and its
# configuration files in $rd, for the given source and destination ports. Uses run_tool's
# locals. Returns 1 (after recording a SKIPPED row) when the tool is not installed.
build_cmd() {
    local sport=$1 dport=$2
    case "$tool" in
    migrabox|migrabox-alt)
        local bin=$MIGRABOX
        if [ "$tool" = migrabox-alt ]; then
            [ -x "$ALT" ] || die "BENCH_MIGRABOX_ALT=$ALT is not an executable"
            bin=$ALT
        fi
        cat > "$rd/migrabox.conf" <<EOF
[server]
data_dir = $rd/data
log_level = warn
[sources]
ca_file = $SRC_CA
${LANES:+connections_per_job = $LANES}
${OPEN:+open_connections = $OPEN}
[destination]
host = 127.0.0.1
port = $dport
tls = $tlsopt
ca_file = $DST_CA
master_user = $(dst_env MASTER_USER)
master_password_file = $W/master.pw
EOF
        cmd=("$bin" migrate -c "$rd/migrabox.conf" --source-host "127.0.0.1:$sport"
             --source-tls "$tlsopt" --source-user "$suser" --type defaut --dest-user "$dest"
             --source-password-file "$spw" --quiet)
        ;;
    mbsync)
        if ! command -v mbsync >/dev/null; then
            record "$round" "$tool" "$rep" "" "" "" "" "$corpus" "SKIPPED" "mbsync not installed"
            return 1
        fi
        # No blank line inside a section: mbsync ends the section there.
        local host=127.0.0.1 stls=() dtls=()
        if [ "$TLS" = implicit ]; then
            # mbsync checks the certificate against the host name, not an IP address.
            host=localhost
            stls=("SSLType IMAPS" "CertificateFile $SRC_CA")
            dtls=("SSLType IMAPS" "CertificateFile $DST_CA")
        else
            stls=("SSLType None"); dtls=("SSLType None")
        fi
        # bulk: the source through STARTTLS on its plain port, as migrabox's CSV rows do.
        [ "$round" = bulk ] && [ "$TLS" = implicit ] && stls=("SSLType STARTTLS" "CertificateFile $SRC_CA")
        mkdir -p "$rd/state"
        {
            printf '%s\n' "IMAPAccount source" "Host $host" "Port $sport" "User $suser" \
                "PassCmd \"cat $spw\"" "${stls[@]}" "AuthMechs LOGIN" ""
            printf '%s\n' "IMAPStore source" "Account source" ""
            printf '%s\n' "IMAPAccount dest" "Host $host" "Port $dport" \
                "User $dest*$(dst_env MASTER_USER)" "PassCmd \"cat $W/master.pw\"" \
                "${dtls[@]}" "AuthMechs LOGIN" ""
            printf '%s\n' "IMAPStore dest" "Account dest" ""
            printf '%s\n' "Channel bench" "Far :source:" "Near :dest:" "Patterns *" \
                "Create Near" "Sync Pull" "Expunge None" "CopyArrivalDate yes" \
                "SyncState $rd/state/"
        } > "$rd/mbsyncrc"
        cmd=(mbsync -q -c "$rd/mbsyncrc" bench)
        ;;
    doveadm-backup|doveadm-sync)
        if ! command -v doveadm >/dev/null; then
            record "$round" "$tool" "$rep" "" "" "" "" "$corpus" "SKIPPED" "doveadm not installed"
            return 1
        fi
        # The destination's doveadm writes into its own mail store and pulls from the source
        # through imapc (Dovecot's IMAP migration setup); settings in a file, not argv.
        install -m 600 /dev/null "$rd/doveadm.conf"
        {
            echo "!include $SV/dst/dovecot.conf"
            echo "imapc_host = 127.0.0.1"
            echo "imapc_port = $sport"
            echo "imapc_user = $suser"
            echo "imapc_password = $(cat "$spw")"
            echo "imapc_features = rfc822.size fetch-headers"
            echo "mail_prefetch_count = 20"
            if [ "$TLS" = implicit ]; then
                echo "imapc_ssl = imaps"
                echo "imapc_ssl_verify = yes"
                echo "ssl_client_ca_file = $SRC_CA"
            fi
        } > "$rd/doveadm.conf"
        if [ "$tool" = doveadm-backup ]; then
            cmd=(doveadm -c "$rd/doveadm.conf" backup -R -u "$dest" imapc:)
        else
            cmd=(doveadm -c "$rd/doveadm.conf" sync -1 -R -u "$dest" imapc:)
        fi
        ;;
    imapsync)
        if ! command -v imapsync >/dev/null; then
            record "$round" "$tool" "$rep" "" "" "" "" "$corpus" "SKIPPED" "imapsync not installed"
            return 1
        fi
        # Destination through the master user (AUTHENTICATE PLAIN, authzid = the box).
        local s1=() s2=()
        if [ "$TLS" = implicit ]; then
            if [ "$round" = bulk ]; then s1=(--tls1); else s1=(--ssl1); fi
            s1+=(--sslargs1 SSL_verify_mode=1 --sslargs1 "SSL_ca_file=$SRC_CA")
            s2=(--ssl2 --sslargs2 SSL_verify_mode=1 --sslargs2 "SSL_ca_file=$DST_CA")
        fi
        cmd=(imapsync --host1 127.0.0.1 --port1 "$sport" --user1 "$suser" --passfile1 "$spw"
             "${s1[@]}" --host2 127.0.0.1 --port2 "$dport" --user2 "$dest"
             --authuser2 "$(dst_env MASTER_USER)" --passfile2 "$W/master.pw" "${s2[@]}"
             --nolog --noreleasecheck --nofoldersizes)
        ;;
    naive)
        local ca=()
        [ "$TLS" = implicit ] && ca=(--src-ca "$SRC_CA" --dst-ca "$DST_CA")
        cmd=("$PY" "$ROOT/bench/naive_copy.py" --tls "$TLS" --src "127.0.0.1:$sport"
             --src-user "$suser" --src-password-file "$spw" --dst "127.0.0.1:$dport"
             --dst-user "$dest*$(dst_env MASTER_USER)" --dst-password-file "$W/master.pw"
             "${ca[@]}")
        ;;
    *) die "unknown tool $tool" ;;
    esac
}

RUN_N=0
BETWEEN_PASSES=""  # a function run_tool calls between the two passes of a delta run
run_tool() {  # run_tool ROUND TOOL CORPUS SRC_PORT REP [DST_PORT [PRE_SRC_PORT PRE_DST_PORT]]
    # With PRE_*: a first, untimed pass of the same tool with the same state through those
    # ports, then the timed pass (an unchanged delta).
    local round=$1 tool=$2 corpus=$3 sport=$4 rep=$5 dport=${6:-$DST_PORT}
    local pre_sport=${7:-} pre_dport=${8:-}
    RUN_N=$((RUN_N + 1))
    local dest rd="$W/runs/$RUN_N" log="$OUT/runs/$RUN_N-$round-$tool"
    dest=$(dest_user "$round" "$tool" "$rep")
    local suser=${SRC_USER[$corpus]} spw="$W/$corpus.pw" note="" cmd=()
    mkdir -p "$rd"
    chmod 700 "$rd"
    local tlsopt=$TLS
    if [ -n "$pre_sport" ]; then
        build_cmd "$pre_sport" "$pre_dport" || return 0
        if ! "${cmd[@]}" > "$log.pass1.out" 2> "$log.pass1.err"; then
            record "$round" "$tool" "$rep" "" "" "" "" "$corpus" \
                "WRONG: first (untimed) pass failed: $(tail -c 200 "$log.pass1.err")" ""
            return 0
        fi
        [ -z "$BETWEEN_PASSES" ] || "$BETWEEN_PASSES"
    fi
    build_cmd "$sport" "$dport" || return 0
    sync
    settle_servers
    local t0 t1 rc=0 s0 d0 b0 b1 s1 d1
    s0=$(reaped_ticks "$SRC_MASTER"); d0=$(reaped_ticks "$DST_MASTER"); b0=$(busy_ticks)
    t0=$(now)
    /usr/bin/time -f '%M %U %S' -o "$rd/time" "${cmd[@]}" > "$log.out" 2> "$log.err" || rc=$?
    t1=$(now)
    b1=$(busy_ticks)
    settle_servers
    s1=$(reaped_ticks "$SRC_MASTER"); d1=$(reaped_ticks "$DST_MASTER")
    RUN_SRC_CPU=$(awk -v a="$s0" -v b="$s1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    RUN_DST_CPU=$(awk -v a="$d0" -v b="$d1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    RUN_BUSY=$(awk -v a="$b0" -v b="$b1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }')
    local wall rss cpu
    wall=$(elapsed "$t0" "$t1")
    rss=$(tail -n 1 "$rd/time" | awk '{print $1}')
    cpu=$(tail -n 1 "$rd/time" | awk '{printf "%.2f", $2 + $3}')
    if [ "$tool" = migrabox ] || [ "$tool" = migrabox-alt ]; then
        note=$("$PY" -c 'import json,sys
try:
    s = json.load(open(sys.argv[1]))
    print("summary: %s, copied %d, failed %d, %d bytes"
          % (s["state"], s["copied"], s["failed"], s["bytes"]))
except Exception as e:
    print("no JSON summary")' "$log.out")
    fi
    local verdict
    if MASTER_PASSWORD=$(cat "$W/master.pw") "$PY" "$VERIFY" dump --env "$SV/dst/env" \
        --user "$dest" --master > "$rd/dest.json" 2> "$rd/verify.err"; then
        verdict=$("$PY" "$VERIFY" compare "$W/src-$corpus.json" "$rd/dest.json" \
            --tool "$tool") || true
    else
        verdict="WRONG: dump of the destination failed: $(head -c 200 "$rd/verify.err")"
    fi
    [ "$rc" = 0 ] || verdict="WRONG: exit status $rc; $verdict"
    record "$round" "$tool" "$rep" "$wall" "$rss" "$cpu" "$rc" "$corpus" "$verdict" "$note"
    say "$(printf '%-8s %-15s %8ss  RSS %6s KB  %s' "$round" "$tool" "$wall" "$rss" "$verdict")"
    # The destination box is not needed any more: keep the disk small (big round: 400 MB each).
    local maildirs
    maildirs=$(dst_env MAILDIR_ROOT)
    rm -rf "${maildirs:?}/$dest" "$rd/data"
}
# The servers' CPU of a run (run_tool): each Dovecot master's reaped children (cutime + cstime
# in /proc/PID/stat: the imap-login and imap processes of the run's connections, which end
# with them) before and after the tool, and how busy the whole machine was (/proc/stat).
RUN_SRC_CPU="" RUN_DST_CPU="" RUN_BUSY=""
record() {  # record ROUND TOOL REP WALL RSS CPU RC CORPUS VERIFY NOTE [API_P50 API_P99]
    local st
    st=$(corpus_stats "$8")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
        "$5" "$6" "$7" "$(echo "$st" | cut -d' ' -f1)" "$(echo "$st" | cut -d' ' -f2)" "$9" \
        "${10}" "${11:-}" "${12:-}" "$RUN_SRC_CPU" "$RUN_DST_CPU" "$RUN_BUSY" >> "$RESULTS"
    RUN_SRC_CPU="" RUN_DST_CPU="" RUN_BUSY=""
}
reaped_ticks() {  # reaped_ticks PID: CPU clock ticks of PID's children that have ended
    local line rest
    IFS= read -r line < "/proc/$1/stat" || { echo 0; return; }
    rest=${line##*) }
    set -- $rest  # from field 3 (state): cutime is field 16, cstime 17
    echo $(( ${14} + ${15} ))
}
settle_servers() {  # wait (up to 3 s) until no imap or imap-login process of either server runs
    local i st line rest comm any
    for i in $(seq 1 60); do
        any=0
        for st in /proc/[0-9]*/stat; do
            IFS= read -r line 2>/dev/null < "$st" || continue
            comm=${line#*(}; comm=${comm%%)*}
            case "$comm" in imap|imap-login) ;; *) continue ;; esac
            rest=${line##*) }
            set -- $rest
            if [ "$2" = "$SRC_MASTER" ] || [ "$2" = "$DST_MASTER" ]; then any=1; break; fi
        done
        [ $any = 0 ] && return 0
        sleep 0.05
    done
}
busy_ticks() {  # "busy total" clock ticks of every CPU so far (/proc/stat)
    local _ u n sy id io irq sirq steal
    read -r _ u n sy id io irq sirq steal _ < /proc/stat
    echo "$((u + n + sy + irq + sirq + steal)) $((u + n + sy + id + io + irq + sirq + steal))"
}

# ---- the bulk round: N boxes, one tool ----
bulk_verify() {  # bulk_verify TOOL: every box of TOOL dumped and compared; sets BULK_VERDICT
    local tool=$1 i pids=() bad=0 first="" v
    for i in $(seq 1 "$BULK_N"); do
        (
            rd="$W/runs/bulk-$tool/v$i"
            mkdir -p "$rd"
            d=$(dest_user "bulk$i" "$tool" 1)
            if MASTER_PASSWORD=$(cat "$W/master.pw") "$PY" "$VERIFY" dump --env "$SV/dst/env" \
                --user "$d" --master > "$rd/dest.json" 2> "$rd/verify.err"; then
                "$PY" "$VERIFY" compare "$W/src-bulk$i.json" "$rd/dest.json" --tool "$tool" \
                    > "$rd/verdict" || true
            else
                echo "WRONG: dump of the destination failed: $(head -c 200 "$rd/verify.err")" \
                    > "$rd/verdict"
            fi
        ) & pids+=($!)
        if [ ${#pids[@]} -ge 4 ]; then wait "${pids[@]}"; pids=(); fi
    done
    [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
    for i in $(seq 1 "$BULK_N"); do
        v=$(cat "$W/runs/bulk-$tool/v$i/verdict" 2>/dev/null || echo "WRONG: no verdict")
        case "$v" in
        ok*) ;;
        *) bad=$((bad + 1)); [ -n "$first" ] || first="bulk$i: $v" ;;
        esac
    done
    if [ "$bad" = 0 ]; then
        BULK_VERDICT="ok"
        [ "$tool" = mbsync ] && BULK_VERDICT="ok (X-TUID header added to every message)"
    else
        BULK_VERDICT="WRONG: $bad of $BULK_N mailboxes; first: $first"
    fi
    return 0
}
run_bulk() {  # run_bulk TOOL
    local tool=$1 round=bulk rep=1 corpus=bulk
    local bd="$W/runs/bulk-$tool" log="$OUT/runs/bulk-$tool"
    local t0 t1 wall="" rss="" cpu="" rc=0 p50="" p99="" note="" i
    mkdir -p "$bd"
    chmod 700 "$bd"
    if [ "$tool" = migrabox ]; then
        cat > "$bd/serve.conf" <<EOF
[server]
listen = 127.0.0.1:0
data_dir = $bd/data
workers = $BULK_W
tls = off
log_level = warn
[sources]
ca_file = $SRC_CA
allow = 127.0.0.0/8
max_connections_per_host = $(( BULK_W > 10 ? BULK_W : 10 ))
${LANES:+connections_per_job = $LANES}
${OPEN:+open_connections = $OPEN}
[destination]
host = 127.0.0.1
port = $DST_PORT
tls = $TLS
ca_file = $DST_CA
master_user = $(dst_env MASTER_USER)
master_password_file = $W/master.pw
domains = dest.test
EOF
        install -m 600 /dev/null "$bd/admin.pw"
        secret > "$bd/admin.pw"
        MIGRABOX_PASSWORD=$(cat "$bd/admin.pw") "$MIGRABOX" user add admin --admin \
            -c "$bd/serve.conf" > "$log.user.out" 2>&1 || die "migrabox user add failed"
        # The CSV (passwords inside: mode 0600). Source port: the plain one, so that the rows'
        # TLS "auto" means STARTTLS (implicit TLS only on port 993).
        install -m 600 /dev/null "$bd/batch.csv"
        {
            printf 'login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only\r\n'
            for i in $(seq 1 "$BULK_N"); do
                printf '%s;%s;127.0.0.1:%s;defaut;%s;False\r\n' "${SRC_USER[bulk$i]}" \
                    "$(cat "$W/bulk$i.pw")" "$SRC_PLAIN_PORT" "$(dest_user "bulk$i" migrabox 1)"
            done
        } > "$bd/batch.csv"
        sync
        BENCH_ADMIN_PW=$(cat "$bd/admin.pw") "$PY" "$ROOT/bench/bulk_serve.py" "$MIGRABOX" \
            "$bd/serve.conf" "$bd/batch.csv" "$log.serve.err" > "$bd/result.json" \
            2> "$log.err" || rc=$?
        cp "$bd/result.json" "$log.result.json"
        read -r wall rss cpu p50 p99 note < <("$PY" -c 'import json, sys
r = json.load(open(sys.argv[1]))
a = r.get("api_ms") or {}
g = lambda v: "" if v is None else str(v)
note = "jobs %s; API %s requests, max %s ms" % (
    ", ".join("%s %d" % kv for kv in sorted((r.get("jobs") or {}).items())), a.get("n", 0),
    g(a.get("max")))
if r.get("error"):
    note = "error: " + r["error"] + "; " + note
print(g(r["wall_s"]) or "-", g(r["rss_kb"]) or "-", g(r["cpu_s"]) or "-", g(a.get("p50")) or "-",
      g(a.get("p99")) or "-", note)' "$bd/result.json")
        for v in wall rss cpu p50 p99; do [ "${!v}" != - ] || printf -v "$v" '%s' ""; done
    else
        local list="$bd/list" rd suser spw dest cmd tlsopt=$TLS sport
        sport=$SRC_PORT
        [ "$TLS" = implicit ] && sport=$SRC_PLAIN_PORT  # STARTTLS, as migrabox's CSV rows
        : > "$list"
        for i in $(seq 1 "$BULK_N"); do
            rd="$bd/$i"
            mkdir -p "$rd"
            suser=${SRC_USER[bulk$i]} spw="$W/bulk$i.pw" dest=$(dest_user "bulk$i" "$tool" 1)
            cmd=()
            if ! build_cmd "$sport" "$DST_PORT"; then
                say "$tool: not installed (bulk round: not measured)"
                return 0
            fi
            # One script per box: its own logs and exit status.
            {
                printf '%q ' "${cmd[@]}"
                printf '> %q 2> %q; echo $? > %q\n' "$log-$i.out" "$log-$i.err" "$rd/rc"
            } > "$rd/run.sh"
            echo "$rd/run.sh" >> "$list"
        done
        sync
        t0=$(now)
        /usr/bin/time -f '%M %U %S' -o "$bd/time" xargs -P "$BULK_W" -n 1 bash < "$list" \
            > "$log.xargs.out" 2>&1 || rc=$?
        t1=$(now)
        wall=$(elapsed "$t0" "$t1")
        rss=$(tail -n 1 "$bd/time" | awk '{print $1}')
        cpu=$(tail -n 1 "$bd/time" | awk '{printf "%.2f", $2 + $3}')
        local nbad=0
        for i in $(seq 1 "$BULK_N"); do
            [ "$(cat "$bd/$i/rc" 2>/dev/null)" = 0 ] || nbad=$((nbad + 1))
        done
        [ "$nbad" = 0 ] || rc=1
        note="$BULK_W at a time (xargs -P); peak RSS: the largest single $tool process;"
        note="$note $nbad exit status(es) not 0"
    fi
    bulk_verify "$tool"
    local verdict=$BULK_VERDICT
    [ "$rc" = 0 ] || verdict="WRONG: exit status $rc; $verdict"
    record bulk "$tool" 1 "$wall" "$rss" "$cpu" "$rc" bulk "$verdict" "$note" "$p50" "$p99"
    say "$(printf '%-8s %-15s %8ss  RSS %6s KB  API p50/p99 %s/%s ms  %s' bulk "$tool" "$wall" \
        "$rss" "${p50:--}" "${p99:--}" "$verdict")"
}

# ---- rounds ----
for round in $ROUNDS; do
    case "$round" in
    loopback)
        say "round loopback: $(corpus_stats mixed |
            awk '{printf "%d messages, %.1f MB, %d folders", $1, $2/1e6, $3}')"
        # Each repetition starts with a different tool, so no tool always runs first.
        read -r -a tl <<< "$TOOLS"
        for rep in $(seq 1 "$REPEAT"); do
            for k in "${!tl[@]}"; do
                run_tool loopback "${tl[$(( (k + rep - 1) % ${#tl[@]} ))]}" mixed "$SRC_PORT" "$rep"
            done
        done
        ;;
    rtt50)
        "$PY" "$ROOT/bench/delay_proxy.py" --target "127.0.0.1:$SRC_PORT" --delay-ms "$DELAY_MS" \
            --port-file "$W/proxy.port" > "$W/proxy.out" 2> "$OUT/runs/proxy.err" &
        PROXY_PID=$!
        for _ in $(seq 1 100); do [ -s "$W/proxy.port" ] && break; sleep 0.05; done
        [ -s "$W/proxy.port" ] || die "delay proxy did not start"
        say "round rtt50: source behind a ${DELAY_MS} ms-each-way proxy, $(corpus_stats rtt |
            awk '{printf "%d messages, %.1f MB", $1, $2/1e6}')"
        for tool in $TOOLS; do run_tool rtt50 "$tool" rtt "$(cat "$W/proxy.port")" 1; done
        kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=""
        ;;
    big)
        say "round big: $(corpus_stats big | awk '{printf "%d messages, %.1f MB", $1, $2/1e6}')"
        for tool in $TOOLS; do run_tool big "$tool" big "$SRC_PORT" 1; done
        ;;
    folders50|folders50src|delta200)
        rtools=$(round_tools "$round")
        if [ "$round" = delta200 ]; then d=$DELTA_DELAY_MS corpus=delta; else d=$DELAY_MS corpus=folders; fi
        say "round $round: $(corpus_stats "$corpus" |
            awk '{printf "%d messages, %.1f MB, %d folders", $1, $2/1e6, $3}'), +$d ms each way on" \
            "$([ "$round" = folders50src ] && echo "the source side" || echo "both sides")"
        if [ "$round" = delta200 ]; then
            # Both passes go to the same proxy ports (the tools key their state by host and
            # port): the first pass with no delay, then the proxies are restarted on the same
            # ports with the delay for the timed pass.
            delta_slow_proxies() {
                stop_proxies
                start_proxy "$SRC_PORT" "$DELTA_DELAY_MS" src "$psrc"
                start_proxy "$DST_PORT" "$DELTA_DELAY_MS" dst "$pdst"
            }
            psrc=0 pdst=0
            for tool in $rtools; do
                start_proxy "$SRC_PORT" 0 src "$psrc"; psrc=$PROXY_PORT
                start_proxy "$DST_PORT" 0 dst "$pdst"; pdst=$PROXY_PORT
                BETWEEN_PASSES=delta_slow_proxies
                run_tool "$round" "$tool" "$corpus" "$psrc" 1 "$pdst" "$psrc" "$pdst"
                BETWEEN_PASSES=""
                stop_proxies
            done
        else
            start_proxy "$SRC_PORT" "$d" src; psrc=$PROXY_PORT
            pdst=$DST_PORT
            if [ "$round" != folders50src ]; then start_proxy "$DST_PORT" "$d" dst; pdst=$PROXY_PORT; fi
            for tool in $rtools; do run_tool "$round" "$tool" "$corpus" "$psrc" 1 "$pdst"; done
            stop_proxies
        fi
        ;;
    bulk)
        say "round bulk: $BULK_N mailboxes, $(corpus_stats bulk |
            awk '{printf "%d messages, %.1f MB, %d folders", $1, $2/1e6, $3}'), $BULK_W at a time"
        for tool in $BULK_TOOLS; do
            case " $TOOLS imapsync " in *" $tool "*) run_bulk "$tool" ;; esac
        done
        ;;
    cluster)
        # Several nodes on one PostgreSQL store (issue 16): its own Dovecot pair, PostgreSQL
        # cluster and table (build/bench/cluster.txt), appended to results.txt below.
        say "round cluster: bench/cluster.sh"
        MIGRABOX=$MIGRABOX bash "$ROOT/bench/cluster.sh" || say "round cluster failed"
        ;;
    *) die "unknown round $round" ;;
    esac
done

cp "$RESULTS" "$OUT/results.tsv"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
mem=$(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo)
rev=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')
(cd "$ROOT" && git diff --quiet HEAD -- src 2>/dev/null) || rev="$rev (src modified)"
versions="dovecot $(dovecot --version | cut -d' ' -f1), $(mbsync --version 2>/dev/null | head -n1)"
versions="$versions, Python $("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [ "$TLS" = implicit ]; then transport="implicit TLS on every IMAP connection"
else transport="plain IMAP (no TLS)"; fi
{
    echo "machine: $(nproc) CPU ($cpu), $mem, $(uname -sr)"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" \
        "(other work on the machine adds noise)"
    echo "migrabox $rev, $versions"
    echo "servers' mail: $SV_BASE ($(df -PT "$SV" | awk 'NR == 2 {print $2}')); the tools' state" \
        "and logs: $W ($(df -PT "$W" | awk 'NR == 2 {print $2}'))"
    echo "transport: $transport; rtt50: source behind bench/delay_proxy.py" \
        "(+${DELAY_MS} ms each way), destination local; folders50: both sides +${DELAY_MS} ms" \
        "each way, folders50src: the source side only; delta200: both sides +${DELTA_DELAY_MS} ms each way"
    if [[ " $ROUNDS " == *" bulk "* ]]; then
        echo "bulk: $BULK_N mailboxes, serve with $BULK_W workers, the others $BULK_W at a time;" \
            "source through $([ "$TLS" = implicit ] && echo "STARTTLS on its plain port for every" \
            "tool (a CSV row's TLS is auto: implicit on port 993 only)" || echo "plain IMAP" \
            "(migrabox: STARTTLS, a CSV row's TLS is auto)"); API: GET /api/jobs?batch=ID every" \
            "~100 ms during the round"
    fi
} > "$W/meta.txt"
"$PY" "$ROOT/bench/report.py" "$RESULTS" "$W/meta.txt" > "$OUT/results.txt"
if [[ " $ROUNDS " == *" cluster "* ]] && [ -s "$OUT/cluster.txt" ]; then
    { echo; echo "cluster round (bench/cluster.sh):"; cat "$OUT/cluster.txt"; } >> "$OUT/results.txt"
fi
cat "$OUT/results.txt"
say "total $(elapsed "$T0" "$(now)") s; table in build/bench/results.txt"
