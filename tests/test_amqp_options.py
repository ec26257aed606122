"""`manage.py consume`: options, their sources and errors (no broker needed)."""

from __future__ import annotations

import os
import subprocess

import pytest
from serverproc import APPS_DIR, DEMO_DIR, run_until_exit

from squall.management.commands.consume import build_consume_parser
from squall.options import resolve_amqp_options


def test_the_command_line_wins_then_settings_then_the_environment(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMQP_HOST", "from-env")
    monkeypatch.delenv("AMQP_VHOST", raising=False)
    assert resolve_amqp_options({}, settings=settings).host == "from-env"
    settings.AMQP_HOST = "from-settings"  # type: ignore[attr-defined]
    assert resolve_amqp_options({}, settings=settings).host == "from-settings"
    assert resolve_amqp_options({"amqp_host": "cli"}, settings=settings).host == "cli"
    monkeypatch.setenv("AMQP_PORT", "5673")
    assert resolve_amqp_options({}, settings=settings).port == 5673
    assert resolve_amqp_options({}, settings=settings).vhost == "/"


def test_hurricane_options_and_the_table_s_probe_options_parse() -> None:
    parser = build_consume_parser("manage.py consume")
    ns = parser.parse_args(
        ["app.Handler", "--queue", "q", "--exchange", "e", "--amqp-host", "h", "--amqp-port",
         "5672", "--amqp-vhost", "/v", "--reconnect", "--prefetch", "5", "--probe-port", "9001",
         "--no-metrics", "--timeout", "5", "--webhook-url", "http://x/"]
    )  # fmt: skip
    assert ns.handler == "app.Handler"
    assert ns.reconnect is True
    assert (ns.queue, ns.exchange, ns.amqp_vhost, ns.prefetch) == ("q", "e", "/v", "5")
    assert (ns.probe_port, ns.metrics, ns.timeout) == ("9001", "", "5")


def run_consume(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    return run_until_exit(
        ["manage.py", "consume", *argv], cwd=DEMO_DIR,
        env={"PYTHONPATH": pythonpath, "DJANGO_SETTINGS_MODULE": "amqp_settings",
             "AMQP_TEST_DB": "/nonexistent/db.sqlite3", **env},
    )  # fmt: skip


def test_errors_are_one_line_and_exit_2() -> None:
    r = run_consume("amqp_handlers.RecordHandler", "--amqp-port", "5672")
    assert r.returncode == 2
    assert "the AMQP host is not set: --amqp-host, settings.AMQP_HOST or AMQP_HOST" in r.stderr
    r = run_consume("amqp_test_app.models.Message", "--amqp-host", "h", "--amqp-port", "1")
    assert r.returncode == 2
    assert "is not a subclass of squall.amqp.TopicHandler" in r.stderr
    r = run_consume("amqp_handlers.Nope", "--amqp-host", "h", "--amqp-port", "1")
    assert r.returncode == 2
    assert "cannot import the handler 'amqp_handlers.Nope'" in r.stderr
    r = run_consume("amqp_handlers.RecordHandler", "--amqp-host", "h", "--amqp-port", "x")
    assert r.returncode == 2
    assert "--amqp-port: invalid value 'x'" in r.stderr
    r = run_consume("amqp_handlers.RecordHandler", "--bogus")
    assert r.returncode == 2
    assert "--bogus" in r.stderr


def test_help_lists_hurricane_s_options() -> None:
    r = run_consume("--help")
    assert r.returncode == 0
    flags = "--queue --exchange --amqp-host --amqp-port --amqp-vhost --reconnect --prefetch"
    for flag in (*flags.split(), "--probe-port", "--no-metrics", "--timeout"):
        assert flag in r.stdout
