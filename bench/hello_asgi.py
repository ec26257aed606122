"""ASGI twin of ``bench.hello``, so uvicorn gets a ``hello`` row too.

Answers every HTTP request with ``200 text/plain "Hello, World!"`` and a
Content-Length, completes the lifespan protocol, and echoes WebSocket
messages (bench/ws_idle.py).
"""

from collections.abc import Awaitable, Callable
from typing import Any

BODY = b"Hello, World!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
RESPONSE_BODY = {"type": "http.response.body", "body": BODY}

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        await send(START)
        await send(RESPONSE_BODY)
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            echo = {k: message[k] for k in ("text", "bytes") if message.get(k) is not None}
            await send({"type": "websocket.send", **echo})
