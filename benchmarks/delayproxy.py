#!/usr/bin/env python3
"""A userspace link emulator: a TCP proxy on 127.0.0.1 that adds a round-trip delay per request
and caps bandwidth, in front of an S3 server.

This kernel has no netem, so the delay lives here; the aggregate bandwidth cap of the link is
normally `tc tbf` on a veth into a network namespace (see netem.py). When that is not available the
proxy shapes the aggregate bandwidth itself (``--link-mbit``).

What it models, per client connection:
  * connection setup: one round trip (``--rtt-ms``) before the upstream connection is used
    (a TCP handshake; TLS would add more, our store speaks plain HTTP);
  * every request: one round trip before its first byte is forwarded upstream. A new request is
    the first client->server chunk after the server has sent anything (HTTP/1.1 keep-alive
    connections carry one request after another, so a request after a response pays again);
  * bandwidth: server->client bytes are paced to ``--conn-mbit`` per connection and, when
    ``--link-mbit`` is given, to that in total over all connections (a shared token bucket).

One fix-up, not a link property: s3s-fs answers HEAD of a key that is a directory on its disk with
500 InternalError (EISDIR) where S3 answers 404, and S3A probes every directory path with HEAD
before listing it, so S3A cannot read a directory tree from s3s-fs at all. The proxy rewrites
exactly that answer (a 500 to a HEAD) to 404 (``--no-fix-dir-head`` turns this off).

Counters (connections, requests by method and by object or bucket, bytes each way) go to
``--stats-file`` at exit and whenever the proxy gets SIGUSR1, so a caller can tell what crossed the
link between two moments (the demo does, per Spark application).

With ``$SHOAL_PROXY_TRACE`` set to a file name, every request is also appended to that file as
one JSON line when its response ends: ``t`` (when its first byte arrived, seconds on the
monotonic clock), ``first`` and ``end`` (seconds after ``t`` to the response's first and last
byte), ``method``, ``target`` and ``bytes`` (of the response). It shows the order in which a
reader asks for objects and how long each waited (a diagnosis aid; nothing reads it).

Only 127.0.0.1 is listened on; the upstream is given by the caller (127.0.0.1 or an address of the
network namespace the harness made itself).

    delayproxy.py --listen-port 0 --upstream 10.254.7.2:9000 --rtt-ms 5 --conn-mbit 1000 \
                  --info-file proxy.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time

CHUNK = 256 * 1024


class TokenBucket:
    """Paces bytes to ``rate`` bytes/s with a burst of ``burst`` bytes (single event loop)."""

    def __init__(self, rate_bytes: float, burst: int):
        self.rate = float(rate_bytes)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    async def take(self, n: int):
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= n or self.tokens >= self.burst:
                self.tokens -= n  # may go negative for n > burst: the next caller waits longer
                return
            await asyncio.sleep((n - self.tokens) / self.rate)


class Proxy:
    def __init__(self, upstream_host, upstream_port, rtt_ms, conn_mbit, link_mbit,
                 fix_dir_head=True):
        self.fix_dir_head = fix_dir_head
        self.upstream = (upstream_host, upstream_port)
        self.delay = rtt_ms / 1000.0
        self.conn_rate = conn_mbit * 1e6 / 8 if conn_mbit else None
        self.link = (TokenBucket(link_mbit * 1e6 / 8, max(CHUNK, int(link_mbit * 1e6 / 8 / 200)))
                     if link_mbit else None)
        # requests_by_kind: "GET object", "GET bucket", "HEAD object", ... by the request line
        # (path-style: /bucket/key is an object, /bucket or / is a bucket or the service)
        self.stats = {"connections": 0, "requests": 0, "bytes_down": 0, "bytes_up": 0,
                      "dir_head_fixed": 0, "requests_by_kind": {},
                      # object GETs sent and not yet answered: now, and the most at once
                      "object_gets_in_flight": 0, "object_gets_in_flight_peak": 0}
        trace = os.environ.get("SHOAL_PROXY_TRACE")
        self.trace = open(trace, "a", buffering=1) if trace else None

    def trace_request(self, state):
        """Appends the request that just ended to the trace (see the module's doc)."""
        if self.trace is None or "t" not in state:
            return
        t = state.pop("t")
        last = state.get("last", t)
        self.trace.write(json.dumps({
            "t": round(t, 6), "first": round(state.get("first", last) - t, 6),
            "end": round(last - t, 6), "method": state["method"].decode("ascii", "replace"),
            "target": state["target"], "bytes": state["bytes"]}) + "\n")

    def count_request(self, data: bytes):
        """Counts one request by its method and whether it names an object (path-style)."""
        self.stats["requests"] += 1
        line = data.split(b"\r\n", 1)[0].split(b" ")
        method = line[0].decode("ascii", "replace")
        target = line[1].split(b"?", 1)[0] if len(line) > 1 else b"/"
        kind = f"{method} {'object' if b'/' in target.strip(b'/') else 'bucket'}"
        by_kind = self.stats["requests_by_kind"]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        return kind

    def write_stats(self, path: str):
        """Writes the counters so far to ``path`` at once (a reader never sees half a file)."""
        self.stats["written"] = self.stats.get("written", 0) + 1
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, path)

    async def pump(self, reader, writer, counter, on_data, before_read=None):
        """Copies one direction of a connection until it ends, counting the bytes in
        ``stats[counter]``; ``on_data`` sees every chunk first, and may delay or rewrite it."""
        try:
            while True:
                if before_read is not None:
                    before_read()
                data = await reader.read(CHUNK)
                if not data:
                    break
                data = await on_data(data)
                self.stats[counter] += len(data)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                pass

    async def handle(self, creader, cwriter):
        self.stats["connections"] += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)  # the handshake's round trip
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            cwriter.close()
            return
        # shared between the two directions: has the server answered since the last request?
        state = {"responded": True, "method": b"", "response_start": False}
        conn_bucket = (TokenBucket(self.conn_rate, max(CHUNK, int(self.conn_rate / 200)))
                       if self.conn_rate else None)

        async def request(data):
            if state["responded"]:
                self.trace_request(state)
                if self.trace is not None:
                    line = data.split(b"\r\n", 1)[0].split(b" ")
                    state.update(t=time.monotonic(), bytes=0, target=(
                        line[1].decode("ascii", "replace") if len(line) > 1 else ""))
                    state.pop("first", None)
                    state.pop("last", None)
                state["responded"] = False
                state["method"] = data[:8].split(b" ", 1)[0]
                state["response_start"] = True
                if self.count_request(data) == "GET object":
                    state["object_get"] = True
                    n = self.stats["object_gets_in_flight"] + 1
                    self.stats["object_gets_in_flight"] = n
                    self.stats["object_gets_in_flight_peak"] = max(
                        n, self.stats["object_gets_in_flight_peak"])
                if self.delay:
                    await asyncio.sleep(self.delay)
            return data

        usock = uwriter.get_extra_info("socket") if hasattr(socket, "TCP_QUICKACK") else None

        def quickack():
            # ACK the server's segments at once. s3s-fs does not set TCP_NODELAY, so Nagle holds
            # the tail of each response until its earlier segments are ACKed, and Linux delays
            # ACKs (up to 40 ms) on a connection that looks interactive, which the added request
            # delay makes this one look. Measured on 200 GETs of JPEGs with 5 ms per request: p90
            # 43 ms -> 23 ms, 4.07 s -> 2.99 s in all. The flag does not stick, so it is set
            # before every read (Linux only).
            if usock is not None:
                try:
                    usock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                except OSError:
                    pass

        async def response(data):
            state["responded"] = True
            if state.pop("object_get", False):
                self.stats["object_gets_in_flight"] -= 1
            if state["response_start"]:
                state["response_start"] = False
                if (self.fix_dir_head and state["method"] == b"HEAD"
                        and data.startswith(b"HTTP/1.1 500 ")):
                    # s3s-fs: HEAD of a key that is a directory on its disk fails with 500
                    # (EISDIR); S3 says 404 there, and S3A probes every directory path with HEAD
                    # first. Only this answer is rewritten.
                    eol = data.find(b"\r\n")
                    data = b"HTTP/1.1 404 Not Found" + data[eol:]
                    self.stats["dir_head_fixed"] += 1
            if conn_bucket is not None:
                await conn_bucket.take(len(data))
            if self.link is not None:
                await self.link.take(len(data))
            if self.trace is not None:
                now = time.monotonic()
                state.setdefault("first", now)
                state["last"] = now
                state["bytes"] = state.get("bytes", 0) + len(data)
            return data

        up = self.pump(creader, uwriter, "bytes_up", request)
        down = self.pump(ureader, cwriter, "bytes_down", response, before_read=quickack)
        try:
            await asyncio.gather(up, down)
        finally:
            self.trace_request(state)
            for w in (uwriter, cwriter):
                try:
                    w.close()
                except Exception:
                    pass


