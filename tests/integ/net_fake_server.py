#!/usr/bin/python3
"""net_fake_server: misbehaving or minimal servers on loopback for test_net_conn.sh.

  net_fake_server.py MODE [--host 127.0.0.1|::1] [--tls CERT KEY] [--lifetime SECONDS]

Prints the port it listens on (first line of stdout), then serves until killed or until
--lifetime (default 60 s) has passed, so it never outlives a broken test for long.
MODE:
  imap    a tiny IMAP responder: greeting, "TAG OK" to any command, BYE + close on LOGOUT
  silent  accepts connections and never sends anything
  close   accepts and closes its side at once (orderly FIN), then drains the client
  reset   accepts and resets (RST, SO_LINGER 0)
  full    listen backlog 0 and the queue filled by itself: further connects get no answer
"""

import argparse
import os
import socket
import ssl
import struct
import sys
import threading
import time


def serve_imap(conn):
    f = conn.makefile("rwb", buffering=0)
    f.write(b"* OK fake IMAP ready\r\n")
    for line in f:
        parts = line.split(b" ", 2)
        tag = parts[0]
        cmd = parts[1].strip().upper() if len(parts) > 1 else b""
        if cmd == b"LOGOUT":
            f.write(b"* BYE bye\r\n" + tag + b" OK LOGOUT done\r\n")
            break
        f.write(tag + b" OK " + cmd + b" done\r\n")


def handle(conn, mode, ctx, held):
    try:
        if ctx is not None:
            conn.settimeout(10)
            conn = ctx.wrap_socket(conn, server_side=True)
            conn.settimeout(None)
        if mode == "imap":
            serve_imap(conn)
            conn.close()
        elif mode == "silent":
            held.append(conn)
        elif mode == "close":  # FIN first, then drain what the client sends (no RST)
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(2)
            while conn.recv(4096):
                pass
            conn.close()
        elif mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
    except (OSError, ssl.SSLError):
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["imap", "silent", "close", "reset", "full"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--lifetime", type=float, default=60)
    a = p.parse_args()
    if a.host not in ("127.0.0.1", "::1"):
        sys.exit("loopback only")
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.host, 0))
    port = s.getsockname()[1]
    held = []
    if a.mode == "full":
        s.listen(0)
        for _ in range(8):
            c = socket.socket(fam, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect((a.host, port))
            except BlockingIOError:
                pass
            held.append(c)
        time.sleep(0.2)
    else:
        s.listen(16)
    print(port, flush=True)
    ctx = None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
    deadline = time.monotonic() + a.lifetime
    if a.mode == "full":
        time.sleep(max(0, deadline - time.monotonic()))
        os._exit(0)
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(conn, a.mode, ctx, held), daemon=True).start()
    os._exit(0)


if __name__ == "__main__":
    main()
