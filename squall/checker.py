"""The health-check process ("checker"): forked by the master once startup
commands are done, respawned if it dies (core/master/side_processes.cpp).

Every ``--check-interval`` seconds it runs the HEALTH_CHECK subsets named
``startup``, ``readiness`` and ``liveness`` (squall.health.runner: each check
in its own thread with its own timeout) and the Django system checks tagged
``readiness`` or ``liveness`` (Hurricane's tags; ``hurricane`` counts as
liveness, as its user guide says), then publishes the results into shared
memory. The probes answer from there, in the master, in microseconds: a slow
or hung check can fail its probe but can never make a probe wait.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from squall._core import CheckResult, ProbeBit
from squall.options import Config

logger = logging.getLogger("squall.health")

# The probes are the members of ProbeBit, by name: a HEALTH_CHECK subset of
# that name feeds that probe.
SYSTEM_CHECK_TAGS = {"readiness": ("readiness",), "liveness": ("liveness", "hurricane")}
SYSTEM_CHECK_TIMEOUT = 10.0


def _tagged_checks(tags: tuple[str, ...]) -> bool:
    from django.core.checks.registry import registry

    return any(registry.tag_exists(tag, include_deployment_checks=True) for tag in tags)


def probe_subsets() -> list[str]:
    """The HEALTH_CHECK subsets that feed a probe."""
    from squall.health.runner import subset_names

    return [name for name in subset_names() if name in ProbeBit.__members__]


def checker_needed() -> bool:
    """True when a Django project has something for the probes to check."""
    from squall.startup import django_configured

    if not django_configured():
        return False
    return bool(probe_subsets()) or any(_tagged_checks(t) for t in SYSTEM_CHECK_TAGS.values())


class Checker:
    def __init__(self) -> None:
        from squall.health.backends.system import SystemChecksBackend

        # One backend per probe that has tagged system checks; the runner gives
        # each a thread, a timeout and at most one run in flight, as for subsets.
        self.system_checks = {
            probe: SystemChecksBackend(tags)
            for probe, tags in SYSTEM_CHECK_TAGS.items()
            if _tagged_checks(tags)
        }
        self.last_ok: dict[tuple[int, str], bool] = {}

    def run(self) -> list[CheckResult]:
        from squall.health.runner import run_backends, run_subset

        results: list[CheckResult] = []

        def add(probe: str, name: str, ok: bool, reason: str, duration: float) -> None:
            results.append(CheckResult(
                probes=ProbeBit[probe], name=name, ok=ok, reason=reason, duration=duration,
            ))  # fmt: skip

        for subset in probe_subsets():
            try:
                for r in run_subset(subset):
                    # A non-critical check's failure is logged, never fails the probe.
                    add(subset, r.name, r.ok or not r.critical, r.message, r.duration)
            except Exception as exc:  # a subset that cannot even be built
                add(subset, f"subset-{subset}", False, f"{type(exc).__name__}: {exc}", 0.0)
        for probe, backend in self.system_checks.items():
            for r in run_backends(f"system-{probe}", [backend], SYSTEM_CHECK_TIMEOUT):
                add(probe, r.name, r.ok, r.message, r.duration)
        self.log_changes(results)
        return results

    def log_changes(self, results: list[CheckResult]) -> None:
        for r in results:
            probe = ProbeBit(r.probes).name
            before = self.last_ok.get((r.probes, r.name))
            if not r.ok and before is not False:
                logger.warning("%s check %s failed: %s", probe, r.name, r.reason)
            elif r.ok and before is False:
                logger.info("%s check %s recovered", probe, r.name)
            self.last_ok[(r.probes, r.name)] = r.ok


def run_checker(config: Config, master: Any) -> int:
    """The checker process's life: run, publish, sleep; until SIGTERM."""
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()  # --no-preload: the master did not load the project
    stop = threading.Event()
    # The master sends SIGTERM; Ctrl-C in a terminal sends SIGINT to the whole
    # process group: either ends the loop quietly.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, lambda *_: stop.set())
    checker = Checker()
    logger.info(
        "health checks every %g s: subsets %s%s",
        config.check_interval,
        ", ".join(probe_subsets()) or "none",
        "; system checks tagged " + ", ".join(checker.system_checks)
        if checker.system_checks
        else "",
    )
    while not stop.is_set():
        started = time.monotonic()
        master.publish_checks(checker.run())
        stop.wait(max(0.0, config.check_interval - (time.monotonic() - started)))
    return 0
