"""Applications for tests/test_deadlines.py: requests past --timeout, overload.

``app`` (plain WSGI; every 200 body is the serving worker's pid):
- ``/pid``: at once.
- ``/slow?ms=N``: after sleeping N milliseconds.
- ``/hang?ms=N``: runs Python for N ms (default 60 s) in 10 ms sleeps, so an
  asynchronous exception is delivered within 10 ms; its ``finally`` appends
  ``hang finally <exception name>`` to ``DEADLINE_RECORD``.
- ``/block-c?s=N``: blocks N seconds in C (libc ``sleep`` through ctypes, which
  runs no bytecode: an asynchronous exception waits until it returns).
- ``/stream?ms=N``: the head and a first chunk at once, then hangs like /hang.
- ``/echo``: reads the whole request body and answers its length.

``django_app``: a one-file Django project whose ``/hang`` view hangs in
Python; ``got_request_exception`` appends ``signal <exception name> <view
function in the traceback>`` to ``DEADLINE_RECORD``.
"""

from __future__ import annotations

import ctypes
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

_libc = ctypes.CDLL(None)


def record(event: str) -> None:
    path = os.environ.get("DEADLINE_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(event + "\n")


def hang(ms: int) -> None:
    end = time.monotonic() + ms / 1000
    try:
        while time.monotonic() < end:
            time.sleep(0.01)
    except BaseException as exc:
        record(f"hang finally {type(exc).__name__}")
        raise
    record("hang finally none")


def stream(body: bytes, ms: int) -> Iterator[bytes]:
    yield body
    hang(ms)
    yield b"never"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    body = str(os.getpid()).encode()
    if path == "/slow":
        time.sleep(int(params.get("ms", "50")) / 1000)
    elif path == "/hang":
        hang(int(params.get("ms", "60000")))
    elif path == "/block-c":
        record("block-c started")
        _libc.sleep(int(params.get("s", "60")))
    elif path == "/echo":
        body = str(len(environ["wsgi.input"].read())).encode()
    elif path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream(body, int(params.get("ms", "60000")))
    elif path != "/pid":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# ---- Django ---------------------------------------------------------------------------------


def _django_app() -> Callable[..., Any]:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="deadline-tests",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            DATABASES={},
            LOGGING_CONFIG=None,
        )
    import django
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import got_request_exception

    django.setup()

    def on_exception(sender: object, request: object = None, **kwargs: object) -> None:
        import sys

        exc = sys.exc_info()[1]
        names = [f.name for f in traceback.extract_tb(exc.__traceback__)] if exc else []
        view = "hang_view" if "hang_view" in names else "elsewhere"
        record(f"signal {type(exc).__name__} {view}")

    got_request_exception.connect(on_exception, weak=False)
    return WSGIHandler()


def hang_view(request: Any) -> Any:
    hang(60000)


def pid_view(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(str(os.getpid()))


def _urls() -> list[Any]:
    from django.urls import path

    return [path("hang", hang_view), path("pid", pid_view)]


def __getattr__(name: str) -> Any:
    # Lazily: a plain-WSGI run never imports Django; Django imports
    # urlpatterns from here (ROOT_URLCONF).
    if name == "django_app":
        value = _django_app()
    elif name == "urlpatterns":
        value = _urls()
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value
