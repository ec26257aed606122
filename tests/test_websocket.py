"""WebSockets under --interface asgi, against real server processes.

The client is the `websockets` library (a real RFC 6455 client with
permessage-deflate), and raw sockets where a client must misbehave (an
unmasked frame, invalid UTF-8). tests/apps/asgi_apps.py holds the app.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from polling import wait_for
from serverproc import ServerProcess, probe, read_response, run_server
from serverproc import wait_for as wait_for_probe
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

APP = "asgi_apps:app"


@contextmanager
def serve(tmp_path: Path, *options: str) -> Iterator[ServerProcess]:
    argv = [APP, "--interface", "asgi", "--workers", "1", "--shutdown-delay", "0", *options]
    with run_server(argv, env={"ASGI_RECORD": str(tmp_path)}) as server:
        wait_for_probe(server, "/startup", 200)
        yield server


def ws_url(server: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def closed_code(ws: ClientConnection) -> int:
    """Waits for the server's close; the code the client received."""
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=10)
    assert ws.close_code is not None, "the server sent no close frame"
    return ws.close_code


def metric(server: ServerProcess, name: str, labels: str = "") -> float:
    text = probe(server, "/metrics")[1]
    selector = r"\{" + re.escape(labels) + r"\}" if labels else ""
    pattern = "^" + re.escape(name) + selector + r" (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics"
    return float(found[1])


# ---- raw client, for frames a library would not send ------------------------------------


