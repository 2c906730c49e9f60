#!/usr/bin/python3
"""imaptool: seed and inspect IMAP mailboxes for migrabox integration tests (stdlib only).

  imaptool.py [connection options] seed SPEC.json|-    APPEND messages, creating folders
  imaptool.py [connection options] dump [--uids]       one JSON document describing the box
  imaptool.py [connection options] list                one folder per line: name, delimiter, flags

Connection options:
  --env FILE        shell assignments written by dovecot.sh start (IMAP_HOST, IMAP_PORT,
                    IMAPS_PORT, CA_FILE, MASTER_USER, MASTER_PASSWORD); --host/--port override
  --user USER       the mailbox to open
  --password-env V  name of the environment variable holding USER's password (default
                    IMAP_PASSWORD); passwords are never printed
  --master          log in as USER with the master user of the env file (AUTHENTICATE PLAIN,
                    authzid = USER); MASTER_PASSWORD in the environment overrides the file
  --login           use the LOGIN command instead of AUTHENTICATE PLAIN ("USER*MASTER" with
                    --master; ASCII passwords only)
  --tls none|starttls|implicit   (default none; verification against CA_FILE)

SPEC (UTF-8 JSON; folder names are full server names, e.g. "INBOX.Sent" on an INBOX.-prefixed
server, encoded to modified UTF-7 here):
  {"folders": [
     {"name": "Sent", "subscribe": true, "messages": [
        {"content": "Subject: hi\\n\\nbody\\n", "flags": ["\\\\Seen"],
         "internaldate": "2021-03-04T05:06:07+01:00"},       # or epoch seconds
        {"file": "msg.eml"}, {"content_b64": "..."},
        {"content": "...", "raw": true}                      # keep bare LF (default: LF -> CRLF)
     ]},
     {"name": "Big", "generate": {"count": 20, "size": 3000, "seed": 1, "flags": ["\\\\Seen"],
                                  "tag": "big", "start": 1600000000}}
  ]}
  A folder with no messages is just created. INBOX is never created. Generated messages are
  deterministic for (seed, tag (default: the folder name), count, size, start epoch).

dump prints {"folders": [{"name", "delimiter", "special_use" [..], "noselect", "subscribed",
"messages": [{"sha256", "size", "flags", "internaldate"}]}]}: folders sorted by name,
messages sorted by (sha256, internaldate), flags sorted without \\Recent, internaldate in
UTC epoch seconds, so two dumps of equal mailboxes compare equal (--uids adds uid and
uidvalidity).
"""

import argparse
import base64
import calendar
import datetime
import hashlib
import imaplib
import json
import os
import random
import re
import shlex
import ssl
import sys

MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
FETCH_BATCH = 100


class ToolError(Exception):
    pass


# ---- modified UTF-7 (RFC 3501 5.1.3) ----

def mutf7_encode(name):
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name):
    def dec(m):
        s = m.group(1)
        if s == "":
            return "&"
        s = s.replace(",", "/")
        s += "=" * (-len(s) % 4)
        return base64.b64decode(s).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", dec, name)


# ---- small IMAP syntax helpers ----

def quote(s):
    if isinstance(s, bytes):
        s = s.decode("ascii")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokens(data):
    """Tokenize one response line (bytes) into atoms/strings and nested lists."""
    pos = 0
    stack = [[]]
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"(":
            stack.append([])
            pos += 1
        elif c == b")":
            lst = stack.pop()
            stack[-1].append(lst)
            pos += 1
        elif c == b'"':
            pos += 1
            buf = bytearray()
            while pos < n and data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                buf += data[pos:pos + 1]
                pos += 1
            pos += 1
            stack[-1].append(bytes(buf))
        else:
            m = re.compile(rb'[^ ()"]+').match(data, pos)
            stack[-1].append(m.group(0))
            pos = m.end()
    return stack[0]


def parse_list_line(item):
    """LIST/LSUB reply item -> (attributes, delimiter, raw name)."""
    if isinstance(item, tuple):  # name sent as a literal
        head, name = item
        toks = tokens(head[:head.rindex(b"{")])
        attrs, delim = toks[0], toks[1]
    else:
        toks = tokens(item)
        attrs, delim, name = toks[0], toks[1], toks[2]
    delim = None if delim.upper() == b"NIL" else delim.decode()
    return [a.decode() for a in attrs], delim, name.decode()


def parse_internaldate(s):
    m = re.match(r"\s*(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", s)
    if not m:
        raise ToolError("bad INTERNALDATE: %r" % s)
    d, mon, y, hh, mm, ss, sign, oh, om = m.groups()
    t = calendar.timegm((int(y), MONTHS[mon], int(d), int(hh), int(mm), int(ss)))
    off = (int(oh) * 3600 + int(om) * 60) * (1 if sign == "+" else -1)
    return t - off


