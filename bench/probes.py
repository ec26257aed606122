#!/usr/bin/env python3
"""Probe latency while every Python thread of the application is blocked.

Kubernetes' contract for Squall (shared/DESIGN.md): probes never wait for the
GIL or a busy worker. This starts the demo under Squall (2 workers x 2
threads) and under django-hurricane (thread pool of 4), occupies every Python
thread with ``GET /slow`` (and queues more), then sends probes the way kubelet
does (a new connection each, 1 s timeout) and prints their latency.

    .venv/bin/python bench/probes.py [--probes 500] [--slow-ms 20000]

Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / "examples" / "demo"
SETTINGS_DIR = REPO / "bench" / "settings"
HOST = "127.0.0.1"


@dataclass
class Target:
    name: str
    argv: list[str]
    settings: str
    probe_path: str
    busy_requests: int  # enough to hold every Python thread, plus a queue


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening after {timeout} s")


def one_probe(port: int, path: str) -> float | None:
    """Seconds for one probe on a new connection, or None (error, timeout, non-2xx/3xx)."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=1.0)  # kubelet's default
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return None
    return time.perf_counter() - start if 200 <= status < 400 else None


def block_threads(port: int, n: int, slow_ms: int) -> list[threading.Thread]:
    def slow() -> None:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=slow_ms / 1000 + 30)
            conn.request("GET", f"/slow?ms={slow_ms}")
            conn.getresponse().read()
        except OSError:
            pass

    threads = [threading.Thread(target=slow, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def measure(target: Target, probes: int, slow_ms: int) -> list[float | None]:
    port, probe_port = free_port(), free_port()
    argv = [a.replace("{port}", str(port)).replace("{probe}", str(probe_port)) for a in target.argv]
    if target.name == "hurricane":
        probe_port = port + 1  # Hurricane always uses port + 1
    db = Path(tempfile.mkdtemp()) / "db.sqlite3"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(DEMO_DIR), str(SETTINGS_DIR)]),
        "DJANGO_SETTINGS_MODULE": target.settings,
        "BENCH_DEMO_DB": str(db),
    }
    proc = subprocess.Popen(
        argv, cwd=DEMO_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_listening(port, proc)
        wait_listening(probe_port, proc)
        block_threads(port, target.busy_requests, slow_ms)
        time.sleep(1.0)  # the slow requests are inside the views now
        return [one_probe(probe_port, target.probe_path) for _ in range(probes)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def summary(name: str, latencies: list[float | None]) -> str:
    ok = sorted(x for x in latencies if x is not None)
    failed = len(latencies) - len(ok)
    if not ok:
        return f"| {name} | {len(latencies)} | {failed} | — | — | — |"

    def pct(p: float) -> float:
        return ok[min(len(ok) - 1, int(p * len(ok)))] * 1000

    cells = [
        name,
        len(latencies),
        failed,
        f"{pct(0.5):.2f}",
        f"{pct(0.99):.2f}",
        f"{ok[-1] * 1000:.2f}",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--slow-ms", type=int, default=20000)
    args = parser.parse_args()
    manage = [sys.executable, "manage.py", "serve", "--port", "{port}"]
    targets = [
        Target(
            "squall",
            [
                *manage,
                "--host",
                HOST,
                "--probe-port",
                "{probe}",
                "--workers",
                "2",
                "--threads",
                "2",
                "--no-access-log",
                "--req-queue-len",
                "1000",
            ],
            "bench_demo_settings",
            "/alive",
            8,
        ),  # fmt: skip
        Target("hurricane", [*manage, "--workers", "4"], "bench_hurricane_settings", "/alive", 8),
    ]
    print("Probe latency (ms) with every Python thread blocked in GET /slow, new connection")
    print("per probe, 1 s timeout (kubelet's default); failed = error, timeout or non-2xx/3xx.\n")
    print("| server | probes | failed | p50 | p99 | max |")
    print("|---|--:|--:|--:|--:|--:|")
    for target in targets:
        try:
            print(summary(target.name, measure(target, args.probes, args.slow_ms)), flush=True)
        except (RuntimeError, TimeoutError) as exc:
            print(f"| {target.name} | failed to start: {exc} | | | | |", flush=True)


if __name__ == "__main__":
    main()
