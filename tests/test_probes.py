"""Kubernetes probes, answered by the master from shared memory (core/probe/).

Real servers (tests/apps/process_apps.py) on ephemeral ports; the probe port is
the app port + 1 unless a test says otherwise.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from polling import wait_for as poll
from serverproc import ServerProcess, free_port, probe, run_server, wait_for

APP = "process_apps:app"


@contextmanager
def pod(*options: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A server whose probe port run_server chose (server.probe_port)."""
    with run_server([APP, *options], env=env) as server:
        yield server


def get(server: ServerProcess, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def start_slow_requests(server: ServerProcess, n: int, ms: int) -> list[threading.Thread]:
    """`n` concurrent GET /slow?ms=... on their own connections; join the threads."""
    threads = [threading.Thread(target=get, args=(server, f"/slow?ms={ms}")) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def test_hurricane_paths_and_kube_endpoints_after_startup() -> None:
    with pod("--workers", "2") as server:
        assert wait_for(server, "/startup", 200).startswith("Startup was finished after")
        status, body, headers = probe(server, "/ready")
        assert (status, body) == (200, "ready\n")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert probe(server, "/alive/")[:2] == (200, "alive\n")  # trailing slash accepted
        assert probe(server, "/livez")[:2] == (200, "ok")
        assert probe(server, "/startupz")[:2] == (200, "ok")
        verbose = probe(server, "/readyz?verbose")[1].splitlines()
        assert verbose == ["[+]workers ok", "[+]shutdown ok", "[+]queue ok", "readyz check passed"]
        assert "[+]queue ok" not in probe(server, "/readyz?verbose&exclude=queue")[1]
        assert probe(server, "/readyz/shutdown")[:2] == (200, "ok")
        assert probe(server, "/readyz/nope")[0] == 404
        assert probe(server, "/elsewhere")[0] == 404


def test_startup_probe_is_400_until_every_worker_serves() -> None:
    env = {"PROCESS_APPS_SLEEP_AT_IMPORT": "2"}
    with pod("--workers", "2", "--no-preload", env=env) as server:
        assert probe(server, "/startup")[:2] == (400, "")
        assert probe(server, "/ready")[:2] == (400, "")
        assert probe(server, "/startupz")[0] == 500
        assert "[-]workers failed: reason withheld" in probe(server, "/startupz?verbose")[1]
        wait_for(server, "/startup", 200)
        assert probe(server, "/ready")[0] == 200


def test_probes_answer_at_once_while_every_python_thread_is_busy() -> None:
    with pod("--workers", "1", "--threads", "2", "--req-queue-len", "50") as server:
        wait_for(server, "/startup", 200)
        blockers = start_slow_requests(server, 2, ms=3000)
        time.sleep(0.3)  # both threads are now inside the view
        latencies = []
        for _ in range(50):
            start = time.monotonic()
            assert probe(server, "/alive")[0] == 200
            latencies.append(time.monotonic() - start)
        for t in blockers:
            t.join()
        assert max(latencies) < 0.5, latencies
        assert sorted(latencies)[int(len(latencies) * 0.99) - 1] < 0.05


def test_readiness_is_400_while_the_request_queue_is_full() -> None:
    with pod("--workers", "1", "--threads", "1", "--req-queue-len", "2") as server:
        wait_for(server, "/startup", 200)
        clients = start_slow_requests(server, 4, ms=2500)
        body = wait_for(server, "/ready", 400, timeout=2)
        assert body == "request queue is full\n"
        assert "[-]queue failed: reason withheld" in probe(server, "/readyz?verbose")[1]
        for t in clients:
            t.join()
        wait_for(server, "/ready", 200)


def test_sigterm_fails_readiness_at_once_while_liveness_stays_ok() -> None:
    with pod("--workers", "1", "--shutdown-delay", "3") as server:
        wait_for(server, "/ready", 200)
        server.proc.send_signal(signal.SIGTERM)
        assert wait_for(server, "/ready", 500, timeout=1) == "check failed: shutdown\n"
        assert probe(server, "/alive")[0] == 200
        assert get(server, "/pid")[0] == 200  # still serving during the delay
        assert server.proc.wait(timeout=15) == 0


def test_liveness_fails_for_a_worker_that_stopped_then_recovers() -> None:
    with pod("--workers", "1", "--timeout", "1") as server:
        wait_for(server, "/alive", 200)
        worker = int(get(server, "/pid")[1])
        os.kill(worker, signal.SIGSTOP)  # its loop stops heartbeating
        try:
            wait_for(server, "/alive", 500, timeout=5)
        finally:
            os.kill(worker, signal.SIGCONT)
        wait_for(server, "/alive", 200, timeout=15)  # the master replaced it


def test_probes_on_the_app_port_are_answered_by_the_engine() -> None:
    port = free_port()
    with run_server([APP, "--workers", "1", "--probe-port", str(port)], port=port) as server:
        deadline = time.monotonic() + 10
        while probe(server, "/startup", port=port)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert probe(server, "/ready", port=port)[:2] == (200, "ready\n")
        assert probe(server, "/readyz?verbose", port=port)[1].endswith("readyz check passed\n")
        # The application still gets every other path (it answers 404 for /nope).
        assert get(server, "/nope") == (404, b"not found")


def test_custom_paths_get_their_leading_slash() -> None:
    with pod("--workers", "1", "--readiness-probe", "readyness") as server:
        assert wait_for(server, "/readyness", 200) == "ready\n"
        assert probe(server, "/ready")[0] == 404


def test_no_probe_opens_no_probe_port() -> None:
    port = free_port()
    with run_server([APP, "--workers", "1", "--probe-port", str(port), "--no-probe"]) as server:
        assert get(server, "/pid")[0] == 200
        with pytest.raises(ConnectionRefusedError):
            probe(server, "/ready", port=port)


def test_port_0_gets_its_probes_next_to_the_port_it_got() -> None:
    # --port 0: the default probe port is the bound port + 1, not port 1.
    argv = [APP, "--host", "127.0.0.1", "--port", "0", "--workers", "1"]

    def listening(server: ServerProcess) -> None:
        poll(
            lambda: "Listening on" in server.log() or server.proc.poll() is not None,
            "the line Listening on", timeout=30, detail=lambda: "\n" + server.log()[-2000:],
        )  # fmt: skip

    with run_server(argv, listen=False, ready=listening) as server:
        line = server.log()  # "Probes on http://127.0.0.1:P ...", then "Listening on ..."
        found = re.search(r"Probes on http://127\.0\.0\.1:(\d+)", line)
        assert found, line
        app_port = int(re.search(r"Listening on http://127\.0\.0\.1:(\d+)", line).group(1))
        assert int(found.group(1)) == app_port + 1


def test_port_0_is_picked_again_while_its_neighbour_is_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--port 0: when the port the kernel picked has its neighbour (the default
    probe port) in use, another pick is made instead of failing to start."""
    import logging

    from squall import _core, bootstrap
    from squall.options import parse_config
    from squall.server import master_config

    with socket.socket() as busy:
        while True:  # a busy port whose lower neighbour is free
            busy.bind(("127.0.0.1", 0))
            taken = busy.getsockname()[1]
            with socket.socket() as below:
                try:
                    below.bind(("127.0.0.1", taken - 1))
                    break
                except OSError:
                    busy.close()
                    busy = socket.socket()  # noqa: PLW2901
        busy.listen()
        picks = iter([taken - 1, 0])  # the kernel's first pick: next to the busy port
        real_master = _core.Master

        class FirstPickNextToBusy:
            def __init__(self, engine: _core.MasterConfig) -> None:
                self.master = real_master(engine)

            def listen(self, host: str, port: int, backlog: int, reuse_port: bool) -> int:
                assert port == 0
                return self.master.listen(host, next(picks), backlog, reuse_port)

            def listen_probe(self, host: str, port: int) -> int:
                return self.master.listen_probe(host, port)

        monkeypatch.setattr(_core, "Master", FirstPickNextToBusy)
        config, _ = parse_config([APP, "--host", "127.0.0.1", "--port", "0"], environ={})
        started = bootstrap.start_master(
            master_config(config, checker=False), config, logging.getLogger("test"), app_port=True
        )
        assert started is not None
        master, port = started
        assert port not in (None, taken - 1)
        with socket.create_connection(("127.0.0.1", port + 1), timeout=2):
            pass  # the probe port listens next to the port it got
        del master


def post(port: int, path: str, body: bytes, chunked: bool = False) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if chunked:
            conn.request("POST", path, body=iter([body]), encode_chunked=True)
        else:
            conn.request("POST", path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    except (ConnectionResetError, BrokenPipeError):
        return 0, b""  # refused before the whole body was sent
    finally:
        conn.close()


def test_a_post_with_a_small_body_to_a_probe_path_is_answered() -> None:
    # As Hurricane does: a body of up to 64 KiB is read and dropped; more is 413.
    port = free_port()
    same_port = [APP, "--workers", "1", "--probe-port", str(port)]
    with pod("--workers", "1") as server, run_server(same_port, port=port) as same:
        wait_for(server, "/startup", 200)
        while probe(same, "/startup", port=port)[0] != 200:
            time.sleep(0.02)
        for where in (server.probe_port, port):  # the probe port, and probes on the app port
            assert post(where, "/alive", b"x" * 100) == (200, b"alive\n"), where
            assert post(where, "/ready", b"{}", chunked=True) == (200, b"ready\n"), where
            assert post(where, "/alive", b"x" * 64 * 1024)[0] == 200, where
            status, body = post(where, "/alive", b"x" * (64 * 1024 + 1))
            assert status == 413 and b"larger than 65536 bytes" in body, (where, status, body)
            status, _ = post(where, "/alive", b"x" * 200 * 1024, chunked=True)
            assert status in (413, 0), (where, status)
        # The app port's own routes keep --max-body-size.
        assert post(port, "/nope", b"x" * 200 * 1024)[0] == 404
