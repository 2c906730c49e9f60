#!/usr/bin/env bash
# Run every test of migrabox: the unit test binaries, then the integration scripts in
# tests/integ/test_*.sh. Each prints "ok - …" / "FAIL - …" lines; this script adds the
# counts up and ends with one "N passed, N failed, N skipped" line (skipped: "skip - …" lines,
# checks a script could not run here, e.g. without root or gdb). Exit status 1 on any failure.
#
# The integration scripts run TEST_JOBS at a time (default: the number of CPUs, at most 4;
# TEST_JOBS=1 runs them one after the other). Each one starts its own servers on free loopback
# ports in its own temporary directory, so they do not share state; the longest ones start
# first. A script's output is printed in one piece when it ends.
#
# Environment (set by `make test`): MIGRABOX (binary), TESTBIN (test binaries dir),
# UNIT_BIN (unit test binaries), VALGRIND=1 (run unit tests under valgrind),
# ONLY=pattern (run only matching unit binaries / integration scripts), TEST_JOBS.
set -u
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 skipped=0 broken=()

count() {  # count ok/FAIL lines of a log; a non-zero exit without FAIL lines counts as one failure
    local log=$1 rc=$2 name=$3 p f
    p=$(grep -c '^ok - ' "$log" || true)
    f=$(grep -c '^FAIL - ' "$log" || true)
    skipped=$((skipped + $(grep -c '^skip - ' "$log" || true)))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL - $name exited with status $rc"; fi
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -eq 0 ] || broken+=("$name")
}

tmp=$(mktemp -d)
declare -A names=()  # running scripts: pid -> name
declare -A started=()  # script name -> start time (s)
cleanup() {
    [ ${#names[@]} -eq 0 ] || kill "${!names[@]}" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in ${UNIT_BIN:-}; do
    name=$(basename "$t")
    [ -z "${ONLY:-}" ] || [[ $name == *$ONLY* ]] || continue
    echo "== unit: $name"
    if [ "${VALGRIND:-0}" = 1 ]; then
        (cd "$(dirname "$t")" && valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
            --show-leak-kinds=definite,indirect,possible --error-exitcode=213 "./$name") >"$tmp/log" 2>&1
    else
        (cd "$(dirname "$t")" && "./$name") >"$tmp/log" 2>&1
    fi
    rc=$?
    grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/log"
    count "$tmp/log" "$rc" "$name"
done

jobs=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs =~ ^[0-9]+$ ]] && [ "$jobs" -ge 1 ] || jobs=1
[ -n "${TEST_JOBS:-}" ] || [ "$jobs" -le 4 ] || jobs=4

# The scripts, longest first (measured), then the others in name order.
first="test_field_kills test_field_cuts test_field_sources test_web test_migrate test_oauth"
scripts=()
for name in $first; do
    [ -f "$here/integ/$name.sh" ] && scripts+=("$here/integ/$name.sh")
done
for s in "$here"/integ/test_*.sh; do
    [ -f "$s" ] || continue
    [[ " $first " == *" $(basename "$s" .sh) "* ]] || scripts+=("$s")
done

report() {  # report NAME RC: print and count a script's output
    echo "== integration: $1 ($(( $(date +%s) - ${started[$1]} )) s)"
    grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/$1.log"
    count "$tmp/$1.log" "$2" "$1"
}
reap() {  # wait for one running script to end and report it
    local pid="" rc
    wait -n -p pid "${!names[@]}"
    rc=$?
    if [ -z "$pid" ]; then  # interrupted, or already reaped: collect whatever has ended
        for pid in "${!names[@]}"; do
            kill -0 "$pid" 2>/dev/null && continue
            wait "$pid"
            report "${names[$pid]}" "$?"
            unset "names[$pid]"
        done
        return 0
    fi
    report "${names[$pid]}" "$rc"
    unset "names[$pid]"
}

for s in "${scripts[@]}"; do
    name=$(basename "$s" .sh)
    [ -z "${ONLY:-}" ] || [[ $name == *$ONLY* ]] || continue
    while [ ${#names[@]} -ge "$jobs" ]; do reap; done
    started[$name]=$(date +%s)
    bash "$s" >"$tmp/$name.log" 2>&1 &
    names[$!]=$name
done
while [ ${#names[@]} -gt 0 ]; do reap; done

[ ${#broken[@]} -eq 0 ] || echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
