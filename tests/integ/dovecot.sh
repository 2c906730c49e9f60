#!/usr/bin/env bash
# dovecot.sh: throw-away Dovecot instances on 127.0.0.1 for migrabox tests.
#
#   dovecot.sh start DIR [--layout std|inbox-prefix] [--master] [--autocreate] [--quota]
#                        [--tls-max 1.2]
#   dovecot.sh adduser DIR USER PASSWORD     (PASSWORD "-" = read one line from stdin)
#   dovecot.sh stop DIR...                   (several at once: stopped in parallel)
#   dovecot.sh status DIR                    (exit 0 running, 3 not running)
#
# start writes DIR/dovecot.conf, DIR/users (passwd-file, PLAIN scheme), DIR/mail/ (one Maildir
# home per user), DIR/ca.crt + DIR/tls/ (a CA made for this instance that signed a server
# certificate for localhost / 127.0.0.1), picks two free loopback ports, starts
# `dovecot -c DIR/dovecot.conf`, waits for the greeting and writes DIR/env, shell assignments
# that bash can source and Python can read with shlex:
#   IMAP_HOST=127.0.0.1  IMAP_PORT (plain, STARTTLS offered)  IMAPS_PORT (implicit TLS)
#   CA_FILE=DIR/ca.crt   LAYOUT=std|inbox-prefix  NS_PREFIX ("" or "INBOX.")  NS_DELIM ("/" or ".")
#   with --master: MASTER_USER=admin MASTER_PASSWORD=<random> SEPARATOR='*'
#   DOVECOT_DIR DOVECOT_CONF DOVECOT_LOG DOVECOT_PIDFILE DOVECOT_INSTANCE MAILDIR_ROOT
#
# Layouts: std = empty namespace prefix, separator "/", maildir LAYOUT=fs;
# inbox-prefix = prefix "INBOX.", separator "." (Maildir++), like Courier/Cyrus-style servers.
# Special use: Sent Drafts Trash Junk Archive carry \Sent \Drafts \Trash \Junk \Archive
# whenever they exist. They are NOT created by the server by default (auto = no), so a source
# holds exactly what a test seeds; --autocreate makes the server create and subscribe them on
# first login (auto = subscribe), which is what a destination platform with pre-made special
# folders looks like.
#
# --tls-max 1.2 makes the instance a TLS 1.2-only server (Dovecot 2.3 has a minimum protocol
# setting but no maximum): DIR/openssl-tls-max.cnf sets OpenSSL's MaxProtocol = TLSv1.2 in its
# system_default section, and the processes get OPENSSL_CONF pointing at it (import_environment).
#
# --quota loads the quota plugins (quota, imap_quota: QUOTA capability, GETQUOTAROOT) with a
# "count" backend; a user's limit is a userdb field in DIR/users, e.g.
# userdb_quota_rule=*:storage=50K (no rule: no limit).
#
# Master user (--master): LOGIN "user*admin" PASSWORD and AUTHENTICATE PLAIN with authzid=user,
# authcid=admin both log in as user; a master login to an unknown user is refused with
# NO [AUTHORIZATIONFAILED]. Failed logins are not delayed (auth_failure_delay = 0, no per-IP
# penalty; Dovecot still answers a failure on its next 0.5 s tick), so negative tests stay fast.
#
# As root, mail processes run as the system user "mbtest" (created on first use) and the login
# and anvil processes as Dovecot's usual users, chrooted. As a normal user, the instance is
# "rootless" (Dovecot 2.3 supports it): every process, mail ones included, runs as the invoking
# user (default_internal_user, default_login_user and default_internal_group are that user,
# mail_uid/mail_gid its ids, no chroot), and DIR, its passwd-files and mail belong to that user.
# Every instance has its own instance_name, base_dir, state_dir and ports (> 1024), so several
# may run at once next to a system Dovecot. stop kills only the master whose pid is in this
# instance's pid file (and then waits for its children). start after a crash or on a running DIR
# works: a live instance of DIR is stopped first, a stale pid file is ignored. Existing users
# and mail in DIR are kept. Logs: DIR/dovecot.log. Passwords never appear in output.
set -euo pipefail
# dovecot lives in /usr/sbin, which a normal user's PATH often lacks.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

MASTER_NAME="admin"
if [ "$(id -u)" = 0 ]; then
    ROOTLESS=0
    MAIL_USER=mbtest
else
    ROOTLESS=1
    MAIL_USER=$(id -un 2>/dev/null) || MAIL_USER=""
fi

die() { echo "dovecot.sh: $*" >&2; exit 1; }

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

