"""Migrating from django-hurricane (docs/migrating-from-hurricane.md): a Hurricane
project with "squall" in INSTALLED_APPS where it had "hurricane" keeps its
`manage.py serve` command line, settings and HURRICANE_* environment.

Real servers: the demo project (INSTALLED_APPS has "squall" where a Hurricane
project has "hurricane") with tests/apps/probe_settings.py, a temporary SQLite
database and a webhook receiver inside the test.

Covered elsewhere, not repeated here: queue-full readiness (tests/test_probes.py),
tagged system checks on the probes (tests/test_health_probes.py), the alias
precedence and Hurricane's WORKERS / MAX_LIFETIME meanings (tests/test_options.py,
tests/test_cli_errors.py), --debug as an error (tests/test_options.py,
tests/test_cli_errors.py), --static / --media and their STATIC / MEDIA /
HURRICANE_STATIC / HURRICANE_MEDIA names (tests/test_static_files.py), --metrics
and --no-metrics (tests/test_metrics.py).
"""

from __future__ import annotations

import http.client
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serverproc import (
    APPS_DIR,
    DEMO_DIR,
    ServerProcess,
    free_port,
    probe,
    run_server,
    run_until_exit,
    wait_for,
    wait_for_port,
)
from webhook_receiver import WebhookReceiver

from squall.options import HURRICANE_ONLY

# Every field of Hurricane's startup webhook (hurricane/webhooks/base.py): traceback
# only on failure.
HURRICANE_STARTUP_FIELDS = {"info", "type", "status", "timestamp", "podname", "version"}

# A slow startup command Hurricane runs too: it splits --command on whitespace
# (no shell quoting), so the Python code holds no space and no quote.
SLOW_COMMAND = "shell -c __import__(chr(116)+chr(105)+chr(109)+chr(101)).sleep(1.5)"

# A Hurricane project's settings: probe_settings with HURRICANE_VERSION (what
# Hurricane put into webhooks) instead of SQUALL_VERSION, plus `extra`.
HURRICANE_SETTINGS = """\
from probe_settings import *  # noqa: F403

del SQUALL_VERSION  # noqa: F821
HURRICANE_VERSION = "2.0.0-hurricane"
"""


def project_env(tmp_path: Path, db: Path, settings: str = "", **extra: str) -> dict[str, str]:
    """The environment of a Hurricane project turned Squall; `settings` is added to
    its settings module (Hurricane's names without prefix)."""
    (tmp_path / "hurricane_project.py").write_text(HURRICANE_SETTINGS + settings)
    paths = (os.environ.get("PYTHONPATH"), str(tmp_path), str(APPS_DIR))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "HURRICANE_"))}
    return env | {
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "DJANGO_SETTINGS_MODULE": "hurricane_project",
        "DEMO_TEST_DB": str(db),
        **extra,
    }


