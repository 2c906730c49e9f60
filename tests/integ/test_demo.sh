#!/usr/bin/env bash
# The README's run command, non-interactively: start the demo (packaging/demo.sh, what
# `make demo` runs) on a free port, drive one migration through the API until TERMINÉE and
# check the data at the destination, then stop it with SIGINT (Ctrl-C) and check that no
# process it started is left.
set -u
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${SANITIZE:-0}" = 1 ]; then
    skip "demo test (runs the release build; not repeated under the sanitizer build)"
    finish
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ready="$work/ready"
demo_pid=""
cleanup() {
    [ -n "$demo_pid" ] && kill -INT "$demo_pid" 2>/dev/null && sleep 3
    bash "$top/tests/integ/dovecot.sh" stop "$work/demo/source" "$work/demo/platform" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# The demo as started from a terminal: in its own process group (job control on) and with
# SIGINT at its default. A non-interactive shell's background jobs ignore SIGINT, and so does
# this script when tests/run-all.sh runs it beside others; an ignored signal stays ignored
# across exec and a shell cannot trap it, hence env --default-signal.
set -m
env --default-signal=INT DEMO_SKIP_DEPS=1 DEMO_DIR="$work/demo" DEMO_PORT=$port \
    DEMO_READY_FILE="$ready" bash "$top/packaging/demo.sh" >"$work/demo.out" 2>&1 &
demo_pid=$!
for _ in $(seq 1 600); do
    [ -f "$ready" ] && break
    kill -0 "$demo_pid" 2>/dev/null || break
    sleep 0.5
done
if [ ! -f "$ready" ]; then
    fail "demo starts" "$(tail -30 "$work/demo.out")"
    finish
fi
ok "demo starts and prints its banner ($(grep -c . "$work/demo.out") lines)"
grep -q "http://127.0.0.1:$port/" "$work/demo.out" && ok "banner shows the URL" || fail "banner shows the URL"
# shellcheck disable=SC1090
. "$ready"

out=$(READY="$ready" python3 - <<'PY' 2>&1
import http.cookiejar, json, os, time, urllib.request
env = dict(l.strip().split("=", 1) for l in open(os.environ["READY"]) if "=" in l)
srcpw = open(os.environ["READY"] + ".srcpw").read().rstrip("\n")
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def call(method, path, body=None, csrf=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(env["URL"] + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if csrf:
        req.add_header("X-CSRF-Token", csrf)
    with op.open(req, timeout=30) as r:
        return r.status, json.loads(r.read() or b"null")
st, s = call("POST", "/api/session", {"username": env["WEB_USER"], "password": env["WEB_PASSWORD"]})
csrf = s["csrf"]
st, job = call("POST", "/api/jobs", {"source_host": env["SOURCE_HOST"], "source_login": env["SOURCE_USER"],
    "source_password": srcpw, "server_type": "defaut", "dest_login": env["DEST_LOCAL"],
    "subscribed_only": False}, csrf)
assert st == 201, st
jid = job["id"]
seen = [job["state"]]
deadline = time.time() + 240
while time.time() < deadline:
    st, j = call("GET", f"/api/jobs/{jid}")
    if j["state"] != seen[-1]:
        seen.append(j["state"])
    if j["state"] in ("done", "failed"):
        break
    time.sleep(0.5)
print("states", " -> ".join(seen))
print("error", j.get("error"))
p = j["progress"]
print("copied", p["messages_copied"], "total", p["messages_total"], "failed", p["messages_failed"])
assert j["state"] == "done", j
assert p["messages_copied"] == p["messages_total"] > 0, p
PY
)
if [ $? -eq 0 ]; then ok "a migration driven through the API reaches TERMINÉE ($(echo "$out" | tr '\n' ' '))"; else fail "a migration reaches TERMINÉE" "$out"; fi

# The destination has what the source has.
srcenv="$DEMO_DIR/source/env"; dstenv="$DEMO_DIR/platform/env"
tool="$top/tests/integ/imaptool.py"
srcpw=$(cat "$ready.srcpw")
a=$(IMAP_PASSWORD="$srcpw" python3 "$tool" --env "$srcenv" --user "$SOURCE_USER" dump 2>&1)
b=$(python3 "$tool" --env "$dstenv" --user "$DEST_LOCAL@demo.example" --master dump 2>&1)
cmp=$(A="$a" B="$b" python3 -c '
import json, os
a = json.loads(os.environ["A"]); b = json.loads(os.environ["B"])
sa = {f["name"]: f["messages"] for f in a["folders"] if not f["noselect"]}
sb = {f["name"]: f["messages"] for f in b["folders"]}
bad = [n for n in sa if sb.get(n) != sa[n]]
print("%d folders, %d messages compared; differing: %s" % (len(sa), sum(len(v) for v in sa.values()), bad or "none"))
raise SystemExit(1 if bad else 0)')
[ $? -eq 0 ] && ok "destination equals source ($cmp)" || fail "destination equals source" "$cmp"

# Ctrl-C: the demo stops everything it started.
kill -INT "$demo_pid"
for _ in $(seq 1 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$demo_pid" 2>/dev/null; then
    # What the demo was doing, for the record (its own output and its process tree).
    fail "demo exits on Ctrl-C" "$(tail -n 5 "$work/demo.out"; ps -o pid,stat,wchan:20,cmd --ppid "$demo_pid" -p "$demo_pid" 2>&1)"
else
    ok "demo exits on Ctrl-C"
fi
demo_pid=""
sleep 1
left=""
kill -0 "$SERVE_PID" 2>/dev/null && left="$left migrabox:$SERVE_PID"
for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *"$work/demo"* ]] && left="$left ${p#/proc/}:$cmd"
done
[ -z "$left" ] && ok "no process left behind after Ctrl-C" || fail "no process left behind" "$left"
finish
