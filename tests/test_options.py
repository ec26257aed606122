"""The option table and its sources: command line, Django settings, environment."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from squall.cgroup import available_cpus, cgroup_cpu_quota
from squall.options import (
    HURRICANE_ONLY,
    OPTIONS,
    Config,
    OptionError,
    build_parser,
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


def warnings_of(
    argv: list[str],
    *,
    django: bool = False,
    settings: object | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[Config, list[str]]:
    """Parse; return the Config and the warnings it gave."""
    namespace = build_parser("squall", django=django).parse_args(argv if django else ["app", *argv])
    warnings: list[str] = []
    c = resolve_config(
        vars(namespace), settings=settings, environ=environ or {}, on_warning=warnings.append
    )
    return c, warnings


# --------------------------------------------------------------------------- the table


def test_defaults_are_the_documented_ones() -> None:
    assert dataclasses.asdict(Config()) == {
        "host": "0.0.0.0",
        "port": 8000,
        "backlog": 1024,
        "workers": available_cpus(),
        "interface": "wsgi",
        "asgi": False,
        "loop": "auto",
        "lifespan": "auto",
        "ws_max_message_size": 1048576,
        "root_path": "",
        "threads": 4,
        "preload": True,
        "reuse_port": False,
        "timeout": 30.0,
        "timeout_grace": 5.0,
        "max_requests": 0,
        "max_requests_jitter": 0,
        "max_lifetime": 0.0,
        "max_memory": 0,
        "shutdown_delay": 5.0,
        "graceful_timeout": 20.0,
        "probe": True,
        "probe_port": None,
        "startup_probe": "/startup",
        "readiness_probe": "/ready",
        "liveness_probe": "/alive",
        "req_queue_len": 10,
        "max_queue": 64,
        "fair_accept": True,
        "check_interval": 5.0,
        "metrics": "/metrics",
        "webhook_url": (),
        "command": (),
        "check_migrations": False,
        "check_migrations_apply": False,
        "database_wait": 30.0,
        "max_request_line": 8190,
        "max_header_bytes": 65536,
        "max_header_count": 100,
        "max_body_size": 104857600,
        "header_timeout": 10.0,
        "keepalive_timeout": 75.0,
        "body_timeout": 30.0,
        "forwarded_allow_ips": ("127.0.0.1", "::1"),
        "access_log": True,
        "access_log_format": (
            "client", "request", "status", "bytes", "duration", "request_id", "trace_id", "span_id"
        ),
        "log_format": "text",
        "log_level": "info",
        "tracing_setup": "",
        "static": False,
        "media": False,
        "media_private": (),
        "static_max_age": 3600,
        "static_follow_symlinks": False,
        "autoreload": False,
        "static_watch": (),
        "debugger": False,
        "debugger_port": 5678,
        "pycharm_host": "",
        "pycharm_port": 5678,
    }
    assert config() == Config()


def test_shutdown_defaults_fit_the_kubernetes_grace_period() -> None:
    c = Config()
    assert c.shutdown_delay + c.graceful_timeout < 30  # terminationGracePeriodSeconds
    [shutdown] = [o for o in OPTIONS if o.name == "shutdown_delay"]
    assert "terminationGracePeriodSeconds (30 s by default): 5 + 20 = 25" in shutdown.help


def test_workers_default_is_documented_not_this_machines_count() -> None:
    [workers] = [o for o in OPTIONS if o.name == "workers"]
    assert workers.show_default() == "CPUs available to the container (cgroup quota)"
    assert (
        "| `--workers N` | `SQUALL_WORKERS` | `CPUs available to the container (cgroup "
        "quota)` |" in render_markdown()
    )


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
    ("workers", "3", 5, "7", (3, 5, 7, available_cpus())),
    ("timeout", "12.5", 60, "90", (12.5, 60.0, 90.0, 30.0)),
    ("max_requests", "200", 300, "400", (200, 300, 400, 0)),
    ("max_requests_jitter", "20", 30, "40", (20, 30, 40, 0)),
    ("max_lifetime", "3600", 0, "60", (3600.0, 0.0, 60.0, 0.0)),
    ("max_memory", "512", 256, "1024", (512, 256, 1024, 0)),
    ("shutdown_delay", "0", 2.5, "10", (0.0, 2.5, 10.0, 5.0)),
    ("graceful_timeout", "10", 15, "25", (10.0, 15.0, 25.0, 20.0)),
    ("debugger_port", "5679", 5680, "5681", (5679, 5680, 5681, 5678)),
    ("pycharm_host", "10.0.0.1", "host.docker.internal", "localhost", (
        "10.0.0.1", "host.docker.internal", "localhost", "")),
    ("pycharm_port", "1234", 2345, "3456", (1234, 2345, 3456, 5678)),
    ("static_watch", "a", ["b", "c"], "d,e", (("a",), ("b", "c"), ("d", "e"), ())),
]  # fmt: skip


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


@pytest.mark.parametrize(
    ("name", "default"),
    [("preload", True), ("reuse_port", False), ("autoreload", False), ("debugger", False)],
)
def test_new_switches(name: str, default: bool) -> None:
    flag = "--" + name.replace("_", "-")
    variable = "SQUALL_" + name.upper()
    assert getattr(config([]), name) is default
    assert getattr(config([flag]), name) is True
    assert getattr(config(["--no-" + flag[2:]], environ={variable: "on"}), name) is False
    assert getattr(config([], environ={variable: "yes"}), name) is True
    assert getattr(config([], settings=settings(**{variable: False})), name) is False


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


def test_workers_flag_is_processes_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for django in (False, True):
        c = config(["--workers", "3"], django=django)
        assert (c.workers, c.threads) == (3, 4)
    assert capsys.readouterr().err == ""  # no alias, no warning


def test_hurricane_workers_setting_and_env_are_threads_with_a_warning() -> None:
    c, warnings = warnings_of([], settings=settings(WORKERS=6))
    assert (c.threads, c.workers) == (6, available_cpus())
    assert warnings == [
        "settings.WORKERS is Hurricane's thread-pool size, taken as threads: use "
        "SQUALL_THREADS (Squall's --workers / SQUALL_WORKERS is the number of processes)"
    ]
    c, warnings = warnings_of([], environ={"HURRICANE_WORKERS": "7"})
    assert c.threads == 7
    assert [w.split(" is ")[0] for w in warnings] == ["HURRICANE_WORKERS (environment)"]
    # Squall's own names win at every level; a set alias still warns.
    c, warnings = warnings_of(["--threads", "2"], environ={"HURRICANE_WORKERS": "7"})
    assert c.threads == 2 and len(warnings) == 1
    c, _ = warnings_of([], settings=settings(SQUALL_THREADS=3, WORKERS=6))
    assert c.threads == 3
    # SQUALL_WORKERS is processes.
    c, warnings = warnings_of([], environ={"SQUALL_WORKERS": "2"})
    assert (c.workers, c.threads, warnings) == (2, 4, [])


def test_hurricane_max_lifetime_is_a_request_count_with_a_warning() -> None:
    c, warnings = warnings_of([], settings=settings(MAX_LIFETIME=1000))
    assert (c.max_requests, c.max_lifetime) == (1000, 0.0)
    assert warnings == [
        "settings.MAX_LIFETIME is Hurricane's request count, taken as max_requests: use "
        "SQUALL_MAX_REQUESTS (Squall's --max-lifetime / SQUALL_MAX_LIFETIME is in seconds)"
    ]
    c, warnings = warnings_of([], environ={"HURRICANE_MAX_LIFETIME": "500"})
    assert (c.max_requests, c.max_lifetime) == (500, 0.0)
    assert warnings[0].startswith("HURRICANE_MAX_LIFETIME (environment) is Hurricane's")
    assert len(warnings) == 1
    # Squall's own --max-lifetime is seconds, and no warning.
    c, warnings = warnings_of(["--max-lifetime", "500"], django=True)
    assert (c.max_requests, c.max_lifetime, warnings) == (0, 500.0, [])
    c, warnings = warnings_of([], environ={"SQUALL_MAX_LIFETIME": "60"})
    assert (c.max_requests, c.max_lifetime, warnings) == (0, 60.0, [])


def test_a_bad_hurricane_max_lifetime_warns_then_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        config([], settings=settings(MAX_LIFETIME="1h"))
    assert exited.value.code == 2
    warning, error = capsys.readouterr().err.splitlines()
    assert warning.startswith("squall: warning: settings.MAX_LIFETIME is Hurricane's request count")
    assert error == (
        "squall: error: settings.MAX_LIFETIME: invalid value '1h' (expected an integer >= 0)"
    )


def test_hurricane_development_and_memory_names() -> None:
    c, warnings = warnings_of(
        [],
        settings=settings(MAX_MEMORY=512, AUTORELOAD=True, STATIC_WATCH=["static"]),
        environ={"HURRICANE_PYCHARM_PORT": "4000", "HURRICANE_DEBUGGER_PORT": "5000"},
    )
    assert (c.max_memory, c.autoreload, c.static_watch) == (512, True, ("static",))
    assert (c.pycharm_port, c.debugger_port, warnings) == (4000, 5000, [])
    c = config(environ={"HURRICANE_MAX_MEMORY": "256", "HURRICANE_DEBUGGER": "1"})
    assert (c.max_memory, c.debugger, c.workers) == (256, True, 1)
    assert config(environ={"HURRICANE_PYCHARM_HOST": "10.1.2.3"}).pycharm_host == "10.1.2.3"


def test_hurricane_false_is_false() -> None:
    # Hurricane took HURRICANE_MEDIA=False for true; Squall parses booleans.
    for word in ("False", "false", "0", "no", "OFF", " off "):
        assert config(environ={"SQUALL_ACCESS_LOG": word}).access_log is False
    for word in ("True", "1", "yes", "on"):
        assert config(environ={"SQUALL_ACCESS_LOG": word}).access_log is True
    assert config(environ={"HURRICANE_MEDIA": "False"}).media is False
    assert config(environ={"HURRICANE_STATIC": "True"}).static is True


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
        (["--workers", "0"], {}, "--workers: invalid value '0' (expected an integer >= 1)"),
        (
            [],
            {"environ": {"SQUALL_MAX_MEMORY": "1G"}},
            "SQUALL_MAX_MEMORY (environment): invalid value '1G' (expected an integer >= 0)",
        ),
        (
            [],
            {"settings": settings(MAX_MEMORY="1G")},
            "settings.MAX_MEMORY: invalid value '1G' (expected an integer >= 0)",
        ),
        (
            ["--max-lifetime", "-1"],
            {},
            "--max-lifetime: invalid value '-1' (expected a number of seconds >= 0)",
        ),
        (
            ["--shutdown-delay", "nan"],
            {},
            "--shutdown-delay: invalid value 'nan' (expected a number of seconds >= 0)",
        ),
        (
            ["--graceful-timeout", "0"],
            {},
            "--graceful-timeout: invalid value '0' (expected a number of seconds > 0)",
        ),
        (["--timeout", "0"], {}, "--timeout: invalid value '0' (expected a number of seconds > 0)"),
        (
            ["--debugger-port", "70000"],
            {},
            "--debugger-port: invalid value '70000' (expected an integer 0-65535)",
        ),
        (
            ["--pycharm-port", "0"],
            {},
            "--pycharm-port: invalid value '0' (expected an integer 1-65535)",
        ),
        (
            ["--pycharm-host", "a b"],
            {},
            "--pycharm-host: invalid value 'a b' (expected a host name or IP address, or empty)",
        ),
        (
            [],
            {"settings": settings(SQUALL_STATIC_WATCH=3)},
            "settings.SQUALL_STATIC_WATCH: invalid value 3 "
            "(expected paths (repeat the flag, or comma-separate them))",
        ),
        (
            ["--preload=no"],
            {},
            "--preload: ignored explicit argument 'no'",
        ),
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
    for flag in ("--debug",):
        name = flag.split("=")[0]
        assert error_line(capsys, [flag], django=True) == (
            f"squall: error: {name}: unknown option "
            f"(Hurricane's {name} is not supported by Squall yet)"
        )


def test_hurricane_max_buffer_size_is_max_body_size() -> None:
    config, _ = parse_config(["--max-buffer-size", "1000"], django=True, environ={})
    assert config.max_body_size == 1000
    # Squall's own name wins over Hurricane's, at each level.
    config, _ = parse_config(
        ["--max-buffer-size", "1000", "--max-body-size", "2000"], django=True, environ={}
    )
    assert config.max_body_size == 2000
    assert resolve_config({}, environ={"HURRICANE_MAX_BUFFER_SIZE": "77"}).max_body_size == 77

    class Settings:
        MAX_BUFFER_SIZE = 88

    assert resolve_config({}, settings=Settings(), environ={}).max_body_size == 88


def test_req_queue_len_0_is_accepted() -> None:
    assert parse_config(["--req-queue-len", "0"], django=True, environ={})[0].req_queue_len == 0


def test_hurricane_options_squall_now_has_are_no_longer_errors() -> None:
    implemented = """--autoreload --static-watch --max-lifetime --max-memory --debugger
        --debugger-port --pycharm-host --pycharm-port --workers --probe-port --no-probe
        --startup-probe --readiness-probe --liveness-probe --req-queue-len --command
        --check-migrations --check-migrations-apply --webhook-url --static --media --metrics
        --no-metrics --max-buffer-size""".split()
    assert not HURRICANE_ONLY & set(implemented)
    flags = {flag for opt in OPTIONS for flag in opt.flags}
    flags |= {a.name for opt in OPTIONS for a in opt.aliases_from("cli")}
    assert set(implemented) <= flags
    assert not HURRICANE_ONLY & flags


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
    c = resolve_config({}, environ={"HURRICANE_WORKERS": "7"}, on_warning=warnings.append)
    assert c.threads == 7 and len(warnings) == 1


# --------------------------------------------------------------------------- new kinds


def test_static_watch_repeats_and_comma_separates() -> None:
    c = config(["--static-watch", "static", "--static-watch", "assets/css", "--autoreload"])
    assert c.static_watch == ("static", "assets/css")
    # One flag with a list, as its help says (Hurricane's --static-watch took one path).
    c = config(["--static-watch", "static,assets/css", "--static-watch", "x", "--autoreload"])
    assert c.static_watch == ("static", "assets/css", "x")
    c = config(["--autoreload"], environ={"SQUALL_STATIC_WATCH": "static, assets ,"})
    assert c.static_watch == ("static", "assets")
    c = config(["--autoreload"], settings=settings(SQUALL_STATIC_WATCH=("a,b",)))
    assert c.static_watch == ("a,b",)  # a list in a setting is taken as is
    assert config(["--static-watch", ""]).static_watch == ()


def test_zero_turns_lifecycle_limits_off() -> None:
    c = config(
        ["--max-lifetime", "0", "--shutdown-delay", "0", "--max-requests", "0", "--max-memory", "0"]
    )
    assert (c.max_lifetime, c.shutdown_delay, c.max_requests, c.max_memory) == (0, 0, 0, 0)
    assert isinstance(c.max_lifetime, float) and isinstance(c.shutdown_delay, float)
    assert Config(max_lifetime=0, shutdown_delay=0).max_lifetime == 0.0
    with pytest.raises(ValueError, match=r"Config.graceful_timeout"):
        Config(graceful_timeout=0)


def test_pycharm_host_empty_is_off() -> None:
    assert config(["--pycharm-host", ""]).pycharm_host == ""
    assert config(["--pycharm-host", " "]).pycharm_host == ""
    assert config([], environ={"SQUALL_PYCHARM_HOST": "host.docker.internal"}).pycharm_host == (
        "host.docker.internal"
    )


# --------------------------------------------------------------------------- CPUs


def cgroup_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def cpus_here() -> int:
    return len(__import__("os").sched_getaffinity(0))


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "200000 100000"}, 2.0),
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "garbage"}, None),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000"}, None),  # no period
        ({}, None),
    ],
)
def test_cgroup_cpu_quota(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    assert cgroup_cpu_quota(cgroup_tree(tmp_path, files)) == quota


def test_available_cpus_is_the_affinity_capped_by_the_quota_rounded_up(tmp_path: Path) -> None:
    mine = cpus_here()
    assert available_cpus(cgroup_tree(tmp_path / "v2", {"cpu.max": "200000 100000"})) == min(
        mine, 2
    )
    assert available_cpus(cgroup_tree(tmp_path / "frac", {"cpu.max": "10000 100000"})) == 1
    assert available_cpus(cgroup_tree(tmp_path / "max", {"cpu.max": "max 100000"})) == mine
    v1 = {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}
    assert available_cpus(cgroup_tree(tmp_path / "v1none", v1)) == mine
    v1 = {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}
    assert available_cpus(cgroup_tree(tmp_path / "v1", v1)) == 1
    assert available_cpus(tmp_path / "missing") == mine
    # A quota larger than the machine does not add CPUs.
    big = {"cpu.max": f"{(mine + 8) * 100000} 100000"}
    assert available_cpus(cgroup_tree(tmp_path / "big", big)) == mine


# --------------------------------------------------------------------------- combinations


def test_a_debugger_refuses_autoreload(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--debugger", "--autoreload"]) == (
        "squall: error: --debugger cannot be used with --autoreload: the reloader would "
        "restart the process the debugger is attached to"
    )
    assert error_line(capsys, ["--autoreload"], environ={"SQUALL_PYCHARM_HOST": "localhost"}) == (
        "squall: error: SQUALL_PYCHARM_HOST (environment) cannot be used with --autoreload: "
        "the reloader would restart the process the debugger is attached to"
    )
    assert error_line(
        capsys, ["--debugger"], settings=settings(AUTORELOAD=True), django=True
    ).startswith("squall: error: --debugger cannot be used with settings.AUTORELOAD: ")
    # Turned off on the command line: no conflict.
    assert config(["--no-autoreload", "--debugger"], environ={"SQUALL_AUTORELOAD": "1"}).debugger


def test_a_debugger_runs_one_worker() -> None:
    c, warnings = warnings_of(["--debugger"])
    assert (c.workers, warnings) == (1, [])  # the default: silently one
    c, warnings = warnings_of(["--debugger", "--workers", "1"])
    assert (c.workers, warnings) == (1, [])
    c, warnings = warnings_of(["--pycharm-host", "localhost", "--workers", "4"])
    assert c.workers == 1
    assert warnings == ["--workers 4 is ignored: --pycharm-host runs one worker"]
    c, warnings = warnings_of(["--debugger"], environ={"SQUALL_WORKERS": "3"})
    assert warnings == ["SQUALL_WORKERS (environment) 3 is ignored: --debugger runs one worker"]


def test_the_debugger_warning_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert config(["--debugger", "--workers", "2"]).workers == 1
    assert capsys.readouterr().err == (
        "squall: warning: --workers 2 is ignored: --debugger runs one worker\n"
    )


def test_static_watch_without_autoreload_warns() -> None:
    _, warnings = warnings_of(["--static-watch", "static"])
    assert warnings == ["--static-watch has no effect without --autoreload"]
    _, warnings = warnings_of(["--static-watch", "static", "--autoreload"])
    assert warnings == []


def test_max_queue_not_above_req_queue_len_warns() -> None:
    _, warnings = warnings_of(["--max-queue", "8"])  # --req-queue-len 10 by default
    assert warnings == [
        "--max-queue 8 is not above --req-queue-len 10: requests are shed (503) before "
        "readiness fails"
    ]
    _, warnings = warnings_of(["--req-queue-len", "64"])
    assert warnings == [
        "--max-queue 64 is not above --req-queue-len 64: requests are shed (503) before "
        "readiness fails"
    ]
    assert warnings_of(["--max-queue", "0", "--req-queue-len", "64"])[1] == []  # unbounded
    assert warnings_of(["--max-queue", "11"])[1] == []


def test_config_keeps_the_invariants_when_built_directly() -> None:
    assert Config(debugger=True, workers=8).workers == 1
    assert Config(pycharm_host="localhost").workers == 1
    with pytest.raises(ValueError, match="cannot be used with autoreload"):
        Config(debugger=True, autoreload=True)


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
        assert "deprecated Hurricane alias" not in out
        assert "--static-watch PATH" in out and "--max-memory MIB" in out
        assert ("--settings MODULE" in out) is django
        assert ("MODULE[:CALLABLE]" in out) is not django


# --------------------------------------------------------------------------- manage.py serve


def test_serve_command_is_found_and_parses_with_squall() -> None:
    from django.core.management import get_commands, load_command_class

    assert get_commands()["serve"] == "squall"
    command = load_command_class("squall", "serve")
    parser = command.create_parser("manage.py", "serve")
    assert parser.prog == "manage.py serve"
    assert parser.parse_args(["--workers", "2"]).workers == "2"


def test_call_command_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from django.core.management import call_command

    with pytest.raises(SystemExit) as exited:
        call_command("serve", port="abc")
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "squall: error: --port: invalid value 'abc' (expected an integer 0-65535)\n"
    )
    with pytest.raises(SystemExit) as exited:
        call_command("serve", "--debug")
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("squall: error: --debug: unknown option")


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


def test_probe_options_from_every_source() -> None:
    assert config(["--probe-port", "9001"]).probe_port == 9001
    assert config(environ={"HURRICANE_PROBE_PORT": "9002"}).probe_port == 9002
    assert config(settings=settings(REQ_QUEUE_LEN=3)).req_queue_len == 3
    assert config(["--no-probe"]).probe is False
    # Hurricane forces the leading slash; a trailing one is accepted at request time.
    assert config(["--readiness-probe", "readyness"]).readiness_probe == "/readyness"
    assert config(environ={"SQUALL_PROBE_PORT": ""}).probe_port is None


def test_bad_probe_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_line(capsys, ["--probe-port", "0"]) == (
        "squall: error: --probe-port: invalid value '0' "
        "(expected an integer 1-65535, or empty for the app port + 1)"
    )
    assert error_line(capsys, ["--req-queue-len", "-1"]).startswith(
        "squall: error: --req-queue-len: invalid value '-1'"
    )


def test_startup_and_webhook_options(capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = parse_config(
        ["--command", "migrate --noinput", "--command", "shell -c 'print(1, 2)'",
         "--webhook-url", "http://a/hook", "--webhook-url", "https://b/x,https://c/y",
         "--check-migrations", "--check-interval", "2.5"],
        prog="serve", django=True, environ={},
    )  # fmt: skip
    assert config.command == ("migrate --noinput", "shell -c 'print(1, 2)'")
    assert config.webhook_url == ("http://a/hook", "https://b/x", "https://c/y")
    assert config.check_migrations and config.check_interval == 2.5
    config, _ = parse_config(
        [], prog="serve", django=True, environ={"HURRICANE_WEBHOOK_URL": "http://h/"}
    )
    assert config.webhook_url == ("http://h/",)
    assert error_line(capsys, ["--command", "shell -c 'unbalanced"], django=True) == (
        'squall: error: --command: invalid value "shell -c \'unbalanced" (expected a management '
        'command with its arguments, e.g. "migrate --noinput" (repeat the flag for more))'
    )
    assert error_line(capsys, ["--webhook-url", "http://ok/", "--webhook-url", "nohost"]) == (
        "squall: error: --webhook-url: invalid value 'nohost' (expected http:// or https:// URLs "
        "(repeat the flag, or comma-separate them))"
    )
    assert error_line(capsys, ["--check-interval", "0"], django=True).startswith(
        "squall: error: --check-interval: invalid value '0'"
    )


def test_asgi_is_one_interface_by_two_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert config(["--interface", "asgi"]).interface == "asgi"
    assert config(["--asgi"]).interface == "asgi"
    assert config(environ={"SQUALL_ASGI": "1"}).interface == "asgi"
    assert config().interface == "wsgi"
    line = error_line(capsys, ["--asgi", "--interface", "wsgi"])
    assert line == "squall: error: --asgi cannot be used with --interface wsgi"
    assert "--root-path: invalid value 'api/'" in error_line(capsys, ["--root-path", "api/"])
    assert config(["--root-path", "/api"]).root_path == "/api"
