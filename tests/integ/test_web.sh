#!/usr/bin/env bash
# Browser tests (tests/web, Debian chromium driven by playwright-core) against a real
# `migrabox serve` and a Dovecot pair: sign-in, an individual migration until TERMINÉE on
# screen, a CSV with one bad line, the English switch, phone width, keyboard. Screenshots are
# kept in build/web-artifacts/. The tests' own ok/not ok lines are counted here.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
DC="$here/dovecot.sh"
if [ "${SANITIZE:-0}" = 1 ]; then
    skip "browser tests (run once, on the release build)"
    finish
fi
if ! command -v node >/dev/null || [ ! -x /usr/bin/chromium ] || [ ! -d "$top/tests/web/node_modules/playwright-core" ]; then
    fail "browser test tools present" "needs node, /usr/bin/chromium and tests/web/node_modules (run: make deps)"
    finish
fi
work=$(mktemp -d)
serve_pid=""
cleanup() {
    [ -n "$serve_pid" ] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    "$DC" stop "$work/src" "$work/dst" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

src_user='claire.martin@ancien.test'
src_pw='Mot2passe;Été"1'
dest='claire.martin@example.com'
"$DC" start "$work/src" >/dev/null && "$DC" start "$work/dst" --master --autocreate >/dev/null || {
    fail "start the Dovecot pair"; finish; }
printf '%s\n' "$src_pw" | "$DC" adduser "$work/src" "$src_user" - >/dev/null
printf 'x%s\n' "$RANDOM" | "$DC" adduser "$work/dst" "$dest" - >/dev/null
# small_dest: the quota plugin refuses the messages over 4 KB ([LIMIT]): refused messages.
small_dest='claire.petite@example.com'
printf 'x%s\n' "$RANDOM" | "$DC" adduser "$work/dst" "$small_dest" - >/dev/null
small_fields="userdb_mail_plugins=quota userdb_quota=count:User userdb_quota_vsizes=yes"
small_fields="$small_fields userdb_quota_max_mail_size=4k"
sed -i "s|^\($small_dest:.*::::::\)\$|\1$small_fields|" "$work/dst/users"
python3 "$top/packaging/demo/mkcorpus.py" 7 40 >"$work/spec.json"
IMAP_PASSWORD="$src_pw" python3 "$here/imaptool.py" --env "$work/src/env" --user "$src_user" \
    seed "$work/spec.json" >/dev/null || { fail "seed the source"; finish; }
(umask 077; . "$work/dst/env"; printf '%s\n' "$MASTER_PASSWORD" >"$work/master.secret")
cat >"$work/mb.conf" <<CONF
[server]
listen = 127.0.0.1:0
data_dir = $work/var
workers = 2
[sources]
ca_file = $work/src/ca.crt
allow = 127.0.0.0/8
connect_timeout = 5
[destination]
host = 127.0.0.1
port = $(. "$work/dst/env"; echo "$IMAPS_PORT")
tls = implicit
ca_file = $work/dst/ca.crt
master_user = admin
master_password_file = $work/master.secret
domains = example.com
CONF
web_pw='Web-Pass 42!'
MIGRABOX_PASSWORD=$web_pw "$MIGRABOX" user add claire --domain example.com -c "$work/mb.conf" >/dev/null 2>&1 \
    || { fail "create the web account"; finish; }
admin_pw='Web-Admin 7?'
MIGRABOX_PASSWORD=$admin_pw "$MIGRABOX" user add webadmin --admin -c "$work/mb.conf" >/dev/null 2>&1 \
    || { fail "create the web admin account"; finish; }
"$MIGRABOX" serve -c "$work/mb.conf" 2>"$work/serve.log" &
serve_pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$work/serve.log" | head -1 | sed 's/listening on //')
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { fail "serve starts" "$(cat "$work/serve.log")"; finish; }

# Screenshots go to build/web-artifacts/, or to the work directory when the build tree is not
# writable (a normal user running the tests of a tree it does not own).
art="$top/build/web-artifacts"
[ -w "$top/build" ] || art="$work/web-artifacts"
rm -rf "$art"; mkdir -p "$art"
out=$(cd "$top/tests/web" && MIGRABOX_URL="$url" MIGRABOX_TEST_USER=claire MIGRABOX_TEST_PASSWORD="$web_pw" \
    MIGRABOX_TEST_ADMIN=webadmin MIGRABOX_TEST_ADMIN_PASSWORD="$admin_pw" \
    MIGRABOX_TEST_SOURCE_HOST="127.0.0.1:$(. "$work/src/env"; echo "$IMAP_PORT")" \
    MIGRABOX_TEST_SOURCE_LOGIN="$src_user" MIGRABOX_TEST_SOURCE_PASSWORD="$src_pw" \
    MIGRABOX_TEST_SOURCE_TLS=auto MIGRABOX_TEST_DEST="$dest" MIGRABOX_TEST_SMALL_DEST="$small_dest" \
    MIGRABOX_WEB_ARTIFACTS="$art" timeout 600 node --test --test-reporter=tap 2>&1)
rc=$?
# Relay the TAP results as ok/FAIL lines (the password never reaches this output).
printf '%s\n' "$out" | grep -E '^ *(not )?ok [0-9]+ - ' | sed -E 's/^ *ok [0-9]+ - (.*)$/ok - web: \1/; s/^ *not ok [0-9]+ - (.*)$/FAIL - web: \1/' \
    | grep -v -E 'web: (ui|static)\.test\.mjs$'
printf '%s\n' "$out" | grep -qE '^# fail [1-9]' && printf '%s\n' "$out" | grep -E -A12 '^ *not ok' | head -60
n=$(ls "$art" 2>/dev/null | wc -l)
echo "  screenshots: $n file(s) in ${art#"$top/"}/"
if printf '%s\n' "$out" | grep -q -- "$src_pw"; then fail "no password in the browser test output"; else ok "no password in the browser test output"; fi
[ $rc -eq 0 ] || fail "browser tests exit status" "node --test exited $rc"
finish
