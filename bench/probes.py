#!/usr/bin/env python3
"""Probe latency while every Python thread of the application is busy.

Kubernetes' contract for Squall (shared/DESIGN.md): probes never wait for the
GIL or a busy worker. This starts the demo under Squall (2 workers x 2
threads) and under django-hurricane (thread pool of 4) and sends probes the
way kubelet does (a new connection each, 1 s timeout) to the probe port (app
port + 1 for both), in one of two modes:

- default: every Python thread is blocked in ``GET /slow`` (and more queue),
  probes go to ``/alive``;
- ``--load``: wrk drives full load on the app port (``GET /`` or ``/db``)
  while a kubelet-like client probes ``/startup``, ``/ready`` and ``/alive``
  round robin; prints app req/s beside probe failures and latency.

    .venv/bin/python bench/probes.py [--probes 500] [--slow-ms 20000]
    .venv/bin/python bench/probes.py --load [-d 30] [--path /] [-c 64]

Servers are started the way bench/run.py starts them (with $PYTHONPATH, if
set, appended to theirs, so PYTHONPATH=$PWD serves this tree's squall);
loopback only, every wait bounded.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from harness import (
    DEMO_DIR,
    HOST,
    POLL_INTERVAL_S,
    Launch,
    Options,
    OtherLoadMeter,
    free_port,
    parse_wrk,
    run_wrk,
    running_server,
    seed_components,
    wait_until_answering,
)
from servers import SERVERS, ServerSpec

BUSY_REQUESTS = 8  # more than the 4 Python threads of either server: some queue
OPTIONS = Options(
    processes=2, threads=2, connections=0, duration_s=0, warmup_s=0, wrk_threads=2,
    startup_timeout_s=30,
)  # fmt: skip
# Hurricane's --workers is its thread pool: 4 threads in its one process.
HURRICANE_OPTIONS = replace(OPTIONS, threads=4)
# What kubelet's HTTP prober sends (Go's client with keep-alives disabled).
KUBE_HEADERS = {"User-Agent": "kube-probe/1.31", "Accept": "*/*", "Connection": "close"}
PROBE_PATHS = ("/startup", "/ready", "/alive")  # the defaults of both servers
PROBE_TIMEOUT_S = 1.0  # kubelet's default timeoutSeconds


def launch(spec: ServerSpec, port: int, opts: Options, db: Path, *extra: str) -> Launch:
    """run.py's demo launch plus extra argv, with the caller's PYTHONPATH after the demo's."""
    base = spec.launch("demo", port, opts, db)
    env = dict(base.env)
    if outer := os.environ.get("PYTHONPATH"):
        absolute = [os.path.abspath(p) for p in outer.split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *absolute])
    return replace(base, argv=[*base.argv, *extra], env=env)


def demo_env(db: Path) -> dict[str, str]:
    """The environment launch() gives Squall, for commands run beside the servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SQUALL_"))}
    return {**env, **launch(SERVERS[0], 0, OPTIONS, db).env}


def migrate_demo(work_dir: Path) -> Path:
    """run.prepare_demo_db, but in demo_env(): the demo's settings may need this tree's squall."""
    db = work_dir / "template.sqlite3"
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=DEMO_DIR, env=demo_env(db), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"demo migrate failed: {done.stderr.strip()[-600:]}")
    seed_components(db)
    return db


def squall_origin(db: Path) -> str:
    """Where the servers' `import squall` comes from."""
    code = "import squall; print(squall.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=DEMO_DIR, env=demo_env(db), capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    return done.stdout.strip() or done.stderr.strip()


