#!/usr/bin/env bash
# The API and engine suites again, on the PostgreSQL store (issue 16): one private PostgreSQL
# cluster (tests/integ/pg.sh: 127.0.0.1, TLS only, verify-full against a test CA), and
# test_api.sh and test_migrate.sh run with MB_TEST_PG_DIR set, so that every configuration they
# write gets a [store] section with backend = postgresql (lib.sh store_conf: one database per
# data_dir). Their ok/FAIL/skip lines are passed on with "pg: " in front.
# PG_SUITES overrides the list (names of test scripts without .sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/pg.sh"

if [ "${SANITIZE:-0}" = 1 ]; then
    skip "suites on PostgreSQL: run once, on the release build (not under sanitizers)"
    finish
fi
if ! pg_available; then
    skip "suites on PostgreSQL: PostgreSQL 15 server binaries not installed ($PG_BIN)"
    finish
fi
work=$(mktemp -d)
cleanup() {
    pg_stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT
if ! pg_start "$work/pg" 2>"$work/pgstart.log"; then
    fail "private PostgreSQL cluster starts" "$(tail -20 "$work/pgstart.log")"
    finish
fi
export MB_TEST_PG_DIR=$work/pg
for t in ${PG_SUITES:-test_api test_migrate}; do
    start=$(date +%s)
    bash "$here/$t.sh" >"$work/$t.log" 2>&1
    rc=$?
    sed -n -e 's/^ok - /ok - pg: '"$t"': /p' -e 's/^skip - /skip - pg: '"$t"': /p' "$work/$t.log"
    if grep -q '^FAIL - ' "$work/$t.log"; then
        # the failure lines with their detail (indented lines after them)
        awk -v t="$t" '/^FAIL - /{sub(/^FAIL - /, "FAIL - pg: " t ": "); p=1; print; next}
                       /^  /{if (p) print; next} {p=0}' "$work/$t.log"
    elif [ $rc -ne 0 ]; then
        echo "FAIL - pg: $t exited with status $rc"
        tail -5 "$work/$t.log" | sed 's/^/  /'
        T_FAIL=$((T_FAIL + 1))
    fi
    T_PASS=$((T_PASS + $(grep -c '^ok - ' "$work/$t.log")))
    T_FAIL=$((T_FAIL + $(grep -c '^FAIL - ' "$work/$t.log")))
    echo "# pg: $t: $(( $(date +%s) - start )) s"
done
finish
