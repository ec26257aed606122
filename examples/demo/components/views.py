"""Endpoints of the Squall demo project, used by the tests and the benchmarks.

The GET endpoints are csrf_exempt too: they refuse unsafe methods themselves,
so a POST gets 405 from any server (not 403 from the CSRF middleware, which
runs before the view and which Django's test Client skips by default).
"""

import asyncio
import time
from pathlib import Path

from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from .models import Component

SAMPLE_FILE = Path(__file__).resolve().parent / "data" / "sample.txt"

SLOW_DEFAULT_MS = 1000
SLOW_MAX_MS = 60_000
STREAM_DEFAULT_CHUNKS = 10
STREAM_MAX_CHUNKS = 100_000
EVENTS_DEFAULT = 5
EVENTS_MAX = 10_000


def _bounded_int(request, name, default, upper):
    """Query parameter ``name`` as an int clamped to 0..upper; None if not an int."""
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return max(0, min(value, upper))


@csrf_exempt
@require_safe
def hello(request):
    return HttpResponse("Hello, World!", content_type="text/plain")


@csrf_exempt
@require_safe
def hello_json(request):
    return JsonResponse({"message": "Hello, World!"})


@csrf_exempt
@require_safe
def components_list(request):
    components = list(Component.objects.order_by("id").values("id", "title"))
    return JsonResponse({"components": components})


@csrf_exempt
@require_safe
def slow(request):
    ms = _bounded_int(request, "ms", SLOW_DEFAULT_MS, SLOW_MAX_MS)
    if ms is None:
        return HttpResponseBadRequest("ms must be an integer", content_type="text/plain")
    time.sleep(ms / 1000)
    return HttpResponse(f"slept {ms} ms", content_type="text/plain")


@csrf_exempt
@require_POST
def echo(request):
    content_type = request.META.get("CONTENT_TYPE") or "application/octet-stream"
    return HttpResponse(request.body, content_type=content_type)


@csrf_exempt
@require_safe
def stream(request):
    n = _bounded_int(request, "n", STREAM_DEFAULT_CHUNKS, STREAM_MAX_CHUNKS)
    if n is None:
        return HttpResponseBadRequest("n must be an integer", content_type="text/plain")
    chunks = (f"chunk {i}\n" for i in range(n))
    return StreamingHttpResponse(chunks, content_type="text/plain")


@csrf_exempt
@require_safe
def sample_file(request):
    return FileResponse(SAMPLE_FILE.open("rb"), content_type="text/plain; charset=utf-8")


# ---- async views: served natively with manage.py serve --asgi (Django runs
# them in the worker's event loop); under WSGI Django runs them in a loop of
# their own per request.


@csrf_exempt
@require_safe
async def hello_async(request):
    await asyncio.sleep(0)
    components = [c async for c in Component.objects.order_by("id").values_list("title", flat=True)]
    return JsonResponse({"message": "Hello, async World!", "components": components})


@csrf_exempt
@require_safe
async def events(request):
    """Server-sent events (text/event-stream): ``n`` events, ``ms`` apart. Under
    ASGI each event leaves as it is produced; under WSGI Django consumes the
    async iterator synchronously (it warns) and the events arrive together."""
    n = _bounded_int(request, "n", EVENTS_DEFAULT, EVENTS_MAX)
    ms = _bounded_int(request, "ms", 100, SLOW_MAX_MS)
    if n is None or ms is None:
        return HttpResponseBadRequest("n and ms must be integers", content_type="text/plain")

    async def stream():
        for i in range(n):
            if i:
                await asyncio.sleep(ms / 1000)
            yield f"id: {i}\ndata: event {i}\n\n"

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
