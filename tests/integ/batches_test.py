#!/usr/bin/python3
"""batches_test: batches through the JSON API of a real `migrabox serve` (issue 12).

Run by test_batches.sh (environment: MIGRABOX, WORK with a.conf, ADMIN_PW, SRC/DST Dovecot
dirs, SRC_PORT, SRC_PASSWORDS, TOOL). Prints "ok - …" / "FAIL - …" lines.
"""

import hashlib
import hmac
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

os.environ.setdefault("ORG_PW", "unused")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test  # noqa: E402  (Server, Client, check: the shared harness)
from api_test import Client, Server, check, fail, ok  # noqa: E402

WORK = os.environ["WORK"]
TOOL = os.environ["TOOL"]
SRC, DST = os.environ["SRC"], os.environ["DST"]
PASSWORDS = ["Lot-Pw;1", "Lot-Pw-2", "Lot-Pw-é3"]
USERS = ["u1", "u2", "u3"]
DB = os.path.join(WORK, "var", "migrabox.db")


def csv_text():
    def q(s):
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ';"') else s
    rows = ["login_source;pass_source;host_source;type_messagerie;login_destination;"
            "subscribed_only"]
    for u, pw in zip(USERS, PASSWORDS):
        rows.append("%s@src.test;%s;127.0.0.1:%s;defaut;%s@example.com;False"
                    % (u, q(pw), os.environ["SRC_PORT"], u))
    return "\r\n".join(rows) + "\r\n"


def dump(side, user, pw=None):
    env = dict(os.environ)
    args = ["python3", TOOL, "--env", os.path.join(side, "env"), "--user", user]
    if pw is None:
        args.append("--master")
    else:
        env["IMAP_PASSWORD"] = pw
    args.append("dump")
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    if p.returncode:
        raise RuntimeError("dump %s: %s" % (user, p.stderr[-500:]))
    return {f["name"]: f["messages"] for f in json.loads(p.stdout)["folders"]
            if not f["noselect"]}


def seed(user, pw, spec):
    env = dict(os.environ, IMAP_PASSWORD=pw)
    p = subprocess.run(["python3", TOOL, "--env", os.path.join(SRC, "env"), "--user", user,
                        "seed", "-"], input=json.dumps(spec), capture_output=True, text=True,
                       env=env)
    if p.returncode:
        raise RuntimeError("seed %s: %s" % (user, p.stderr[-500:]))


def store(user, pw, changes):
    """changes: [(folder, uid, "+FLAGS"|"-FLAGS", "(flags)")] at the source, as the user."""
    import argparse
    import imaptool
    os.environ["IMAP_PASSWORD"] = pw
    args = argparse.Namespace(env=os.path.join(SRC, "env"), host=None, port=None, user=user,
                              password_env="IMAP_PASSWORD", master=False, login=False,
                              tls="implicit")
    m = imaptool.connect(args)
    try:
        for folder, uid, op, flags in changes:
            typ, data = m.select(folder)
            assert typ == "OK", data
            typ, data = m.uid("STORE", str(uid), op, flags)
            assert typ == "OK", data
    finally:
        m.logout()
        del os.environ["IMAP_PASSWORD"]


def key(m):
    return (m["sha256"], m["internaldate"])


def same_messages(src, dst, flags=False):
    """Each source folder's messages (content, date[, flags]) are at the destination, once."""
    k = (lambda m: key(m) + (tuple(m["flags"]),)) if flags else key
    for name, msgs in src.items():
        d = sorted(k(m) for m in dst.get(name, []))
        if sorted(k(m) for m in msgs) != d:
            return False
    return True


def wait_batch(c, bid, timeout=60):
    t0 = time.time()
    b = None
    while time.time() - t0 < timeout:
        b = c.req("GET", "/api/batches/%d" % bid).json
        if b and b["jobs"]["pending"] == 0 and b["jobs"]["running"] == 0:
            return b
        time.sleep(0.1)
    return b


def batch_jobs(c, bid):
    return sorted(c.req("GET", "/api/jobs?batch=%d&limit=100" % bid).json["jobs"],
                  key=lambda j: j["id"])


