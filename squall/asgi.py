"""Runs an ASGI 3 application in a worker: one asyncio loop, in a Python thread.

The worker's I/O thread (C++) accepts, parses and writes as for WSGI; the
requests it queues are taken here instead of by ``--threads`` threads
(docs/asgi.md). The engine wakes the loop through an eventfd the loop watches
(``loop.add_reader``): new requests, body bytes, an output buffer that
drained, a client that left, a deadline. The I/O thread never takes the GIL;
the loop reads the engine's state with short, non-blocking calls
(``squall._core.AsgiRequest``).

Implemented: the ``http`` and ``websocket`` scopes (ASGI HTTP and WebSocket
specs 2.4) and ``lifespan`` (2.0, with ``state``). ``http.response.trailers``
is not offered: an application that sends it gets an error (and its client a
500), never a silently broken response.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall import _core
    from squall.options import Config

__all__ = ["ClientDisconnected", "django_asgi_application", "new_event_loop", "run_asgi_worker"]

logger = logging.getLogger("squall")
error_logger = logging.getLogger("squall.error")
timeout_logger = logging.getLogger("squall.timeout")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

READ_SIZE = 64 * 1024  # body bytes per http.request message at most
# Exchange::arm() wants (core/server/exchange.h), as squall._core exports them.
WANT_BODY, WANT_DRAIN, WANT_GONE = 1, 2, 4


class ClientDisconnected(OSError):
    """Raised by send() once the client is gone (ASGI HTTP spec 2.4: an OSError)."""


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """--loop: asyncio, uvloop, or auto (uvloop when installed)."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def describe_request(scope: Scope) -> str:
    query = scope.get("query_string") or b""
    target = scope.get("raw_path", b"").decode("latin-1")
    if query:
        target += "?" + query.decode("latin-1")
    return f"{scope.get('method', 'GET')} {target}"  # a WebSocket handshake is a GET


class HttpCycle:
    """One HTTP request through the application: its receive() and send()."""

    __slots__ = (
        "bridge", "req", "scope", "task", "waiters", "request_done", "response_done", "cancelled",
    )  # fmt: skip

    def __init__(self, bridge: AsgiBridge, req: _core.AsgiRequest) -> None:
        self.bridge = bridge
        self.req = req
        self.scope: Scope = {}
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[None]] = []
        self.request_done = False  # the whole body was delivered (or never will be)
        self.response_done = False  # the last body message was sent
        self.cancelled = False

    async def run(self) -> None:
        req, bridge = self.req, self.bridge
        try:
            self.scope = req.scope(bridge.root_path, bridge.lifespan.request_state())
            await bridge.app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            if req.deadline_passed:
                timeout_logger.info(
                    "worker %d: request %s unwound after its --timeout (task cancelled)",
                    os.getpid(), describe_request(self.scope),
                )  # fmt: skip
            req.fail()
        except ClientDisconnected:
            req.fail()  # the client left: nothing to answer, nothing to log
        except Exception as exc:
            if not req.gone:
                error_logger.error(
                    "Exception in the ASGI application (%s)", describe_request(self.scope),
                    exc_info=(type(exc), exc, exc.__traceback__),
                )  # fmt: skip
            req.fail()
        else:
            if not self.response_done and not req.gone:
                error_logger.error(
                    "The ASGI application returned before %s (%s)",
                    "sending http.response.start" if not req.started
                    else "the last http.response.body (more_body was true)",
                    describe_request(self.scope),
                )  # fmt: skip
                req.fail()
        finally:
            req.done()
            bridge.cycles.pop(req.id, None)
            self.wake()

    def wake(self) -> None:
        """The engine says this request changed: waiters look again."""
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self.req.deadline_passed and not self.cancelled and self.task is not None:
            # The engine answered 504 (or closed); the task is cancelled so that
            # the view unwinds through its finally blocks.
            self.cancelled = True
            self.task.cancel()

    async def wait(self, want: int) -> None:
        """Until what `want` waits for may have happened (re-check after)."""
        if not self.req.arm(want):
            return
        waiter = self.bridge.loop.create_future()
        self.waiters.append(waiter)
        await waiter

    async def receive(self) -> Message:
        req = self.req
        while not self.request_done:
            status, data, more = req.read(READ_SIZE)
            if status == 0:  # body bytes
                self.request_done = not more
                return {"type": "http.request", "body": data, "more_body": more}
            if status == 1:  # end of the body
                self.request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if status == 3:  # the body can never complete: the client is gone
                self.request_done = True
                break
            await self.wait(WANT_BODY)
        # After the body: http.disconnect once the client goes away, or once
        # the response is complete (nothing more can happen on this request).
        while not (self.response_done or req.gone or req.peer_closed):
            await self.wait(WANT_GONE)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        req = self.req
        kind = message["type"]
        if kind == "http.response.body":
            more = bool(message.get("more_body", False))
            status = req.send(message.get("body", b""), more)
            if not more:
                self.response_done = True
                self.wake()  # a receive() waiting for the end returns http.disconnect
            if status == 1:  # above the high-water mark: wait for the client to read
                await self.wait(WANT_DRAIN)
                status = 2 if req.gone else 0
            if status == 2:
                raise ClientDisconnected(f"the client of {describe_request(self.scope)} is gone")
        elif kind == "http.response.start":
            if message.get("trailers"):
                raise ValueError(
                    "http.response.start asks for trailers: Squall does not offer the "
                    "http.response.trailers extension (it is not in the scope's extensions)"
                )
            req.start(message["status"], message.get("headers", ()))
        elif kind == "http.response.trailers":
            raise ValueError(
                "http.response.trailers: Squall does not offer the trailers extension "
                "(it is not in the scope's extensions)"
            )
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} for an HTTP request")


