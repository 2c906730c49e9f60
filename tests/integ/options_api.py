#!/usr/bin/python3
"""options_api: the migration options through the API of a real `migrabox serve`.

Run by test_options.sh (environment): MIGRABOX, WORK (serve.conf, admin account "admin" with
ADMIN_PW), SRC_PW (the source password), SRC_IMAPS / SRC_IMAP (source ports). Writes
WORK/<name>.json summaries ({"report": ...}) for options_test.py's left_out check and prints
"ok - …" / "FAIL - …" lines.
"""

import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("ORG_PW", "unused")
import api_test  # noqa: E402  (Server, Client, ok/fail counters)

WORK = os.environ["WORK"]
SRC_PW = os.environ["SRC_PW"]
OPTS = {"since": "2024-03-10", "before": "2024-03-20",
        "exclude_folders": ["Archives/*", "\\Junk"],
        "folder_map": {"Projects": "Clients/2024/Projects"}, "max_message_size": 5000,
        "gmail_labels": "first"}
IMPORT_OPTS = {"since": "2024-03-10", "exclude_folders": ["\\Trash", "Archives/*"],
               "folder_map": {"Work/Sub": "Renamed"}, "max_message_size": 5000}


def wait_done(c, ids, timeout=90):
    deadline = time.time() + timeout
    jobs = {}
    while time.time() < deadline:
        jobs = {i: c.req("GET", "/api/jobs/%d" % i).json for i in ids}
        if all(j and j["state"] in ("done", "failed") for j in jobs.values()):
            break
        time.sleep(0.3)
    return jobs


def save(name, job):
    with open(os.path.join(WORK, name + ".json"), "w", encoding="utf-8") as f:
        json.dump({"state": job.get("state"), "error": job.get("error"),
                   "report": job.get("report")}, f)


