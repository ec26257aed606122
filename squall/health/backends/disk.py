"""DiskUsageBackend: is the filesystem holding ``path`` too full?

Kwargs: ``path`` (default "/"), ``max_percent`` (default
HEALTH_CHECK["DISK_USAGE_MAX"], 90; None disables the check). At or above it:
ServiceWarning. The percentage is used / (used + free), like ``df`` and psutil,
so blocks reserved for root count as unavailable.
"""

from __future__ import annotations

import shutil
from typing import Any

from ..conf import get_setting
from .base import BaseHealthCheckBackend, ServiceUnavailable, ServiceWarning

_UNSET: Any = object()


class DiskUsageBackend(BaseHealthCheckBackend):
    def __init__(self, path: str = "/", max_percent: float | None = _UNSET, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.max_percent = get_setting("DISK_USAGE_MAX") if max_percent is _UNSET else max_percent

    def identifier(self) -> str:
        return f"{type(self).__name__}[{self.path}]"

    def check_status(self) -> None:
        if self.max_percent is None:
            return
        try:
            usage = shutil.disk_usage(self.path)
        except OSError as e:
            raise ServiceUnavailable(f"{self.path}: {e}") from e
        avail_total = usage.used + usage.free
        percent = 100.0 * usage.used / avail_total if avail_total else 100.0
        if percent >= self.max_percent:
            raise ServiceWarning(f"{self.path} is {percent:.1f}% full (limit {self.max_percent}%)")
