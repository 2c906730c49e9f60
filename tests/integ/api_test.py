#!/usr/bin/python3
"""api_test: the JSON API of a real `migrabox serve`, driven with the standard library.

Run by test_api.sh, which prepares (environment variables):
  MIGRABOX   the binary            WORK  scratch dir with a.conf (HTTP) and b.conf (tls = on)
  ADMIN_PW / ORG_PW   passwords of the accounts "admin" (admin) and "orgacct" (example.org)
  HAVE_DOVECOT=1      source/destination Dovecot instances are up (SRC, DST dirs with env files)
  SRC_USER SRC_PASSWORD DEST_ADDR SEEDED_MESSAGES TOOL (imaptool.py)   for the real migration
  CLI_PASSWORDS       passwords of the batch queued by `migrabox import` before the server ran
Prints "ok - …" / "FAIL - …" / "skip - …" lines; exit status 1 if anything failed.
"""

import http.client
import json
import os
import re
import shlex
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time

MIGRABOX = os.environ["MIGRABOX"]
WORK = os.environ["WORK"]
HAVE_DOVECOT = os.environ.get("HAVE_DOVECOT") == "1"
ADMIN_PW = os.environ["ADMIN_PW"]
ORG_PW = os.environ["ORG_PW"]
SRC_PASSWORD = os.environ.get("SRC_PASSWORD", "")
DUMMY_HOST = os.environ.get("DUMMY_HOST", "127.0.0.1:9")  # jobs not meant to succeed
CSV_PASSWORDS = ["Csv-Pw;1", 'Csv "Pw" 2', "Csv-Pw-é3"]
ALL_SECRETS = [ADMIN_PW, ORG_PW, *CSV_PASSWORDS, *os.environ.get("CLI_PASSWORDS", "").split(" ")]
if SRC_PASSWORD:
    ALL_SECRETS.append(SRC_PASSWORD)
FAILED = 0
SEEN = []  # every raw response, scanned for passwords at the end


def ok(name):
    print("ok - " + name, flush=True)


def fail(name, detail=""):
    global FAILED
    FAILED += 1
    print("FAIL - " + name, flush=True)
    if detail:
        for line in str(detail).splitlines()[:20]:
            print("  " + line, flush=True)


def check(name, cond, detail=""):
    if cond:
        ok(name)
    else:
        fail(name, detail)
    return cond