WEBHOOK_SECRET = "hook-Secret-42"
HOOKS = []  # (headers dict, body bytes) of every POST received, in order


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        HOOKS.append(({k.lower(): v for k, v in self.headers.items()}, body))
        # the first delivery fails: the event must come again
        self.send_response(500 if len(HOOKS) == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def hook_events(event):
    out = []
    for h, body in HOOKS:
        try:
            j = json.loads(body)
        except ValueError:
            continue
        if j.get("event") == event:
            out.append((h, j))
    return out


def wait_hook(cond, timeout=20):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.1)
    return False


def main():
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    secret_file = os.path.join(WORK, "webhook.secret")
    with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(WEBHOOK_SECRET + "\n")
    with open(os.path.join(WORK, "a.conf")) as f:
        conf = f.read().replace("[server]\n", "[server]\nwebhook_url = http://127.0.0.1:%d/hook\n"
                                "webhook_secret_file = %s\n" % (hook.server_port, secret_file), 1)
    with open(os.path.join(WORK, "b.conf"), "w") as f:
        f.write(conf)
    srv = Server(os.path.join(WORK, "b.conf"), os.path.join(WORK, "serve.log"))
    c = Client(srv.port)
    check("sign in", c.login("admin", os.environ["ADMIN_PW"]).status == 200)
    try:
        run(c)
        webhooks(c)
        tokens(srv)
    finally:
        rc = srv.stop()
        check("serve stops cleanly", rc == 0, srv.stderr()[-1000:])
        hook.shutdown()
        hook.server_close()
    retention(conf)
    # No plaintext password anywhere in data_dir, nor in any API answer.
    blobs = b""
    vard = os.path.join(WORK, "var")
    for name in sorted(os.listdir(vard)):
        with open(os.path.join(vard, name), "rb") as f:
            blobs += f.read()
    leaks = [p for p in PASSWORDS + TOKENS if p.encode() in blobs]
    leaks += [p for p in PASSWORDS if any(p.encode() in s for s in api_test.SEEN)]
    check("no source password in data_dir or in any API answer", not leaks, leaks)
    if SEALED:
        check("after finalize, none of the %d sealed credentials is left in the database "
              "file (or its WAL)" % len(SEALED), not any(s in blobs for s in SEALED))


SEALED = []
TOKENS = []


def retention(conf):
    """The same data with credential_retention = 1s: the kept passwords are erased by serve."""
    assert "credential_retention = 30d" in conf
    with open(os.path.join(WORK, "c.conf"), "w") as f:
        f.write(conf.replace("credential_retention = 30d", "credential_retention = 1s"))
    srv = Server(os.path.join(WORK, "c.conf"), os.path.join(WORK, "serve2.log"))
    try:
        c = Client(srv.port)
        c.login("admin", os.environ["ADMIN_PW"])
        kept = [j for j in c.req("GET", "/api/jobs?limit=100").json["jobs"] if j["password_stored"]]
        t0 = time.time()
        left = kept
        while left and time.time() - t0 < 20:
            time.sleep(0.5)
            left = [j for j in c.req("GET", "/api/jobs?limit=100").json["jobs"]
                    if j["password_stored"] or j["credentials_kept_until"]]
        check("credential_retention passed: serve erases the %d kept password(s) by itself "
              "(%.1f s)" % (len(kept), time.time() - t0), kept and not left, left)
        if kept:
            r = c.req("POST", "/api/jobs/%d/delta" % kept[0]["id"])
            check("… then a delta of such a job is refused (409, password no longer stored)",
                  r.status == 409 and "no longer stored" in r.json["error"], r)
        con = sqlite3.connect(DB, timeout=10)
        n = con.execute("SELECT count(*) FROM jobs WHERE source_secret IS NOT NULL").fetchone()[0]
        con.close()
        check("no sealed password left in the database", n == 0, n)
    finally:
        rc = srv.stop()
        check("serve stops cleanly (second run)", rc == 0, srv.stderr()[-1000:])


class Bearer(Client):
    """A client that authenticates with Authorization: Bearer, no cookie, no CSRF token."""

    def __init__(self, port, token):
        super().__init__(port)
        self.token = token

    def req(self, method, path, body=None, ctype=None, csrf=False, headers=None, timeout=60):
        h = {"Authorization": "Bearer " + self.token}
        h.update(headers or {})
        return super().req(method, path, body, ctype, csrf=csrf, headers=h, timeout=timeout)


