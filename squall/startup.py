"""The startup phase: runs in the *startup process*, which the master forks
before any worker (core/master/side_processes.cpp). The probe port already
answers (startup 400) while it runs; the workers start only when it exits 0.
With ``manage.py serve`` that master has not set Django up
(squall.freshmaster): this process does, then runs the commands, and the
workers load the project only after them.

In order: ``--check-migrations`` / ``--check-migrations-apply`` (wait for the
database, then check or apply the migrations), then each ``--command``. The
output goes to the log; a failure logs the error and its traceback, leaves the
traceback for the startup-failed webhook and exits 1, and the master then
exits 1 without starting a worker. What a command writes to stdout (stderr)
becomes log lines of ``squall.startup`` at INFO (WARNING), one per line, in
the --log-format of every other line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shlex
import time
import traceback
from typing import Any

from squall.options import Config

logger = logging.getLogger("squall.startup")


class StartupFailed(Exception):
    """A startup step failed; str() is the one-line reason."""


def django_configured() -> bool:
    try:
        from django.conf import settings
    except ImportError:
        return False
    return bool(settings.configured)


def needs_startup_process(config: Config) -> bool:
    return bool(config.command or config.check_migrations or config.check_migrations_apply)


def wait_for_database(alias: str, wait: float) -> None:
    """One connection attempt per second until the database answers or `wait` has passed."""
    from django.db import OperationalError, connections

    deadline = time.monotonic() + wait
    attempt = 0
    while True:
        attempt += 1
        try:
            connections[alias].ensure_connection()
            if attempt > 1:
                logger.info("database %r answers (attempt %d)", alias, attempt)
            return
        except OperationalError as exc:
            reason = " ".join(str(exc).split())
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartupFailed(
                    f"database {alias!r} did not answer within {wait:g} s: {reason}"
                ) from exc
            pause = min(1.0, left)
            logger.warning(
                "database %r does not answer (attempt %d, retrying in %.3g s): %s",
                alias, attempt, pause, reason,
            )  # fmt: skip
            connections[alias].close()
            time.sleep(pause)


def check_migrations(config: Config) -> None:
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    wait_for_database(DEFAULT_DB_ALIAS, config.database_wait)
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        logger.info("migrations: all applied")
        return
    names = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if not config.check_migrations_apply:
        raise StartupFailed(f"{len(names)} unapplied migration(s): {shown}")
    logger.info("migrations: applying %d: %s", len(names), shown)
    call_command("migrate", interactive=False, verbosity=1)


class LogLines(io.TextIOBase):
    """A text stream whose every line becomes a log record of `logger` at `level`."""

    def __init__(self, log: logging.Logger, level: int) -> None:
        super().__init__()
        self.log = log
        self.level = level
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.log.log(self.level, "%s", line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            self.log.log(self.level, "%s", line)


def run_command(command: str) -> None:
    from django.core.management import CommandError, call_command

    argv = shlex.split(command)
    logger.info("running command: %s", command)
    started = time.monotonic()
    out, err = LogLines(logger, logging.INFO), LogLines(logger, logging.WARNING)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                call_command(*argv)
            finally:
                out.flush()
                err.flush()
    except CommandError as exc:  # what the command itself reports as its failure
        raise StartupFailed(f"command {command!r} failed: {exc}") from exc
    except SystemExit as exc:  # a command that calls sys.exit()
        if exc.code not in (0, None):
            raise StartupFailed(f"command {command!r} exited with status {exc.code}") from exc
    logger.info("command finished in %.2f s: %s", time.monotonic() - started, command)


def run_startup(config: Config, master: Any) -> int:
    """The startup process's life; returns its exit status."""
    try:
        if not django_configured():
            raise StartupFailed("--command and --check-migrations need a Django project")
        if config.check_migrations or config.check_migrations_apply:
            check_migrations(config)
        for command in config.command:
            run_command(command)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            return 1
        text = "".join(traceback.format_exception(exc))
        reason = str(exc) if isinstance(exc, StartupFailed) else f"{type(exc).__name__}: {exc}"
        logger.error("startup failed: %s", reason, exc_info=not isinstance(exc, StartupFailed))
        master.set_startup_error(text if not isinstance(exc, StartupFailed) else reason)
        return 1
    finally:
        from django.db import connections

        if django_configured():
            connections.close_all()
    return 0
