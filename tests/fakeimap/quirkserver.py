#!/usr/bin/env python3
"""quirkserver: a stateful, read-only IMAP4rev1 server on 127.0.0.1 that plays the quirks of
the source servers no test machine can install (Gmail, Exchange / Office 365, Domino).

    quirkserver.py SPEC.json PORTFILE [--log FILE] [--max-seconds N] [--port N]
                   [--tokens FILE]

Listens on a free loopback port (plain TCP), writes it to PORTFILE, serves any number of
connections (one thread each) from ONE mailbox loaded from SPEC until killed or N seconds.
State that outlives a connection: the mailbox, the fault counters (a throttle that fired
once does not fire again), and the violation log. On SIGTERM / SIGINT / timeout it writes a
JSON report next to PORTFILE (PORTFILE.report): commands seen, connections, faults fired,
and "violations" — things a migration must never do to a source (SELECT instead of EXAMINE,
BODY[] without PEEK, STORE/APPEND/EXPUNGE/CREATE/DELETE/RENAME/COPY/MOVE...).

    quirkserver.py --expect SPEC.json     print the mailbox as the server serves it (JSON:
                                          folders -> messages with sha256/flags/labels), for
                                          the test to compute what the destination must hold.

SPEC (UTF-8 JSON):
  {"profile": "gmail" | "exchange" | "office" | "domino" | "plain",
   "login": "user", "password": "pw",
   "delimiter": "/",                    (default: "\\" for domino, "/" otherwise)
   "messages": [                        (Gmail: one store, folders are label views)
      {"id": "m1", "labels": ["\\\\Inbox", "Work"], "flags": ["\\\\Seen"],
       "date": "2021-03-04T05:06:07+01:00", "subject": "...", "body": "...", "pad": 3000}],
   "folders": [
      {"name": "INBOX", "attrs": ["\\\\HasNoChildren"], "subscribed": true,
       "label": "\\\\Inbox",            (Gmail: holds the messages carrying that label;
                                         default: the folder name for a non-[Gmail] folder)
       "all": true,                     (Gmail: holds every message not in Spam/Trash)
       "messages": [ {...as above, no labels...} ],      (other profiles)
       "generate": {"prefix": "in", "count": 30, "pad": 900, "no_msgid_every": 2}}],
   "exact_size": true,                  (override the profile: RFC822.SIZE = real size)
   "xoauth2_no_access": true,           (office: AUTHENTICATE XOAUTH2 succeeds, then the next
                                         command gets "BAD User is authenticated but not
                                         connected." and BYE: the app has no FullAccess)
   "faults": [ {"kind": ..., ...}, ... ]}

A message's content is built from its fields (deterministic): From/To/Subject/Date/
Message-ID headers ("no_msgid": true leaves Message-ID out), a body, and "pad" bytes of
filler lines. "\\\\Starred" in Gmail labels means the \\Flagged flag (RFC 6154 section 2:
\\Flagged is the virtual mailbox of flagged messages, which Gmail lists as [Gmail]/Starred).

AUTHENTICATE XOAUTH2 (with --tokens FILE, the token file tokenserver.py writes): accepted only
for the spec's login with a token the fake endpoint issued that has not expired (and whose
"sub" is that login, for Google). Refusals take each vendor's form: Gmail sends a "+"
continuation carrying base64 JSON {"status":"400",...}, waits for the client's empty line,
then "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)"; Exchange / Office 365 answer
"NO AUTHENTICATE failed.". The report counts "xoauth2_ok" and "xoauth2_refused".

Faults (each fires "times" times, default 1, counted across connections):
  {"kind": "throttle", "command": "UID FETCH", "body": true, "after": N, "mode": M}
      answer the (N+1)-th matching command (counting only BODY fetches if "body") with:
      M = "o365_no"      tag NO Request is throttled. Suggested Backoff Time: MS milliseconds
          "o365_bad_bye" tag BAD Request is throttled. Suggested ... then * BYE Connection
                         closed. 14, and close
          "unavailable"  tag NO Server Unavailable. 15              (Exchange 2013)
          "code"         tag NO [THROTTLED] ...   /  "code_unavailable" NO [UNAVAILABLE] ...
          "bye_gmail"    * BYE Session expired, please login again, and close
          "drop"         close the connection without a word
      "backoff_ms" sets MS (default 1500).
  {"kind": "garbage", "after_bodies": K}      after K message bodies (counted over every
      FETCH of bodies), send a FETCH response that is not IMAP, then close
  {"kind": "close_mid_literal", "after_bodies": K}   announce body K+1's literal, send half
      of it, close
  {"kind": "select_no", "folder": NAME}        the folder is listed but EXAMINE / SELECT
      answer NO "<name> doesn't exist." (every time)
  {"kind": "stall", "after_bodies": K, "seconds": S}  after K bodies, stop answering for S s
      (to kill the client while the destination holds part of a window)
  {"kind": "throttle_every", "min": 5, "max": 10, "modes": [M, ...], "times": T}
      every min..max authenticated commands (random, seeded), refuse one with the next mode
      of the list (the modes above, and "gmail_limit": tag NO [ALERT] Account exceeded
      command or bandwidth limits. (Failure) — Gmail's daily download limit, Google's
      "Gmail bandwidth limits" help page and imapsync FAQ.Gmail.txt; "too_many": tag NO
      [ALERT] Too many simultaneous connections. (Failure) — Gmail, same FAQ)
  {"kind": "flood", "command": "UID FETCH", "after": N}  answer the (N+1)-th matching
      command with "* OK Still here" lines every 50 ms, never its tagged answer (a broken
      proxy or server); the client must give up after its I/O timeout
  {"kind": "omit", "folder": NAME, "uid": U}   every FETCH of bodies in that folder leaves
      message U out of its answer, and still ends with OK (every time)
"""
import base64
import datetime
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time

# ---------------------------------------------------------------------------------------
# Profiles. Every quirk cites where it is documented.
# ---------------------------------------------------------------------------------------

