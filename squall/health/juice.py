"""django-health-check-full-of-juice 0.2.0's backend paths, answered by Squall.

A ``HEALTH_CHECK`` written for full-of-juice works unchanged: each of its
dotted paths in SUBSETS resolves (``conf.resolve_backend``) to the class of
the same name below, whether or not the ``health_check`` package is installed.
Each takes full-of-juice's kwargs and settings and reports full-of-juice's
identifier and failure texts, so ``/<mount>/<subset>/`` answers the same JSON
and status code and ``manage.py health_check --subset`` exits the same way;
underneath they are Squall's backends (timeouts, connection hygiene, no
psutil). tests/test_health_juice.py compares both against the real package.
"""

from __future__ import annotations

import locale
import socket
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

from .backends import cache, database, disk, memory, migrations, storage
from .backends import celery as _celery
from .backends import rabbitmq as _rabbitmq
from .backends import redis as _redis
from .backends.base import (
    BaseHealthCheckBackend,
    HealthCheckException,
    ServiceReturnedUnexpectedResult,
    ServiceUnavailable,
    ServiceWarning,
)
from .conf import get_setting

_HERE = __name__
# full-of-juice's dotted path -> the class here that answers it.
ALIASES: dict[str, str] = {
    "health_check.contrib.db_heartbeat.backends.DatabaseHeartbeatCheck": (
        f"{_HERE}.DatabaseHeartbeatCheck"
    ),
    "health_check.contrib.migrations.backends.MigrationsHealthCheck": (
        f"{_HERE}.MigrationsHealthCheck"
    ),
    "health_check.cache.backends.CacheBackend": f"{_HERE}.CacheBackend",
    "health_check.storage.backends.DefaultFileStorageHealthCheck": (
        f"{_HERE}.DefaultFileStorageHealthCheck"
    ),
    "health_check.contrib.psutil.backends.DiskUsage": f"{_HERE}.DiskUsage",
    "health_check.contrib.psutil.backends.MemoryUsage": f"{_HERE}.MemoryUsage",
    "health_check.contrib.redis.backends.RedisHealthCheck": f"{_HERE}.RedisHealthCheck",
    "health_check.contrib.rabbitmq.backends.RabbitMQHealthCheck": f"{_HERE}.RabbitMQHealthCheck",
    "health_check.contrib.celery_ping.backends.CeleryPingHealthCheck": (
        f"{_HERE}.CeleryPingHealthCheck"
    ),
    "health_check.contrib.celery_heartbeat.backends.CeleryHeartbeatHealthCheck": (
        f"{_HERE}.CeleryHeartbeatHealthCheck"
    ),
}


def alias(path: str) -> str:
    """The Squall class path for a full-of-juice backend path; other paths unchanged."""
    return ALIASES.get(path, path)


class _Named(BaseHealthCheckBackend):
    """full-of-juice's identifier: the class name; one instance, never one per alias."""

    def identifier(self) -> str:
        return type(self).__name__

    @classmethod
    def expand(cls, **kwargs: Any) -> list[BaseHealthCheckBackend]:
        return [cls(**kwargs)]


def _reraise_as(kind: type[HealthCheckException], text: str, error: HealthCheckException) -> None:
    raise kind(text) from error


class DatabaseHeartbeatCheck(_Named, database.DatabaseBackend):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(alias=DEFAULT_DB_ALIAS, **kwargs)

    def check_status(self) -> None:
        try:
            super().check_status()
        except HealthCheckException as e:
            # Squall's text starts with the alias: "default: <driver error>".
            detail = str(e.message).removeprefix(f"{DEFAULT_DB_ALIAS}: ")
            _reraise_as(ServiceUnavailable, f"Database health check failed: {detail}", e)


class MigrationsHealthCheck(_Named, migrations.MigrationsBackend):
    def __init__(self, **kwargs: Any) -> None:
        db = getattr(settings, "HEALTHCHECK_MIGRATIONS_DB", DEFAULT_DB_ALIAS)
        super().__init__(alias=db, **kwargs)

    def check_status(self) -> None:
        try:
            super().check_status()
        except HealthCheckException as e:
            unapplied = "unapplied migration" in str(e.message)
            text = "There are migrations to apply" if unapplied else "Database is not ready"
            _reraise_as(ServiceUnavailable, text, e)


