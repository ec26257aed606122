"""Health endpoints: ``include("squall.health.urls")`` under any prefix.

``<subset>/`` runs the subset: 200 when no critical check failed, else 500;
404 for an unknown subset. HTML by default, JSON with ``?format=json`` or an
Accept header preferring application/json, 406 when Accept allows neither.
Never cached. The HTML is rendered inline (no template to ship or override).
"""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from .runner import CheckResult, run_subset, subset_names, subset_ok

HTML = "text/html"
JSON = "application/json"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>body{{font-family:sans-serif}}td,th{{padding:.2em .8em;text-align:left}}
.ok{{color:#060}}.failed{{color:#b00}}</style></head>
<body><h1>{}</h1>{}</body></html>"""


def _negotiate(request: HttpRequest) -> str | None:
    """The format to answer in, or None for 406."""
    fmt = request.GET.get("format")
    if fmt == "json":
        return JSON
    if fmt == "html":
        return HTML
    if fmt:
        return None
    get_preferred = getattr(request, "get_preferred_type", None)  # Django >= 5.2
    if get_preferred is not None:
        return get_preferred([HTML, JSON])
    for media_type in request.accepted_types:  # older Django: first acceptable one wins
        for candidate in (HTML, JSON):
            if media_type.match(candidate):
                return candidate
    return None


def _not_acceptable() -> HttpResponse:
    return HttpResponse(
        "Not Acceptable: ask for text/html or application/json\n",
        status=406,
        content_type="text/plain; charset=utf-8",
    )


def _html(title: str, body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(format_html(PAGE, title, title, body), status=status)


# csrf_exempt: a POST is 405 (require_safe), not CsrfViewMiddleware's 403; these
# views change nothing.
@csrf_exempt
@never_cache
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The configured subsets, each with a link to run it."""
    fmt = _negotiate(request)
    if fmt is None:
        return _not_acceptable()
    links = {name: reverse("squall_health:subset", args=[name]) for name in subset_names()}
    if fmt == JSON:
        return JsonResponse({"subsets": links})
    items = format_html_join(
        "", '<li><a href="{}">{}</a></li>', ((url, name) for name, url in links.items())
    )
    body = format_html("<ul>{}</ul>", items) if links else "<p>No subsets configured.</p>"
    return _html("Health check subsets", body)


def status_text(result: CheckResult) -> str:
    """What the JSON and HTML show for a check, as django-health-check does."""
    return result.message or "working"


@csrf_exempt
@never_cache
@require_safe
def subset(request: HttpRequest, subset: str) -> HttpResponse:
    fmt = _negotiate(request)
    if fmt is None:
        return _not_acceptable()
    try:
        results = run_subset(subset)
    except KeyError:
        raise Http404(f"no health check subset {subset!r}") from None
    status = 200 if subset_ok(results) else 500
    if fmt == JSON:
        data = {r.name: status_text(r) for r in results}
        return HttpResponse(json.dumps(data), status=status, content_type=JSON)
    rows = format_html_join(
        "",
        '<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                "ok" if r.ok else "failed",
                r.name,
                status_text(r),
                "yes" if r.critical else "no",
                f"{r.duration:.3f} s",
            )
            for r in results
        ),
    )
    body = format_html(
        "<p>{}</p><table><tr><th>Check</th><th>Status</th><th>Critical</th>"
        "<th>Time</th></tr>{}</table>",
        "healthy" if status == 200 else "unhealthy",
        rows,
    )
    return _html(f"Health: {subset}", body, status=status)
