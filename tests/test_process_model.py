"""The process model under load: a master forking workers, supervision,
recycling and the signals (docs/architecture.md, "Processes").

Every test starts a real master (`python -m squall process_apps:app`; the app
in tests/apps/process_apps.py answers with the serving worker's pid) and, for
the lifecycle events, puts it under load from `Load`: client threads, each
with one keep-alive HTTP/1.1 connection doing GETs in a loop, recording every
response and every failure (a non-200 status, a reset, a connection closed
without a response, a truncated response, a refused connection). Tests wait
on conditions (a log line, the master's children in /proc) with deadlines,
never on fixed sleeps.
"""

from __future__ import annotations

import datetime
import http.client
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from polling import file_lines, wait_for
from serverproc import ServerProcess, read_response, run_server

APP = "process_apps:app"
TIME = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z"
MASTER = r"squall\.master: "


@contextmanager
def serve(*options: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A master serving process_apps:app; no access log, and no shutdown delay
    unless the test asks for one (the default of 5 s would slow every stop)."""
    defaults = [] if "--shutdown-delay" in options else ["--shutdown-delay", "0"]
    with run_server([APP, "--no-access-log", *defaults, *options], env=env) as server:
        yield server


# ---- the master's children and log --------------------------------------------------


def children(master_pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is the master."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == master_pid and state != "Z":
            pids.add(int(entry))
    return pids


def wait_children(server: ServerProcess, n: int, timeout: float = 15.0) -> set[int]:
    def probe() -> set[int] | None:
        pids = children(server.proc.pid)
        return pids if len(pids) == n else None

    return wait_for(probe, f"{n} workers under master {server.proc.pid}", timeout)


def found(server: ServerProcess, pattern: str) -> list[re.Match[str]]:
    return list(re.finditer(pattern, server.log(), re.MULTILINE))


def wait_log(
    server: ServerProcess, pattern: str, count: int = 1, timeout: float = 15.0
) -> list[re.Match[str]]:
    """Waits until the server's log has `count` lines matching `pattern`; returns them."""

    def probe() -> list[re.Match[str]] | None:
        matches = found(server, pattern)
        return matches if len(matches) >= count else None

    return wait_for(probe, f"{count} log line(s) matching {pattern!r}", timeout)


def booted(server: ServerProcess) -> list[int]:
    return [int(m[1]) for m in found(server, MASTER + r"booting worker (\d+) \(slot \d+\)$")]


def exited(server: ServerProcess, reason: str) -> list[int]:
    pattern = MASTER + rf"worker (\d+) exited with status 0 \({reason}\)$"
    return [int(m[1]) for m in found(server, pattern)]


def process_counts(server: ServerProcess) -> list[int]:
    """The number of live workers after each boot or exit the master logged, in order."""
    counts, n = [], 0
    for m in found(server, MASTER + r"(booting worker \d+|worker \d+ (exited|killed))"):
        n += 1 if m[1].startswith("booting") else -1
        counts.append(n)
    return counts


def log_time(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


# ---- load ---------------------------------------------------------------------------


@dataclass
class Response:
    conn: int  # which client connection (thread)
    fresh: bool  # the first request on a new connection
    started: float  # time.monotonic()
    status: int
    pid: int  # the worker that answered
    close: bool  # the response said Connection: close


@dataclass
class Failure:
    conn: int
    fresh: bool
    started: float
    last_pid: int | None  # the worker that answered this connection before, if any
    error: str

    @property
    def refused(self) -> bool:
        return self.error.startswith("ConnectionRefusedError")


@dataclass
class Load:
    """`connections` client threads, each with one keep-alive connection doing
    GET `path` in a loop until stop(), or until `total` requests were sent.

    A connection is reopened after a failure, after a response with
    Connection: close, and every `per_connection` requests (0: never; may be
    changed while running), so new connections keep being accepted while the
    workers change. A refused connection ends its thread (no listen socket)."""

    port: int
    path: str = "/pid"
    connections: int = 8
    total: int = 0
    per_connection: int = 50
    pause: float = 0.0  # seconds between two requests of a connection
    responses: list[Response] = field(default_factory=list, repr=False)
    failures: list[Failure] = field(default_factory=list, repr=False)
    began: float = 0.0  # time.monotonic() at start
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sent: int = 0
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    def __enter__(self) -> Load:
        self.began = time.monotonic()
        for i in range(self.connections):
            thread = threading.Thread(target=self._run, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.join(15)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "the load did not finish in time"

    def _take(self) -> bool:
        with self._lock:
            if self.total and self._sent >= self.total:
                return False
            self._sent += 1
            return True

    def _fail(self, conn: int, fresh: bool, started: float, last: int | None, error: str) -> None:
        with self._lock:
            self.failures.append(Failure(conn, fresh, started, last, error))

    def _run(self, index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        last_pid: int | None = None
        on_conn = 0
        while not self._stop.is_set() and self._take():
            fresh = conn is None
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                    last_pid, on_conn = None, 0
                    conn.connect()
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                self._fail(index, fresh, started, last_pid, f"{type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
                if isinstance(e, ConnectionRefusedError):
                    return
                continue
            close = resp.getheader("Connection", "").lower() == "close"
            pid = int(body) if resp.status == 200 and body.isdigit() else 0
            with self._lock:
                self.responses.append(Response(index, fresh, started, resp.status, pid, close))
            if resp.status != 200:
                self._fail(index, fresh, started, last_pid, f"status {resp.status}: {body!r}")
            last_pid, on_conn = pid, on_conn + 1
            if close or resp.will_close or 0 < self.per_connection <= on_conn:
                conn.close()
                conn = None
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()

    # -- results, also while running --

    def since(self, t: float) -> list[Response]:
        with self._lock:
            return [r for r in self.responses if r.started >= t]

    def ok(self, since: float = 0.0) -> int:
        return sum(1 for r in self.since(since) if r.status == 200)

    def pids(self, since: float = 0.0) -> set[int]:
        return {r.pid for r in self.since(since) if r.status == 200}

    def wait_ok(self, n: int, since: float = 0.0, timeout: float = 20.0) -> None:
        wait_for(lambda: self.ok(since) >= n, f"{n} successful responses", timeout)

    def conn_pids(self) -> dict[int, int]:
        """Each connection's worker, from its latest response."""
        return {r.conn: r.pid for r in self.since(0.0) if r.status == 200}


def explain(failures: list[Failure], server: ServerProcess, origin: float = 0.0) -> str:
    """The failures (at most 5; times relative to `origin`) and the log lines
    about the workers they were on."""
    shown = failures[:5]
    pids = {f" {f.last_pid}" for f in shown if f.last_pid}
    log = [line for line in server.log().splitlines() if any(pid in line for pid in pids)]
    times = [f"at {f.started - origin:+.3f} s: {f}" for f in shown]
    return "\n".join([f"{len(failures)} failed request(s):", *times, "log:", *log[-12:]])


def assert_no_failures(load: Load, server: ServerProcess, origin: float | None = None) -> None:
    """No failed request; else the failures, timed from `origin` (default: the load's start)."""
    failures = list(load.failures)
    assert not failures, explain(failures, server, load.began if origin is None else origin)


def get(server: ServerProcess, path: str = "/pid", timeout: float = 10.0) -> tuple[int, str]:
    """One request on a new connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


# ---- lifecycle under load: zero failed requests ----------------------------------------


def test_sighup_replaces_every_worker_under_load() -> None:
    with serve("--workers", "2") as server:
        old = wait_children(server, 2)
        with Load(server.port) as load:
            load.wait_ok(300)
            hup = time.monotonic()
            server.proc.send_signal(signal.SIGHUP)
            wait_log(server, MASTER + r"worker \d+ exited with status 0 \(reload\)$", count=2)
            new = wait_children(server, 2)
            after = time.monotonic()
            load.wait_ok(300, since=after)
        assert set(exited(server, "reload")) == old
        assert not new & old, (old, new)
        assert load.pids(since=after) <= new
        assert min(process_counts(server)[1:]) >= 2, process_counts(server)
        assert_no_failures(load, server, hup)


def test_max_requests_recycles_workers_under_load() -> None:
    total = 3000
    options = ["--workers", "2", "--max-requests", "200", "--max-requests-jitter", "50"]
    with serve(*options) as server:
        wait_children(server, 2)
        # Paced (a few ms between requests) so the load lasts a few seconds:
        # the master recycles one worker at a time, on its 100 ms tick.
        with Load(server.port, total=total, pause=0.004) as load:
            load.join(60)
        assert_no_failures(load, server)
        assert load.ok() == total
        recycled = exited(server, "max_requests")
        assert len(recycled) >= 5, server.log()[-3000:]
        assert len(found(server, r"recycling worker \d+ \(max_requests\)$")) >= len(recycled)
        # A worker is recycled only after its 200 (+ jitter) requests.
        served = Counter(r.pid for r in load.responses)
        assert all(served[pid] >= 200 for pid in recycled), {pid: served[pid] for pid in recycled}
        # The replacement boots before the old worker stops: never fewer than
        # 2 workers, never more than 3 (one recycle at a time).
        counts = process_counts(server)
        assert min(counts[1:]) >= 2 and max(counts) <= 3, counts
        wait_children(server, 2)


def test_sigttin_then_sigttou_scale_workers_under_load() -> None:
    with serve("--workers", "2") as server:
        first = wait_children(server, 2)
        with Load(server.port, per_connection=20) as load:
            load.wait_ok(300)
            ttin = time.monotonic()
            server.proc.send_signal(signal.SIGTTIN)
            wait_log(server, MASTER + r"SIGTTIN: 3 workers$")
            three = wait_children(server, 3)
            (added,) = three - first
            wait_log(server, rf"worker {added} serving$")
            load.wait_ok(300, since=time.monotonic())
            server.proc.send_signal(signal.SIGTTOU)
            wait_log(server, MASTER + r"SIGTTOU: 2 workers$")
            scaled = wait_log(server, MASTER + r"worker (\d+) exited with status 0 \(scale\)$")
            two = wait_children(server, 2)
            load.wait_ok(300, since=time.monotonic())
        (gone,) = [int(m[1]) for m in scaled]
        assert two == three - {gone}
        assert_no_failures(load, server, ttin)


# ---- crashes and stuck workers ------------------------------------------------------------


def answered_twice_since(load: Load, t: float) -> bool:
    per_conn = Counter(r.conn for r in load.since(t))
    return len(per_conn) == load.connections and min(per_conn.values()) >= 2


def spread_connections(load: Load, workers: set[int]) -> dict[int, int]:
    """Lets the load's connections churn until every worker holds one of them
    (the kernel may hand a burst of new connections to one worker), then keeps
    them open; returns each connection's worker."""
    for _ in range(20):
        load.per_connection = 20
        wait_for(lambda: set(load.conn_pids().values()) == workers, "connections on each worker")
        load.per_connection = 0  # no connection is reopened from now on
        frozen = time.monotonic()
        # The second response after the freeze is surely on the kept connection.
        wait_for(lambda t=frozen: answered_twice_since(load, t), "every connection answered")
        on = load.conn_pids()
        if set(on.values()) == workers:
            return on
    raise AssertionError(f"the connections never spread over the workers {workers}")


def test_sigkill_fails_only_the_killed_workers_requests() -> None:
    with serve("--workers", "2") as server:
        pids = wait_children(server, 2)
        with Load(server.port, connections=8) as load:
            on = spread_connections(load, pids)
            victim = min(pids, key=list(on.values()).count)
            victim_conns = {conn for conn, pid in on.items() if pid == victim}
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            wait_log(server, MASTER + rf"worker {victim} killed by SIGKILL$")
            now = wait_children(server, 2)
            settled = time.monotonic()
            load.wait_ok(500, since=settled)
        assert victim not in now and now - pids, (pids, now)
        assert booted(server)[-1] in now
        # Only requests on the killed worker's connections failed (in flight,
        # or sent before the client saw the close), at most one per connection.
        report = explain(load.failures, server, killed)
        assert all(f.last_pid == victim and f.conn in victim_conns for f in load.failures), report
        assert len({f.conn for f in load.failures}) == len(load.failures), report
        assert len(load.failures) <= len(victim_conns) < load.connections, report
        assert all(killed - 1.0 < f.started < settled for f in load.failures), report
        # Every request after that succeeded.
        assert all(r.status == 200 for r in load.since(killed))


def test_timeout_kills_a_stuck_request_and_names_it() -> None:
    with serve("--workers", "1", "--timeout", "2") as server:
        status, body = get(server)
        assert status == 200
        worker = int(body)
        started = time.monotonic()
        try:
            answer = get(server, "/slow?ms=5000", timeout=15)
            raise AssertionError(f"the request past --timeout was answered: {answer}")
        except (ConnectionError, http.client.RemoteDisconnected):
            elapsed = time.monotonic() - started
        assert 1.9 < elapsed < 4.5, elapsed
        named = MASTER + rf"worker {worker}: request GET (/slow\S*) has run for (\d+\.\d) s "
        (line,) = wait_log(server, named + r"\(--timeout 2 s\); killing it$")
        assert line[1].startswith("/slow"), line[0]
        assert 2.0 <= float(line[2]) < 4.0, line[0]
        wait_log(server, MASTER + rf"worker {worker} killed by SIGABRT \(timeout\)$")
        (replacement,) = wait_children(server, 1)
        assert replacement != worker and booted(server)[-1] == replacement
        assert get(server) == (200, str(replacement))


def test_a_worker_whose_loop_stops_is_killed_and_replaced() -> None:
    with serve("--workers", "1", "--timeout", "2") as server:
        (worker,) = wait_children(server, 1)
        # Its loop runs (and heartbeats) once it has answered: a worker stopped
        # before its first heartbeat gets the longer start-up allowance instead.
        assert get(server) == (200, str(worker))
        os.kill(worker, signal.SIGSTOP)  # its I/O loop stops heartbeating
        stuck = MASTER + rf"worker {worker}: I/O loop stopped heartbeating (\d+\.\d) s ago "
        (line,) = wait_log(server, stuck + r"\(--timeout 2 s\); killing it$")
        assert 2.0 <= float(line[1]) < 4.0, line[0]
        # SIGABRT stays pending in a stopped process: SIGKILL follows after a grace.
        wait_log(server, MASTER + rf"worker {worker} killed by SIG(ABRT|KILL) \(timeout\)$")
        (replacement,) = wait_children(server, 1)
        assert replacement != worker
        assert get(server) == (200, str(replacement))


def test_crash_at_start_backs_off_and_sigterm_still_stops() -> None:
    env = {"PROCESS_APPS_EXIT_AT_IMPORT": "3"}
    with serve("--workers", "1", "--no-preload", env=env) as server:
        backoff = MASTER + r"a worker died within 2 s of starting; next one in (\d+) ms$"
        delays = [int(m[1]) for m in wait_log(server, backoff, count=4, timeout=20)]
        assert delays == sorted(delays) and delays[0] < delays[-1], delays
        assert len(found(server, MASTER + r"worker \d+ exited with status 3$")) >= 4
        # Backing off, not spinning: about one boot per crash.
        assert len(booted(server)) <= len(found(server, backoff)) + 2, server.log()
        stopping = time.monotonic()
        assert server.stop(timeout=10) == 0, server.log()[-2000:]
        assert time.monotonic() - stopping < 5


# ---- graceful shutdown ---------------------------------------------------------------------


def test_sigterm_under_load_finishes_every_accepted_request(tmp_path: Path) -> None:
    delay, slow_s = 2.0, 5.0
    record = tmp_path / "record.txt"
    options = ["--workers", "2", "--shutdown-delay", "2", "--graceful-timeout", "10"]
    with serve(*options, env={"PROCESS_APPS_RECORD": str(record)}) as server:
        wait_children(server, 2)
        slow: list[object] = []

        def slow_request() -> None:
            try:
                slow.append(get(server, f"/slow?ms={int(slow_s * 1000)}", timeout=30))
            except (OSError, http.client.HTTPException) as e:
                slow.append(e)

        with Load(server.port) as load:
            load.wait_ok(300)
            slow_thread = threading.Thread(target=slow_request, daemon=True)
            slow_thread.start()
            wait_for(lambda: "slow started" in file_lines(record), "the slow request in the app")
            term = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            status = server.proc.wait(timeout=delay + slow_s + 10)
            exited_after = time.monotonic() - term
            load.join(10)
            slow_thread.join(10)
        assert status == 0, server.log()[-3000:]
        assert exited_after < delay + slow_s + 3, exited_after
        # The slow request, in flight at SIGTERM, completed.
        assert len(slow) == 1 and isinstance(slow[0], tuple) and slow[0][0] == 200, slow
        # No reset and no truncated response: a connection refused once the
        # listen socket closed (after the delay) is the only failure allowed.
        bad = [f for f in load.failures if not f.refused or f.started < term + delay - 0.1]
        assert not bad, explain(bad, server, term)
        # During the delay: new connections accepted and answered, with Connection: close.
        during = [r for r in load.since(term + 0.5) if r.started <= term + delay - 0.3]
        assert sum(1 for r in during if r.fresh and r.status == 200) >= 20, during
        assert all(r.close for r in during), [r for r in during if not r.close][:5]
        assert "SIGTERM: readiness now fails; accepting for 2.0 s more" in server.log()


def test_a_response_ending_after_the_drain_began_keeps_its_connection(tmp_path: Path) -> None:
    """The race behind the failed requests of rolling restarts and recycling,
    made deterministic: the client has a complete keep-alive response (no
    Connection: close), but the server's exchange ends only after the worker
    began draining. The client's next request must be answered (with
    Connection: close), not meet a connection the server closed."""
    record = tmp_path / "record.txt"
    with serve("--workers", "1", env={"PROCESS_APPS_RECORD": str(record)}) as server:
        (old,) = wait_children(server, 1)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/tail?ms=1000")
        resp = conn.getresponse()
        assert (resp.status, resp.read(), resp.getheader("Connection")) == (200, b"%d" % old, None)
        server.proc.send_signal(signal.SIGHUP)
        wait_log(server, rf"worker {old}: SIGTERM: finishing in-flight requests")
        wait_for(lambda: "tail done" in file_lines(record), "the end of the response iterator")
        try:
            conn.request("GET", "/pid")
            resp = conn.getresponse()
            answer = (resp.status, resp.read(), resp.getheader("Connection"))
        except (OSError, http.client.HTTPException) as e:
            answer = e
        finally:
            conn.close()
        assert answer == (200, b"%d" % old, "close")


def stopped(pid: int) -> bool:
    """Every thread of `pid` is in the stopped state (SIGSTOP took effect)."""
    states = [
        (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        for task in Path(f"/proc/{pid}/task").iterdir()
    ]
    return all(state == "T" for state in states)


def sigterm_pending(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    pending = re.findall(r"^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$", status, re.MULTILINE)
    return any(int(mask, 16) & 1 << (signal.SIGTERM - 1) for mask in pending)


def test_sigterm_answers_connections_queued_when_the_drain_starts() -> None:
    """Connections the kernel accepted into the listen queue before the
    worker handles its SIGTERM get answered, not reset when the worker closes
    the listen socket. Made deterministic by stopping the worker (SIGSTOP)
    while its SIGTERM and the new connections arrive."""
    with serve("--workers", "1") as server:
        (worker,) = wait_children(server, 1)
        assert get(server)[0] == 200
        os.kill(worker, signal.SIGSTOP)
        try:
            # Until every thread has stopped, one of them could still take the
            # SIGTERM (signals are delivered lowest number first).
            wait_for(lambda: stopped(worker), "the worker to stop")
            server.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: sigterm_pending(worker), "the master's SIGTERM to the worker")
            clients = [server.connect() for _ in range(3)]  # in the listen queue
            for sock in clients:
                sock.sendall(b"GET /pid HTTP/1.1\r\nHost: test\r\n\r\n")
        finally:
            os.kill(worker, signal.SIGCONT)
        answers: list[object] = []
        for sock in clients:
            with sock:
                try:
                    status, headers, body = read_response(sock)
                    answers.append((status, body, headers.get("connection")))
                except OSError as e:
                    answers.append(e)
        assert answers == [(200, b"%d" % worker, "close")] * 3
        assert server.proc.wait(timeout=10) == 0


# ---- recycling by age and memory ---------------------------------------------------------


def test_max_lifetime_recycles_a_worker_after_its_lifetime() -> None:
    with serve("--workers", "1", "--max-lifetime", "2") as server:
        (first,) = wait_children(server, 1)
        with Load(server.port, connections=2, pause=0.02) as load:
            wait_log(server, MASTER + rf"worker {first} exited with status 0 \(max_lifetime\)$")
            after = time.monotonic()
            load.wait_ok(50, since=after)
        log = server.log()
        (boot,) = re.findall(rf"{TIME} INFO {MASTER}booting worker {first} ", log)
        recycle_line = rf"{TIME} INFO {MASTER}recycling worker {first} \(max_lifetime\)$"
        (recycle,) = re.findall(recycle_line, log, re.MULTILINE)
        lived = log_time(recycle) - log_time(boot)
        assert 1.9 <= lived <= 3.5, lived
        assert first not in load.pids(since=after)
        assert_no_failures(load, server)


def test_max_memory_recycles_a_worker_that_grew() -> None:
    with serve("--workers", "1", "--max-memory", "40") as server:
        (worker,) = wait_children(server, 1)
        assert get(server, "/grow?mib=50") == (200, str(worker))
        wait_log(server, MASTER + rf"recycling worker {worker} \(max_memory\)$")
        wait_log(server, MASTER + rf"worker {worker} exited with status 0 \(max_memory\)$")
        (replacement,) = wait_children(server, 1)
        assert replacement != worker
        assert get(server) == (200, str(replacement))


# ---- preload ---------------------------------------------------------------------------------


def test_preload_imports_the_app_once_in_the_master(tmp_path: Path) -> None:
    imports = tmp_path / "imports.txt"
    env = {"PROCESS_APPS_IMPORT_LOG": str(imports)}
    with serve("--workers", "2", "--preload", env=env) as server:
        workers = wait_children(server, 2)
        assert {get(server)[1] for _ in range(4)} <= {str(pid) for pid in workers}
        assert file_lines(imports) == [str(server.proc.pid)]


def test_no_preload_imports_the_app_in_every_worker(tmp_path: Path) -> None:
    imports = tmp_path / "imports.txt"
    env = {"PROCESS_APPS_IMPORT_LOG": str(imports)}
    with serve("--workers", "2", "--no-preload", env=env) as server:
        workers = wait_children(server, 2)
        wait_for(lambda: len(file_lines(imports)) >= 2, "two imports of the app")
        assert sorted(file_lines(imports)) == sorted(str(pid) for pid in workers)
        assert get(server)[0] == 200


def test_programs_the_app_starts_get_default_signal_handling() -> None:
    # The engine takes signals with handlers, not a blocked mask: a mask would
    # be inherited by the app's subprocesses, and SIGTERM would not stop them.
    with run_server([APP, "--workers", "1"]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        conn.request("GET", "/subprocess")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"-15")
        conn.close()
