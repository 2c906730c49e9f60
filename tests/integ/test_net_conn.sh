#!/usr/bin/env bash
# net_conn (src/net) against a real Dovecot and against misbehaving loopback servers, through
# the net_probe helper: plain, implicit TLS, STARTTLS, certificate and host name checks,
# refused / unknown host / silent server / full backlog / closed / reset, IPv6 loopback; TLS
# 1.3 with Dovecot, and TLS 1.2 with a TLS 1.2-only Dovecot (probes and a whole migration
# with TLS 1.2 on both sides) and with openssl s_server.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PROBE="$TESTBIN/net_probe"
FAKE="$here/net_fake_server.py"
DC="$here/dovecot.sh"
[ -x "$PROBE" ] || { fail "net_probe helper built" "$PROBE missing"; finish; }

work=$(mktemp -d)
fake_pids=()
cleanup() {
    local p
    for p in "${fake_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -f "$work/dc/dovecot.conf" ] && "$DC" stop "$work/dc" >/dev/null 2>&1
    [ -f "$work/dc12/dovecot.conf" ] && "$DC" stop "$work/dc12" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

fake() {  # fake MODE [args]: start a fake server, set FAKE_PORT
    local out="$work/fake.${#fake_pids[@]}" i
    python3 "$FAKE" "$@" --lifetime 60 >"$out" 2>"$out.err" &
    fake_pids+=($!)
    FAKE_PORT=""
    for i in $(seq 1 100); do
        FAKE_PORT=$(head -n1 "$out" 2>/dev/null)
        [ -n "$FAKE_PORT" ] && return 0
        sleep 0.05
    done
    echo "fake server $* did not start: $(cat "$out.err")" >&2
    return 1
}

envof() { (. "$1/env"; echo "${!2:-}"); }  # envof DOVECOT_DIR NAME: a value of its env file

san_clean() { ! grep -qE 'Sanitizer|runtime error:|==[0-9]+==' <<<"$1"; }

field() { sed -n "s/^$1: //p" <<<"$2" | head -n1; }

expect() {  # expect NAME OUTPUT KEY VALUE-PATTERN...: every key matches its (glob) pattern
    local name=$1 out=$2 bad=""
    shift 2
    while [ $# -ge 2 ]; do
        # shellcheck disable=SC2053
        [[ "$(field "$1" "$out")" == $2 ]] || bad="$bad $1"
        shift 2
    done
    san_clean "$out" || bad="$bad sanitizer"
    if [ -z "$bad" ]; then ok "$name"; else fail "$name (wrong:$bad)" "$out"; fi
}

# ---- against Dovecot ----
if command -v dovecot >/dev/null; then
    "$DC" start "$work/dc" >"$work/dc.log" 2>&1 || { fail "dovecot started" "$(cat "$work/dc.log")"; finish; }
    # shellcheck disable=SC1091
    . "$work/dc/env"
    P=$IMAP_PORT S=$IMAPS_PORT

    out=$("$PROBE" 127.0.0.1 "$P" 2>&1)
    expect "plain: greeting, NOOP, LOGOUT, EOF" "$out" result ok tls 0 greeting '\* OK *Dovecot*' \
        noop 'b OK*' eof 'yes (connection closed by server 127.0.0.1:*' pending_after_1 0 \
        readable_now 1 peer "127.0.0.1:$P"
    out=$("$PROBE" --tls --ca "$CA_FILE" 127.0.0.1 "$S" 2>&1)
    expect "implicit TLS to 127.0.0.1 with the CA (IP SAN matched), TLS 1.3 with Dovecot" "$out" \
        result ok tls 1 tls_version TLSv1.3 greeting '\* OK *Dovecot*' noop 'b OK*' eof 'yes*'
    if [ "$(field pending_after_1 "$out")" -gt 0 ] 2>/dev/null; then
        ok "pending counts decrypted bytes ($(field pending_after_1 "$out") after a 1-byte read)"
    else
        fail "pending counts decrypted bytes" "$out"
    fi
    out=$("$PROBE" --tls --ca "$CA_FILE" localhost "$S" 2>&1)
    expect "implicit TLS to localhost with the CA (DNS SAN matched)" "$out" result ok tls 1
    out=$("$PROBE" --tls 127.0.0.1 "$S" 2>&1)
    expect "implicit TLS with the system bundle: certificate not trusted" "$out" \
        result protocol message "TLS with 127.0.0.1:$S: certificate not trusted (*signed by the trusted CA*)"
    out=$("$PROBE" --tls --insecure 127.0.0.1 "$S" 2>&1)
    expect "implicit TLS insecure: no verification" "$out" result ok tls 1
    out=$("$PROBE" --tls --ca "$CA_FILE" --sni wrong.example 127.0.0.1 "$S" 2>&1)
    expect "SNI wrong.example: host name mismatch" "$out" result protocol \
        message "*host name mismatch*wrong.example*"
    out=$("$PROBE" --starttls --ca "$CA_FILE" localhost "$P" 2>&1)
    expect "STARTTLS upgrade (TLS 1.3), then NOOP over TLS" "$out" result ok tls 1 \
        tls_version TLSv1.3 noop 'b OK*' eof 'yes*'
    out=$("$PROBE" --starttls --ca /etc/ssl/certs/ca-certificates.crt localhost "$P" 2>&1)
    expect "STARTTLS with the system bundle: certificate not trusted" "$out" result protocol \
        message '*certificate not trusted*'
    out=$("$PROBE" --tls --ca "$work/missing-ca.pem" localhost "$S" 2>&1)
    expect "missing CA file: config error naming the file" "$out" result config \
        message "cannot load CA file $work/missing-ca.pem*"
    out=$("$PROBE" --tls --ca "$CA_FILE" --connect-timeout 3000 127.0.0.1 "$P" 2>&1)
    expect "TLS to the plain port: handshake failed" "$out" result protocol \
        message '*handshake failed: *'

    # ---- a TLS 1.2-only Dovecot (OpenSSL's MaxProtocol, dovecot.sh --tls-max 1.2) ----
    # Servers that do not speak TLS 1.3 yet are still reached: the probes, then a whole
    # migration with TLS 1.2 on both sides, compared message by message.
    T12=$work/dc12
    if "$DC" start "$T12" --master --tls-max 1.2 >"$work/dc12.log" 2>&1; then
        out=$("$PROBE" --tls --ca "$T12/ca.crt" 127.0.0.1 "$(envof "$T12" IMAPS_PORT)" 2>&1)
        expect "TLS 1.2-only Dovecot, implicit TLS: TLS 1.2 negotiated" "$out" result ok tls 1 \
            tls_version TLSv1.2 tls_cipher 'TLS-ECDHE-*' noop 'b OK*'
        out=$("$PROBE" --starttls --ca "$T12/ca.crt" localhost "$(envof "$T12" IMAP_PORT)" 2>&1)
        expect "TLS 1.2-only Dovecot, STARTTLS: TLS 1.2 negotiated" "$out" result ok tls 1 \
            tls_version TLSv1.2 noop 'b OK*'
        src_pw=$(head -c 12 /dev/urandom | base64 | tr -d '+/=')
        "$DC" adduser "$T12" t12src@example.com "$src_pw" >/dev/null
        "$DC" adduser "$T12" t12dst@example.com "$(head -c 12 /dev/urandom | base64 | tr -d '+/=')" >/dev/null
        sleep 1.1  # passwd-file re-read at most once a second
        printf '%s\n' '{"folders": [' \
            '{"name": "INBOX", "generate": {"count": 30, "size": 6000, "seed": 12, "flags": ["\\Seen"]}},' \
            '{"name": "Archives/2024", "generate": {"count": 20, "size": 40000, "seed": 13}},' \
            '{"name": "Sent", "generate": {"count": 5, "size": 900000, "seed": 14}}]}' > "$work/t12.json"
        IMAP_PASSWORD=$src_pw python3 "$here/imaptool.py" --env "$T12/env" \
            --user t12src@example.com seed "$work/t12.json" >/dev/null
        (umask 077; envof "$T12" MASTER_PASSWORD > "$work/t12-master.secret")
        {
            store_conf "$work/var12"
            printf '[server]\ndata_dir = %s\n[sources]\nca_file = %s\n' "$work/var12" "$T12/ca.crt"
            printf '[destination]\nhost = 127.0.0.1\nport = %s\ntls = implicit\nca_file = %s\n' \
                "$(envof "$T12" IMAPS_PORT)" "$T12/ca.crt"
            printf 'master_user = %s\nmaster_password_file = %s\n' "$(envof "$T12" MASTER_USER)" \
                "$work/t12-master.secret"
        } > "$work/t12.conf"
        MIGRABOX_SOURCE_PASSWORD=$src_pw "$MIGRABOX" migrate -c "$work/t12.conf" \
            --source-host "127.0.0.1:$(envof "$T12" IMAPS_PORT)" --source-tls implicit \
            --source-user t12src@example.com --type defaut --dest-user t12dst@example.com \
            >"$work/t12.out" 2>"$work/t12.err"
        rc=$?
        IMAP_PASSWORD=$src_pw python3 "$here/imaptool.py" --env "$T12/env" \
            --user t12src@example.com dump >"$work/t12-src.json" 2>&1
        python3 "$here/imaptool.py" --env "$T12/env" --user t12dst@example.com --master \
            dump >"$work/t12-dst.json" 2>&1
        same=$(python3 -c 'import json, sys
box = lambda f: {x["name"]: x["messages"] for x in json.load(open(f))["folders"]}
a, b = box(sys.argv[1]), box(sys.argv[2])
print("yes" if a == b and sum(map(len, a.values())) == 55 else "no")' \
            "$work/t12-src.json" "$work/t12-dst.json" 2>&1)
        if [ "$rc" = 0 ] && [ "$same" = yes ] && san_clean "$(cat "$work/t12.err")"; then
            ok "migration with TLS 1.2 on both sides (Dovecot): 55 messages in 3 folders identical"
        else
            fail "migration with TLS 1.2 on both sides" \
                "rc=$rc same=$same $(head -c 600 "$work/t12.out") $(head -c 600 "$work/t12.err")"
        fi
        "$DC" stop "$T12" >/dev/null 2>&1
    else
        fail "TLS 1.2-only Dovecot started" "$(cat "$work/dc12.log")"
    fi
else
    skip "Dovecot checks (dovecot not installed)"
fi

# ---- refused, unknown host ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$("$PROBE" --connect-timeout 5000 127.0.0.1 "$port" 2>&1)
expect "refused port: connection error at once" "$out" result connection \
    message "connection refused by 127.0.0.1:$port" elapsed_ms '[0-9]*'
[[ $(field elapsed_ms "$out") =~ ^[0-9]{1,3}$ ]] || fail "refused port answered within 1 s" "$out"
out=$("$PROBE" nonexistent.invalid 143 2>&1)
expect "unknown host nonexistent.invalid: notfound" "$out" result notfound \
    message "host not found: nonexistent.invalid"
out=$("$PROBE" --tls --insecure nonexistent.INVALID. 993 2>&1)
expect "unknown host (upper case, trailing dot): notfound" "$out" result notfound

# ---- timeouts ----
if fake silent; then
    out=$("$PROBE" --expect-silence --timeout 1500 127.0.0.1 "$FAKE_PORT" 2>&1)
    ms=$(field elapsed_ms "$out")
    if [[ $(field message "$out") == "timed out after 1.5 s waiting for 127.0.0.1:$FAKE_PORT" ]] \
        && [ "$(field result "$out")" = connection ] && [ "$ms" -ge 1400 ] && [ "$ms" -lt 2500 ] \
        && san_clean "$out"; then
        ok "silent server: read timed out after ${ms} ms (io timeout 1500 ms)"
    else
        fail "silent server: read timeout" "$out"
    fi
    out=$("$PROBE" --tls --insecure --connect-timeout 1000 --timeout 60000 127.0.0.1 "$FAKE_PORT" 2>&1)
    ms=$(field elapsed_ms "$out")
    if [[ $(field message "$out") == "timed out after 1 s waiting for 127.0.0.1:$FAKE_PORT during TLS handshake" ]] \
        && [ "$ms" -ge 900 ] && [ "$ms" -lt 2000 ] && san_clean "$out"; then
        ok "silent server: TLS handshake bounded by the connect timeout (${ms} ms)"
    else
        fail "silent server: TLS handshake timeout" "$out"
    fi
fi
if fake full; then
    out=$("$PROBE" --connect-timeout 1000 127.0.0.1 "$FAKE_PORT" 2>&1)
    ms=$(field elapsed_ms "$out")
    if [[ $(field message "$out") == "timed out after 1 s connecting to 127.0.0.1:$FAKE_PORT" ]] \
        && [ "$ms" -ge 900 ] && [ "$ms" -lt 2000 ] && san_clean "$out"; then
        ok "full backlog: connect timed out after ${ms} ms (connect timeout 1000 ms)"
    else
        fail "full backlog: connect timeout" "$out"
    fi
fi

# ---- closed, reset ----
if fake close; then
    out=$("$PROBE" 127.0.0.1 "$FAKE_PORT" 2>&1)
    expect "server closes at once: connection closed by server" "$out" result connection \
        message "connection closed by server 127.0.0.1:$FAKE_PORT"
    out=$("$PROBE" --tls --insecure 127.0.0.1 "$FAKE_PORT" 2>&1)
    expect "server closes during TLS handshake" "$out" result connection \
        message "connection closed by server 127.0.0.1:$FAKE_PORT during TLS handshake"
fi
if fake reset; then
    out=$("$PROBE" --tls --insecure 127.0.0.1 "$FAKE_PORT" 2>&1)
    expect "server resets: connection reset" "$out" result connection \
        message "connection reset by 127.0.0.1:$FAKE_PORT"
fi

# ---- IPv6 loopback, certificate without an IP address ----
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null && fake imap --host ::1
then
    out=$("$PROBE" ::1 "$FAKE_PORT" 2>&1)
    expect "IPv6 literal ::1" "$out" result ok peer "\[::1\]:$FAKE_PORT" noop 'b OK*' eof 'yes*'
else
    skip "no IPv6 loopback"
fi
(
    cd "$work" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=net test CA" -keyout ca2.key -out ca2.crt \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
        -keyout dns.key -out dns.csr
    printf 'subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n' >dns.ext
    openssl x509 -req -in dns.csr -CA ca2.crt -CAkey ca2.key -CAcreateserial -days 2 \
        -extfile dns.ext -out dns.crt
) >"$work/openssl.log" 2>&1 || fail "test certificate made" "$(cat "$work/openssl.log")"
if fake imap --tls "$work/dns.crt" "$work/dns.key"; then
    out=$("$PROBE" --tls --ca "$work/ca2.crt" 127.0.0.1 "$FAKE_PORT" 2>&1)
    expect "IP literal, certificate without that IP: host name mismatch" "$out" result protocol \
        message "*host name mismatch*127.0.0.1*"
    out=$("$PROBE" --tls --ca "$work/ca2.crt" --sni localhost 127.0.0.1 "$FAKE_PORT" 2>&1)
    expect "IP literal with --sni localhost: verified" "$out" result ok tls 1 noop 'b OK*'
    out=$("$PROBE" --tls --ca "$work/ca2.crt" localhost "$FAKE_PORT" 2>&1)
    expect "name localhost: verified" "$out" result ok tls 1
fi

# ---- OpenSSL servers limited to one protocol version: TLS 1.2-only peers still work ----
SSL_N=0
sslserver() {  # sslserver VERSION-FLAG: one connection; sets SSL_PORT
    # A file of its own per server, created before it starts: the readiness check below must
    # not read an earlier server's ACCEPT (seen once: the probe connected before the second
    # -tls1_2 server listened, as the background job truncates its output only after fork).
    SSL_N=$((SSL_N + 1))
    local out="$work/s_server$SSL_N$1" i
    : >"$out"
    SSL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # The server sends its stdin (a greeting and a NOOP answer), then closes at its end.
    { printf '* OK s_server ready\r\nb OK NOOP done\r\n'; sleep 5; } |
        timeout 30 openssl s_server "$1" -accept "127.0.0.1:$SSL_PORT" -naccept 1 \
            -cert "$work/dns.crt" -key "$work/dns.key" >"$out" 2>&1 &
    fake_pids+=($!)
    for i in $(seq 1 100); do grep -q '^ACCEPT' "$out" 2>/dev/null && return 0; sleep 0.05; done
    echo "openssl s_server $1 did not start: $(cat "$out")" >&2
    return 1
}
for v in 1_2:TLSv1.2 1_3:TLSv1.3; do
    if sslserver "-tls${v%%:*}"; then
        out=$("$PROBE" --tls --ca "$work/ca2.crt" --timeout 10000 localhost "$SSL_PORT" 2>&1)
        expect "openssl s_server -tls${v%%:*}: ${v#*:} negotiated, certificate verified" "$out" \
            tls 1 tls_version "${v#*:}" greeting '\* OK s_server ready' noop 'b OK NOOP done'
    else
        fail "openssl s_server -tls${v%%:*} started"
    fi
done
if sslserver -tls1_2; then
    out=$("$PROBE" --tls --timeout 10000 localhost "$SSL_PORT" 2>&1)
    expect "TLS 1.2 server, CA not given: certificate not trusted" "$out" result protocol \
        message "*certificate not trusted*"
fi
finish