def main():
    check = api_test.check
    srv = api_test.Server(os.path.join(WORK, "serve.conf"), os.path.join(WORK, "serve.log"))
    try:
        admin = api_test.Client(srv.port)
        check("admin logs in", admin.login("admin", os.environ["ADMIN_PW"]).status == 200)
        body = {"source_host": "127.0.0.1:%s" % os.environ["SRC_IMAPS"],
                "source_login": "olga@example.com", "source_password": SRC_PW,
                "server_type": "defaut", "dest_login": "api@example.com",
                "source_tls": "implicit"}
        body.update(OPTS)
        r = admin.req("POST", "/api/jobs", body)
        check("POST /api/jobs with options: 201", r.status == 201, repr(r))
        jid = r.json["id"] if r.json else 0
        check("the answer shows the options as given", r.json and r.json.get("options") == OPTS,
              repr(r))
        job = wait_done(admin, [jid]).get(jid) or {}
        check("the job ends done", job.get("state") == "done", repr(job)[:500])
        check("GET /api/jobs/{id} shows the options", job.get("options") == OPTS,
              repr(job.get("options")))
        # « Relancer »: the retry (a delta pass) applies the same options: nothing more copied,
        # the destination still the exact subset (checked by test_options.sh on this run).
        r = admin.req("POST", "/api/jobs/%d/retry" % jid, {"source_password": SRC_PW})
        check("retry of the job: 200", r.status == 200, repr(r))
        job = wait_done(admin, [jid]).get(jid) or {}
        check("the retry ends done with the same options, copying nothing new",
              job.get("state") == "done" and job.get("options") == OPTS
              and (job.get("progress") or {}).get("messages_copied") == 0, repr(job)[:600])
        save("api", job)
        lst = admin.req("GET", "/api/jobs?limit=5").json or {}
        check("the job list shows the options too",
              any(j["id"] == jid and j.get("options") == OPTS for j in lst.get("jobs", [])))

        for bad, field in [({"since": "2024-13-01"}, "since"),
                           ({"before": "yesterday"}, "before"),
                           ({"since": "2024-03-10", "before": "2024-03-01"}, "before"),
                           ({"exclude_folders": "Trash"}, "exclude_folders"),
                           ({"exclude_folders": ["\\Spam"]}, "exclude_folders"),
                           ({"folder_map": {"A": ""}}, "folder_map"),
                           ({"max_message_size": -1}, "max_message_size"),
                           ({"max_message_size": "5000"}, "max_message_size"),
                           ({"gmail_labels": "some"}, "gmail_labels")]:
            b = dict(body)
            for k in OPTS:
                b.pop(k, None)
            b.update(bad)
            r = admin.req("POST", "/api/jobs", b)
            fields = [e.get("field") for e in (r.json or {}).get("errors", [])]
            check("POST /api/jobs %s: 422 naming field %s" % (json.dumps(bad), field),
                  r.status == 422 and field in fields, repr(r))

        # A CSV import's query parameters: every job of the batch gets the options.
        before_n = (admin.req("GET", "/api/jobs?limit=1").json or {}).get("total")
        csv = ("login_source;pass_source;host_source;type_messagerie;login_destination;"
               "subscribed_only\r\n")
        for dest in ("csv1", "csv2"):
            csv += "olga@example.com;%s;127.0.0.1:%s;defaut;%s@example.com;0\r\n" % (
                SRC_PW, os.environ["SRC_IMAP"], dest)
        q = [("since", "2024-03-10"), ("exclude_folder", "\\Trash"),
             ("exclude_folder", "Archives/*"), ("map_folder", "Work/Sub=Renamed"),
             ("max_message_size", "5000")]
        bad_q = urllib.parse.urlencode(q + [("map_folder", "Work/Sub=Other")])
        r = admin.req("POST", "/api/imports?" + bad_q, csv, ctype="text/csv")
        after_n = (admin.req("GET", "/api/jobs?limit=1").json or {}).get("total")
        check("POST /api/imports with a folder mapped twice: 400 naming the option, nothing queued",
              r.status == 400 and "folder_map" in r.body and "mapped twice" in r.body
              and before_n == after_n, repr(r))
        r = admin.req("POST", "/api/imports?" + urllib.parse.urlencode(q), csv, ctype="text/csv")
        check("POST /api/imports with options: 201", r.status == 201, repr(r))
        ids = [j["id"] for j in (r.json or {}).get("jobs", [])]
        check("the import answer shows the options on each job",
              len(ids) == 2 and all(j.get("options") == IMPORT_OPTS for j in r.json["jobs"]),
              repr(r)[:600])
        jobs = wait_done(admin, ids)
        for i, dest in zip(ids, ("csv1", "csv2")):
            job = jobs.get(i) or {}
            check("import job for %s done with the batch's options" % dest,
                  job.get("state") == "done" and job.get("options") == IMPORT_OPTS,
                  repr(job)[:500])
            save(dest, job)
        # « Tester la connexion »: the destination's quota (GETQUOTAROOT) against the source size.
        for dest, limit, fits in (("qsmall", 50 * 1024, False), ("qbig", 10 * 1024 * 1024, True),
                                  ("api", None, None)):
            b = {k: v for k, v in body.items() if k not in OPTS}
            b["dest_login"] = dest + "@example.com"
            r = admin.req("POST", "/api/check", b)
            src = (r.json or {}).get("source") or {}
            q = ((r.json or {}).get("destination") or {}).get("quota", "absent")
            if limit is None:
                check("check %s: no quota limit, no quota line" % dest, r.status == 200 and q is None,
                      repr(r)[:400])
                continue
            check("check %s: quota line %d bytes, used 0, estimated %s, fits %s" % (
                  dest, limit, src.get("bytes"), fits),
                  r.status == 200 and src.get("ok") and isinstance(q, dict) and q.get("limit") == limit
                  and q.get("used") == 0 and q.get("free") == limit
                  and q.get("estimated_after") == src.get("bytes") and q.get("fits") is fits,
                  repr(r)[:600])
        # « Vérifier les accès »: a 200-row CSV, every row checked, nothing queued.
        kinds = ["good", "badpw", "nodest", "nohost", "overquota"]
        csv = ("login_source;pass_source;host_source;type_messagerie;login_destination;"
               "subscribed_only\r\n")
        rows = []
        for i in range(200):
            kind = kinds[i % 5]
            host = "127.0.0.1:%s" % os.environ["SRC_IMAP"]
            # v<i>: made by test_options.sh (10 MiB quota, none for i % 10 == 0, 50 KiB for
            # the over-quota rows); nobody<i> does not exist.
            pw, dest = SRC_PW, "v%d" % i
            if kind == "badpw":
                pw = "wrong-%d" % i
            elif kind == "nodest":
                dest = "nobody%d" % i
            elif kind == "nohost":
                host = "nohost%d.invalid" % i
            csv += "olga@example.com;%s;%s;defaut;%s@example.com;0\r\n" % (pw, host, dest)
            rows.append((i + 2, kind, dest))
        size = (admin.req("POST", "/api/check", dict(body, dest_login="qbig@example.com")).json
                or {}).get("source", {}).get("bytes")
        before_n = (admin.req("GET", "/api/jobs?limit=1").json or {}).get("total")
        t0 = time.time()
        r = admin.req("POST", "/api/imports?verify=1", csv, ctype="text/csv", timeout=300)
        secs = time.time() - t0
        after_n = (admin.req("GET", "/api/jobs?limit=1").json or {}).get("total")
        got = {x["line"]: x for x in (r.json or {}).get("rows", [])}
        wrong = []
        for line, kind, dest in rows:
            x = got.get(line) or {}
            err = x.get("error") or ""
            if kind == "good":
                good = (x.get("ok") is True and x.get("bytes") == size and x.get("messages", 0) > 0
                        and x.get("quota_free") == (None if line % 10 == 2 else 10 * 1024 * 1024))
            elif kind == "badpw":
                good = x.get("ok") is False and "authentication refused" in err and x.get("bytes") is None
            elif kind == "nodest":
                good = x.get("ok") is False and "destination" in err and x.get("bytes") == size
            elif kind == "nohost":
                good = x.get("ok") is False and "host not found" in err
            else:
                good = (x.get("ok") is False and "over the destination's quota" in err
                        and x.get("quota_free") == 50 * 1024 and x.get("bytes") == size)
            if not good:
                wrong.append("line %d (%s): %r" % (line, kind, x))
        check("verify of 200 rows: every row's result right (%d ok), nothing queued, %.1f s" % (
              sum(1 for x in got.values() if x.get("ok")), secs),
              r.status == 200 and len(got) == 200 and not wrong and before_n == after_n,
              "%r %s\n%s" % (r.status, r.body[:600], "\n".join(wrong[:10])))
        print("# verify of a 200-row CSV: %.2f s (server: %s ms)" % (secs, (r.json or {}).get("elapsed_ms")))
        r = admin.req("POST", "/api/imports?verify=maybe", csv, ctype="text/csv")
        check("verify must be 1 or 0: 400", r.status == 400, repr(r))
        check("the source password appears in no API answer",
              not any(SRC_PW.encode() in raw for raw in api_test.SEEN))
    finally:
        rc = srv.stop()
    log = srv.stderr()
    api_test.check("serve stops cleanly (exit %s), no sanitizer report" % rc,
                   rc == 0 and "Sanitizer" not in log and "runtime error:" not in log,
                   log[-1500:])
    return 1 if api_test.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
