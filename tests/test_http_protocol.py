"""HTTP/1.1 protocol behaviour of the engine, end to end over raw sockets.

Real server processes run tests/apps/protocol_apps.py (see its docstring for
the routes). Requests are written byte for byte; responses are parsed by a
small strict client that keeps unread bytes, so pipelined responses, stray
body bytes after a HEAD response and early closes are all visible.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from apps.protocol_apps import BIG_CHUNK, big_chunk
from polling import wait_for as poll
from serverproc import ServerProcess, run_server

APP = "protocol_apps:app"
MiB = 1024 * 1024
DAY, MONTH = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)", "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
IMF_FIXDATE = rf"{DAY}, \d\d {MONTH} \d{{4}} \d\d:\d\d:\d\d GMT"  # RFC 9110 5.6.7


# ---- a strict raw-socket client ---------------------------------------------------------


@dataclass
class Response:
    version: str
    status: int
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes


class Client:
    """One connection; reads responses one at a time and keeps what follows."""

    def __init__(self, server: ServerProcess, timeout: float = 5.0) -> None:
        self.sock = server.connect(timeout)
        self.buf = b""
        self.received = 0  # bytes, over the connection's life
        self.read_delay = 0.0  # seconds before each recv: a slow reader

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        time.sleep(self.read_delay)
        data = self.sock.recv(256 * 1024)
        if not data:
            raise ConnectionError(
                f"closed by the server after {self.received} bytes; unparsed: {self.buf[:40]!r}"
            )
        self.received += len(data)
        self.buf += data

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def head(self) -> Response:
        """Reads a response head (interim 1xx ones included), no body."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        match = re.fullmatch(r"(HTTP/1\.[01]) (\d{3}) .*", status_line)
        assert match, f"not a status line: {status_line!r}"
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), f"bad header line {line!r}"
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        return Response(match[1], int(match[2]), headers, b"")

    def response(self, method: str = "GET") -> Response:
        """Reads one final response (skipping nothing: a 1xx is returned as is)."""
        r = self.head()
        if method == "HEAD" or r.status < 200 or r.status in (204, 304):
            return r
        if r.headers.get("transfer-encoding") == "chunked":
            r.body = self._chunked_body()
        elif "content-length" in r.headers:
            r.body = self._take(int(r.headers["content-length"]))
        else:
            r.body = self.rest_until_close() or b""
        return r

    def _chunked_body(self) -> bytes:
        parts = []
        while size := int(self._line().split(b";")[0], 16):
            parts.append(self._take(size))
            assert self._take(2) == b"\r\n", "chunk data not followed by CRLF"
        while self._line():  # trailer section
            pass
        return b"".join(parts)

    def rest_until_close(self, timeout: float = 5.0) -> bytes | None:
        """Everything the server sends until it closes, or None if it stays open."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                data = self.sock.recv(256 * 1024)
                if not data:
                    break
                self.received += len(data)
                self.buf += data
            else:
                return None
        except TimeoutError:
            return None
        except ConnectionResetError:
            pass
        out, self.buf = self.buf, b""
        return out

    def silent_for(self, seconds: float) -> bool:
        """True if the server sends nothing (and does not close) for `seconds`."""
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


@contextmanager
def client(server: ServerProcess, timeout: float = 5.0) -> Iterator[Client]:
    c = Client(server, timeout)
    try:
        yield c
    finally:
        c.close()


EXPECT = "Expect: 100-continue"
SMUGGLED = "GET /smuggled/{} HTTP/1.1\r\nHost: x\r\n\r\n"  # must never reach the app


def get(path: str, *headers: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", *headers, "", ""]
    return "\r\n".join(lines).encode()


def post(path: str, body: bytes, *headers: str) -> bytes:
    return get(path, f"Content-Length: {len(body)}", *headers, method="POST") + body


def chunked_post(path: str, *headers: str) -> bytes:
    return get(path, "Transfer-Encoding: chunked", *headers, method="POST")


def exchange(
    server: ServerProcess, request: bytes, method: str = "GET", timeout: float = 5.0
) -> Response:
    with client(server, timeout) as c:
        c.send(request)
        return c.response(method)


def seen_paths(server: ServerProcess) -> list[str]:
    return exchange(server, get("/seen")).body.decode().split("\n")


def assert_closed(c: Client, timeout: float = 5.0) -> None:
    rest = c.rest_until_close(timeout)
    assert rest is not None, "the server kept the connection open"
    assert rest == b"", f"unexpected bytes after the response: {rest[:200]!r}"


def rss_kib(server: ServerProcess, field: str = "VmHWM") -> int:
    """The server's resident memory (VmRSS) or its peak so far (VmHWM), in KiB."""
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match[1])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- servers -------------------------------------------------------------------------


