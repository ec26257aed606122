"""What every benchmark script shares (bench/run.py, static.py, metrics.py,
probes.py, amqp.py): paths, free ports, starting and stopping servers, waiting
for an answer, memory and CPU sampling, wrk runs and their parsing, the demo
database, tables and the JSON results file.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
DEMO_DIR = REPO / "examples" / "demo"
SETTINGS_DIR = BENCH_DIR / "settings"
RESULTS_DIR = BENCH_DIR / "results"
BIN = Path(sys.executable).parent  # the venv's bin/, when run with .venv/bin/python
HOST = "127.0.0.1"

DEMO_SETTINGS = "bench_demo_settings"
HURRICANE_SETTINGS = "bench_hurricane_settings"
DEMO_SEED_ROWS = 10  # rows inserted into an empty components table for GET /db

STOP_GRACE_S = 5.0
POLL_INTERVAL_S = 0.1
RSS_SAMPLE_INTERVAL_S = 0.1
LOG_TAIL_LINES = 3
# Flag a row when other processes used more CPU than this while it was measured. Loopback
# softirq time belongs to no process and shows up here too: 0.0-0.2 cores on a quiet machine.
BUSY_MACHINE_CORES = 0.4
CLK_TCK = os.sysconf("SC_CLK_TCK")



# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Options:
    """What every server and every wrk run share (from the command line)."""

    processes: int
    threads: int
    connections: int
    duration_s: int
    warmup_s: int
    wrk_threads: int
    startup_timeout_s: float
    busy_retries: int = 1  # extra attempts for a row measured while the machine was busy


@dataclass(frozen=True)
class Launch:
    """One server process to start: argv, working directory, extra environment."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- ports & processes


