"""Checks a test can turn on and off from outside the server: each fails (or
hangs) while its flag file exists. Imported by probe_settings when
SQUALL_TEST_FLAG_DIR is set; registers Django system checks tagged as
Hurricane users tag them."""

import os
import time
from pathlib import Path

from django.core import checks

from squall.health.backends.base import BaseHealthCheckBackend, ServiceUnavailable

FLAGS = Path(os.environ.get("SQUALL_TEST_FLAG_DIR", "/nonexistent"))


class FlagBackend(BaseHealthCheckBackend):
    """Unavailable while FLAGS/<flag> exists."""

    def __init__(self, flag: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.flag = flag

    def identifier(self) -> str:
        return f"flag-{self.flag}"

    def check_status(self) -> None:
        if (FLAGS / self.flag).exists():
            raise ServiceUnavailable(f"flag {self.flag} is set")


class HangWhileFlagBackend(FlagBackend):
    """Hangs (far past any timeout) while its flag exists."""

    def check_status(self) -> None:
        while (FLAGS / self.flag).exists():
            time.sleep(0.05)


def _flag_check(flag: str):  # noqa: ANN202
    def check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
        if (FLAGS / flag).exists():
            return [checks.Error(f"system check flag {flag} is set", id="probe_tests.E001")]
        return []

    return check


# Hurricane's tags: "liveness" and its user guide's "hurricane" feed liveness.
checks.register(_flag_check("syscheck-readiness"), "readiness")
checks.register(_flag_check("syscheck-liveness"), "liveness")
checks.register(_flag_check("syscheck-hurricane"), "hurricane")
