"""A master that has not loaded the project, for a ``serve`` with a startup phase.

``manage.py`` runs ``django.setup()`` before ``serve`` gets control: every
app's ``AppConfig.ready()`` and import-time code has run in that process. A
startup command (``collectstatic`` with ManifestStaticFilesStorage,
``migrate``) may change what they read, and the workers, forked from the
master, would keep the copy read before the command ran.

So when there is a startup phase (``--command``, ``--check-migrations``),
``serve`` replaces its process (same pid: signals and the exit status reach
the user's process as before) by ``python -m squall.freshmaster``, which has
Django's settings but not its applications (no ``django.setup()``). Its master
forks the startup process, which sets Django up and runs the commands; only
after it exited 0 are the workers forked, and each sets Django up and loads the
WSGI application then. The health-check process sets Django up after its fork
too. What the master needs from the loaded project (whether a health-check
process is needed) is computed before the exec and handed over, with the
resolved options and ``sys.path``, in the environment variable
``SQUALL_FRESH_MASTER``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any, NoReturn

from squall.options import Config

__all__ = ["ENV", "FreshMaster", "exec_fresh_master", "main"]

ENV = "SQUALL_FRESH_MASTER"


@dataclasses.dataclass(frozen=True)
class FreshMaster:
    """What a master that has not loaded the project is told about it."""

    checker: bool  # a health-check process is needed (subsets or tagged system checks)


def setup_django() -> None:
    """django.setup() in a process the fresh master forked (idempotent)."""
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup(set_prefix=False)


def exec_fresh_master(config: Config, app: str | None = None) -> NoReturn:
    """Replaces this process (which has loaded the project) by a fresh master.
    `app`: the ``squall MODULE:CALLABLE`` to load in the workers, instead of
    settings.WSGI_APPLICATION (manage.py serve)."""
    from django.db import connections

    from squall.checker import checker_needed

    payload: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "sys_path": list(sys.path),
        "checker": checker_needed(),
        "app": app,
    }
    connections.close_all()
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, *subprocess._args_from_interpreter_flags(), "-m", "squall.freshmaster"]
    os.execve(sys.executable, argv, {**os.environ, ENV: json.dumps(payload)})


def main() -> NoReturn:
    payload = json.loads(os.environ.pop(ENV))
    sys.path[:] = payload["sys_path"]
    config = Config(**payload["config"])

    from django.conf import settings

    from squall.cli import run
    from squall.log import configure_logging

    settings.INSTALLED_APPS  # noqa: B018 - reads the settings module, loads no application
    configure_logging(config)

    spec = payload.get("app")

    def load_app() -> Any:
        from django.core.servers.basehttp import get_internal_wsgi_application

        from squall.cli import import_app

        setup_django()
        if spec:
            return import_app(spec)
        if config.interface == "asgi":
            from squall.asgi import django_asgi_application

            return django_asgi_application()
        return get_internal_wsgi_application()

    run(None, config, load_app=load_app, fresh=FreshMaster(checker=bool(payload["checker"])))


if __name__ == "__main__":
    main()