def free_port(count: int = 1) -> int:
    """A loopback port p such that p .. p+count-1 are all free right now.

    Candidates come from below Linux's ephemeral range (32768-60999 by default):
    after a few wrk runs its ports are full of TIME_WAIT client sockets, so
    "the port the kernel picked, + 1" is often taken."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32768 - count)
        if all(_port_is_free(port + i) for i in range(count)):
            return port
    raise RuntimeError(f"no run of {count} free ports found")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def start_server(launch: Launch, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SQUALL_"))}
    env.update(launch.env)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with log_path.open("wb") as log:
        return subprocess.Popen(
            launch.argv,
            cwd=launch.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop_server can reap the tree
        )


def stop_server(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the server, SIGKILL its whole process group after `grace_s`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers: workers, or a server ignoring TERM
    except ProcessLookupError:
        pass
    proc.wait(timeout=STOP_GRACE_S)


@contextmanager
def running_server(
    launch: Launch, log_path: Path, grace_s: float = STOP_GRACE_S
) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_server(launch, log_path)
    try:
        yield proc
    finally:
        stop_server(proc, grace_s)


def wait_until_answering(
    proc: subprocess.Popen[bytes], port: int, path: str, timeout_s: float
) -> int | None:
    """Poll GET path until any HTTP response; its status, or None (exited / timed out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        conn = http.client.HTTPConnection(HOST, port, timeout=1.0)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            time.sleep(POLL_INTERVAL_S)
        finally:
            conn.close()
    return None


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


# --------------------------------------------------------------------------- memory


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


@dataclass(frozen=True)
class TreeMemory:
    rss_kib: int  # sum of VmRSS: a page shared by n processes counts n times
    pss_kib: int  # sum of Pss: a page shared by n processes counts 1/n in each
    processes: int


def _kib_field(path: str, name: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def tree_memory(root: int) -> TreeMemory:
    """Memory of root and all its descendants (VmRSS and Pss), and how many processes."""
    children = _children_map()
    rss, pss, count, stack = 0, 0, 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            one_rss = _kib_field(f"/proc/{pid}/status", "VmRSS:")
            one_pss = _kib_field(f"/proc/{pid}/smaps_rollup", "Pss:")
        except OSError:
            continue
        rss, pss, count = rss + one_rss, pss + one_pss, count + 1
    return TreeMemory(rss, pss, count)


class PeakRssSampler:
    """Samples tree_memory(pid) in a background thread; when stopped: .peak_mib (RSS),
    .peak_pss_mib and .processes (the tree's size at the RSS peak)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._peak_kib = 0
        self._peak_pss_kib = 0
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = tree_memory(self._pid)
            if now.rss_kib > self._peak_kib:
                self._peak_kib, self.processes = now.rss_kib, now.processes
            self._peak_pss_kib = max(self._peak_pss_kib, now.pss_kib)
            self._stop.wait(RSS_SAMPLE_INTERVAL_S)

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self._peak_kib / 1024

    @property
    def peak_pss_mib(self) -> float:
        return self._peak_pss_kib / 1024


# --------------------------------------------------------------------------- other load


def _machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat, idle and iowait excluded)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def _tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by root and its living descendants."""
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(stat[11]) + int(stat[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def _own_cpu_s() -> float:
    """CPU seconds of this runner plus its reaped children (wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class OtherLoadMeter:
    """Cores' worth of CPU used by processes other than the server, wrk and this runner."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self.cores = 0.0

    def _snapshot(self) -> tuple[float, float, float, float]:
        return time.monotonic(), _machine_busy_s(), _tree_cpu_s(self._pid), _own_cpu_s()

    def __enter__(self) -> OtherLoadMeter:
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        wall, busy, server, own = (b - a for a, b in zip(self._start, end, strict=True))
        self.cores = max(0.0, busy - server - own) / wall if wall > 0 else 0.0


# --------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkStats:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(output: str) -> WrkStats:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rps and p50 and p99):
        raise ValueError("wrk output lacks Requests/sec or the latency distribution")
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non_2xx_3xx": 0}
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        for key, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            errors[key] = int(value)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors["non_2xx_3xx"] = int(non2xx.group(1))
    return WrkStats(float(rps.group(1)), _to_ms(p50.group(1)), _to_ms(p99.group(1)), errors)


def run_wrk(url: str, opts: Options, duration_s: int) -> str:
    argv = [
        "wrk", f"-t{opts.wrk_threads}", f"-c{opts.connections}", f"-d{duration_s}s",
        "--latency", url,
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


# --------------------------------------------------------------------------- demo database


def prepare_demo_db(work_dir: Path) -> Path | None:
    """Migrate a fresh SQLite file for the demo; None (and a message) if that fails."""
    if not (DEMO_DIR / "manage.py").is_file():
        print(f"! {DEMO_DIR} has no manage.py yet: demo workloads skipped", file=sys.stderr)
        return None
    db_path = work_dir / "template.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SQUALL_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(DEMO_DIR), str(SETTINGS_DIR)]),
        DJANGO_SETTINGS_MODULE=DEMO_SETTINGS,
        BENCH_DEMO_DB=str(db_path),
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=DEMO_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-LOG_TAIL_LINES:])
        print(f"! demo migrate failed: {tail}", file=sys.stderr)
        return None
    seed_components(db_path)
    return db_path


def seed_components(db_path: Path) -> None:
    """Give GET /db rows to list when the demo's migrations do not ship any."""
    with sqlite3.connect(db_path) as db:
        table = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='components_component'"
        ).fetchone()
        if table and db.execute("SELECT COUNT(*) FROM components_component").fetchone()[0] == 0:
            db.executemany(
                "INSERT INTO components_component (title) VALUES (?)",
                [(f"Component {i}",) for i in range(1, DEMO_SEED_ROWS + 1)],
            )


def fresh_db_copy(template: Path, work_dir: Path, label: str) -> Path:
    copy = work_dir / f"{label}.sqlite3"
    shutil.copyfile(template, copy)
    return copy


@dataclass(frozen=True)
class Measurement:
    stats: WrkStats
    peak_rss_mib: float  # over warm-up and measurement
    processes: int  # in the server's tree at that peak
    peak_pss_mib: float
    other_cpu_cores: float  # over the measurement


def measure(proc: subprocess.Popen[bytes], url: str, opts: Options) -> Measurement:
    """Warm up, then one measured wrk run."""
    with PeakRssSampler(proc.pid) as rss:
        if opts.warmup_s > 0:
            run_wrk(url, opts, opts.warmup_s)
        with OtherLoadMeter(proc.pid) as other:
            output = run_wrk(url, opts, opts.duration_s)
    return Measurement(
        parse_wrk(output), rss.peak_mib, rss.processes, rss.peak_pss_mib, other.cores
    )


# --------------------------------------------------------------------------- report


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")


def run_header(opts: Options) -> str:
    """The first line a wrk benchmark prints: what every row shares."""
    return (
        f"# {opts.processes} process(es) × {opts.threads} thread(s); wrk -t{opts.wrk_threads} "
        f"-c{opts.connections} -d{opts.duration_s}s after {opts.warmup_s} s warm-up"
    )


def fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(squall: float | None, peer: float | None) -> str:
    """The "squall ÷ peer" column."""
    return f"{squall / peer:.2f}" if squall and peer else "—"


def machine_info() -> dict[str, str]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version()}


def utc_stamp() -> str:
    """Now, for a results file's name: 20261121T130000Z."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def write_json(path: Path, opts: Options, argv: Sequence[str], results: Sequence[Any]) -> None:
    """The results file: when, the command (`argv`), the machine, the options and a
    row per result (dataclasses)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(argv),
        "machine": machine_info(),
        "options": asdict(opts),
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
