"""The app of bench/deadlines.py, served by every server as ``bench.deadline_app:app``.

- ``/slow?ms=N``: answers after sleeping N ms (default 50): a view waiting on I/O.
- ``/hang``: runs Python for 30 s (10 ms sleeps), like a view stuck in a retry
  loop: a server can only stop it by interrupting the thread or killing the process.
- ``/pid``: the serving process's pid (which worker took the connection).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/slow":
        time.sleep(int(params.get("ms", ["50"])[0]) / 1000)
    elif path == "/hang":
        end = time.monotonic() + 30
        while time.monotonic() < end:
            time.sleep(0.01)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