PROFILES = {
    # Google, "IMAP Extensions" (https://developers.google.com/gmail/imap/imap-extensions):
    # the greeting, the CAPABILITY list with X-GM-EXT-1 (no SPECIAL-USE, no LIST-EXTENDED),
    # LIST with special-use attributes on the [Gmail] folders sent without any capability
    # ("All LIST responses include these special-use attributes; this is not a new
    # CAPABILITY"), [Gmail] itself \Noselect, X-GM-MSGID / X-GM-THRID / X-GM-LABELS FETCH
    # items, labels as "(\Inbox \Sent Important "Muy Importante")".
    "gmail": {
        "greeting": "* OK Gimap ready for requests from 127.0.0.1 k2if6111336rvb.0",
        "caps": "IMAP4rev1 UNSELECT LITERAL+ IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1",
        # Before login Gmail also lists its SASL mechanisms (SASL-IR AUTH=XOAUTH2 AUTH=PLAIN
        # AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH, as captured in public client
        # logs, e.g. github.com/jstedfast/MailKit issues).
        "caps_pre": "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 "
                    "XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN "
                    "AUTH=OAUTHBEARER AUTH=XOAUTH",
        "login_ok": "{user} authenticated (Success)",
        "ok": "Success",
        "id": '("name" "GImap" "vendor" "Google, Inc." "support-url" '
              '"http://mail.google.com/support")',
        "gmail": True,
        "exact_size": True,
        # imapsync FAQ.Gmail.txt (github.com/imapsync/imapsync FAQ.d/FAQ.Gmail.txt): SELECT
        # of [Gmail] answers "NO [NONEXISTENT] Unknown Mailbox: [Gmail] (now in
        # authenticated state) (Failure)".
        "noselect_no": "NO [NONEXISTENT] Unknown Mailbox: {name} (now in authenticated state) "
                       "(Failure)",
        "bad": "BAD Could not parse command",
    },
    # Exchange 2016 / Exchange Online. Greeting: the default Banner of Set-ImapSettings
    # ("The default value is: The Microsoft Exchange IMAP4 service is ready.", documented
    # with the -Banner parameter, learn.microsoft.com/powershell/module/exchange/
    # set-imapsettings, and in the xExchange DSC module, powershellgallery.com/packages/
    # xExchange); it is also the greeting in MailKit #849 below. CAPABILITY of outlook.office365.com before and after
    # login as captured in github.com/jstedfast/MailKit/issues/849 and confirmed in
    # github.com/huacnlee/omamail/pull/90: no SPECIAL-USE, no LIST-EXTENDED, and LIST sends no
    # special-use attributes ("Exchange Online's IMAP advertises no SPECIAL-USE, so every
    # special folder there is found by name"). Mail folders sit beside Calendar, Contacts,
    # Tasks, Journal, Notes, Outbox, RSS Feeds, Conversation History, Calendar/Birthdays
    # (github.com/mikegioia/libremail/issues/105). RFC822.SIZE is not the message size:
    # "If the [RFC2822] size of the message is known, then Microsoft Exchange returns that
    # value; otherwise [...] the stored-message size" (Microsoft Exchange IMAP4 standards
    # support, msdn.microsoft.com/en-us/library/ee624465, section 2.2.25; also KB Q191504
    # "IMAP4 FETCH Command Returns Wrong Size", and the EnableExactRFC822Size parameter of
    # Set-ImapSettings, off by default).
    "exchange": {
        "greeting": "* OK The Microsoft Exchange IMAP4 service is ready.",
        "caps_pre": "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT "
                    "CHILDREN IDLE NAMESPACE LITERAL+",
        "caps": "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT "
                "CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN "
                "IDLE NAMESPACE LITERAL+",
        "login_ok": "LOGIN completed.",
        "ok": "{cmd} completed.",
        "id": '("name" "Microsoft.Exchange.Imap4.Imap4Server" "version" "15.20")',
        "exact_size": False,
        "noselect_no": "NO Folder is not selectable.",
        # imapsync FAQ.Exchange.txt: "BAD Command received in Invalid state.",
        # "BAD Command Argument Error. 11".
        "bad": "BAD Command Argument Error 11",
        "bad_state": "BAD Command received in Invalid state.",
    },
    # HCL (IBM/Lotus) Domino: RFC 2342 NAMESPACE with an Other Users namespace
    # (help.hcltechsw.com/domino/12.0.0/admin/conf_enablingtheimapservicetoautomatically
    # displayallac_t.html); hierarchy delimiter "\" and empty prefix (imapsync
    # FAQ.Domino.txt: "--sep1 '\' --prefix1 ''"); no INBOX subfolders (same FAQ: "Domino
    # doesn't accept INBOX subfolders"). The greeting and capability list below are not
    # publicly documented: placeholders (the tests check nothing that depends on them).
    "domino": {
        "greeting": "* OK Domino IMAP4 Server Release 12.0.2 ready Tue, 14 Nov 2023 10:12:01 "
                    "+0100",
        "caps": "IMAP4rev1 AUTH=PLAIN LITERAL+ NAMESPACE CHILDREN",
        "caps_pre": None,
        "login_ok": "LOGIN completed",
        "ok": "{cmd} completed",
        "id": None,
        "exact_size": True,
        "noselect_no": "NO Mailbox does not exist",
        "bad": "BAD Invalid command",
        "namespace": '(("" "\\\\")) (("Other Users\\\\" "\\\\")) NIL',
        "delimiter": "\\",
    },
    # A standards-following server (Dovecot-like) with LIST-EXTENDED and SPECIAL-USE.
    "plain": {
        "greeting": "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN] ready",
        "caps": "IMAP4rev1 LITERAL+ SASL-IR ID NAMESPACE CHILDREN UIDPLUS UNSELECT "
                "LIST-EXTENDED SPECIAL-USE AUTH=PLAIN",
        "caps_pre": None,
        "login_ok": "Logged in",
        "ok": "{cmd} completed",
        "id": '("name" "quirkserver")',
        "exact_size": True,
        "noselect_no": "NO [NONEXISTENT] Mailbox doesn't exist",
        "bad": "BAD Error in IMAP command",
    },
}
PROFILES["office"] = dict(PROFILES["exchange"])

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
SPECIAL_ATTRS = {"\\all", "\\archive", "\\drafts", "\\flagged", "\\junk", "\\sent", "\\trash",
                 "\\important"}
# Commands that change a mailbox: a migration must never send them to its source.
WRITES = {"APPEND", "STORE", "EXPUNGE", "CREATE", "DELETE", "RENAME", "COPY", "MOVE",
          "SUBSCRIBE", "UNSUBSCRIBE", "SETACL", "SETQUOTA", "SETMETADATA"}


class Bad(Exception):
    """Malformed command: answered BAD."""


# ---------------------------------------------------------------------------------------
# Mailbox
# ---------------------------------------------------------------------------------------

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


def parse_date(v):
    if isinstance(v, (int, float)):
        return datetime.datetime.fromtimestamp(v, datetime.timezone.utc)
    return datetime.datetime.fromisoformat(v)


