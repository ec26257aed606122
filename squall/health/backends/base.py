"""The backend API, compatible with django-health-check(-full-of-juice).

A backend implements :meth:`BaseHealthCheckBackend.check_status` and raises
one of the exceptions below; :meth:`BaseHealthCheckBackend.run_check` turns
what it raised into ``errors`` and never lets an ordinary exception escape, so
one broken check cannot take the others (or the checker process) down.
"""

from __future__ import annotations

import logging
from timeit import default_timer as timer
from typing import Any

logger = logging.getLogger("squall.health")


class HealthCheckException(Exception):
    message_type: str = "unknown error"

    def __init__(self, message: object = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message_type}: {self.message}"


class ServiceWarning(HealthCheckException):
    """Degraded but serving: counts as a failure only with WARNINGS_AS_ERRORS."""

    message_type = "warning"


class ServiceUnavailable(HealthCheckException):
    message_type = "unavailable"


class ServiceReturnedUnexpectedResult(HealthCheckException):
    message_type = "unexpected result"


class BaseHealthCheckBackend:
    #: A failure of a non-critical backend is reported but keeps the subset healthy.
    critical_service: bool = True

    def __init__(self, **kwargs: Any) -> None:
        # kwargs come from a HEALTH_CHECK["SUBSETS"] entry; subclasses take
        # what they know and pass the rest on (unknown ones are kept here).
        self.kwargs = kwargs
        self.errors: list[HealthCheckException] = []
        self.time_taken: float = 0.0

    def check_status(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement check_status()")

    def identifier(self) -> str:
        return type(self).__name__

    def run_check(self) -> None:
        start = timer()
        self.errors = []
        try:
            self.check_status()
        except HealthCheckException as e:
            # An expected outcome: one log line, no traceback every check interval.
            self.add_error(e)
        except Exception as e:  # a check must never crash the runner
            self.add_error(HealthCheckException(f"{type(e).__name__}: {e}"), e)
        finally:
            self.time_taken = timer() - start

    def add_error(self, error: HealthCheckException | str, cause: object = None) -> None:
        if isinstance(error, str):
            error = HealthCheckException(error)
        elif not isinstance(error, HealthCheckException):
            error = HealthCheckException("unknown error")
        if isinstance(cause, BaseException):
            logger.error("%s: %s", self.identifier(), error, exc_info=cause)
        else:
            logger.error("%s: %s", self.identifier(), error)
        self.errors.append(error)

    @property
    def status(self) -> int:
        return int(not self.errors)

    def pretty_status(self) -> str:
        if self.errors:
            return "\n".join(str(e) for e in self.errors)
        return "working"


class PerAliasBackend(BaseHealthCheckBackend):
    """A backend checked once per configured alias (DATABASES, CACHES), unless
    the entry names one: ``(path, {"alias": "replica"})``."""

    def __init__(self, alias: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alias = alias

    @classmethod
    def configured_aliases(cls) -> list[str]:
        raise NotImplementedError

    @classmethod
    def expand(cls, **kwargs: Any) -> list[BaseHealthCheckBackend]:
        """One instance per alias when ``alias`` is None (the runner calls this)."""
        if kwargs.get("alias") is not None:
            return [cls(**kwargs)]
        rest = {k: v for k, v in kwargs.items() if k != "alias"}
        return [cls(alias=alias, **rest) for alias in cls.configured_aliases()]

    def identifier(self) -> str:
        return f"{type(self).__name__}[{self.alias or 'default'}]"
