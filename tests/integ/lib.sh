# Shared helpers for integration test scripts (sourced). Each script prints one
# "ok - name" / "FAIL - name" line per check and calls finish at the end.
: "${MIGRABOX:?MIGRABOX must point to the migrabox binary (run through make test)}"
# dovecot lives in /usr/sbin, which a normal user's PATH often lacks.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
T_PASS=0
T_FAIL=0
ok()   { echo "ok - $1"; T_PASS=$((T_PASS + 1)); }
fail() { echo "FAIL - $1"; [ -n "${2:-}" ] && printf '  %s\n' "$2"; T_FAIL=$((T_FAIL + 1)); }
skip() { echo "skip - $1"; }
check() {  # check NAME CMD...: ok when CMD succeeds
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else fail "$name" "$out"; fi
}
# store_conf DATA_DIR: when the suites run on PostgreSQL (MB_TEST_PG_DIR: a cluster of
# pg.sh, set by test_pg_suites.sh), the [store] section of a configuration whose data_dir is
# DATA_DIR: one database per data_dir, created on first use. Else nothing (SQLite).
store_conf() {
    [ -n "${MB_TEST_PG_DIR:-}" ] || return 0
    . "$(dirname "${BASH_SOURCE[0]}")/pg.sh"
    local db d=$MB_TEST_PG_DIR
    db="mb_$(printf '%s' "$1" | md5sum | cut -c1-16)"
    if [ -z "$(PG_DB=postgres pg_psql "$d" "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        PG_DB=postgres pg_psql "$d" "CREATE DATABASE $db OWNER migrabox" >/dev/null
    fi
    printf '[store]\nbackend = postgresql\nurl = postgresql://migrabox@127.0.0.1:%s/%s\n' \
        "$(cat "$d/port")" "$db"
    printf 'password_file = %s\nca_file = %s\n' "$d/db.secret" "$d/ca.crt"
}
finish() { echo "$T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; exit $?; }