class WebSocketCycle(HttpCycle):
    """One WebSocket connection (ASGI WebSocket spec 2.4). Framing, masking,
    ping/pong, UTF-8 checks and limits are the I/O thread's (core/ws); this
    sees whole messages."""

    __slots__ = ("connected",)

    def __init__(self, bridge: AsgiBridge, req: _core.AsgiRequest) -> None:
        super().__init__(bridge, req)
        self.connected = False  # websocket.connect was delivered

    async def run(self) -> None:
        req, bridge = self.req, self.bridge
        try:
            self.scope = req.scope(bridge.root_path, bridge.lifespan.request_state())
            await bridge.app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            req.fail()
        except ClientDisconnected:
            req.fail()
        except Exception as exc:
            error_logger.error(
                "Exception in the ASGI application (WebSocket %s)", describe_request(self.scope),
                exc_info=(type(exc), exc, exc.__traceback__),
            )  # fmt: skip
            req.fail()  # 1011 once accepted, else 500
        finally:
            req.done()
            bridge.cycles.pop(req.id, None)
            self.wake()

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        req = self.req
        while True:
            status, is_text, data, code, reason = req.ws_receive()
            if status == 0:
                if is_text:
                    return {"type": "websocket.receive", "text": data}
                return {"type": "websocket.receive", "bytes": data}
            if status == 2:
                self.response_done = True
                return {"type": "websocket.disconnect", "code": code, "reason": reason or ""}
            await self.wait(WANT_BODY)

    async def send(self, message: Message) -> None:
        req = self.req
        kind = message["type"]
        if kind == "websocket.send":
            status = req.ws_send(message.get("text"), message.get("bytes"))
            if status == 1:  # above the high-water mark: wait for the client to read
                await self.wait(WANT_DRAIN)
                status = 2 if req.gone else 0
            if status == 2:
                raise ClientDisconnected(f"the WebSocket {describe_request(self.scope)} is closed")
        elif kind == "websocket.accept":
            req.ws_accept(message.get("subprotocol"), message.get("headers"))
        elif kind == "websocket.close":
            req.ws_close(int(message.get("code", 1000)), message.get("reason"))
            self.response_done = True
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} for a WebSocket")


class Lifespan:
    """The lifespan protocol (ASGI lifespan spec 2.0) with its shared state."""

    def __init__(self, app: ASGIApp, mode: str) -> None:
        self.app = app
        self.mode = mode  # on, off, auto
        self.supported = mode != "off"
        self.state: dict[str, Any] = {}
        self.error: str | None = None
        self.received = False
        self.events: asyncio.Queue[Message] | None = None
        self.answers: asyncio.Queue[Message] | None = None
        self.task: asyncio.Task[None] | None = None

    def request_state(self) -> dict[str, Any] | None:
        """Copied into each request's scope (the engine makes the shallow copy)."""
        return self.state if self.supported else None

    async def _run(self) -> None:
        assert self.answers is not None
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if not self.received and self.mode == "auto":
                # Django's ASGIHandler raises ValueError for any scope but http:
                # it has no lifespan, which is allowed (ASGI lifespan spec).
                logger.info("the ASGI application does not support lifespan (%s)", exc)
                self.supported = False
            else:
                error_logger.error(
                    "Exception in the ASGI application's lifespan",
                    exc_info=(type(exc), exc, exc.__traceback__),
                )
                self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.answers.put_nowait({"type": "lifespan.ended"})

    async def _receive(self) -> Message:
        assert self.events is not None
        self.received = True
        return await self.events.get()

    async def _send(self, message: Message) -> None:
        assert self.answers is not None
        self.answers.put_nowait(message)

    async def _step(self, event: str, timeout: float | None) -> bool:
        """Sends `event`; True when the application completed it."""
        assert self.events is not None and self.answers is not None
        self.events.put_nowait({"type": event})
        answer = await asyncio.wait_for(self.answers.get(), timeout)
        kind = answer["type"]
        if kind == f"{event}.complete":
            return True
        if kind == f"{event}.failed":
            self.error = str(answer.get("message", "")) or "(no message)"
            error_logger.error("ASGI lifespan: %s failed: %s", event.split(".")[1], self.error)
            return False
        if kind == "lifespan.ended" and not self.supported:
            return True
        if kind == "lifespan.ended" and self.error is None:
            self.error = f"the application returned without answering {event}"
            error_logger.error("ASGI lifespan: %s", self.error)
        elif kind != "lifespan.ended":
            self.error = f"unexpected message {kind!r} in answer to {event}"
            error_logger.error("ASGI lifespan: %s", self.error)
        return False

    async def startup(self) -> bool:
        if not self.supported:
            return True
        self.events, self.answers = asyncio.Queue(), asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())
        ok = await self._step("lifespan.startup", None)
        return ok and (self.supported or self.mode != "on")

    async def shutdown(self, timeout: float) -> None:
        if not self.supported or self.task is None or self.task.done():
            return
        try:
            await self._step("lifespan.shutdown", timeout)
        except TimeoutError:
            error_logger.error("ASGI lifespan: shutdown did not complete within %g s", timeout)
            self.task.cancel()


