"""``python manage.py consume HANDLER [options]``: a RabbitMQ consumer running
Django code, with the probes and metrics of ``serve`` (docs/amqp.md).

HANDLER is the dotted path of a :class:`squall.amqp.TopicHandler` subclass
(Hurricane's ``hurricane.amqp.basehandler.TopicHandler`` subclasses work with
that one import changed). The AMQP options are Hurricane's and are read, like
Hurricane does, from the command line, then the Django setting, then the
environment variable (``AMQP_HOST``, ``AMQP_PORT``, ``AMQP_VHOST``,
``AMQP_USER``, ``AMQP_PASSWORD``, and Squall's ``AMQP_PREFETCH``,
``AMQP_DEAD_LETTER_EXCHANGE``). The probe, metrics, webhook, timeout and
logging options are rows of squall.options' table, with its ``SQUALL_*``
settings and environment variables.
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
    OPTIONS,
    OptionError,
    SquallArgumentParser,
    add_table_options,
    exit_with_error,
    resolve_config,
)

# The rows of squall.options' table that apply to a consumer.
CONSUME_OPTIONS = (
    "timeout", "graceful_timeout", "probe", "probe_port", "startup_probe", "readiness_probe",
    "liveness_probe", "check_interval", "metrics", "webhook_url", "log_format", "log_level",
)  # fmt: skip

# (option, setting / environment variable, parse, default)
AMQP_SOURCES: tuple[tuple[str, str, Any, Any], ...] = (
    ("amqp_host", "AMQP_HOST", str, None),
    ("amqp_port", "AMQP_PORT", int, None),
    ("amqp_vhost", "AMQP_VHOST", str, "/"),
    ("prefetch", "AMQP_PREFETCH", int, 1),
    ("dead_letter_exchange", "AMQP_DEAD_LETTER_EXCHANGE", str, ""),
    ("heartbeat", "AMQP_HEARTBEAT", int, 30),
)


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
    amqp = parser.add_argument_group("AMQP")
    amqp.add_argument(
        "--queue", default="", help="the queue to consume from ('': a server-named queue)"
    )
    amqp.add_argument("--exchange", default="", help="the topic exchange to declare and bind to")
    amqp.add_argument("--amqp-host", help="the broker's host (else settings / env AMQP_HOST)")
    amqp.add_argument("--amqp-port", help="the broker's port (else settings / env AMQP_PORT)")
    amqp.add_argument("--amqp-vhost", help="the virtual host (else AMQP_VHOST, default /)")
    amqp.add_argument("--reconnect", action="store_true",
                      help="reconnect (backoff 0, 1, 2 ... 30 s) when the broker goes away; "
                      "without it the consumer exits non-zero")  # fmt: skip
    amqp.add_argument("--prefetch", help="unacknowledged messages the broker may send ahead "
                      "(basic.qos; default 1; AMQP_PREFETCH)")  # fmt: skip
    amqp.add_argument("--dead-letter-exchange",
                      help="failed messages are rejected (dead-lettered) instead of requeued; "
                      "a queue Squall declares gets this x-dead-letter-exchange")  # fmt: skip
    amqp.add_argument("--heartbeat", help="AMQP heartbeat in seconds (default 30)")
    by_name = {opt.name: opt for opt in OPTIONS}
    add_table_options(parser, [by_name[name] for name in CONSUME_OPTIONS])
    dj = parser.add_argument_group("Django (applied by manage.py)")
    dj.add_argument("--settings", metavar="MODULE", help="the settings module to use")
    dj.add_argument("--pythonpath", metavar="DIR", help="a directory to add to sys.path")
    return parser


def amqp_value(name: str, variable: str, parse: Any, default: Any, cli: dict[str, Any]) -> Any:
    """CLI, then the Django setting, then the environment (Hurricane's order)."""
    for label, raw in (
        ("--" + name.replace("_", "-"), cli.get(name)),
        (f"settings.{variable}", getattr(settings, variable, None)),
        (f"{variable} (environment)", os.environ.get(variable)),
    ):
        if raw is None or raw == "":
            continue
        try:
            value = parse(raw)
        except (TypeError, ValueError):
            exit_with_error(f"{label}: invalid value {raw!r}")
        if parse is int and value < 0:
            exit_with_error(f"{label}: invalid value {raw!r}")
        return value
    return default


def credential(variable: str) -> str | None:
    value = getattr(settings, variable, None)
    if value is None:
        value = os.environ.get(variable)
    return None if value is None else str(value)


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
        from squall.amqp.consumer import AmqpOptions, consume

        try:
            config = resolve_config({k: cli.get(k) for k in CONSUME_OPTIONS}, settings=settings)
        except OptionError as exc:
            exit_with_error(str(exc))
        configure_logging(config)
        values = {name: amqp_value(name, var, parse, default, cli)
                  for name, var, parse, default in AMQP_SOURCES}  # fmt: skip
        if not values["amqp_host"]:
            exit_with_error(
                "the AMQP host is not set: --amqp-host, settings.AMQP_HOST or AMQP_HOST"
            )
        if not values["amqp_port"]:
            exit_with_error(
                "the AMQP port is not set: --amqp-port, settings.AMQP_PORT or AMQP_PORT"
            )
        if not 1 <= values["prefetch"] <= 65535:
            exit_with_error(f"--prefetch: invalid value {values['prefetch']!r} (expected 1-65535)")
        try:
            handler_class = import_string(cli["handler"])
        except ImportError as exc:
            exit_with_error(f"cannot import the handler {cli['handler']!r}: {exc}")
        if not (isinstance(handler_class, type) and issubclass(handler_class, TopicHandler)):
            exit_with_error(f"{cli['handler']!r} is not a subclass of squall.amqp.TopicHandler")
        options = AmqpOptions(
            host=values["amqp_host"],
            port=values["amqp_port"],
            vhost=values["amqp_vhost"],
            user=credential("AMQP_USER"),
            password=credential("AMQP_PASSWORD"),
            queue=cli.get("queue") or "",
            exchange=cli.get("exchange") or "",
            reconnect=bool(cli.get("reconnect")),
            prefetch=values["prefetch"],
            heartbeat=values["heartbeat"],
            dead_letter_exchange=values["dead_letter_exchange"],
        )
        # No database connection may be shared with the processes the engine forks.
        connections.close_all()
        raise SystemExit(consume(handler_class, options, config))