class CacheBackend(_Named, cache.CacheBackend):
    """kwarg ``backend`` (a CACHES alias, default "default"), as in full-of-juice."""

    def __init__(self, backend: str = "default", **kwargs: Any) -> None:
        super().__init__(alias=backend, **kwargs)
        self.backend = backend

    def identifier(self) -> str:
        return f"Cache backend: {self.backend}"

    def check_status(self) -> None:
        try:
            super().check_status()
        except ServiceReturnedUnexpectedResult as e:
            _reraise_as(ServiceUnavailable, f"Cache key {self._key_name()} does not match", e)
        except ServiceUnavailable as e:
            cause = e.__cause__
            text = "ValueError" if isinstance(cause, ValueError) else "Connection Error"
            _reraise_as(ServiceReturnedUnexpectedResult, text, e)

    @staticmethod
    def _key_name() -> str:
        return str(getattr(settings, "HEALTHCHECK_CACHE_KEY", "djangohealthcheck_test"))


class DefaultFileStorageHealthCheck(_Named, storage.StorageBackend):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(storage="default", **kwargs)

    def check_status(self) -> None:
        try:
            super().check_status()
        except HealthCheckException as e:
            _reraise_as(ServiceUnavailable, "Unknown exception", e)


_HOST = socket.gethostname()


class DiskUsage(_Named, disk.DiskUsageBackend):
    def check_status(self) -> None:
        try:
            super().check_status()
        except ServiceWarning as e:
            # "<host> 93.1% disk usage exceeds 90%", psutil's rounding.
            percent = str(e.message).split(" is ", 1)[-1].split("%", 1)[0]
            _reraise_as(
                ServiceWarning,
                f"{_HOST} {percent}% disk usage exceeds {get_setting('DISK_USAGE_MAX')}%",
                e,
            )


class MemoryUsage(_Named, memory.MemoryBackend):
    def check_status(self) -> None:
        try:
            super().check_status()
        except ServiceWarning as e:
            locale.setlocale(locale.LC_ALL, "")
            available = memory.meminfo_available() or 0
            threshold = get_setting("MEMORY_MIN")
            _reraise_as(
                ServiceWarning,
                f"{_HOST} {int(available / 1024 / 1024):n} MB available RAM "
                f"below {threshold:n} MB",
                e,
            )


class RedisHealthCheck(_Named, _redis.RedisBackend):
    """settings.REDIS_URL (default redis://localhost/1) and HEALTHCHECK_REDIS_URL_OPTIONS."""

    def __init__(self, **kwargs: Any) -> None:
        url = getattr(settings, "REDIS_URL", "redis://localhost/1")
        super().__init__(url=url, **kwargs)


class RabbitMQHealthCheck(_Named, _rabbitmq.RabbitMQBackend):
    """settings.BROKER_URL (``<namespace>_BROKER_URL`` with a ``namespace``)."""

    namespace: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        key = f"{self.namespace}_BROKER_URL" if self.namespace else "BROKER_URL"
        super().__init__(url=getattr(settings, key, None), **kwargs)


class CeleryPingHealthCheck(_Named, _celery.CeleryPingBackend):
    pass


class CeleryHeartbeatHealthCheck(_Named, _celery.CeleryHeartbeatBackend):
    def __init__(self, **kwargs: Any) -> None:
        path = get_setting_or("CELERY_HEARTBEAT_FILE", "/tmp/celery_worker_heartbeat")
        max_age = get_setting_or("CELERY_HEARTBEAT_MAX_AGE", 60)
        super().__init__(path=path, max_age=max_age, **kwargs)


def get_setting_or(key: str, default: Any) -> Any:
    """A HEALTH_CHECK key full-of-juice knows and Squall's DEFAULTS do not."""
    return (getattr(settings, "HEALTH_CHECK", None) or {}).get(key, default)