def one_probe(port: int) -> float | None:
    """Seconds for one probe on a new connection, or None (error, timeout, non-2xx/3xx)."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=PROBE_TIMEOUT_S)
        conn.request("GET", "/alive")
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return None
    return time.perf_counter() - start if 200 <= status < 400 else None


def kube_probe(port: int, path: str) -> tuple[float, float, str]:
    """One probe the way kubelet sends it: (seconds in all, seconds from the request's
    last byte sent to the answer's first byte received, outcome). The outcome is "ok"
    (200-399), "shed" (400 from the readiness path: the request queue is full), or
    why it failed: "timeout", the status code, or the connection error's name."""
    start = sent = answered = time.perf_counter()
    head = b""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in KUBE_HEADERS.items()
    )
    try:
        with socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.sendall(f"{request}\r\n".encode())
            sent = time.perf_counter()
            sock.settimeout(max(0.001, start + PROBE_TIMEOUT_S - sent))  # 1 s in all
            while b"\r\n\r\n" not in head and (chunk := sock.recv(4096)):
                answered = answered if head else time.perf_counter()
                head += chunk
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
        if 200 <= status < 400:
            outcome = "ok"
        else:
            outcome = "shed" if status == 400 and path == "/ready" else str(status or "garbled")
    except TimeoutError:
        outcome = "timeout"
    except (OSError, ValueError) as exc:
        outcome = type(exc).__name__
    elapsed = time.perf_counter() - start
    wait = max(0.0, answered - sent) if head else elapsed
    return elapsed, wait, "timeout" if elapsed > PROBE_TIMEOUT_S else outcome


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


def options_for(spec: ServerSpec) -> Options:
    return HURRICANE_OPTIONS if spec.name == "hurricane" else OPTIONS


def measure(
    spec: ServerSpec, db: Path, work_dir: Path, probes: int, slow_ms: int
) -> list[float | None]:
    port = free_port(2)  # the app port and its probe port (+ 1)
    opts = options_for(spec)
    with running_server(launch(spec, port, opts, db), work_dir / f"{spec.name}.log") as proc:
        if wait_until_answering(proc, port + 1, "/alive", opts.startup_timeout_s) is None:
            raise RuntimeError(f"failed to start (log: {work_dir / spec.name}.log)")
        block_threads(port, slow_ms)
        time.sleep(1.0)  # the slow requests are inside the views now
        return [one_probe(port + 1) for _ in range(probes)]


def _pct(ordered: list[float], p: float) -> str:
    return f"{ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000:.2f}"


def summary(name: str, latencies: list[float | None]) -> str:
    ok = sorted(x for x in latencies if x is not None)
    failed = len(latencies) - len(ok)
    if not ok:
        return f"| {name} | {len(latencies)} | {failed} | — | — | — |"
    cells = [name, len(latencies), failed, _pct(ok, 0.5), _pct(ok, 0.99), _pct(ok, 1.0)]
    return "| " + " | ".join(str(c) for c in cells) + " |"


# --------------------------------------------------------------------------- --load


