"""DatabaseBackend: can each database alias answer ``SELECT 1``?

Kwargs: ``alias`` (default None = every alias in DATABASES; the runner then
reports one result per alias, named ``DatabaseBackend[<alias>]``).

Read-only on purpose (no test table, no writes: a read replica or a role
without write rights passes), and it drops an unusable or stale connection
first so a connection the server closed hours ago is not a false failure.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connections

from .base import PerAliasBackend, ServiceReturnedUnexpectedResult, ServiceUnavailable


class DatabaseBackend(PerAliasBackend):
    @classmethod
    def configured_aliases(cls) -> list[str]:
        return list(settings.DATABASES)

    def check_status(self) -> None:
        alias = self.alias or "default"
        conn = connections[alias]
        # Inside a transaction (DISABLE_THREADING in a request or a test)
        # closing would break the caller's transaction; leave it alone then.
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
        # Oracle needs "FROM DUAL"; every backend tells us its suffix.
        sql = "SELECT 1" + conn.features.bare_select_suffix
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                row = cursor.fetchone()
        except DatabaseError as e:
            raise ServiceUnavailable(f"{alias}: {e}") from e
        if row is None or row[0] != 1:
            raise ServiceReturnedUnexpectedResult(f"{alias}: SELECT 1 returned {row!r}")
