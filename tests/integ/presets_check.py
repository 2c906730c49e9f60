#!/usr/bin/env python3
"""presets_check: compare what the quirk server served with what the destination holds.

    presets_check.py EXPECT.json DUMP.json RULE...

EXPECT.json is `quirkserver.py --expect SPEC` output, DUMP.json `imaptool.py dump` of the
destination. Rules (every one is checked; exit 1 with the reasons if any fails):

  SRC=>DST          destination folder DST holds exactly the messages of source folder SRC
                    (same content hash, same flags, each once)
  SRC=>DST:orphans  the same, limited to SRC's messages whose Gmail labels are empty or
                    only \\Important / \\Starred (archived messages)
  SRC+SRC2=>DST     DST holds the messages of both (a merge the test expects)
  !DST              no destination folder DST (or it is empty when --empty-ok DST is given)
  #DST=N            destination folder DST holds exactly N messages
  nodup             no destination folder holds two copies of one message
  sizes             every destination message has the size of its source content
"""
import collections
import json
import sys


def norm_flags(flags):
    return tuple(sorted(f for f in flags if f.lower() != "\\recent"))


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    exp = json.load(open(sys.argv[1], encoding="utf-8"))
    dump = json.load(open(sys.argv[2], encoding="utf-8"))
    src = {f["name"]: f for f in exp["folders"]}
    dst = {f["name"]: f for f in dump["folders"]}
    sizes = {}
    for f in exp["folders"]:
        for m in f["messages"]:
            sizes[m["sha256"]] = m["size"]
    bad = []

    def bag(msgs):
        return collections.Counter((m["sha256"], norm_flags(m["flags"])) for m in msgs)

    for rule in sys.argv[3:]:
        if rule == "nodup":
            for name, f in dst.items():
                c = collections.Counter(m["sha256"] for m in f["messages"])
                d = [h[:12] for h, n in c.items() if n > 1]
                if d:
                    bad.append("%s: duplicated messages %s" % (name, d))
            continue
        if rule == "sizes":
            for name, f in dst.items():
                for m in f["messages"]:
                    if m["sha256"] not in sizes:
                        bad.append("%s: a message that the source never served (%s, %d bytes)"
                                   % (name, m["sha256"][:12], m["size"]))
                    elif sizes[m["sha256"]] != m["size"]:
                        bad.append("%s: size %d, source %d" % (name, m["size"],
                                                                sizes[m["sha256"]]))
            continue
        if rule.startswith("!"):
            name = rule[1:]
            if name in dst:
                bad.append("%s exists at the destination (%d messages)"
                           % (name, len(dst[name]["messages"])))
            continue
        if rule.startswith("#"):
            name, _, n = rule[1:].rpartition("=")
            got = len(dst[name]["messages"]) if name in dst else None
            if got != int(n):
                bad.append("%s holds %s messages, expected %s" % (name, got, n))
            continue
        left, _, right = rule.partition("=>")
        orphans = right.endswith(":orphans")
        right = right[:-len(":orphans")] if orphans else right
        want = collections.Counter()
        for s in left.split("+"):
            if s not in src:
                bad.append("rule %s: no source folder %s" % (rule, s))
                continue
            msgs = src[s]["messages"]
            if orphans:
                msgs = [m for m in msgs if all(l.lower() in ("\\important", "\\starred")
                                               for l in m["labels"])]
            want += bag(msgs)
        if right not in dst:
            bad.append("%s: missing at the destination (expected %d messages from %s)"
                       % (right, sum(want.values()), left))
            continue
        got = bag(dst[right]["messages"])
        if got != want:
            missing = want - got
            extra = got - want
            bad.append("%s (from %s): missing %s; unexpected %s" % (
                right, left, [(h[:12], f) for (h, f) in missing],
                [(h[:12], f) for (h, f) in extra]))
    if bad:
        for b in bad:
            print("  " + b)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
