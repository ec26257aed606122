"""WSGI applications served by tests/test_wsgi.py and tests/test_logging_signals.py.

Every application is exported wrapped in ``wsgiref.validate.validator`` as
``validated_<name>``: a server-side PEP 3333 violation (a missing environ key,
a wrong type, write/close misuse, an iterator never closed) raises in the
validator, so the request fails with a 500 and a traceback in the log.

``app`` serves them all, routed by the first path segment (``/hello``,
``/environ/...``). The few applications that break PEP 3333 on purpose, to
check the server's own defences, are served without the validator (it would
reject them before the server sees them): ``/bad_header`` and ``/sendfile``
(the validator's iterator wrapper hides the ``wsgi.file_wrapper`` object, so
the server could not use sendfile behind it).

Environment variables read at request time:
- ``WSGI_APPS_RECORD``: a file to which events are appended, one per line
  (``<id> close``, ``<id> started``), for tests in another process.
- ``WSGI_APPS_FILE``: the file served by ``/file`` and ``/sendfile``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs
from wsgiref.validate import validator

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

TEXT = [("Content-Type", "text/plain")]
JSON = [("Content-Type", "application/json")]


def query(environ: Environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def record(event: str) -> None:
    path = os.environ.get("WSGI_APPS_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(event + "\n")


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    body = b"Hello, World!"
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    return [body]


def environ_dump(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The environ as JSON; values JSON cannot hold are replaced by their type's name."""
    out = {
        key: value if isinstance(value, (str, int, bool, tuple)) else type(value).__name__
        for key, value in environ.items()
    }
    start_response("200 OK", JSON)
    return [json.dumps(out).encode()]


def body_reader(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The request body as the list of pieces wsgi.input gave, read the way ?mode= says."""
    stream = environ["wsgi.input"]
    mode = query(environ).get("mode", "read_n")
    if mode == "read_n":
        pieces = list(iter(lambda: stream.read(1000), b""))
    elif mode == "readline":
        pieces = list(iter(stream.readline, b""))
    elif mode == "readlines":
        pieces = stream.readlines()
    else:
        # The validator's wrapper iterates with readline(): iterate the server's object.
        pieces = list(getattr(stream, "input", stream))
    start_response("200 OK", JSON)
    return [json.dumps([p.decode("latin-1") for p in pieces]).encode()]


def errors(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    environ["wsgi.errors"].write(query(environ).get("msg", "") + "\n")
    environ["wsgi.errors"].flush()
    start_response("200 OK", TEXT)
    return [b"logged"]


def stream(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    """Two chunks, one second apart."""
    start_response("200 OK", TEXT)
    yield b"first\n"
    time.sleep(1.0)
    yield b"second\n"


def slow(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    params = query(environ)
    record(f"{params.get('id', '')} started")
    time.sleep(int(params.get("ms", "1000")) / 1000)
    start_response("200 OK", TEXT)
    return [b"done"]


def served_file(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """wsgi.file_wrapper over the file WSGI_APPS_FILE (?src=disk) or a copy in memory."""
    path = os.environ["WSGI_APPS_FILE"]
    if query(environ).get("src") == "memory":
        with open(path, "rb") as f:
            filelike: Any = io.BytesIO(f.read())
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
    else:
        filelike = open(path, "rb")  # noqa: SIM115 - closed by the file wrapper
        headers = [("Content-Length", str(os.path.getsize(path)))]
        start_response("200 OK", [("Content-Type", "application/octet-stream"), *headers])
    return environ["wsgi.file_wrapper"](filelike, 8192)


def sendfile(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """WSGI_APPS_FILE from byte ?skip= on, no Content-Length given: the server finds it."""
    filelike = open(os.environ["WSGI_APPS_FILE"], "rb")  # noqa: SIM115 - closed by the wrapper
    filelike.seek(int(query(environ).get("skip", "0")))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](filelike)


class ClosingBody:
    """A response body whose close() is recorded as ``<id> close``.

    ?mode=normal: two chunks; ?mode=endless: a chunk every 50 ms for 20 s (the
    client is expected to leave); ?mode=raise: one chunk, then an exception.
    """

    def __init__(self, token: str, mode: str) -> None:
        self.token, self.mode = token, mode

    def __iter__(self) -> Iterator[bytes]:
        yield b"chunk 0\n"
        if self.mode == "raise":
            raise RuntimeError("raised mid-iteration")
        for i in range(1, 2 if self.mode == "normal" else 400):
            if self.mode == "endless":
                time.sleep(0.05)
            yield f"chunk {i}\n".encode()

    def close(self) -> None:
        record(f"{self.token} close")


def closing(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    params = query(environ)
    start_response("200 OK", TEXT)
    return ClosingBody(params.get("id", ""), params.get("mode", "normal"))


def exc_info(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    """Replaces its 200 by an error page through exc_info; ?late=1: after the body began."""
    late = query(environ).get("late") == "1"
    start_response("200 OK", TEXT)
    if late:
        yield b"partial body\n"
    try:
        raise ValueError("failed while rendering")
    except ValueError:
        # Before the body: replaces the 200. After: re-raises, the response is cut.
        start_response("503 Service Unavailable", TEXT, sys.exc_info())
    yield b"error page"


def crash(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("crash-marker: unhandled in the application")


def write_callable(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", TEXT)
    write(b"written ")
    write(b"directly, ")
    return [b"then returned"]


BAD_HEADERS: dict[str, tuple[Any, Any]] = {
    "injection": ("X-Test", "ok\r\nX-Injected: yes"),
    "lf-injection": ("X-Test", "ok\nX-Injected: yes"),
    "non-str-value": ("X-Count", 5),
    "bytes-name": (b"X-Bytes", "yes"),
    "connection": ("Connection", "close"),
    "transfer-encoding": ("Transfer-Encoding", "chunked"),
}


def bad_header(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Breaks PEP 3333 with the header ?kind= names (see BAD_HEADERS)."""
    header = BAD_HEADERS.get(query(environ).get("kind", ""))
    if header is None:
        start_response("400 Bad Request", TEXT)
        return [b"unknown kind\n"]
    start_response("200 OK", [*TEXT, header])
    return [b"must not be sent"]


validated_hello = validator(hello)
validated_environ_dump = validator(environ_dump)
validated_body_reader = validator(body_reader)
validated_errors = validator(errors)
validated_stream = validator(stream)
validated_slow = validator(slow)
validated_served_file = validator(served_file)
validated_closing = validator(closing)
validated_exc_info = validator(exc_info)
validated_crash = validator(crash)
validated_write_callable = validator(write_callable)

ROUTES: dict[str, App] = {
    "hello": validated_hello,
    "environ": validated_environ_dump,
    "body": validated_body_reader,
    "errors": validated_errors,
    "stream": validated_stream,
    "slow": validated_slow,
    "file": validated_served_file,
    "closing": validated_closing,
    "exc_info": validated_exc_info,
    "crash": validated_crash,
    "write": validated_write_callable,
    # Not validated on purpose: see the module docstring.
    "bad_header": bad_header,
    "sendfile": sendfile,
}


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Routes /<name>/... to ROUTES[name] (environ unchanged)."""
    name = environ["PATH_INFO"].split("/")[1]
    if name not in ROUTES:
        start_response("404 Not Found", TEXT)
        return [b"no such app\n"]
    return ROUTES[name](environ, start_response)
