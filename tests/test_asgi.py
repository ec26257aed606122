"""ASGI (--interface asgi, manage.py serve --asgi) against real server processes.

tests/apps/asgi_apps.py holds the applications; httpx and raw sockets are the
clients. What is checked is what a client or an operator would notice: bytes
arriving as the application sends them, a disconnect reaching the app, the
answers to failures, the probes while the event loop is busy, the lifespan
protocol deciding whether the pod starts, a drain that finishes a stream.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from polling import free_port, wait_for
from serverproc import (
    ServerProcess,
    probe,
    read_response,
    recv_all,
    run_server,
    run_until_exit,
)
from serverproc import wait_for as wait_for_probe

APP = "asgi_apps:app"


@contextmanager
def serve(
    tmp_path: Path, *options: str, app: str = APP, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    argv = [app, "--interface", "asgi", "--workers", "1", "--shutdown-delay", "0", *options]
    with run_server(argv, env={"ASGI_RECORD": str(tmp_path), **(env or {})}) as server:
        wait_for_probe(server, "/startup", 200)
        yield server


def raw(server: ServerProcess, request: bytes, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    with server.connect(timeout) as sock:
        sock.sendall(request)
        return read_response(sock, timeout)


def metric(server: ServerProcess, name: str) -> float:
    text = probe(server, "/metrics")[1]
    found = re.search("^" + re.escape(name) + r" (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found[1])


# ---- HTTP ------------------------------------------------------------------------------


def test_scope_carries_the_request_and_the_lifespan_state(tmp_path: Path) -> None:
    with serve(tmp_path, "--root-path", "/api", "--forwarded-allow-ips", "127.0.0.1") as server:
        response = httpx.post(
            server.url + "/scope?a=1&b=%20",
            content=b"x",
            headers={"X-Forwarded-Proto": "https", "X-Custom": "v", "X_Spoofed": "no"},
        )
        assert response.status_code == 200
        seen = response.json()
    assert seen["type"] == "http" and seen["asgi"]["version"] == "3.0"
    assert seen["asgi"]["spec_version"] == "2.4"
    assert seen["http_version"] == "1.1" and seen["method"] == "POST"
    assert seen["scheme"] == "https"  # from the trusted proxy's X-Forwarded-Proto
    assert seen["path"] == "/scope" and seen["raw_path"] == "/scope"
    assert seen["query_string"] == "a=1&b=%20"
    assert seen["root_path"] == "/api"
    assert ["x-custom", "v"] in seen["headers"]
    # As under WSGI: a name with "_" could pose as a proxy's header in Django.
    assert not any(name == "x_spoofed" for name, _ in seen["headers"])
    assert seen["client"][0] == "127.0.0.1" and seen["server"][1] == server.port
    assert seen["state"]["started_at"] == "lifespan"


def test_percent_encoded_path_is_decoded_raw_path_is_not(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        status, _, body = raw(server, b"GET /sc%6Fpe HTTP/1.0\r\n\r\n")
    seen = json.loads(body)
    assert status == 200
    assert seen["path"] == "/scope" and seen["raw_path"] == "/sc%6Fpe"
    assert seen["http_version"] == "1.0" and seen["scheme"] == "http"


def test_request_body_arrives_in_messages_and_the_response_has_content_length(
    tmp_path: Path,
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: more than one http.request message
    with serve(tmp_path) as server:
        response = httpx.post(server.url + "/echo", content=body)
        chunked = httpx.post(server.url + "/echo", content=iter([b"a" * 1000, b"b" * 1000]))
    assert response.status_code == 200 and response.content == body
    assert int(response.headers["x-messages"]) > 1
    assert response.headers["content-length"] == str(len(body))
    assert chunked.content == b"a" * 1000 + b"b" * 1000


def test_streamed_body_arrives_as_it_is_sent(tmp_path: Path) -> None:
    with serve(tmp_path) as server, httpx.stream("GET", server.url + "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = response.iter_raw()
        first = next(chunks)
        # The app sends the second chunk only after this file exists: the first
        # one reached the client before the second was produced.
        assert first == b"first\n"
        assert not (tmp_path / "gate").exists()
        (tmp_path / "gate").write_text("")
        rest = b"".join(chunks)
    assert rest == b"second\n"


def test_a_declared_content_length_is_kept_without_chunking(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        status, headers, body = raw(server, b"GET /declared HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and body == b"0123456789"
    assert headers["content-length"] == "10" and "transfer-encoding" not in headers


def test_http_disconnect_reaches_the_app_when_the_client_goes(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        sock = server.connect()
        sock.sendall(b"GET /disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)  # the app is waiting in receive()
        sock.close()
        wait_for(lambda: (tmp_path / "disconnect").exists(), "the app to see the disconnect")
        assert (tmp_path / "disconnect").read_text() == "http.disconnect"
        # A streaming app's send() raises OSError once its client is gone.
        with httpx.stream("GET", server.url + "/ticker") as response:
            next(response.iter_raw())
        wait_for(lambda: (tmp_path / "ticker").exists(), "send() to raise")
        assert (tmp_path / "ticker").read_text() == "ClientDisconnected"
        assert "Exception in the ASGI application" not in server.log()


def test_a_client_that_does_not_read_holds_the_app_back(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        sock = server.connect()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: (tmp_path / "flood").exists(), "the app to start sending")
        time.sleep(1.0)
        sent = int((tmp_path / "flood").read_text())
        # 1 MiB high-water mark plus what the kernel buffers, far from 256 MiB.
        assert sent < 16 * 1024 * 1024, sent
        time.sleep(0.5)
        assert int((tmp_path / "flood").read_text()) == sent  # it waits, it does not spin
        # Reading lets it go on.
        sock.settimeout(5)
        received = 0
        while received < 4 * sent:
            received += len(sock.recv(1 << 20))
        assert int((tmp_path / "flood").read_text()) > sent
        sock.close()


def test_an_exception_gives_500_with_the_traceback_in_the_log(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        with server.connect() as sock:
            sock.sendall(b"GET /raise HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = read_response(sock)
            assert status == 500 and body == b"Internal Server Error\n"
            # The connection stays usable.
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[2] == b"Hello, World!"
        # After the head: the connection closes without the last chunk.
        with server.connect() as sock:
            sock.sendall(b"GET /raise-late HTTP/1.1\r\nHost: x\r\n\r\n")
            data = recv_all(sock)
        assert data.startswith(b"HTTP/1.1 200") and b"partial" in data
        assert not data.endswith(b"0\r\n\r\n")
        assert raw(server, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 500
        log = server.log()
    assert "Exception in the ASGI application (GET /raise)" in log
    assert 'RuntimeError: boom before the response' in log and "Traceback" in log
    assert "returned before sending http.response.start (GET /nothing)" in log


def test_trailers_and_bad_headers_are_refused_with_500(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        trailers = raw(server, b"GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n")
        bad = raw(server, b"GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n")
        log = server.log()
    assert trailers[0] == 500 and bad[0] == 500
    assert "injected" not in bad[1]
    assert "http.response.trailers extension" in log
    assert "CR/LF injection" in log


def test_an_app_that_never_answers_gets_504_at_timeout_and_its_task_is_cancelled(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, "--timeout", "1") as server:
        started = time.monotonic()
        status, headers, _ = raw(server, b"GET /never HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
        elapsed = time.monotonic() - started
        assert status == 504 and headers["connection"] == "close"
        assert 0.9 < elapsed < 2.5, elapsed
        wait_for(lambda: (tmp_path / "cancelled").exists(), "the task to be cancelled")
        # The worker goes on serving.
        assert httpx.get(server.url + "/hello").text == "Hello, World!"
        wait_for(lambda: "unwound after its --timeout" in server.log(), "the unwound line")
        assert metric(server, 'squall_request_timeouts_total{outcome="unwound"}') == 1


def test_a_worker_whose_event_loop_stays_blocked_is_replaced(tmp_path: Path) -> None:
    with serve(tmp_path, "--timeout", "1", "--timeout-grace", "1") as server:
        old = httpx.get(server.url + "/pid").text
        status, _, _ = raw(server, b"GET /block?60 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
        assert status == 504  # the I/O thread answers at --timeout
        wait_for(lambda: "(event loop blocked) has run for" in server.log(), "the master", 15)
        wait_for_probe(server, "/ready", 200, timeout=15)
        assert httpx.get(server.url + "/pid").text != old


def test_probes_answer_while_the_event_loop_is_blocked(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        sock = server.connect()
        sock.sendall(b"GET /block?3 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        for path in ("/alive", "/ready", "/metrics"):
            started = time.monotonic()
            status, _, _ = probe(server, path)
            assert status == 200
            assert time.monotonic() - started < 0.1, path
        assert read_response(sock, timeout=10)[2] == b"unblocked"
        sock.close()


def test_requests_waiting_for_the_app_count_against_readiness(tmp_path: Path) -> None:
    with serve(tmp_path, "--req-queue-len", "2") as server:
        socks = []
        for _ in range(3):
            sock = server.connect()
            sock.sendall(b"GET /gated HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(sock)
        # Hurricane's answer to a full queue: 400 "request queue is full".
        assert "queue is full" in wait_for_probe(server, "/ready", 400)
        (tmp_path / "gate-open").write_text("")
        for sock in socks:
            assert read_response(sock)[2] == b"through"
            sock.close()
        wait_for_probe(server, "/ready", 200)


def test_access_log_and_server_metrics_count_asgi_requests(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        for _ in range(3):
            assert httpx.get(server.url + "/hello").status_code == 200
        wait_for(lambda: server.log().count('"GET /hello HTTP/1.1" 200 13') == 3, "access lines")


def test_uvloop_and_asyncio_loops(tmp_path: Path) -> None:
    for loop in ("asyncio", "uvloop"):
        with serve(tmp_path, "--loop", loop) as server:
            assert httpx.get(server.url + "/hello").text == "Hello, World!"
            assert f"(ASGI, {loop} loop)" in server.log()


# ---- lifespan and shutdown ---------------------------------------------------------------


@pytest.mark.parametrize("app", ["asgi_apps:failing_startup", "asgi_apps:raising_startup"])
def test_lifespan_startup_failure_exits_1_without_passing_the_startup_probe(
    tmp_path: Path, app: str
) -> None:
    argv = [app, "--interface", "asgi", "--workers", "2", "--host", "127.0.0.1"]
    argv += ["--port", str(free_port()), "--probe-port", str(free_port())]
    started = time.monotonic()
    result = run_until_exit(argv, env={"ASGI_RECORD": str(tmp_path)}, timeout=30)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 15
    assert "ASGI lifespan startup failed" in result.stderr
    assert "the application could not start" in result.stderr
    assert "startup finished" not in result.stderr  # the startup probe never passed
    if app.endswith("failing_startup"):
        assert "the database is not there" in result.stderr
    else:
        assert "RuntimeError: startup exploded" in result.stderr


def test_lifespan_off_never_asks_the_app(tmp_path: Path) -> None:
    # failing_startup would refuse to start: with --lifespan off it is not asked.
    with serve(tmp_path, "--lifespan", "off", app="asgi_apps:failing_startup") as server:
        assert httpx.get(server.url + "/").text == "never served"


def test_an_app_without_lifespan_is_served_without_state(tmp_path: Path) -> None:
    with serve(tmp_path, app="asgi_apps:no_lifespan") as server:
        assert httpx.get(server.url + "/").json() == {"state": False}
        assert "does not support lifespan" in server.log()


def test_sigterm_finishes_a_stream_and_runs_lifespan_shutdown(tmp_path: Path) -> None:
    with serve(tmp_path, "--shutdown-delay", "0.5") as server:
        pid = int(httpx.get(server.url + "/pid").text)
        with httpx.stream("GET", server.url + "/slow-stream") as response:
            chunks = response.iter_raw()
            assert next(chunks).startswith(b"part 0")
            server.proc.send_signal(signal.SIGTERM)
            assert "shutdown" in wait_for_probe(server, "/ready", 500)
            rest = b"".join(chunks)
        assert rest.endswith(b"part 9\nend\n")
        assert server.proc.wait(timeout=15) == 0
    assert (tmp_path / f"shutdown-{pid}").exists()
