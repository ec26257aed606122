"""RedisBackend: does the Redis server answer PING?

Kwargs: ``url`` (default ``settings.REDIS_URL``, as django-health-check reads
it; redis://, rediss:// and unix:// URLs) and ``socket_timeout`` (seconds for
the connect and for the PING, default 2). A new connection per run, closed
afterwards: a check must not hold connections between probes, and a pooled
connection would hide a server that stopped accepting new ones.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from .base import BaseHealthCheckBackend, ServiceReturnedUnexpectedResult, ServiceUnavailable

DEFAULT_SOCKET_TIMEOUT = 2.0


def redis_location(url: str) -> str:
    """host:port (or the socket path) of a Redis URL, without the credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:  # a malformed port; name what we can
        port = 6379
    return f"{parts.hostname or 'localhost'}:{port}"


class RedisBackend(BaseHealthCheckBackend):
    def __init__(
        self,
        url: str | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url if url is not None else getattr(settings, "REDIS_URL", None)
        self.socket_timeout = socket_timeout

    def identifier(self) -> str:
        if not self.url:
            return type(self).__name__
        return f"{type(self).__name__}[{redis_location(self.url)}]"

    def check_status(self) -> None:
        if not self.url:
            raise ServiceUnavailable("no Redis URL: set settings.REDIS_URL or the url kwarg")
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as e:
            raise ServiceUnavailable(
                "the redis package is not installed (pip install redis)"
            ) from e
        where = redis_location(self.url)
        try:
            client = redis.Redis.from_url(
                self.url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                # One attempt: redis-py >= 6 retries 3 times with backoff by
                # default, which would turn a refused connection into seconds.
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
        except ValueError as e:  # an unsupported scheme or malformed URL
            raise ServiceUnavailable(f"invalid Redis URL for {where}: {e}") from e
        try:
            pong = client.ping()
        except redis.AuthenticationError as e:
            raise ServiceUnavailable(f"{where}: authentication failed: {e}") from e
        except redis.TimeoutError as e:
            raise ServiceUnavailable(
                f"{where}: no answer within {self.socket_timeout} s: {e}"
            ) from e
        except redis.RedisError as e:  # ConnectionError (refused, reset, DNS) and the rest
            raise ServiceUnavailable(f"{where}: {type(e).__name__}: {e}") from e
        finally:
            client.close()
        if pong is not True:
            raise ServiceReturnedUnexpectedResult(f"{where}: PING returned {pong!r}")