def tokens(srv):
    panel = Client(srv.port)
    check("sign in as a domain account (example.com)",
          panel.login("panel", os.environ["ORG_PW"]).status == 200)
    other = Client(srv.port)
    other.login("other", os.environ["OTHER_PW"])
    r = panel.req("POST", "/api/tokens", {"name": "panneau"})
    ok_ = r.status == 201 and r.json["token"].startswith("mbx_") and r.json["name"] == "panneau"
    check("POST /api/tokens: 201, the token shown once", ok_, r)
    if not ok_:
        return
    tok, tid = r.json["token"], r.json["id"]
    TOKENS.append(tok)
    lst = panel.req("GET", "/api/tokens")
    check("GET /api/tokens lists it by name, without the token",
          lst.status == 200 and [t["name"] for t in lst.json["tokens"]] == ["panneau"]
          and tok not in lst.body, lst)
    r2 = other.req("POST", "/api/tokens", {"name": "autre"})
    TOKENS.append(r2.json["token"] if r2.status == 201 else "")
    con = sqlite3.connect(DB, timeout=10)
    hashes = [row[0] for row in con.execute("SELECT token_hash FROM api_tokens")]
    con.close()
    check("tokens are stored as SHA-256 hashes",
          hashlib.sha256(tok.encode()).digest() in hashes and len(hashes) == 2, len(hashes))

    b = Bearer(srv.port, tok)
    r = b.req("POST", "/api/imports", csv_text().split("\r\n")[0] + "\r\n"
              + csv_text().split("\r\n")[2] + "\r\n", ctype="text/csv")
    check("with the token, no cookie and no CSRF token: a CSV import is queued (201)",
          r.status == 201 and r.json.get("batch"), r)
    bid = r.json.get("batch") if r.json else None
    bt = wait_batch(b, bid) if bid else None
    if not check("with the token: the batch, its jobs done", bt and bt["jobs"]["done"] == 1, bt):
        return
    r = b.req("POST", "/api/batches/%d/delta" % bid)
    check("with the token: POST /api/batches/{id}/delta (no CSRF needed)",
          r.status == 200 and r.json["queued"] == 1, r)
    wait_batch(b, bid)
    ob = Bearer(srv.port, TOKENS[1])
    r1 = ob.req("GET", "/api/batches/%d" % bid)
    r2 = ob.req("POST", "/api/batches/%d/delta" % bid)
    r3 = ob.req("GET", "/api/batches").json
    check("a token of another domain (example.org) neither sees nor acts on the batch (404)",
          r1.status == 404 and r2.status == 404 and all(x["id"] != bid for x in r3["batches"]),
          (r1, r2))
    r = b.req("POST", "/api/tokens", {"name": "x"})
    check("a token cannot create tokens (403)", r.status == 403, r)
    r = panel.req("POST", "/api/batches/%d/delta" % bid, csrf=False)
    check("a cookie session still needs its CSRF token (403)", r.status == 403, r)
    r = panel.req("DELETE", "/api/tokens/%d" % tid)
    check("DELETE /api/tokens/{id} revokes it (204)", r.status == 204, r)
    r = b.req("GET", "/api/batches")
    check("a revoked token gets 401", r.status == 401 and "revoked" in r.json["error"], r)
    r = Bearer(srv.port, "mbx_not-a-token").req("GET", "/api/jobs")
    check("an unknown token gets 401", r.status == 401, r)


