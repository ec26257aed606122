"""A WSGI application for tests/test_process_model.py: it tells the worker
processes apart and misbehaves on request.

Routes (every response body is the serving process's pid, as text):
- ``/pid``: at once.
- ``/slow?ms=N``: after sleeping N milliseconds (default 1000); when
  ``PROCESS_APPS_RECORD`` names a file, ``slow started`` is appended to it
  first (so a test knows the request is in flight).
- ``/tail?ms=N``: the whole body (its length declared) at once, then the
  response iterator sleeps N milliseconds before it ends; ``tail done`` is
  appended to ``PROCESS_APPS_RECORD`` when it ends. The client has the complete
  response long before the server finishes the exchange.
- ``/grow?mib=N``: after allocating N MiB (default 50) that stay referenced by
  a module-level list, so the process's resident memory grows and stays grown.
- ``/subprocess``: starts ``sleep 30``, sends it SIGTERM and answers the exit
  status it got (``-15`` when SIGTERM worked; ``still running`` if the child
  ignored it, as it would with a signal mask inherited from the server).

Environment variables read at import:
- ``PROCESS_APPS_IMPORT_LOG``: a file to which the importing process appends
  its pid, one line per import (tells --preload from --no-preload).
- ``PROCESS_APPS_SLEEP_AT_IMPORT``: seconds the import takes (a slow start,
  under --no-preload, for the startup probe).
- ``PROCESS_APPS_EXIT_AT_IMPORT``: when set, the importing process exits at
  once with this status (a worker that crashes at start, under --no-preload).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

_log = os.environ.get("PROCESS_APPS_IMPORT_LOG")
if _log:
    with open(_log, "a") as f:
        f.write(f"{os.getpid()}\n")

time.sleep(float(os.environ.get("PROCESS_APPS_SLEEP_AT_IMPORT", "0")))

_exit_status = os.environ.get("PROCESS_APPS_EXIT_AT_IMPORT")
if _exit_status:
    os._exit(int(_exit_status))

# /grow keeps its allocations here, for the life of the process.
KEPT: list[bytes] = []


def record(event: str) -> None:
    path = os.environ.get("PROCESS_APPS_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(event + "\n")


def tail(body: bytes, seconds: float) -> Iterator[bytes]:
    yield body
    time.sleep(seconds)
    record("tail done")


def headers(body: bytes) -> list[tuple[str, str]]:
    return [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    body = str(os.getpid()).encode()
    if path == "/slow":
        record("slow started")
        time.sleep(int(params.get("ms", "1000")) / 1000)
    elif path == "/grow":
        # Written byte by byte (not calloc'ed zero pages), so it is resident.
        KEPT.append(b"\x01" * (int(params.get("mib", "50")) << 20))
    elif path == "/subprocess":
        child = subprocess.Popen(["sleep", "30"])
        child.terminate()
        try:
            body = str(child.wait(timeout=5)).encode()
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            body = b"still running"
    elif path == "/tail":
        start_response("200 OK", headers(body))
        return tail(body, int(params.get("ms", "1000")) / 1000)
    elif path != "/pid":
        start_response("404 Not Found", headers(b"not found"))
        return [b"not found"]
    start_response("200 OK", headers(body))
    return [body]
