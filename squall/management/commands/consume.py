"""``python manage.py consume HANDLER [options]``: a RabbitMQ consumer running
Django code, with the probes and metrics of ``serve`` (docs/amqp.md).

HANDLER is the dotted path of a :class:`squall.amqp.TopicHandler` subclass
(Hurricane's ``hurricane.amqp.basehandler.TopicHandler`` subclasses work with
that one import changed). Every option is a row of squall.options' table: the
AMQP options are the rows of :class:`squall.options.AmqpOptions`, read as
Hurricane did from the command line, then the Django setting, then the
environment variable (``AMQP_HOST``, ``AMQP_PORT``, ``AMQP_VHOST``,
``AMQP_USER``, ``AMQP_PASSWORD``, and Squall's ``AMQP_PREFETCH``,
``AMQP_DEAD_LETTER_EXCHANGE``, ``AMQP_HEARTBEAT``); the probe, metrics,
webhook, timeout and logging options are rows of the ``serve`` table
(:data:`CONSUME_OPTIONS`), with their ``SQUALL_*`` settings and environment
variables.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections
from django.utils.module_loading import import_string

from squall.log import configure_logging
from squall.options import (
    AMQP_OPTIONS,
    OPTIONS,
    OptionError,
    SquallArgumentParser,
    add_table_options,
    exit_with_error,
    resolve_amqp_options,
    resolve_config,
)

# The rows of squall.options' table that apply to a consumer.
CONSUME_OPTIONS = (
    "timeout", "graceful_timeout", "probe", "probe_port", "startup_probe", "readiness_probe",
    "liveness_probe", "check_interval", "metrics", "webhook_url", "log_format", "log_level",
)  # fmt: skip

# Without them the consumer has nowhere to connect.
REQUIRED = {"host": "the AMQP host", "port": "the AMQP port"}


def build_consume_parser(prog: str) -> SquallArgumentParser:
    parser = SquallArgumentParser(
        prog=prog,
        usage=f"{prog} HANDLER [options]",
        description="Consume AMQP 0-9-1 messages (RabbitMQ) with a Django handler.",
        epilog="See docs/amqp.md.",
        allow_abbrev=False,
    )
    parser.add_argument("handler", metavar="HANDLER",
                        help="the squall.amqp.TopicHandler subclass (dotted path)")  # fmt: skip
    by_name = {opt.name: opt for opt in OPTIONS}
    add_table_options(parser, [*AMQP_OPTIONS, *(by_name[name] for name in CONSUME_OPTIONS)])
    dj = parser.add_argument_group("Django (applied by manage.py)")
    dj.add_argument("--settings", metavar="MODULE", help="the settings module to use")
    dj.add_argument("--pythonpath", metavar="DIR", help="a directory to add to sys.path")
    return parser


class Command(BaseCommand):
    help = "Consume AMQP messages with a Django handler, with probes and metrics."

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> argparse.ArgumentParser:
        return build_consume_parser(f"{os.path.basename(prog_name)} {subcommand}")

    def run_from_argv(self, argv: list[str]) -> NoReturn:
        parser = build_consume_parser(f"{os.path.basename(argv[0])} {argv[1]}")
        self._consume(vars(parser.parse_args(argv[2:])))

    def execute(self, *args: Any, **options: Any) -> NoReturn:
        if args:
            options["handler"] = args[0]
        self._consume(options)

    def _consume(self, cli: dict[str, Any]) -> NoReturn:
        from squall.amqp import TopicHandler
        from squall.amqp.consumer import consume

        try:
            config = resolve_config({k: cli.get(k) for k in CONSUME_OPTIONS}, settings=settings)
            configure_logging(config)
            options = resolve_amqp_options(cli, settings=settings)
        except OptionError as exc:
            exit_with_error(str(exc))
        rows = {opt.name: opt for opt in AMQP_OPTIONS}
        for name, what in REQUIRED.items():
            if not getattr(options, name):
                opt = rows[name]
                exit_with_error(
                    f"{what} is not set: {opt.flag}, settings.{opt.variable} or {opt.variable}"
                )
        try:
            handler_class = import_string(cli["handler"])
        except ImportError as exc:
            exit_with_error(f"cannot import the handler {cli['handler']!r}: {exc}")
        if not (isinstance(handler_class, type) and issubclass(handler_class, TopicHandler)):
            exit_with_error(f"{cli['handler']!r} is not a subclass of squall.amqp.TopicHandler")
        # No database connection may be shared with the processes the engine forks.
        connections.close_all()
        raise SystemExit(consume(handler_class, options, config))