async def serve(args):
    host, port = args.upstream.rsplit(":", 1)
    proxy = Proxy(host, int(port), args.rtt_ms, args.conn_mbit, args.link_mbit,
                  fix_dir_head=not args.no_fix_dir_head)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen_port,
                                        limit=CHUNK, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    info = {"host": "127.0.0.1", "port": bound, "upstream": args.upstream, "rtt_ms": args.rtt_ms,
            "conn_mbit": args.conn_mbit, "link_mbit": args.link_mbit, "pid": os.getpid()}
    if args.info_file:
        tmp = args.info_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.info_file)
    print(json.dumps(info), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    if args.stats_file:
        # SIGUSR1: the counters so far, for a caller that measures between two moments
        loop.add_signal_handler(signal.SIGUSR1, proxy.write_stats, args.stats_file)
    deadline = args.max_seconds
    try:
        if deadline:
            await asyncio.wait_for(stop.wait(), timeout=deadline)
        else:
            await stop.wait()
    except asyncio.TimeoutError:
        print(f"delayproxy: stopping after --max-seconds {deadline}", file=sys.stderr)
    server.close()
    if args.stats_file:
        proxy.write_stats(args.stats_file)


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def start(upstream: str, info_file, stats_file, *options: str, timeout: float = 30.0):
    """Runs this proxy in a child process in front of ``upstream`` (HOST:PORT) with ``options``
    (``--rtt-ms``, ...), its output dropped; returns the process and its endpoint
    (``http://127.0.0.1:PORT``) once it listens. Raises RuntimeError (the child killed) when it
    exits or does not listen within ``timeout`` seconds."""
    import subprocess
    from pathlib import Path
    info = Path(info_file)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--upstream", upstream, *options,
         "--info-file", str(info), "--stats-file", str(stats_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not info.exists():
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the delay proxy did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{json.loads(info.read_text())['port']}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the S3 server")
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="round trip added per request")
    ap.add_argument("--conn-mbit", type=float, default=0.0, help="per-connection cap (0: none)")
    ap.add_argument("--link-mbit", type=float, default=0.0,
                    help="aggregate cap over all connections (0: none; tc does it)")
    ap.add_argument("--no-fix-dir-head", action="store_true",
                    help="pass s3s-fs's 500 for HEAD of a directory key through (S3 says 404)")
    ap.add_argument("--info-file")
    ap.add_argument("--stats-file", help="written at exit and on SIGUSR1: connections, requests "
                                         "(all, and by method and object/bucket), bytes")
    ap.add_argument("--max-seconds", type=float, default=0.0, help="stop by itself after this")
    args = ap.parse_args(argv)
    _die_with_parent()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
