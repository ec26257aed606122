"""``settings.HEALTH_CHECK``, as django-health-check-full-of-juice 0.2.0 reads it.

Read on every call (not cached at import) so ``override_settings`` and a
settings change in tests take effect at once.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # {name: [dotted path | (dotted path, kwargs)]}; empty = no dependency checks.
    "SUBSETS": {},
    # A ServiceWarning fails the check (and, if critical, its subset).
    "WARNINGS_AS_ERRORS": True,
    # Percent of the disk in use at which DiskUsageBackend warns.
    "DISK_USAGE_MAX": 90,
    # MiB of available memory under which MemoryBackend warns.
    "MEMORY_MIN": 100,
    # Run checks one after the other in the caller's thread (no timeouts then).
    "DISABLE_THREADING": False,
    # Path answered by LivenessMiddleware.
    "LIVENESS_PATH": "/healthcheck/liveness",
    # Seconds a check may take unless its entry sets "timeout".
    "TIMEOUT": 3.0,
}

LIVENESS_MIDDLEWARE = "squall.health.middleware.LivenessMiddleware"


def get_settings() -> dict[str, Any]:
    user = getattr(settings, "HEALTH_CHECK", None) or {}
    return {**DEFAULTS, **user}


def get_setting(key: str) -> Any:
    return get_settings()[key]


def get_subsets() -> dict[str, Any]:
    return get_setting("SUBSETS") or {}


def parse_entry(entry: Any) -> tuple[str, dict[str, Any]]:
    """``"path"`` or ``("path", {kwargs})`` -> (path, deep copy of kwargs).

    The copy is per call, so a backend that mutates its kwargs cannot change
    what the next run gets. Raises ValueError for anything else.
    """
    if isinstance(entry, str):
        return entry, {}
    if (
        isinstance(entry, (list, tuple))
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], dict)
    ):
        return entry[0], copy.deepcopy(entry[1])
    raise ValueError(f"expected 'dotted.path' or ('dotted.path', {{kwargs}}), got {entry!r}")


def parse_timeout(value: Any) -> float:
    """A positive number of seconds, else ValueError (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
    return float(value)


def resolve_backend(path: str) -> type:
    """Import ``path`` and check it is a BaseHealthCheckBackend subclass.

    django-health-check-full-of-juice's paths name the Squall classes that
    answer them (squall/health/juice.py). ImportError when it does not
    import, TypeError when it is something else.
    """
    from squall.health.backends.base import BaseHealthCheckBackend
    from squall.health.juice import alias

    obj = import_string(alias(path))
    if not (isinstance(obj, type) and issubclass(obj, BaseHealthCheckBackend)):
        raise TypeError(f"{path} is not a BaseHealthCheckBackend subclass")
    return obj
