#!/usr/bin/env bash
# Run every test of migrabox: the unit test binaries, then the integration scripts in
# tests/integ/test_*.sh. Each prints "ok - …" / "FAIL - …" lines; this script adds the
# counts up and ends with one "N passed, N failed, N skipped" line (skipped: "skip - …" lines,
# checks a script could not run here, e.g. without root or gdb). Exit status 1 on any failure.
#
# Environment (set by `make test`): MIGRABOX (binary), TESTBIN (test binaries dir),
# UNIT_BIN (unit test binaries), VALGRIND=1 (run unit tests under valgrind),
# ONLY=pattern (run only matching unit binaries / integration scripts).
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

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
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

for s in "$here"/integ/test_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    [ -z "${ONLY:-}" ] || [[ $name == *$ONLY* ]] || continue
    echo "== integration: $name"
    bash "$s" >"$tmp/log" 2>&1
    rc=$?
    grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/log"
    count "$tmp/log" "$rc" "$name"
done

[ ${#broken[@]} -eq 0 ] || echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
