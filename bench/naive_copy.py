#!/usr/bin/python3
"""naive_copy: the "one message at a time" IMAP-to-IMAP copier used as the latency baseline.

  naive_copy.py --src HOST:PORT --src-user U --src-password-file F [--src-ca FILE]
                --dst HOST:PORT --dst-user U --dst-password-file F [--dst-ca FILE]
                [--tls none|implicit]

For every selectable source folder: CREATE it on the destination, EXAMINE it on the source,
UID SEARCH ALL, then for each message UID FETCH (FLAGS INTERNALDATE BODY.PEEK[]) and APPEND
it with its flags and date to the destination, waiting for each answer before sending the
next command (Python imaplib, no pipelining). This is what a simple migration script does,
and what the issue calls "a one-message-at-a-time copy". Folder names are copied as they are
(both servers here use the same hierarchy separator). The destination user may be a master
login ("user*admin"). Passwords come from files and are never printed.

Prints one JSON line: {"folders": N, "messages": N, "bytes": N}.
"""

import argparse
import imaplib
import json
import re
import ssl
import sys

imaplib._MAXLINE = 1 << 20


def read_secret(path):
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(hostport, user, pwfile, tls, ca):
    host, _, port = hostport.rpartition(":")
    if tls == "implicit":
        ctx = ssl.create_default_context(cafile=ca)
        m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=120)
    else:
        m = imaplib.IMAP4(host, int(port), timeout=120)
    m.login(quote(user), read_secret(pwfile))
    return m


def check(typ, data, what):
    if typ != "OK":
        raise SystemExit("naive_copy: %s failed: %s %r" % (what, typ, data))
    return data


LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$')


def source_folders(m):
    data = check(*m.list('""', '"*"'), "LIST")
    out = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # name as a literal
            head, name = item
            attrs = LIST_RE.match(head + b" x").group("attrs")
        else:
            mt = LIST_RE.match(item)
            attrs, name = mt.group("attrs"), mt.group("name")
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        low = attrs.lower()
        if b"\\noselect" in low or b"\\nonexistent" in low:
            continue
        out.append(name.decode("ascii"))  # modified UTF-7, kept as is
    return out


FETCH_RE = re.compile(rb"FLAGS \((?P<flags>[^)]*)\).*INTERNALDATE \"(?P<date>[^\"]+)\"")


def copy_folder(src, dst, name, totals):
    if name.upper() != "INBOX":
        typ, data = dst.create(quote(name))
        if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d for d in data if d):
            check(typ, data, "CREATE %s" % name)
    check(*src.select(quote(name), readonly=True), "EXAMINE %s" % name)
    data = check(*src.uid("SEARCH", "ALL"), "UID SEARCH")
    uids = b" ".join(d for d in data if d).split()
    for uid in uids:
        data = check(*src.uid("FETCH", uid.decode(), "(FLAGS INTERNALDATE BODY.PEEK[])"),
                     "UID FETCH")
        rec = next(d for d in data if isinstance(d, tuple))
        head = rec[0] + b" " + b" ".join(d for d in data if isinstance(d, bytes))
        mt = FETCH_RE.search(head)
        if not mt:
            raise SystemExit("naive_copy: unexpected FETCH reply %r" % head[:200])
        flags = [f for f in mt.group("flags").decode().split() if f.lower() != "\\recent"]
        body = rec[1]
        check(*dst.append(quote(name), "(" + " ".join(flags) + ")",
                          '"' + mt.group("date").decode() + '"', body), "APPEND")
        totals["messages"] += 1
        totals["bytes"] += len(body)
    totals["folders"] += 1


def main():
    p = argparse.ArgumentParser(description="copy a mailbox one message at a time")
    p.add_argument("--src", required=True)
    p.add_argument("--src-user", required=True)
    p.add_argument("--src-password-file", required=True)
    p.add_argument("--src-ca")
    p.add_argument("--dst", required=True)
    p.add_argument("--dst-user", required=True)
    p.add_argument("--dst-password-file", required=True)
    p.add_argument("--dst-ca")
    p.add_argument("--tls", choices=["none", "implicit"], default="none")
    args = p.parse_args()
    src = connect(args.src, args.src_user, args.src_password_file, args.tls, args.src_ca)
    dst = connect(args.dst, args.dst_user, args.dst_password_file, args.tls, args.dst_ca)
    totals = {"folders": 0, "messages": 0, "bytes": 0}
    for name in source_folders(src):
        copy_folder(src, dst, name, totals)
    src.logout()
    dst.logout()
    print(json.dumps(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
