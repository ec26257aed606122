"""Squall's SERVER span around each request, with OpenTelemetry (docs/tracing.md).

The engine gives every request a trace context (W3C Trace Context: the
caller's ``traceparent``, or a new trace) and a span id of its own, before
any Python runs: the access log, the ``X-Request-ID`` response field and the
latency exemplars carry them whether OpenTelemetry is installed or not. The
WSGI environ and the ASGI scope have them as ``squall.trace_id``, ``squall.span_id``,
``squall.parent_id`` (None for a trace started here) and
``squall.trace_flags``.

With ``--tracing-setup module.function`` (``SQUALL_TRACING_SETUP``) each
worker, right after its fork, calls that function, which sets up the
OpenTelemetry SDK (a ``TracerProvider`` with its span processors and
exporters: their threads and sockets do not survive a fork, so they are made
in each worker, never in the master). Squall then wraps the application:
each request runs inside a SERVER span whose trace id and span id are the
engine's (the ones in the access log), child of the caller's span (under
ASGI: current in the request's asyncio task). Django's
own spans (opentelemetry-instrumentation-django, whose middleware sees an
active span and makes an INTERNAL one instead of a second SERVER span), the
database's and the application's are its children.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

logger = logging.getLogger("squall")

WSGIApp = Callable[..., Any]


class SetupError(Exception):
    """--tracing-setup names nothing callable, or calling it failed."""


def run_setup(path: str) -> None:
    """Imports `path` (module.function) and calls it; in a worker, after its fork."""
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SetupError(f"--tracing-setup {path}: cannot import {module_name}: {exc}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise SetupError(f"--tracing-setup {path}: {module_name} has no function {name}")
    function()


class _EngineIds:
    """An OpenTelemetry IdGenerator that hands out the engine's ids for the
    span being started on this thread (once each), and random ones otherwise."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback
        self._local = threading.local()

    def use(self, trace_id: int, span_id: int) -> None:
        self._local.trace_id = trace_id
        self._local.span_id = span_id

    def clear(self) -> None:
        self._local.trace_id = self._local.span_id = None

    def generate_trace_id(self) -> int:
        trace_id = getattr(self._local, "trace_id", None)
        if trace_id is None:
            return int(self._fallback.generate_trace_id())
        self._local.trace_id = None
        return int(trace_id)

    def generate_span_id(self) -> int:
        span_id = getattr(self._local, "span_id", None)
        if span_id is None:
            return int(self._fallback.generate_span_id())
        self._local.span_id = None
        return int(span_id)

    def is_trace_id_random(self) -> bool:
        return True  # the engine's trace ids are 128 random bits


