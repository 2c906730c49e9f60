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
finish() { echo "$T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; exit $?; }
