"""System checks of the HEALTH_CHECK setting (``manage.py check``).

IDs follow django-health-check-full-of-juice under "squall.health":
W001 LivenessMiddleware not first, E001 SUBSETS not a dict, E002 a subset
not a list/tuple, E004 an entry that does not import or is no backend,
E005 a malformed entry (including a bad ``timeout`` kwarg).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .conf import LIVENESS_MIDDLEWARE, get_subsets, parse_entry, parse_timeout, resolve_backend

TAG = "squall"


def liveness_middleware_first(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if LIVENESS_MIDDLEWARE in middleware and middleware[0] != LIVENESS_MIDDLEWARE:
        return [
            checks.Warning(
                f"{LIVENESS_MIDDLEWARE} is not the first entry of MIDDLEWARE: the liveness "
                "answer then depends on every middleware above it.",
                hint="Move it to index 0 of MIDDLEWARE.",
                id="squall.health.W001",
            )
        ]
    return []


def subsets_valid(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    subsets = get_subsets()
    if not isinstance(subsets, dict):
        return [
            checks.Error(
                "HEALTH_CHECK['SUBSETS'] must be a dict of subset name -> list of checks.",
                id="squall.health.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for name, entries in subsets.items():
        if not isinstance(entries, (list, tuple)):
            errors.append(
                checks.Error(
                    f"HEALTH_CHECK['SUBSETS'][{name!r}] is a {type(entries).__name__}, "
                    "not a list or tuple.",
                    id="squall.health.E002",
                )
            )
            continue
        for entry in entries:
            try:
                path, kwargs_ = parse_entry(entry)
                if "timeout" in kwargs_:
                    parse_timeout(kwargs_["timeout"])
            except ValueError as e:
                errors.append(
                    checks.Error(
                        f"Malformed entry in HEALTH_CHECK['SUBSETS'][{name!r}]: {e}",
                        id="squall.health.E005",
                    )
                )
                continue
            try:
                resolve_backend(path)
            except (ImportError, TypeError) as e:
                errors.append(
                    checks.Error(
                        f"HEALTH_CHECK['SUBSETS'][{name!r}]: {path!r} is not a usable "
                        f"health check backend: {e}",
                        hint="Give the dotted path of a BaseHealthCheckBackend subclass.",
                        id="squall.health.E004",
                    )
                )
    return errors


def register_checks() -> None:
    """Idempotent: Django keeps registered checks in a set."""
    checks.register(liveness_middleware_first, TAG)
    checks.register(subsets_valid, TAG)