class AsgiBridge:
    """The worker's event loop and what it runs."""

    def __init__(self, server: _core.Server, app: ASGIApp, config: Config) -> None:
        self.server = server
        self.app = app
        self.config = config
        self.root_path = config.root_path
        self.lifespan = Lifespan(app, config.lifespan)
        self.cycles: dict[int, HttpCycle] = {}
        self.loop: asyncio.AbstractEventLoop = new_event_loop(config.loop)
        self.started = threading.Event()  # lifespan startup decided
        self.startup_ok = False
        self.stopped: asyncio.Future[None] | None = None
        self.fd = server.enable_asgi()

    def thread_main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.main())
        except BaseException:
            logger.exception("worker %d: the ASGI event loop failed", os.getpid())
        finally:
            self.started.set()
            self.loop.close()

    async def main(self) -> None:
        self.stopped = self.loop.create_future()
        self.startup_ok = await self.lifespan.startup()
        self.started.set()
        if not self.startup_ok:
            return
        self.loop.add_reader(self.fd, self.on_readable)
        self.on_readable()
        if self.config.timeout > 0:
            self.heartbeat()
        await self.stopped
        self.loop.remove_reader(self.fd)
        self.server.asgi_heartbeat(stop=True)
        # The engine has stopped (drained, or past --graceful-timeout): what
        # is left has no client any more.
        tasks = [c.task for c in self.cycles.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        await self.lifespan.shutdown(float(self.config.graceful_timeout))

    def heartbeat(self) -> None:
        """Every 0.5 s while the loop runs: a loop blocked past --timeout +
        --timeout-grace (synchronous code in async code) gets its worker
        replaced by the master, as a stuck WSGI thread would."""
        if self.stopped is not None and self.stopped.done():
            return
        self.server.asgi_heartbeat()
        self.loop.call_later(0.5, self.heartbeat)

    def on_readable(self) -> None:
        fresh, changed, closed = self.server.asgi_poll()
        for req in fresh:
            cycle = WebSocketCycle(self, req) if req.websocket else HttpCycle(self, req)
            self.cycles[req.id] = cycle
            cycle.task = self.loop.create_task(cycle.run())
        for ident in changed:
            cycle = self.cycles.get(ident)
            if cycle is not None:
                cycle.wake()
        if closed and self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)


def django_asgi_application() -> ASGIApp:
    """The project's ASGI application: settings.ASGI_APPLICATION (Channels'
    convention, a dotted path), else Django's get_asgi_application()."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        from django.core.asgi import get_asgi_application

        return get_asgi_application()
    import django

    django.setup(set_prefix=False)
    try:
        app: ASGIApp = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"ASGI_APPLICATION {path!r} could not be imported: {exc}"
        ) from exc
    return app


def run_asgi_worker(server: _core.Server, app: ASGIApp, config: Config) -> int:
    """The worker's life under ASGI: lifespan startup, serve, lifespan shutdown."""
    from squall import _core

    wants = (_core.WANT_BODY, _core.WANT_DRAIN, _core.WANT_GONE)
    assert wants == (WANT_BODY, WANT_DRAIN, WANT_GONE), wants
    bridge = AsgiBridge(server, app, config)
    thread = threading.Thread(target=bridge.thread_main, name="squall-asgi", daemon=True)
    thread.start()
    bridge.started.wait()
    if not bridge.startup_ok:
        thread.join(timeout=5.0)
        logger.error("worker %d: ASGI lifespan startup failed: %s", os.getpid(),
                     bridge.lifespan.error or "the event loop failed")  # fmt: skip
        server.app_startup_failed()  # the master stops the pod
        return 1
    logger.info("worker %d serving (ASGI, %s loop)", os.getpid(), loop_name(bridge.loop))
    status = server.run()
    # The queue is closed: the loop ends its tasks, runs lifespan shutdown, stops.
    thread.join(timeout=float(config.graceful_timeout) + 5.0)
    return int(status)
