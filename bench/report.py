#!/usr/bin/python3
"""report: format bench/run.sh's results.tsv as the benchmark table (stdout).

  report.py RESULTS.tsv META.txt

Per round and tool: runs that verified ok / runs, median wall time of the ok runs, msgs/s and
MB/s (MB = 10^6 bytes of message data, RFC822.SIZE summed over the source), the highest peak
RSS (/usr/bin/time %M), median CPU time (user + sys of the tool's process tree), and the
ratios migrabox / tool: speed (msgs/s of migrabox divided by the tool's: > 1 = migrabox is
faster) and peak RSS (< 1 = migrabox uses less memory). A tool with no verified run has no
speed and no ratio ("not counted"). Then the issues' targets, with the measured value.
"""

import csv
import os
import statistics
import sys

ROUND_TITLES = {
    "loopback": "loopback (source and destination on 127.0.0.1)",
    "rtt50": "rtt50 (source behind a proxy adding 25 ms each way, destination local)",
    "big": "big messages (loopback)",
    "folders50": "folders50 (many folders, both sides behind a 50 ms RTT proxy)",
    "folders50src": "folders50src (many folders, the source alone behind a 50 ms RTT proxy)",
    "delta200": "delta200 (unchanged delta pass: timed second run, both sides behind a proxy; "
                "nothing to copy)",
    "bulk": "bulk (N mailboxes: a CSV through migrabox serve's workers, the others W at a time "
            "with xargs -P)",
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def summarize(rows):
    """(round, tool) -> dict of aggregated numbers, keeping the first-seen order."""
    out = {}
    for r in rows:
        key = (r["round"], r["tool"])
        out.setdefault(key, []).append(r)
    res = {}
    for key, rs in out.items():
        ok = [r for r in rs if r["verify"].startswith("ok")]
        s = {"runs": len(rs), "ok": len(ok), "rows": rs,
             "messages": int(rs[0]["messages"] or 0), "bytes": int(rs[0]["bytes"] or 0)}
        if ok:
            s["wall"] = statistics.median(float(r["wall_s"]) for r in ok)
            s["cpu"] = statistics.median(float(r["cpu_s"]) for r in ok)
            s["rss"] = max(int(r["rss_kb"]) for r in ok)
            s["msgs_s"] = s["messages"] / s["wall"] if s["wall"] > 0 else 0.0
            s["mb_s"] = s["bytes"] / 1e6 / s["wall"] if s["wall"] > 0 else 0.0
        bad = [r["verify"] + (" " + r["note"] if r["note"] else "") for r in rs
               if not r["verify"].startswith("ok")]
        notes = sorted({r["verify"] for r in ok if r["verify"] != "ok"})
        s["verify"] = ("ok" if not bad else "%d/%d ok" % (len(ok), len(rs)))
        s["notes"] = notes + bad[:2]
        s["summary"] = sorted({r["note"] for r in ok if r["note"]})
        for col, name in (("src_cpu_s", "src_cpu"), ("dst_cpu_s", "dst_cpu"),
                          ("busy_pct", "busy")):
            v = [float(r[col]) for r in ok if r.get(col)]
            if v:
                s[name] = statistics.median(v)
        api = [r for r in ok if r.get("api_p50_ms")]
        if api:
            s["api"] = (float(api[0]["api_p50_ms"]), float(api[0]["api_p99_ms"]))
        res[key] = s
    return res


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def table(round_name, res, out):
    keys = [k for k in res if k[0] == round_name]
    if not keys:
        return
    first = res[keys[0]]
    out.append("")
    out.append("== %s: %d messages, %.1f MB ==" % (ROUND_TITLES.get(round_name, round_name),
                                                   first["messages"], first["bytes"] / 1e6))
    hdr = ("tool", "runs ok", "wall s", "msgs/s", "MB/s", "peak RSS MB", "CPU s",
           "mbx speed x", "mbx RSS x")
    srv = any("src_cpu" in res[k] for k in keys)
    if srv:
        hdr += ("servers CPU s src/dst", "busy %")
    api = any("api" in res[k] for k in keys)
    if api:
        hdr += ("API p50/p99 ms",)
    rows = []
    mb = res.get((round_name, "migrabox"), {})
    for k in keys:
        s = res[k]
        extra = ()
        if srv:
            extra += (("%.2f/%.2f" % (s["src_cpu"], s["dst_cpu"])) if "src_cpu" in s else "-",
                      ("%.0f" % s["busy"]) if "busy" in s else "-")
        if api:
            extra = ("%.0f/%.0f" % s["api"] if "api" in s else "-",)
        if "wall" in s:
            rows.append((k[1], "%d/%d" % (s["ok"], s["runs"]), "%.2f" % s["wall"],
                         "%.0f" % s["msgs_s"], "%.1f" % s["mb_s"], "%.1f" % (s["rss"] / 1024),
                         "%.2f" % s["cpu"],
                         fmt_ratio(mb.get("msgs_s"), s["msgs_s"]),
                         fmt_ratio(mb.get("rss"), s["rss"])) + extra)
        elif all(r["verify"] == "SKIPPED" for r in s["rows"]):
            rows.append((k[1], "-", "-", "-", "-", "-", "-", "not installed", "-") + extra)
        else:
            rows.append((k[1], "%d/%d" % (s["ok"], s["runs"]), "-", "-", "-", "-", "-",
                         "not counted", "-") + extra)
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    line = lambda r: "  ".join(str(v).ljust(widths[i]) if i == 0 else str(v).rjust(widths[i])
                               for i, v in enumerate(r))
    out.append(line(hdr))
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append(line(r))
    for k in keys:
        for n in res[k]["notes"]:
            out.append("  %s: %s" % (k[1], n))
        for n in res[k]["summary"][:1]:
            out.append("  %s: %s" % (k[1], n))


def loopback_cpu(res, mb, out):
    """Where a loopback run's CPU goes (medians), and the ceiling it puts on the ratio to
    doveadm backup: on N CPUs a run cannot take less wall time than the servers' CPU / N."""
    m, d = res.get(("loopback", mb), {}), res.get(("loopback", "doveadm-backup"), {})
    if "src_cpu" not in m or "cpu" not in m or "wall" not in d:
        return
    ncpu = os.cpu_count() or 1
    servers = m["src_cpu"] + m["dst_cpu"]
    busy = lambda s: ", machine %.0f %% busy" % s["busy"] if "busy" in s else ""
    out.append("loopback CPU per run: %s %.2f s + source server %.2f s + destination server "
               "%.2f s = %.2f s%s; doveadm-backup %.2f s (it writes the destination's files "
               "itself) + source server %.2f s = %.2f s%s"
               % (mb, m["cpu"], m["src_cpu"], m["dst_cpu"], m["cpu"] + servers, busy(m),
                  d["cpu"], d.get("src_cpu", 0), d["cpu"] + d.get("src_cpu", 0), busy(d)))
    if servers > 0:
        total = m["cpu"] + servers
        out.append("loopback ceiling on %d CPUs: the two servers' CPU alone (%.2f s) takes at "
                   "least %.2f s of wall time, so even a tool using no CPU could reach at most "
                   "%.2f x doveadm-backup's %.2f s here; with %s's own CPU, %.2f s at least: "
                   "at most %.2f x"
                   % (ncpu, servers, servers / ncpu, d["wall"] / (servers / ncpu), d["wall"],
                      mb, total / ncpu, d["wall"] / (total / ncpu)))


def targets(res, out):
    out.append("")
    out.append("== targets (issue; goals, not assertions) ==")

    def speed(r, t):
        return res.get((r, t), {}).get("msgs_s")

    for mb in ("migrabox", "migrabox-alt"):
        if not any(k[1] == mb for k in res):
            continue
        mbl = speed("loopback", mb)
        for t, goal in (("doveadm-backup", 1.2), ("doveadm-sync", 0.8)):
            d = speed("loopback", t)
            if mbl and d:
                v = mbl / d
                out.append("loopback: %s / %s = %.2f x (target >= %g): %s"
                           % (mb, t, v, goal, "met" if v >= goal else "NOT met"))
        loopback_cpu(res, mb, out)
        bg, bs = res.get(("big", mb), {}), res.get(("big", "mbsync"), {})
        if bg.get("mb_s") and bs.get("mb_s"):
            v = bg["mb_s"] / bs["mb_s"]
            out.append("big: %s / mbsync MB/s = %.2f x (target >= 0.8): %s"
                       % (mb, v, "met" if v >= 0.8 else "NOT met"))
        if bg.get("cpu") and bs.get("cpu"):
            v = bg["cpu"] / bs["cpu"]
            out.append("big: %s CPU time / mbsync's = %.2f x (target <= 1.5): %s"
                       % (mb, v, "met" if v <= 1.5 else "NOT met"))
        mbr, nv = speed("rtt50", mb), speed("rtt50", "naive")
        if mbr and nv:
            v = mbr / nv
            out.append("rtt50: %s / naive one-at-a-time = %.1f x (target >= 10): %s"
                       % (mb, v, "met" if v >= 10 else "NOT met"))
        for rnd in ("folders50", "folders50src"):
            m = speed(rnd, mb)
            for t, goal in (("imapsync", 20.0), ("mbsync", 1.5)):
                v = speed(rnd, t)
                if m and v:
                    out.append("%s: %s / %s = %.2f x (target >= %g on folders50): %s"
                               % (rnd, mb, t, m / v, goal,
                                  ("met" if m / v >= goal else "NOT met")
                                  if rnd == "folders50" else "for information"))
        dw = res.get(("delta200", mb), {}).get("wall")
        if dw is not None:
            out.append("delta200: %s unchanged delta pass %.1f s (target <= 5 s): %s"
                       % (mb, dw, "met" if dw <= 5 else "NOT met"))
        a = res.get(("loopback", mb), {}).get("rss")
        b = res.get(("big", mb), {}).get("rss")
        if a and b:
            big = res[("big", mb)]
            ok = b <= a * 1.25 + 1024
            out.append("peak RSS vs message size: %s %.1f MB on the loopback corpus (largest "
                       "message 5 MB), %.1f MB with %.0f MB messages (big): %s"
                       % (mb, a / 1024, b / 1024, big["bytes"] / 1e6 / max(1, big["messages"]),
                          "independent (met)" if ok else "grows with message size (NOT met)"))
        bm = res.get(("bulk", mb))
        if bm is not None:
            bi = res.get(("bulk", "imapsync"), {})
            if bm.get("msgs_s") and bi.get("msgs_s"):
                v = bm["msgs_s"] / bi["msgs_s"]
                out.append("bulk: %s vs imapsync W at a time = %.1f x (target >= 10): %s"
                           % (mb, v, "met" if v >= 10 else "NOT met"))
            elif bi and all(r["verify"] == "SKIPPED" for r in bi["rows"]):
                out.append("bulk: %s vs imapsync W at a time >= 10x (imapsync not installed: "
                           "not measured)" % mb)
            else:
                out.append("bulk: %s vs imapsync W at a time >= 10x: not measured (%s)"
                           % (mb, "no verified imapsync run" if bi else "imapsync not run"))
            bs = res.get(("bulk", "mbsync"), {})
            if bm.get("msgs_s") and bs.get("msgs_s"):
                out.append("bulk: %s / mbsync W at a time = %.2f x (for information)"
                           % (mb, bm["msgs_s"] / bs["msgs_s"]))
            if bm.get("rss"):
                out.append("bulk: peak RSS %.1f MiB (target <= 64 MiB): %s"
                           % (bm["rss"] / 1024, "met" if bm["rss"] <= 64 * 1024 else "NOT met"))
            else:
                out.append("bulk: peak RSS <= 64 MiB: not measured (no verified run)")
            if bm.get("api"):
                out.append("bulk: API p99 %.0f ms, p50 %.0f ms (target p99 < 100 ms): %s"
                           % (bm["api"][1], bm["api"][0],
                              "met" if bm["api"][1] < 100 else "NOT met"))
            else:
                out.append("bulk: API p99 < 100 ms: not measured (no verified run)")


def main():
    rows = load(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        meta = f.read().rstrip("\n")
    res = summarize(rows)
    out = ["migrabox benchmark (make bench)", meta]
    for rnd in dict.fromkeys(r["round"] for r in rows):
        table(rnd, res, out)
    targets(res, out)
    out.append("")
    out.append("msgs/s and MB/s: source messages (RFC822.SIZE summed, MB = 10^6 bytes) / wall "
               "time (median of the verified runs). peak RSS: /usr/bin/time %M of the tool "
               "(largest over its runs). CPU s: user+sys of the tool itself (not of the "
               "servers). servers CPU s src/dst: CPU of the source's and the destination's "
               "Dovecot processes that served the run (those that ended with it); busy %: the "
               "whole machine's CPU use during the run. mbx speed x = migrabox msgs/s / tool msgs/s (> 1: migrabox faster); "
               "mbx RSS x = migrabox peak RSS / tool peak RSS (< 1: migrabox smaller).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
