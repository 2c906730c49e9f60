#!/usr/bin/env python3
"""The checks of test_cluster_pg.sh (see there): four nodes A, B, C, D on one PostgreSQL store,
A killed, D partitioned from PostgreSQL, B killed, mid-batch; every job done, every mailbox
exact, takeover times measured. Environment: MIGRABOX, WORK (A.conf ... D.conf), SRC, DST,
TOOL, N, PARTPROXY (pid of partproxy.py), MB_PG_DIR (pg.sh cluster), ADMIN_PW."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

MIGRABOX = os.environ["MIGRABOX"]
WORK = os.environ["WORK"]
N = int(os.environ["N"])
PGDIR = os.environ["MB_PG_DIR"]
HERE = os.path.dirname(os.path.abspath(__file__))
failed = 0


def ok(msg):
    print("ok - " + msg, flush=True)


def fail(msg, detail=""):
    global failed
    failed += 1
    print("FAIL - " + msg, flush=True)
    if detail:
        print("  " + str(detail)[:2000].replace("\n", "\n  "), flush=True)


def check(msg, cond, detail=""):
    (ok if cond else lambda m: fail(m, detail))(msg)


def psql_cmd(sql):
    with open(os.path.join(PGDIR, "port")) as f:
        port = f.read().strip()
    cmd = ["psql", "-X", "-q", "-At", "-F", "|", "-h", os.path.join(PGDIR, "run"), "-p", port,
           "-U", "postgres", "-d", os.environ.get("PG_DBNAME", "migrabox"), "-c", sql]
    if os.getuid() == 0:
        user = "mbci" if subprocess.run(["id", "mbci"], capture_output=True).returncode == 0 \
            else "postgres"
        cmd = ["runuser", "-u", user, "--"] + cmd
    return cmd


def psql(sql):
    p = subprocess.run(psql_cmd(sql), capture_output=True, text=True, timeout=30)
    if p.returncode:
        raise RuntimeError("psql: " + p.stderr)
    return p.stdout.strip()


class Node:
    def __init__(self, name):
        self.name = name
        self.log = os.path.join(WORK, name + ".log")
        self.errf = open(self.log, "wb")
        self.proc = subprocess.Popen([MIGRABOX, "serve", "-c", os.path.join(WORK, name + ".conf")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.errf)
        self.id = self.port = None
        end = time.time() + 30
        while time.time() < end and (self.id is None or self.port is None):
            text = self.text()
            m = re.search(r"migrabox: node (\S+)", text)
            if m:
                self.id = m.group(1)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", text)
            if m:
                self.port = int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.id is None or self.port is None:
            raise RuntimeError("node %s did not start: %s" % (name, self.text()[-1500:]))

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return int(psql("SELECT count(*) FROM jobs WHERE state = 'running' AND node = '%s'"
                        % self.id))


def stop_nodes(nodes, cont=False):
    """SIGTERM every node still running (after SIGCONT first when cont: a frozen one), then
    wait for each, SIGKILL after 20 s."""
    for n in nodes.values():
        if n.proc.poll() is None:
            if cont:
                n.proc.send_signal(signal.SIGCONT)
            n.proc.terminate()
    for n in nodes.values():
        try:
            n.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            n.proc.kill()


def wait(cond, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def api(port, method, path):
    """Sign in as admin on the node at port, then one request; its JSON answer."""
    base = "http://127.0.0.1:%d" % port
    req = urllib.request.Request(base + "/api/session", method="POST",
                                 data=json.dumps({"username": "admin",
                                                  "password": os.environ["ADMIN_PW"]}).encode(),
                                 headers={"Content-Type": "application/json"})
    r = urllib.request.urlopen(req, timeout=10)
    cookie = r.headers.get("Set-Cookie", "").split(";")[0]
    csrf = json.loads(r.read()).get("csrf", "")
    req = urllib.request.Request(base + path, method=method,
                                 headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def api_nodes(port):
    return api(port, "GET", "/api/nodes")


def hold_store_lock(seconds, live):
    """Hold the store-wide write lock (db.c, PG_BEGIN_WRITE) for seconds from a session of
    its own; meanwhile, every 0.5 s, how old the heartbeat of each node of live is. Returns
    {node: oldest heartbeat seen, s}."""
    holder = subprocess.Popen(psql_cmd("BEGIN; SELECT pg_advisory_xact_lock(1835494756); "
                                       "SELECT pg_sleep(%d); COMMIT" % seconds),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    oldest = dict((k, 0) for k in live)
    while holder.poll() is None:
        for row in psql("SELECT id, extract(epoch FROM clock_timestamp())::bigint - "
                        "heartbeat_at FROM nodes WHERE id IN (%s)"
                        % ",".join("'%s'" % k for k in live)).splitlines():
            k, v = row.split("|")
            oldest[k] = max(oldest[k], int(v))
        time.sleep(0.5)
    holder.wait(timeout=30)
    return oldest


def mailboxes_exact():
    """The mailboxes of the batch compared, source against destination: the problems."""
    problems = []
    for i in range(1, N + 1):
        s = os.path.join(WORK, "s.json")
        d = os.path.join(WORK, "d.json")
        with open(s, "w") as f:
            f.write(dump(os.environ["SRC"], "u%d@src.test" % i, os.environ["SRC_PW"]))
        with open(d, "w") as f:
            f.write(dump(os.environ["DST"], "u%d@example.com" % i))
        p = subprocess.run(["python3", os.path.join(HERE, "migrate_test.py"), "compare", s, d,
                            "--dst-prefix", ""], capture_output=True, text=True)
        if p.returncode:
            problems.append("u%d: %s" % (i, (p.stdout + p.stderr)[-300:]))
    return problems


def dump(side, user, pw=None):
    env = dict(os.environ)
    args = ["python3", os.environ["TOOL"], "--env", os.path.join(side, "env"), "--user", user]
    if pw is None:
        args.append("--master")
    else:
        env["IMAP_PASSWORD"] = pw
    args.append("dump")
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    if p.returncode:
        raise RuntimeError("dump %s: %s" % (user, p.stderr[-500:]))
    return p.stdout


def main():
    nodes = {}
    start = time.monotonic()
    try:
        for name in "ABCD":
            nodes[name] = Node(name)
        A, B, C, D = (nodes[k] for k in "ABCD")
        ok("4 nodes started on one PostgreSQL store: " + ", ".join(
            "%s=%s" % (k, n.id) for k, n in nodes.items()))
        live = int(psql("SELECT count(*) FROM nodes"))
        check("the nodes table lists the 4 nodes", live == 4, live)

        # A: SIGKILL while it runs jobs.
        if not wait(lambda: A.running() >= 2, 60):
            fail("node A runs jobs", psql("SELECT state, count(*) FROM jobs GROUP BY state"))
            return
        a_jobs = A.running()
        A.proc.kill()
        t_kill_a = time.monotonic()
        print("  killed A (%d running jobs) at %.1f s" % (a_jobs, t_kill_a - start))
        # D: cut from PostgreSQL while it runs jobs, silently (partproxy.py SIGHUP: a black
        # hole, no reset, no refusal: only D's own deadline, [store] timeout, can notice).
        wait(lambda: D.running() >= 1, 30)
        d_old = D.id
        d_log0 = len(D.text())
        os.kill(int(os.environ["PARTPROXY"]), signal.SIGHUP)
        t_cut_d = time.monotonic()
        # D's jobs are those still running on it once the link is cut (psql does not go
        # through the proxy): a job D finished just before the cut is D's, done for good
        # (seen once: its finish reached PostgreSQL as the link went dark).
        time.sleep(0.5)
        d_ids = psql("SELECT string_agg(id::text, ',') FROM jobs WHERE state = 'running' "
                     "AND node = '%s'" % d_old)
        d_jobs = len(d_ids.split(",")) if d_ids else 0
        print("  cut D from PostgreSQL silently (%d running jobs: %s) at %.1f s"
              % (d_jobs, d_ids, t_cut_d - start))
        # B: SIGKILL a little later.
        time.sleep(1.5)
        wait(lambda: B.running() >= 1, 30)
        b_jobs = B.running()
        B.proc.kill()
        t_kill_b = time.monotonic()
        print("  killed B (%d running jobs) at %.1f s" % (b_jobs, t_kill_b - start))

        # D's calls to the store fail within [store] timeout (3 s) + 2 s, not never.
        def d_noticed():
            return "did not answer within" in D.text()[d_log0:]

        if wait(d_noticed, 30, 0.05):
            t_notice = time.monotonic() - t_cut_d
            check("D: a store call through the black hole fails after %.1f s ([store] timeout 3 s"
                  " + 2 s)" % t_notice, t_notice <= 5 + 2.5, t_notice)
        else:
            fail("D: a store call through the black hole fails within the bound",
                 D.text()[d_log0:][-1500:])

        def taken(node):
            return node.running() == 0

        took = {}
        for name, node, t0 in (("A", A, t_kill_a), ("B", B, t_kill_b), ("D", D, t_cut_d)):
            if wait(lambda: taken(node), 60, 0.2):
                took[name] = time.monotonic() - t0
        check("jobs of A (killed), B (killed), D (partitioned) taken over: A %s s, B %s s, D %s s"
              " (lease 5 s)" % tuple("%.1f" % took[k] if k in took else "-" for k in "ABD"),
              len(took) == 3 and all(v < 5 + 10 for v in took.values()), took)
        # D notices its lease is lost while cut off, and stops its runs.
        check("D: lease lost noticed, its runs stopped",
              wait(lambda: "lease lost" in D.text(), 30), D.text()[-800:])
        # The link comes back: D registers again as a new node.
        time.sleep(2)
        os.kill(int(os.environ["PARTPROXY"]), signal.SIGUSR2)
        check("D: link back, registered again as a new node",
              wait(lambda: "registered again" in D.text(), 40), D.text()[-800:])

        def all_ended():
            return int(psql("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')")) == 0

        if not wait(all_ended, 300, 0.5):
            fail("every job ended", psql("SELECT id, state, node, error FROM jobs "
                                         "WHERE state <> 'done' ORDER BY id"))
        states = psql("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
        check("every one of the %d jobs ended done (TERMINÉE) in %.1f s" % (N, time.monotonic()
                                                                            - start),
              states == "done|%d" % N, states)
        logs = int(psql("SELECT count(*) FROM job_log WHERE text LIKE 'taken over: node %'"))
        check("%d job log lines say 'taken over' (%d + %d + %d jobs were running)"
              % (logs, a_jobs, b_jobs, d_jobs), logs >= a_jobs + b_jobs, logs)
        stale = int(psql("SELECT count(*) FROM jobs WHERE node IS NOT NULL AND state = 'done' "
                         "AND node NOT IN (SELECT id FROM nodes)"))
        print("  jobs finished by a node that is gone since: %d" % stale)
        # D came back: what it held in flight reached PostgreSQL late (partproxy delivers it),
        # and its runs went on until it learnt its lease was lost. None of it is on the jobs
        # it lost: their rows and message maps are the new owners'.
        if d_ids:
            rows = psql("SELECT id, node, state, messages_total, messages_copied, "
                        "messages_failed, (SELECT count(*) FROM msgmap m WHERE m.job_id = j.id "
                        "AND m.state = 1) FROM jobs j WHERE id IN (%s) ORDER BY id" % d_ids)
            bad = [r for r in rows.splitlines()
                   if r.split("|")[1] == d_old or r.split("|")[2] != "done"
                   or r.split("|")[5] != "0" or r.split("|")[6] != "40"]
            check("D's %d lost jobs: owner, state, counters (none failed) and message map (40 "
                  "copied rows each) are the new owners', none of D's old node %s (id|node|state|"
                  "total|copied|failed|map: %s)" % (d_jobs, d_old, rows.replace("\n", "; ")),
                  not bad and rows, rows)
        with open(os.path.join(PGDIR, "server.log"), errors="replace") as f:
            pglog = f.read()
        fenced_pg = pglog.count("is not run by node %s" % d_old)
        fenced_d = (D.text().count("run by another node") + D.text().count("is not run by node")
                    + D.text().count("is not running"))
        print("  stale writes of D's old node refused after the takeover: %d by the message map's "
              "fence (PostgreSQL log), %d job-row writes (D's log: progress, outcome)"
              % (fenced_pg, fenced_d))

        # Every mailbox exact: no loss, no duplicate.
        problems = mailboxes_exact()
        check("all %d mailboxes exact on the destination (no loss, no duplicate)" % N,
              not problems, "\n".join(problems[:5]))

        # GET /api/nodes on a live node: the live nodes only (C and D's new id).
        r = api_nodes(C.port)
        ids = sorted(n["id"] for n in r["nodes"])
        check("GET /api/nodes (admin) on C: live nodes %s, self %s" % (ids, r["self"]),
              C.id in ids and A.id not in ids and B.id not in ids and D.id not in ids
              and len(ids) == 2 and r["self"] == C.id, r)

        # The store-wide write lock held for longer than a lease (a node cut in the middle of
        # a write transaction, or its statements delivered late once its link is back, hold it
        # until PostgreSQL ends their session) while a dead node waits to be taken over: the
        # takeover waits for the lock, the live nodes' lease renewals do not, and the dead
        # node is reaped once the lock is free. (Once, a live node lost its lease this way:
        # its renewals waited behind its own takeover's lock wait.)
        live = {n["id"]: n["heartbeat_at"] for n in r["nodes"]}
        logs0 = {k: len(nodes[k].text()) for k in "CD"}
        psql("INSERT INTO nodes (id, hostname, pid, version, listen, workers, running, "
             "started_at, heartbeat_at, lease_until) VALUES ('dead-0000', 'gone', 1, 'x', "
             "'-', 1, 0, 1, 1, 1)")
        hold = 3 * 5
        oldest = hold_store_lock(hold, live)
        t_free = time.monotonic()
        reaped = wait(lambda: psql("SELECT count(*) FROM nodes WHERE id = 'dead-0000'") == "0",
                      15, 0.2)
        t_reaped = time.monotonic() - t_free
        renewed = all(v < 5 for v in oldest.values())
        lost = [k for k in "CD" if "lease lost" in nodes[k].text()[logs0[k]:]]
        r2 = api_nodes(C.port)
        ids2 = sorted(n["id"] for n in r2["nodes"])
        check("store-wide write lock held %d s (3 leases) with a dead node to take over: the live "
              "nodes renewed their leases all along (oldest heartbeat seen: %s), none lost it "
              "(%s), the dead node taken over %.1f s after the lock was free" % (
                  hold, ", ".join("%s %d s" % kv for kv in sorted(oldest.items())),
                  ", ".join(lost) or "none", t_reaped),
              renewed and reaped and not lost and ids2 == ids and r2["self"] == C.id,
              "renewed %s reaped %s lost %s nodes %s; C: %s" % (
                  renewed, reaped, lost, ids2, nodes["C"].text()[logs0["C"]:][-1200:]))

        # The same lock held while the live nodes run jobs: a delta pass of the whole batch.
        # Their runs wait for the store where they need the lock, and go on; none loses its
        # lease, every job ends done, every mailbox is still exact.
        logs0 = {k: len(nodes[k].text()) for k in "CD"}
        bid = psql("SELECT max(batch_id) FROM jobs")
        q = api(C.port, "POST", "/api/batches/%s/delta" % bid)
        t0 = time.monotonic()
        running = wait(lambda: int(psql("SELECT count(*) FROM jobs WHERE state = 'running'"))
                       >= 2, 30, 0.1)
        oldest = hold_store_lock(hold, live)
        done_held = int(psql("SELECT count(*) FROM jobs WHERE state = 'done'"))
        ended = wait(all_ended, 300, 0.5)
        took = time.monotonic() - t0
        states = psql("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
        lost = [k for k in "CD" if "lease lost" in nodes[k].text()[logs0[k]:]]
        problems = mailboxes_exact()
        check("delta pass of the %d jobs, the store-wide write lock held %d s while they ran: "
              "%d done while it was held, all done %.1f s after the pass was queued (%s), "
              "oldest heartbeat seen %s, no lease lost (%s), every mailbox still exact" % (
                  q.get("queued", 0), hold, done_held, took, states.replace("\n", ", "),
                  ", ".join("%s %d s" % kv for kv in sorted(oldest.items())),
                  ", ".join(lost) or "none"),
              q.get("queued") == N and running and ended and states == "done|%d" % N
              and not lost and all(v < 5 for v in oldest.values()) and not problems,
              "running %s ended %s; %s; C: %s" % (running, ended, "\n".join(problems[:5]),
                                                  nodes["C"].text()[logs0["C"]:][-1500:]))
    finally:
        stop_nodes(nodes)
        for n in nodes.values():
            with open(os.path.join(WORK, "node-%s.tail" % n.name), "w") as f:
                f.write(n.text()[-3000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
