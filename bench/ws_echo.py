#!/usr/bin/env python3
"""WebSocket echo side by side: messages/s and round-trip latency.

For each (app, server): start the server on a free loopback port, open N
WebSocket connections spread over P client processes, and let every
connection send a small text message, wait for its echo, send the next one
(closed loop) for the duration; then print messages/s (echoes received per
second, all connections) and the p50/p99 round trip.

Apps:
  plain     bench/hello_asgi.py, a bare ASGI echo (no framework)
  channels  the demo's Channels chat consumer (examples/demo, demo.asgi), each
            connection in its own room: a message goes through the in-memory
            channel layer's group_send and back, JSON both ways

    .venv/bin/python bench/ws_echo.py                      # 50 conns, 10 s, 2 client procs
    .venv/bin/python bench/ws_echo.py -d 2 --apps plain --servers squall-asgi --clients 1,2

The client is not the websockets library but a minimal asyncio protocol on
uvloop (handshake once, then one pre-masked frame per message): run it with
--clients 1,2 against the fastest server to see its own ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import statistics
import struct
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import (
    HOST,
    Options,
    free_port,
    log_tail,
    machine_info,
    prepare_demo_db,
    running_server,
    utc_stamp,
    wait_until_answering,
)
from servers import SERVERS, ServerSpec

WS_SERVERS = ("squall-asgi", "uvicorn", "daphne", "granian-asgi")
APPS = ("plain", "channels")
CONNECT_TIMEOUT_S = 5.0  # per connection, TCP + handshake
START_DELAY_S = 2.0  # every client process opens its connections before the common start


@dataclass(frozen=True)
class ClientJob:
    port: int
    path: str
    payload: bytes
    connections: int
    start_at: float  # time.time() when the warm-up begins in every process
    warmup_s: float
    duration_s: float


@dataclass
class ClientResult:
    echoes: int
    errors: int
    connected: int
    rtts: bytes  # array('d') of round trips in seconds, measured window only
    cpu_s: float  # this client process's own CPU time over the whole run


class EchoProtocol(asyncio.Protocol):
    """One connection: HTTP/1.1 Upgrade (RFC 6455 §4.1), then send, await echo, repeat."""

    def __init__(
        self, job: ClientJob, path: str, frame: bytes, expect: bytes, state: _Shared
    ) -> None:
        self.job, self.path, self.frame, self.expect, self.state = job, path, frame, expect, state
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.sent_at = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {HOST}:{self.job.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(head[:60].decode("latin-1")))
                return
            self.upgraded.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            opcode, length, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < at + length:
                return
            payload = bytes(buf[at : at + length])
            del buf[: at + length]
            if opcode in (0x1, 0x2):
                self._echo(payload)
            elif opcode == 0x9:  # ping: answer with a masked pong (RFC 6455 §5.5.2)
                assert self.transport is not None
                self.transport.write(_masked(0x8A, payload))
            elif opcode == 0x8:
                assert self.transport is not None
                self.transport.close()
                return

    def _echo(self, payload: bytes) -> None:
        now = time.perf_counter()
        state = self.state
        if payload != self.expect:
            state.errors += 1
        elif state.measuring:
            state.echoes += 1
            state.rtts.append(now - self.sent_at)
        if not state.stopped:
            self.send()


class _Shared:
    def __init__(self) -> None:
        self.echoes = 0
        self.errors = 0
        self.rtts = array("d")
        self.measuring = False
        self.stopped = False


def _masked(first: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", first, 0x80 | len(payload)) + key + body


async def _client(job: ClientJob) -> ClientResult:
    loop = asyncio.get_running_loop()
    state = _Shared()
    protocols: list[EchoProtocol] = []
    errors = 0
    for i in range(job.connections):
        # A room of its own per connection: the chat consumer's group_send then
        # reaches exactly the sender, an echo through the channel layer.
        path = job.path.format(room=f"r{os.getpid()}x{i}")
        # A masked text frame per connection, sent again for every message: the
        # mask need not change per frame for an echo benchmark.
        frame = _masked(0x81, job.payload)
        try:
            _, proto = await loop.create_connection(
                lambda f=frame, p=path: EchoProtocol(job, p, f, job.payload, state), HOST, job.port
            )
            await asyncio.wait_for(proto.upgraded, CONNECT_TIMEOUT_S)
            protocols.append(proto)
        except (OSError, ConnectionError, TimeoutError):
            errors += 1
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    for p in protocols:
        p.send()
    await asyncio.sleep(job.warmup_s)
    state.measuring = True
    await asyncio.sleep(job.duration_s)
    state.measuring = False
    state.stopped = True
    for p in protocols:
        if p.transport is not None:
            p.transport.close()
    await asyncio.sleep(0.05)
    return ClientResult(
        state.echoes, state.errors + errors, len(protocols), state.rtts.tobytes(), 0.0
    )


def _client_process(job: ClientJob, conn: mp.connection.Connection) -> None:
    try:
        import uvloop

        result = uvloop.run(_client(job))
    except ImportError:
        result = asyncio.run(_client(job))
    result.cpu_s = time.process_time()
    conn.send(result)
    conn.close()


@dataclass
class Row:
    app: str
    server: str
    clients: int
    status: str
    messages_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    connected: int = 0
    client_cpu: float | None = None  # client CPU seconds per measured second (cores)
    note: str = ""


def run_clients(port: int, path: str, payload: bytes, a: argparse.Namespace, n: int) -> Row:
    ctx = mp.get_context("fork")
    start_at = time.time() + START_DELAY_S
    share = [a.connections // n + (1 if i < a.connections % n else 0) for i in range(n)]
    jobs = [ClientJob(port, path, payload, c, start_at, a.warmup, a.duration) for c in share]
    pipes, procs = [], []
    for job in jobs:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client_process, args=(job, child), daemon=True)
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)
    timeout = START_DELAY_S + CONNECT_TIMEOUT_S + a.warmup + a.duration + 30
    results: list[ClientResult] = []
    for parent, proc in zip(pipes, procs, strict=True):
        if parent.poll(timeout):
            results.append(parent.recv())
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    row = Row("", "", n, "ok" if len(results) == n else "client failed")
    rtts = array("d")
    for r in results:
        rtts.frombytes(r.rtts)
    row.errors = sum(r.errors for r in results)
    row.connected = sum(r.connected for r in results)
    row.client_cpu = sum(r.cpu_s for r in results) / (a.warmup + a.duration)
    if rtts:
        row.messages_per_s = len(rtts) / a.duration
        row.p50_ms = statistics.median(rtts) * 1000
        row.p99_ms = sorted(rtts)[int(len(rtts) * 0.99)] * 1000
    return row


def bench_row(spec: ServerSpec, app: str, n: int, a: argparse.Namespace, work: Path) -> Row:
    port = free_port(spec.ports_needed)
    opts = Options(a.processes, 1, a.connections, a.duration, a.warmup, 1, 30.0)
    kind = "hello" if app == "plain" else "demo"
    db = work / "template.sqlite3" if kind == "demo" else None
    launch = spec.launch(kind, port, opts, db)
    log = work / f"{spec.name}-{app}-{n}.log"
    text = "x" * a.size
    if app == "plain":
        path, payload = "/ws", text.encode()
    else:
        path, payload = "/ws/chat/{room}/", f'{{"message": "{text}"}}'.encode()
    try:
        with running_server(launch, log) as proc:
            if wait_until_answering(proc, port, "/", 30.0) is None:
                return Row(app, spec.name, n, "failed to start", note=log_tail(log))
            row = run_clients(port, path, payload, a, n)
            if proc.poll() is not None:
                row.note = f"server died: {log_tail(log)}"
    except FileNotFoundError as exc:
        return Row(app, spec.name, n, "failed to start", note=f"not installed: {exc.filename}")
    row.app, row.server = app, spec.name
    return row


def median_row(runs: list[Row]) -> Row:
    """The run with the median messages/s (a failed run sorts lowest)."""
    runs.sort(key=lambda r: r.messages_per_s or 0.0)
    row = runs[len(runs) // 2]
    if len(runs) > 1:
        shown = ", ".join(f"{r.messages_per_s or 0:,.0f}" for r in runs)
        row.note = "; ".join(x for x in (row.note, f"runs: {shown} msgs/s") if x)
    return row


def render(rows: Sequence[Row], a: argparse.Namespace) -> str:
    lines = [
        f"### WebSocket echo: {a.connections} connections, {a.size}-byte text messages, "
        f"{a.duration} s (+{a.warmup} s warm-up), server --processes {a.processes}",
        "",
        "| app | server | client procs | msgs/s | p50 ms | p99 ms | errors | connected "
        "| client CPU (cores) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r.status != "ok" or r.messages_per_s is None:
            lines.append(f"| {r.app} | {r.server} | {r.clients} | {r.status} |" + " — |" * 5)
            continue
        lines.append(
            f"| {r.app} | {r.server} | {r.clients} | {r.messages_per_s:,.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.errors} | {r.connected} | {r.client_cpu:.2f} |"
        )
    notes = [f"- {r.app}/{r.server}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", "--connections", type=int, default=50, help="connections (50)")
    p.add_argument("-d", "--duration", type=int, default=10, help="measured seconds (10)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of warm-up (1)")
    p.add_argument("--size", type=int, default=32, help="message text length (32)")
    p.add_argument("--processes", type=int, default=1, help="server worker processes (1)")
    p.add_argument("--clients", default="2", help="client process counts, comma list (2)")
    p.add_argument("--repeat", type=int, default=1, help="runs per row, median kept (1)")
    p.add_argument("--servers", default=",".join(WS_SERVERS), help="comma list")
    p.add_argument("--apps", default=",".join(APPS), help="plain,channels")
    a = p.parse_args(argv)
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    apps = [x.strip() for x in a.apps.split(",") if x.strip()]
    if bad := sorted(set(servers) - set(WS_SERVERS)):
        raise SystemExit(f"unknown servers: {', '.join(bad)} (known: {', '.join(WS_SERVERS)})")
    if bad := sorted(set(apps) - set(APPS)):
        raise SystemExit(f"unknown apps: {', '.join(bad)} (known: {', '.join(APPS)})")
    try:
        counts = [int(c) for c in a.clients.split(",")]
    except ValueError:
        raise SystemExit(f"--clients takes a comma list of integers, not {a.clients!r}") from None
    if any(c < 1 for c in counts) or a.connections < max(counts):
        raise SystemExit("--clients: each count must be at least 1 and at most --connections")
    specs = {s.name: s for s in SERVERS}
    m = machine_info()
    print(f"{utc_stamp()} {m.get('cpu', '')} {os.cpu_count()} cores", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="squall-ws-echo-") as tmp:
        work = Path(tmp)
        if "channels" in apps and prepare_demo_db(work) is None:
            apps.remove("channels")
        for app in apps:
            for name in servers:
                if app == "channels" or specs[name].serves("hello"):
                    for n in counts:
                        print(f"  {app:<9} {name:<13} clients={n}", end=" ", flush=True)
                        row = median_row(
                            [
                                bench_row(specs[name], app, n, a, work)
                                for _ in range(max(1, a.repeat))
                            ]
                        )
                        rows.append(row)
                        shown = row.messages_per_s
                        print(f"{shown:,.0f} msgs/s" if shown else row.status, flush=True)
    print()
    print(render(rows, a))
    print(f"\ncommand: .venv/bin/python bench/ws_echo.py {' '.join(argv or sys.argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