def webhooks(c):
    passes = hook_events("batch.pass_done")
    first = passes[0][1]["batch"] if passes else {}
    check("webhook: batch.pass_done received for each batch pass (first: batch %s, %s)"
          % (first.get("id"), first.get("jobs")),
          len(passes) >= 3 and first.get("jobs", {}).get("done") == 3
          and first.get("jobs", {}).get("total") == 3 and "progress" in first, passes[:2])
    ids = [h.get("x-migrabox-event-id") for h, _ in HOOKS]
    check("webhook: the event answered 500 was delivered again (same event id)",
          len(ids) >= 2 and ids[0] is not None and ids.count(ids[0]) >= 2, ids[:5])
    r = c.req("POST", "/api/jobs", {"source_host": "127.0.0.1:%s" % os.environ["SRC_PORT"],
                                    "source_login": "u1@src.test",
                                    "source_password": "Wrong-Pw-x", "server_type": "defaut",
                                    "dest_login": "u1@example.com", "source_tls": "starttls"})
    jid = r.json["id"] if r.status == 201 else None
    got = wait_hook(lambda: any(j["job"]["id"] == jid for _, j in hook_events("job.failed")))
    ev = [j for _, j in hook_events("job.failed") if j["job"]["id"] == jid]
    check("webhook: job.failed for a job refused by the source, with its reason",
          got and ev and ev[0]["job"]["batch"] is None and ev[0]["job"]["error"]
          and ev[0]["job"]["error_code"] == "source_auth_refused"
          and isinstance(ev[0]["job"]["error_params"].get("server"), dict)
          and ev[0]["job"]["error"].startswith("authentication refused by the source server (")
          and ev[0]["job"]["dest_login"] == "u1@example.com", ev or HOOKS[-3:])
    bad = []
    for h, body in HOOKS:
        want = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(h.get("x-migrabox-signature", ""), want):
            bad.append(h.get("x-migrabox-signature"))
    check("webhook: every delivery (%d) carries a valid HMAC-SHA256 signature" % len(HOOKS),
          HOOKS and not bad, bad)
    blob = b"".join(body for _, body in HOOKS)
    leaks = [p for p in PASSWORDS + ["Wrong-Pw-x", WEBHOOK_SECRET] if p.encode() in blob]
    check("webhook: no password or secret in any payload", not leaks, leaks)