def _parent_context(ids: dict[str, Any], tracestate: str | None) -> Any:
    """The OpenTelemetry context whose span is the caller's (the engine's
    squall.parent_id), or an empty one for a trace started here."""
    from opentelemetry import context, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
    from opentelemetry.trace.propagation.tracecontext import TraceState

    parent_id = ids.get("squall.parent_id")
    if not parent_id:
        return context.Context()  # a root: the SDK asks the id generator for the trace id
    parent = SpanContext(
        int(ids["squall.trace_id"], 16),
        int(parent_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(ids.get("squall.trace_flags", 0)),
        trace_state=TraceState.from_header([tracestate]) if tracestate else None,
    )
    return trace.set_span_in_context(NonRecordingSpan(parent), context.Context())


SpanStarter = Callable[[dict[str, Any], str, Any, dict[str, Any]], Any]


def _span_starter() -> SpanStarter | None:
    """A function starting Squall's SERVER span with the engine's ids (from an
    environ or a scope), when an OpenTelemetry SDK TracerProvider is set; else
    None (and a warning)."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind
    except ImportError:
        logger.warning("--tracing-setup: opentelemetry-api is not installed; no server spans")
        return None

    from squall import __version__

    tracer = trace.get_tracer("squall", __version__)
    fallback = getattr(tracer, "id_generator", None)
    if fallback is None:
        logger.warning(
            "--tracing-setup: the tracer provider is not the OpenTelemetry SDK's "
            "(did the setup function call trace.set_tracer_provider?); no server spans"
        )
        return None
    ids = _EngineIds(fallback)
    tracer.id_generator = ids

    def start(keys: dict[str, Any], name: str, ctx: Any, attributes: dict[str, Any]) -> Any:
        ids.use(int(keys["squall.trace_id"], 16), int(keys["squall.span_id"], 16))
        try:
            return tracer.start_span(name, context=ctx, kind=SpanKind.SERVER, attributes=attributes)
        finally:
            ids.clear()

    return start


def server_span_app(app: WSGIApp) -> WSGIApp:
    """`app` inside Squall's SERVER span, when an OpenTelemetry SDK
    TracerProvider is set; else `app` itself (and a warning)."""
    start = _span_starter()
    if start is None:
        return app
    from opentelemetry import context, trace
    from opentelemetry.trace.status import Status, StatusCode

    def traced(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        trace_id = environ.get("squall.trace_id")
        if not trace_id:
            return app(environ, start_response)
        ctx = _parent_context(environ, environ.get("HTTP_TRACESTATE"))
        method = environ.get("REQUEST_METHOD", "")
        attributes = {
            "http.request.method": method,
            "url.path": environ.get("PATH_INFO", ""),
            "url.scheme": environ.get("wsgi.url_scheme", "http"),
            "network.protocol.version": environ.get("SERVER_PROTOCOL", "").partition("/")[2],
            "client.address": environ.get("REMOTE_ADDR", ""),
            "server.address": environ.get("SERVER_NAME", ""),
            "http.request.header.x_request_id": environ.get("squall.request_id", ""),
        }
        if environ.get("QUERY_STRING"):
            attributes["url.query"] = environ["QUERY_STRING"]
        if environ.get("HTTP_USER_AGENT"):
            attributes["user_agent.original"] = environ["HTTP_USER_AGENT"]
        span = start(environ, method or "HTTP", ctx, attributes)
        token = context.attach(trace.set_span_in_context(span))

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            code = int(status[:3]) if status[:3].isdigit() else 0
            if span.is_recording():
                span.set_attribute("http.response.status_code", code)
                if code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            return start_response(status, headers, exc_info) if exc_info else start_response(
                status, headers
            )

        def end() -> None:
            span.end()
            context.detach(token)

        try:
            result = app(environ, recording_start_response)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            end()
            raise
        if isinstance(result, list | tuple) or type(result).__name__ == "FileWrapper":
            # The body is already made (or a file the engine sends with
            # sendfile): the span ends here; the engine keeps its fast path.
            end()
            return result
        return _SpanBody(result, end)

    return traced


class _SpanBody:
    """A response iterable whose close() ends the span: a streaming body runs
    inside it (PEP 3333: the server calls close() once, whatever happened)."""

    __slots__ = ("_result", "_end")

    def __init__(self, result: Iterable[bytes], end: Callable[[], None]) -> None:
        self._result = result
        self._end = end

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._end()


def server_span_asgi_app(app: Any) -> Any:
    """The ASGI `app` with each http and websocket scope inside Squall's
    SERVER span, when an OpenTelemetry SDK TracerProvider is set. The span is
    the current one in the request's asyncio task (contextvars: attach and
    detach around the call), so an ASGI instrumentation makes children."""
    start = _span_starter()
    if start is None:
        return app
    from opentelemetry import context, trace
    from opentelemetry.trace.status import Status, StatusCode

    async def traced(scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket") or not scope.get("squall.trace_id"):
            return await app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        state = headers.get(b"tracestate")
        ctx = _parent_context(scope, state.decode("latin-1") if state else None)
        method = scope.get("method", "GET")  # a WebSocket opens with a GET (RFC 6455 4.1)
        client, server = scope.get("client"), scope.get("server")
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", ""),
            "client.address": client[0] if client else "",
            "server.address": server[0] if server else "",
            "http.request.header.x_request_id": scope.get("squall.request_id", ""),
        }
        if scope.get("query_string"):
            attributes["url.query"] = scope["query_string"].decode("latin-1")
        if headers.get(b"user-agent"):
            attributes["user_agent.original"] = headers[b"user-agent"].decode("latin-1")
        span = start(scope, method, ctx, attributes)
        # The task runs in its own copy of the context: the span is current for
        # this request only, and detached in the same task that attached it.
        token = context.attach(trace.set_span_in_context(span))

        async def recording_send(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start" and span.is_recording():
                code = int(message.get("status", 0))
                span.set_attribute("http.response.status_code", code)
                if code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            elif message.get("type") == "websocket.accept" and span.is_recording():
                span.set_attribute("http.response.status_code", 101)
            await send(message)

        try:
            await app(scope, receive, recording_send)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            span.end()
            context.detach(token)

    return traced


def worker_app(app: Any, setup: str, asgi: bool = False) -> Any:
    """In a worker after its fork: runs --tracing-setup, then wraps `app`
    (a WSGI application, or an ASGI one with `asgi`)."""
    if not setup:
        return app
    run_setup(setup)
    return server_span_asgi_app(app) if asgi else server_span_app(app)
