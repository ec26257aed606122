"""core/ws against a real WebSocket client: squall_ws_echo (tests/tools/ws_echo.cpp,
an echo server on ws::Session) driven by the `websockets` library and by raw
frames for the bad input a library will not send. The Autobahn|Testsuite run is
scripts/autobahn.sh (docs/websockets.md)."""

import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "tests"


@pytest.fixture(scope="module")
def echo_binary() -> Path:
    # The tool is built with the C++ tests (make test-cpp); build it if missing.
    subprocess.run(
        [
            "cmake",
            "-S",
            ROOT,
            "-B",
            BUILD,
            "-G",
            "Ninja",
            "-DSQUALL_BUILD_TESTS=ON",
            "-DCMAKE_BUILD_TYPE=Debug",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["cmake", "--build", BUILD, "--target", "squall_ws_echo"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": "2"},
    )
    return BUILD / "squall_ws_echo"


def start(binary: Path, *args: str) -> Iterator[str]:
    proc = subprocess.Popen([binary, "--port", "0", *args], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield f"ws://127.0.0.1:{int(line.split()[2])}"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def echo(echo_binary: Path) -> Iterator[str]:
    yield from start(echo_binary)


@pytest.fixture(scope="module")
def small_echo(echo_binary: Path) -> Iterator[str]:
    yield from start(echo_binary, "--max-message", "1000")


def test_text_and_binary_are_echoed_with_deflate_negotiated(echo: str) -> None:
    with connect(echo) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
        ws.send("κόσμε")
        assert ws.recv() == "κόσμε"
        big = bytes(range(256)) * 4096  # 1 MiB, compressed both ways
        ws.send(big)
        assert ws.recv() == big
        ws.send(["frag", "mented"])  # a fragmented message
        assert ws.recv() == "fragmented"
        ws.ping(b"x").wait(5)  # answered by the session
        ws.close()
    assert ws.close_code == 1000


def test_without_compression(echo: str) -> None:
    with connect(echo, compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("plain" * 1000)
        assert ws.recv() == "plain" * 1000


def test_oversize_message_closes_with_1009(small_echo: str) -> None:
    with connect(small_echo, compression=None) as ws:
        ws.send("x" * 1000)
        assert ws.recv() == "x" * 1000
        ws.send("x" * 1001)
        with pytest.raises(ConnectionClosedError):
            ws.recv()
    assert ws.close_code == 1009


def test_zip_bomb_is_stopped_at_the_limit(small_echo: str) -> None:
    with connect(small_echo) as ws:
        ws.send(b"\0" * (16 << 20))  # 16 MiB of zeros: about 16 KiB compressed
        with pytest.raises(ConnectionClosedError):
            ws.recv()
    assert ws.close_code == 1009


def raw_session(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head
    return s


def frame(opcode: int, payload: bytes, masked: bool = True, fin: bool = True) -> bytes:
    key = b"\x01\x02\x03\x04"
    head = bytes([(0x80 if fin else 0) | opcode, (0x80 if masked else 0) | len(payload)])
    if not masked:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code_after(url: str, data: bytes) -> int:
    with raw_session(url) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    assert got[:2] == b"\x88\x02", got  # the close frame, and then the server closed
    return struct.unpack("!H", got[2:4])[0]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0x1, b"Hello", masked=False), 1002),  # unmasked client frame
        (frame(0x3, b""), 1002),  # reserved opcode
        (bytes([0xC1, 0x80, 1, 2, 3, 4]), 1002),  # RSV1 without permessage-deflate
        (frame(0x9, b"p", fin=False), 1002),  # fragmented ping
        (frame(0x0, b"x"), 1002),  # continuation of nothing
        (frame(0x8, b"\x03\xed"), 1002),  # close code 1005 on the wire
        (frame(0x1, b"\xce\xba\xed\xa0\x80"), 1007),  # a surrogate in UTF-8
        (frame(0x1, b"\xf4\x90\x80\x80", fin=False), 1007),  # > U+10FFFF, before the message ends
        (frame(0x8, b"\x03\xe8\xff"), 1007),  # close reason not UTF-8
    ],
)
def test_bad_frames_close_with_their_code(echo: str, data: bytes, code: int) -> None:
    assert close_code_after(echo, data) == code


def test_bad_handshakes_are_refused(echo: str) -> None:
    port = int(echo.rsplit(":", 1)[1])
    for request, status in [
        (b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", b"426"),
        (b"Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n", b"400"),
    ]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + request
                + b"\r\n"
            )
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 " + status), answer
        if status == b"426":
            assert b"\r\nSec-WebSocket-Version: 13\r\n" in answer