def run(c):
    # ---- pre-stage: a 3-row CSV batch ----
    r = c.req("POST", "/api/imports", csv_text(), ctype="text/csv")
    if not check("import a 3-row CSV: 201, one batch", r.status == 201 and r.json.get("batch"),
                 r):
        return
    bid = r.json["batch"]
    b = wait_batch(c, bid)
    check("batch %d: 3 jobs done, 75 messages copied" % bid,
          b and b["jobs"]["done"] == 3 and b["jobs"]["total"] == 3
          and b["progress"]["messages_copied"] == 75, b)
    check("the batch keeps its credentials, says until when, is not finalized",
          b and b["credentials_kept"] == 3 and b["credentials_kept_until"]
          and b["finalized"] is False and b["sync_every"] is None, b)
    lst = c.req("GET", "/api/batches").json
    check("GET /api/batches lists it with counts by state",
          lst and any(x["id"] == bid and x["jobs"]["done"] == 3 for x in lst["batches"]), lst)
    jobs = batch_jobs(c, bid)
    check("each job: done, password kept, credentials_kept_until set",
          len(jobs) == 3 and all(j["state"] == "done" and j["password_stored"] is True
                                 and j["credentials_kept_until"] and j["finalized"] is False
                                 for j in jobs), jobs)
    before = {u: dump(DST, u + "@example.com") for u in USERS}

    # ---- 10 new messages at the source ----
    added = {"u1": 4, "u2": 3, "u3": 3}
    for i, (u, pw) in enumerate(zip(USERS, PASSWORDS)):
        seed(u + "@src.test", pw, {"folders": [
            {"name": "INBOX", "generate": {"count": added[u] - 1, "size": 1500,
                                           "seed": 100 + i}},
            {"name": "Archives", "generate": {"count": 1, "size": 1200, "seed": 200 + i}}]})

    # ---- flags changed on 5 messages at the source, both ways, keywords too ----
    store("u1@src.test", PASSWORDS[0], [("INBOX", 1, "-FLAGS", "(\\Seen)"),
                                         ("INBOX", 2, "-FLAGS", "(\\Seen)"),
                                         ("INBOX", 3, "+FLAGS", "(\\Flagged $Label1)")])
    store("u2@src.test", PASSWORDS[1], [("Archives", 1, "+FLAGS", "(\\Answered)")])
    store("u3@src.test", PASSWORDS[2], [("INBOX", 5, "-FLAGS", "(\\Seen)"),
                                         ("INBOX", 5, "+FLAGS", "($Work)")])

    # ---- delta pass of the batch, no password ----
    t0 = time.time()
    r = c.req("POST", "/api/batches/%d/delta" % bid)
    check("POST /api/batches/{id}/delta without any password: 3 jobs queued",
          r.status == 200 and r.json["queued"] == 3 and r.json["without_credentials"] == 0, r)
    b = wait_batch(c, bid)
    dt = time.time() - t0
    jobs = batch_jobs(c, bid)
    copied = sum(j["progress"]["messages_copied"] for j in jobs)
    check("delta pass: done, exactly the 10 new messages copied (%.1f s)" % dt,
          b["jobs"]["done"] == 3 and copied == 10
          and all(j["progress"]["messages_copied"] == added[j["source_login"].split("@")[0]]
                  for j in jobs), jobs)
    ok_ = True
    for u, pw in zip(USERS, PASSWORDS):
        src = dump(SRC, u + "@src.test", pw)
        dst = dump(DST, u + "@example.com")
        old = before[u]
        # nothing else touched: every message that was there is still there
        kept = all({key(x) for x in old[f]} <= {key(x) for x in dst[f]} for f in old)
        n_src = sum(len(v) for v in src.values())
        n_dst = sum(len(v) for v in dst.values() if v)
        if not (same_messages(src, dst, flags=True) and kept and n_src == n_dst):
            ok_ = False
            fail("destination of %s after the delta" % u, (n_src, n_dst))
    check("destinations hold every source message once, with the source's flags (5 changed: "
          "added and removed, keywords too); what was there is still there", ok_)
    log = c.req("GET", "/api/jobs/%d/log?after=0" % jobs[0]["id"]).json["lines"]
    check("the job's log says flags were updated",
          any("flags updated on 3 message(s)" in ln["text"] for ln in log), log[-5:])

    # ---- an unchanged delta: timing ----
    t0 = time.time()
    r = c.req("POST", "/api/batches/%d/delta" % bid)
    b = wait_batch(c, bid)
    print("measured: delta pass of an unchanged 3-mailbox batch (85 messages): %.2f s"
          % (time.time() - t0))
    check("a delta of an unchanged batch copies nothing", r.status == 200
          and b["jobs"]["done"] == 3 and b["progress"]["messages_copied"] == 0, b)

    # ---- exactly once across jobs: the same CSV again ----
    r = c.req("POST", "/api/imports", csv_text(), ctype="text/csv")
    bid2 = r.json.get("batch") if r.json else None
    b2 = wait_batch(c, bid2) if bid2 else None
    check("re-importing the same CSV: a new batch whose 3 jobs copy 0 messages",
          b2 and b2["jobs"]["done"] == 3 and b2["progress"]["messages_copied"] == 0
          and b2["progress"]["messages_skipped"] == 85, b2)
    n_dst = sum(len(v) for u in USERS for v in dump(DST, u + "@example.com").values())
    check("the destinations still hold 85 messages (no duplicate)", n_dst == 85, n_dst)
    # adding rows into an existing batch
    r = c.req("POST", "/api/imports?batch=%d" % bid2, csv_text().split("\r\n", 2)[0] + "\r\n"
              + csv_text().split("\r\n")[1] + "\r\n", ctype="text/csv")
    b2 = wait_batch(c, bid2)
    check("POST /api/imports?batch=ID adds rows to that batch (4 jobs, still 0 copied)",
          r.status == 201 and r.json["batch"] == bid2 and b2["jobs"]["total"] == 4
          and b2["jobs"]["done"] == 4 and b2["progress"]["messages_copied"] == 0, (r, b2))
    r = c.req("POST", "/api/imports?batch=99999", csv_text(), ctype="text/csv")
    check("importing into a batch that does not exist: 404", r.status == 404, r)

    # ---- one job: delta, finalize ----
    j = batch_jobs(c, bid2)[0]
    r = c.req("POST", "/api/jobs/%d/delta" % j["id"])
    check("POST /api/jobs/{id}/delta without a password: queued", r.status == 200
          and r.json["state"] in ("pending", "running"), r)
    t0 = time.time()
    while time.time() - t0 < 30:
        jj = c.req("GET", "/api/jobs/%d" % j["id"]).json
        if jj["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    r = c.req("POST", "/api/jobs/%d/finalize" % j["id"])
    check("POST /api/jobs/{id}/finalize: credentials erased",
          r.status == 200 and r.json["finalized"] is True and r.json["password_stored"] is False
          and r.json["credentials_kept_until"] is None, r)
    r = c.req("POST", "/api/jobs/%d/delta" % j["id"])
    check("a delta of a finalized job is refused (409, clear error)",
          r.status == 409 and "finalized" in r.json["error"], r)

    # ---- automatic passes ----
    r = c.req("PATCH", "/api/batches/%d" % bid, {"sync_every": "abc"})
    check("PATCH sync_every: not a duration: 422", r.status == 422, r)
    r = c.req("PATCH", "/api/batches/%d" % bid, {"sync_every": "2s"})
    check("PATCH sync_every 2s: automatic passes", r.status == 200
          and r.json["batch"]["sync_every"] == "2s" and r.json["batch"]["next_sync_at"], r)
    jid = batch_jobs(c, bid)[0]["id"]
    ends = set()
    t0 = time.time()
    while time.time() - t0 < 20 and len(ends) < 3:
        jj = c.req("GET", "/api/jobs/%d" % jid).json
        if jj["state"] == "done":
            ends.add(jj["finished_at"])
        time.sleep(0.2)
    check("the scheduler runs passes by itself (%d distinct ends in %.1f s)"
          % (len(ends), time.time() - t0), len(ends) >= 3, ends)
    r = c.req("POST", "/api/batches/%d/finalize" % bid)
    if r.status == 409:
        check("finalize while a pass runs: 409 with a clear error",
              "pending or running" in r.json["error"], r)
        c.req("POST", "/api/batches/%d/cancel" % bid)
    r = c.req("PATCH", "/api/batches/%d" % bid, {"sync_every": None})
    check("PATCH sync_every null stops them", r.status == 200
          and r.json["batch"]["sync_every"] is None, r)
    wait_batch(c, bid)

    # ---- finalize ----
    con = sqlite3.connect(DB, timeout=10)
    SEALED.extend(row[0] for row in con.execute(
        "SELECT source_secret FROM jobs WHERE source_secret IS NOT NULL"))
    con.close()
    r = c.req("POST", "/api/batches/%d/finalize" % bid)
    check("POST /api/batches/{id}/finalize: the batch is finalized, no credential kept",
          r.status == 200 and r.json["batch"]["finalized"] is True
          and r.json["batch"]["credentials_kept"] == 0
          and r.json["batch"]["credentials_kept_until"] is None, r)
    con = sqlite3.connect(DB, timeout=10)
    n = con.execute("SELECT count(*) FROM jobs WHERE batch_id = ? AND (source_secret IS NOT NULL"
                    " OR auth_profile IS NOT NULL)", (bid,)).fetchone()[0]
    con.close()
    check("the database file holds no credential of the finalized batch", n == 0, n)
    r = c.req("POST", "/api/batches/%d/delta" % bid)
    check("a further delta of the finalized batch is refused (409, clear error)",
          r.status == 409 and "finalized" in r.json["error"], r)
    r = c.req("POST", "/api/batches/%d/delta" % bid, headers={"Accept-Language": "fr"})
    check("… in French too", r.status == 409 and "finalisé" in r.json["error"], r)
    r = c.req("PATCH", "/api/batches/%d" % bid, {"sync_every": "24h"})
    check("automatic passes of a finalized batch are refused (409)", r.status == 409, r)
    # the other batch: finalize it too, so the file check below covers every credential
    c.req("POST", "/api/batches/%d/finalize" % bid2)
    r = c.req("GET", "/api/batches/999999")
    check("GET /api/batches/{unknown}: 404", r.status == 404, r)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback
        fail("batches_test.py crashed: %s" % e, traceback.format_exc())
    print("batches_test: done" if not api_test.FAILED else
          "batches_test: %d failed" % api_test.FAILED)
    sys.exit(1 if api_test.FAILED else 0)