def to_internaldate(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        dt = datetime.datetime.fromtimestamp(int(v), datetime.timezone.utc)
    else:
        dt = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.timezone.utc)
    return imaplib.Time2Internaldate(dt)


def check(typ, data, what):
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise ToolError("%s: %s %s" % (what, typ, text))
    return data


# ---- connection ----

def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            for tok in shlex.split(line, comments=True):
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    env[k] = v
    return env


def connect(args):
    env = read_env(args.env) if args.env else {}
    host = args.host or env.get("IMAP_HOST", "127.0.0.1")
    ctx = None
    if args.tls != "none":
        ctx = ssl.create_default_context(cafile=env.get("CA_FILE") or None)
    if args.tls == "implicit":
        port = args.port or int(env["IMAPS_PORT"])
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=30)
    else:
        port = args.port or int(env["IMAP_PORT"])
        m = imaplib.IMAP4(host, port, timeout=30)
        if args.tls == "starttls":
            check(*m.starttls(ctx), "STARTTLS")
    if not args.user:
        raise ToolError("--user is required")
    password = os.environ.get(args.password_env)
    authc = args.user
    if args.master:
        authc = env.get("MASTER_USER")
        password = os.environ.get("MASTER_PASSWORD") or env.get("MASTER_PASSWORD")
        if not authc:
            raise ToolError("--master: no MASTER_USER in the env file")
    if password is None:
        raise ToolError("no password: set %s" % ("MASTER_PASSWORD" if args.master
                                                  else args.password_env))
    try:
        if args.login:
            user = args.user + env.get("SEPARATOR", "*") + authc if args.master else args.user
            m.login(quote(user), password)  # imaplib quotes the password itself
        else:
            authz = args.user if args.master else ""
            blob = b"\0".join([authz.encode(), authc.encode(), password.encode()])
            m.authenticate("PLAIN", lambda _: blob)
    except imaplib.IMAP4.error as e:
        raise ToolError("login as %s failed: %s" % (args.user, e)) from None
    return m


def list_folders(m):
    typ, data = m._simple_command("LIST", '""', '"*"', "RETURN", "(SUBSCRIBED SPECIAL-USE)")
    check(typ, data, "LIST")
    items = m.untagged_responses.pop("LIST", [])
    out = []
    for item in items:
        if item is None:
            continue
        attrs, delim, raw = parse_list_line(item)
        out.append({"raw": raw, "name": mutf7_decode(raw), "delimiter": delim, "attrs": attrs})
    return out


# ---- seed ----

def gen_messages(spec, folder):
    folder = spec.get("tag", folder)  # text that makes the messages differ between folders
    rng = random.Random(spec.get("seed", 0))
    size = int(spec.get("size", 2000))
    base = int(spec.get("start", 1600000000))
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "migration", "mailbox", "été", "naïve"]
    for i in range(int(spec.get("count", 1))):
        when = base + i * 3600 + rng.randrange(3600)
        date = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
        head = ("From: Sender %d <sender%d@example.org>\r\nTo: rcpt@example.com\r\n"
                "Subject: %s message %d\r\nDate: %s\r\nMessage-ID: <gen-%d-%d-%s@example.org>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n"
                % (i, i, folder, i, date.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                   spec.get("seed", 0), i, hashlib.sha1(folder.encode()).hexdigest()[:8]))
        body, line = [], []
        n = len(head)
        while n < size:
            w = rng.choice(words)
            line.append(w)
            if len(line) >= 12:
                body.append(" ".join(line) + "\r\n")
                n += len(body[-1].encode())
                line = []
        if line:
            body.append(" ".join(line) + "\r\n")
        yield {"bytes": (head + "".join(body)).encode(), "flags": spec.get("flags", []),
               "internaldate": when}


def message_bytes(msg, spec_dir):
    if "bytes" in msg:
        data = msg["bytes"]
    elif "file" in msg:
        with open(os.path.join(spec_dir, msg["file"]), "rb") as f:
            data = f.read()
    elif "content_b64" in msg:
        data = base64.b64decode(msg["content_b64"])
    else:
        data = msg["content"].encode("utf-8")
    if not msg.get("raw") and "bytes" not in msg:
        data = re.sub(rb"\r?\n", b"\r\n", data)
    return data


def append(m, mailbox_raw, flags, date, data):
    m.literal = data
    args = [quote(mailbox_raw)]
    if flags:
        args.append("(" + " ".join(flags) + ")")
    if date:
        args.append(date)
    typ, resp = m._simple_command("APPEND", *args)
    check(typ, resp, "APPEND to %s" % mutf7_decode(mailbox_raw))


