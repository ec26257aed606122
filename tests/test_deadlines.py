"""Deadlines and overload, against real server processes (tests/apps/deadline_apps.py).

- At --timeout the client gets 504 and squall.RequestTimeout is raised in the
  request's thread, which unwinds (its finally blocks run, Django's
  got_request_exception sees it with the view's stack); the worker keeps
  serving, the log names the request and shows where the thread was.
- A thread that cannot unwind (blocked in C) gets its worker replaced
  --timeout-grace later.
- Past --max-queue, a request is answered 503 + Retry-After at once, counted
  on /metrics; under 3x overload no client times out.
- Slow clients cost connections, not threads.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from polling import file_lines, wait_for
from serverproc import ServerProcess, probe, read_response, run_server

APP = "deadline_apps:app"


@contextmanager
def serve(
    *options: str, app: str = APP, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    with run_server([app, "--shutdown-delay", "0", *options], env=env) as server:
        yield server


def get(
    server: ServerProcess, path: str, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    with server.connect(timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return read_response(sock, timeout)


def metric(server: ServerProcess, name: str, labels: str = "") -> float:
    text = probe(server, "/metrics")[1]
    pattern = (
        "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)$"
    )
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics:\n{text}"
    return float(found[1])


def log_lines(server: ServerProcess, pattern: str) -> list[re.Match[str]]:
    return [m for m in (re.search(pattern, line) for line in server.log().splitlines()) if m]


# ---- deadlines -------------------------------------------------------------------------------


def test_a_request_past_timeout_gets_504_unwinds_and_the_worker_keeps_serving(
    tmp_path: Path,
) -> None:
    record = tmp_path / "record"
    with serve(
        "--workers", "1", "--threads", "2", "--timeout", "1", env={"DEADLINE_RECORD": str(record)}
    ) as server:
        status, _, body = get(server, "/pid")
        assert status == 200
        worker = int(body)
        started = time.monotonic()
        status, headers, body = get(server, "/hang")
        elapsed = time.monotonic() - started
        assert status == 504, body
        assert headers["connection"] == "close"
        assert re.fullmatch("[0-9a-f]{32}", headers["x-request-id"]), headers
        assert 0.9 < elapsed < 2.5, elapsed
        # The view unwound through its finally block with RequestTimeout.
        wait_for(lambda: "hang finally RequestTimeout" in file_lines(record), "the finally block")
        # The same worker goes on serving.
        assert get(server, "/pid")[2] == str(worker).encode()
        wait_for(lambda: log_lines(server, r"request GET /hang unwound after"), "the unwound line")
        assert metric(server, "squall_request_timeouts_total", 'outcome="unwound"') == 1
        assert metric(server, "squall_request_timeouts_total", 'outcome="worker_replaced"') == 0
        log = server.log()
    # The log names the request and the pid, and shows where the thread was.
    assert re.search(
        r"WARNING squall\.timeout: worker \d+: request GET /hang has run for 1\.\d s "
        r"\(--timeout 1 s\): answered 504",
        log,
    ), log
    assert (
        f"raised RequestTimeout in the thread running GET /hang (pid {worker}); it was at:" in log
    ), log
    stack = log.split("it was at:", 1)[1]
    assert "deadline_apps.py" in stack and "in hang" in stack, log
    assert "killing it" not in log


def test_the_stream_is_closed_when_its_head_was_already_sent(tmp_path: Path) -> None:
    record = tmp_path / "record"
    with serve("--workers", "1", "--timeout", "1", env={"DEADLINE_RECORD": str(record)}) as server:
        with server.connect(10) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(10)
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
        assert got.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"never" not in got and not got.endswith(b"0\r\n\r\n"), (
            got
        )  # incomplete, then closed
        wait_for(lambda: "hang finally RequestTimeout" in file_lines(record), "the finally block")
        assert get(server, "/pid")[0] == 200


def test_django_sees_the_timeout_with_the_view_stack_and_the_client_gets_504(
    tmp_path: Path,
) -> None:
    record = tmp_path / "record"
    env = {"DEADLINE_RECORD": str(record)}
    with serve(
        "--workers", "1", "--timeout", "1", app="deadline_apps:django_app", env=env
    ) as server:
        status, _, _ = get(server, "/hang")
        assert status == 504  # not Django's 500
        wait_for(
            lambda: "signal RequestTimeout hang_view" in file_lines(record), "got_request_exception"
        )
        assert "hang finally RequestTimeout" in file_lines(record)
        assert get(server, "/pid")[0] == 200


def test_a_thread_blocked_in_c_gets_its_worker_replaced_after_the_grace(tmp_path: Path) -> None:
    record = tmp_path / "record"
    options = ["--workers", "1", "--threads", "2", "--timeout", "1", "--timeout-grace", "1"]
    with serve(*options, env={"DEADLINE_RECORD": str(record)}) as server:
        worker = int(get(server, "/pid")[2])
        started = time.monotonic()
        status, _, _ = get(server, "/block-c?s=30")
        assert status == 504  # at --timeout, while the thread is still blocked
        assert time.monotonic() - started < 2.5
        killed = r"squall\.master: worker (\d+): request GET /block-c\S* has run for (\d+\.\d) s "
        (line,) = wait_for(
            lambda: log_lines(
                server, killed + r"\(--timeout 1 s \+ --timeout-grace 1 s\); killing it$"
            ),
            "the grace kill",
            timeout=10,
        )
        assert int(line[1]) == worker and 2.0 <= float(line[2]) < 3.5, line[0]
        wait_for(
            lambda: log_lines(server, rf"worker {worker} killed by SIG(ABRT|KILL) \(timeout\)"),
            "the kill",
        )
        # Its replacement serves, and the outcome is counted.
        replacement = int(get(server, "/pid")[2])
        assert replacement != worker
        assert metric(server, "squall_request_timeouts_total", 'outcome="worker_replaced"') == 1
        assert metric(server, "squall_worker_respawns_total", 'reason="timeout"') == 1
        log = server.log()
    # The replacement was forked before the stuck worker was signalled.
    booted = log.index(f"booting worker {replacement}")
    assert booted < log.index(f"worker {worker} killed by"), log


# ---- overload ------------------------------------------------------------------------------


def test_past_max_queue_requests_get_503_with_retry_after_at_once() -> None:
    options = ["--workers", "1", "--threads", "1", "--max-queue", "2", "--req-queue-len", "1"]
    with serve(*options) as server:
        results: list[tuple[int, dict[str, str], float]] = []
        lock = threading.Lock()

        def one(path: str) -> None:
            started = time.monotonic()
            status, headers, _ = get(server, path)
            with lock:
                results.append((status, headers, time.monotonic() - started))

        threads = [threading.Thread(target=one, args=("/slow?ms=500",)) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.05)  # the thread takes one, two wait: the queue is full
        extra = [threading.Thread(target=one, args=("/pid",)) for _ in range(3)]
        for t in extra:
            t.start()
        for t in threads + extra:
            t.join()
        shed = [r for r in results if r[0] == 503]
        assert len(shed) == 3, results
        assert all(h["retry-after"] == "1" and h["connection"] == "close" for _, h, _ in shed), shed
        assert all(re.fullmatch("[0-9a-f]{32}", h["x-request-id"]) for _, h, _ in shed), shed
        assert all(seconds < 0.4 for *_, seconds in shed), shed  # at once, not after the queue
        assert sorted(r[0] for r in results if r[0] != 503) == [200, 200, 200]
        assert metric(server, "squall_http_request_errors_total", 'reason="overloaded"') == 3


def test_no_client_times_out_under_three_times_the_capacity() -> None:
    # 2 threads x a 50 ms view = 40 requests/s; 12 clients without think time
    # ask about three times what the threads serve in the time a client waits.
    options = ["--workers", "1", "--threads", "2", "--max-queue", "4", "--req-queue-len", "2"]
    with serve(*options) as server:
        statuses: list[int] = []
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        stop = time.monotonic() + 3.0

        def client() -> None:
            while time.monotonic() < stop:
                started = time.monotonic()
                try:
                    status, _, _ = get(server, "/slow?ms=50", timeout=5)
                except (OSError, ConnectionError) as exc:
                    with lock:
                        failures.append(repr(exc))
                    continue
                with lock:
                    statuses.append(status)
                    if status == 200:
                        latencies.append(time.monotonic() - started)

        clients = [threading.Thread(target=client) for _ in range(12)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        assert not failures, failures[:5]
        assert set(statuses) == {200, 503}, set(statuses)
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        # At most 4 waiting + 2 running, 25 ms each: well under a second.
        assert p99 < 1.0, p99


# ---- slow clients --------------------------------------------------------------------------


def test_slow_clients_cost_connections_not_threads_nor_latency() -> None:
    options = ["--workers", "1", "--threads", "2", "--header-timeout", "30", "--body-timeout", "30"]
    with serve(*options) as server:
        slow: list[socket.socket] = []
        try:
            for i in range(200):
                sock = server.connect(5)
                if i % 2:
                    sock.sendall(
                        b"GET /pid HTTP/1.1\r\nHost: x\r\nX-Trickle: "
                    )  # the head, trickled
                else:  # the body, trickled, to a view that reads it
                    sock.sendall(
                        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab"
                    )
                slow.append(sock)
            latencies = []
            for _ in range(100):
                for sock in slow[:20]:
                    sock.send(b"a")  # keep trickling
                started = time.monotonic()
                assert get(server, "/pid")[0] == 200
                latencies.append(time.monotonic() - started)
            latencies.sort()
            assert latencies[98] < 0.1, latencies[-5:]
            # Neither the trickled heads nor the trickled bodies hold a thread
            # or wait in the queue: a body is read before its request is queued.
            # (The gauges are published every 100 ms: one may still count the
            # last GET above. Wait for one that counts the 200 connections and
            # nothing busy or queued; a held thread would keep it from coming.)
            wait_for(
                lambda: metric(server, "squall_connections_active") >= 200
                and metric(server, "squall_threads_busy") == 0
                and metric(server, "squall_requests_queued") == 0,
                "200 open connections, no thread busy, nothing queued",
            )
            # A trickled body that completes is served.
            sock = slow[0]
            sock.sendall(b"c" * (1000 - 2 - 100))  # "ab", then 100 trickled bytes
            status, _, body = read_response(sock, 10)
            assert (status, body) == (200, b"1000")
        finally:
            for sock in slow:
                sock.close()


def test_http_client_sees_the_504_body() -> None:
    with serve("--workers", "1", "--timeout", "1") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/hang")
        response = conn.getresponse()
        assert response.status == 504
        assert b"--timeout" in response.read()
        conn.close()
