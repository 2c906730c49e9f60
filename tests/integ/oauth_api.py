#!/usr/bin/env python3
"""oauth_api.py: the API of source authentication profiles against a real `migrabox serve`
(driven by test_oauth.sh, which starts the fake token endpoint, the quirk servers and Dovecot).

Environment: MIGRABOX, WORK (the test's directory, with api.conf and busy.conf), ADMIN_PW,
ORG_PW, ORG2_PW, TENANT, APP_ID, SECRET_VALUE, TURL (token endpoint base), QPORT (office
quirk server), QPORT_SLOW (office quirk server that stalls), TREPORT (token server report).
Prints "ok - ..." / "FAIL - ..." lines (api_test.py's helpers) and "measured: ..." lines."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("ORG_PW", os.environ.get("ORG_PW", "x"))
import api_test  # noqa: E402  (Server, Client, ok/fail/check)
from api_test import Client, Server, check  # noqa: E402

W = os.environ["WORK"]
TENANT, APP_ID, SECRET = os.environ["TENANT"], os.environ["APP_ID"], os.environ["SECRET_VALUE"]
TURL = os.environ["TURL"]


def issued():
    return json.load(open(os.environ["TREPORT"]))["issued"]


def wait_jobs(cli, ids, timeout=90):
    deadline = time.time() + timeout
    jobs = {}
    while time.time() < deadline:
        jobs = {i: cli.req("GET", "/api/jobs/%d" % i).json for i in ids}
        if all(j and j["state"] in ("done", "failed") for j in jobs.values()):
            break
        time.sleep(0.2)
    return jobs


def main():
    s = Server(os.path.join(W, "api.conf"), os.path.join(W, "serve-api.log"))
    admin, org, org2 = Client(s.port), Client(s.port), Client(s.port)
    admin.login("admin", os.environ["ADMIN_PW"])
    org.login("orgacct", os.environ["ORG_PW"])
    org2.login("org2", os.environ["ORG2_PW"])

    body = {"name": "contoso", "kind": "microsoft365", "tenant": TENANT, "client_id": APP_ID,
            "client_secret": SECRET, "token_url": "%s/%s/oauth2/v2.0/token" % (TURL, TENANT)}
    r = org.req("POST", "/api/profiles", body)
    check("POST /api/profiles: 201, public fields, no secret echoed",
          r.status == 201 and r.json["name"] == "contoso" and r.json["kind"] == "microsoft365"
          and r.json["tenant"] == TENANT and r.json["owner"] == "orgacct"
          and "client_secret" not in r.json and SECRET not in r.body, r)
    r = org.req("POST", "/api/profiles", body)
    check("POST /api/profiles: a duplicate name is a 422 on name",
          r.status == 422 and r.json["errors"][0]["field"] == "name", r)
    r = org.req("POST", "/api/profiles", {"name": "x", "kind": "microsoft365",
                                         "client_id": APP_ID, "client_secret": "s"})
    check("POST /api/profiles: a missing tenant is a 422 on tenant",
          r.status == 422 and r.json["errors"][0]["field"] == "tenant", r)
    r = org.req("POST", "/api/profiles", {"name": "x", "kind": "kerberos"})
    check("POST /api/profiles: an unknown kind is a 422 on kind",
          r.status == 422 and any(e["field"] == "kind" for e in r.json["errors"]), r)
    r = org.req("POST", "/api/profiles", dict(body, name="tmp"))
    lo, la, l2 = (c.req("GET", "/api/profiles") for c in (org, admin, org2))
    names = lambda r: sorted(p["name"] for p in r.json["profiles"])  # noqa: E731
    check("GET /api/profiles: the owner and admins see the profile, another account does not",
          names(lo) == ["contoso", "tmp"] and names(la) == ["contoso", "tmp"]
          and names(l2) == [] and SECRET not in lo.body + la.body, (lo, la, l2))
    r = org2.req("DELETE", "/api/profiles/contoso")
    check("DELETE by another account: 404", r.status == 404, r)
    r = org2.req("POST", "/api/jobs", {"source_host": "127.0.0.1:%s" % os.environ["QPORT"],
                                       "source_login": "jean.martin@contoso.fr",
                                       "auth_profile": "contoso", "server_type": "office",
                                       "source_tls": "none", "dest_login": "o4@example.com"})
    check("POST /api/jobs with another account's profile: 422 on auth_profile",
          r.status == 422 and r.json["errors"][0]["field"] == "auth_profile", r)

    # « Tester »: a token, then XOAUTH2 as the mailbox
    r = org.req("POST", "/api/profiles/contoso/check",
                {"source_login": "jean.martin@contoso.fr",
                 "source_host": "127.0.0.1:%s" % os.environ["QPORT"], "source_tls": "none"})
    check("POST /api/profiles/contoso/check: ok for the mailbox",
          r.status == 200 and r.json == {"ok": True, "error": None}, r)
    r = org.req("POST", "/api/profiles/contoso/check",
                {"source_login": "nobody@contoso.fr",
                 "source_host": "127.0.0.1:%s" % os.environ["QPORT"], "source_tls": "none"})
    check("POST /api/profiles/contoso/check: a refused mailbox gives the worded error",
          r.status == 200 and r.json["ok"] is False and "New-ServicePrincipal" in r.json["error"],
          r)
    r = org.req("POST", "/api/check", {"source_host": "127.0.0.1:%s" % os.environ["QPORT"],
                                      "source_login": "jean.martin@contoso.fr",
                                      "auth_profile": "contoso", "server_type": "office",
                                      "source_tls": "none", "dest_login": "o4@example.com"})
    check("POST /api/check with auth_profile: source and destination ok",
          r.status == 200 and r.json["source"]["ok"] and r.json["destination"]["ok"]
          and r.json["source"]["messages"] > 0, r)

    # N mailboxes of one tenant through the workers: tokens shared. First let the token the
    # checks above cached expire (tokens live 5 s), so the jobs must ask for one.
    time.sleep(6)
    t0, i0 = time.time(), issued()
    ids = []
    for dest in ("o4", "o5", "o6", "o7"):
        r = org.req("POST", "/api/jobs", {"source_host": "127.0.0.1:%s" % os.environ["QPORT"],
                                          "source_login": "jean.martin@contoso.fr",
                                          "auth_profile": "contoso", "server_type": "office",
                                          "source_tls": "none", "dest_login": dest + "@example.com"})
        ids.append(r.json["id"] if r.status == 201 else 0)
    jobs = wait_jobs(org, ids)
    n_tok = issued() - i0
    check("4 jobs with auth_profile: queued without a password, all done",
          all(j and j["state"] == "done" and j["auth_profile"] == "contoso"
              and j["password_stored"] is False for j in jobs.values()), jobs)
    check("4 mailboxes of one tenant, 2 workers: at most 2 token requests (tokens live 5 s)",
          1 <= n_tok <= 2, n_tok)
    print("measured: 4 mailboxes of one tenant through 2 workers: %d token request(s), %.1f s"
          % (n_tok, time.time() - t0))

    r = org.req("POST", "/api/jobs/%d/retry" % ids[0], {})
    j = wait_jobs(org, [ids[0]])[ids[0]]
    check("retry of an ended profile job needs no password; the delta copies nothing",
          r.status == 200 and j["state"] == "done" and j["progress"]["messages_copied"] == 0
          and j["auth_profile"] == "contoso", (r, j))

    # CSV import with ?auth_profile: rows without a password use the profile
    csv = ("jean.martin@contoso.fr;;127.0.0.1:1;office;o8@example.com;0\n"
           "someone@contoso.fr;Pw-1;127.0.0.1:1;office;o9@example.com;0\n")
    r = org.req("POST", "/api/imports?auth_profile=contoso&dry_run=1", csv, ctype="text/csv")
    check("POST /api/imports?auth_profile (dry run): an empty pass_source is accepted",
          r.status == 200, r)
    r0 = org.req("POST", "/api/imports?dry_run=1", csv, ctype="text/csv")
    check("POST /api/imports without auth_profile: an empty pass_source is refused",
          r0.status == 422, r0)
    r = org.req("POST", "/api/imports?auth_profile=nope", csv, ctype="text/csv")
    check("POST /api/imports?auth_profile=unknown: 422", r.status == 422, r)
    r = org.req("POST", "/api/imports?auth_profile=contoso", csv, ctype="text/csv")
    ok_import = r.status == 201
    if ok_import:
        lst = org.req("GET", "/api/jobs?batch=%d" % r.json["batch"]).json
        rows = {j["dest_login"]: j for j in lst["jobs"]}
        ok_import = (rows["o8@example.com"]["auth_profile"] == "contoso"
                     and rows["o9@example.com"]["auth_profile"] is None)
    check("POST /api/imports?auth_profile: the row without password uses the profile, the "
          "other keeps its password", ok_import, r)
    s.stop()

    # A profile deleted while its job waits (one connection per source host: the second job
    # waits behind a slow first one)
    b = Server(os.path.join(W, "busy.conf"), os.path.join(W, "serve-busy.log"))
    org = Client(b.port)
    org.login("orgacct", os.environ["ORG_PW"])
    slow = "127.0.0.1:%s" % os.environ["QPORT_SLOW"]
    r1 = org.req("POST", "/api/jobs", {"source_host": slow, "source_login": "jean.martin@contoso.fr",
                                       "auth_profile": "contoso", "server_type": "office",
                                       "source_tls": "none", "dest_login": "o10@example.com"})
    time.sleep(0.5)
    r2 = org.req("POST", "/api/jobs", {"source_host": slow, "source_login": "jean.martin@contoso.fr",
                                       "auth_profile": "tmp", "server_type": "office",
                                       "source_tls": "none", "dest_login": "o11@example.com"})
    time.sleep(0.5)
    rd = org.req("DELETE", "/api/profiles/tmp")
    check("DELETE /api/profiles/tmp while a job waits: 200, waiting_jobs = 1",
          rd.status == 200 and rd.json == {"deleted": "tmp", "waiting_jobs": 1}, rd)
    jobs = wait_jobs(org, [r1.json["id"], r2.json["id"]], timeout=60)
    j1, j2 = jobs[r1.json["id"]], jobs[r2.json["id"]]
    check("the waiting job fails naming the deleted profile; the other one is done",
          j1["state"] == "done" and j2["state"] == "failed"
          and (j2["error"] or {}).get("code") == "profile_deleted"
          and 'profile "tmp" was deleted' in (j2["error"] or {}).get("text", ""), (j1, j2))
    b.stop()
    for log in ("serve-api.log", "serve-busy.log"):
        text = open(os.path.join(W, log), encoding="utf-8", errors="replace").read()
        check("%s: no secret or token in the service log" % log,
              SECRET not in text and "tok-" not in text)
    check("no secret in any API answer", all(SECRET.encode() not in x for x in api_test.SEEN))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is a failure, with its reason
        import traceback
        api_test.fail("oauth_api.py crashed: %s" % e, traceback.format_exc())
    sys.exit(1 if api_test.FAILED else 0)
