"""The ``squall`` console script: ``squall MODULE[:CALLABLE] [options]``.

Also ``python -m squall``. For a Django project, ``python manage.py serve``
(squall.management.commands.serve) is the usual entry point instead.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from squall.autoreload import autoreload_child_config, is_autoreload_child, run_with_autoreload
from squall.debugger import check_devtools
from squall.log import configure_logging, reassert_logging
from squall.options import Config, exit_with_error, parse_config
from squall.startup import django_configured, needs_startup_process

if TYPE_CHECKING:
    from squall.freshmaster import FreshMaster

__all__ = ["describe", "import_app", "main", "prepare", "run"]

logger = logging.getLogger("squall")


class AppImportError(Exception):
    """The application could not be imported; str() is the reason, one line."""


def describe(exc: BaseException) -> str:
    """Why an import failed, for a one-line error: ImportError's own words, else
    ``Type: message``; then the exception it was raised from, in parentheses."""
    text = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
    if exc.__cause__ is not None:
        text += f" ({describe(exc.__cause__)})"
    return text


def import_app(spec: str) -> Callable[..., Any]:
    """Import ``module:attr`` (attr may be dotted; ``application`` when no colon).

    The current directory is put first on sys.path, as gunicorn does, so that
    ``squall mysite.wsgi`` works from the project directory.
    """
    module_name, _, attr_path = spec.partition(":")
    attr_path = attr_path or "application"
    if not module_name or not all(part.isidentifier() for part in attr_path.split(".")):
        raise AppImportError("expected MODULE or MODULE:ATTRIBUTE, e.g. mysite.wsgi:application")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        logger.debug("importing %r failed", module_name, exc_info=True)
        raise AppImportError(describe(exc)) from exc
    for name in attr_path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise AppImportError(f"{module_name} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise AppImportError(f"{attr_path} is not callable (a {type(target).__name__})")
    return target


def run(
    app: Callable[..., Any] | None,
    config: Config,
    *,
    load_app: Callable[[], Callable[..., Any]] | None = None,
    fresh: FreshMaster | None = None,
) -> NoReturn:
    """Serve with the engine and exit with its status: `app` loaded here (--preload),
    or None and `load_app`, which each worker calls after its fork (--no-preload,
    or `fresh`: a master that has not loaded the project, squall.freshmaster)."""
    from squall.server import serve  # the engine: imported only to serve

    if fresh is not None:
        sys.exit(serve(None, config, load_app=load_app, fresh=fresh))
    if app is None:
        sys.exit(serve(None, config, load_app=load_app))
    sys.exit(serve(app, config))


def prepare(config: Config) -> Config:
    """What every entry point does before loading the application: check the
    debuggers' packages, and with --autoreload become the reloading supervisor
    (exiting with its status) unless this is the server process it started."""
    check_devtools(config)
    if config.autoreload:
        if not is_autoreload_child():
            sys.exit(run_with_autoreload(config))
        config = autoreload_child_config(config)
    return config


def main(argv: Sequence[str] | None = None) -> NoReturn:
    config, namespace = parse_config(sys.argv[1:] if argv is None else argv, prog="squall")
    configure_logging(config)
    config = prepare(config)
    if not config.preload:
        # Each worker imports the application after its fork; an import error
        # is then logged by the worker that could not start.
        run(None, config, load_app=lambda: import_app(namespace.app))
    try:
        app = import_app(namespace.app)
    except AppImportError as exc:
        exit_with_error(f"cannot import {namespace.app!r}: {exc}")
    reassert_logging()  # importing it may have applied a Django project's LOGGING
    if needs_startup_process(config) and django_configured():
        # The startup commands may change what importing it read: serve from a
        # master that has not loaded the project (squall.freshmaster).
        from squall.freshmaster import exec_fresh_master

        exec_fresh_master(config, app=namespace.app)
    run(app, config)
