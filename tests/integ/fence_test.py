#!/usr/bin/env python3
"""The fence round of test_cluster_pg.sh: two nodes G and H on their own database of the
PostgreSQL store (PG_DBNAME), 6 mailboxes. G is frozen (SIGSTOP: a VM paused, a node that
neither dies nor talks) while it runs jobs; after [store] lease H takes them over and goes
on; then G is thawed: its runs wake up where they were and write to the store before they
learn that their node lost its lease. Those writes must be refused — the message map's fence
(trigger, counted in PostgreSQL's log) and the job row's (node = ..., counted in G's log) —
the jobs' rows and message maps stay H's, and every mailbox is exact. Environment: as
cluster_test.py, plus PG_DBNAME, FIRST (first mailbox number), COUNT."""
import os
import signal
import subprocess
import time

import cluster_test as ct


def main():
    first, count = int(os.environ["FIRST"]), int(os.environ["COUNT"])
    nodes = {}
    start = time.monotonic()
    try:
        G = nodes["G"] = ct.Node("G")

        def g_busy():
            # G runs jobs that have recorded copies already (their message map is G's work)
            return int(ct.psql("SELECT count(*) FROM jobs j WHERE state = 'running' AND node = "
                               "'%s' AND EXISTS (SELECT 1 FROM msgmap m WHERE m.job_id = j.id "
                               "AND m.state = 1)" % G.id)) >= 1

        if not ct.wait(g_busy, 60, 0.05):
            ct.fail("node G runs jobs", ct.psql("SELECT id, state, node FROM jobs"))
            return 1
        G.proc.send_signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        g_old = G.id
        g_ids = ct.psql("SELECT string_agg(id::text, ',') FROM jobs WHERE state = 'running' "
                        "AND node = '%s'" % g_old)
        print("  froze G (%s; running jobs %s) at %.1f s" % (g_old, g_ids, t_stop - start))
        if not g_ids:
            ct.fail("G runs jobs when frozen")
            return 1
        H = nodes["H"] = ct.Node("H")

        def h_owns():
            return int(ct.psql("SELECT count(*) FROM jobs WHERE id IN (%s) AND node = '%s'"
                               % (g_ids, H.id))) == len(g_ids.split(","))

        if ct.wait(h_owns, 60, 0.1):
            took = time.monotonic() - t_stop
            ct.check("G's jobs taken over by H %.1f s after G froze (lease 5 s)" % took,
                     took < 5 + 10, took)
        else:
            ct.fail("G's jobs taken over by H", ct.psql("SELECT id, state, node FROM jobs"))
        time.sleep(1.0)  # H goes on with them
        G.proc.send_signal(signal.SIGCONT)
        print("  thawed G at %.1f s" % (time.monotonic() - start))
        ct.check("G: learns its lease was lost, stops its runs",
                 ct.wait(lambda: "lease lost" in G.text(), 30), G.text()[-800:])

        def all_ended():
            return int(ct.psql("SELECT count(*) FROM jobs WHERE state IN ('pending', "
                               "'running')")) == 0

        ended = ct.wait(all_ended, 240, 0.5)
        states = ct.psql("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")
        ct.check("every one of the %d jobs ended done" % count,
                 ended and states == "done|%d" % count, states)
        rows = ct.psql("SELECT id, node, state, messages_failed, (SELECT count(*) FROM msgmap m "
                       "WHERE m.job_id = j.id AND m.state = 1) FROM jobs j WHERE id IN (%s) "
                       "ORDER BY id" % g_ids)
        bad = [r for r in rows.splitlines()
               if r.split("|")[1] == g_old or r.split("|")[2] != "done"
               or r.split("|")[3] != "0" or r.split("|")[4] != "40"]
        ct.check("G's lost jobs: owner, state and message map (40 copied rows each) are H's "
                 "(id|node|state|failed|map: %s)" % rows.replace("\n", "; "),
                 rows and not bad, rows)
        with open(os.path.join(ct.PGDIR, "server.log"), errors="replace") as f:
            pglog = f.read()
        by_trigger = pglog.count("is not run by node %s" % g_old)
        text = G.text()
        by_row = text.count("run by another node") + text.count("is not running")
        ct.check("G's stale writes refused after its thaw: %d by the message map's fence "
                 "(PostgreSQL log), %d job-row writes (G's log)" % (by_trigger, by_row),
                 by_trigger + by_row >= 1, text[-1500:])
        problems = []
        for i in range(first, first + count):
            s = os.path.join(ct.WORK, "fs.json")
            d = os.path.join(ct.WORK, "fd.json")
            with open(s, "w") as f:
                f.write(ct.dump(os.environ["SRC"], "u%d@src.test" % i, os.environ["SRC_PW"]))
            with open(d, "w") as f:
                f.write(ct.dump(os.environ["DST"], "f%d@example.com" % i))
            p = subprocess.run(["python3", os.path.join(ct.HERE, "migrate_test.py"), "compare",
                                s, d, "--dst-prefix", ""], capture_output=True, text=True)
            if p.returncode:
                problems.append("f%d: %s" % (i, (p.stdout + p.stderr)[-300:]))
        ct.check("all %d mailboxes exact on the destination (no loss, no duplicate)" % count,
                 not problems, "\n".join(problems[:5]))
    finally:
        ct.stop_nodes(nodes, cont=True)
    return 1 if ct.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
