"""Health check backends for tests/test_health_app.py (importable as ``health_backends``)."""

from __future__ import annotations

import threading
from typing import Any

from django.core.files.storage import FileSystemStorage

from squall.health.backends.base import (
    BaseHealthCheckBackend,
    ServiceUnavailable,
    ServiceWarning,
)

# Threads started by HangBackend; set RELEASE to let them end.
STARTED: list[threading.Thread] = []
RELEASE = threading.Event()


class OkBackend(BaseHealthCheckBackend):
    def check_status(self) -> None:
        pass


class FailBackend(BaseHealthCheckBackend):
    def check_status(self) -> None:
        raise ServiceUnavailable("down for the test")


class NonCriticalFailBackend(FailBackend):
    critical_service = False


class WarnBackend(BaseHealthCheckBackend):
    def check_status(self) -> None:
        raise ServiceWarning("almost full")


class CrashBackend(BaseHealthCheckBackend):
    def check_status(self) -> None:
        raise RuntimeError("boom")


class HangBackend(BaseHealthCheckBackend):
    """Sleeps until RELEASE is set (forever, as far as one test is concerned)."""

    def check_status(self) -> None:
        STARTED.append(threading.current_thread())
        RELEASE.wait()


class MutatingBackend(BaseHealthCheckBackend):
    """Mutates its kwargs; fails when it sees a mutation left over from a previous run."""

    def __init__(self, items: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items = items

    def check_status(self) -> None:
        seen = list(self.items)
        self.items.append("mutated")
        if seen != ["original"]:
            raise ServiceUnavailable(f"saw {seen!r}")


class NotABackend:
    pass


class NoKwargsBackend(BaseHealthCheckBackend):
    """Takes no kwargs at all: proves the runner consumes "timeout" itself."""

    def __init__(self) -> None:
        super().__init__()

    def check_status(self) -> None:
        pass


class ThreadRecordingBackend(BaseHealthCheckBackend):
    threads: list[threading.Thread] = []

    def check_status(self) -> None:
        ThreadRecordingBackend.threads.append(threading.current_thread())


class BrokenReadStorage(FileSystemStorage):
    """Saves fine, fails every read: the health check must still delete its file."""

    def _open(self, name: str, mode: str = "rb") -> Any:
        raise OSError("read failed for the test")