class Server:
    """A `migrabox serve -c CONF` child; its stderr goes to a file."""

    def __init__(self, conf, log):
        self.log = log
        self.errf = open(log, "wb")
        self.proc = subprocess.Popen([MIGRABOX, "serve", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.errf)
        self.scheme = self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(r"migrabox: listening on (https?)://127\.0\.0\.1:(\d+)/", self.stderr())
            if m:
                self.scheme, self.port = m.group(1), int(m.group(2))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("serve did not start: " + self.stderr()[-2000:])

    def stderr(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.errf.close()
        return rc


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        self.json = None
        if "json" in self.header("Content-Type", "") and body:
            try:
                self.json = json.loads(body)
            except ValueError:
                pass

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def __repr__(self):
        return "%d %s" % (self.status, self.body[:300])


class Client:
    def __init__(self, port, tls=False):
        self.port = port
        self.tls = tls
        self.cookie = None
        self.csrf = None

    def req(self, method, path, body=None, ctype=None, csrf=True, headers=None, timeout=60):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Accept": "application/json"}
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf is True and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        elif isinstance(csrf, str):
            h["X-CSRF-Token"] = csrf
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            ctype = ctype or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if ctype:
            h["Content-Type"] = ctype
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        raw = r.read()
        hdrs = r.getheaders()
        conn.close()
        SEEN.append(b"".join(("%s: %s\n" % kv).encode() for kv in hdrs) + raw)
        resp = Resp(r.status, hdrs, raw.decode("utf-8", "replace"))
        sc = resp.header("Set-Cookie")
        if sc and sc.startswith("mbx_session="):
            v = sc.split(";", 1)[0]
            self.cookie = v if v != "mbx_session=" else None
        return resp

    def login(self, user, pw):
        r = self.req("POST", "/api/session", {"username": user, "password": pw})
        if r.status == 200 and r.json:
            self.csrf = r.json["csrf"]
        return r


def job_body(**kw):
    b = {"source_host": DUMMY_HOST, "source_login": "x@src.test", "source_password": "Pw-x",
         "server_type": "defaut", "dest_login": "x@example.com", "subscribed_only": False,
         "source_tls": "none"}
    b.update(kw)
    return b


def thread_nices(pid):
    """{thread id: (name, nice value)} of a process, from /proc/PID/task/TID/stat."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        # fields after the name start at field 3 (state); nice is field 19
        out[int(tid)] = (name, int(st[st.rindex(")") + 2:].split()[16]))
    return out


def main():
    a = Server(os.path.join(WORK, "a.conf"), os.path.join(WORK, "serveA.log"))
    check("serve prints 'listening on http://127.0.0.1:PORT/' (port %d)" % a.port,
          a.scheme == "http")
    check("serve gives no 'no account' hint when accounts exist",
          "no account yet" not in a.stderr(), a.stderr())
    st = os.stat(os.path.join(WORK, "varA"))
    check("data_dir created mode 0700", stat.S_IMODE(st.st_mode) == 0o700,
          oct(stat.S_IMODE(st.st_mode)))
    # The workers' threads (named worker-N) run 5 nice steps below serve's other threads
    # ([server] worker_nice, default 5), so that the HTTP threads answer first on a busy machine.
    threads = thread_nices(a.proc.pid)
    main_nice = threads.get(a.proc.pid, ("?", None))[1]
    workers = sorted((c, n) for c, n in threads.values() if c.startswith("worker-"))
    want = min(19, main_nice + 5) if main_nice is not None else None
    check("serve's 2 worker threads run at nice %s (main thread %s)" % (want, main_nice),
          workers == [("worker-1", want), ("worker-2", want)]
          and all(n == main_nice for c, n in threads.values() if not c.startswith("worker-")),
          threads)
    anon = Client(a.port)
    admin = Client(a.port)
    org = Client(a.port)

    # ---- sessions ----
    r1, r2 = anon.req("GET", "/api/jobs"), anon.req("GET", "/api/session")
    check("401 without a session", r1.status == 401 and r2.status == 401 and r1.json.get("error"),
          (r1, r2))
    r = admin.login("admin", ADMIN_PW)
    sc = r.header("Set-Cookie", "")
    check("sign-in: 200, HttpOnly SameSite=Strict cookie, csrf token",
          r.status == 200 and r.json["admin"] is True and "HttpOnly" in sc
          and "SameSite=Strict" in sc and "Secure" not in sc and len(admin.csrf) >= 32, (r, sc))
    r = org.login("orgacct", ORG_PW)
    check("domain account: admin false, domains [example.org]",
          r.status == 200 and r.json["admin"] is False and r.json["domains"] == ["example.org"], r)
    r = admin.req("GET", "/api/session")
    check("GET /api/session returns the same object", r.status == 200
          and r.json == {"username": "admin", "admin": True, "domains": [], "csrf": admin.csrf}, r)

    # ---- CSRF, content types ----
    r1 = admin.req("POST", "/api/jobs", job_body(), csrf=False)
    r2 = admin.req("POST", "/api/jobs", job_body(), csrf="x" * 43)
    r3 = admin.req("DELETE", "/api/session", csrf=False)
    check("403 without / with a wrong X-CSRF-Token", r1.status == 403 and r2.status == 403
          and r3.status == 403, (r1, r2, r3))
    r1 = admin.req("POST", "/api/jobs", json.dumps(job_body()), ctype="text/plain")
    r2 = admin.req("POST", "/api/imports", "a;b", ctype="application/json")
    r3 = admin.req("POST", "/api/imports", "a;b", ctype="application/x-www-form-urlencoded")
    check("415 for a wrong Content-Type", r1.status == r2.status == r3.status == 415,
          (r1, r2, r3))
    r = admin.req("PATCH", "/api/jobs")
    check("405 with Allow", r.status == 405 and r.header("Allow") == "GET, HEAD, POST", r)
    r = admin.req("GET", "/api/jobs/abc")
    check("404 JSON for a malformed id / unknown path",
          r.status == 404 and admin.req("GET", "/api/x").status == 404 and r.json, r)

    # ---- the batch queued by `migrabox import` before the server started ----
    r = admin.req("GET", "/api/jobs?batch=1")
    check("the CLI batch is visible: 2 jobs, no owner",
          r.status == 200 and r.json["total"] == 2
          and all(j["owner"] is None and j["batch"] == 1 for j in r.json["jobs"]), r)

    # ---- domains ----
    r = admin.req("POST", "/api/jobs", job_body(dest_login="x@example.com"))
    xid = r.json["id"] if r.status == 201 else None
    check("admin creates a job for example.com (201)", r.status == 201, r)
    r1 = org.req("GET", "/api/jobs/%s" % xid)
    r2 = org.req("POST", "/api/jobs/%s/cancel" % xid)
    r3 = org.req("DELETE", "/api/jobs/%s" % xid)
    r4 = org.req("GET", "/api/jobs/%s/log" % xid)
    check("404 across domains, like a missing job (read, cancel, delete, log)",
          (r1.status, r2.status, r3.status, r4.status) == (404, 404, 404, 404)
          and r1.json == org.req("GET", "/api/jobs/999999999").json, (r1, r2, r3, r4))
    r = org.req("GET", "/api/jobs?limit=1000")
    check("a domain account's list holds only its domain",
          r.status == 200 and all(j["dest_login"].endswith("@example.org")
                                  for j in r.json["jobs"]) and r.json["total"] >= 1, r)
    r = org.req("POST", "/api/jobs", job_body(dest_login="y@example.com"))
    check("a domain account cannot create a job for another domain (422 on dest_login)",
          r.status == 422 and any(e.get("field") == "dest_login" for e in r.json["errors"]), r)
    r = org.req("POST", "/api/jobs", job_body(dest_login="y"))
    check("a local part gets the account's domain",
          r.status == 201 and r.json["dest_login"] == "y@example.org", r)

    # ---- CSV ----
    r = admin.req("POST", "/api/imports", b"x" * (2 * 1024 * 1024 + 1), ctype="text/csv")
    check("413 for an upload over max_upload_bytes", r.status == 413, r)
    before = admin.req("GET", "/api/jobs?limit=1").json["total"]
    bad = ("login_source;pass_source;host_source;type_messagerie;login_destination;"
           "subscribed_only\r\nok@src.test;p;imap.src.test;defaut;ok@example.com;False\r\n"
           "b@src.test;;imap.src.test;defaut;b@example.com;False\r\n"
           "c@src.test;p;imap.src.test;defaut;c@nothosted.net;Peut-être\r\n")
    r = admin.req("POST", "/api/imports", bad, ctype="text/csv")
    after = admin.req("GET", "/api/jobs?limit=1").json["total"]
    errs = r.json.get("errors", []) if r.json else []
    got = sorted((e["line"], e["column"]) for e in errs)
    check("422 CSV errors name line and column, nothing queued",
          r.status == 422 and got == [(3, 2), (4, 5), (4, 6)] and before == after
          and all(e["message"] and not e["message"].startswith("line") for e in errs),
          (r, before, after))
    r = admin.req("GET", "/api/sample.csv")
    sample = r.body
    check("GET /api/sample.csv: text/csv attachment with the hosted domain",
          r.status == 200 and r.header("Content-Type", "").startswith("text/csv")
          and 'filename="exemple-migration.csv"' in r.header("Content-Disposition", "")
          and "@example.com" in sample and "<votreDomaine>" not in sample, r)
    r = admin.req("POST", "/api/imports?dry_run=1", sample, ctype="text/csv")
    rows = [ln.split(";") for ln in sample.strip().splitlines()[1:]]
    check("the spec's sample file round-trips through a dry run",
          r.status == 200 and r.json["batch"] is None and len(r.json["jobs"]) == len(rows) == 5
          and [j["dest_login"] for j in r.json["jobs"]] == [x[4] for x in rows]
          and [j["server_type"] for j in r.json["jobs"]] == [x[3] for x in rows]
          and all("password" not in json.dumps(j) for j in r.json["jobs"]), r)
    win = ("login_source;pass_source;host_source;type_messagerie;login_destination;"
           "subscribed_only\r\nandré@src.test;Mot-dé-passe;imap.src.test;Defaut;"
           "andré@example.org;VRAI\r\n").replace("VRAI", "True").encode("cp1252")
    r = admin.req("POST", "/api/imports?dry_run=1", win, ctype="text/csv")
    check("a Windows-1252 CRLF file from a French spreadsheet imports",
          r.status == 200 and r.json["jobs"][0]["source_login"] == "andré@src.test"
          and r.json["encoding"] == "windows-1252" and r.json["jobs"][0]["subscribed_only"], r)
    csv3 = ("c1@src.test;\"%s\";%s;defaut;c1@example.org;False\n"
            "c2@src.test;\"%s\";%s;gmail;c2@example.org;False\n"
            "c3@src.test;%s;%s;office;c3@example.org;True\n"
            % (CSV_PASSWORDS[0], DUMMY_HOST, CSV_PASSWORDS[1].replace('"', '""'), DUMMY_HOST,
               CSV_PASSWORDS[2], DUMMY_HOST))
    r = org.req("POST", "/api/imports", csv3, ctype="text/csv")
    check("a domain account imports a batch into its domain (201, batch id, 3 jobs)",
          r.status == 201 and isinstance(r.json["batch"], int) and len(r.json["jobs"]) == 3
          and all(j["owner"] == "orgacct" and j["state"] in ("pending", "running", "failed")
                  for j in r.json["jobs"]), r)

    # ---- « Tester la connexion » and a real migration ----
    if HAVE_DOVECOT:
        engine(admin)
    else:
        print("skip - engine checks (no Dovecot)")

    # ---- metrics, health ----
    r = anon.req("GET", "/healthz")
    check("/healthz 200 {status: ok} without a session",
          r.status == 200 and r.json == {"status": "ok"}, r)
    r = anon.req("GET", "/metrics")
    lines = [ln for ln in r.body.splitlines() if ln and not ln.startswith("#")]
    pat = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? '
                     r'-?[0-9]+(\.[0-9]+)?$')
    bad_lines = [ln for ln in lines if not pat.match(ln)]
    names = {ln.split("{")[0].split(" ")[0] for ln in lines}
    states = {m.group(1) for m in (re.match(r'migrabox_jobs\{state="(\w+)"\}', ln)
                                   for ln in lines) if m}
    check("/metrics: Prometheus text format, job states, counters, workers",
          r.status == 200 and r.header("Content-Type", "").startswith("text/plain")
          and not bad_lines and states == {"pending", "running", "failed", "done"}
          and {"migrabox_messages_copied_total", "migrabox_bytes_copied_total",
               "migrabox_messages_failed_total", "migrabox_workers_busy",
               "migrabox_build_info", "migrabox_node_info", "migrabox_nodes_live",
               "migrabox_node_running_jobs"} <= names
          and "migrabox_nodes_live 1" in lines
          and all(("# TYPE " + n + " ") in r.body for n in names),
          bad_lines or r.body[:500])

    # ---- logout ----
    r = org.req("DELETE", "/api/session")
    r2 = org.req("GET", "/api/session")
    check("logout: 204, then 401", r.status == 204 and r2.status == 401, (r, r2))

    # ---- throttling (last sign-ins of this run: it blocks 127.0.0.1 for 15 minutes) ----
    probe = Client(a.port)
    codes = [probe.login("nobody", "guess-%d" % i).status for i in range(5)]
    r = probe.login("admin", ADMIN_PW)
    check("sign-in throttling: 5 failures, then 429 with Retry-After (even with the right "
          "password)", codes == [401] * 5 and r.status == 429
          and 0 < int(r.header("Retry-After", "0")) <= 900, (codes, r))

    # ---- 10,000 rows ----
    big = ["login_source;pass_source;host_source;type_messagerie;login_destination;"
           "subscribed_only"]
    for i in range(10000):
        big.append("user%05d@src.test;Pw10k-%05d;127.0.0.1:9;%s;dest%05d@example.%s;%s"
                   % (i, i, ("defaut", "exchange", "gmail")[i % 3], i, ("com", "org")[i % 2],
                      ("False", "True")[i % 2]))
    big = ("\r\n".join(big) + "\r\n").encode()
    t0 = time.time()
    r = admin.req("POST", "/api/imports?dry_run=1", big, ctype="text/csv")
    t1 = time.time()
    check("10,000-row CSV dry run: %.2f s (%d KB)" % (t1 - t0, len(big) // 1024),
          r.status == 200 and len(r.json["jobs"]) == 10000, r)
    t0 = time.time()
    r = admin.req("POST", "/api/imports", big, ctype="text/csv")
    t1 = time.time()
    batch = r.json["batch"] if r.status == 201 else None
    check("10,000-row CSV import: %.2f s, one batch, all or nothing, a summary answer "
          "(response %d KB)" % (t1 - t0, len(r.body) // 1024),
          r.status == 201 and r.json["queued"] == 10000 and len(r.json["jobs"]) == 100
          and r.json["jobs_truncated"] is True and len(r.body) < 200 * 1024, r)
    r = admin.req("GET", "/api/jobs?batch=%s&limit=1" % batch)
    check("the batch lists 10,000 jobs", r.status == 200 and r.json["total"] == 10000, r)
    ALL_SECRETS.append("Pw10k-0")

    # ---- stop; secrets nowhere ----
    rc = a.stop()
    err = a.stderr()
    check("SIGTERM: serve stops cleanly (exit 0)", rc == 0 and "migrabox: stopped" in err,
          "exit %d: %s" % (rc, err[-500:]))
    leaks = [s for s in ALL_SECRETS if s and any(s.encode() in raw for raw in SEEN)]
    check("no password in any API response (%d responses)" % len(SEEN), not leaks, leaks)
    leaks = [s for s in ALL_SECRETS if s and s in err]
    check("no password in the server's log (%d lines)" % err.count("\n"), not leaks, leaks)
    blobs = b""
    vard = os.path.join(WORK, "varA")
    for name in sorted(os.listdir(vard)):
        with open(os.path.join(vard, name), "rb") as f:
            blobs += f.read()
    leaks = [s for s in ALL_SECRETS if s and s.encode() in blobs]
    check("no password in data_dir (database, WAL, %d bytes)" % len(blobs), not leaks, leaks)

    https_checks()


def engine(admin):
    src = dict(shlex.split(ln)[0].split("=", 1) for ln in open(os.path.join(os.environ["SRC"],
                                                                             "env"))
               if "=" in ln)
    seeded = int(os.environ["SEEDED_MESSAGES"])
    body = {"source_host": "127.0.0.1:%s" % src["IMAPS_PORT"],
            "source_login": os.environ["SRC_USER"], "source_password": SRC_PASSWORD,
            "server_type": "defaut", "dest_login": os.environ["DEST_ADDR"],
            "subscribed_only": False, "source_tls": "implicit"}
    r = admin.req("POST", "/api/check", body)
    s = r.json.get("source", {}) if r.json else {}
    d = r.json.get("destination", {}) if r.json else {}
    check("« Tester la connexion »: both sides ok, %s messages in %s folders"
          % (s.get("messages"), len(s.get("folders", []))),
          r.status == 200 and s.get("ok") is True and d.get("ok") is True
          and s.get("messages") == seeded and len(s.get("folders", [])) >= 3
          and all({"name", "messages", "bytes"} <= set(f) for f in s["folders"]), r)
    r = admin.req("POST", "/api/check", dict(body, source_password="wrong-pw"))
    check("« Tester la connexion » with a wrong password: source refused, reason given",
          r.status == 200 and r.json["source"]["ok"] is False and r.json["source"]["error"], r)
    s = r.json["source"] if r.status == 200 else {}
    rf = admin.req("POST", "/api/check", dict(body, source_password="wrong-pw"),
                   headers={"Accept-Language": "fr"})
    sf = rf.json["source"] if rf.status == 200 else {}
    check("« Tester la connexion »: the refusal coded (source_auth_refused, the server's words "
          "nested), its text in the request's language",
          s.get("code") == "source_auth_refused" and isinstance(s.get("params", {}).get("server"), dict)
          and s["error"].startswith("authentication refused by the source server (")
          and sf.get("code") == "source_auth_refused"
          and sf.get("error", "").startswith("authentification refusée par le serveur source ("),
          (s, sf))
    r = admin.req("POST", "/api/check", dict(body, dest_login="missing@example.com"))
    check("« Tester la connexion » with a missing destination box: destination refused",
          r.status == 200 and r.json["destination"]["ok"] is False
          and r.json["destination"]["error"], r)

    t0 = time.time()
    r = admin.req("POST", "/api/jobs", body)
    if not check("create a real job (201)", r.status == 201, r):
        return
    jid = r.json["id"]
    seen = [r.json["state"]]
    job = r.json
    while time.time() - t0 < 60:
        job = admin.req("GET", "/api/jobs/%d" % jid).json
        if job["state"] != seen[-1]:
            seen.append(job["state"])
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    p = job["progress"]
    check("job %s: %s in %.1f s (copied %d of %d)" % (jid, " -> ".join(seen), time.time() - t0,
                                                      p["messages_copied"], p["messages_total"]),
          job["state"] == "done" and job["error"] is None and p["messages_copied"] == seeded
          and job["started_at"] and job["finished_at"] and job["password_stored"] is False,
          job)
    if "running" not in seen:
        print("  (note: the job finished between two polls; 'running' was not observed)")
    rep = job.get("report")
    check("GET /api/jobs/{id} embeds the engine's report",
          isinstance(rep, dict) and isinstance(rep.get("folders"), list) and rep["folders"], rep)
    r = admin.req("GET", "/api/jobs/%d/log?after=0" % jid)
    n = len(r.json["lines"]) if r.json else 0
    r2 = admin.req("GET", "/api/jobs/%d/log?after=%d" % (jid, r.json["last"] if r.json else 0))
    check("job log: %d lines, then nothing after the last id" % n,
          r.status == 200 and n > 0 and r2.json["lines"] == [], (r, r2))
    dst = subprocess.run([sys.executable, os.environ["TOOL"], "--env",
                          os.path.join(os.environ["DST"], "env"), "--user",
                          os.environ["DEST_ADDR"], "--master", "dump"],
                         capture_output=True, text=True)
    try:
        count = sum(len(f["messages"]) for f in json.loads(dst.stdout)["folders"])
    except ValueError:
        count = -1
    check("the destination mailbox holds the %d messages" % seeded, count == seeded,
          dst.stderr[-500:])
    # A failed job's error and its log, in the request's language (Accept-Language).
    r = admin.req("POST", "/api/jobs", body)
    cid = r.json["id"] if r.status == 201 else 0
    admin.req("POST", "/api/jobs/%d/cancel" % cid)
    job_fr = job_en = {}
    while cid and time.time() - t0 < 120:
        job_fr = admin.req("GET", "/api/jobs/%d" % cid, headers={"Accept-Language": "fr-FR,fr;q=0.9"}).json
        if job_fr["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    job_en = admin.req("GET", "/api/jobs/%d" % cid, headers={"Accept-Language": "en"}).json or {}
    err_fr, err_en = job_fr.get("error") or {}, job_en.get("error") or {}
    check("a cancelled job's error: code cancelled, text in French (fr) and in English (en)",
          job_fr.get("state") == "failed" and err_fr.get("code") == "cancelled"
          and err_fr.get("params") == {} and err_fr.get("text") == "tâche annulée"
          and err_en.get("code") == "cancelled" and err_en.get("text") == "cancelled",
          (job_fr, job_en))
    lf = admin.req("GET", "/api/jobs/%d/log" % jid, headers={"Accept-Language": "fr"}).json or {}
    check("job log lines carry code, params and text",
          lf.get("lines") and all({"id", "time", "level", "code", "params", "text"} <= set(ln)
                                  for ln in lf["lines"]), lf)
    # The engine's per-folder lines are coded: worded in French for Accept-Language: fr, in
    # English otherwise, with their parameters apart (a line of another connection of the
    # run is the same line inside log_lane: "[connection N] ...").
    le = admin.req("GET", "/api/jobs/%d/log" % jid, headers={"Accept-Language": "en"}).json or {}

    def inbox_done(lines):
        out = []
        for ln in lines or []:
            m = ln
            if ln.get("code") == "log_lane":
                m = (ln.get("params") or {}).get("line") or {}
            if m.get("code") == "log_folder_done" and (m.get("params") or {}).get("folder") == "INBOX":
                out.append((ln["text"], m["params"]))
        return out
    done_fr, done_en = inbox_done(lf.get("lines")), inbox_done(le.get("lines"))
    check("job log (fr): the INBOX line in French, its counts as parameters",
          done_fr and "dossier INBOX : " in done_fr[0][0]
          and "copié(s)" in done_fr[0][0] and "déjà présent(s)" in done_fr[0][0]
          and isinstance(done_fr[0][1].get("copied"), int)
          and done_en and "folder INBOX: " in done_en[0][0]
          and " copied, " in done_en[0][0], (done_fr, done_en, lf))
    conn_fr = [ln for ln in lf.get("lines") or [] if ln.get("code") == "log_connected"]
    check("job log (fr): « connecté à … en tant que … »",
          conn_fr and conn_fr[0]["text"].startswith("connecté à ")
          and " en tant que " in conn_fr[0]["text"], conn_fr)
    cat = admin.req("GET", "/api/messages", csrf=False).json or {}
    check("GET /api/messages: the catalogue, every code in English and in French",
          len(cat) > 10 and all(v.get("en") and v.get("fr") for v in cat.values())
          and cat.get("cancelled", {}).get("fr") == "tâche annulée", len(cat))
    r = admin.req("POST", "/api/jobs/%d/retry" % jid)
    check("retry without a password: 422 password required",
          r.status == 422 and r.json["error"] == "password required", r)
    r = admin.req("POST", "/api/jobs/%d/retry" % jid, {"source_password": SRC_PASSWORD})
    ok_ = r.status == 200 and r.json["state"] in ("pending", "running")
    while ok_ and time.time() - t0 < 90:
        job = admin.req("GET", "/api/jobs/%d" % jid).json
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    check("retry with the password: done again, every message skipped (delta run)",
          ok_ and job["state"] == "done" and job["progress"]["messages_skipped"] == seeded
          and job["progress"]["messages_copied"] == 0, (r, job))
    r = admin.req("DELETE", "/api/jobs/%d" % jid)
    check("delete the job (204, then 404)", r.status == 204
          and admin.req("GET", "/api/jobs/%d" % jid).status == 404, r)
    # Messages the destination refuses (SMALL_DEST: the quota plugin's size limit): the report's
    # failed_messages[] carry the reason coded (reason_code, reason_params: the server's own
    # words as they are), its text in the request's language.
    r = admin.req("POST", "/api/jobs", dict(body, dest_login=os.environ["SMALL_DEST"]))
    sid = r.json["id"] if r.status == 201 else 0
    job = {}
    while sid and time.time() - t0 < 150:
        job = admin.req("GET", "/api/jobs/%d" % sid).json
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    rep_fr = (admin.req("GET", "/api/jobs/%d" % sid, headers={"Accept-Language": "fr"}).json
              or {}).get("report") or {}
    rep_en = (admin.req("GET", "/api/jobs/%d" % sid, headers={"Accept-Language": "en"}).json
              or {}).get("report") or {}
    f_fr, f_en = rep_fr.get("failed_messages") or [], rep_en.get("failed_messages") or []
    m_fr, m_en = (f_fr or [{}])[0], (f_en or [{}])[0]
    said = (m_en.get("reason_params") or {}).get("server") or ""
    check("refused messages (%d): reason coded msg_dest_refused_said with the server's words "
          "(\"%s\"), worded in French (fr) and in English (en)" % (len(f_en), said),
          job.get("state") == "done" and job["progress"]["messages_failed"] == len(f_en) > 0
          and len(f_fr) == len(f_en) and m_en.get("reason_code") == "msg_dest_refused_said"
          and m_fr.get("reason_code") == "msg_dest_refused_said" and "LIMIT" in said
          and m_fr.get("reason_params") == m_en.get("reason_params")
          and m_en.get("reason") == "refused by the destination: " + said
          and m_fr.get("reason") == "refusé par la destination : " + said,
          (job.get("state"), job.get("progress"), m_fr, m_en))


def https_checks():
    vard = os.path.join(WORK, "varB")
    env = dict(os.environ, MIGRABOX_PASSWORD=ADMIN_PW)
    subprocess.run([MIGRABOX, "user", "add", "admin", "--admin", "-c",
                    os.path.join(WORK, "b.conf")], env=env, capture_output=True)
    b = Server(os.path.join(WORK, "b.conf"), os.path.join(WORK, "serveB.log"))
    check("tls = on without a certificate: https with a generated one (port %d)" % b.port,
          b.scheme == "https" and os.path.exists(os.path.join(vard, "tls.crt"))
          and stat.S_IMODE(os.stat(os.path.join(vard, "tls.key")).st_mode) == 0o600,
          b.stderr())
    try:
        pem = ssl.get_server_certificate(("127.0.0.1", b.port))
    except (OSError, ssl.SSLError) as e:
        pem = str(e)
    with open(os.path.join(vard, "tls.crt")) as f:
        on_disk = f.read()
    check("the served certificate is the generated one",
          "BEGIN CERTIFICATE" in pem and pem.split("-----")[2].split() ==
          on_disk.split("-----")[2].split(), pem[:200])
    got, weak = [], []
    for ciphers, out in (("DEFAULT", got), ("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
                                           "AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA256", weak)):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        try:
            with socket.create_connection(("127.0.0.1", b.port), timeout=5) as raw_s:
                with ctx.wrap_socket(raw_s) as ts:
                    out.append(ts.cipher()[0])
        except (OSError, ssl.SSLError) as e:
            out.append("refused: %s" % type(e).__name__)
    check("13: the HTTPS front negotiates AEAD suites only (%s); CBC/SHA-1 suites are refused "
          "(%s)" % (got[0], weak[0]),
          ("GCM" in got[0] or "CHACHA20" in got[0]) and weak[0].startswith("refused"),
          (got, weak))
    # TLS 1.3 (mbedTLS 3.6) and TLS 1.2 both served, each checked with OpenSSL's own client.
    for flag, proto in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
        try:
            p = subprocess.run(["openssl", "s_client", flag, "-connect", "127.0.0.1:%d" % b.port,
                                "-servername", "localhost", "-ign_eof"],
                               input=b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                                     b"Connection: close\r\n\r\n",
                               capture_output=True, timeout=20)
            out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            out = "s_client failed: %s" % e
        m = re.search(r"New, (TLSv[0-9.]+), Cipher is (\S+)", out)
        check("openssl s_client %s: the HTTPS front negotiates %s (%s) and answers /healthz"
              % (flag, proto, m.group(2) if m else "?"),
              m is not None and m.group(1) == proto and "HTTP/1.1 200" in out
              and '"status":"ok"' in out.replace(" ", ""), out[-1500:])
    c = Client(b.port, tls=True)
    r = c.req("GET", "/healthz")
    check("/healthz over TLS", r.status == 200 and r.json == {"status": "ok"}, r)
    r = c.login("admin", ADMIN_PW)
    sc = r.header("Set-Cookie", "")
    check("over HTTPS the session cookie is Secure and HSTS is sent",
          r.status == 200 and "; Secure" in sc and r.header("Strict-Transport-Security"), r)
    try:
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = s.recv(100)
        s.close()
    except OSError:
        data = b""
    check("plain HTTP on the HTTPS port gets no HTTP answer", not data.startswith(b"HTTP/"),
          data)
    rc = b.stop()
    check("the HTTPS server stops cleanly", rc == 0, b.stderr()[-500:])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is a failure, with its reason
        import traceback
        fail("api_test.py crashed: %s" % e, traceback.format_exc())
    print("%s" % ("api_test: done" if not FAILED else "api_test: %d failed" % FAILED))
    sys.exit(1 if FAILED else 0)
