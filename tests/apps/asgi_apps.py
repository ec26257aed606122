"""ASGI applications for tests/test_asgi.py, one route per behaviour.

ASGI_RECORD names a directory where routes leave files the test waits for
(what the application saw: a disconnect, a cancellation).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

RECORD = Path(os.environ.get("ASGI_RECORD", "/tmp"))


def record(name: str, text: str = "") -> None:
    """Writes RECORD/name atomically (a reader never sees it empty)."""
    tmp = RECORD / f".{name}.tmp"
    tmp.write_text(text)
    tmp.replace(RECORD / name)


async def wait_for_file(name: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (RECORD / name).exists():
            return True
        await asyncio.sleep(0.01)
    return False


async def start(send: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None):
    await send({"type": "http.response.start", "status": status, "headers": headers or []})


async def text(send: Any, body: bytes, status: int = 200) -> None:
    await start(send, status, [(b"content-type", b"text/plain")])
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Any) -> tuple[bytes, int]:
    """The whole body and the number of http.request messages it came in."""
    body, messages = b"", 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message.get("body", b"")
        messages += 1
        if not message.get("more_body"):
            return body, messages


async def lifespan(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started_at"] = "lifespan"
            scope["state"]["pid"] = os.getpid()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            record(f"shutdown-{os.getpid()}")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    message = await receive()
    assert message["type"] == "websocket.connect", message
    if path == "/ws/refuse":
        return await send({"type": "websocket.close"})  # before accept: 403
    subprotocols = scope["subprotocols"]
    await send({
        "type": "websocket.accept",
        "subprotocol": subprotocols[-1] if subprotocols else None,
        "headers": [(b"x-accepted", b"yes")],
    })  # fmt: skip
    if path == "/ws/scope":
        seen = {k: scope[k] for k in ("type", "scheme", "path", "subprotocols", "http_version")}
        seen["query_string"] = scope["query_string"].decode()
        seen["state"] = scope.get("state")
        seen["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        seen["squall"] = {k: v for k, v in scope.items() if k.startswith("squall.")}
        await send({"type": "websocket.send", "text": json.dumps(seen)})
    elif path == "/ws/raise":
        raise RuntimeError("boom in a websocket")
    elif path == "/ws/close":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        return
    elif path == "/ws/flood":
        # Back-pressure: the client does not read; send() must make the app wait.
        sent = 0
        try:
            while sent < 256 * 1024 * 1024:
                await send({"type": "websocket.send", "bytes": b"x" * 65536})
                sent += 65536
                record("ws-flood", str(sent))
        except OSError:
            return
    # Echo until the client leaves (or the server closes), then record the code.
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            record("ws-disconnect", str(message["code"]))
            return
        if message.get("text") == "pid":
            await send({"type": "websocket.send", "text": str(os.getpid())})
            continue
        reply = {k: message[k] for k in ("text", "bytes") if message.get(k) is not None}
        await send({"type": "websocket.send", **reply})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    path = scope["path"]
    if path == "/hello":
        return await text(send, b"Hello, World!")
    if path == "/scope":
        body, _ = await read_body(receive)
        seen = {
            k: scope[k]
            for k in ("type", "http_version", "method", "scheme", "path", "root_path", "client")
        }
        seen["asgi"] = scope["asgi"]
        seen["raw_path"] = scope["raw_path"].decode("latin-1")
        seen["query_string"] = scope["query_string"].decode("latin-1")
        seen["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        seen["server"] = list(scope["server"])
        seen["state"] = scope.get("state")
        seen["squall"] = {k: v for k, v in scope.items() if k.startswith("squall.")}
        return await text(send, json.dumps(seen).encode())
    if path == "/echo":
        body, messages = await read_body(receive)
        await start(send, 200, [(b"x-messages", str(messages).encode())])
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/stream":
        # The second chunk is produced only once the client has read the first
        # (the test creates the gate file after reading it).
        await start(send, 200, [(b"content-type", b"text/plain")])
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        if not await wait_for_file("gate"):
            return
        await send({"type": "http.response.body", "body": b"second\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if path == "/declared":
        # The application declares the length: no chunked framing.
        await start(send, 200, [(b"content-length", b"10")])
        await send({"type": "http.response.body", "body": b"01234", "more_body": True})
        await send({"type": "http.response.body", "body": b"56789", "more_body": False})
        return
    if path == "/disconnect":
        # Body read; the next receive() returns once the client has gone.
        await read_body(receive)
        message = await receive()
        record("disconnect", message["type"])
        return
    if path == "/ticker":
        # Streams until send() raises because the client left (ASGI 2.4: OSError).
        await start(send, 200)
        try:
            while True:
                tick = {"type": "http.response.body", "body": b"tick\n" * 100, "more_body": True}
                await send(tick)
                await asyncio.sleep(0.01)
        except OSError as exc:
            record("ticker", type(exc).__name__)
            raise
    if path == "/flood":
        # Back-pressure: the client does not read; the app must not get far ahead.
        await start(send, 200)
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < 256 * 1024 * 1024:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
                record("flood", str(sent))
        except OSError:
            return
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/raise":
        raise RuntimeError("boom before the response")
    if path == "/raise-late":
        await start(send, 200)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after the head")
    if path == "/nothing":
        return  # returns without a response
    if path == "/never":
        # Never answers: --timeout answers the client and cancels this task.
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            record("cancelled", "yes")
            raise
    if path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"x"})
        return
    if path == "/bad-header":
        return await start(send, 200, [(b"x-bad", b"a\r\nInjected: yes")])
    if path == "/block":
        # Holds the event loop (a blocking call in async code): the probes and
        # static files do not depend on it.
        time.sleep(float(scope["query_string"] or b"2"))
        return await text(send, b"unblocked")
    if path == "/slow-stream":
        await start(send, 200)
        for i in range(10):
            await send({"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"end\n"})
        return
    if path == "/gated":
        # Answers once the test opens the gate: until then it waits for the app.
        await wait_for_file("gate-open", timeout=30)
        return await text(send, b"through")
    if path == "/pid":
        return await text(send, str(os.getpid()).encode())
    await text(send, b"not found", 404)


async def failing_startup(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "the database is not there"})
        return
    await text(send, b"never served")


async def raising_startup(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("startup exploded")
    await text(send, b"never served")


async def no_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Like Django's ASGIHandler: anything but http is refused before receive()."""
    if scope["type"] != "http":
        raise ValueError(f"cannot handle {scope['type']}")
    await text(send, json.dumps({"state": "state" in scope}).encode())