@contextmanager
def manage_serve(
    args: list[str], env: dict[str, str], port: int, probe_port: int
) -> Iterator[ServerProcess]:
    """`python manage.py serve ARGS` in the demo, exactly as given (no --host, no
    port added); yields once the probe port listens."""
    with run_server(
        ["manage.py", "serve", *args], cwd=DEMO_DIR, environ=env, port=port, listen=False,
        probe_port=probe_port, ready=lambda s: wait_for_port(s.probe_port, s.proc),
    ) as server:  # fmt: skip
        yield server


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def migrate(db: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=DEMO_DIR, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def assert_hurricane_startup_webhook(event: dict[str, object], version: str | None) -> None:
    assert set(event) == HURRICANE_STARTUP_FIELDS, event
    assert event["info"] == "Startup webhook"
    assert event["type"] == "startup"
    assert event["status"] == "succeeded"
    assert isinstance(event["timestamp"], int) and abs(event["timestamp"] - time.time()) < 120
    assert event["podname"] == socket.gethostname()
    assert event["version"] == version


def test_the_demo_has_squall_where_a_hurricane_project_has_hurricane() -> None:
    settings = runpy.run_path(str(DEMO_DIR / "demo" / "settings.py"))
    apps = settings["INSTALLED_APPS"]
    assert "squall" in apps and "hurricane" not in apps


# --------------------------------------------------------------------------- (a)


def test_hurricane_serve_command_line_runs_unchanged(tmp_path: Path) -> None:
    port, probe_port = free_port(), free_port()
    db = tmp_path / "fresh.sqlite3"  # --check-migrations-apply migrates it
    with WebhookReceiver() as hooks:
        # Hurricane's documented serve options that Squall implements, in one
        # command line. --max-lifetime is in seconds here (Hurricane: requests);
        # --workers is processes here (Hurricane: threads).
        args = [
            "--port", str(port),
            "--probe-port", str(probe_port),
            "--startup-probe", "/startup",
            "--readiness-probe", "/ready",
            "--liveness-probe", "/alive",
            "--req-queue-len", "10",
            "--command", "check",
            "--command", SLOW_COMMAND,
            "--check-migrations-apply",
            "--webhook-url", hooks.url,
            "--max-memory", "512",
            "--max-lifetime", "3600",
            "--max-body-size", str(10 * 1024 * 1024),
            "--debugger-port", "5678",
            "--workers", "2",
        ]  # fmt: skip
        # Only to keep the test short: SIGTERM keeps accepting for 1 s instead of 5 s.
        env = project_env(tmp_path, db, SQUALL_SHUTDOWN_DELAY="1")
        with manage_serve(args, env, port, probe_port) as server:
            # Hurricane: every probe 400 with an empty body before the server started.
            for path in ("/startup", "/ready", "/alive", "/startup/", "/ready/", "/alive/"):
                status, body, _ = probe(server, path)
                assert (status, body) == (400, ""), path
            wait_for(server, "/startup", 200, timeout=60)

            assert get(port, "/") == (200, "Hello, World!")
            assert get(port, "/db")[0] == 200  # the migrations were applied
            status, body, _ = probe(server, "/startup")
            assert status == 200 and body.startswith("Startup was finished")
            assert probe(server, "/alive")[:2] == (200, "alive\n")
            for path in ("/ready", "/ready/", "/alive/", "/startup/", "/alive?x=1"):
                assert probe(server, path)[0] == 200, path
            # The probe paths and Hurricane's /metrics: 404 for anything else.
            assert probe(server, "/")[0] == 404
            status, body, headers = probe(server, "/metrics")
            assert status == 200 and "squall_workers " in body
            assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"

            event = hooks.wait_for(lambda e: e["type"] == "startup")
            assert_hurricane_startup_webhook(event, "2.0.0-hurricane")
            assert len(hooks.of("startup", "succeeded")) == 1

            # SIGTERM: Hurricane stopped its loop at once; Squall fails readiness
            # (500) at once and keeps serving for the shutdown delay, then drains.
            server.proc.send_signal(signal.SIGTERM)
            wait_for(server, "/ready", 500, timeout=5)
            assert probe(server, "/alive")[0] == 200
            assert get(port, "/") == (200, "Hello, World!")
            assert server.proc.wait(timeout=30) == 0
            event = hooks.wait_for(lambda e: e["type"] == "readiness")
            assert event["status"] == "failed" and event["info"] == "Readiness webhook"
    log = server.log()
    assert "squall: error" not in log and "squall: warning" not in log
    # Squall checks/applies the migrations first, then runs the commands in order.
    assert (
        log.index("migrations: applying")
        < log.index("running command: check")
        < log.index("running command: " + SLOW_COMMAND)
        < log.index("booting worker")
    )


# --------------------------------------------------------------------------- (b)


def test_hurricane_settings_without_prefix_are_honoured(tmp_path: Path) -> None:
    port, probe_port = free_port(), free_port()
    db = tmp_path / "fresh.sqlite3"
    with WebhookReceiver() as hooks:
        settings = f"""
PORT = {port}
PROBE_PORT = {probe_port}
STARTUP_PROBE = "/hurricane/startup"
READINESS_PROBE = "hurricane/ready"  # Hurricane forced the leading slash
LIVENESS_PROBE = "/hurricane/alive/"
REQ_QUEUE_LEN = 5
WEBHOOK_URL = "{hooks.url}"
CHECK_MIGRATIONS_APPLY = True
MAX_MEMORY = 512
WORKERS = 2  # Hurricane's thread pool: Squall's threads, with a warning
"""
        env = project_env(tmp_path, db, settings, SQUALL_WORKERS="1")
        with manage_serve([], env, port, probe_port) as server:  # no option at all
            wait_for(server, "/hurricane/startup", 200, timeout=60)
            assert get(port, "/db")[0] == 200  # CHECK_MIGRATIONS_APPLY migrated it
            for path in ("/hurricane/ready", "/hurricane/ready/", "/hurricane/alive"):
                assert probe(server, path)[0] == 200, path
            assert probe(server, "/hurricane/alive/")[0] == 200
            for path in ("/startup", "/ready", "/alive"):  # the defaults moved
                assert probe(server, path)[0] == 404, path
            event = hooks.wait_for(lambda e: e["type"] == "startup")
            assert_hurricane_startup_webhook(event, "2.0.0-hurricane")
    log = server.log()
    assert "squall: warning: settings.WORKERS is Hurricane's thread-pool size" in log
    assert "migrations: applying" in log


def test_hurricane_environment_variables_are_honoured(tmp_path: Path) -> None:
    port, probe_port = free_port(), free_port()
    db = tmp_path / "db.sqlite3"
    with WebhookReceiver() as hooks:
        env = project_env(
            tmp_path,
            db,
            HURRICANE_PORT=str(port),
            HURRICANE_PROBE_PORT=str(probe_port),
            HURRICANE_STARTUP_PROBE="/env-startup",
            HURRICANE_READINESS_PROBE="/env-ready",
            HURRICANE_LIVENESS_PROBE="/env-alive",
            HURRICANE_REQ_QUEUE_LEN="5",
            HURRICANE_WEBHOOK_URL=hooks.url,
            HURRICANE_CHECK_MIGRATIONS="1",
            HURRICANE_MAX_MEMORY="512",
            SQUALL_WORKERS="1",
        )
        migrate(db, env)  # HURRICANE_CHECK_MIGRATIONS passes on a migrated database
        with manage_serve([], env, port, probe_port) as server:
            wait_for(server, "/env-startup", 200, timeout=60)
            assert get(port, "/")[0] == 200
            assert probe(server, "/env-ready/")[0] == 200
            assert probe(server, "/env-alive")[:2] == (200, "alive\n")
            assert probe(server, "/startup")[0] == 404
            event = hooks.wait_for(lambda e: e["type"] == "startup")
            assert_hurricane_startup_webhook(event, "2.0.0-hurricane")
    assert "migrations: all applied" in server.log()


def test_hurricane_check_migrations_from_env_fails_startup_on_unapplied_ones(
    tmp_path: Path,
) -> None:
    # Hurricane waited forever (startup probe 400) while migrations were pending;
    # Squall fails startup: exit 1, a startup-failed webhook to HURRICANE_WEBHOOK_URL.
    with WebhookReceiver() as hooks:
        env = project_env(
            tmp_path,
            tmp_path / "fresh.sqlite3",
            HURRICANE_CHECK_MIGRATIONS="true",
            HURRICANE_WEBHOOK_URL=hooks.url,
            HURRICANE_PORT=str(free_port()),
            HURRICANE_PROBE_PORT=str(free_port()),
        )
        proc = run_until_exit(["manage.py", "serve"], cwd=DEMO_DIR, environ=env)
        assert proc.returncode == 1, proc.stderr
        event = hooks.wait_for(lambda e: e["type"] == "startup")
    assert event["status"] == "failed"
    assert "unapplied migration(s)" in event["traceback"]
    assert "booting worker" not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- (c)

# tests/test_options.py and tests/test_cli_errors.py cover --debug; these are
# the rest of HURRICANE_ONLY, as Hurricane users write them.
NOT_YET = [
    (["--debug"], "--debug"),
    (["--debug", "--port", "8000"], "--debug"),
]


def test_every_unsupported_hurricane_option_is_covered() -> None:
    assert {name for _, name in NOT_YET} | {"--debug"} == HURRICANE_ONLY


@pytest.mark.parametrize(("args", "name"), NOT_YET, ids=[" ".join(a) for a, _ in NOT_YET])
def test_unsupported_hurricane_option_exits_2_naming_it(
    tmp_path: Path, args: list[str], name: str
) -> None:
    env = project_env(tmp_path, tmp_path / "unused.sqlite3")
    before = []
    if args == ["--debug", "--port", "8000"]:
        before = ["--port", "8000", "--workers", "2", "--check-migrations"]
    proc = run_until_exit(["manage.py", "serve", *before, *args], cwd=DEMO_DIR, environ=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"squall: error: {name}: unknown option "
        f"(Hurricane's {name} is not supported by Squall yet)\n"
    )


# --------------------------------------------------------------------------- aliases

# Hurricane's COMMAND and NO_PROBE settings / environment variables.


def test_hurricane_command_setting_and_env_are_aliases() -> None:
    from squall.options import resolve_config

    assert resolve_config({}, environ={"HURRICANE_COMMAND": "check"}).command == ("check",)


def test_hurricane_no_probe_setting_and_env_are_aliases() -> None:
    from squall.options import resolve_config

    assert resolve_config({}, environ={"HURRICANE_NO_PROBE": "1"}).probe is False
    assert resolve_config({}, environ={"HURRICANE_NO_PROBE": "0"}).probe is True

    class Settings:
        configured = True
        NO_PROBE = True

    assert resolve_config({}, settings=Settings(), environ={}).probe is False


# --------------------------------------------------------------------------- drop-in gaps
# What django-hurricane 1.6.2's own tests do with `serve` that Squall refused.


def post_status(port: int, path: str, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (ConnectionResetError, BrokenPipeError):
        return 0
    finally:
        conn.close()


def test_max_buffer_size_is_the_body_limit_and_req_queue_len_0_is_no_queue_check(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    env = project_env(tmp_path, db)
    migrate(db, env)
    port, probe_port = free_port(), free_port()
    args = ["--port", str(port), "--probe-port", str(probe_port), "--workers", "1",
            "--max-buffer-size", "64", "--req-queue-len", "0"]  # fmt: skip
    with manage_serve(args, env, port, probe_port) as server:
        wait_for(server, "/ready", 200, timeout=30)
        assert post_status(port, "/", b"x" * 65) == 413  # Squall: 413, Tornado reset
        assert post_status(port, "/", b"x" * 64) != 413
        status, body = get(probe_port, "/readyz?verbose")
        assert status == 200 and "queue" in body
