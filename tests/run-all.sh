#!/usr/bin/env bash
# Run the tests of migrabox: the unit test binaries and the integration scripts in
# tests/integ/test_*.sh. Each prints "ok - …" / "FAIL - …" lines; this script adds the counts
# up and ends with one "N passed, N failed, N skipped" line (skipped: "skip - …" lines, checks
# a script could not run here, e.g. without root or gdb). Exit status 1 on any failure.
#
# The tests run TEST_JOBS at a time (default: the number of CPUs, at most 4; TEST_JOBS=1 runs
# them one after the other). Each integration script starts its own servers on free loopback
# ports in its own temporary directory, so they do not share state; the longest ones start
# first. A test's output is printed in one piece when it ends, with its time.
#
# Environment (set by `make test`, `make unit`, `make integ`): MIGRABOX (binary), TESTBIN
# (test binaries dir), UNIT_BIN (unit test binaries), RUN=all|unit|integ (default all),
# VALGRIND=1 (run unit tests under valgrind), ONLY=pattern (only the matching unit binaries /
# integration scripts), TEST_JOBS.
set -u
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 skipped=0 broken=()
run=${RUN:-all}

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
declare -A names=()    # running tests: pid -> name
declare -A kinds=()    # test name -> unit | integration
declare -A started=()  # test name -> start time (s)
cleanup() {
    [ ${#names[@]} -eq 0 ] || kill "${!names[@]}" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

jobs=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs =~ ^[0-9]+$ ]] && [ "$jobs" -ge 1 ] || jobs=1
[ -n "${TEST_JOBS:-}" ] || [ "$jobs" -le 4 ] || jobs=4

run_test() {  # run_test KIND PATH: one test, its output on stdout
    if [ "$1" = integration ]; then
        exec bash "$2"
    fi
    cd "$(dirname "$2")" || exit 1
    if [ "${VALGRIND:-0}" = 1 ]; then
        exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
            --show-leak-kinds=definite,indirect,possible --error-exitcode=213 "./$(basename "$2")"
    fi
    exec "./$(basename "$2")"
}

# What to run, in order: the longest integration scripts (measured), the unit binaries, then
# the other scripts in name order.
first="test_field_kills test_field_cuts test_field_sources test_web test_presets test_oauth test_pg_suites test_cluster_pg test_migrate"
tests=()
if [ "$run" != unit ]; then
    for name in $first; do
        [ -f "$here/integ/$name.sh" ] && tests+=("integration:$here/integ/$name.sh")
    done
fi
if [ "$run" != integ ]; then
    for t in ${UNIT_BIN:-}; do tests+=("unit:$t"); done
fi
if [ "$run" != unit ]; then
    for s in "$here"/integ/test_*.sh; do
        [ -f "$s" ] || continue
        [[ " $first " == *" $(basename "$s" .sh) "* ]] || tests+=("integration:$s")
    done
fi

report() {  # report NAME RC: print and count a test's output
    echo "== ${kinds[$1]}: $1 ($(( $(date +%s) - ${started[$1]} )) s)"
    grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/$1.log"
    count "$tmp/$1.log" "$2" "$1"
}
reap() {  # wait for one running test to end and report it
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

for t in "${tests[@]}"; do
    kind=${t%%:*} path=${t#*:}
    name=$(basename "$path" .sh)
    [ -z "${ONLY:-}" ] || [[ $name == *$ONLY* ]] || continue
    while [ ${#names[@]} -ge "$jobs" ]; do reap; done
    kinds[$name]=$kind
    started[$name]=$(date +%s)
    run_test "$kind" "$path" >"$tmp/$name.log" 2>&1 &
    names[$!]=$name
done
while [ ${#names[@]} -gt 0 ]; do reap; done

[ ${#broken[@]} -eq 0 ] || echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
