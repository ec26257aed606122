import os

from django.core.cache import caches
from django.db import connection
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import Counter, Gauge, Histogram, Summary

from promparity.parity_app.models import Item

# The app's own metrics, in prometheus_client's default REGISTRY (registered
# at import, as users do): Squall exports them without PROMETHEUS_MULTIPROC_DIR.
CALLS = Counter("parity_calls", "Calls of the counter view.", ["kind"])
IN_VIEW = Gauge("parity_in_view", "Requests inside the counter view.")
SIZES = Histogram("parity_sizes", "Sizes seen by the counter view.", buckets=(1, 10, 100))
WAITS = Summary("parity_waits_seconds", "Waits of the counter view.")
SERVED = Gauge("parity_worker_served", "1 once this process served the counter view.")


def hello(request):
    return HttpResponse("hello")


def page(request):
    return TemplateResponse(request, "parity/page.html", {"word": "page"})


def page_choice(request):
    return TemplateResponse(request, ["parity/none.html", "parity/page.html"], {"word": "x"})


def json_view(request):
    return JsonResponse({"ok": True})


def latin1(request):
    return HttpResponse("caf\xe9", charset="latin-1")


def stream(request):
    return StreamingHttpResponse(iter([b"a", b"b"]))


def moved(request):
    return HttpResponseRedirect("/")


def missing(request):
    raise Http404("no such thing")


def error(request):
    raise ValueError("boom")


@csrf_exempt
def echo(request):
    return HttpResponse(request.body)


def cache_set(request, alias, key):
    caches[alias].set(key, "v")
    return HttpResponse("set")


def cache_get(request, alias, key):
    return HttpResponse(str(caches[alias].get(key)))


def db_query(request):
    return HttpResponse(str(Item.objects.count()))


def db_many(request, rows):
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO parity_app_note (text) VALUES (%s)", [(f"n{i}",) for i in range(rows)]
        )
    return HttpResponse("ok")


def db_bad(request):
    with connection.cursor() as cursor:
        try:
            cursor.execute("SELECT * FROM no_such_table")
        except Exception:
            pass
    return HttpResponse("bad")


@csrf_exempt
def items(request):
    # An insert, an update, a delete: django_model_*_total.
    item = Item.objects.create(name="a")
    item.name = "b"
    item.save()
    item.delete()
    return HttpResponse("items")


def counter(request):
    with IN_VIEW.track_inprogress():
        CALLS.labels(kind=request.GET.get("kind", "plain")).inc()
        SIZES.observe(len(request.GET.get("kind", "")))
        WAITS.observe(0.5)
        SERVED.set(1)
    return HttpResponse(str(os.getpid()))
