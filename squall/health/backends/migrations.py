"""MigrationsBackend: are all migrations applied on a database?

Kwargs: ``alias`` (default "default"). Unapplied migrations are
ServiceUnavailable, naming the first few. Useful in a ``startup`` subset: the
new code must not serve against an old schema.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from .base import BaseHealthCheckBackend, ServiceUnavailable

SHOWN = 5  # how many unapplied migrations the message names


class MigrationsBackend(BaseHealthCheckBackend):
    def __init__(self, alias: str = "default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alias = alias

    def check_status(self) -> None:
        try:
            executor = MigrationExecutor(connections[self.alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as e:
            raise ServiceUnavailable(f"{self.alias}: {e}") from e
        # Backwards steps in the plan (a newer migration applied than the code
        # knows) are just as much a mismatch; name them the same way.
        if plan:
            names = [f"{m.app_label}.{m.name}" for m, _backwards in plan[:SHOWN]]
            more = f" and {len(plan) - SHOWN} more" if len(plan) > SHOWN else ""
            raise ServiceUnavailable(
                f"{len(plan)} unapplied migration(s) on {self.alias}: {', '.join(names)}{more}"
            )
