#!/usr/bin/env python3
"""conncount: a TCP proxy on loopback that counts the connections open through it at once, as
the server behind it sees them (tests only): the cluster test checks the per-host cap of
source connections across nodes with it.

  conncount.py --port-file F --target 127.0.0.1:PORT --stats FILE

FILE (JSON, rewritten as it changes): connections (accepted in all), open (now), max_open
(the most open at once). A connection counts from its accept until its client closes or
resets it (the server's side is closed then). The process runs until killed.
"""
import argparse
import json
import os
import socket
import threading

lock = threading.Lock()
stats = {"connections": 0, "open": 0, "max_open": 0}


def save(path):
    with lock:
        data = json.dumps(stats)
    with open(path + ".tmp", "w") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def pump(a, b, done):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    done()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    if not host.startswith("127."):
        raise SystemExit("conncount: loopback targets only")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    save(args.stats)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    while True:
        c, _ = ls.accept()
        with lock:
            stats["connections"] += 1
            stats["open"] += 1
            stats["max_open"] = max(stats["max_open"], stats["open"])
        save(args.stats)
        closed = [False]

        def done(c=c, closed=closed):
            with lock:
                if closed[0]:
                    return
                closed[0] = True
                stats["open"] -= 1
            save(args.stats)
            for s in (c,):
                try:
                    s.close()
                except OSError:
                    pass

        try:
            s = socket.create_connection((host, int(port)))
        except OSError:
            c.close()
            done()
            continue
        threading.Thread(target=pump, args=(c, s, done), daemon=True).start()
        threading.Thread(target=pump, args=(s, c, done), daemon=True).start()


if __name__ == "__main__":
    main()
