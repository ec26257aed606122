"""The demo's Django ASGI application instrumented by OpenTelemetry (as
tracing_wsgi.py), and a WebSocket route that sends its scope's trace ids, so
tests/test_tracing.py sees Squall's SERVER span around both scope types."""

import json
from typing import Any

from django.core.asgi import get_asgi_application
from opentelemetry import trace
from opentelemetry.instrumentation.django import DjangoInstrumentor

DjangoInstrumentor().instrument()
django_application = get_asgi_application()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return await django_application(scope, receive, send)
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    current = trace.get_current_span().get_span_context()
    seen = {"span_id": f"{current.span_id:016x}", "squall.span_id": scope["squall.span_id"]}
    await send({"type": "websocket.send", "text": json.dumps(seen)})
    await send({"type": "websocket.close", "code": 1000})
