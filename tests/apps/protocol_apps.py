"""A WSGI application for the HTTP protocol tests (tests/test_http_protocol.py).

Every request's PATH_INFO is recorded; GET /seen lists them, one per line, so a
test can prove that a smuggled request never reached the application. Routes:

- /sleep?ms=N        sleeps N ms, answers "slept N"
- /echo[?delay_ms=N] (after sleeping N ms) reads the whole body, answers it
- /ignore            answers without reading the body
- /raise             raises ValueError
- /sha256            reads the body in 64 KiB pieces, answers "<hex> <length>"
- /stream?n=N        a generator of N parts "part0-", "part1-", ... (no length;
                     an empty string before each)
- /list              [b"hello"] without a Content-Length header
- /big?mib=N         a generator of N MiB: big_chunk(0), big_chunk(1), ... (no length)
- /head-body         b"hello world" with Content-Length, for HEAD requests
- /environ           JSON of a few environ keys
- /seen              the recorded paths
- anything else      the path itself

The server is given `app`: the application wrapped in wsgiref.validate's
validator, so any PEP 3333 violation by the server fails the request. Only
/list bypasses it: the validator hides the list behind an iterator, and the
test is that the server gives a one-item list a Content-Length.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs
from wsgiref.validate import validator

BIG_CHUNK = 64 * 1024

_seen: list[str] = []
_seen_lock = threading.Lock()


def big_chunk(index: int) -> bytes:
    """The index-th 64 KiB piece of /big: its 4-byte index repeated."""
    return index.to_bytes(4, "big") * (BIG_CHUNK // 4)


def _query(environ: dict[str, Any], name: str, default: int) -> int:
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return int(values[0]) if values else default


def _stream(n: int) -> Iterator[bytes]:
    for i in range(n):
        yield b""  # PEP 3333: empty strings are allowed and must not end the body
        yield f"part{i}-".encode()


def _big(mib: int) -> Iterator[bytes]:
    for i in range(mib * 1024 * 1024 // BIG_CHUNK):
        yield big_chunk(i)


def _read_all(body_input: Any) -> bytes:
    parts = []
    while piece := body_input.read(64 * 1024):
        parts.append(piece)
    return b"".join(parts)


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    with _seen_lock:
        _seen.append(path)
    body_input = environ["wsgi.input"]
    text = [("Content-Type", "text/plain")]

    def answer(body: bytes) -> list[bytes]:
        start_response("200 OK", [*text, ("Content-Length", str(len(body)))])
        return [body]

    if path == "/sleep":
        ms = _query(environ, "ms", 0)
        time.sleep(ms / 1000)
        return answer(f"slept {ms}".encode())
    if path == "/echo":
        time.sleep(_query(environ, "delay_ms", 0) / 1000)
        return answer(_read_all(body_input))
    if path == "/ignore":
        return answer(b"ignored")
    if path == "/raise":
        raise ValueError("the application failed")
    if path == "/sha256":
        digest, length = hashlib.sha256(), 0
        while piece := body_input.read(64 * 1024):
            digest.update(piece)
            length += len(piece)
        return answer(f"{digest.hexdigest()} {length}".encode())
    if path == "/stream":
        start_response("200 OK", text)
        return _stream(_query(environ, "n", 3))
    if path == "/list":
        start_response("200 OK", text)
        return [b"hello"]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _big(_query(environ, "mib", 1))
    if path == "/head-body":
        return answer(b"hello world")
    if path == "/environ":
        keys = (
            "REMOTE_ADDR",
            "wsgi.url_scheme",
            "SERVER_PROTOCOL",
            "HTTP_X_FORWARDED_FOR",
            "SERVER_SOFTWARE",
        )
        return answer(json.dumps({k: environ.get(k) for k in keys}).encode())
    if path == "/seen":
        with _seen_lock:
            return answer("\n".join(_seen).encode())
    return answer(path.encode())


_validated = validator(_app)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/list":
        return _app(environ, start_response)
    return _validated(environ, start_response)
