"""The startup phase (squall/startup.py, core/master/side_processes.cpp):
--command and --check-migrations run in a startup process before any worker,
while the probe port already answers; webhooks report how startup ended.

Real servers: the demo project with tests/apps/probe_settings.py, a temporary
SQLite database, and a webhook receiver inside the test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
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
)
from webhook_receiver import WebhookReceiver


def demo_env(db: Path, **extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    return {
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": "probe_settings",
        "DEMO_TEST_DB": str(db),
        **extra,
    }


def serve_until_exit(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Runs manage.py serve to its end (startup failures); returns (status, output)."""
    port = free_port()
    proc = run_until_exit(
        ["manage.py", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--probe-port", str(free_port()), *args],
        cwd=DEMO_DIR, env=env, timeout=timeout,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def migrated_db(tmp_path: Path) -> Path:
    db = tmp_path / "db.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=DEMO_DIR, env={**os.environ, **demo_env(db)}, check=True, capture_output=True,
    )  # fmt: skip
    return db


def test_startup_is_400_during_a_slow_command_then_200_and_waiting_requests_are_served(
    migrated_db: Path,
) -> None:
    slow = "shell -c 'import time; time.sleep(2.5)'"
    with WebhookReceiver() as hooks, run_server(
        ["manage.py", "serve", "--workers", "2", "--command", slow, "--webhook-url", hooks.url],
        cwd=DEMO_DIR, env=demo_env(migrated_db),
    ) as server:  # fmt: skip
        status, body, _ = probe(server, "/startup")
        assert (status, body) == (400, "")
        assert probe(server, "/ready")[0] == 400
        assert probe(server, "/startupz")[0] == 500
        # A request sent now waits in the listen queue for the first worker.
        answer: list[int] = []
        client = threading.Thread(target=lambda: answer.append(get_status(server, "/")))
        client.start()
        wait_for(server, "/startup", 200, timeout=20)
        client.join(timeout=10)
        assert answer == [200]
        event = hooks.wait_for(lambda e: e["type"] == "startup")
        assert event["status"] == "succeeded"
        assert event["info"] == "Startup webhook"
        assert event["version"] == "1.2.3-test"
        assert isinstance(event["timestamp"], int) and abs(event["timestamp"] - time.time()) < 60
        assert event["podname"] == os.uname().nodename
        assert "traceback" not in event
        assert hooks.headers[0]["Content-Type"] == "application/json"
    log = server.log()
    assert log.index("running command: " + slow) < log.index("booting worker")


def get_status(server: ServerProcess, path: str) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_commands_run_in_order_with_their_output_in_the_log(migrated_db: Path) -> None:
    first = "shell -c 'print(\"first command ran\")'"
    second = "shell -c 'print(\"second command ran\")'"
    with run_server(
        ["manage.py", "serve", "--workers", "1", "--command", first, "--command", second],
        cwd=DEMO_DIR, env=demo_env(migrated_db),
    ) as server:  # fmt: skip
        wait_for(server, "/startup", 200, timeout=20)
    log = server.log()
    assert (
        log.index("first command ran")
        < log.index("second command ran")
        < log.index("booting worker")
    )


def test_a_failing_command_exits_1_with_a_startup_failed_webhook(migrated_db: Path) -> None:
    with WebhookReceiver() as hooks:
        status, output = serve_until_exit(
            ["--workers", "2", "--webhook-url", hooks.url,
             "--command", "check",
             "--command", "shell -c 'raise RuntimeError(\"boom in startup\")'",
             "--command", "shell -c 'print(\"never runs\")'"],
            demo_env(migrated_db),
        )  # fmt: skip
        assert status == 1, output
        event = hooks.wait_for(lambda e: e["type"] == "startup")
    assert event["status"] == "failed"
    assert "RuntimeError: boom in startup" in event["traceback"]
    assert "RuntimeError: boom in startup" in output
    assert "startup failed" in output
    assert "never runs" not in output
    assert "booting worker" not in output  # the workers never started


def test_an_unknown_command_is_a_startup_failure_naming_it(migrated_db: Path) -> None:
    status, output = serve_until_exit(
        ["--command", "no_such_command --flag"], demo_env(migrated_db)
    )
    assert status == 1
    assert "command 'no_such_command --flag' failed: Unknown command: 'no_such_command'" in output


def test_check_migrations_fails_startup_on_unapplied_migrations(tmp_path: Path) -> None:
    status, output = serve_until_exit(["--check-migrations"], demo_env(tmp_path / "fresh.sqlite3"))
    assert status == 1
    assert "unapplied migration(s): contenttypes.0001_initial" in output
    assert "booting worker" not in output


def test_check_migrations_apply_applies_them_then_serves(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite3"
    with run_server(
        ["manage.py", "serve", "--workers", "1", "--check-migrations-apply"],
        cwd=DEMO_DIR, env=demo_env(db),
    ) as server:  # fmt: skip
        wait_for(server, "/startup", 200, timeout=30)
        assert get_status(server, "/db") == 200  # the demo's table exists now
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
    assert "components_component" in tables
    assert "migrations: applying" in server.log()


def test_check_migrations_waits_for_the_database_with_a_line_per_attempt(tmp_path: Path) -> None:
    # Nothing listens on this port: every attempt fails, then startup fails.
    database = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1",
                "PORT": str(free_port()), "NAME": "x", "USER": "x", "PASSWORD": "x"}  # fmt: skip
    started = time.monotonic()
    status, output = serve_until_exit(
        ["--check-migrations", "--database-wait", "3"],
        demo_env(tmp_path / "unused.sqlite3", SQUALL_TEST_DATABASE=json.dumps(database)),
    )
    assert status == 1
    assert time.monotonic() - started >= 2.5
    assert "does not answer (attempt 1, retrying in 1 s)" in output
    assert "does not answer (attempt 2, retrying in 1 s)" in output
    assert "did not answer within 3 s" in output


def test_command_without_a_django_project_is_an_option_error() -> None:
    proc = run_until_exit(
        ["wsgi_apps:hello", "--port", "0", "--command", "check"], cwd=APPS_DIR, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "squall: error: --command and --check-migrations need a Django project (manage.py serve)"
    )


def test_the_workers_load_the_project_after_the_startup_commands(tmp_path: Path) -> None:
    # manifest_test_app's ready() reads the static manifest, which
    # collectstatic (a startup command) writes: the workers must read it after.
    root = tmp_path / "static"
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    env = {"PYTHONPATH": pythonpath, "DJANGO_SETTINGS_MODULE": "manifest_settings",
           "MANIFEST_TEST_ROOT": str(root)}  # fmt: skip
    for command in (["manage.py", "serve", "--preload"], ["manage.py", "serve", "--no-preload"],
                    ["manifest_wsgi"]):  # fmt: skip
        with run_server(
            [*command, "--workers", "2", "--static", "--command", "collectstatic --noinput"],
            cwd=DEMO_DIR if command[0] == "manage.py" else APPS_DIR, env=env,
        ) as server:  # fmt: skip
            wait_for(server, "/startup", 200, timeout=30)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/")
            page = conn.getresponse()
            url = page.read().decode()
            assert page.status == 200, server.log()
            assert re.fullmatch(r"/static/manifest_test_app/site\.[0-9a-f]{12}\.css", url)
            conn.request("GET", url)
            css = conn.getresponse()
            assert (css.status, css.read()) == (200, b"body { color: #0a0b0c; }\n")
            conn.close()
        log = server.log()
        assert log.index("running command: collectstatic") < log.index("booting worker")
        assert f"Serving /static/ from {root}" in log
        shutil.rmtree(root)
