#!/usr/bin/python3
"""options_test: the corpus and the expected destinations of tests/integ/test_options.sh.

  options_test.py spec OUT.json [--extra]   seed spec for the source mailbox (imaptool.py seed)
  options_test.py check SRC.json DST.json OPTIONS.json
        compare a destination dump with what the options must leave of the source dump;
        OPTIONS.json: {"since": "YYYY-MM-DD", "before": ..., "max_message_size": N,
                       "folders": {"<source folder>": "<destination folder>" | null}}
        (folders: the destination of every source folder, written out by the test; null =
        excluded). Prints one line per difference and the expected "left_out" counts as JSON;
        exit 1 on any difference.

The filters are computed here from the dumps (INTERNALDATE in UTC epoch seconds, the size the
server reports), independently of src/migrate: a message is expected when
since 00:00:00 UTC <= INTERNALDATE < before 00:00:00 UTC and size <= max_message_size.
"""

import base64
import calendar
import json
import sys

SINCE, BEFORE = "2024-03-10", "2024-03-20"


def day(s):
    y, m, d = map(int, s.split("-"))
    return calendar.timegm((y, m, d, 0, 0, 0))


def sized(tag, size):
    """A CRLF message of exactly size bytes."""
    head = ("From: t@example.org\r\nTo: r@example.com\r\nSubject: %s\r\n"
            "Message-ID: <%s@options.test>\r\n\r\n" % (tag, tag))
    body = "x" * (size - len(head) - 2) + "\r\n"
    data = (head + body).encode()
    assert len(data) == size, (tag, len(data))
    return {"content_b64": base64.b64encode(data).decode()}


def msg(tag, date, size=600):
    m = sized(tag, size)
    m["internaldate"] = date
    return m


def corpus(extra):
    if extra:
        # Added before a later pass: in range, out of range, and too big.
        return {"folders": [
            {"name": "INBOX", "messages": [
                msg("x-in", "2024-03-15T10:00:00+09:00"),
                msg("x-old", "2024-03-01T10:00:00Z"),
                msg("x-big", "2024-03-15T10:00:00Z", 5001)]},
            {"name": "Projects/Alpha", "messages": [
                msg("x-alpha", "2024-03-18T12:00:00-03:00"),
                msg("x-alpha-late", "2024-03-25T12:00:00Z")]},
        ]}
    inbox = [
        # The range's edges, across time zones (instants, not local dates, decide).
        msg("e1-before-since", "2024-03-09T23:59:59Z"),
        msg("e2-at-since", "2024-03-10T00:00:00Z"),
        msg("e3-local-10th-utc-9th", "2024-03-10T01:30:00+02:00"),
        msg("e4-local-9th-utc-10th", "2024-03-09T20:30:00-05:00"),
        msg("e5-last-second", "2024-03-19T23:59:59Z"),
        msg("e6-at-before", "2024-03-20T00:00:00Z"),
        msg("e7-local-20th-utc-19th", "2024-03-20T00:30:00+01:00"),
        msg("e8-local-19th-utc-20th", "2024-03-19T22:30:00-05:00"),
        # The size cap's edges (dates in range).
        msg("s-4999", "2024-03-12T08:00:00Z", 4999),
        msg("s-5000", "2024-03-12T09:00:00Z", 5000),
        msg("s-5001", "2024-03-12T10:00:00Z", 5001),
    ]
    folders = [{"name": "INBOX", "messages": inbox}]
    n = 0
    for name in ["Sent", "Trash", "Trash/Old", "Junk", "Archives", "Archives/2019",
                 "Archives/2019/Q1", "Projects", "Projects/Alpha", "Work", "Work/Sub"]:
        n += 1
        folders.append({"name": name, "subscribe": True, "messages": [
            msg("%s-in" % name, "2024-03-1%dT12:00:00+01:00" % (n % 9 + 1)),
            msg("%s-old" % name, "2023-0%d-15T12:00:00Z" % (n % 9 + 1)),
            msg("%s-new" % name, "2024-04-%02dT12:00:00Z" % n, 5000 + n * 3),
        ]})
    return {"folders": folders}


def cmd_spec(argv):
    with open(argv[0], "w", encoding="utf-8") as f:
        json.dump(corpus("--extra" in argv), f)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cmd_check(argv):
    src, dst, opts = load(argv[0]), load(argv[1]), load(argv[2])
    since = day(opts["since"]) if opts.get("since") else None
    before = day(opts["before"]) if opts.get("before") else None
    cap = opts.get("max_message_size")
    fmap = opts.get("folders", {})
    key = lambda m: (m["sha256"], m["internaldate"], m["size"])  # noqa: E731
    expected = {}
    left = {"folders": 0, "messages_by_date": 0, "messages_by_size": 0,
            "messages_by_label": 0}  # no Gmail labels on Dovecot
    for f in src["folders"]:
        if f["noselect"]:
            continue
        name = f["name"]
        dest = fmap.get(name, name)
        if dest is None:
            left["folders"] += 1
            continue
        keep = expected.setdefault(dest, [])
        for m in f["messages"]:
            t = m["internaldate"]
            if (since is not None and t < since) or (before is not None and t >= before):
                left["messages_by_date"] += 1
            elif cap is not None and m["size"] > cap:
                left["messages_by_size"] += 1
            else:
                keep.append(key(m))
    got = {f["name"]: sorted(key(m) for m in f["messages"])
           for f in dst["folders"] if not f["noselect"]}
    bad = 0
    for name, want in sorted(expected.items()):
        if name not in got:
            print("missing destination folder %s (%d message(s) expected)" % (name, len(want)))
            bad += 1
        elif sorted(want) != got[name]:
            print("folder %s: expected %d message(s), found %d (missing %d, extra %d)" % (
                name, len(want), len(got[name]), len(set(want) - set(got[name])),
                len(set(got[name]) - set(want))))
            bad += 1
    for name, msgs in sorted(got.items()):
        if name not in expected and msgs:
            print("unexpected: destination folder %s holds %d message(s)" % (name, len(msgs)))
            bad += 1
    print(json.dumps(left, sort_keys=True))
    return 1 if bad else 0


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "spec":
        cmd_spec(argv)
        return 0
    if cmd == "check":
        return cmd_check(argv)
    print("usage: options_test.py spec|check ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