def imap_date(dt):
    off = dt.utcoffset() or datetime.timedelta(0)
    mins = int(off.total_seconds() // 60)
    sign = "-" if mins < 0 else "+"
    mins = abs(mins)
    return "%02d-%s-%04d %02d:%02d:%02d %s%02d%02d" % (
        dt.day, MONTHS[dt.month - 1], dt.year, dt.hour, dt.minute, dt.second, sign,
        mins // 60, mins % 60)


def build_content(m, seq):
    dt = parse_date(m.get("date", 1600000000 + seq * 3600))
    hdr = [
        "From: %s" % m.get("from", "Sender %d <sender%d@source.test>" % (seq, seq)),
        "To: %s" % m.get("to", "owner@source.test"),
        "Subject: %s" % m.get("subject", "message %s" % m.get("id", seq)),
        "Date: %s" % dt.strftime("%a, %d %b %Y %H:%M:%S %z"),
    ]
    if not m.get("no_msgid"):
        hdr.append("Message-ID: <%s@quirk.test>" % m.get("id", "q%d" % seq))
    hdr.append("MIME-Version: 1.0")
    hdr.append("Content-Type: text/plain; charset=utf-8")
    body = m.get("body", "Body of %s.\n" % m.get("id", seq))
    data = ("\r\n".join(hdr) + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n"))
    data = data.encode("utf-8")
    pad = int(m.get("pad", 0))
    if pad:
        line = (b"%-70s\r\n" % (b"filler %s" % str(m.get("id", seq)).encode()))
        data += (line * (pad // len(line) + 1))[:pad]
    # "idate_raw": an INTERNALDATE sent as is, however malformed (hostile-source tests).
    return data, m.get("idate_raw", imap_date(dt))


def generate(g):
    """{"prefix": "in", "count": N, "pad": P, "no_msgid_every": K} -> N message specs:
    message i is padded to about P*i bytes, every K-th has no Message-ID, flags vary."""
    if not g:
        return []
    out = []
    for i in range(1, int(g["count"]) + 1):
        flags = [["\\Seen"], ["\\Seen", "\\Answered"], [], ["\\Flagged", "$Forwarded"]][i % 4]
        m = {"id": "%s%d" % (g["prefix"], i), "pad": int(g.get("pad", 0)) * i, "flags": flags,
             "date": 1500000000 + i * 86400 + int(g.get("date_offset", 0))}
        k = int(g.get("no_msgid_every", 0))
        if k and i % k == 0:
            m["no_msgid"] = True
        m.update(g.get("override", {}).get(str(i), {}))  # {"3": {"idate_raw": "..."}}
        out.append(m)
    return out


class Msg:
    def __init__(self, spec, seq, gm_base):
        self.spec = spec
        self.data, self.idate = build_content(spec, seq)
        self.flags = list(spec.get("flags", []))
        self.labels = list(spec.get("labels", []))
        if any(l.lower() == "\\starred" for l in self.labels) and "\\Flagged" not in self.flags:
            self.flags.append("\\Flagged")
        self.gm_msgid = gm_base + seq
        self.gm_thrid = gm_base + int(spec.get("thread", seq))
        self.sha = hashlib.sha256(self.data).hexdigest()


class Folder:
    def __init__(self, spec, delim, uidvalidity):
        self.name = spec["name"]                      # UTF-8
        self.raw = mutf7_encode(self.name)            # wire form
        self.attrs = list(spec.get("attrs", []))
        self.subscribed = bool(spec.get("subscribed", True))
        self.noselect = any(a.lower() == "\\noselect" for a in self.attrs)
        self.uidvalidity = uidvalidity
        self.msgs = []                                # [(uid, Msg)]
        self.delim = delim

    def add(self, msg, uid):
        self.msgs.append((uid, msg))

    @property
    def uidnext(self):
        return (self.msgs[-1][0] + 1) if self.msgs else 1


class Store:
    def __init__(self, spec):
        self.spec = spec
        self.profile_name = spec.get("profile", "plain")
        self.profile = PROFILES[self.profile_name]
        self.delim = spec.get("delimiter", self.profile.get("delimiter", "/"))
        self.login = spec.get("login", "user")
        self.password = spec.get("password", "pass")
        self.folders = []
        gm_base = 1278455344230334000
        uv = int(spec.get("uidvalidity", 1700000000))
        for i, fs in enumerate(spec.get("folders", [])):
            self.folders.append(Folder(fs, self.delim, uv + i))
        seq = 0
        if self.profile.get("gmail"):
            # One store of messages; each folder shows those carrying its label.
            msgs = []
            for ms in spec.get("messages", []):
                seq += 1
                msgs.append(Msg(ms, seq, gm_base))
            for f, fs in zip(self.folders, spec.get("folders", [])):
                if f.noselect:
                    continue
                label = fs.get("label", f.name)
                uid = int(fs.get("first_uid", 1))
                for m in msgs:
                    lab = [l.lower() for l in m.labels]
                    if fs.get("all"):
                        member = "\\spam" not in lab and "\\trash" not in lab
                    else:
                        member = label.lower() in lab
                    if member:
                        f.add(m, uid)
                        uid += 1 + int(fs.get("uid_gap", 0))
        else:
            for f, fs in zip(self.folders, spec.get("folders", [])):
                uid = int(fs.get("first_uid", 1))
                for ms in list(fs.get("messages", [])) + generate(fs.get("generate")):
                    seq += 1
                    f.add(Msg(ms, seq, gm_base), uid)
                    uid += 1 + int(fs.get("uid_gap", 0))
        self.faults = []
        for fs in spec.get("faults", []):
            d = dict(fs)
            d.setdefault("times", 1)
            d["count"] = 0
            d["fired"] = 0
            self.faults.append(d)
        self.lock = threading.Lock()
        self.report_path = None
        self.report = {"connections": 0, "commands": 0, "faults_fired": [], "violations": [],
                       "bodies_sent": 0, "logins": 0,
                       "max_bodies_per_fetch": 0}
        self.bodies = 0

    def folder(self, raw):
        if raw.upper() == "INBOX":
            for f in self.folders:
                if f.name.upper() == "INBOX":
                    return f
            return None
        for f in self.folders:
            if f.raw == raw:
                return f
        return None

    def rfc822_size(self, uid, msg):
        n = len(msg.data)
        if self.spec.get("exact_size", self.profile.get("exact_size")):
            return n
        # Exchange's "stored-message size": not the RFC 2822 size; smaller or larger.
        return n - n // 9 if uid % 2 else n + n // 7 + 131

    def violation(self, what):
        with self.lock:
            self.report["violations"].append(what)

    def fault_throttle(self, cmd, is_body):
        """The throttle fault that fires on this command now (counts it), or None."""
        with self.lock:
            for f in self.faults:
                if f["kind"] != "throttle" or f["fired"] >= f["times"]:
                    continue
                if f.get("command") and f["command"].upper() != cmd:
                    continue
                if f.get("body") and not is_body:
                    continue
                f["count"] += 1
                if f["count"] <= int(f.get("after", 0)):
                    continue
                f["fired"] += 1
                self.report["faults_fired"].append(dict(
                    (k, v) for k, v in f.items() if k not in ("count", "fired")))
                return f
        return None

    def fault_every(self):
        """The mode of a throttle_every fault firing on this command now, or None."""
        with self.lock:
            for f in self.faults:
                if f["kind"] != "throttle_every" or f["fired"] >= f["times"]:
                    continue
                if "next" not in f:
                    f["rng"] = __import__("random").Random(int(f.get("seed", 1)))
                    f["next"] = f["rng"].randint(int(f.get("min", 5)), int(f.get("max", 10)))
                f["count"] += 1
                if f["count"] < f["next"]:
                    continue
                f["count"] = 0
                f["next"] = f["rng"].randint(int(f.get("min", 5)), int(f.get("max", 10)))
                modes = f.get("modes") or ["code"]
                mode = modes[f["fired"] % len(modes)]
                f["fired"] += 1
                self.report["faults_fired"].append({"kind": "throttle_every", "mode": mode})
                return mode
        return None

    def fault_flood(self, cmd):
        with self.lock:
            for f in self.faults:
                if f["kind"] != "flood" or f["fired"] >= f["times"]:
                    continue
                if f.get("command") and f["command"].upper() != cmd:
                    continue
                f["count"] += 1
                if f["count"] <= int(f.get("after", 0)):
                    continue
                f["fired"] += 1
                self.report["faults_fired"].append({"kind": "flood", "command": cmd})
                return True
        return False

    def omitted(self, folder, uid):
        for f in self.faults:
            if f["kind"] == "omit" and f.get("folder") in (folder.name, folder.raw) \
                    and int(f.get("uid", 0)) == uid:
                return True
        return False

    def body_fault(self):
        """Called before each body: a garbage/close/stall fault due now, or None."""
        with self.lock:
            n = self.bodies
            for f in self.faults:
                if f["kind"] in ("garbage", "close_mid_literal", "stall") \
                        and f["fired"] < f["times"] and n == int(f.get("after_bodies", 0)):
                    f["fired"] += 1
                    self.report["faults_fired"].append(dict(
                        (k, v) for k, v in f.items() if k not in ("count", "fired")))
                    return f
        return None

    def select_refused(self, folder):
        with self.lock:
            for f in self.faults:
                if f["kind"] == "select_no" and f.get("folder") in (folder.name, folder.raw):
                    f["fired"] += 1
                    return True
        return False

    def count_body(self):
        with self.lock:
            self.bodies += 1
            self.report["bodies_sent"] += 1
        self.write_report()

    def write_report(self):
        """PORTFILE.report, replaced atomically (the test reads it while we serve)."""
        if not self.report_path:
            return
        with self.lock:
            rep = json.dumps(self.report, indent=1)
            tmp = "%s.%d.tmp" % (self.report_path, threading.get_ident())
            with open(tmp, "w") as fh:
                fh.write(rep + "\n")
            os.rename(tmp, self.report_path)

    def expect(self):
        out = {"folders": []}
        for f in self.folders:
            out["folders"].append({
                "name": f.name, "raw": f.raw, "attrs": f.attrs, "noselect": f.noselect,
                "subscribed": f.subscribed,
                "messages": [{"uid": uid, "sha256": m.sha, "size": len(m.data),
                              "flags": sorted(m.flags), "labels": m.labels,
                              "id": m.spec.get("id"), "internaldate": m.idate}
                             for uid, m in f.msgs]})
        return out


# ---------------------------------------------------------------------------------------
# Command parsing (RFC 3501 section 9 syntax, strict)
# ---------------------------------------------------------------------------------------

ATOM_SPECIALS = set('(){ %*"\\]') | set(chr(c) for c in range(0, 32)) | {chr(127)}


class Reader:
    """Reads one command from the socket, with its literals, into tokens."""

    def __init__(self, conn):
        self.conn = conn

    def command(self):
        line = self.conn.read_line()
        if line is None:
            return None
        parts = []
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not m:
                parts.append(line)
                break
            n = int(m.group(1))
            if n > 1 << 20:
                raise Bad("literal too big")
            parts.append(line[:m.start()])
            if not m.group(2):
                self.conn.send(b"+ Ready for additional command text.\r\n")
            lit = self.conn.read_n(n)
            if lit is None:
                return None
            parts.append(("lit", lit))
            line = self.conn.read_line()
            if line is None:
                return None
        return parts


def tokenize(parts):
    """parts: bytes and ("lit", bytes) pieces -> list of tokens: str atoms ("ATOM",), quoted
    strings ("STR", s), nested lists. Raises Bad on malformed syntax."""
    tokens = []
    stack = [tokens]
    for part in parts:
        if isinstance(part, tuple):
            stack[-1].append(("STR", part[1].decode("utf-8", "replace")))
            continue
        s = part.decode("utf-8", "replace")
        i = 0
        while i < len(s):
            c = s[i]
            if c == " ":
                i += 1
            elif c == "(":
                lst = []
                stack[-1].append(lst)
                stack.append(lst)
                i += 1
            elif c == ")":
                if len(stack) == 1:
                    raise Bad("unbalanced )")
                stack.pop()
                i += 1
            elif c == '"':
                j = i + 1
                out = []
                while True:
                    if j >= len(s):
                        raise Bad("unterminated string")
                    if s[j] == "\\":
                        if j + 1 >= len(s) or s[j + 1] not in '"\\':
                            raise Bad("bad escape in quoted string")
                        out.append(s[j + 1])
                        j += 2
                    elif s[j] == '"':
                        break
                    else:
                        out.append(s[j])
                        j += 1
                stack[-1].append(("STR", "".join(out)))
                i = j + 1
            else:
                j = i
                # Atoms; "[" "]" allowed inside fetch attributes (BODY.PEEK[HEADER.FIELDS ...)
                while j < len(s) and s[j] not in ' ()"':
                    if s[j] == "[":
                        depth = 0
                        while j < len(s):
                            if s[j] == "[":
                                depth += 1
                            elif s[j] == "]":
                                depth -= 1
                                if depth == 0:
                                    break
                            j += 1
                        if j >= len(s):
                            raise Bad("unterminated [")
                    j += 1
                tokens_atom = s[i:j]
                if any(ch in "{\"" or ord(ch) < 32 for ch in tokens_atom):
                    raise Bad("bad atom")
                stack[-1].append(tokens_atom)
                i = j
    if len(stack) != 1:
        raise Bad("unbalanced (")
    return tokens


def astring(tok):
    if isinstance(tok, tuple):
        return tok[1]
    if isinstance(tok, str):
        if any(c in ATOM_SPECIALS and c != "]" for c in tok):
            raise Bad("bad astring")
        return tok
    raise Bad("list where a string was expected")


def list_mailbox(tok):
    """list-mailbox: an astring whose atoms may also hold the wildcards * and %."""
    if isinstance(tok, str):
        if any(c in ATOM_SPECIALS and c not in "]*%" for c in tok):
            raise Bad("bad list-mailbox")
        return tok
    return astring(tok)


def parse_set(s, maxv):
    """Sequence set -> predicate on numbers. '*' is maxv."""
    if not re.fullmatch(r"(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*", s):
        raise Bad("bad sequence set")
    ranges = []
    for item in s.split(","):
        a, _, b = item.partition(":")
        av = maxv if a == "*" else int(a)
        bv = (maxv if b == "*" else int(b)) if b else av
        if av == 0 or bv == 0:
            raise Bad("0 in sequence set")
        ranges.append((min(av, bv), max(av, bv)))
    return lambda v: any(lo <= v <= hi for lo, hi in ranges)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_match(pattern, name, delim):
    rx = ""
    for ch in pattern:
        if ch == "*":
            rx += ".*"
        elif ch == "%":
            rx += "[^%s]*" % re.escape(delim) if delim else ".*"
        else:
            rx += re.escape(ch)
    return re.fullmatch(rx, name, re.S) is not None


# ---------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------

class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock, store, log):
        self.s = sock
        self.buf = b""
        self.store = store
        self.p = store.profile
        self.log = log
        self.auth = False
        self.sel = None
        self.readonly = True

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            raise Closed()

    def line(self, text):
        self.log("S: " + text[:200])
        self.send(text.encode("utf-8") + b"\r\n")

    def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Bad("line too long")
            try:
                d = self.s.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_n(self, n):
        while len(self.buf) < n:
            try:
                d = self.s.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def ok(self, tag, cmd, text=None):
        t = text if text is not None else self.p["ok"].format(cmd=cmd)
        self.line("%s OK %s" % (tag, t))

    def caps(self):
        if not self.auth and self.p.get("caps_pre"):
            return self.p["caps_pre"]
        return self.p["caps"]

    def has(self, cap):
        return cap.upper() in self.caps().upper().split()

    def serve(self):
        self.line(self.p["greeting"])
        reader = Reader(self)
        while True:
            try:
                parts = reader.command()
            except Bad as e:
                self.line("* %s (%s)" % (self.p["bad"], e))
                continue
            if parts is None:
                return
            first = parts[0].decode("utf-8", "replace") if isinstance(parts[0], bytes) else ""
            self.log("C: " + (re.sub(r"(?i)^(\S+ (LOGIN|AUTHENTICATE) \S*).*", r"\1 <redacted>",
                                     first))[:200])
            tag = None
            try:
                toks = tokenize(parts)
                if len(toks) < 2 or not isinstance(toks[0], str) or not isinstance(toks[1], str):
                    raise Bad("no tag or command")
                tag = toks[0]
                if not re.fullmatch(r"[\x21-\x7e]+", tag) or any(c in tag for c in '(){%*"\\+'):
                    raise Bad("bad tag")
                cmd = toks[1].upper()
                args = toks[2:]
                if cmd == "UID":
                    if not args or not isinstance(args[0], str):
                        raise Bad("UID what?")
                    cmd = "UID " + args[0].upper()
                    args = args[1:]
                with self.store.lock:
                    self.store.report["commands"] += 1
                if getattr(self, "no_access", False):
                    # github.com/jstedfast/MailKit and Microsoft Q&A threads: an app without
                    # FullAccess on the mailbox
                    self.line("%s BAD User is authenticated but not connected." % tag)
                    self.line("* BYE Connection closed. 14")
                    return
                if self.auth and self.throttled(tag, cmd, args):
                    continue  # answered (refused) by the fault
                if not self.dispatch(tag, cmd, args):
                    return
            except Bad as e:
                self.line("%s %s (%s)" % (tag or "*", self.p["bad"], e))

    # -- faults ----------------------------------------------------------------------

    def throttled(self, tag, cmd, args):
        up = json.dumps(args).upper()
        is_body = cmd in ("UID FETCH", "FETCH") and ("BODY.PEEK[]" in up or "BODY[]" in up)
        if cmd != "LOGOUT" and self.store.fault_flood(cmd):
            self.log("FAULT flood on %s" % cmd)
            for _ in range(100000):
                self.line("* OK Still here")
                time.sleep(0.05)
            raise Closed()
        mode = self.store.fault_every() if cmd != "LOGOUT" else None
        if mode:
            f = {"mode": mode, "backoff_ms": 200}
        else:
            f = self.store.fault_throttle(cmd, is_body)
        if not f:
            return False  # no fault: the command runs
        mode = f.get("mode", "o365_no")
        ms = int(f.get("backoff_ms", 1500))
        self.log("FAULT throttle %s on %s" % (mode, cmd))
        if mode == "o365_no":
            # github.com/imapsync/imapsync/issues/198 (Office 365, on APPEND and others)
            self.line("%s NO Request is throttled. Suggested Backoff Time: %d milliseconds"
                      % (tag, ms))
            return True
        if mode == "o365_bad_bye":
            # github.com/simonrob/email-oauth2-proxy/issues/191: "BAD Request is throttled.
            # Suggested Backoff Time: 89117 milliseconds\r\n* BYE Connection closed. 14"
            self.line("%s BAD Request is throttled. Suggested Backoff Time: %d milliseconds"
                      % (tag, ms))
            self.line("* BYE Connection closed. 14")
            raise Closed()
        if mode == "unavailable":
            # Exchange 2013: "NO Server Unavailable. 15" (github.com/lefcha/imapfilter/
            # issues/146, imapsync FAQ.Exchange.txt)
            self.line("%s NO Server Unavailable. 15" % tag)
            return True
        if mode == "code":
            # [THROTTLED] response code (seen from Gmail: github.com/mscdex/node-imap/
            # issues/593); as a NO it refuses the command.
            self.line("%s NO [THROTTLED] Too many commands, slow down" % tag)
            return True
        if mode == "code_unavailable":
            # RFC 5530 section 3: UNAVAILABLE, "temporary failure"
            self.line("%s NO [UNAVAILABLE] Temporary failure, try again later" % tag)
            return True
        if mode == "bye_gmail":
            # imapsync FAQ.Gmail.txt: limits reached -> "BYE Session expired, please login
            # again"
            self.line("* BYE Session expired, please login again")
            raise Closed()
        if mode == "drop":
            raise Closed()
        if mode == "gmail_limit":
            # Gmail past its daily IMAP download allowance ("Gmail bandwidth limits", Google
            # Workspace Admin Help; imapsync FAQ.Gmail.txt quotes this answer).
            self.line("%s NO [ALERT] Account exceeded command or bandwidth limits. (Failure)"
                      % tag)
            return True
        if mode == "too_many":
            # Gmail past 15 connections per account (imapsync FAQ.Gmail.txt).
            self.line("%s NO [ALERT] Too many simultaneous connections. (Failure)" % tag)
            return True
        raise Bad("unknown fault mode")

    # -- commands --------------------------------------------------------------------

    def need_auth(self):
        if not self.auth:
            raise Bad(self.p.get("bad_state", "command needs authentication"))

    def need_sel(self):
        self.need_auth()
        if not self.sel:
            raise Bad(self.p.get("bad_state", "no mailbox selected"))

    def dispatch(self, tag, cmd, args):
        st = self.store
        if cmd in WRITES or cmd in ("UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE"):
            st.violation("%s sent to the source" % cmd)
            self.line("%s NO [CANNOT] this test source is read-only" % tag)
            return True
        if cmd == "CAPABILITY":
            if args:
                raise Bad("CAPABILITY takes no argument")
            self.line("* CAPABILITY " + self.caps())
            self.ok(tag, cmd)
        elif cmd == "NOOP":
            self.ok(tag, cmd)
        elif cmd == "LOGOUT":
            self.line("* BYE " + ("LOGOUT Requested" if st.profile_name == "gmail"
                                  else "Logging out"))
            self.ok(tag, cmd)
            return False
        elif cmd == "ID":
            if not self.has("ID"):
                raise Bad("unknown command")
            if len(args) != 1 or not (args[0] == "NIL" or isinstance(args[0], list)):
                raise Bad("ID wants a list or NIL")
            self.line("* ID " + (self.p.get("id") or "NIL"))
            self.ok(tag, cmd)
        elif cmd == "LOGIN":
            if self.auth:
                raise Bad(self.p.get("bad_state", "already authenticated"))
            if len(args) != 2:
                raise Bad("LOGIN user password")
            user, pw = astring(args[0]), astring(args[1])
            self.finish_login(tag, user, pw, cmd)
        elif cmd == "AUTHENTICATE":
            if self.auth or not args or not isinstance(args[0], str):
                raise Bad("AUTHENTICATE mechanism")
            if args[0].upper() == "XOAUTH2" and self.has("AUTH=XOAUTH2") and TOKENS_FILE:
                return self.xoauth2(tag, args)
            if args[0].upper() != "PLAIN" or not self.has("AUTH=PLAIN"):
                self.line("%s NO Unsupported authentication mechanism" % tag)
                return True
            if len(args) > 2:
                raise Bad("too many arguments")
            if len(args) == 2:
                if not self.has("SASL-IR"):
                    raise Bad("initial response without SASL-IR")
                resp = astring(args[1])
            else:
                self.send(b"+ \r\n")
                resp = self.read_line()
                if resp is None:
                    return False
                resp = resp.decode("ascii", "replace")
            if resp == "*":
                self.line("%s BAD AUTHENTICATE cancelled" % tag)
                return True
            try:
                raw = base64.b64decode(resp, validate=True)
                authz, authc, pw = raw.split(b"\0")
            except Exception:
                raise Bad("bad SASL PLAIN response")
            if authz and authz != authc:
                self.line("%s NO [AUTHORIZATIONFAILED] no proxy login here" % tag)
                return True
            self.finish_login(tag, authc.decode(), pw.decode(), cmd)
        elif cmd == "NAMESPACE":
            self.need_auth()
            if not self.has("NAMESPACE") or args:
                raise Bad("NAMESPACE")
            ns = self.p.get("namespace") or '(("" "%s")) NIL NIL' % (
                st.delim.replace("\\", "\\\\"))
            self.line("* NAMESPACE " + ns)
            self.ok(tag, cmd)
        elif cmd in ("LIST", "LSUB", "XLIST"):
            self.need_auth()
            self.cmd_list(tag, cmd, args)
        elif cmd == "STATUS":
            self.need_auth()
            if len(args) != 2 or not isinstance(args[1], list):
                raise Bad("STATUS mailbox (items)")
            f = st.folder(astring(args[0]))
            if not f or f.noselect:
                self.line("%s NO %s" % (tag, self.p["noselect_no"].split(" ", 1)[1].format(
                    name=astring(args[0]))))
                return True
            items = []
            for it in args[1]:
                if not isinstance(it, str):
                    raise Bad("STATUS item")
                u = it.upper()
                val = {"MESSAGES": len(f.msgs), "RECENT": 0, "UIDNEXT": f.uidnext,
                       "UIDVALIDITY": f.uidvalidity,
                       "UNSEEN": sum(1 for _, m in f.msgs if "\\Seen" not in m.flags)}.get(u)
                if val is None:
                    raise Bad("unknown STATUS item %s" % it)
                items.append("%s %d" % (u, val))
            self.line("* STATUS %s (%s)" % (quote(f.raw), " ".join(items)))
            self.ok(tag, cmd)
        elif cmd in ("SELECT", "EXAMINE"):
            self.need_auth()
            if len(args) != 1:
                raise Bad("%s mailbox" % cmd)
            if cmd == "SELECT":
                st.violation("SELECT (read-write) of a source folder: use EXAMINE")
            name = astring(args[0])
            f = st.folder(name)
            self.sel = None
            if not f or f.noselect:
                self.line("%s %s" % (tag, self.p["noselect_no"].format(name=name)))
                return True
            if st.select_refused(f):
                # Office 365 lists a folder it then refuses to open: "NO INBOX doesn't
                # exist." (github.com/imapsync/imapsync/issues/459)
                self.line("%s NO %s doesn't exist." % (tag, name))
                return True
            self.sel = f
            self.line("* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Forwarded)")
            self.line("* OK [PERMANENTFLAGS ()] No permanent flags permitted")
            self.line("* OK [UIDVALIDITY %d] UIDs valid" % f.uidvalidity)
            self.line("* %d EXISTS" % len(f.msgs))
            self.line("* 0 RECENT")
            self.line("* OK [UIDNEXT %d] Predicted next UID" % f.uidnext)
            self.line("%s OK [READ-%s] %s" % (tag, "ONLY" if cmd == "EXAMINE" else "WRITE",
                                              self.p["ok"].format(cmd=cmd)))
        elif cmd in ("CLOSE", "UNSELECT"):
            self.need_sel()
            if cmd == "UNSELECT" and not self.has("UNSELECT"):
                raise Bad("unknown command")
            self.sel = None
            self.ok(tag, cmd)
        elif cmd in ("UID SEARCH", "SEARCH"):
            self.need_sel()
            self.cmd_search(tag, cmd, args)
        elif cmd in ("UID FETCH", "FETCH"):
            self.need_sel()
            return self.cmd_fetch(tag, cmd, args)
        elif cmd == "IDLE":
            raise Bad("IDLE is not for migrations")
        else:
            raise Bad("unknown command %s" % cmd)
        return True

    def xoauth2(self, tag, args):
        st = self.store
        if len(args) == 2:
            resp = astring(args[1])
        else:
            self.send(b"+ \r\n")
            resp = self.read_line()
            if resp is None:
                return False
            resp = resp.decode("ascii", "replace")
        try:
            raw = base64.b64decode(resp, validate=True).decode()
            fields = raw.split("\x01")
            user = fields[0][len("user="):] if fields[0].startswith("user=") else None
            auth = fields[1] if len(fields) > 1 else ""
            token = auth[len("auth=Bearer "):] if auth.startswith("auth=Bearer ") else None
            if fields[-2:] != ["", ""]:
                raise ValueError("framing")
        except Exception:
            raise Bad("bad SASL XOAUTH2 response")
        ok = False
        try:
            with open(TOKENS_FILE) as fh:
                tokens = json.load(fh)
            t = tokens.get(token or "")
            ok = (t is not None and t["exp"] > time.time() and user == st.login
                  and t["sub"] in ("*", user))
        except (OSError, ValueError):
            ok = False
        with st.lock:
            st.report["xoauth2_ok" if ok else "xoauth2_refused"] = \
                st.report.get("xoauth2_ok" if ok else "xoauth2_refused", 0) + 1
        if not ok:
            if st.profile_name == "gmail":
                # developers.google.com/gmail/imap/xoauth2-protocol: the error challenge
                ch = base64.b64encode(json.dumps(
                    {"status": "400", "schemes": "Bearer",
                     "scope": "https://mail.google.com/"}).encode()).decode()
                self.send(("+ %s\r\n" % ch).encode())
                if self.read_line() is None:
                    return False
                self.line("%s NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)" % tag)
            else:
                # Exchange Online (MailKit / email-oauth2-proxy issue threads)
                self.line("%s NO AUTHENTICATE failed." % tag)
            return True
        self.auth = True
        with st.lock:
            st.report["logins"] += 1
        if st.spec.get("xoauth2_no_access"):
            self.no_access = True
        self.line("%s OK %s" % (tag, "AUTHENTICATE completed." if st.profile_name != "gmail"
                                else "%s authenticated (Success)" % user))
        return True

    def finish_login(self, tag, user, pw, cmd):
        st = self.store
        if user != st.login or pw != st.password:
            self.line("%s NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)" % tag)
            return
        self.auth = True
        with st.lock:
            st.report["logins"] += 1
        if st.profile_name == "gmail":
            self.line("* CAPABILITY " + self.caps())
        self.line("%s OK %s" % (tag, self.p["login_ok"].format(user=user)))

    def cmd_list(self, tag, cmd, args):
        st = self.store
        ret = set()
        sel_opts = []
        if args and isinstance(args[0], list):
            if not self.has("LIST-EXTENDED") or cmd != "LIST":
                raise Bad("LIST selection options without LIST-EXTENDED")
            sel_opts = [a.upper() for a in args[0]]
            args = args[1:]
        if len(args) >= 3:
            if cmd != "LIST" or not self.has("LIST-EXTENDED") or len(args) != 4 \
                    or not isinstance(args[2], str) or args[2].upper() != "RETURN" \
                    or not isinstance(args[3], list):
                raise Bad("bad LIST arguments")
            ret = set(a.upper() for a in args[3])
            for r in ret:
                if r not in ("SUBSCRIBED", "SPECIAL-USE", "CHILDREN"):
                    raise Bad("unknown RETURN option")
            if "SPECIAL-USE" in ret and not self.has("SPECIAL-USE"):
                raise Bad("SPECIAL-USE not offered")
            args = args[:2]
        if len(args) != 2:
            raise Bad("%s reference pattern" % cmd)
        ref, pat = astring(args[0]), list_mailbox(args[1])
        d = st.delim
        dq = '"%s"' % d.replace("\\", "\\\\")
        if pat == "":
            self.line('* %s (\\Noselect) %s ""' % (cmd, dq))
            self.ok(tag, cmd)
            return
        full = ref + pat
        for f in st.folders:
            if cmd == "LSUB" and not f.subscribed:
                continue
            if "SUBSCRIBED" in sel_opts and not f.subscribed:
                continue
            wire = f.raw
            if f.name.upper() == "INBOX" and st.profile_name == "domino":
                wire = "Inbox"  # RFC 3501 5.1: INBOX is case-insensitive; any case may come
            if not list_match(full, wire, d) and not (
                    wire.upper() == "INBOX" and list_match(full.upper(), "INBOX", d)):
                continue
            attrs = list(f.attrs)
            if st.profile_name in ("exchange", "office"):
                # No special-use attributes from Exchange (see the profile's comment).
                attrs = [a for a in attrs if a.lower() not in SPECIAL_ATTRS]
            if cmd == "LIST" and ("SUBSCRIBED" in ret or "SUBSCRIBED" in sel_opts) \
                    and f.subscribed:
                attrs.append("\\Subscribed")
            name = wire
            if re.fullmatch(r"[A-Za-z0-9_.\-]+", name) and st.profile_name != "gmail":
                shown = name          # atoms where the server would (Exchange: Calendar)
            else:
                shown = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if "(" in name and st.profile_name == "domino":
                # A name sent as a literal (RFC 3501 allows any string form; which names a
                # real Domino sends so is not documented: this is the client's strictness)
                self.log("S: * %s (...) {%d}" % (cmd, len(name.encode())))
                self.send(("* %s (%s) %s {%d}\r\n" % (cmd, " ".join(attrs), dq,
                                                     len(name.encode()))).encode()
                          + name.encode() + b"\r\n")
                continue
            self.line("* %s (%s) %s %s" % (cmd, " ".join(attrs), dq, shown))
        self.ok(tag, cmd)

    def cmd_search(self, tag, cmd, args):
        f = self.sel
        uidmode = cmd.startswith("UID")
        if not args:
            raise Bad("SEARCH what?")
        crit = [a.upper() if isinstance(a, str) else a for a in args]
        pred = lambda uid, seq: True
        if crit == ["ALL"]:
            pass
        elif len(crit) == 2 and crit[0] == "UID" and isinstance(args[1], str):
            maxuid = f.msgs[-1][0] if f.msgs else 0
            p = parse_set(args[1], max(maxuid, 1))
            pred = lambda uid, seq: p(uid)
        else:
            raise Bad("this server only does SEARCH ALL / SEARCH UID set")
        hits = [str(uid if uidmode else seq) for seq, (uid, _) in enumerate(f.msgs, 1)
                if pred(uid, seq)]
        self.line("* SEARCH" + ("".join(" " + h for h in hits)))
        self.ok(tag, cmd)

    def cmd_fetch(self, tag, cmd, args):
        st = self.store
        f = self.sel
        uidmode = cmd.startswith("UID")
        if len(args) != 2:
            raise Bad("FETCH set items")
        if not isinstance(args[0], str):
            raise Bad("bad set")
        items = args[1] if isinstance(args[1], list) else [args[1]]
        want = []
        for it in items:
            if not isinstance(it, str):
                raise Bad("bad fetch item")
            u = it.upper()
            if u in ("UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE"):
                want.append(u)
            elif u in ("X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS"):
                if not self.has("X-GM-EXT-1"):
                    raise Bad("unknown fetch item %s" % it)
                want.append(u)
            elif u == "BODY.PEEK[]":
                want.append("BODY[]")
            elif u == "BODY[]" or u == "RFC822":
                st.violation("%s fetched without PEEK (sets \\Seen on the source)" % it)
                want.append("BODY[]")
            elif re.fullmatch(r"BODY\.PEEK\[HEADER\.FIELDS \(([A-Z0-9\- ]+)\)\]", u):
                want.append(u)
            else:
                raise Bad("unknown fetch item %s" % it)
        if uidmode and "UID" not in want:
            want.insert(0, "UID")
        n = len(f.msgs)
        if uidmode:
            maxuid = f.msgs[-1][0] if f.msgs else 0
            p = parse_set(args[0], max(maxuid, 1))
            sel = [(seq, uid, m) for seq, (uid, m) in enumerate(f.msgs, 1) if p(uid)]
            if not f.msgs and args[0].endswith("*"):
                sel = []
        else:
            p = parse_set(args[0], max(n, 1))
            sel = [(seq, uid, m) for seq, (uid, m) in enumerate(f.msgs, 1) if p(seq)]
            if any(not (1 <= int(x) <= n) for x in re.findall(r"\d+", args[0])):
                self.line("%s BAD Invalid message sequence number" % tag)
                return True
        if "BODY[]" in want:
            with st.lock:
                st.report["max_bodies_per_fetch"] = max(st.report["max_bodies_per_fetch"],
                                                        len(sel))
        if "BODY[]" in want:
            sel = [x for x in sel if not st.omitted(f, x[1])]
        for seq, uid, m in sel:
            out = []
            has_body = False
            # Gmail puts its X-GM items first (as in Google's examples); Exchange puts UID
            # first.
            order = want
            if st.profile_name == "gmail":
                order = [w for w in want if w.startswith("X-GM")] + \
                        [w for w in want if not w.startswith("X-GM")]
            for w in order:
                if w == "UID":
                    out.append("UID %d" % uid)
                elif w == "FLAGS":
                    out.append("FLAGS (%s)" % " ".join(m.flags))
                elif w == "INTERNALDATE":
                    out.append('INTERNALDATE "%s"' % m.idate)
                elif w == "RFC822.SIZE":
                    out.append("RFC822.SIZE %d" % st.rfc822_size(uid, m))
                elif w == "X-GM-MSGID":
                    out.append("X-GM-MSGID %d" % m.gm_msgid)
                elif w == "X-GM-THRID":
                    out.append("X-GM-THRID %d" % m.gm_thrid)
                elif w == "X-GM-LABELS":
                    labs = []
                    for l in m.labels:
                        if l.startswith("\\"):
                            labs.append(l)
                        elif re.fullmatch(r"[A-Za-z0-9_.\-]+", l):
                            labs.append(l)
                        else:
                            labs.append('"%s"' % mutf7_encode(l).replace("\\", "\\\\")
                                        .replace('"', '\\"'))
                    out.append("X-GM-LABELS (%s)" % " ".join(labs))
                elif w == "BODY[]":
                    has_body = True
                    out.append(None)  # placeholder: the literal goes last
                else:
                    fields = re.search(r"\(([^)]*)\)", w).group(1).split()
                    hdr = b""
                    for raw in m.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
                        name = raw.split(b":", 1)[0].decode("latin-1").upper()
                        if name in fields:
                            hdr += raw + b"\r\n"
                    hdr += b"\r\n"
                    out.append(("BODY[HEADER.FIELDS (%s)]" % " ".join(fields), hdr))
            head = "* %d FETCH (" % seq
            pieces = []
            for o in out:
                if o is None or isinstance(o, tuple):
                    continue
                pieces.append(o)
            lits = [o for o in out if isinstance(o, tuple)]
            text = head + " ".join(pieces)
            if has_body:
                fault = st.body_fault()
                if fault and not self.body_fault(fault, text, m):
                    return False
                data = m.data
                self.log("S: %s BODY[] {%d}" % (text, len(data)))
                self.send(("%s%sBODY[] {%d}\r\n" % (text, " " if pieces else "", len(data)))
                          .encode() + data + b")\r\n")
                st.count_body()
            elif lits:
                buf = text.encode()
                for name, val in lits:
                    buf += (" " if pieces or buf != text.encode() else "").encode() + \
                        ("%s {%d}\r\n" % (name, len(val))).encode() + val
                self.send(buf + b")\r\n")
            else:
                self.line(text + ")")
        self.ok(tag, cmd)
        return True

    def body_fault(self, fault, text, m):
        kind = fault["kind"]
        self.log("FAULT %s" % kind)
        if kind == "garbage":
            # Not IMAP: a literal announcement with a non-number, then binary noise.
            self.send(b"* 7 FETCH (UID 7 BODY[] {12x}\r\n\x00\xff\x07garbage (((\r\n")
            raise Closed()
        if kind == "close_mid_literal":
            data = m.data
            self.send(("%s BODY[] {%d}\r\n" % (text, len(data))).encode()
                      + data[:len(data) // 2])
            raise Closed()
        if kind == "stall":
            time.sleep(float(fault.get("seconds", 30)))
            return True
        return True


# ---------------------------------------------------------------------------------------

def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--expect":
        with open(sys.argv[2], encoding="utf-8") as fh:
            store = Store(json.load(fh))
        json.dump(store.expect(), sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    args = sys.argv[1:]
    logpath = None
    max_seconds = 600.0
    port = 0
    while len(args) > 2:
        if args[-2] == "--log":
            logpath = args[-1]
        elif args[-2] == "--port":
            port = int(args[-1])   # the same source again (a job is keyed by host:port)
        elif args[-2] == "--tokens":
            global TOKENS_FILE
            TOKENS_FILE = args[-1]
        elif args[-2] == "--max-seconds":
            max_seconds = float(args[-1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
        args = args[:-2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    specpath, portfile = args
    with open(specpath, encoding="utf-8") as fh:
        store = Store(json.load(fh))
    logf = open(logpath, "a", encoding="utf-8") if logpath else None
    loglock = threading.Lock()

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    with open(portfile + ".tmp", "w") as fh:
        fh.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)

    store.report_path = portfile + ".report"
    write_report = store.write_report

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def handle(sock, n):
        def log(text):
            if logf:
                with loglock:
                    logf.write("[%d] %s\n" % (n, text))
                    logf.flush()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(120)
        c = Conn(sock, store, log)
        try:
            c.serve()
        except Closed:
            log("closed by the server")
        except Exception as e:  # a server bug must show, not hang the test
            log("SERVER ERROR %r" % e)
            store.violation("server error: %r" % e)
        finally:
            try:
                sock.close()
            except OSError:
                pass
            write_report()

    srv.settimeout(0.2)
    deadline = time.time() + max_seconds
    n = 0
    write_report()
    while not stop.is_set() and time.time() < deadline:
        try:
            sock, _ = srv.accept()
        except socket.timeout:
            continue
        n += 1
        with store.lock:
            store.report["connections"] += 1
        threading.Thread(target=handle, args=(sock, n), daemon=True).start()
    srv.close()
    write_report()
    return 0


TOKENS_FILE = None

if __name__ == "__main__":
    sys.exit(main())
