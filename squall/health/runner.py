"""Run a subset of health checks: the API of Squall's checker process and the views.

Each check runs in a daemon thread of its own and is waited for at most its
timeout (the entry's ``timeout`` kwarg, else HEALTH_CHECK["TIMEOUT"]). A check
that hangs is reported failed and its thread abandoned; until that thread
ends, later runs of the same entry report it failed instead of starting
another one, so a dependency that hangs every call costs one thread per entry,
not one per run. A check thread closes the database connections it opened
when it finishes: connections are per thread and would otherwise leak.

With HEALTH_CHECK["DISABLE_THREADING"] the checks run one after the other in
the caller's thread: no timeouts, and the caller's connections stay open.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import connections

from .backends.base import BaseHealthCheckBackend, HealthCheckException, ServiceWarning
from .conf import get_settings, get_subsets, parse_entry, parse_timeout, resolve_backend

logger = logging.getLogger("squall.health")


@dataclass(frozen=True)
class CheckResult:
    name: str  # backend.identifier()
    ok: bool  # no error; a ServiceWarning is an error only with WARNINGS_AS_ERRORS
    critical: bool  # backend.critical_service
    # "" when the check raised nothing; else pretty_status() ("unavailable: ...",
    # also "warning: ..." with ok=True when warnings are not errors), or
    # "timed out after 3.0 s" / "still running since 12.3 s".
    message: str
    duration: float  # seconds


def _subsets() -> dict[str, Any]:
    subsets = get_subsets()
    # Not a dict: system check squall.health.E001 says so; run nothing meanwhile.
    return subsets if isinstance(subsets, dict) else {}


def subset_names() -> list[str]:
    return list(_subsets())


def subset_ok(results: list[CheckResult]) -> bool:
    """True when no critical check failed (non-critical failures are reported only)."""
    return all(r.ok or not r.critical for r in results)


class _Run:
    """One run of one check in its own thread."""

    def __init__(self, backend: BaseHealthCheckBackend) -> None:
        self.backend = backend
        self.started = time.monotonic()
        self.finished: float | None = None
        self.done = threading.Event()
        self.crash: BaseException | None = None  # what escaped run_check (SystemExit, ...)


# Runs whose thread has not ended yet, by entry: at most one per entry.
_in_flight: dict[tuple[str, int, str, str], _Run] = {}
_lock = threading.Lock()


@dataclass
class _Job:
    key: tuple[str, int, str, str]
    backend: BaseHealthCheckBackend
    timeout: float


def run_subset(name: str) -> list[CheckResult]:
    """Run every check of subset ``name``; KeyError when there is no such subset."""
    subsets = _subsets()
    if name not in subsets:
        raise KeyError(name)
    conf = get_settings()
    entries = subsets[name]
    if not isinstance(entries, (list, tuple)):
        # System check squall.health.E002 reports this at startup too.
        msg = f"SUBSETS[{name!r}] is not a list or tuple"
        return [CheckResult(f"subset {name}", False, True, f"unknown error: {msg}", 0.0)]

    # In the order of the settings: a job to run, or the failure of a broken entry.
    slots: list[_Job | CheckResult] = []
    for index, entry in enumerate(entries):
        label = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
        try:
            path, kwargs = parse_entry(entry)  # a fresh deep copy of the kwargs
            timeout = parse_timeout(kwargs.pop("timeout", conf["TIMEOUT"]))
            cls = resolve_backend(path)
            expand = getattr(cls, "expand", None)  # one instance per alias, if it has aliases
            backends = expand(**kwargs) if callable(expand) else [cls(**kwargs)]
        except Exception as e:  # a broken entry fails its own line, not the subset run
            logger.error("health check %r in subset %r: %s", label, name, e)
            message = f"unknown error: {type(e).__name__}: {e}"
            slots.append(CheckResult(str(label), False, True, message, 0.0))
            continue
        for backend in backends:
            slots.append(_Job((name, index, path, backend.identifier()), backend, timeout))

    jobs = [slot for slot in slots if isinstance(slot, _Job)]
    warnings_as_errors = bool(conf["WARNINGS_AS_ERRORS"])
    if conf["DISABLE_THREADING"]:
        done = [_run_inline(job, warnings_as_errors) for job in jobs]
    else:
        done = _run_threaded(jobs, warnings_as_errors)
    it = iter(done)
    return [slot if isinstance(slot, CheckResult) else next(it) for slot in slots]


def run_backends(
    name: str, backends: list[BaseHealthCheckBackend], timeout: float
) -> list[CheckResult]:
    """Backends that are not SUBSETS entries (the checker's system checks), run
    like a subset's: a thread and `timeout` each, at most one run in flight."""
    jobs = [
        _Job((name, index, type(backend).__qualname__, backend.identifier()), backend, timeout)
        for index, backend in enumerate(backends)
    ]
    return _run_threaded(jobs, bool(get_settings()["WARNINGS_AS_ERRORS"]))


def _from_backend(
    backend: BaseHealthCheckBackend, warnings_as_errors: bool, duration: float
) -> CheckResult:
    errors = backend.errors
    failing = [e for e in errors if warnings_as_errors or not isinstance(e, ServiceWarning)]
    message = backend.pretty_status() if errors else ""
    return CheckResult(
        backend.identifier(), not failing, bool(backend.critical_service), message, duration
    )


def _run_inline(job: _Job, warnings_as_errors: bool) -> CheckResult:
    start = time.monotonic()
    job.backend.run_check()
    return _from_backend(job.backend, warnings_as_errors, time.monotonic() - start)


def _work(run: _Run, key: Any) -> None:
    try:
        run.backend.run_check()
    except BaseException as e:  # run_check only lets non-Exception ones through
        run.crash = e
    finally:
        try:
            connections.close_all()
        except Exception:
            logger.exception("closing database connections after %s", key[3])
        run.finished = time.monotonic()
        run.done.set()
        with _lock:
            if _in_flight.get(key) is run:
                del _in_flight[key]


def _run_threaded(jobs: list[_Job], warnings_as_errors: bool) -> list[CheckResult]:
    runs: list[_Run | CheckResult] = []
    for job in jobs:
        with _lock:
            previous = _in_flight.get(job.key)
            if previous is not None and not previous.done.is_set():
                since = time.monotonic() - previous.started
                runs.append(
                    CheckResult(
                        job.backend.identifier(),
                        False,
                        bool(job.backend.critical_service),
                        f"still running since {since:.1f} s",
                        0.0,
                    )
                )
                continue
            run = _Run(job.backend)
            _in_flight[job.key] = run
        thread = threading.Thread(
            target=_work,
            args=(run, job.key),
            name=f"squall-health:{job.key[3]}",
            daemon=True,  # a hung check must not keep the process from exiting
        )
        thread.start()
        runs.append(run)

    results: list[CheckResult] = []
    for job, run in zip(jobs, runs, strict=True):
        if isinstance(run, CheckResult):
            results.append(run)
            continue
        # Every thread started at about the same time, so this waits at most
        # the largest timeout in total.
        run.done.wait(max(0.0, run.started + job.timeout - time.monotonic()))
        backend = run.backend
        if not run.done.is_set():
            results.append(
                CheckResult(
                    backend.identifier(),
                    False,
                    bool(backend.critical_service),
                    f"timed out after {job.timeout} s",
                    time.monotonic() - run.started,
                )
            )
        elif run.crash is not None:
            error = HealthCheckException(f"{type(run.crash).__name__}: {run.crash}")
            results.append(
                CheckResult(
                    backend.identifier(),
                    False,
                    bool(backend.critical_service),
                    str(error),
                    (run.finished or run.started) - run.started,
                )
            )
        else:
            duration = (run.finished or run.started) - run.started
            results.append(_from_backend(backend, warnings_as_errors, duration))
    return results
