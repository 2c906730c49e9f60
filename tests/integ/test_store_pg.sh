#!/usr/bin/env bash
# The PostgreSQL store (issue 16) against a real PostgreSQL 15 (tests/integ/pg.sh: a private
# cluster on 127.0.0.1, TLS only, certificate of a test CA for 127.0.0.1): `migrabox store
# check` (TLS verified with sslmode=verify-full by default, versioned schema applied once),
# refusals (wrong CA, host name not in the certificate, no TLS, wrong password), and `migrabox
# store migrate` of an SQLite appliance holding finished and pending jobs, a message map, logs
# with awkward text, binary columns, an account, a session and folder states: every row of
# every table arrives, byte for byte; a second run is refused; ids continue after the highest.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/pg.sh"

if ! pg_available; then
    skip "PostgreSQL store: PostgreSQL 15 server binaries not installed ($PG_BIN; package postgresql-15)"
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
ok "private PostgreSQL cluster on 127.0.0.1:$PG_PORT (TLS only)"

conf() {  # conf FILE URL CA: a configuration using the PostgreSQL store at URL
    cat >"$1" <<EOF
[server]
data_dir = $work/var
[destination]
domains = example.com
[store]
backend = ${4:-sqlite}
url = $2
password_file = $PG_PWFILE
ca_file = $3
lease = 60s
EOF
}
conf "$work/good.conf" "$PG_URL" "$PG_CA"

