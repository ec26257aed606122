"""SystemChecksBackend: Django system checks with the given tags, as
Hurricane's probes ran them (deployment checks included): errors fail the
check, warnings do not. The checker process runs it for the checks tagged
``readiness`` and ``liveness`` / ``hurricane`` (squall/checker.py)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from .base import BaseHealthCheckBackend, ServiceUnavailable


class SystemChecksBackend(BaseHealthCheckBackend):
    def __init__(self, tags: list[str] | tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tags = tuple(tags)

    def identifier(self) -> str:
        return "system-checks"

    def check_status(self) -> None:
        messages = checks.run_checks(tags=list(self.tags), include_deployment_checks=True)
        errors = [m for m in messages if m.is_serious() and not m.is_silenced()]
        if errors:
            raise ServiceUnavailable("; ".join(str(m) for m in errors))
