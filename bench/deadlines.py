#!/usr/bin/env python3
"""Deadlines and overload, Squall beside its peers (bench/README.md, "Deadlines and overload").

Four short scenarios, each printing one markdown table:

- ``overload``: 1 process x 2 threads, a 50 ms view (``/slow``), 64 clients
  without think time (about 3x what 2 threads serve within the client's 1 s
  timeout), each request on a new connection, a client waiting 1 s after a
  503 as its Retry-After asks: requests served (200), shed (503), timed out
  at the client, other errors, p99 of the served.
- ``hang``: 1 process x 12 threads, a ``/hang`` view running Python forever;
  1 s later 10 requests of 1.5 s start in the same process. --timeout 2 s
  (gunicorn's heartbeat timeout, uWSGI's harakiri): how many of the 10 fail,
  what the hung client gets, and whether the process was replaced.
- ``fair``: Squall with 2 and 4 workers x 2 threads, a 20 ms view, 4 clients
  per worker, a new connection per request: the share of requests each worker
  took (max/min) and p99, with and without --fair-accept.
- ``slow``: Squall 1 worker x 4 threads; wrk's p99 (4 connections) on a 50 ms
  view alone, then while 1,000 connections trickle their heads or bodies a
  byte per second; and the Python threads busy during the trickle alone.

    .venv/bin/python bench/deadlines.py [overload,hang,fair,slow] [-d SECONDS]

Servers start through bench/harness.py, as in bench/run.py; loopback only, every wait bounded.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import (
    HOST,
    REPO,
    Launch,
    Options,
    free_port,
    machine_info,
    parse_wrk,
    run_wrk,
    running_server,
    wait_until_answering,
)
from servers import _bin

APP = "bench.deadline_app:app"
CLIENT_TIMEOUT_S = 1.0
RETRY_AFTER_S = 1.0  # Squall's Retry-After on a 503; a client honouring it waits this long


# --------------------------------------------------------------------------- servers


def squall(procs: int, threads: int, *extra: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            _bin("squall"), APP, "--host", HOST, "--port", str(port), "--workers", str(procs),
            "--threads", str(threads), "--no-access-log", "--shutdown-delay", "0", *extra,
        ]  # fmt: skip

    return argv


def gunicorn(procs: int, threads: int, *extra: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            _bin("gunicorn"), "-k", "gthread", "-w", str(procs), "--threads", str(threads),
            "-b", f"{HOST}:{port}", "--log-level", "warning", *extra, APP,
        ]  # fmt: skip

    return argv


def granian(procs: int, threads: int, *extra: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            _bin("granian"), "--interface", "wsgi", "--host", HOST, "--port", str(port),
            "--workers", str(procs), "--blocking-threads", str(threads), "--no-access-log",
            "--log-level", "warning", *extra, APP,
        ]  # fmt: skip

    return argv


def uwsgi(procs: int, threads: int, *extra: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [
            _bin("uwsgi"), "--http-socket", f"{HOST}:{port}", "--master", "--processes",
            str(procs), "--threads", str(threads), "--module", APP,
            "--virtualenv", sys.prefix, "--need-app", "--disable-logging", "--die-on-term",
            *extra,
        ]  # fmt: skip

    return argv


def serve(name: str, build: Callable[[int], list[str]], work: Path) -> tuple[Launch, int, Path]:
    port = free_port()
    return Launch(build(port), REPO), port, work / f"{name}.log"


# --------------------------------------------------------------------------- a client


@dataclass
class Outcome:
    status: int | None  # None: no HTTP answer
    seconds: float
    error: str = ""  # "timeout", "reset", "closed"
    body: bytes = b""


def request(port: int, path: str, timeout: float) -> Outcome:
    """One GET on a new connection, `Connection: close`; read to the end."""
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(max(0.001, timeout - (time.monotonic() - started)))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = [
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ]
                    if length and len(body) >= length[0]:
                        break
                sock.settimeout(max(0.001, timeout - (time.monotonic() - started)))
    except TimeoutError:
        return Outcome(None, time.monotonic() - started, "timeout")
    except OSError as exc:
        return Outcome(None, time.monotonic() - started, type(exc).__name__)
    elapsed = time.monotonic() - started
    if not data.startswith(b"HTTP/1."):
        return Outcome(None, elapsed, "closed")
    head, _, body = data.partition(b"\r\n\r\n")
    return Outcome(int(head.split()[1]), elapsed, body=body)


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[max(0, int(len(values) * 0.99) - 1)]


def closed_loop(port: int, path: str, clients: int, seconds: float) -> list[Outcome]:
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            o = request(port, path, CLIENT_TIMEOUT_S)
            with lock:
                outcomes.append(o)
            if o.status == 503:
                time.sleep(RETRY_AFTER_S)  # what its Retry-After asks

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


# --------------------------------------------------------------------------- scenarios


def overload(work: Path, seconds: float) -> None:
    rows = [
        ("squall (--max-queue 64, default)", squall(1, 2)),
        ("squall --max-queue 8", squall(1, 2, "--max-queue", "8", "--req-queue-len", "4")),
        ("gunicorn gthread", gunicorn(1, 2)),
        ("granian", granian(1, 2)),
        ("uWSGI --harakiri 30", uwsgi(1, 2, "--harakiri", "30")),
    ]
    print(f"\n### Overload: 1 x 2 threads, 50 ms view, 64 clients, {seconds:g} s, "
          f"client timeout {CLIENT_TIMEOUT_S:g} s\n")  # fmt: skip
    print("| server | served (200) | shed (503) | client timeouts | other errors | p99 served ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, build in rows:
        launch, port, log = serve(name.split()[0], build, work)
        with running_server(launch, log) as proc:
            if wait_until_answering(proc, port, "/pid", 30) is None:
                print(f"| {name} | failed to start | | | | |")
                continue
            out = closed_loop(port, "/slow?ms=50", 64, seconds)
        served = [o.seconds for o in out if o.status == 200]
        shed = sum(o.status == 503 for o in out)
        timeouts = sum(o.error == "timeout" for o in out)
        other = len(out) - len(served) - shed - timeouts
        print(f"| {name} | {len(served)} | {shed} | {timeouts} | {other} | {ms(p99(served))} |")


def hang(work: Path) -> None:
    rows = [
        ("squall --timeout 2", squall(1, 12, "--timeout", "2")),
        ("gunicorn gthread --timeout 2", gunicorn(1, 12, "--timeout", "2")),
        ("granian (no request timeout)", granian(1, 12)),
        ("uWSGI --harakiri 2", uwsgi(1, 12, "--harakiri", "2")),
    ]
    print(
        "\n### A view hanging in Python past the timeout, 10 other requests in the same process\n"
    )
    print("| server | of the 10 failed | the hung request got | after | same process after |")
    print("|---|---:|---|---:|---|")
    for name, build in rows:
        launch, port, log = serve(name.split()[0], build, work)
        with running_server(launch, log) as proc:
            if wait_until_answering(proc, port, "/pid", 30) is None:
                print(f"| {name} | failed to start | | | |")
                continue
            before = request(port, "/pid", 5).body
            results = hang_once(port)
            failed = sum(results[f"o{i}"].status != 200 for i in range(10))
            h = results["hang"]
            got = str(h.status) if h.status else h.error
            after = request(port, "/pid", 10)
            deadline = time.monotonic() + 10
            while after.status != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
                after = request(port, "/pid", 10)
            same = "yes" if after.body == before else "no (replaced)"
        print(f"| {name} | {failed} | {got} | {h.seconds:.1f} s | {same} |")


def hang_once(port: int) -> dict[str, Outcome]:
    """/hang, then 1 s later 10 requests of 1.5 s; every outcome by key."""
    results: dict[str, Outcome] = {}

    def one(key: str, path: str) -> None:
        results[key] = request(port, path, 8.0)

    hung = threading.Thread(target=one, args=("hang", "/hang"))
    hung.start()
    time.sleep(1.0)
    others = [threading.Thread(target=one, args=(f"o{i}", "/slow?ms=1500")) for i in range(10)]
    for t in others:
        t.start()
    for t in [hung, *others]:
        t.join()
    return results


def fair(work: Path, seconds: float) -> None:
    print(f"\n### Fair accept: Squall, 2 threads per worker, 20 ms view, 4 clients per worker, "
          f"new connection per request, {seconds:g} s\n")  # fmt: skip
    print("| workers | --fair-accept | requests | share per worker (max/min) | p99 ms |")
    print("|---:|---|---:|---|---:|")
    for workers in (2, 4):
        for flag in ("--fair-accept", "--no-fair-accept"):
            launch, port, log = serve("squall", squall(workers, 2, flag), work)
            with running_server(launch, log) as proc:
                if wait_until_answering(proc, port, "/pid", 30) is None:
                    print(f"| {workers} | {flag} | failed to start | | |")
                    continue
                closed_loop(port, "/pid", workers, 1.0)  # every worker up
                out = closed_loop(port, "/slow?ms=20", 4 * workers, seconds)
            ok = [o for o in out if o.status == 200]
            per = Counter(o.body for o in ok)
            counts = sorted(per.values(), reverse=True)
            while len(counts) < workers:
                counts.append(0)
            ratio = f"{counts[0] / counts[-1]:.2f}" if counts[-1] else "inf"
            shares = " / ".join(str(c) for c in counts)
            print(f"| {workers} | {flag == '--fair-accept'} | {len(ok)} | {shares} ({ratio}) "
                  f"| {ms(p99([o.seconds for o in ok]))} |")  # fmt: skip


def slow(work: Path, seconds: int) -> None:
    print(f"\n### Slow clients: Squall 1 worker x 4 threads, wrk -c4 -d{seconds}s on a "
          "50 ms view\n")  # fmt: skip
    print("| during | req/s | p50 ms | p99 ms | wrk errors | threads busy by trickles |")
    print("|---|---:|---:|---:|---:|---:|")
    opts = Options(processes=1, threads=4, connections=4, duration_s=seconds, warmup_s=0,
                   wrk_threads=2, startup_timeout_s=30)  # fmt: skip
    launch, port, log = serve("squall", squall(1, 4, "--header-timeout", "60",
                                                "--body-timeout", "60"), work)  # fmt: skip
    url = f"http://{HOST}:{port}/slow?ms=50"
    with running_server(launch, log) as proc:
        if wait_until_answering(proc, port, "/pid", 30) is None:
            print("| failed to start | | | | | |")
            return
        base = parse_wrk(run_wrk(url, opts, seconds))
        print(f"| nothing else | {base.requests_per_s:.0f} | {base.p50_ms:.1f} | {base.p99_ms:.1f} "
              f"| {sum(base.errors.values())} | - |")  # fmt: skip
        socks: list[socket.socket] = []
        for i in range(1000):
            s = socket.create_connection((HOST, port), timeout=5)
            if i % 2:
                s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
            else:
                s.sendall(b"POST /pid HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx")
            socks.append(s)
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(1.0):
                for s in socks:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass

        t = threading.Thread(target=trickle)
        t.start()
        try:
            time.sleep(2.0)  # two trickles: every connection has sent more
            busy = probe_busy(port)
            attacked = parse_wrk(run_wrk(url, opts, seconds))
        finally:
            stop.set()
            t.join()
            for s in socks:
                s.close()
        print(f"| 1,000 trickling connections | {attacked.requests_per_s:.0f} | "
              f"{attacked.p50_ms:.1f} | {attacked.p99_ms:.1f} | {sum(attacked.errors.values())} "
              f"| {busy} |")  # fmt: skip


def probe_busy(port: int) -> str:
    """squall_threads_busy from /metrics on the probe port (port + 1)."""
    out = request(port + 1, "/metrics", 5)
    for line in out.body.decode(errors="replace").splitlines():
        if line.startswith("squall_threads_busy "):
            return line.split()[1]
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="?", default="overload,hang,fair,slow")
    parser.add_argument("-d", "--duration", type=int, default=3, help="seconds per load run")
    args = parser.parse_args()
    info = machine_info()
    print(f"machine: {info}")
    with tempfile.TemporaryDirectory(prefix="squall-deadlines-") as tmp:
        work = Path(tmp)
        for name in args.scenarios.split(","):
            if name == "overload":
                overload(work, args.duration)
            elif name == "hang":
                hang(work)
            elif name == "fair":
                fair(work, args.duration)
            elif name == "slow":
                slow(work, args.duration)
            else:
                parser.error(f"unknown scenario {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