# ---- store check: TLS verified, schema applied once ----
out=$("$MIGRABOX" store check -c "$work/good.conf" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [[ $out == *"TLS TLSv1."* ]] && [[ $out == *"schema version 7 (7 step(s) applied now)"* ]]; then
    ok "store check: connects over verified TLS and applies the schema ($(head -1 <<<"$out" | cut -c1-110))"
else
    fail "store check: connects over verified TLS and applies the schema" "rc=$rc: $out"
fi
out=$("$MIGRABOX" store check -c "$work/good.conf" 2>&1)
if [[ $out == *"schema version 7 (0 step(s) applied now)"* ]]; then
    ok "store check again: no step applied twice"
else
    fail "store check again: no step applied twice" "$out"
fi
v=$(pg_psql "$work/pg" "SELECT version FROM migrabox_schema" 2>&1)
[ "$v" = 7 ] && ok "migrabox_schema holds version 7" || fail "migrabox_schema holds version 7" "$v"
# Several nodes starting at once: the advisory lock makes each step run once.
pg_psql "$work/pg" "DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION migrabox" >/dev/null
for i in 1 2 3 4; do "$MIGRABOX" store check -c "$work/good.conf" >"$work/par$i.out" 2>&1 & done
wait
n_applied=$(grep -l "(7 step(s) applied now)" "$work"/par*.out | wc -l)
n_ok=$(grep -l "schema version 7" "$work"/par*.out | wc -l)
if [ "$n_applied" = 1 ] && [ "$n_ok" = 4 ]; then
    ok "4 nodes migrating at once: one applies the schema, all end at version 7"
else
    fail "4 nodes migrating at once: one applies the schema" "$(cat "$work"/par*.out)"
fi

# ---- refusals ----
refused() {  # refused NAME PATTERN CONF
    local out rc
    out=$("$MIGRABOX" store check -c "$3" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [[ $out == *$2* ]] && [[ $out != *"$(cat "$PG_PWFILE")"* ]]; then
        ok "$1"
    else
        fail "$1" "rc=$rc: $out"
    fi
}
conf "$work/wrongca.conf" "$PG_URL" /etc/ssl/certs/ca-certificates.crt
refused "refused: server certificate not signed by [store] ca_file" "certificate verify failed" \
    "$work/wrongca.conf"
conf "$work/name.conf" "postgresql://migrabox@localhost:$PG_PORT/migrabox" "$PG_CA"
refused "refused: host name of the url not in the certificate (verify-full by default)" \
    "does not match host name" "$work/name.conf"
conf "$work/notls.conf" "$PG_URL?sslmode=disable" "$PG_CA"
refused "refused: a connection without TLS (the server only takes hostssl)" "no encryption" \
    "$work/notls.conf"
printf 'not-the-password\n' >"$work/bad.secret"
sed "s|^password_file = .*|password_file = $work/bad.secret|" "$work/good.conf" >"$work/badpw.conf"
refused "refused: wrong password, not shown" "password authentication failed" "$work/badpw.conf"
# backend = postgresql: the commands use the PostgreSQL store, not data_dir (another database).
PG_DB=postgres pg_psql "$work/pg" "CREATE DATABASE other OWNER migrabox" >/dev/null
conf "$work/pgbackend.conf" "${PG_URL%/migrabox}/other" "$PG_CA" postgresql
out=$(MIGRABOX_PASSWORD=other-admin-pw "$MIGRABOX" user add boss --admin -c "$work/pgbackend.conf" 2>&1)
rc=$?
n=$(PG_DB=other pg_psql "$work/pg" "SELECT count(*) FROM accounts WHERE name = 'boss'" 2>&1)
if [ $rc -eq 0 ] && [ "$n" = 1 ] && [ ! -e "$work/var/migrabox.db" ]; then
    ok "backend = postgresql: 'user add' writes to PostgreSQL (schema made on first use), not data_dir"
else
    fail "backend = postgresql: 'user add' writes to PostgreSQL" "rc=$rc n=$n: $out"
fi

# ---- store migrate: an SQLite appliance with finished and pending jobs ----
mkdir -p "$work/var"
printf 'admin-pw-%s\n' "$RANDOM" >"$work/admin.pw"
MIGRABOX_PASSWORD=$(cat "$work/admin.pw") "$MIGRABOX" user add admin --admin -c "$work/good.conf" \
    >/dev/null 2>&1 || fail "user add on the SQLite appliance"
{
    echo "login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only"
    for i in $(seq 1 12); do
        echo "user$i@src.test;\"pw\"\"$i\";imap.src.test:993;defaut;user$i@example.com;False"
    done
} >"$work/batch.csv"
out=$("$MIGRABOX" import -c "$work/good.conf" "$work/batch.csv" 2>&1) \
    || fail "import of a 12-row batch on the SQLite appliance" "$out"
db=$work/var/migrabox.db
# Jobs 1-4 finished (done/failed) with a message map, logs and folder states, the rest pending.
sqlite3 "$db" >/dev/null <<'EOF'
UPDATE jobs SET state = 'done', finished_at = 1700000000, messages_total = 3, messages_copied = 3,
  report = 'Rapport: 3 messages copiés' || char(10) || 'tab' || char(9) || 'back\slash'
  WHERE id IN (1, 2);
UPDATE jobs SET state = 'failed', error = 'Échec: « mot de passe »' || char(13) || char(10) || 'x'
  WHERE id IN (3, 4);
UPDATE jobs SET state = 'running', worker = 'worker-1', heartbeat_at = 1700000000 WHERE id = 12;
INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state, dest_folder, dest_uid, size, hash,
  message_id, flags)
  SELECT j.id, 'INBOX/Été' || char(9) || 'x', 42, u.value, 1, 'INBOX', u.value, 1000 + u.value,
         randomblob(32), '<m' || u.value || '@src.test>', '\Seen'
  FROM jobs j, generate_series(1, 50) u WHERE j.id <= 4;
INSERT INTO job_log (job_id, ts, level, text) SELECT id, 1700000000, 'info',
  'ligne\N avec \t « guillemets » ' || char(10) || 'et un saut' FROM jobs;
INSERT INTO folder_state (job_id, folder, uidvalidity, uidnext, messages, highestmodseq,
  dest_uidvalidity, counted, bytes, dest_count, at) VALUES (1, 'INBOX', 42, 51, 50, 7, 9, 50, 5000, 50, 1);
INSERT INTO sessions (token_hash, account_id, csrf, created_at, expires_at)
  VALUES (randomblob(32), 1, 'csrf', 1, 2);
EOF
"$MIGRABOX" store check -c "$work/good.conf" >/dev/null 2>&1
out=$("$MIGRABOX" store migrate -c "$work/good.conf" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [[ $out == *"jobs: 12 rows"* ]] && [[ $out == *"msgmap: 200 rows"* ]]; then
    ok "store migrate: SQLite appliance copied (12 jobs, 200 message-map rows)"
else
    fail "store migrate: SQLite appliance copied" "rc=$rc: $out"
fi
# Every table: same rows, byte for byte (text and binary columns as hex).
same() {  # same NAME SQLITE_SQL PG_SQL
    local a b
    a=$(sqlite3 "$db" "$2" 2>&1)
    b=$(pg_psql "$work/pg" "$3" 2>&1)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "$1"; else fail "$1" "sqlite: ${a:0:300}
postgresql: ${b:0:300}"; fi
}
n=$(pg_psql "$work/pg" "SELECT count(*) FROM job_log WHERE job_id = 12 AND text LIKE 'interrupted by the move%'")
[ "$n" = 1 ] && ok "the job left running is queued again, with a log line" \
    || fail "the job left running is queued again" "$n"
for t in accounts account_domains batches auth_profiles jobs msgmap sessions \
    webhook_outbox api_tokens folder_state nodes; do
    same "table $t: same row count" "SELECT '$t', count(*) FROM $t" "SELECT '$t|' || count(*) FROM $t"
done
same "jobs: states, logins, counters, errors and reports identical (the running one queued again)" \
    "SELECT id, CASE state WHEN 'running' THEN 'pending' ELSE state END, source_login, dest_login, dest_domain, pair_key IS NOT NULL, messages_copied, hex(coalesce(error,'')), hex(coalesce(report,'')), hex(source_secret) FROM jobs ORDER BY id" \
    "SELECT id || '|' || state || '|' || source_login || '|' || dest_login || '|' || dest_domain || '|' || (CASE WHEN pair_key IS NOT NULL THEN 1 ELSE 0 END) || '|' || messages_copied || '|' || upper(encode(convert_to(coalesce(error,''),'UTF8'),'hex')) || '|' || upper(encode(convert_to(coalesce(report,''),'UTF8'),'hex')) || '|' || upper(encode(source_secret,'hex')) FROM jobs ORDER BY id"
same "msgmap: folders (UTF-8, tab), uids, hashes (binary), message ids identical" \
    "SELECT job_id, hex(folder), uid, dest_uid, size, hex(hash), message_id, flags FROM msgmap ORDER BY job_id, uid" \
    "SELECT job_id || '|' || upper(encode(convert_to(folder,'UTF8'),'hex')) || '|' || uid || '|' || dest_uid || '|' || size || '|' || upper(encode(hash,'hex')) || '|' || message_id || '|' || flags FROM msgmap ORDER BY job_id, uid"
same "job_log: text with backslashes, newlines, guillemets identical" \
    "SELECT id, job_id, hex(text) FROM job_log ORDER BY id" \
    "SELECT id || '|' || job_id || '|' || upper(encode(convert_to(text,'UTF8'),'hex')) FROM job_log WHERE text NOT LIKE 'interrupted by the move%' ORDER BY id"
same "accounts and sessions identical (password hash, token hash)" \
    "SELECT a.name, a.pwhash, a.admin, hex(s.token_hash) FROM accounts a JOIN sessions s ON s.account_id = a.id" \
    "SELECT a.name || '|' || a.pwhash || '|' || a.admin || '|' || upper(encode(s.token_hash,'hex')) FROM accounts a JOIN sessions s ON s.account_id = a.id"

out=$("$MIGRABOX" store migrate -c "$work/good.conf" 2>&1)
rc=$?
n=$(pg_psql "$work/pg" "SELECT count(*) FROM jobs")
if [ $rc -eq 2 ] && [[ $out == *"must be empty"* ]] && [ "$n" = 12 ]; then
    ok "store migrate again: refused (store not empty), nothing changed"
else
    fail "store migrate again: refused" "rc=$rc n=$n: $out"
fi
id=$(pg_psql "$work/pg" "INSERT INTO jobs (source_host, source_port, source_tls, source_login, server_type, dest_login, dest_domain, created_at, updated_at) VALUES ('h', 993, 'implicit', 'l', 'defaut', 'd@example.com', 'example.com', 0, 0) RETURNING id" | head -1)
[ "$id" = 13 ] && ok "ids continue after the highest copied one (new job 13)" \
    || fail "ids continue after the highest copied one" "got $id"
n0=$(pg_psql "$work/pg" "SELECT count(*) FROM folder_state WHERE job_id = 1")
pg_psql "$work/pg" "UPDATE jobs SET options = '{}' WHERE id = 1" >/dev/null
n=$(pg_psql "$work/pg" "SELECT count(*) FROM folder_state WHERE job_id = 1")
[ "$n0" = 1 ] && [ "$n" = 0 ] && ok "new options of a job drop its folder states (trigger, as in SQLite)" \
    || fail "new options of a job drop its folder states" "$n0 before, $n left"
# The fence of the message map: a connection naming its node may write only the map of a job
# its node runs (a node that lost its lease cannot record copies over the new owner's).
out=$(pg_psql "$work/pg" "SET migrabox.node = 'ghost-node'; INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state) VALUES (5, 'X', 1, 999, 0)" 2>&1)
rc=$?
pg_psql "$work/pg" "UPDATE jobs SET state = 'running', node = 'ghost-node' WHERE id = 6" >/dev/null
out2=$(pg_psql "$work/pg" "SET migrabox.node = 'ghost-node'; INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state) VALUES (6, 'X', 1, 999, 0)" 2>&1)
rc2=$?
if [ $rc -ne 0 ] && [[ $out == *"job 5 is not run by node ghost-node"* ]] && [ $rc2 -eq 0 ]; then
    ok "message map fenced: refused for a job another node (or none) runs, taken for its own"
else
    fail "message map fenced" "rc=$rc: $out / rc=$rc2: $out2"
fi
# ... DELETE included (a stale node's db_msgmap_forget*), but not the cascade of a deleted job.
pg_psql "$work/pg" "INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state) VALUES (5, 'D', 1, 1, 1)" >/dev/null
out3=$(pg_psql "$work/pg" "SET migrabox.node = 'ghost-node'; DELETE FROM msgmap WHERE job_id = 5 AND folder = 'D'" 2>&1)
rc3=$?
left3=$(pg_psql "$work/pg" "SELECT count(*) FROM msgmap WHERE job_id = 5 AND folder = 'D'")
out4=$(pg_psql "$work/pg" "SET migrabox.node = 'ghost-node'; DELETE FROM msgmap WHERE job_id = 6 AND folder = 'X'" 2>&1)
rc4=$?
if [ $rc3 -ne 0 ] && [[ $out3 == *"job 5 is not run by node ghost-node"* ]] && [ "$left3" = 1 ] \
    && [ $rc4 -eq 0 ]; then
    ok "message map fenced for DELETE: refused for another node's job (row kept), taken for its own"
else
    fail "message map fenced for DELETE" "rc=$rc3: $out3 (left $left3) / rc=$rc4: $out4"
fi
jc=$(pg_psql "$work/pg" "INSERT INTO jobs (source_host, source_port, source_tls, source_login, server_type, dest_login, dest_domain, created_at, updated_at) VALUES ('h', 993, 'implicit', 'cascade', 'defaut', 'c@example.com', 'example.com', 0, 0) RETURNING id" | head -1)
pg_psql "$work/pg" "INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state) VALUES ($jc, 'C', 1, 1, 1)" >/dev/null
out5=$(pg_psql "$work/pg" "SET migrabox.node = 'ghost-node'; DELETE FROM jobs WHERE id = $jc; SELECT count(*) FROM msgmap WHERE job_id = $jc" 2>&1)
rc5=$?
if [ $rc5 -eq 0 ] && [ "$(tail -1 <<<"$out5")" = 0 ]; then
    ok "message map fence: a deleted job's rows go with it (cascade not fenced)"
else
    fail "message map fence: a deleted job's rows go with it" "rc=$rc5: $out5"
fi
# ---- claims: row locks and per-host locks, no store-wide lock (tests/helpers/pg_claims.c) ----
PG_DB=postgres pg_psql "$work/pg" "CREATE DATABASE claims OWNER migrabox" >/dev/null
curl_claims="${PG_URL%/migrabox}/claims"
out=$("$TESTBIN/pg_claims" "$curl_claims" "$PG_PWFILE" "$PG_CA" load 8 200 4 2 2>&1)
if [ $? -eq 0 ]; then
    ok "8 processes claim 200 jobs of 4 hosts, cap 2: each once, cap and pair rule never broken ($out)"
else
    fail "8 processes claim 200 jobs of 4 hosts, cap 2" "$out"
fi
out=$("$TESTBIN/pg_claims" "$curl_claims" "$PG_PWFILE" "$PG_CA" load 8 120 1 3 2>&1)
if [ $? -eq 0 ]; then
    ok "8 processes claim 120 jobs of one host, cap 3: each once, never 4 running ($out)"
else
    fail "8 processes claim 120 jobs of one host, cap 3" "$out"
fi
out=$("$TESTBIN/pg_claims" "$curl_claims" "$PG_PWFILE" "$PG_CA" block 2>&1)
if [ $? -eq 0 ]; then
    ok "claims not serialized: not behind the store-wide write lock, nor behind another host's claim; behind their own host's ($(tr '\n' ';' <<<"$out"))"
else
    fail "claims not serialized by a store-wide lock" "$out"
fi
out=$("$TESTBIN/pg_claims" "$curl_claims" "$PG_PWFILE" "$PG_CA" starve 2>&1)
if [ $? -eq 0 ]; then
    ok "a host full for its server type's cap does not starve the others ($(tr '\n' ';' <<<"$out"))"
else
    fail "a host full for its server type's cap does not starve the others" "$out"
fi
finish
