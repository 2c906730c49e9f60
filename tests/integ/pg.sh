# A private PostgreSQL cluster for the tests (sourced), like dovecot.sh for IMAP: Debian's
# PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin, package postgresql-15), one
# cluster per test directory, on 127.0.0.1 and a free port, TLS only (hostssl with
# scram-sha-256: a plain TCP connection is refused) with a certificate of a test CA for
# 127.0.0.1 only (no DNS name), so that sslmode=verify-full is exercised: the CA must be given
# and the url must name 127.0.0.1.
#
#   pg_available                 0 when the server binaries are installed
#   pg_start DIR                 initdb + start; sets PG_PORT, PG_CA (CA file), PG_PWFILE
#                                (password of role migrabox), PG_URL (postgresql://migrabox@
#                                127.0.0.1:PORT/migrabox, without TLS parameters)
#   pg_psql DIR SQL              run SQL as the superuser over the cluster's Unix socket (-At)
#   pg_stop DIR                  stop the cluster (fast shutdown)
#
# PostgreSQL refuses to run as root: as root, DIR is given to user mbci (made by .ci/run) or,
# without it, postgres (made by Debian's postgresql-common), and the server runs as that user
# through runuser. DIR's parents must let that user through (pg_start makes DIR's parent
# world-traversable). Logs: DIR/server.log.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_available() {
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/postgres" ] \
        && command -v psql >/dev/null && command -v openssl >/dev/null
}

pg__user() {  # the user the server runs as when we are root
    if id mbci >/dev/null 2>&1; then echo mbci; else echo postgres; fi
}

pg__as() {  # run a command as the cluster's owner
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$(pg__user)" -- "$@"
    else
        "$@"
    fi
}

pg__free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_start() {
    local d=$1 t
    mkdir -p "$d" && d=$(cd "$d" && pwd)
    chmod 711 "$(dirname "$d")"
    t=$d/tls
    mkdir -p "$t"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=migrabox test PostgreSQL CA" -keyout "$t/ca.key" -out "$d/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || return 1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$t/server.key" -out "$t/server.csr" >/dev/null 2>&1 || return 1
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$t/ext"
    openssl x509 -req -in "$t/server.csr" -CA "$d/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
        -days 30 -extfile "$t/ext" -out "$t/server.crt" >/dev/null 2>&1 || return 1
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$d/db.secret"
    printf 'postgres-%s\n' "$RANDOM$RANDOM" >"$d/super.secret"
    mkdir -p "$d/data" "$d/run"
    chmod 600 "$t/server.key"
    if [ "$(id -u)" = 0 ]; then
        chown -R "$(pg__user)" "$d"
    fi
    chmod 700 "$d/data"
    pg__as "$PG_BIN/initdb" -D "$d/data" -U postgres --pwfile="$d/super.secret" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log" >&2; return 1; }
    PG_PORT=$(pg__free_port)
    cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$d/run'
ssl = on
ssl_cert_file = '$t/server.crt'
ssl_key_file = '$t/server.key'
ssl_min_protocol_version = 'TLSv1.2'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    cat >"$d/data/pg_hba.conf" <<EOF
local   all all                trust
hostssl all all 127.0.0.1/32   scram-sha-256
EOF
    pg__as "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null 2>&1 \
        || { cat "$d/server.log" >&2; return 1; }
    echo "$PG_PORT" >"$d/port"
    PG_DB=postgres pg_psql "$d" "CREATE ROLE migrabox LOGIN PASSWORD '$(cat "$d/db.secret")'" \
        >/dev/null && PG_DB=postgres pg_psql "$d" "CREATE DATABASE migrabox OWNER migrabox" \
        >/dev/null || return 1
    PG_CA=$d/ca.crt
    PG_PWFILE=$d/db.secret
    PG_URL="postgresql://migrabox@127.0.0.1:$PG_PORT/migrabox"
}

pg_psql() {
    local d=$1; shift
    PGOPTIONS="-c client_min_messages=warning" pg__as psql -X -q -At -h "$d/run" -p "$(cat "$d/port")" -U postgres -d "${PG_DB:-migrabox}" \
        -v ON_ERROR_STOP=1 -c "$1"
}

pg_stop() {
    local d=$1
    [ -d "$d/data" ] || return 0
    pg__as "$PG_BIN/pg_ctl" -D "$d/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}
