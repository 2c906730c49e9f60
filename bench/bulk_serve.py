#!/usr/bin/python3
"""bulk_serve: the migrabox side of bench/run.sh's bulk round.

  bulk_serve.py MIGRABOX CONF CSV LOG > result.json

Starts `MIGRABOX serve -c CONF` (stderr to LOG), signs in as "admin" (password in the
environment variable BENCH_ADMIN_PW), starts a poller that does GET /api/jobs?batch=ID every
~100 ms with the session cookie (each request timed), queues CSV with POST /api/imports
(session + CSRF token), and waits until every job of the batch is done or failed. Then reads
serve's peak RSS (VmHWM) and CPU time (utime + stime, every thread) from /proc, stops serve
(SIGTERM) and prints one JSON object: wall_s (from just before the POST to the first poll
that saw every job ended), rss_kb, cpu_s, jobs (state -> count), api_ms (p50, p99, max, n),
error (null, or why the round failed).
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

POLL_S = 0.1
TIMEOUT_S = float(os.environ.get("BENCH_BULK_TIMEOUT", "1800"))


def req(port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    raw = r.read()
    hdrs = r.getheaders()
    conn.close()
    return r.status, hdrs, raw


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def proc_stats(pid):
    rss = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1])
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tck  # utime, stime (fields 14, 15)
    return rss, cpu


def main():
    migrabox, conf, csv_path, log = sys.argv[1:5]
    out = {"wall_s": None, "rss_kb": None, "cpu_s": None, "jobs": {}, "api_ms": {},
           "error": None}
    errf = open(log, "wb")
    proc = subprocess.Popen([migrabox, "serve", "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=errf)
    stop = threading.Event()
    lat = []
    state = {"jobs": None, "t_end": None}
    try:
        port = None
        deadline = time.time() + 30
        while time.time() < deadline and port is None:
            with open(log, "rb") as f:
                m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", f.read())
            if m:
                port = int(m.group(1))
            elif proc.poll() is not None:
                raise RuntimeError("serve exited with status %d" % proc.returncode)
            else:
                time.sleep(0.05)
        if port is None:
            raise RuntimeError("serve did not print its port")
        st, hdrs, raw = req(port, "POST", "/api/session",
                            json.dumps({"username": "admin",
                                        "password": os.environ["BENCH_ADMIN_PW"]}),
                            {"Content-Type": "application/json", "Accept": "application/json"})
        if st != 200:
            raise RuntimeError("sign-in: HTTP %d" % st)
        csrf = json.loads(raw)["csrf"]
        cookie = None
        for k, v in hdrs:
            if k.lower() == "set-cookie" and v.startswith("mbx_session="):
                cookie = v.split(";", 1)[0]
        if not cookie:
            raise RuntimeError("sign-in: no session cookie")
        with open(csv_path, "rb") as f:
            body = f.read()
        batch = {}

        def poller():
            while not stop.is_set():
                if "id" in batch:
                    t0 = time.monotonic()
                    try:
                        st, _, raw = req(port, "GET", "/api/jobs?batch=%d&limit=1000" % batch["id"],
                                         headers={"Cookie": cookie, "Accept": "application/json"})
                    except OSError:
                        st, raw = 0, b""
                    t1 = time.monotonic()
                    lat.append((t1 - t0) * 1000.0)
                    if st == 200:
                        jobs = json.loads(raw)["jobs"]
                        counts = {}
                        for j in jobs:
                            counts[j["state"]] = counts.get(j["state"], 0) + 1
                        state["jobs"] = counts
                        if (jobs and len(jobs) == batch["n"]
                                and all(j["state"] in ("done", "failed") for j in jobs)):
                            state["t_end"] = t1
                            return
                    time.sleep(max(0.0, POLL_S - (time.monotonic() - t0)))
                else:
                    time.sleep(0.01)

        th = threading.Thread(target=poller, daemon=True)
        th.start()
        t_start = time.monotonic()
        st, _, raw = req(port, "POST", "/api/imports", body,
                         {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "text/csv",
                          "Accept": "application/json"})
        if st != 201:
            raise RuntimeError("POST /api/imports: HTTP %d %s" % (st, raw[:300]))
        r = json.loads(raw)
        batch["n"] = r["queued"]
        batch["id"] = r["batch"]
        th.join(TIMEOUT_S)
        if state["t_end"] is None:
            raise RuntimeError("not every job ended within %g s: %s" % (TIMEOUT_S, state["jobs"]))
        out["wall_s"] = round(state["t_end"] - t_start, 3)
        out["jobs"] = state["jobs"]
        out["rss_kb"], out["cpu_s"] = proc_stats(proc.pid)
        out["cpu_s"] = round(out["cpu_s"], 2)
    except Exception as e:  # the round records the failure
        out["error"] = str(e)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        errf.close()
    if lat:
        out["api_ms"] = {"p50": round(pct(lat, 50), 1), "p99": round(pct(lat, 99), 1),
                         "max": round(max(lat), 1), "n": len(lat)}
    print(json.dumps(out))
    return 0 if out["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