def raw_handshake(server: ServerProcess, path: str = "/ws/echo", extra: str = "") -> socket.socket:
    sock = server.connect()
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(opcode: int, payload: bytes, *, mask: bool = True, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    key = os.urandom(4) if mask else b""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    else:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if mask else payload
    return head + key + body


def read_close(sock: socket.socket) -> int:
    """Reads frames until the server's close frame; its code."""
    sock.settimeout(5)
    buf = b""
    while True:
        while len(buf) < 2:
            buf += sock.recv(4096)
        opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
        offset = 2
        if length == 126:
            while len(buf) < 4:
                buf += sock.recv(4096)
            length, offset = struct.unpack("!H", buf[2:4])[0], 4
        while len(buf) < offset + length:
            buf += sock.recv(4096)
        payload, buf = buf[offset : offset + length], buf[offset + length :]
        if opcode == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


# ---- the tests ---------------------------------------------------------------------------


def test_echo_text_and_binary_with_subprotocol_headers_and_deflate(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        with connect(ws_url(server, "/ws/echo"), subprotocols=["a", "chat"]) as ws:
            assert ws.subprotocol == "chat"  # the app picked the client's last offer
            assert ws.response.headers["x-accepted"] == "yes"
            # websockets offers permessage-deflate; the engine negotiates it (RFC 7692).
            assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
            ws.send("héllo")
            assert ws.recv(timeout=5) == "héllo"
            ws.send(b"\x00\x01\xff")
            assert ws.recv(timeout=5) == b"\x00\x01\xff"
            big = "z" * 500_000  # compressible, fragmented on the wire
            ws.send(big)
            assert ws.recv(timeout=5) == big
            # The gauge is published every 100 ms.
            wait_for(lambda: metric(server, "squall_websocket_connections") == 1, "the gauge")
        wait_for(lambda: (tmp_path / "ws-disconnect").exists(), "the app to see the disconnect")
        assert (tmp_path / "ws-disconnect").read_text() == "1000"
        assert metric(server, "squall_websocket_messages_total", 'direction="in"') == 3
        assert metric(server, "squall_websocket_messages_total", 'direction="out"') == 3
        assert metric(server, "squall_websocket_opened_total") == 1
        wait_for(lambda: metric(server, "squall_websocket_closes_total", 'code="1000"') == 1,
                 "the close to be counted")  # fmt: skip
        wait_for(lambda: metric(server, "squall_websocket_connections") == 0, "the gauge")
        assert '"GET /ws/echo HTTP/1.1" 101' in server.log()


def test_websocket_scope(tmp_path: Path) -> None:
    with serve(tmp_path) as server, connect(ws_url(server, "/ws/scope?q=1")) as ws:
        seen = json.loads(ws.recv(timeout=5))
    assert seen["type"] == "websocket" and seen["scheme"] == "ws"
    assert seen["path"] == "/ws/scope" and seen["query_string"] == "q=1"
    assert seen["subprotocols"] == [] and seen["http_version"] == "1.1"
    assert seen["state"]["started_at"] == "lifespan"


def test_close_before_accept_is_403_and_bad_handshakes_are_refused(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(server, "/ws/refuse"))
        assert refused.value.response.status_code == 403
        with server.connect() as sock:
            sock.sendall(
                b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
            )
            status, headers, _ = read_response(sock)
        assert status == 426 and headers["sec-websocket-version"] == "13"
        with server.connect() as sock:
            sock.sendall(
                b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            assert read_response(sock)[0] == 400
        assert metric(server, "squall_websocket_handshake_failures_total") == 2
        assert "WebSocket handshake refused" in server.log()


def test_protocol_errors_close_with_the_right_code(tmp_path: Path) -> None:
    with serve(tmp_path, "--ws-max-message-size", "1000") as server:
        with connect(ws_url(server, "/ws/echo"), max_size=None) as ws:
            ws.send("x" * 1001)
            assert closed_code(ws) == 1009  # message too big
        sock = raw_handshake(server)
        sock.sendall(frame(0x1, b"\xff\xfe"))  # invalid UTF-8 in a text frame
        assert read_close(sock) == 1007
        sock.close()
        sock = raw_handshake(server)
        sock.sendall(frame(0x1, b"hi", mask=False))  # RFC 6455 5.1: clients must mask
        assert read_close(sock) == 1002
        sock.close()
        # The server goes on serving.
        with connect(ws_url(server, "/ws/echo")) as ws:
            ws.send("still here")
            assert ws.recv(timeout=5) == "still here"
        for code in ("1009", "1007", "1002"):
            assert metric(server, "squall_websocket_closes_total", f'code="{code}"') == 1


def test_app_close_code_exception_1011(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        with connect(ws_url(server, "/ws/close")) as ws:
            assert closed_code(ws) == 4001
            assert ws.close_reason == "bye"
        with connect(ws_url(server, "/ws/raise")) as ws:
            assert closed_code(ws) == 1011
        log = server.log()
    assert "Exception in the ASGI application (WebSocket GET /ws/raise)" in log
    assert "RuntimeError: boom in a websocket" in log


def test_a_client_that_does_not_read_holds_the_app_back(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        sock = raw_handshake(server, "/ws/flood")
        wait_for(lambda: (tmp_path / "ws-flood").exists(), "the app to start sending")
        time.sleep(1.0)
        sent = int((tmp_path / "ws-flood").read_text())
        assert sent < 16 * 1024 * 1024, sent  # bounded, far from 256 MiB
        time.sleep(0.5)
        assert int((tmp_path / "ws-flood").read_text()) == sent
        sock.close()


def test_sigterm_sends_1001_after_the_shutdown_delay(tmp_path: Path) -> None:
    with serve(tmp_path, "--shutdown-delay", "1") as server:
        with connect(ws_url(server, "/ws/echo")) as ws:
            server.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert closed_code(ws) == 1001
            assert time.monotonic() - started >= 0.9  # not before --shutdown-delay
        assert server.proc.wait(timeout=15) == 0
    assert (tmp_path / "ws-disconnect").read_text() == "1001"


def test_a_recycled_worker_sends_1012(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        with connect(ws_url(server, "/ws/echo")) as ws:
            ws.send("pid")
            old = ws.recv(timeout=5)
            server.proc.send_signal(signal.SIGHUP)  # replace every worker, one at a time
            assert closed_code(ws) == 1012
        with connect(ws_url(server, "/ws/echo")) as fresh:
            fresh.send("pid")
            assert fresh.recv(timeout=5) != old
