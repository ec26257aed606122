#!/usr/bin/env python3
"""Idle WebSockets held by one worker: memory per connection, probe latency.

Starts ``squall bench.hello_asgi:app --interface asgi --workers 1``, opens N
WebSocket connections (a raw handshake each, then idle), and reports the
worker's RSS growth per connection and the latency of kubelet-like probes
(a new connection each) to the probe port while they are open; then one
echo round trip on every connection (the loop still serves them all).

    .venv/bin/python bench/ws_idle.py [-n 10000] [--probes 200]

Loopback only; the client is this process (plain sockets, no event loop).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import socket
import statistics
import struct
import tempfile
import time
from pathlib import Path

from harness import BIN, HOST, REPO, Launch, free_port, running_server, wait_until_answering


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pid(master: int) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                return int(entry)
    raise RuntimeError("no worker found")


def handshake(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head[:80].decode("latin-1"))
    return sock


def masked_text(payload: bytes) -> bytes:
    key = os.urandom(4)
    return (
        struct.pack("!BB", 0x81, 0x80 | len(payload))
        + key
        + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    )


def probe_ms(port: int) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=1)
    conn.request("GET", "/ready")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--connections", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    port = free_port(2)
    argv = [
        str(BIN / "squall"), "bench.hello_asgi:app", "--interface", "asgi", "--workers", "1",
        "--host", HOST, "--port", str(port), "--probe-port", str(port + 1), "--no-access-log",
    ]  # fmt: skip
    log = Path(tempfile.mkdtemp(prefix="squall-ws-idle-")) / "server.log"
    with running_server(Launch(argv, REPO), log) as proc:
        if wait_until_answering(proc, port, "/", 30) is None:
            raise SystemExit(f"the server did not start: see {log}")
        worker = worker_pid(proc.pid)
        before = rss_kib(worker)
        socks = []
        started = time.perf_counter()
        for _ in range(args.connections):
            socks.append(handshake(port))
        opened_s = time.perf_counter() - started
        time.sleep(1.0)  # the gauges and the loop settle
        after = rss_kib(worker)
        probes = sorted(probe_ms(port + 1) for _ in range(args.probes))
        started = time.perf_counter()
        for sock in socks:
            sock.sendall(masked_text(b"ping"))
        for sock in socks:
            data = b""
            while len(data) < 6:
                data += sock.recv(64)
        echo_s = time.perf_counter() - started
        for sock in socks:
            sock.close()
    n = args.connections
    print(f"{n} idle WebSockets on one worker (opened in {opened_s:.1f} s)")
    print(f"worker RSS: {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB: "
          f"{(after - before) / n:.1f} KiB per connection")  # fmt: skip
    p99 = probes[min(len(probes) - 1, int(len(probes) * 0.99))]
    p50 = statistics.median(probes)
    print(f"/ready on the probe port, {len(probes)} probes: p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms, max {probes[-1]:.2f} ms")  # fmt: skip
    print(f"one echo on each of the {n}: {echo_s:.2f} s ({n / echo_s:.0f} messages/s round trip)")


if __name__ == "__main__":
    main()
