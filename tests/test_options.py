"""The option table and its sources: command line, Django settings, environment."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from squall.options import (
    OPTIONS,
    Config,
    OptionError,
    parse_config,
    render_markdown,
    resolve_config,
)

ROOT = Path(__file__).resolve().parent.parent


def settings(**values: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**values)


def config(argv: list[str] | None = None, *, django: bool = False, **kw: Any) -> Config:
    argv = list(argv or [])
    if not django:
        argv.insert(0, "app:application")
    kw.setdefault("environ", {})
    return parse_config(argv, prog="squall", django=django, **kw)[0]


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str], **kw: Any) -> str:
    """Parse, expect exit status 2, return the one stderr line."""
    with pytest.raises(SystemExit) as exited:
        config(argv, **kw)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.rstrip("\n")


# --------------------------------------------------------------------------- the table


def test_defaults_are_the_documented_ones() -> None:
    assert dataclasses.asdict(Config()) == {
        "host": "0.0.0.0",
        "port": 8000,
        "backlog": 1024,
        "threads": 4,
        "max_request_line": 8190,
        "max_header_bytes": 65536,
        "max_header_count": 100,
        "max_body_size": 104857600,
        "header_timeout": 10.0,
        "keepalive_timeout": 75.0,
        "body_timeout": 30.0,
        "forwarded_allow_ips": ("127.0.0.1", "::1"),
        "access_log": True,
        "log_format": "text",
        "log_level": "info",
    }
    assert config() == Config()


def test_config_is_the_option_table() -> None:
    assert [f.name for f in dataclasses.fields(Config)] == [o.name for o in OPTIONS]
    for opt in OPTIONS:
        assert opt.kind.parse(opt.default) == opt.default


def test_config_is_frozen_and_checked_on_construction() -> None:
    c = Config(port=0, header_timeout=5, forwarded_allow_ips=["10.0.0.0/8"])
    assert (c.port, c.header_timeout, c.forwarded_allow_ips) == (0, 5.0, ("10.0.0.0/8",))
    assert isinstance(c.header_timeout, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.port = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"Config.port: invalid value 70000"):
        Config(port=70000)
    with pytest.raises(ValueError, match=r"Config.threads"):
        Config(threads=0)
    with pytest.raises(TypeError):
        Config(8000)  # type: ignore[misc]  # keyword-only


def test_docs_options_md_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "options.md").read_text() == render_markdown(), (
        "docs/options.md is stale: python -m squall.options > docs/options.md"
    )
    for opt in OPTIONS:
        assert f"`{opt.variable}`" in render_markdown()


# --------------------------------------------------------------------------- precedence

PRECEDENCE = [
    # option, flag value, setting value, env value, expected from (flag, setting, env, default)
    ("port", "9001", 9002, "9003", (9001, 9002, 9003, 8000)),
    ("threads", "2", "3", "5", (2, 3, 5, 4)),
    ("keepalive_timeout", "90", 120, "61.5", (90.0, 120.0, 61.5, 75.0)),
    ("log_format", "json", "text", "json", ("json", "text", "json", "text")),
]


@pytest.mark.parametrize(("name", "flag", "setting", "env", "expected"), PRECEDENCE)
def test_precedence_cli_then_settings_then_env_then_default(
    name: str, flag: str, setting: object, env: str, expected: tuple[object, ...]
) -> None:
    option = "--" + name.replace("_", "-")
    variable = "SQUALL_" + name.upper()
    everything = {"settings": settings(**{variable: setting}), "environ": {variable: env}}
    assert getattr(config([option, flag], django=True, **everything), name) == expected[0]
    assert getattr(config([], django=True, **everything), name) == expected[1]
    assert getattr(config([], django=True, environ={variable: env}), name) == expected[2]
    assert getattr(config([], django=True), name) == expected[3]


def test_boolean_switch_precedence() -> None:
    on = {"settings": settings(SQUALL_ACCESS_LOG=True), "environ": {"SQUALL_ACCESS_LOG": "on"}}
    assert config(["--no-access-log"], **on).access_log is False
    off = {"settings": settings(SQUALL_ACCESS_LOG=False), "environ": {"SQUALL_ACCESS_LOG": "1"}}
    assert config(["--access-log"], **off).access_log is True
    assert config([], **off).access_log is False
    assert config([], environ={"SQUALL_ACCESS_LOG": "no"}).access_log is False


def test_settings_are_ignored_until_django_is_configured() -> None:
    unconfigured = settings(configured=False, SQUALL_PORT=9002)
    assert config(settings=unconfigured, environ={"SQUALL_PORT": "9003"}).port == 9003
    configured = settings(configured=True, SQUALL_PORT=9002)
    assert config(settings=configured, environ={"SQUALL_PORT": "9003"}).port == 9002


def test_a_setting_of_none_counts_as_unset() -> None:
    assert config(settings=settings(SQUALL_PORT=None), environ={"SQUALL_PORT": "9003"}).port == 9003


def test_settings_take_native_python_values() -> None:
    c = config(
        settings=settings(
            SQUALL_ACCESS_LOG=False,
            SQUALL_FORWARDED_ALLOW_IPS=["10.0.0.0/8", "192.168.1.1"],
            SQUALL_HEADER_TIMEOUT=5,
            SQUALL_MAX_BODY_SIZE="1048576",
            SQUALL_LOG_LEVEL="DEBUG",
        )
    )
    assert c.access_log is False
    assert c.forwarded_allow_ips == ("10.0.0.0/8", "192.168.1.1")
    assert c.header_timeout == 5.0
    assert c.max_body_size == 1048576
    assert c.log_level == "debug"


def test_only_the_winning_value_is_parsed() -> None:
    assert config(["--port", "9001"], environ={"SQUALL_PORT": "not a port"}).port == 9001


def test_the_real_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_BACKLOG", "77")
    assert parse_config(["app"], prog="squall")[0].backlog == 77
    assert resolve_config({}).backlog == 77


# --------------------------------------------------------------------------- Hurricane


def test_hurricane_settings_without_prefix() -> None:
    c = config(settings=settings(PORT=9100, MAX_BODY_SIZE=1024))
    assert (c.port, c.max_body_size) == (9100, 1024)
    # Squall's own setting wins over Hurricane's at the same level ...
    assert config(settings=settings(SQUALL_PORT=9002, PORT=9100)).port == 9002
    # ... and any setting wins over the environment.
    assert config(settings=settings(PORT=9100), environ={"SQUALL_PORT": "9003"}).port == 9100
    # Hurricane had no THREADS setting: no alias for it.
    assert config(settings=settings(THREADS=9)).threads == 4


def test_hurricane_environment_variables() -> None:
    env = {"HURRICANE_PORT": "9200", "HURRICANE_MAX_BODY_SIZE": "2048"}
    c = config(environ=env)
    assert (c.port, c.max_body_size) == (9200, 2048)
    assert config(environ={**env, "SQUALL_PORT": "9003"}).port == 9003
    assert config(environ={"HURRICANE_THREADS": "9"}).threads == 4


def test_hurricane_workers_is_threads_in_manage_py_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert config(["--workers", "3"], django=True).threads == 3
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1
    assert warning.startswith("squall: warning: --workers is Hurricane's thread-pool size")
    assert "use --threads" in warning
    # --threads, Squall's own name, wins over the alias (which still warns).
    assert config(["--workers", "3", "--threads", "6"], django=True).threads == 6
    assert "--workers" in capsys.readouterr().err
    # The alias is below the command line only: it beats settings and env.
    assert config(["--workers", "3"], django=True, settings=settings(SQUALL_THREADS=8)).threads == 3


def test_hurricane_workers_is_unknown_to_the_squall_script(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert error_line(capsys, ["--workers", "3"]) == "squall: error: --workers: unknown option"


def test_hurricane_false_is_false() -> None:
    # Hurricane took HURRICANE_MEDIA=False for true; Squall parses booleans.
    for word in ("False", "false", "0", "no", "OFF", " off "):
        assert config(environ={"SQUALL_ACCESS_LOG": word}).access_log is False
    for word in ("True", "1", "yes", "on"):
        assert config(environ={"SQUALL_ACCESS_LOG": word}).access_log is True


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("value", ["1e3", "1_000", "8000.0", "", "0x10", "8000 tcp", "65536", "-1"])
def test_ports_are_parsed_strictly(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, [], environ={"SQUALL_PORT": value}) == (
        f"squall: error: SQUALL_PORT (environment): invalid value {value!r} "
        "(expected an integer 0-65535)"
    )


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1s", "", "1,5"])
def test_timeouts_are_positive_numbers(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--body-timeout", value]) == (
        f"squall: error: --body-timeout: invalid value {value!r} (expected a number of seconds > 0)"
    )


def test_values_accepted_from_strings() -> None:
    c = config(
        [
            "--port=0",
            "--header-timeout",
            "2.5",
            "--host",
            "::",
            "--forwarded-allow-ips",
            "10.0.0.0/8, 192.168.1.1,::1",
            "--log-format",
            "JSON",
        ],
        environ={"SQUALL_THREADS": " 16 "},
    )
    assert (c.port, c.header_timeout, c.host, c.log_format, c.threads) == (0, 2.5, "::", "json", 16)
    assert c.forwarded_allow_ips == ("10.0.0.0/8", "192.168.1.1", "::1")


def test_forwarded_allow_ips_any_and_none() -> None:
    assert config(["--forwarded-allow-ips", "*"]).forwarded_allow_ips == ("*",)
    assert config(["--forwarded-allow-ips", "10.0.0.1,*"]).forwarded_allow_ips == ("*",)
    assert config(["--forwarded-allow-ips", ""]).forwarded_allow_ips == ()


# --------------------------------------------------------------------------- errors


def test_error_lines_name_the_option_and_the_source(capsys: pytest.CaptureFixture[str]) -> None:
    cases: list[tuple[list[str], dict[str, Any], str]] = [
        (["--port", "abc"], {}, "--port: invalid value 'abc' (expected an integer 0-65535)"),
        (
            [],
            {"environ": {"SQUALL_PORT": "x"}},
            "SQUALL_PORT (environment): invalid value 'x' (expected an integer 0-65535)",
        ),
        (
            [],
            {"environ": {"HURRICANE_MAX_BODY_SIZE": "100MB"}},
            "HURRICANE_MAX_BODY_SIZE (environment): invalid value '100MB' "
            "(expected an integer >= 0)",
        ),
        (
            [],
            {"settings": settings(SQUALL_THREADS=0)},
            "settings.SQUALL_THREADS: invalid value 0 (expected an integer >= 1)",
        ),
        (
            [],
            {"settings": settings(PORT=True)},
            "settings.PORT: invalid value True (expected an integer 0-65535)",
        ),
        (
            [],
            {"settings": settings(SQUALL_HEADER_TIMEOUT="10s")},
            "settings.SQUALL_HEADER_TIMEOUT: invalid value '10s' "
            "(expected a number of seconds > 0)",
        ),
        (
            [],
            {"environ": {"SQUALL_ACCESS_LOG": "maybe"}},
            "SQUALL_ACCESS_LOG (environment): invalid value 'maybe' "
            "(expected a boolean: 1/0, true/false, yes/no, on/off)",
        ),
        (
            ["--log-level", "loud"],
            {},
            "--log-level: invalid value 'loud' (expected one of debug, info, warning, error)",
        ),
        (
            ["--forwarded-allow-ips", "10.0.0.300"],
            {},
            "--forwarded-allow-ips: invalid value '10.0.0.300' "
            "(expected comma-separated IP addresses or CIDR networks, or *)",
        ),
        (["--host", ""], {}, "--host: invalid value '' (expected a host name or IP address)"),
        (["--no-such-option"], {}, "--no-such-option: unknown option"),
        (["--no-such-option=1"], {}, "--no-such-option: unknown option"),
        (["--port"], {}, "--port: expected one argument"),
        (["--po", "1"], {}, "--po: unknown option"),  # no abbreviations
        (["--access-log=no"], {}, "--access-log: ignored explicit argument 'no'"),
    ]
    for argv, kw, message in cases:
        assert error_line(capsys, argv, **kw) == f"squall: error: {message}"


def test_hurricane_serve_options_not_implemented_are_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for flag in ("--static", "--media", "--probe-port=8001", "--command", "--autoreload"):
        name = flag.split("=")[0]
        assert error_line(capsys, [flag], django=True) == (
            f"squall: error: {name}: unknown option "
            f"(Hurricane's {name} is not supported by Squall yet)"
        )


def test_application_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_config(["mysite.wsgi"], prog="squall", environ={})[1].app == "mysite.wsgi"
    with pytest.raises(SystemExit):
        parse_config([], prog="squall", environ={})
    assert capsys.readouterr().err == (
        "squall: error: missing the application argument MODULE[:CALLABLE]\n"
    )
    assert error_line(capsys, ["extra"]) == "squall: error: unexpected argument 'extra'"
    assert error_line(capsys, ["--port", "1", "extra"]) == (
        "squall: error: unexpected argument 'extra'"
    )
    assert error_line(capsys, ["app"], django=True) == "squall: error: unexpected argument 'app'"


def test_kubernetes_service_link_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, [], environ={"SQUALL_PORT": "tcp://10.96.0.12:8000"})
    assert line.startswith(
        "squall: error: SQUALL_PORT (environment): invalid value 'tcp://10.96.0.12:8000' "
        "(expected an integer 0-65535); a Kubernetes service link of a Service named 'squall'?"
    )
    assert "enableServiceLinks: false" in line


def test_resolve_config_raises_option_error() -> None:
    with pytest.raises(OptionError, match=r"^--threads: invalid value 'x'"):
        resolve_config({"threads": "x"}, environ={})
    warnings: list[str] = []
    c = resolve_config({"alias_workers": "7"}, environ={}, on_warning=warnings.append)
    assert c.threads == 7 and len(warnings) == 1


# --------------------------------------------------------------------------- help


def test_help_lists_every_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    for django in (False, True):
        with pytest.raises(SystemExit) as exited:
            parse_config(["--help"], prog="squall", django=django, environ={})
        assert exited.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        for opt in OPTIONS:
            for flag in opt.flags:
                assert flag in out
            assert f"(default: {opt.show_default()}; {opt.variable})" in out
        assert ("--workers N deprecated Hurricane alias of --threads" in out) is django
        assert ("--settings MODULE" in out) is django
        assert ("MODULE[:CALLABLE]" in out) is not django


# --------------------------------------------------------------------------- manage.py serve


def test_serve_command_is_found_and_parses_with_squall() -> None:
    from django.core.management import get_commands, load_command_class

    assert get_commands()["serve"] == "squall"
    command = load_command_class("squall", "serve")
    parser = command.create_parser("manage.py", "serve")
    assert parser.prog == "manage.py serve"
    assert parser.parse_args(["--workers", "2"]).alias_workers == "2"


def test_call_command_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from django.core.management import call_command

    with pytest.raises(SystemExit) as exited:
        call_command("serve", port="abc")
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "squall: error: --port: invalid value 'abc' (expected an integer 0-65535)\n"
    )
    with pytest.raises(SystemExit) as exited:
        call_command("serve", "--static")
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("squall: error: --static: unknown option")


def test_call_command_serves_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from django.core.management import call_command

    served: list[tuple[object, Config]] = []

    def serve(app: object, config: Config) -> int:
        served.append((app, config))
        return 5

    monkeypatch.setitem(sys.modules, "squall.server", types.SimpleNamespace(serve=serve))
    squall_logger = logging.getLogger("squall")
    monkeypatch.setattr(squall_logger, "handlers", [])
    monkeypatch.setattr(squall_logger, "propagate", squall_logger.propagate)
    monkeypatch.setattr(squall_logger, "level", squall_logger.level)
    with pytest.raises(SystemExit) as exited:
        call_command("serve", port=0, threads="2")
    assert exited.value.code == 5
    [(app, cfg)] = served
    from demo.wsgi import application

    assert type(app) is type(application)
    assert (cfg.port, cfg.threads) == (0, 2)
