"""``python manage.py serve [options]``: serve the project with Squall.

Options, their errors (one line, exit 2) and ``--help`` come from
squall.options, with Django settings (``SQUALL_*``, and Hurricane's names
without prefix such as ``PORT``) between the command line and the environment.
Django's own command options (-v, --traceback, --settings, --version ...) keep
their meaning (squall.options.add_django_options). With ``--autoreload`` this
process becomes the reloading supervisor (squall.autoreload) and a child
process serves. Django's own argument handling is bypassed: an option Squall
does not know, including Hurricane ``serve`` options not implemented yet, is
an error.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any, NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand
from django.core.servers.basehttp import get_internal_wsgi_application
from django.db import connections

from squall.asgi import django_asgi_application
from squall.cli import describe, prepare, run
from squall.freshmaster import exec_fresh_master
from squall.log import configure_logging
from squall.options import (
    Config,
    OptionError,
    build_parser,
    exit_with_error,
    parse_config,
    resolve_config,
    with_verbosity,
)
from squall.startup import needs_startup_process

logger = logging.getLogger("squall")


class Command(BaseCommand):
    help = "Serve this Django project's WSGI (or, with --asgi, ASGI) application with Squall."

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> argparse.ArgumentParser:
        # Used by `manage.py help serve` and by call_command().
        return build_parser(f"{os.path.basename(prog_name)} {subcommand}", django=True)

    def run_from_argv(self, argv: list[str]) -> NoReturn:
        prog = f"{os.path.basename(argv[0])} {argv[1]}"
        config, namespace = parse_config(argv[2:], prog=prog, django=True, settings=settings)
        self._serve(config, traceback=bool(namespace.traceback))

    def execute(self, *args: Any, **options: Any) -> NoReturn:
        # call_command("serve", port=9000): the options come parsed by create_parser().
        try:
            config = resolve_config(with_verbosity(options), settings=settings)
        except OptionError as exc:
            exit_with_error(str(exc))
        self._serve(config, traceback=bool(options.get("traceback")))

    def _serve(self, config: Config, *, traceback: bool = False) -> NoReturn:
        configure_logging(config)
        # --autoreload: from here on, this process supervises a child running the
        # same command line (sys.orig_argv), which loads and serves the project.
        config = prepare(config)
        if needs_startup_process(config):
            # This process has set Django up; the startup phase may change what
            # that read. Serve from a master that has not (squall.freshmaster).
            exec_fresh_master(config)
        asgi = config.interface == "asgi"
        # settings.ASGI_APPLICATION or Django's, with --asgi; else settings.WSGI_APPLICATION.
        load = django_asgi_application if asgi else get_internal_wsgi_application
        kind = "ASGI" if asgi else "WSGI"
        if not config.preload:
            # Each worker loads the application after its fork.
            connections.close_all()
            run(None, config, load_app=load)
        try:
            # Loaded once here, before the engine forks.
            app = load()
        except Exception as exc:
            # --traceback: the whole traceback, not only the one-line reason.
            logger.log(
                logging.ERROR if traceback else logging.DEBUG,
                "loading the %s application failed", kind, exc_info=True,
            )  # fmt: skip
            exit_with_error(f"cannot load the {kind} application: {describe(exc)}")
        # No database connection may be shared by the processes the engine forks.
        connections.close_all()
        run(app, config)
