"""PEP 3333 as an application sees it, on a real server (tests/apps/wsgi_apps.py).

The applications run behind wsgiref.validate.validator, so any server-side
PEP 3333 violation turns into a 500 and a failed test. Tests that make the
application fail get a server of their own (`fresh_server`), so that a server
broken by one of them cannot fail the others.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from polling import wait_for, wait_for_line
from serverproc import ServerProcess, read_response, recv_all, run_server

FILE_SIZE = 300_000


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wsgi")
    (path / "served.bin").write_bytes(os.urandom(FILE_SIZE))
    return path


@contextmanager
def serve(workdir: Path, *options: str) -> Iterator[ServerProcess]:
    env = {
        "WSGI_APPS_RECORD": str(workdir / "record.txt"),
        "WSGI_APPS_FILE": str(workdir / "served.bin"),
    }
    with run_server(["wsgi_apps:app", *options], env=env) as server:
        yield server
        # SIGINT: a test that failed may have left a request hanging.
        server.stop(signal.SIGINT)
        # The validator reports an iterator never closed on stderr (it cannot raise there).
        assert "garbage collected without being closed" not in server.log()


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[ServerProcess]:
    with serve(workdir, "--workers", "1", "--threads", "2") as server:
        yield server


@pytest.fixture
def fresh_server(workdir: Path) -> Iterator[ServerProcess]:
    with serve(workdir, "--threads", "2") as server:
        yield server


def get(server: ServerProcess, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=5)


def raw_get(server: ServerProcess, path: str) -> tuple[bytes, float]:
    """The bytes of a `Connection: close` GET, and the seconds until the server closed."""
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        data = recv_all(sock, timeout=5)
        return data, time.monotonic() - start


def assert_still_serving(server: ServerProcess) -> None:
    response = get(server, "/hello")
    assert (response.status_code, response.text) == (200, "Hello, World!")


def record_path(workdir: Path) -> Path:
    return workdir / "record.txt"


def token() -> str:
    return uuid.uuid4().hex[:12]


# ---- environ ------------------------------------------------------------------------


def environ_of(server: ServerProcess) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.putrequest("POST", "/environ/caf%C3%A9/a%20b?x=%20y&z")
    conn.putheader("Content-Type", "text/plain")
    conn.putheader("Content-Length", "5")
    conn.putheader("X-Dup", "a")
    conn.putheader("X-Dup", "b")
    conn.endheaders(b"hello")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200, body
    return json.loads(body)


def test_environ_has_every_pep3333_key(server: ServerProcess) -> None:
    env = environ_of(server)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    # Percent-decoded, the bytes as latin-1 (PEP 3333 "bytes as str").
    assert env["PATH_INFO"] == "/environ/café/a b".encode().decode("latin-1")
    assert env["QUERY_STRING"] == "x=%20y&z"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    assert env["HTTP_X_DUP"] == "a, b"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input"] and env["wsgi.errors"]
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False  # one worker process
    assert env["wsgi.run_once"] is False


def test_one_thread_is_not_multithread(workdir: Path) -> None:
    with serve(workdir, "--threads", "1") as server:
        assert environ_of(server)["wsgi.multithread"] is False


def test_several_workers_are_multiprocess(workdir: Path) -> None:
    with serve(workdir, "--workers", "2") as server:
        assert environ_of(server)["wsgi.multiprocess"] is True


# ---- request body -------------------------------------------------------------------

BODY = b"".join(b"line %d %s\n" % (i, b"x" * (i % 50)) for i in range(100)) + b"no newline"


@pytest.mark.parametrize("mode", ["readline", "readlines", "iter"])
def test_body_read_by_lines(server: ServerProcess, mode: str) -> None:
    response = requests.post(f"{server.url}/body?mode={mode}", data=BODY, timeout=5)
    assert response.status_code == 200, response.text
    assert response.json() == BODY.decode().splitlines(keepends=True)


def test_body_read_in_fixed_sizes(server: ServerProcess) -> None:
    response = requests.post(f"{server.url}/body?mode=read_n", data=BODY, timeout=5)
    pieces = [p.encode() for p in response.json()]
    assert b"".join(pieces) == BODY
    assert [len(p) for p in pieces[:-1]] == [1000] * (len(BODY) // 1000)


def test_chunked_body_read_to_the_end(server: ServerProcess) -> None:
    parts = [BODY[i : i + 777] for i in range(0, len(BODY), 777)]
    response = requests.post(f"{server.url}/body?mode=read_n", data=iter(parts), timeout=5)
    assert "".join(response.json()).encode() == BODY


# ---- response -------------------------------------------------------------------------


def test_hello(server: ServerProcess) -> None:
    response = get(server, "/hello")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["Content-Length"] == "13"


def test_write_callable_then_iterable(server: ServerProcess) -> None:
    assert get(server, "/write").text == "written directly, then returned"


def test_wsgi_errors_lines_reach_the_server_log(server: ServerProcess) -> None:
    marker = f"wsgi-errors-{token()}"
    assert get(server, f"/errors?msg={marker}").status_code == 200
    wait_for(lambda: marker in server.log(), "the wsgi.errors line in the log")


def test_streamed_chunks_reach_the_client_as_produced(server: ServerProcess) -> None:
    # The app yields "first", sleeps 1 s, yields "second".
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        received, first_at = b"", None
        while b"second" not in received:
            data = sock.recv(65536)
            assert data, f"closed early: {received!r}"
            received += data
            if first_at is None and b"first" in received:
                first_at = time.monotonic() - start
        done_at = time.monotonic() - start
    assert first_at is not None and first_at < 0.5
    assert done_at >= 0.9


def test_file_wrapper_sends_a_real_file_with_its_length(
    server: ServerProcess, workdir: Path
) -> None:
    response = get(server, "/file")
    assert response.content == (workdir / "served.bin").read_bytes()
    assert response.headers["Content-Length"] == str(FILE_SIZE)


def test_file_wrapper_over_bytesio_is_iterated(server: ServerProcess, workdir: Path) -> None:
    response = get(server, "/file?src=memory")
    assert response.status_code == 200
    assert response.content == (workdir / "served.bin").read_bytes()


@pytest.mark.parametrize("skip", [0, 1000])
def test_sendfile_starts_at_the_file_position_and_finds_the_length(
    server: ServerProcess, workdir: Path, skip: int
) -> None:
    # Served without the validator, so the server gets the FileWrapper itself.
    response = get(server, f"/sendfile?skip={skip}")
    assert response.content == (workdir / "served.bin").read_bytes()[skip:]
    assert response.headers["Content-Length"] == str(FILE_SIZE - skip)


def test_exc_info_replaces_the_status_before_the_body(server: ServerProcess) -> None:
    response = get(server, "/exc_info")
    assert (response.status_code, response.text) == (503, "error page")


# ---- close() --------------------------------------------------------------------------


def test_close_called_after_a_normal_response(server: ServerProcess, workdir: Path) -> None:
    tok = token()
    assert get(server, f"/closing?id={tok}&mode=normal").text == "chunk 0\nchunk 1\n"
    wait_for_line(record_path(workdir), f"{tok} close")


def test_close_called_when_the_client_leaves_mid_stream(
    server: ServerProcess, workdir: Path
) -> None:
    tok = token()
    with server.connect() as sock:
        sock.sendall(f"GET /closing?id={tok}&mode=endless HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert b"chunk 0" in sock.recv(65536)
    # The app would go on for 20 s: close() must come as soon as a write fails.
    wait_for_line(record_path(workdir), f"{tok} close", timeout=5)
    assert_still_serving(server)


def test_close_called_when_the_body_raises(fresh_server: ServerProcess, workdir: Path) -> None:
    tok = token()
    raw_get(fresh_server, f"/closing?id={tok}&mode=raise")
    wait_for_line(record_path(workdir), f"{tok} close")


# ---- application errors -----------------------------------------------------------------


def test_unhandled_exception_is_a_500_with_the_traceback_logged(
    fresh_server: ServerProcess,
) -> None:
    response = get(fresh_server, "/crash")
    assert response.status_code == 500
    wait_for(lambda: "RuntimeError: crash-marker" in fresh_server.log(), "the traceback")
    log = fresh_server.log()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: crash-marker: unhandled in the application" in log
    assert_still_serving(fresh_server)


@pytest.mark.parametrize("path", ["/closing?mode=raise", "/exc_info?late=1"])
def test_exception_after_the_headers_cuts_the_response(
    fresh_server: ServerProcess, path: str
) -> None:
    data, seconds = raw_get(fresh_server, path)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"Transfer-Encoding: chunked" in data
    # The first chunk went out, the last-chunk never does: the client sees a cut body.
    assert b"chunk 0" in data or b"partial body" in data
    assert not data.endswith(b"0\r\n\r\n")
    assert seconds < 4, "the server should close the connection, not leave it hanging"
    assert_still_serving(fresh_server)


# wsgi_apps.BAD_HEADERS: CR/LF injection, non-str name or value, hop-by-hop fields.
BAD_HEADER_KINDS = [
    "injection",
    "lf-injection",
    "non-str-value",
    "bytes-name",
    "connection",
    "transfer-encoding",
]


@pytest.mark.parametrize("kind", BAD_HEADER_KINDS)
def test_invalid_response_header_is_a_500_and_never_sent(
    fresh_server: ServerProcess, kind: str
) -> None:
    with fresh_server.connect() as sock:
        sock.sendall(f"GET /bad_header?kind={kind} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        status, headers, body = read_response(sock)
    assert status == 500
    assert "x-injected" not in headers and "x-test" not in headers
    assert b"must not be sent" not in body
    assert_still_serving(fresh_server)