def cmd_seed(m, args):
    if args.spec == "-":
        spec, spec_dir = json.load(sys.stdin), "."
    else:
        with open(args.spec, encoding="utf-8") as f:
            spec = json.load(f)
        spec_dir = os.path.dirname(os.path.abspath(args.spec))
    existing = {f["name"] for f in list_folders(m)}
    summary = {"folders": 0, "messages": 0}
    for folder in spec.get("folders", []):
        name = folder["name"]
        raw = mutf7_encode(name)
        if name.upper() != "INBOX" and name not in existing:
            typ, data = m._simple_command("CREATE", quote(raw))
            if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(data):
                check(typ, data, "CREATE %s" % name)
            existing.add(name)
        if folder.get("subscribe"):
            check(*m._simple_command("SUBSCRIBE", quote(raw)), "SUBSCRIBE %s" % name)
        msgs = list(folder.get("messages", []))
        if "generate" in folder:
            msgs.extend(gen_messages(folder["generate"], name))
        for msg in msgs:
            append(m, raw, msg.get("flags", []), to_internaldate(msg.get("internaldate")),
                   message_bytes(msg, spec_dir))
            summary["messages"] += 1
        summary["folders"] += 1
    print(json.dumps(summary))


# ---- dump ----

def fetch_folder(m, raw, with_uids):
    m.untagged_responses.clear()
    typ, data = m.select(quote(raw), readonly=True)  # EXAMINE
    check(typ, data, "EXAMINE %s" % mutf7_decode(raw))
    uidvalidity = m.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
    typ, data = m.uid("SEARCH", "ALL")
    check(typ, data, "UID SEARCH")
    uids = [int(u) for u in b" ".join(d for d in data if d).split()]
    msgs = []
    for i in range(0, len(uids), FETCH_BATCH):
        batch = ",".join(str(u) for u in uids[i:i + FETCH_BATCH])
        typ, data = m.uid("FETCH", batch, "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        check(typ, data, "UID FETCH")
        recs = []
        for el in data:
            if isinstance(el, tuple):
                recs.append([el[0], el[1]])
            elif isinstance(el, bytes) and recs:
                recs[-1][0] += b" " + el
        for head, body in recs:
            meta = head.decode("utf-8", "replace")
            uid = re.search(r"UID (\d+)", meta)
            flags = re.search(r"FLAGS \(([^)]*)\)", meta)
            idate = re.search(r'INTERNALDATE "([^"]+)"', meta)
            if not (uid and flags is not None and idate):
                raise ToolError("unexpected FETCH reply: %r" % meta[:200])
            rec = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
                   "flags": sorted(f for f in flags.group(1).split() if f != "\\Recent"),
                   "internaldate": parse_internaldate(idate.group(1))}
            if with_uids:
                rec["uid"] = int(uid.group(1))
            msgs.append(rec)
    msgs.sort(key=lambda r: (r["sha256"], r["internaldate"], r["flags"]))
    return msgs, int(uidvalidity)


def cmd_dump(m, args):
    out = []
    for f in sorted(list_folders(m), key=lambda f: f["name"]):
        attrs = [a.lower() for a in f["attrs"]]
        noselect = "\\noselect" in attrs or "\\nonexistent" in attrs
        entry = {"name": f["name"], "delimiter": f["delimiter"],
                 "special_use": sorted(a for a in f["attrs"] if a.lower() in
                                       ("\\sent", "\\drafts", "\\trash", "\\junk", "\\archive",
                                        "\\all", "\\flagged")),
                 "noselect": noselect, "subscribed": "\\subscribed" in attrs, "messages": []}
        if not noselect:
            entry["messages"], uidvalidity = fetch_folder(m, f["raw"], args.uids)
            if args.uids:
                entry["uidvalidity"] = uidvalidity
        out.append(entry)
    json.dump({"folders": out}, sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


def cmd_list(m, args):
    for f in list_folders(m):
        print("%s\t%s\t%s" % (f["name"], f["delimiter"], " ".join(f["attrs"])))


def main():
    p = argparse.ArgumentParser(description="seed/inspect IMAP mailboxes for tests")
    p.add_argument("--env")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--user")
    p.add_argument("--password-env", default="IMAP_PASSWORD")
    p.add_argument("--master", action="store_true")
    p.add_argument("--login", action="store_true")
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("spec")
    d = sub.add_parser("dump")
    d.add_argument("--uids", action="store_true")
    sub.add_parser("list")
    args = p.parse_args()
    try:
        m = connect(args)
        try:
            {"seed": cmd_seed, "dump": cmd_dump, "list": cmd_list}[args.cmd](m, args)
        finally:
            try:
                m.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
    except (ToolError, imaplib.IMAP4.error, OSError, KeyError, ValueError) as e:
        print("imaptool: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
