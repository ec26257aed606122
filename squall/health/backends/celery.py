"""Celery checks: do workers answer a ping, and is this pod's worker alive?

CeleryPingBackend (for the web pods' readiness, or a dashboard subset)
    Broadcasts Celery's ``ping`` control command and waits ``timeout``
    seconds (kwarg ``timeout`` or ``ping_timeout``, default
    ``settings.HEALTHCHECK_CELERY_PING_TIMEOUT``, else 1) for replies.
    Unavailable when the broker is unreachable or no worker answers; a
    warning when an expected queue (kwarg ``queues``, default the app's
    ``task_queues`` or ``task_default_queue``) has no worker consuming it.
    The app is ``celery.current_app`` (the project's app once its module
    is imported, as Django projects do in ``proj/__init__.py``) or the
    kwarg ``app`` (dotted path, e.g. ``"proj.celery.app"``).
    In a HEALTH_CHECK["SUBSETS"] entry the runner keeps ``timeout`` as the
    bound of the whole check: pass the ping's own wait as ``ping_timeout``.

CeleryHeartbeatBackend (for a worker pod's liveness)
    Checks the file that squall.health.celery_heartbeat.HeartbeatStep
    touches while the worker runs: unavailable when it is missing or older
    than ``max_age`` seconds (default 60). Kwarg ``path``, default
    ``SQUALL_CELERY_HEARTBEAT_FILE``. It only reads a file: no broker
    round trip, so a broker outage does not restart every worker.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .base import BaseHealthCheckBackend, ServiceUnavailable, ServiceWarning

DEFAULT_PING_TIMEOUT = 1.0
DEFAULT_HEARTBEAT_INTERVAL = 10.0
DEFAULT_MAX_AGE = 60.0


def setting(name: str, default: Any) -> Any:
    """A Django setting when Django is configured, else the environment variable `name`.

    A Celery worker need not run with Django settings (and the step must not
    fail because of that), so the environment is the fallback.
    """
    from django.conf import settings

    try:
        return getattr(settings, name)
    except (AttributeError, ImproperlyConfigured, ImportError):
        return os.environ.get(name, default)


def heartbeat_file() -> Path:
    default = Path(tempfile.gettempdir()) / "squall-celery-heartbeat"
    return Path(setting("SQUALL_CELERY_HEARTBEAT_FILE", default))


def heartbeat_interval() -> float:
    return float(setting("SQUALL_CELERY_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL))


class CeleryPingBackend(BaseHealthCheckBackend):
    def __init__(
        self,
        timeout: float | None = None,
        ping_timeout: float | None = None,
        queues: list[str] | None = None,
        app: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        wait = ping_timeout if ping_timeout is not None else timeout
        if wait is None:
            wait = setting("HEALTHCHECK_CELERY_PING_TIMEOUT", DEFAULT_PING_TIMEOUT)
        self.timeout = float(wait)
        self.queues = queues
        self.app = app

    def _app(self) -> Any:
        if self.app is None:
            from celery import current_app

            return current_app._get_current_object()
        if isinstance(self.app, str):
            from django.utils.module_loading import import_string

            return import_string(self.app)
        return self.app

    def _expected_queues(self, app: Any) -> list[str]:
        if self.queues is not None:
            return list(self.queues)
        task_queues = app.conf.task_queues
        if task_queues:
            return [getattr(q, "name", q) for q in task_queues]
        return [app.conf.task_default_queue]

    def check_status(self) -> None:
        try:
            app = self._app()
        except ImportError as e:
            raise ServiceUnavailable(f"cannot import Celery or the app: {e}") from e
        # Our own connection, tried once (max_retries=0: no backoff sleep): a
        # broadcast on a pooled connection retries a dead broker without end
        # (kombu publishes control messages with retry=True).
        conn = app.connection_for_write(connect_timeout=self.timeout)
        try:
            try:
                conn.ensure_connection(max_retries=0, timeout=self.timeout)
            except Exception as e:  # kombu OperationalError and the transport's own errors
                where = conn.as_uri()  # masks the password
                raise ServiceUnavailable(f"broker {where} unreachable: {e}") from e
            replies = app.control.ping(timeout=self.timeout, connection=conn)
            if not replies:
                raise ServiceUnavailable(
                    f"no Celery worker answered a ping within {self.timeout:g} s"
                )
            workers: list[str] = []
            for reply in replies:
                for name, answer in reply.items():
                    if answer != {"ok": "pong"}:
                        raise ServiceUnavailable(f"worker {name} answered {answer!r} to a ping")
                    workers.append(name)
            self._check_queues(app, conn, workers)
        finally:
            conn.release()

    def _check_queues(self, app: Any, conn: Any, workers: list[str]) -> None:
        expected = self._expected_queues(app)
        if not expected:
            return
        inspect = app.control.inspect(destination=workers, timeout=self.timeout, connection=conn)
        active = inspect.active_queues() or {}
        consumed = {q["name"] for queues in active.values() for q in queues or []}
        missing = [q for q in expected if q not in consumed]
        if missing:
            raise ServiceWarning(
                f"{len(workers)} worker(s) answered, but none consumes queue(s) "
                f"{', '.join(missing)}"
            )


class CeleryHeartbeatBackend(BaseHealthCheckBackend):
    def __init__(
        self, path: str | os.PathLike[str] | None = None, max_age: float = DEFAULT_MAX_AGE,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.path = Path(path) if path is not None else heartbeat_file()
        self.max_age = float(max_age)

    def identifier(self) -> str:
        return f"{type(self).__name__}[{self.path}]"

    def check_status(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError as e:
            raise ServiceUnavailable(
                f"heartbeat file {self.path} missing: no worker running with HeartbeatStep"
            ) from e
        except OSError as e:
            raise ServiceUnavailable(f"heartbeat file {self.path}: {e}") from e
        age = time.time() - mtime
        if age > self.max_age:
            raise ServiceUnavailable(
                f"heartbeat file {self.path} last touched {age:.1f} s ago "
                f"(max_age {self.max_age:g} s): the worker is stuck or gone"
            )
