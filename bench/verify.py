#!/usr/bin/python3
"""verify: dump a mailbox and compare a destination with its source, for the benchmark.

  verify.py dump --env ENV --user USER [--master] [--tls none|implicit] [--port P] > X.json
  verify.py compare SRC.json DST.json [--tool NAME]

dump logs in like tests/integ/imaptool.py (same options; password from the environment
variable IMAP_PASSWORD, or the env file's master credential with --master) and writes
{"folders": {name: [{"sha256", "size", "flags", "internaldate", "sha256_notuid"?}]}} for
every selectable folder, messages sorted. Bodies are fetched in batches of at most 32 MB, so
a box of 20 MB messages does not need much memory.

compare prints one line: "ok" when every source folder is in the destination with the same
messages (content, flags, INTERNALDATE), once each; otherwise "WRONG: <what differs>".
mbsync writes an "X-TUID:" header line into every message it copies (it uses it to find
the message again after an interrupted run, by design); for --tool mbsync the content is
compared with that one line removed and the result says so. Empty destination folders that
the source does not have (a server's automatic special folders) are ignored. Exit status 0
for ok, 1 otherwise.
"""

import argparse
import collections
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integ"))
import imaptool  # noqa: E402  (tests/integ/imaptool.py: connection, LIST, INTERNALDATE)

BATCH_BYTES = 32 << 20
TUID_RE = re.compile(rb"^X-TUID: [^\r\n]*\r?\n", re.M)


def strip_tuid(body):
    end = body.find(b"\r\n\r\n")
    head = body[:end + 2] if end >= 0 else body
    new, n = TUID_RE.subn(b"", head, count=1)
    return new + body[len(head):] if n else None


def dump_folder(m, raw):
    m.untagged_responses.clear()
    imaptool.check(*m.select(imaptool.quote(raw), readonly=True), "EXAMINE")
    data = imaptool.check(*m.uid("FETCH", "1:*", "(UID RFC822.SIZE)"), "UID FETCH size")
    sizes = []
    for d in data:
        if isinstance(d, bytes):
            u = re.search(rb"UID (\d+)", d)
            s = re.search(rb"RFC822\.SIZE (\d+)", d)
            if u and s:
                sizes.append((int(u.group(1)), int(s.group(1))))
    sizes.sort()
    out = []
    i = 0
    while i < len(sizes):
        batch, total = [], 0
        while i < len(sizes) and (not batch or total + sizes[i][1] <= BATCH_BYTES):
            batch.append(str(sizes[i][0]))
            total += sizes[i][1]
            i += 1
        data = imaptool.check(*m.uid("FETCH", ",".join(batch),
                                     "(UID FLAGS INTERNALDATE BODY.PEEK[])"), "UID FETCH")
        recs = []
        for el in data:
            if isinstance(el, tuple):
                recs.append([el[0], el[1]])
            elif isinstance(el, bytes) and recs:
                recs[-1][0] += b" " + el
        for head, body in recs:
            meta = head.decode("utf-8", "replace")
            flags = re.search(r"FLAGS \(([^)]*)\)", meta)
            idate = re.search(r'INTERNALDATE "([^"]+)"', meta)
            rec = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
                   "flags": sorted(f for f in flags.group(1).split() if f != "\\Recent"),
                   "internaldate": imaptool.parse_internaldate(idate.group(1))}
            nt = strip_tuid(body)
            if nt is not None:
                rec["sha256_notuid"] = hashlib.sha256(nt).hexdigest()
            out.append(rec)
        del data, recs
    out.sort(key=lambda r: (r["sha256"], r["internaldate"], r["flags"]))
    return out


def cmd_dump(args):
    m = imaptool.connect(args)
    folders = {}
    for f in imaptool.list_folders(m):
        attrs = [a.lower() for a in f["attrs"]]
        if "\\noselect" in attrs or "\\nonexistent" in attrs:
            continue
        folders[f["name"]] = dump_folder(m, f["raw"])
    m.logout()
    json.dump({"folders": folders}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def cmd_compare(args):
    with open(args.src, encoding="utf-8") as f:
        src = json.load(f)["folders"]
    with open(args.dst, encoding="utf-8") as f:
        dst = json.load(f)["folders"]
    tuid = args.tool == "mbsync"
    problems = []
    tuid_seen = 0
    for name, smsgs in sorted(src.items()):
        if not smsgs:
            continue
        dmsgs = dst.get(name)
        if dmsgs is None:
            problems.append("folder %s missing" % name)
            continue

        def key(r, use_tuid):
            h = r.get("sha256_notuid", r["sha256"]) if use_tuid else r["sha256"]
            return h

        want = collections.Counter(r["sha256"] for r in smsgs)
        got = collections.Counter(key(r, tuid) for r in dmsgs)
        if tuid:
            tuid_seen += sum(1 for r in dmsgs if "sha256_notuid" in r)
        if want != got:
            missing = sum((want - got).values())
            extra = sum((got - want).values())
            problems.append("%s: %d missing, %d extra/altered" % (name, missing, extra))
            continue
        full = collections.Counter((r["sha256"], tuple(r["flags"]), r["internaldate"])
                                   for r in smsgs)
        gfull = collections.Counter((key(r, tuid), tuple(r["flags"]), r["internaldate"])
                                    for r in dmsgs)
        if full != gfull:
            byhash = {r["sha256"]: r for r in smsgs}
            nflags = ndates = 0
            for r in dmsgs:
                s = byhash.get(key(r, tuid))
                if s is None:
                    continue
                nflags += s["flags"] != r["flags"]
                ndates += s["internaldate"] != r["internaldate"]
            problems.append("%s: %d flags differ, %d dates differ" % (name, nflags, ndates))
    for name, dmsgs in dst.items():
        if name not in src and dmsgs:
            problems.append("unexpected folder %s (%d messages)" % (name, len(dmsgs)))
    if problems:
        print("WRONG: " + "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else ""))
        return 1
    print("ok (X-TUID header added to %d messages)" % tuid_seen if tuid and tuid_seen else "ok")
    return 0


def main():
    p = argparse.ArgumentParser(description="dump/compare mailboxes for the benchmark")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--env")
    d.add_argument("--host")
    d.add_argument("--port", type=int)
    d.add_argument("--user", required=True)
    d.add_argument("--password-env", default="IMAP_PASSWORD")
    d.add_argument("--master", action="store_true")
    d.add_argument("--login", action="store_true")
    d.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    c = sub.add_parser("compare")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("--tool", default="")
    args = p.parse_args()
    try:
        return cmd_dump(args) if args.cmd == "dump" else cmd_compare(args)
    except imaptool.ToolError as e:
        print("verify: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
