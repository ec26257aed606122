"""CacheBackend: can each cache alias set, get and delete a key?

Kwargs: ``alias`` (default None = every alias in CACHES; one result per alias,
named ``CacheBackend[<alias>]``). The key is unique per run, so concurrent
pods and runs never see each other's value; it expires after 30 s even if the
delete fails.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import caches

from .base import PerAliasBackend, ServiceReturnedUnexpectedResult, ServiceUnavailable

KEY_TTL = 30  # seconds


class CacheBackend(PerAliasBackend):
    @classmethod
    def configured_aliases(cls) -> list[str]:
        return list(settings.CACHES)

    def check_status(self) -> None:
        alias = self.alias or "default"
        key = f"squall-health-check:{uuid.uuid4().hex}"
        value = uuid.uuid4().hex
        try:
            cache = caches[alias]
            cache.set(key, value, timeout=KEY_TTL)
            try:
                got = cache.get(key)
            finally:
                cache.delete(key)
        except Exception as e:  # cache backends raise their client's own errors
            raise ServiceUnavailable(f"{alias}: {type(e).__name__}: {e}") from e
        if got != value:
            raise ServiceReturnedUnexpectedResult(f"{alias}: set then get returned {got!r}")
