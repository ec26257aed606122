"""LivenessMiddleware: answer the liveness path before anything else runs.

Put it first in MIDDLEWARE (system check squall.health.W001 says so when it is
not). ``GET``/``HEAD`` on HEALTH_CHECK["LIVENESS_PATH"] (with or without a
trailing slash) get 200 ``{"status": "ok"}``: no session, no database, no
ALLOWED_HOSTS check (kubelet probes by pod IP, which is rarely an allowed
host), so it only says the process can run Python and answer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .conf import get_setting


class LivenessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            # path_info only: request.get_host() would validate ALLOWED_HOSTS.
            wanted = str(get_setting("LIVENESS_PATH")).rstrip("/") or "/"
            if (request.path_info.rstrip("/") or "/") == wanted:
                response = JsonResponse({"status": "ok"})
                if request.method == "HEAD":
                    length = len(response.content)
                    response.content = b""
                    response["Content-Length"] = str(length)
                return response
        return self.get_response(request)
