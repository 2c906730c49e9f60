#!/usr/bin/env bash
# Run every built libFuzzer target for N seconds: tests/fuzz/run.sh SECONDS BIN...
# Seeds from tests/fuzz/corpus/<name>/ (read-only), new inputs kept in build/fuzz/corpus-<name>/,
# dictionary tests/fuzz/<name>.dict when present. Fails on any finding. The targets run
# FUZZ_JOBS at a time (default: the number of CPUs), one CPU each.
set -u
secs=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

fuzz_one() {  # fuzz_one BIN: run one target, print its ok/FAIL line, exit status 1 on a finding
    local f=$1 n short work log rc execs
    n=$(basename "$f"); short=${n#fuzz_}
    work="$(dirname "$f")/corpus-$short"; mkdir -p "$work"
    local args=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
                -artifact_prefix="$(dirname "$f")/crash-$short-")
    [ -f "$here/$short.dict" ] && args+=(-dict="$here/$short.dict")
    local dirs=("$work"); [ -d "$here/corpus/$short" ] && dirs+=("$here/corpus/$short")
    log="$tmp/$short.log"
    "$f" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then
        echo "ok - fuzz $short: ${execs:-?} executions in $secs s, no finding"
    else
        echo "FAIL - fuzz $short (exit $rc)"; grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -20
        return 1
    fi
}

status=0
running=0
for f in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    fuzz_one "$f" >"$tmp/$(basename "$f").out" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
for f in "$@"; do cat "$tmp/$(basename "$f").out"; done
exit $status
