#!/usr/bin/env python3
"""Probe latency while every Python thread of the application is blocked.

Kubernetes' contract for Squall (shared/DESIGN.md): probes never wait for the
GIL or a busy worker. This starts the demo under Squall (2 workers x 2
threads) and under django-hurricane (thread pool of 4), occupies every Python
thread with ``GET /slow`` (and queues more), then sends probes the way kubelet
does (a new connection each, 1 s timeout) to ``/alive`` on the probe port
(app port + 1 for both) and prints their latency.

    .venv/bin/python bench/probes.py [--probes 500] [--slow-ms 20000]

Servers are started the way bench/run.py starts them; loopback only, every
wait bounded.
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from run import (
    HOST,
    SERVERS,
    Options,
    ServerSpec,
    free_port,
    prepare_demo_db,
    running_server,
    wait_until_answering,
)

BUSY_REQUESTS = 8  # more than the 4 Python threads of either server: some queue
OPTIONS = Options(
    processes=2, threads=2, connections=0, duration_s=0, warmup_s=0, wrk_threads=0,
    startup_timeout_s=30,
)  # fmt: skip
# Hurricane's --workers is its thread pool: 4 threads in its one process.
HURRICANE_OPTIONS = replace(OPTIONS, threads=4)


def one_probe(port: int) -> float | None:
    """Seconds for one probe on a new connection, or None (error, timeout, non-2xx/3xx)."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=1.0)  # kubelet's default
        conn.request("GET", "/alive")
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return None
    return time.perf_counter() - start if 200 <= status < 400 else None


def block_threads(port: int, slow_ms: int) -> None:
    def slow() -> None:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=slow_ms / 1000 + 30)
            conn.request("GET", f"/slow?ms={slow_ms}")
            conn.getresponse().read()
        except OSError:
            pass

    for _ in range(BUSY_REQUESTS):
        threading.Thread(target=slow, daemon=True).start()


def measure(
    spec: ServerSpec, db: Path, work_dir: Path, probes: int, slow_ms: int
) -> list[float | None]:
    port = free_port(2)  # the app port and its probe port (+ 1)
    opts = HURRICANE_OPTIONS if spec.name == "hurricane" else OPTIONS
    launch = spec.launch("demo", port, opts, db)
    with running_server(launch, work_dir / f"{spec.name}.log") as proc:
        if wait_until_answering(proc, port + 1, "/alive", opts.startup_timeout_s) is None:
            raise RuntimeError(f"failed to start (log: {work_dir / spec.name}.log)")
        block_threads(port, slow_ms)
        time.sleep(1.0)  # the slow requests are inside the views now
        return [one_probe(port + 1) for _ in range(probes)]


def summary(name: str, latencies: list[float | None]) -> str:
    ok = sorted(x for x in latencies if x is not None)
    failed = len(latencies) - len(ok)
    if not ok:
        return f"| {name} | {len(latencies)} | {failed} | — | — | — |"

    def pct(p: float) -> str:
        return f"{ok[min(len(ok) - 1, int(p * len(ok)))] * 1000:.2f}"

    cells = [name, len(latencies), failed, pct(0.5), pct(0.99), f"{ok[-1] * 1000:.2f}"]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--slow-ms", type=int, default=20000)
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="squall-probes-"))
    db = prepare_demo_db(work_dir)
    if db is None:
        raise SystemExit(1)
    print("Probe latency (ms) with every Python thread blocked in GET /slow, new connection")
    print("per probe, 1 s timeout (kubelet's default); failed = error, timeout or non-2xx/3xx.\n")
    print("| server | probes | failed | p50 | p99 | max |")
    print("|---|--:|--:|--:|--:|--:|")
    for spec in (s for s in SERVERS if s.name in ("squall", "hurricane")):
        try:
            print(summary(spec.name, measure(spec, db, work_dir, args.probes, args.slow_ms)))
        except RuntimeError as exc:
            print(f"| {spec.name} | {exc} | | | | |")


if __name__ == "__main__":
    main()