def wait_for_200(proc: subprocess.Popen[bytes], port: int, path: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        status = wait_until_answering(proc, port, path, left)
        if status == 200:
            return True
        if status is None:
            return False
        time.sleep(POLL_INTERVAL_S)
    return False


def under_load(spec: ServerSpec, db: Path, work_dir: Path, a: argparse.Namespace) -> list[str]:
    """One server under wrk while kubelet-like probes run; its table row and notes."""
    port = free_port(2)
    opts = replace(options_for(spec), connections=a.connections, duration_s=a.duration)
    log = work_dir / f"{spec.name}-load.log"
    argv_extra = ("--req-queue-len", str(a.req_queue_len))
    with running_server(launch(spec, port, opts, db, *argv_extra), log) as proc:
        up = wait_for_200(proc, port + 1, "/startup", opts.startup_timeout_s)
        if not up or wait_until_answering(proc, port, a.path, opts.startup_timeout_s) != 200:
            return [f"| {spec.name} | failed to start (log: {log}) |" + " |" * 11]
        samples: list[tuple[str, float, float, str]] = []  # path, total s, wait s, outcome
        with ThreadPoolExecutor(1) as pool, OtherLoadMeter(proc.pid) as other:
            wrk = pool.submit(run_wrk, f"http://{HOST}:{port}{a.path}", opts, a.duration)
            time.sleep(0.5)  # wrk's connections are open and busy
            deadline = time.monotonic() + a.duration - 1.0
            while time.monotonic() < deadline:
                path = PROBE_PATHS[len(samples) % len(PROBE_PATHS)]
                samples.append((path, *kube_probe(port + 1, path)))
                time.sleep(a.interval_ms / 1000)
            stats = parse_wrk(wrk.result())
    total = sorted(t for _, t, _, _ in samples)
    wait = sorted(w for _, _, w, _ in samples)
    failures = Counter(f"{p} {o}" for p, _, _, o in samples if o not in ("ok", "shed"))
    row = [
        spec.name, f"{stats.requests_per_s:,.0f}", f"{sum(stats.errors.values()):,}",
        len(samples), sum(failures.values()), sum(o == "shed" for *_, o in samples),
        _pct(total, 0.5), _pct(total, 0.99), _pct(total, 1.0), _pct(wait, 0.5),
        _pct(wait, 0.99), _pct(wait, 1.0), f"{other.cores:.2f}",
    ]  # fmt: skip
    per_path = []
    for path in PROBE_PATHS:
        mine = sorted(t for p, t, _, _ in samples if p == path)
        per_path.append(f"`{path}` p99 {_pct(mine, 0.99)} / max {_pct(mine, 1.0)}")
    notes = [f"- {spec.name}: " + ", ".join(per_path) + " ms"]
    if failures:
        notes.append(
            f"- {spec.name} failures: " + ", ".join(f"{k} × {n}" for k, n in failures.items())
        )
    return ["| " + " | ".join(str(c) for c in row) + " |", *notes]


def main_load(a: argparse.Namespace, db: Path, work_dir: Path) -> None:
    print(f"squall imported from {squall_origin(db)}")
    print(
        f"wrk -t{OPTIONS.wrk_threads} -c{a.connections} -d{a.duration}s GET {a.path} on the app "
        f"port; meanwhile one kubelet-like probe every {a.interval_ms} ms after the previous "
        f"answer,\nround robin over {', '.join(PROBE_PATHS)} on port + 1 (new connection, "
        f"{PROBE_TIMEOUT_S:.0f} s timeout, User-Agent {KUBE_HEADERS['User-Agent']}); "
        f"--req-queue-len {a.req_queue_len} for both.\nfailed = timeout, connection error or "
        "a status outside 200-399 (400 from /ready excepted: shed); latencies in ms over "
        "every probe,\nconnect to answer (p50/p99/max) and request sent to first byte back "
        "(answer p50/p99/max). other CPU: cores used by unrelated processes.\n"
    )
    rows = [
        "| server | app req/s | wrk errors | probes | failed | shed | p50 | p99 | max "
        "| answer p50 | answer p99 | answer max | other CPU |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes: list[str] = []
    for spec in (s for s in SERVERS if s.name in ("squall", "hurricane")):
        print(f"  {spec.name} ...", file=sys.stderr, flush=True)
        row, *more = under_load(spec, db, work_dir, a)
        rows.append(row)
        notes += more
    print("\n".join([*rows, "", *notes]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=500, help="blocked mode: probes (500)")
    parser.add_argument("--slow-ms", type=int, default=20000, help="blocked mode: /slow ms")
    parser.add_argument("--load", action="store_true", help="probe under wrk load instead")
    parser.add_argument("-d", "--duration", type=int, default=30, help="--load: wrk s (30)")
    parser.add_argument("--path", default="/", help="--load: the app path wrk GETs (/ or /db)")
    parser.add_argument("-c", "--connections", type=int, default=64, help="--load: wrk (64)")
    parser.add_argument("--interval-ms", type=int, default=20, help="--load: probe gap (20)")
    parser.add_argument(
        "--req-queue-len",
        type=int,
        default=1000,
        help="--load: both servers' readiness threshold (1000: no shedding at -c 64)",
    )
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="squall-probes-"))
    db = migrate_demo(work_dir)
    if args.load:
        main_load(args, db, work_dir)
        return
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