absdir() {  # absolute path of DIR (need not exist yet)
    local d=$1
    case "$d" in /*) ;; *) d="$PWD/$d" ;; esac
    printf '%s' "${d%/}"
}

check_dir_name() {
    case "$1" in
        *[\'\"\ \$\`\\]*|*$'\n'*) die "DIR must not contain quotes, spaces, \$, \` or \\: $1" ;;
    esac
}

conf_value() {  # conf_value CONF KEY: value of a top-level "KEY = value" line we wrote
    sed -n "s/^$2 = //p" "$1" | head -n1
}

ensure_mail_user() {
    if ! getent passwd "$MAIL_USER" >/dev/null; then
        # Two instances may start at once: serialise, then re-check.
        exec 9>/tmp/migrabox-dovecot-useradd.lock
        flock 9
        if ! getent passwd "$MAIL_USER" >/dev/null; then
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$MAIL_USER" || die "cannot create system user $MAIL_USER"
        fi
        exec 9>&-
    fi
}

free_ports() {  # print two distinct free TCP ports on 127.0.0.1
    python3 - <<'EOF'
import socket
s1 = socket.socket(); s1.bind(("127.0.0.1", 0))
s2 = socket.socket(); s2.bind(("127.0.0.1", 0))
print(s1.getsockname()[1], s2.getsockname()[1])
s1.close(); s2.close()
EOF
}

make_tls() {  # make_tls DIR: CA + server cert for localhost/127.0.0.1 (kept if present)
    local d=$1 t=$1/tls
    [ -s "$d/ca.crt" ] && [ -s "$t/server.crt" ] && [ -s "$t/server.key" ] && return 0
    mkdir -p "$t"
    chmod 700 "$t"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=migrabox test CA $(basename "$d")" -keyout "$t/ca.key" -out "$d/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || die "openssl: CA failed"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
        -keyout "$t/server.key" -out "$t/server.csr" >/dev/null 2>&1 || die "openssl: CSR failed"
    cat > "$t/server.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
    openssl x509 -req -in "$t/server.csr" -CA "$d/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
        -days 3650 -extfile "$t/server.ext" -out "$t/server.crt" >/dev/null 2>&1 \
        || die "openssl: signing failed"
    chmod 600 "$t/server.key" "$t/ca.key"
    chmod 644 "$d/ca.crt" "$t/server.crt"
}

pid_of() {  # pid_of DIR: print the master pid if this instance runs, else nothing (rc 1)
    local d=$1 conf=$1/dovecot.conf pidfile pid
    [ -f "$conf" ] || return 1
    pidfile="$(conf_value "$conf" base_dir)/master.pid"
    [ -f "$pidfile" ] || return 1
    pid=$(head -c 32 "$pidfile" | tr -dc 0-9)
    [ -n "$pid" ] || return 1
    # The pid must be a live Dovecot master started with this config (pids get reused).
    alive "$pid" || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "-c $conf" || return 1
    echo "$pid"
}

alive() {  # alive PID: running (a zombie waiting for init to reap it counts as gone)
    local st
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

instance_pids() {  # every process of the instance: the master and its children, by parent pid
    local master=$1
    local st line rest
    echo "$master"
    for st in /proc/[0-9]*/stat; do  # /proc, not ps: procps is not always installed
        IFS= read -r line 2>/dev/null <"$st" || continue
        rest=${line##*) }  # after "pid (comm) ": state ppid ...
        set -- $rest
        [ "${2:-}" = "$master" ] && { st=${st#/proc/}; echo "${st%/stat}"; }
    done
    return 0
}

cmd_stop() {  # cmd_stop DIR...: SIGTERM every master at once, then wait for all their processes
    local d pid pids="" masters=() dirs=() i p any
    for d in "$@"; do
        d=$(absdir "$d")
        [ -f "$d/dovecot.conf" ] || die "no instance in $d"
        if ! pid=$(pid_of "$d"); then
            echo "dovecot.sh: $d not running"
            continue
        fi
        pids="$pids $(instance_pids "$pid" | tr '\n' ' ')"
        kill -TERM "$pid" 2>/dev/null || true
        masters+=("$pid"); dirs+=("$d")
    done
    [ ${#masters[@]} -gt 0 ] || return 0
    # Dovecot's master sleeps 1 s while shutting down; a child hanging for 5 s is killed.
    for i in $(seq 1 200); do
        any=0
        for p in $pids; do
            if alive "$p"; then any=1; break; fi
        done
        [ $any = 0 ] && break
        sleep 0.05
        if [ "$i" = 100 ]; then
            for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
        fi
    done
    for p in $pids; do
        alive "$p" && die "process $p still alive"
    done
    for i in "${!dirs[@]}"; do
        rm -f "$(conf_value "${dirs[$i]}/dovecot.conf" base_dir)/master.pid"
        echo "dovecot.sh: stopped ${dirs[$i]} (pid ${masters[$i]})"
    done
}

cmd_status() {
    local d pid
    d=$(absdir "$1")
    if pid=$(pid_of "$d"); then
        echo "running pid $pid"
        return 0
    fi
    echo "not running"
    return 3
}

write_users_file() {  # write_users_file FILE USER LINE: replace USER's line (or append) atomically
    local file=$1 user=$2 line=$3 tmp
    tmp=$(mktemp "$file.XXXXXX")
    if [ -f "$file" ]; then
        awk -F: -v u="$user" '$1 != u' "$file" > "$tmp"
    fi
    printf '%s\n' "$line" >> "$tmp"
    if [ "$ROOTLESS" = 1 ]; then
        chmod 600 "$tmp"  # read by the auth process, which runs as this user
    else
        chgrp dovecot "$tmp"
        chmod 640 "$tmp"
    fi
    mv -f "$tmp" "$file"
}

valid_password() {
    case "$1" in
        "") die "empty password" ;;
        *:*|*$'\n'*|*$'\r'*|*$'\t'*)
            die "password must not contain ':', tab or line breaks (passwd-file)" ;;
    esac
}

cmd_adduser() {
    local d user pass
    d=$(absdir "$1"); user=$2; pass=$3
    [ -f "$d/dovecot.conf" ] || die "no instance in $d (run start first)"
    if [ "$pass" = - ]; then IFS= read -r pass || true; fi
    case "$user" in
        ""|*[:\ \*]*|*$'\n'*|*[A-Z]*) die "bad user name (no ':', space, '*', upper case): $user" ;;
    esac
    valid_password "$pass"
    write_users_file "$d/users" "$user" "$user:{PLAIN}$pass::::::"
    echo "dovecot.sh: user $user added to $d"
}

as_mail_user() { setpriv --reuid="$MAIL_USER" --regid="$MAIL_USER" --clear-groups "$@"; }

make_reachable() {  # the mail user must reach DIR/mail: every parent needs search permission
    local d=$1 p
    as_mail_user test -w "$d/mail" && return 0
    # Typically DIR lies in a mode 0700 mktemp directory: add o+x (search, not listing) to
    # such parents, but never to top-level directories like /root or /home.
    local parents=() i
    p=$(dirname "$d")
    while [ "$p" != / ] && [ "$(dirname "$p")" != / ]; do
        parents=("$p" "${parents[@]}")
        p=$(dirname "$p")
    done
    for p in "${parents[@]}"; do  # from the top down
        if ! as_mail_user test -x "$p"; then
            echo "dovecot.sh: chmod o+x $p (so that user $MAIL_USER can reach $d/mail)" >&2
            chmod o+x "$p"
        fi
    done
    as_mail_user test -w "$d/mail" \
        || die "$d/mail is not reachable by user $MAIL_USER (a parent directory is not searchable)"
}

write_conf() {  # write_conf DIR LAYOUT MASTER AUTOCREATE PORT PORTS [QUOTA [TLS_MAX]]
    local d=$1 layout=$2 master=$3 autocreate=$4 port=$5 sport=$6 quota=${7:-0} tlsmax=${8:-}
    local uid gid group base inst prefix sep loc auto name dh="" nochroot=""
    uid=$(id -u "$MAIL_USER"); gid=$(id -g "$MAIL_USER")
    # Rootless: a non-root master cannot chroot, so no service may ask for it.
    [ "$ROOTLESS" = 1 ] && nochroot=$'\n  chroot ='
    inst="mbtest-$(printf '%s' "$d" | cksum | cut -d' ' -f1)"
    base="$d/run"
    # Unix socket paths are limited to 107 bytes; the longest name under base_dir is ~32.
    [ ${#base} -le 70 ] || base="/tmp/$inst"
    if [ "$layout" = inbox-prefix ]; then
        prefix="INBOX."; sep="."; loc="maildir:~/Maildir"
    else
        prefix=""; sep="/"; loc="maildir:~/Maildir:LAYOUT=fs"
    fi
    [ "$autocreate" = 1 ] && auto=subscribe || auto=no
    [ -s /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
    {
        echo "# Generated by tests/integ/dovecot.sh for a throw-away test instance."
        echo "instance_name = $inst"
        echo "base_dir = $base"
        echo "state_dir = $d/state"
        echo "log_path = $d/dovecot.log"
        echo "protocols = imap"
        echo "listen = 127.0.0.1"
        echo "ssl = yes"
        echo "ssl_cert = <$d/tls/server.crt"
        echo "ssl_key = <$d/tls/server.key"
        [ -n "$dh" ] && echo "$dh"
        echo "disable_plaintext_auth = no"
        echo "auth_mechanisms = plain login"
        echo "auth_failure_delay = 0"
        echo "auth_verbose = yes"
        echo "auth_master_user_separator = *"
        echo "mail_uid = $uid"
        echo "mail_gid = $gid"
        echo "first_valid_uid = $uid"
        echo "first_valid_gid = $gid"
        echo "mail_home = $d/mail/%Lu"
        echo "mail_location = $loc"
        echo "mail_fsync = never"
        if [ "$tlsmax" = 1.2 ]; then
            echo "import_environment = \$import_environment OPENSSL_CONF=$d/openssl-tls-max.cnf"
        fi
        if [ "$ROOTLESS" = 1 ]; then
            group=$(id -gn)
            echo "default_internal_user = $MAIL_USER"
            echo "default_internal_group = $group"
            echo "default_login_user = $MAIL_USER"
            printf 'service %s {\n  chroot =\n}\n' ipc old-stats
        fi
        cat <<EOF
namespace inbox {
  inbox = yes
  separator = $sep
  prefix = $prefix
EOF
        for name in Sent Drafts Trash Junk Archive; do
            printf '  mailbox %s {\n    special_use = \\%s\n    auto = %s\n  }\n' "$name" "$name" "$auto"
        done
        echo "}"
        if [ "$master" = 1 ]; then
            cat <<EOF
passdb {
  driver = passwd-file
  master = yes
  args = scheme=PLAIN username_format=%Lu $d/masters
  result_success = continue
}
EOF
        fi
        cat <<EOF
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $d/users
}
userdb {
  driver = passwd-file
  args = username_format=%Lu $d/users
}
service imap-login {$nochroot
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $sport
    ssl = yes
  }
}
service anvil {$nochroot
  # No per-IP penalty after failed logins (the auth process cannot reach this socket).
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  mail_max_userip_connections = 1000
}
EOF
        if [ "$quota" = 1 ]; then
            cat <<'EOF'
mail_plugins = $mail_plugins quota
plugin {
  quota = count:User quota
  quota_vsizes = yes
}
protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
EOF
        fi
    } > "$d/dovecot.conf.tmp"
    mv -f "$d/dovecot.conf.tmp" "$d/dovecot.conf"
}

greeting_ok() {  # greeting_ok PORT: 0 when an IMAP greeting arrives within 1 s
    local line
    line=$(timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r l <&3 && echo "$l"' _ "$1" \
        2>/dev/null) || return 1
    [[ $line == "* OK"* ]]
}

write_env() {  # write_env DIR LAYOUT MASTER PORT SPORT
    local d=$1 layout=$2 master=$3 port=$4 sport=$5 conf=$1/dovecot.conf tmp
    tmp="$d/env.tmp"
    {
        echo "IMAP_HOST=127.0.0.1"
        echo "IMAP_PORT=$port"
        echo "IMAPS_PORT=$sport"
        echo "CA_FILE='$d/ca.crt'"
        echo "LAYOUT=$layout"
        if [ "$layout" = inbox-prefix ]; then
            echo "NS_PREFIX='INBOX.'"; echo "NS_DELIM='.'"
        else
            echo "NS_PREFIX=''"; echo "NS_DELIM='/'"
        fi
        if [ "$master" = 1 ]; then
            echo "MASTER_USER=$MASTER_NAME"
            echo "MASTER_PASSWORD='$(sed -n "s/^$MASTER_NAME:{PLAIN}\([^:]*\):.*/\1/p" "$d/masters")'"
            echo "SEPARATOR='*'"
        fi
        echo "DOVECOT_DIR='$d'"
        echo "DOVECOT_CONF='$conf'"
        echo "DOVECOT_LOG='$d/dovecot.log'"
        echo "DOVECOT_PIDFILE='$(conf_value "$conf" base_dir)/master.pid'"
        echo "DOVECOT_INSTANCE=$(conf_value "$conf" instance_name)"
        echo "MAILDIR_ROOT='$d/mail'"
    } > "$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$d/env"
}

cmd_start() {
    local d layout=std master=0 autocreate=0 quota=0 tlsmax="" port sport attempt pid i base
    d=$(absdir "$1"); shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --layout) [ $# -ge 2 ] || usage; layout=$2; shift 2 ;;
            --layout=*) layout=${1#--layout=}; shift ;;
            --master) master=1; shift ;;
            --autocreate) autocreate=1; shift ;;
            --quota) quota=1; shift ;;
            --tls-max) [ $# -ge 2 ] || usage; tlsmax=$2; shift 2 ;;
            *) usage ;;
        esac
    done
    case "$tlsmax" in ""|1.3) tlsmax="" ;; 1.2) ;; *) die "--tls-max: 1.2 or 1.3" ;; esac
    case "$layout" in std|inbox-prefix) ;; *) die "unknown layout: $layout" ;; esac
    check_dir_name "$d"
    command -v dovecot >/dev/null || die "dovecot not installed (apt-get install dovecot-imapd)"
    if [ "$ROOTLESS" = 1 ]; then
        [ -n "$MAIL_USER" ] || die "uid $(id -u) has no user name (Dovecot needs one when not root)"
    else
        ensure_mail_user
    fi

    if [ -f "$d/dovecot.conf" ] && pid_of "$d" >/dev/null; then
        echo "dovecot.sh: $d already running, restarting it" >&2
        cmd_stop "$d" >/dev/null
    fi
    mkdir -p "$d/state" "$d/mail"
    chmod 755 "$d"
    chmod 700 "$d/mail"
    if [ "$ROOTLESS" = 0 ]; then
        chown "$MAIL_USER:$MAIL_USER" "$d/mail"
        make_reachable "$d"
    fi
    make_tls "$d"
    if [ "$tlsmax" = 1.2 ]; then
        printf '%s\n' "openssl_conf = openssl_init" "[openssl_init]" "ssl_conf = ssl_sect" \
            "[ssl_sect]" "system_default = system_default_sect" "[system_default_sect]" \
            "MaxProtocol = TLSv1.2" > "$d/openssl-tls-max.cnf"
        chmod 644 "$d/openssl-tls-max.cnf"
    else
        rm -f "$d/openssl-tls-max.cnf"
    fi
    if [ ! -f "$d/users" ]; then
        if [ "$ROOTLESS" = 1 ]; then
            (umask 077; : > "$d/users")
        else
            : > "$d/users"; chgrp dovecot "$d/users"; chmod 640 "$d/users"
        fi
    fi
    if [ "$master" = 1 ] && [ ! -s "$d/masters" ]; then
        local mpw
        mpw=$(head -c 18 /dev/urandom | base64 | tr -d '+/=' | head -c 20)
        write_users_file "$d/masters" "$MASTER_NAME" "$MASTER_NAME:{PLAIN}$mpw::::::"
    fi
    [ "$master" = 1 ] || rm -f "$d/masters"

    for attempt in 1 2 3 4 5; do
        read -r port sport < <(free_ports)
        write_conf "$d" "$layout" "$master" "$autocreate" "$port" "$sport" "$quota" "$tlsmax"
        base=$(conf_value "$d/dovecot.conf" base_dir)
        mkdir -p "$base"
        rm -f "$base/master.pid"  # stale after a crash: pid_of said it is not ours or not alive
        : > "$d/dovecot.log.start"
        if ! dovecot -c "$d/dovecot.conf" 2>"$d/dovecot.log.start"; then
            if grep -q "Address already in use" "$d/dovecot.log.start" "$d/dovecot.log" 2>/dev/null \
                && [ "$attempt" -lt 5 ]; then
                continue
            fi
            cat "$d/dovecot.log.start" >&2
            die "dovecot failed to start (see $d/dovecot.log)"
        fi
        for i in $(seq 1 100); do
            if greeting_ok "$port"; then
                write_env "$d" "$layout" "$master" "$port" "$sport"
                rm -f "$d/dovecot.log.start"
                pid=$(pid_of "$d") || true
                echo "dovecot.sh: started $d (pid ${pid:-?}, imap $port, imaps $sport, $layout)"
                return 0
            fi
            pid_of "$d" >/dev/null || break
            sleep 0.05
        done
        cmd_stop "$d" >/dev/null 2>&1 || true
        if tail -n 20 "$d/dovecot.log" 2>/dev/null | grep -q "Address already in use" \
            && [ "$attempt" -lt 5 ]; then
            continue
        fi
        tail -n 20 "$d/dovecot.log" >&2 2>/dev/null || true
        die "dovecot did not answer on 127.0.0.1:$port"
    done
    die "no free port pair found"
}

[ $# -ge 2 ] || usage
cmd=$1; shift
case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) [ $# -eq 1 ] || usage; cmd_status "$1" ;;
    adduser) [ $# -eq 3 ] || usage; cmd_adduser "$@" ;;
    *) usage ;;
esac
