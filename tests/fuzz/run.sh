#!/usr/bin/env bash
# Run every built libFuzzer target for N seconds: tests/fuzz/run.sh SECONDS BIN...
# Seeds from tests/fuzz/corpus/<name>/ (read-only), new inputs kept in build/fuzz/corpus-<name>/,
# dictionary tests/fuzz/<name>.dict when present. Fails on any finding.
set -u
secs=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
status=0
for f in "$@"; do
    n=$(basename "$f"); short=${n#fuzz_}
    work="$(dirname "$f")/corpus-$short"; mkdir -p "$work"
    args=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
          -artifact_prefix="$(dirname "$f")/crash-$short-")
    [ -f "$here/$short.dict" ] && args+=(-dict="$here/$short.dict")
    dirs=("$work"); [ -d "$here/corpus/$short" ] && dirs+=("$here/corpus/$short")
    log=$(mktemp)
    "$f" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then
        echo "ok - fuzz $short: ${execs:-?} executions in $secs s, no finding"
    else
        echo "FAIL - fuzz $short (exit $rc)"; grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -20
        status=1
    fi
    rm -f "$log"
done
exit $status
