"""``manage.py health_check [-s/--subset NAME] [--json]``: run health check subsets.

One line per check (``<name> ... working`` / ``<name> ... unavailable: msg``),
under a ``[<subset>]`` header when every subset runs. Exit status 0 when no
critical check failed, 1 on a critical failure or an unknown subset.
``--json`` prints one object instead: ``{subset: {check: status}}``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from squall.health.runner import CheckResult, run_subset, subset_names, subset_ok
from squall.health.views import status_text


class Command(BaseCommand):
    help = "Run the HEALTH_CHECK subsets (or one) and exit 1 when a critical check fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-s", "--subset", help="Run only this subset (default: every subset).")
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object instead of lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        known = subset_names()
        wanted = options["subset"]
        if wanted is not None and wanted not in known:
            listed = ", ".join(known) or "none (HEALTH_CHECK['SUBSETS'] is empty)"
            raise CommandError(
                f"Unknown health check subset {wanted!r}; known subsets: {listed}",
                returncode=1,
            )
        names = [wanted] if wanted is not None else known
        outcome: dict[str, list[CheckResult]] = {name: run_subset(name) for name in names}

        if options["json"]:
            data = {name: {r.name: status_text(r) for r in rs} for name, rs in outcome.items()}
            self.stdout.write(json.dumps(data))
        else:
            if not names:
                self.stdout.write("No health check subsets configured.")
            for name, results in outcome.items():
                if wanted is None:
                    self.stdout.write(f"[{name}]")
                for r in results:
                    line = f"{r.name} ... {status_text(r)}"
                    if r.ok:
                        self.stdout.write(line, self.style.SUCCESS if not r.message else None)
                    else:
                        self.stdout.write(line, self.style.ERROR)

        failed = [name for name, rs in outcome.items() if not subset_ok(rs)]
        if failed:
            raise CommandError(
                f"Critical health check failure in subset(s): {', '.join(failed)}", returncode=1
            )
