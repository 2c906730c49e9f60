#!/usr/bin/env python3
"""faultproxy: a TCP proxy on loopback that plays the field's faults between migrabox and an
IMAP server (tests only; it listens on 127.0.0.1 and forwards to a loopback target).

  faultproxy.py --port-file F --target 127.0.0.1:PORT [options]

  --delay-ms N        client->server bytes are held N ms (one-way latency of a WAN link)
  --hold-on-close S   when the client's side dies (kill -9), what it had already sent and the
                      proxy still holds is delivered S seconds later, then the server's side is
                      closed: the server stores a command whose client is long gone, as a
                      loaded server still committing a batch does. This is the race of a
                      restart at 0 s: the new run looks before the old batch lands.
  --cuts N            cut N connections in all (both sockets reset, RST), each after a random
                      number of bytes (both directions) in [--cut-min, --cut-max]
  --strip-caps A,B    remove these capabilities from CAPABILITY lists and the [APPENDUID ...]
                      codes from tagged answers (plaintext IMAP only): a server without them
  --stats FILE        JSON counters, rewritten as they change

Bounded: every connection and thread ends with its peer; the process runs until killed.
"""
import argparse
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()
STATS = {"connections": 0, "cuts": 0, "held_bytes_delivered_late": 0}


def write_stats(path):
    if not path:
        return
    with LOCK:
        data = json.dumps(STATS)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def rst_close(sock):
    """Reset the connection: linger 0, and SHUT_RD so that a thread blocked in recv() on it
    returns and lets go of the socket (a close() alone waits for that recv)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Conn:
    def __init__(self, args, client, cut_at):
        self.args = args
        self.client = client
        self.server = socket.create_connection(parse_target(args.target))
        for s in (self.client, self.server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cut_at = cut_at          # bytes before a cut, None = never
        self.moved = 0
        self.dead = False             # cut: stop everything
        self.client_gone = None       # monotonic time the client's side died
        self.queue = []               # (due, bytes) client->server
        self.cv = threading.Condition()
        self.s2c_buf = b""
        self.s2c_literal = 0

    def count(self, n):
        if self.cut_at is None:
            return False
        self.moved += n
        if self.moved >= self.cut_at and not self.dead:
            self.dead = True
            with LOCK:
                STATS["cuts"] += 1
            write_stats(self.args.stats)
            rst_close(self.client)
            rst_close(self.server)
            with self.cv:
                self.cv.notify_all()
            return True
        return False

    def c2s_reader(self):
        try:
            while not self.dead:
                data = self.client.recv(65536)
                if not data:
                    break
                if self.count(len(data)):
                    return
                with self.cv:
                    self.queue.append((time.monotonic() + self.args.delay_ms / 1000.0, data))
                    self.cv.notify_all()
        except OSError:
            pass
        with self.cv:
            self.client_gone = time.monotonic()
            self.cv.notify_all()

    def c2s_sender(self):
        late = 0
        try:
            while True:
                with self.cv:
                    while not self.dead:
                        now = time.monotonic()
                        if self.queue:
                            due = self.queue[0][0]
                            if self.client_gone is not None:
                                due = max(due, self.client_gone + self.args.hold_on_close)
                            if due <= now:
                                break
                            self.cv.wait(due - now)
                        elif self.client_gone is not None:
                            break
                        else:
                            self.cv.wait(1.0)
                    if self.dead:
                        return
                    if not self.queue:
                        break
                    _, data = self.queue.pop(0)
                    if self.client_gone is not None:
                        late += len(data)
                self.server.sendall(data)
        except OSError:
            return
        if late:
            with LOCK:
                STATS["held_bytes_delivered_late"] += late
            write_stats(self.args.stats)
        try:
            self.server.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def strip(self, data):
        """Remove capabilities and APPENDUID codes from server lines (literals untouched)."""
        self.s2c_buf += data
        out = []
        while self.s2c_buf:
            if self.s2c_literal:
                n = min(self.s2c_literal, len(self.s2c_buf))
                out.append(self.s2c_buf[:n])
                self.s2c_buf = self.s2c_buf[n:]
                self.s2c_literal -= n
                continue
            i = self.s2c_buf.find(b"\r\n")
            if i < 0:
                if len(self.s2c_buf) > 1 << 20:   # no line end in 1 MiB: pass it on
                    out.append(self.s2c_buf)
                    self.s2c_buf = b""
                break
            line = self.s2c_buf[:i + 2]
            self.s2c_buf = self.s2c_buf[i + 2:]
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if m:
                self.s2c_literal = int(m.group(1))
            elif b"CAPABILITY" in line.upper():
                for cap in self.args.strip_caps:
                    line = re.sub(rb"(?i) " + re.escape(cap.encode()) + rb"(?=[ \]\r])", b"", line)
            line = re.sub(rb"(?i)\[APPENDUID [0-9]+ [0-9:,]+\] ?", b"", line)
            out.append(line)
        return b"".join(out)

    def s2c(self):
        try:
            while not self.dead:
                data = self.server.recv(65536)
                if not data:
                    break
                if self.count(len(data)):
                    return
                if self.args.strip_caps:
                    data = self.strip(data)
                if self.client_gone is None and data:
                    try:
                        self.client.sendall(data)
                    except OSError:
                        pass
        except OSError:
            pass
        for s in (self.client, self.server):
            try:
                s.close()
            except OSError:
                pass

    def run(self):
        threads = [threading.Thread(target=f, daemon=True)
                   for f in (self.c2s_reader, self.c2s_sender, self.s2c)]
        for t in threads:
            t.start()


def parse_target(t):
    host, port = t.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--hold-on-close", type=float, default=0)
    ap.add_argument("--cuts", type=int, default=0)
    ap.add_argument("--cut-min", type=int, default=20000)
    ap.add_argument("--cut-max", type=int, default=400000)
    ap.add_argument("--strip-caps", default="")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats")
    args = ap.parse_args()
    args.strip_caps = [c for c in args.strip_caps.split(",") if c]
    if not parse_target(args.target)[0].startswith("127."):
        sys.exit("faultproxy: loopback targets only")
    rng = random.Random(args.seed)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    write_stats(args.stats)
    while True:
        client, _ = ls.accept()
        cut_at = None
        with LOCK:
            more = STATS["cuts"] < args.cuts
        if more:   # every new connection is cut until N cuts have really happened
            cut_at = rng.randint(args.cut_min, args.cut_max)
        try:
            conn = Conn(args, client, cut_at)
        except OSError:
            client.close()
            continue
        with LOCK:
            STATS["connections"] += 1
        write_stats(args.stats)
        conn.run()


if __name__ == "__main__":
    main()
