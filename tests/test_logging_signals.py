"""What an operator sees: the access log, JSON logs, and how the server stops.

Servers run tests/apps/wsgi_apps.py:app. Logs are read after the server has
exited, so every line is written. (A bad option's exit status 2 and one-line
error are in test_cli_errors.py.)
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import serverproc
from polling import wait_for_line
from serverproc import ServerProcess, read_response, run_server

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@contextmanager
def serve(tmp_path: Path, *options: str) -> Iterator[ServerProcess]:
    env = {"WSGI_APPS_RECORD": str(tmp_path / "record.txt")}
    # --shutdown-delay 0: SIGTERM drains at once (the delay itself is tested
    # with the process model, tests/test_process_model.py).
    with run_server(["wsgi_apps:app", "--shutdown-delay", "0", *options], env=env) as server:
        yield server


def send_requests(server: ServerProcess) -> None:
    """GET /hello, GET /hello?x=1, POST /body (5 bytes), GET /missing (404)."""
    assert requests.get(server.url + "/hello", timeout=5).status_code == 200
    assert requests.get(server.url + "/hello?x=1", timeout=5).status_code == 200
    assert requests.post(server.url + "/body", data=b"hello", timeout=5).status_code == 200
    assert requests.get(server.url + "/missing", timeout=5).status_code == 404


def stopped_log(server: ServerProcess) -> list[str]:
    assert server.stop() == 0
    return server.log().splitlines()


def test_access_log_has_one_line_per_request(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        send_requests(server)
        lines = [line for line in stopped_log(server) if " squall.access: " in line]
    assert len(lines) == 4, lines
    prefix = TIME + r" INFO squall\.access: 127\.0\.0\.1 "
    duration = r" \d+\.\d{3}ms request_id=[0-9a-f]{32} trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}"
    assert re.fullmatch(prefix + r'"GET /hello HTTP/1\.1" 200 13' + duration, lines[0])
    assert re.fullmatch(prefix + r'"GET /hello\?x=1 HTTP/1\.1" 200 13' + duration, lines[1])
    assert re.fullmatch(prefix + r'"POST /body HTTP/1\.1" 200 \d+' + duration, lines[2])
    assert re.fullmatch(prefix + r'"GET /missing HTTP/1\.1" 404 12' + duration, lines[3])


def test_no_access_log_writes_none(tmp_path: Path) -> None:
    with serve(tmp_path, "--no-access-log") as server:
        send_requests(server)
        log = "\n".join(stopped_log(server))
    assert "squall.access" not in log
    assert "Listening on" in log


def test_log_level_governs_the_engines_own_lines_too(tmp_path: Path) -> None:
    # The worker's "SIGTERM: finishing in-flight requests" line is written by
    # the C++ engine at info; the 400 of a malformed request at info too.
    lines = {}
    for level in ("info", "warning"):
        with serve(tmp_path, "--log-level", level) as server:
            send_requests(server)
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
                assert c.recv(4096).startswith(b"HTTP/1.1 400 ")
            lines[level] = "\n".join(stopped_log(server))
    assert "SIGTERM: finishing in-flight requests" in lines["info"]
    assert "squall.http" in lines["info"]
    assert "SIGTERM: finishing in-flight requests" not in lines["warning"]
    assert "squall.http" not in lines["warning"]
    assert "squall.access" in lines["warning"]  # the access log has its own switch


def json_events(lines: list[str]) -> list[dict]:
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return events


def test_json_log_lines_are_json_objects(tmp_path: Path) -> None:
    with serve(tmp_path, "--log-format", "json") as server:
        send_requests(server)
        events = json_events(stopped_log(server))
    access = [e for e in events if e["logger"] == "squall.access"]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [
        ("GET", "/hello", 200),
        ("GET", "/hello?x=1", 200),
        ("POST", "/body", 200),
        ("GET", "/missing", 404),
    ]
    assert access[0]["bytes"] == 13
    assert any("Listening on" in e["message"] for e in events)
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in events)


def test_json_log_keeps_an_application_traceback_in_one_line(tmp_path: Path) -> None:
    with serve(tmp_path, "--log-format", "json") as server:
        assert requests.get(server.url + "/crash", timeout=5).status_code == 500
        events = json_events(stopped_log(server))
    errors = [e for e in events if e["level"] == "error"]
    assert len(errors) == 1
    assert "RuntimeError: crash-marker" in errors[0]["exc_info"]


# ---- signals -----------------------------------------------------------------------------


def assert_refuses_connections(server: ServerProcess) -> None:
    with pytest.raises(ConnectionRefusedError):
        server.connect(timeout=1).close()


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tmp_path: Path) -> None:
    result: dict[str, requests.Response] = {}
    with serve(tmp_path) as server:
        url = server.url + "/slow?ms=2000&id=inflight"
        client = threading.Thread(target=lambda: result.update(r=requests.get(url, timeout=10)))
        client.start()
        wait_for_line(tmp_path / "record.txt", "inflight started")
        server.proc.send_signal(signal.SIGTERM)
        client.join(timeout=10)
        assert server.proc.wait(timeout=10) == 0
        response = result["r"]
        assert (response.status_code, response.text) == (200, "done")
        assert response.headers["Connection"] == "close"  # the client must not reuse it
        assert_refuses_connections(server)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_exits_promptly_with_an_idle_keepalive_connection(
    tmp_path: Path, sig: signal.Signals
) -> None:
    with serve(tmp_path) as server, server.connect() as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = read_response(sock)
        assert status == 200 and headers.get("connection") != "close"
        start = time.monotonic()
        server.proc.send_signal(sig)
        assert server.proc.wait(timeout=10) == 0
        assert time.monotonic() - start < 3
        assert_refuses_connections(server)


@pytest.mark.parametrize(
    "argv",
    [
        # squall MODULE: importing the application applies LOGGING after Squall's setup.
        ["demo_test_wsgi"],
        # Each worker sets Django up after its fork.
        ["manage.py", "serve", "--no-preload"],
        # A startup phase: the startup process and the workers set Django up.
        ["manage.py", "serve", "--command", "check"],
    ],
    ids=["squall-cli", "no-preload", "startup-phase"],
)
def test_the_projects_logging_does_not_silence_squall_and_json_is_everywhere(
    tmp_path: Path, argv: list[str]
) -> None:
    env = serverproc.demo_env(
        tmp_path, "logging_settings", DEMO_TEST_RECORD=str(tmp_path / "loads.txt"),
        # An option warning is a json line too.
        HURRICANE_MAX_LIFETIME="1000",
    )
    with run_server(
        [*argv, "--workers", "1", "--shutdown-delay", "0", "--log-format", "json"],
        cwd=serverproc.DEMO_DIR, env=env,
    ) as server:  # fmt: skip
        assert requests.get(server.url + "/no-such-page", timeout=5).status_code == 404
        events = [json.loads(line) for line in stopped_log(server) if line.strip()]
    messages = [(e["logger"], e["message"]) for e in events]
    text = "\n".join(f"{logger}: {message}" for logger, message in messages)
    assert "Listening on http://127.0.0.1:" in text
    assert re.search(r"squall: worker \d+ serving", text)
    assert ("squall.access", "GET /no-such-page") in messages
    assert ("django.request", "Not Found: /no-such-page") in messages
    assert ("squall", "Stopped") in messages
    warning = "HURRICANE_MAX_LIFETIME (environment) is Hurricane's"
    assert any(message.startswith(warning) for _, message in messages)