@contextmanager
def serve(*argv: str) -> Iterator[ServerProcess]:
    with run_server([APP, "--no-access-log", *argv]) as server:
        yield server


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with serve("--threads", "4") as s:
        yield s


MAX_REQUEST_LINE, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_BODY_SIZE = 256, 2048, 10, MiB
LIMITS = {
    "--max-request-line": str(MAX_REQUEST_LINE),
    "--max-header-bytes": str(MAX_HEADER_BYTES),
    "--max-header-count": str(MAX_HEADER_COUNT),
    "--max-body-size": str(MAX_BODY_SIZE),
    "--header-timeout": "1",
    "--keepalive-timeout": "1",
    "--body-timeout": "1",
}


@pytest.fixture(scope="module")
def limited() -> Iterator[ServerProcess]:
    with serve("--threads", "8", *(x for kv in LIMITS.items() for x in kv)) as s:
        yield s


# ---- 1. connection management --------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(server: ServerProcess) -> None:
    with client(server) as c:
        for path in ("/one", "/two", "/three"):
            c.send(get(path))
            r = c.response()
            assert (r.status, r.body) == (200, path.encode())
            assert "close" not in r.headers.get("connection", "")


def test_pipelined_responses_come_back_in_request_order(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(get("/sleep?ms=300") + get("/a") + get("/b"))
        bodies = [c.response().body for _ in range(3)]
    assert bodies == [b"slept 300", b"/a", b"/b"]


def test_many_pipelined_requests_are_all_answered_in_order(server: ServerProcess) -> None:
    paths = [f"/p{i}" for i in range(100)]
    with client(server) as c:
        c.send(b"".join(get(p) for p in paths))
        assert [c.response().body.decode() for _ in paths] == paths


def test_pipelined_body_is_not_mistaken_for_the_next_request(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(post("/echo", b"GET /x HTTP/1.1\r\n\r\n") + get("/after-post"))
        assert c.response().body == b"GET /x HTTP/1.1\r\n\r\n"
        assert c.response().body == b"/after-post"


def test_http10_closes_after_the_response_by_default(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        r = c.response()
        assert (r.status, r.body) == (200, b"/old")
        assert "keep-alive" not in r.headers.get("connection", "").lower()
        assert_closed(c)


def test_http10_keep_alive_is_honoured_and_announced(server: ServerProcess) -> None:
    with client(server) as c:
        for path in ("/x", "/y"):
            c.send(get(path, "Connection: keep-alive", version="1.0"))
            r = c.response()
            assert (r.status, r.body) == (200, path.encode())
            assert r.headers["connection"].lower() == "keep-alive"


def test_http10_streamed_response_ends_with_the_connection(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(get("/stream?n=3", "Connection: keep-alive", version="1.0"))
        r = c.response()  # neither length nor chunked: read until the close
        assert (r.status, r.body) == (200, b"part0-part1-part2-")
        assert "transfer-encoding" not in r.headers and "content-length" not in r.headers
        assert r.headers["connection"].lower() == "close"


@pytest.mark.parametrize("value", ["close", "Close", "keep-alive, close"])
def test_connection_close_is_honoured(server: ServerProcess, value: str) -> None:
    after = f"/after-close/{value}"
    with client(server) as c:
        c.send(get("/bye", f"Connection: {value}") + get(after))
        r = c.response()
        assert (r.status, r.body) == (200, b"/bye")
        assert r.headers["connection"].lower() == "close"
        assert_closed(c)
    assert after not in seen_paths(server)


# ---- 2. bodies and framing -----------------------------------------------------------


def test_chunked_request_body_sent_slowly_with_extensions(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(chunked_post("/echo"))
        pieces = [b"5;ext=1\r\nhello\r\n", b'6;a;b="q r"\r\n world\r\n', b"1\r\n!\r\n"]
        for piece in [*pieces, b"0\r\n\r\n"]:
            time.sleep(0.1)
            c.send(piece)
        r = c.response()
        assert (r.status, r.body) == (200, b"hello world!")
        c.send(get("/next"))  # the connection is still usable
        assert c.response().body == b"/next"


def test_request_sent_one_byte_at_a_time_is_parsed_the_same(server: ServerProcess) -> None:
    request = chunked_post("/echo") + b"3;x=y\r\nabc\r\n10\r\n" + b"d" * 16 + b"\r\n0\r\n\r\n"
    with client(server) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(request)):
            c.send(request[i : i + 1])
            time.sleep(0.001)
        r = c.response()
        assert (r.status, r.body) == (200, b"abc" + b"d" * 16)


def test_chunked_request_body_with_trailer_fields(server: ServerProcess) -> None:
    r = exchange(server, chunked_post("/echo") + b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n")
    assert (r.status, r.body) == (200, b"abc")


def test_response_without_length_is_chunked(server: ServerProcess) -> None:
    r = exchange(server, get("/stream?n=4"))
    assert r.status == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.headers
    assert r.body == b"part0-part1-part2-part3-"


def test_single_item_response_gets_a_content_length(server: ServerProcess) -> None:
    r = exchange(server, get("/list"))
    assert (r.status, r.body) == (200, b"hello")
    assert r.headers["content-length"] == "5"
    assert "transfer-encoding" not in r.headers


def test_100_continue_is_sent_only_when_the_app_reads_the_body(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(get("/echo?delay_ms=400", "Content-Length: 5", EXPECT, method="POST"))
        assert c.silent_for(0.25), "100 Continue sent before the application asked for the body"
        interim = c.head()
        assert interim.status == 100
        c.send(b"hello")
        r = c.response()
        assert (r.status, r.body) == (200, b"hello")
        c.send(get("/after"))
        assert c.response().body == b"/after"


def test_100_continue_for_a_chunked_body(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(chunked_post("/echo", EXPECT))
        assert c.head().status == 100
        c.send(b"4\r\nbody\r\n0\r\n\r\n")
        assert c.response().body == b"body"


def test_body_never_asked_for_gets_no_100_and_the_connection_closes(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(get("/ignore", "Content-Length: 5", EXPECT, method="POST"))
        r = c.response()
        assert (r.status, r.body) == (200, b"ignored")
        assert r.headers["connection"].lower() == "close"
        assert_closed(c)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_unread_body_is_discarded_not_parsed_as_a_request(
    server: ServerProcess, chunked: bool
) -> None:
    inner = SMUGGLED.format("in-ignored-body-" + ("chunked" if chunked else "cl")).encode()
    body = inner * 20000  # well over the engine's 256 KiB body buffer
    if chunked:
        request = chunked_post("/ignore") + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        request = post("/ignore", body)
    with client(server) as c:
        c.send(request + get("/after-ignore"))
        assert c.response().body == b"ignored"
        assert c.response().body == b"/after-ignore"
    assert inner.split()[1].decode() not in seen_paths(server)


@pytest.mark.parametrize("path", ["/head-body", "/stream?n=2", "/list"])
def test_head_response_has_no_body_and_the_connection_goes_on(
    server: ServerProcess, path: str
) -> None:
    with client(server) as c:
        c.send(get(path, method="HEAD"))
        r = c.response("HEAD")
        assert r.status == 200
        if path == "/head-body":
            assert r.headers["content-length"] == "11"
        c.send(get("/after-head"))
        r = c.response()  # stray body bytes would make this fail to parse
        assert (r.status, r.body) == (200, b"/after-head")


def test_date_and_server_headers_are_present(server: ServerProcess) -> None:
    r = exchange(server, get("/"))
    assert re.fullmatch(IMF_FIXDATE, r.headers["date"])
    assert r.headers["server"]


@contextmanager
def single_thread_server() -> Iterator[ServerProcess]:
    """A server with one app thread, killed at the end (a lost thread would
    otherwise also hold up its graceful stop)."""
    with serve("--threads", "1") as s:
        try:
            yield s
        finally:
            s.proc.kill()


def test_app_exception_gets_a_500_and_the_thread_keeps_serving() -> None:
    with single_thread_server() as s:
        r = exchange(s, get("/raise"), timeout=2)
        assert r.status == 500
        assert exchange(s, get("/next"), timeout=2).body == b"/next"


@pytest.mark.parametrize("failure", ["malformed-chunk", "client-disconnects"])
def test_failed_body_read_does_not_cost_a_thread(failure: str) -> None:
    with single_thread_server() as s:
        with client(s, timeout=2) as c:
            c.send(chunked_post("/echo") + b"5\r\nhello")
            time.sleep(0.2)  # the app now waits in wsgi.input.read()
            if failure == "malformed-chunk":
                c.send(b"XX0\r\n\r\n")
                assert c.response().status == 400
        assert exchange(s, get("/next"), timeout=2).body == b"/next"


# ---- 3. request smuggling ------------------------------------------------------------

# A request head without its last fields. /ignore answers without reading the
# body, so a body-level vector is refused by the parser alone (a body the app
# fails to read: test_failed_body_read_does_not_cost_a_thread).
H = "POST /ignore HTTP/1.1\r\nHost: x\r\n"
TE = H + "Transfer-Encoding: chunked\r\n"

SMUGGLING = {
    "cl-and-te": H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": TE + "Content-Length: 5\r\n\r\n0\r\n\r\n",
    "differing-duplicate-cl": H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "differing-cl-list": H + "Content-Length: 5, 6\r\n\r\nhello!",
    "te-gzip": H + "Transfer-Encoding: gzip\r\n\r\n",
    "te-chunked-then-gzip": H + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te-chunked-twice": TE + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-identity": H + "Transfer-Encoding: identity\r\n\r\n",
    "http10-with-te": "POST /ignore HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "obs-fold-of-te": H + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "bare-cr-in-value": "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "bare-cr-line-end": "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n",
    "space-before-colon": H + "Content-Length : 5\r\n\r\nhello",
    "tab-before-colon": H + "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
    "bare-lf-in-head": "GET / HTTP/1.1\nHost: x\n\n",
    "nul-in-value": "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "non-token-name": "GET / HTTP/1.1\r\nHost: x\r\nX@A: b\r\n\r\n",
    "chunk-without-crlf": TE + "\r\n5\r\nhelloXX0\r\n\r\n",
    "bare-lf-after-chunk-size": TE + "\r\n5\nhello\r\n0\r\n\r\n",
    "bare-lf-after-chunk-data": TE + "\r\n5\r\nhello\n0\r\n\r\n",
    "chunk-size-overflow": TE + "\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "cl-plus-sign": H + "Content-Length: +5\r\n\r\nhello",
    "cl-hex": H + "Content-Length: 0x5\r\n\r\nhello",
    "cl-overflow": H + "Content-Length: 184467440737095516160\r\n\r\nhello",
    "http-2.0": "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "http-0.9-no-version": "GET /\r\n\r\n",
    "http-0.9-version": "GET / HTTP/0.9\r\nHost: x\r\n\r\n",
    "missing-host": "GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
    # gunicorn's request corpus: a repeated singleton, fields forbidden in a
    # trailer section (RFC 9110 6.5.1), asterisk-form off OPTIONS (RFC 9112 3.2.4).
    "two-content-types": H + "Content-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n",
    "trailer-content-length": TE + "\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
    "trailer-transfer-encoding": TE + "\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "trailer-host": TE + "\r\n5\r\nhello\r\n0\r\nHost: y\r\n\r\n",
    "trailer-content-type": TE + "\r\n5\r\nhello\r\n0\r\nContent-Type: a/b\r\n\r\n",
    "asterisk-form-get": "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", SMUGGLING)
def test_smuggling_vector_is_refused_and_nothing_after_it_is_served(
    server: ServerProcess, name: str
) -> None:
    request = SMUGGLING[name] + SMUGGLED.format(name)
    with client(server) as c:
        c.send(request.encode("latin-1"))
        r = c.response()
        allowed = (400, 501) if name.startswith("te-") else (400,)
        assert r.status in allowed, f"{name}: status {r.status}, body {r.body!r}"
        assert r.headers.get("connection", "").lower() == "close"
        assert_closed(c)
    assert f"/smuggled/{name}" not in seen_paths(server)


def test_raw_utf8_in_the_target_is_accepted_and_reaches_path_info_as_its_bytes(
    server: ServerProcess,
) -> None:
    # obs-text in the request-target, as nginx, gunicorn and Django accept it:
    # PATH_INFO holds the bytes decoded as latin-1 (PEP 3333), like %C3%A9 would.
    raw = "/café/☃".encode()
    for target in (raw, b"/caf%C3%A9/%E2%98%83"):
        r = exchange(server, b"GET " + target + b"?q=\xc3\xbc HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200, r.body
        assert r.body == raw.decode("latin-1").encode(), r.body  # the app answers PATH_INFO


def test_asterisk_form_options_and_trailers_that_are_allowed(server: ServerProcess) -> None:
    r = exchange(server, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (r.status, r.body) == (200, b"")  # PATH_INFO is empty: "*" names no path
    with client(server) as c:
        c.send(chunked_post("/echo") + b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\nExpires: 0\r\n\r\n")
        assert c.response().body == b"hello"


# ---- 4. limits and timeouts ----------------------------------------------------------


def assert_refused(server: ServerProcess, request: bytes, status: int) -> None:
    with client(server) as c:
        c.send(request)
        r = c.response()
        assert r.status == status, f"got {r.status} {r.body[:60]!r}, expected {status}"
        assert_closed(c)


def request_line_of(length: int) -> bytes:
    """A GET whose request line (without its CRLF) is `length` bytes long."""
    return get("/" + "a" * (length - len("GET / HTTP/1.1")))


def head_of(length: int) -> bytes:
    """A GET whose whole head, final empty line included, is `length` bytes long."""
    base = get("/", "X-Pad: ")
    return base.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (length - len(base)))


def test_request_line_at_the_limit_is_served(limited: ServerProcess) -> None:
    assert exchange(limited, request_line_of(MAX_REQUEST_LINE)).status == 200


@pytest.mark.parametrize("excess", [1, 9, 50])
def test_request_line_over_the_limit_is_414(limited: ServerProcess, excess: int) -> None:
    assert_refused(limited, request_line_of(MAX_REQUEST_LINE + excess), 414)


def test_head_at_the_limit_is_served(limited: ServerProcess) -> None:
    assert exchange(limited, head_of(MAX_HEADER_BYTES)).status == 200


def test_head_over_the_limit_is_431(limited: ServerProcess) -> None:
    assert_refused(limited, head_of(MAX_HEADER_BYTES + 3), 431)  # + 3: even without the last CRLF


def test_header_fields_up_to_the_limit_are_served(limited: ServerProcess) -> None:
    headers = (f"X-H{i}: v" for i in range(MAX_HEADER_COUNT - 1))  # and Host
    assert exchange(limited, get("/", *headers)).status == 200


def test_too_many_header_fields_is_431(limited: ServerProcess) -> None:
    assert_refused(limited, get("/", *(f"X-H{i}: v" for i in range(MAX_HEADER_COUNT))), 431)


def test_body_at_the_limit_is_served(limited: ServerProcess) -> None:
    body = b"x" * MAX_BODY_SIZE
    assert exchange(limited, post("/echo", body)).body == body
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert exchange(limited, chunked_post("/echo") + chunked).body == body


def test_declared_body_too_large_is_413(limited: ServerProcess) -> None:
    assert_refused(limited, post("/echo", b"x" * (MAX_BODY_SIZE + 1)), 413)


def test_declared_body_too_large_gets_413_instead_of_100_continue(limited: ServerProcess) -> None:
    request = get("/echo", f"Content-Length: {MAX_BODY_SIZE + 1}", EXPECT, method="POST")
    assert_refused(limited, request, 413)


def test_chunked_body_growing_past_the_limit_is_413(limited: ServerProcess) -> None:
    piece = MAX_BODY_SIZE // 3 + 1
    chunk = b"%x\r\n%s\r\n" % (piece, b"x" * piece)
    assert_refused(limited, chunked_post("/echo") + chunk * 3 + b"0\r\n\r\n", 413)


def test_half_a_head_gets_408_after_the_header_timeout(limited: ServerProcess) -> None:
    with client(limited) as c:
        start = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        r = c.response()
        assert r.status == 408
        assert 0.9 < time.monotonic() - start < 3
        assert_closed(c)


def test_idle_keep_alive_connection_is_closed_after_the_timeout(limited: ServerProcess) -> None:
    with client(limited) as c:
        c.send(get("/"))
        assert c.response().status == 200
        start = time.monotonic()
        assert_closed(c)
        assert 0.9 < time.monotonic() - start < 3


def test_stalled_request_body_is_cut_off_after_the_body_timeout(limited: ServerProcess) -> None:
    with client(limited) as c:
        start = time.monotonic()
        c.send(post("/echo", b"x" * 100)[:-90])
        rest = c.rest_until_close(5)
        assert rest is not None, "still open after the body timeout"
        assert 0.9 < time.monotonic() - start < 3
        assert rest == b"" or rest.startswith(b"HTTP/1.1 408 "), rest


def test_body_trickling_in_is_not_cut_off(limited: ServerProcess) -> None:
    with client(limited) as c:
        c.send(get("/echo", "Content-Length: 4", method="POST"))
        for byte in b"slow":  # 2 s in all, 0.5 s between pieces (the timeout is 1 s)
            time.sleep(0.5)
            c.send(bytes([byte]))
        assert c.response().body == b"slow"


def test_head_trickled_in_still_times_out(limited: ServerProcess) -> None:
    with client(limited) as c:
        start = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
        while c.silent_for(0.2):
            assert time.monotonic() - start < 3, "no 408 while the head trickles in"
            c.send(b"a")
        assert c.response().status == 408
        assert time.monotonic() - start > 0.9


def test_slow_app_is_not_cut_off_by_the_timeouts(limited: ServerProcess) -> None:
    with client(limited) as c:
        c.send(get("/sleep?ms=1500"))
        assert c.response().body == b"slept 1500"
        c.send(get("/again"))
        assert c.response().body == b"/again"


def test_large_body_read_late_by_the_app_is_not_cut_off(limited: ServerProcess) -> None:
    body = random.Random(1).randbytes(MAX_BODY_SIZE)
    r = exchange(limited, post("/echo?delay_ms=1500", body))
    assert r.status == 200
    assert sha256(r.body) == sha256(body)


def test_slowloris_connections_do_not_block_the_only_thread() -> None:
    with serve("--threads", "1") as s:
        hanging = [Client(s) for _ in range(20)]
        try:
            for h in hanging:
                h.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow:")
            start = time.monotonic()
            r = exchange(s, get("/quick"))
            assert (r.status, r.body) == (200, b"/quick")
            assert time.monotonic() - start < 1
        finally:
            for h in hanging:
                h.close()


# ---- 5. back-pressure ---------------------------------------------------------------


def big_body(mib: int) -> bytes:
    return b"".join(big_chunk(i) for i in range(mib * MiB // BIG_CHUNK))


def start_slow_download(c: Client, mib: int, half_close: bool = False) -> None:
    """Asks for /big, then reads nothing for 0.5 s, then reads slowly."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    c.send(get(f"/big?mib={mib}"))
    if half_close:
        c.sock.shutdown(socket.SHUT_WR)  # done sending, as `nc -N` or a load tester does
    time.sleep(0.5)
    c.read_delay = 0.003


def test_large_response_to_a_slow_reader_arrives_intact(server: ServerProcess) -> None:
    with client(server, timeout=20) as c:
        before = rss_kib(server, "VmRSS")
        start_slow_download(c, 20)
        # while the client reads nothing, the server waits instead of buffering 20 MiB
        assert rss_kib(server, "VmRSS") - before < 8 * 1024
        r = c.response()
    assert r.headers["transfer-encoding"] == "chunked"
    assert len(r.body) == 20 * MiB
    assert sha256(r.body) == sha256(big_body(20))


@pytest.mark.parametrize("mib", [4, 8, 16])  # where the end of the response falls varies
def test_slow_reader_that_half_closed_still_gets_the_whole_response(
    server: ServerProcess, mib: int
) -> None:
    with client(server, timeout=20) as c:
        start_slow_download(c, mib, half_close=True)
        r = c.response()
    assert len(r.body) == mib * MiB
    assert sha256(r.body) == sha256(big_body(mib))


def upload(server: ServerProcess, body: bytes, chunked: bool) -> Response:
    with client(server, timeout=30) as c:
        if chunked:
            c.send(chunked_post("/sha256"))
            for i in range(0, len(body), 256 * 1024):
                piece = body[i : i + 256 * 1024]
                c.send(b"%x;n=%d\r\n%s\r\n" % (len(piece), i, piece))
            c.send(b"0\r\n\r\n")
        else:
            c.send(post("/sha256", body))
        return c.response()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_upload_is_streamed_to_the_app(chunked: bool) -> None:
    body = random.Random(7).randbytes(30 * MiB)
    with serve("--threads", "2") as s:
        r = upload(s, body, chunked)
        assert r.status == 200
        assert r.body.decode() == f"{sha256(body)} {len(body)}"
        assert rss_kib(s) < 150 * 1024, "the server's peak RSS grew like the body"


# ---- 6. reverse proxy headers --------------------------------------------------------

FORWARDED = ("X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https")


def remote_and_scheme(server: ServerProcess, *headers: str) -> tuple[str, str]:
    env = json.loads(exchange(server, get("/environ", *headers)).body)
    return env["REMOTE_ADDR"], env["wsgi.url_scheme"]


@pytest.mark.parametrize(
    "headers, expected",
    [
        (FORWARDED, ("203.0.113.7", "https")),
        (["X-Forwarded-Proto: HTTPS"], ("127.0.0.1", "https")),
        # the client is the right-most address that is not a trusted proxy
        (["X-Forwarded-For: 198.51.100.1, 127.0.0.1"], ("198.51.100.1", "http")),
        (
            ["X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 203.0.113.7"],
            ("203.0.113.7", "http"),
        ),
        # underscores would alias the real header in the environ: such fields are dropped
        (["X_Forwarded_For: 203.0.113.7", "X_Forwarded_Proto: https"], ("127.0.0.1", "http")),
    ],
    ids=["both", "proto-only", "proxy-chain", "repeated", "underscore-spoof"],
)
def test_forwarded_headers_from_an_allowed_proxy_are_used(
    server: ServerProcess, headers: list[str], expected: tuple[str, str]
) -> None:
    assert remote_and_scheme(server, *headers) == expected


def test_forwarded_for_with_trusted_networks_and_the_access_log() -> None:
    # --forwarded-allow-ips takes CIDR networks; the client is the right-most
    # address that is not itself a trusted proxy, not the last one blindly, and
    # the access log shows it.
    argv = ["--forwarded-allow-ips", "127.0.0.0/8,10.0.0.0/8,2001:db8::/32"]
    with run_server([APP, "--threads", "2", *argv]) as s:
        cases = [
            ("X-Forwarded-For: 6.6.6.6, 198.51.100.9, 10.1.2.3", "198.51.100.9"),
            ("X-Forwarded-For: 198.51.100.10, 2001:db8::1", "198.51.100.10"),
            ("X-Forwarded-For: 10.0.0.5, 10.9.9.9", "10.0.0.5"),  # all trusted: the left-most
            ("X-Forwarded-For: 11.0.0.1, 10.255.255.255", "11.0.0.1"),
        ]
        for header, client_address in cases:
            r = exchange(s, get("/environ", header))
            assert json.loads(r.body)["REMOTE_ADDR"] == client_address, header
        poll(lambda: '11.0.0.1 "GET /environ HTTP/1.1" 200' in s.log(), "the access line")
        log = s.log()
        for _, client_address in cases:
            assert f'squall.access: {client_address} "GET /environ HTTP/1.1" 200' in log, log


def test_server_software_is_squall_and_its_version(server: ServerProcess) -> None:
    from squall import __version__

    environ = json.loads(exchange(server, get("/environ")).body)
    assert environ["SERVER_SOFTWARE"] == f"squall/{__version__}"


def test_forwarded_headers_from_other_peers_are_ignored() -> None:
    with serve("--forwarded-allow-ips", "10.0.0.1") as s:
        assert remote_and_scheme(s, *FORWARDED) == ("127.0.0.1", "http")
