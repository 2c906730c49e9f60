#!/usr/bin/env python3
"""partproxy: a TCP proxy on loopback whose link can be cut, to partition one node from
PostgreSQL in the cluster test (tests only).

  partproxy.py --port-file F --target 127.0.0.1:PORT

SIGUSR1: partition: every open connection is shut down and reset (both the node's side and
PostgreSQL's: each learns at once) and new ones are reset at once. (A silent partition, where
no packet passes, is handled by TCP keepalives and timeouts on both sides; see
src/db/db_internal.h DB_PG_SESSION_SQL and db_pg_connect.)
SIGHUP: silent partition (a black hole): nothing is forwarded any more, and nothing is
refused or reset either: what either side sends is read and held (TCP acknowledges it, as a
link that loses packets further away would not, so only a deadline of the node itself can
notice), new connections are accepted and left unanswered.
SIGUSR2: heal: what was held is delivered late (a stale node's statements reach PostgreSQL
after the partition, as delayed packets would), and forwarding goes on, also for the
connections accepted meanwhile. The process runs until killed.
"""
import argparse
import select
import signal
import socket
import struct
import threading
import time

cut = threading.Event()
silent = threading.Event()
lock = threading.Lock()
conns = set()


def rst(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    # shutdown first: a close() alone does not wake the other pump thread blocked in recv()
    # on this socket, and the kernel would keep the connection open (and acknowledging) for
    # as long as that thread waits.
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def pump(a, b):
    held = []
    try:
        while True:
            if not select.select([a], [], [], 0.2)[0]:
                if held and not silent.is_set():
                    b.sendall(b"".join(held))
                    held = []
                continue
            data = a.recv(65536)
            if cut.is_set():
                break
            if silent.is_set():
                if data:
                    held.append(data)
                    continue
                while silent.is_set() and not cut.is_set():
                    time.sleep(0.1)
            if held and not cut.is_set():
                b.sendall(b"".join(held))
                held = []
            if not data:
                break
            b.sendall(data)
    except (OSError, ValueError):
        pass
    with lock:
        for s in (a, b):
            if s in conns:
                conns.discard(s)
                rst(s)


def forward(c, host, port):
    while silent.is_set() and not cut.is_set():
        time.sleep(0.1)
    if cut.is_set():
        rst(c)
        return
    try:
        s = socket.create_connection((host, int(port)))
    except OSError:
        rst(c)
        return
    with lock:
        conns.add(c)
        conns.add(s)
    threading.Thread(target=pump, args=(c, s), daemon=True).start()
    threading.Thread(target=pump, args=(s, c), daemon=True).start()


def on_cut(*_):
    cut.set()
    with lock:
        for s in list(conns):
            rst(s)
        conns.clear()


def on_silent(*_):
    silent.set()


def on_heal(*_):
    cut.clear()
    silent.clear()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--target", required=True)
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    signal.signal(signal.SIGUSR1, on_cut)
    signal.signal(signal.SIGUSR2, on_heal)
    signal.signal(signal.SIGHUP, on_silent)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        try:
            c, _ = ls.accept()
        except InterruptedError:
            continue
        if cut.is_set():
            rst(c)
            continue
        threading.Thread(target=forward, args=(c, host, port), daemon=True).start()


if __name__ == "__main__":
    main()
