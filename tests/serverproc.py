"""Start real Squall server processes for tests, on free ports, and stop them.

Every test that starts Squall (``python -m squall APP``, ``manage.py serve``,
``manage.py consume``) does it here: :func:`run_server` for a server that keeps
running (the test waits for a condition, by default its listening socket,
never on sleeps, and reads its log after it exits), :func:`run_until_exit` for
one that is expected to exit by itself (a startup failure, an option error).
The server is started with the same Python that runs pytest, by default from
tests/apps (so `module:callable` resolves there).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from polling import free_port, port_accepts
from polling import wait_for as poll

TESTS_DIR = Path(__file__).resolve().parent
APPS_DIR = TESTS_DIR / "apps"
DEMO_DIR = TESTS_DIR.parent / "examples" / "demo"


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        return port_accepts(port)

    poll(listening, f"the server to listen on port {port}", timeout, error=TimeoutError)


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    args: list[str] = field(default_factory=list)
    probe_port: int = 0  # set by tests that choose the probe port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        return stop_process(self.proc, sig, timeout)


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Sends `sig` (unless it exited), waits up to `timeout`, then SIGKILL; the exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def squall_command(argv: Sequence[str]) -> list[str]:
    """`python manage.py ...` when argv starts with "manage.py" (run it in the
    project's directory), else `python -m squall ARGV`."""
    if argv and argv[0] == "manage.py":
        return [sys.executable, "manage.py", *argv[1:]]
    return [sys.executable, "-m", "squall", *argv]


def _environment(
    env: Mapping[str, str] | None, environ: Mapping[str, str] | None
) -> dict[str, str]:
    return {**(os.environ if environ is None else environ), **(env or {})}


def _listening(server: ServerProcess) -> None:
    wait_for_port(server.port, server.proc)


@contextmanager
def run_server(
    argv: Sequence[str],
    *,
    cwd: Path = APPS_DIR,
    env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    port: int | None = None,
    listen: bool = True,
    probe_port: int = 0,
    ready: Callable[[ServerProcess], object] = _listening,
) -> Iterator[ServerProcess]:
    """Runs `python -m squall <argv> --host 127.0.0.1 --port P` (or, when argv
    starts with "manage.py", that command in `cwd`: ``serve``, ``consume``),
    yields once ready(server) returns (by default: once port P accepts), and
    stops it with SIGINT.

    The environment is `environ` (os.environ by default) updated with `env`.
    Without `listen`, argv is run exactly as given (no --host, --port or
    --probe-port added); `port` and `probe_port` then only say where the
    server will listen.
    """
    port = (port or free_port()) if listen else (port or 0)
    log = tempfile.NamedTemporaryFile(prefix="squall-", suffix=".log", delete=False)
    cmd = squall_command(argv)
    if listen:
        cmd += ["--host", "127.0.0.1", "--port", str(port)]
        # The probe port defaults to port + 1, which another test's server or a
        # client socket may hold: give it a free port of its own.
        if "--probe-port" not in argv and "--no-probe" not in argv:
            probe_port = free_port()
            cmd += ["--probe-port", str(probe_port)]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_environment(env, environ), stdout=log, stderr=subprocess.STDOUT
    )
    server = ServerProcess(proc, port, Path(log.name), cmd, probe_port)
    try:
        ready(server)
        yield server
    finally:
        # SIGINT: a fast stop; tests of SIGTERM send it themselves.
        server.stop(signal.SIGINT)
        log.close()


def run_until_exit(
    argv: Sequence[str],
    *,
    cwd: Path = APPS_DIR,
    env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Runs `argv` as :func:`run_server` does (nothing added to it) to its end;
    its exit status and its stdout and stderr as text."""
    return subprocess.run(
        squall_command(argv), cwd=cwd, env=_environment(env, environ),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def recv_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Reads until the server closes the connection (or the timeout)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except TimeoutError:
        pass
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Reads one HTTP/1.1 response (Content-Length, chunked, or until close)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a full head: {buf!r}")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status < 200 or status in (204, 304):
        return status, headers, b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed inside the body")
            rest += data
        return status, headers, rest[:n]
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                return status, headers, body
    return status, headers, rest + recv_all(sock, timeout)


# ---- probes

Answer = tuple[int, str, dict[str, str]]


def probe(server: ServerProcess, path: str, port: int | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port or server.probe_port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, response.read().decode(), headers
    finally:
        conn.close()


def wait_for(server: ServerProcess, path: str, status: int, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe(server, path)
            if last[0] == status:
                return last[1]
        except OSError as exc:
            last = exc
        time.sleep(0.02)
    raise AssertionError(f"{path} never answered {status}; last: {last!r}")


# ---- the demo project


def demo_env(
    tmp: Path, settings_module: str, *, migrate: bool = True, **extra: str
) -> dict[str, str]:
    """Environment of the demo's manage.py: tests/apps importable, `settings_module`
    (a tests/apps module on top of the demo's settings), the SQLite database
    tmp/db.sqlite3 ($DEMO_TEST_DB), migrated unless `migrate` is false."""
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    env = {
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DEMO_TEST_DB": str(tmp / "db.sqlite3"),
        **extra,
    }
    if migrate:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=DEMO_DIR, env={**os.environ, **env}, check=True, capture_output=True,
        )  # fmt: skip
    return env
