#!/usr/bin/python3
"""delay_proxy: a TCP proxy on 127.0.0.1 that adds a fixed one-way delay in each direction.

  delay_proxy.py --target HOST:PORT --delay-ms 25 [--listen-port 0] [--port-file FILE]
                 [--window BYTES]

Every chunk read from one side is written to the other side DELAY ms after it was read, in
order, so a request/response exchange through the proxy takes 2 x DELAY more than without
it (25 ms each way = 50 ms round-trip time). Bandwidth is not limited, but at most WINDOW
bytes (default 4 MiB, about what Linux's TCP autotuning reaches) may be in flight per
direction, as on a real long path where throughput is bounded by window / RTT. Both sockets
use TCP_NODELAY so the proxy adds no Nagle delay of its own.

The port actually listened on is printed on stdout (one line) and written to --port-file.
Runs until killed (SIGTERM/SIGINT). Stdlib only.
"""

import argparse
import asyncio
import os
import signal
import socket
import sys


class Pipe:
    """One direction: read from reader, write each chunk DELAY seconds later to writer."""

    def __init__(self, reader, writer, delay, window):
        self.reader = reader
        self.writer = writer
        self.delay = delay
        self.window = window
        self.queue = asyncio.Queue()
        self.in_flight = 0
        self.room = asyncio.Event()
        self.room.set()

    async def read_side(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.room.wait()
                data = await self.reader.read(65536)
                self.queue.put_nowait((loop.time() + self.delay, data))
                if not data:
                    return
                self.in_flight += len(data)
                if self.in_flight >= self.window:
                    self.room.clear()
        except (ConnectionError, OSError):
            self.queue.put_nowait((loop.time() + self.delay, b""))

    async def write_side(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await self.queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    return
                self.writer.write(data)
                await self.writer.drain()
                self.in_flight -= len(data)
                if self.in_flight < self.window:
                    self.room.set()
        except (ConnectionError, OSError):
            return


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def handle(c_reader, c_writer, args):
    try:
        s_reader, s_writer = await asyncio.open_connection(args.host, args.port)
    except OSError as e:
        print("delay_proxy: cannot connect to %s:%d: %s" % (args.host, args.port, e),
              file=sys.stderr)
        c_writer.close()
        return
    nodelay(c_writer)
    nodelay(s_writer)
    delay = args.delay_ms / 1000.0
    up = Pipe(c_reader, s_writer, delay, args.window)
    down = Pipe(s_reader, c_writer, delay, args.window)
    tasks = [asyncio.ensure_future(t) for t in
             (up.read_side(), up.write_side(), down.read_side(), down.write_side())]
    try:
        # Both directions written to their end (EOF or error) ends the connection.
        await asyncio.gather(tasks[1], tasks[3], return_exceptions=True)
    except asyncio.CancelledError:  # the proxy is stopping
        pass
    for t in tasks:
        t.cancel()
    for w in (c_writer, s_writer):
        try:
            w.close()
        except OSError:
            pass


async def main_async(args):
    server = await asyncio.start_server(lambda r, w: handle(r, w, args), "127.0.0.1",
                                        args.listen_port)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    p = argparse.ArgumentParser(description="TCP proxy adding a fixed delay each way")
    p.add_argument("--target", required=True, help="HOST:PORT to forward to")
    p.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (default 25)")
    p.add_argument("--listen-port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--window", type=int, default=4 << 20,
                   help="bytes in flight per direction (default 4 MiB)")
    args = p.parse_args()
    host, _, port = args.target.rpartition(":")
    args.host, args.port = host or "127.0.0.1", int(port)
    if args.delay_ms < 0 or args.window < 65536:
        p.error("delay must be >= 0 and window >= 65536")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
