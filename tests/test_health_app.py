"""squall.health: runner, backends, views, middleware, command, system checks.

Backends run against the demo project's SQLite test database, the locmem cache,
a FileSystemStorage in a temporary directory, the real disk and memory. Test
backends live in tests/apps/health_backends.py; tests/apps/health_settings.py
configures subsets for the command run as a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import CaptureQueriesContext, override_settings

ROOT = Path(__file__).resolve().parent.parent
TEST_APPS = ROOT / "tests" / "apps"
if str(TEST_APPS) not in sys.path:
    sys.path.insert(0, str(TEST_APPS))

import health_backends  # noqa: E402

from squall.health import runner  # noqa: E402
from squall.health.backends.base import (  # noqa: E402
    BaseHealthCheckBackend,
    HealthCheckException,
    ServiceReturnedUnexpectedResult,
    ServiceUnavailable,
    ServiceWarning,
)
from squall.health.backends.cache import CacheBackend  # noqa: E402
from squall.health.backends.database import DatabaseBackend  # noqa: E402
from squall.health.backends.disk import DiskUsageBackend  # noqa: E402
from squall.health.backends.memory import (  # noqa: E402
    MIB,
    MemoryBackend,
    cgroup_available,
    meminfo_available,
)
from squall.health.backends.migrations import MigrationsBackend  # noqa: E402
from squall.health.backends.storage import StorageBackend  # noqa: E402
from squall.health.checks import liveness_middleware_first, subsets_valid  # noqa: E402
from squall.health.conf import DEFAULTS, LIVENESS_MIDDLEWARE  # noqa: E402
from squall.health.runner import CheckResult, run_subset, subset_names, subset_ok  # noqa: E402

B = "health_backends."
SUBSETS = {
    "good": [B + "OkBackend", (B + "NoKwargsBackend", {"timeout": 2})],
    "bad": [B + "OkBackend", B + "FailBackend"],
    "tolerable": [B + "OkBackend", B + "NonCriticalFailBackend"],
}


@pytest.fixture(autouse=True)
def release_hung_checks() -> Iterator[None]:
    """Let every HangBackend thread of a test end before the next test."""
    health_backends.RELEASE.clear()
    yield
    health_backends.RELEASE.set()
    for thread in health_backends.STARTED:
        thread.join(5)
    health_backends.STARTED.clear()
    health_backends.RELEASE.clear()


@pytest.fixture
def subsets(settings):
    settings.HEALTH_CHECK = {"SUBSETS": SUBSETS}
    return settings


def configure(settings, **health_check):
    settings.HEALTH_CHECK = health_check


# --- base API -----------------------------------------------------------------


def test_base_backend_turns_exceptions_into_errors():
    class Down(BaseHealthCheckBackend):
        def check_status(self):
            raise ServiceUnavailable("no route")

    class Boom(BaseHealthCheckBackend):
        def check_status(self):
            raise ValueError("bad value")

    down, boom, ok = Down(), Boom(), health_backends.OkBackend()
    for backend in (down, boom, ok):
        backend.run_check()
    assert down.pretty_status() == "unavailable: no route"
    assert [type(e) for e in boom.errors] == [HealthCheckException]
    assert boom.pretty_status() == "unknown error: ValueError: bad value"
    assert ok.errors == [] and ok.pretty_status() == "working" and ok.status == 1
    assert down.identifier() == "Down"
    assert str(ServiceWarning("w")) == "warning: w"
    assert str(ServiceReturnedUnexpectedResult("x")) == "unexpected result: x"
    # run_check resets the errors of the previous run
    down.check_status = lambda: None
    down.run_check()
    assert down.errors == []


def test_defaults():
    assert DEFAULTS == {
        "SUBSETS": {},
        "WARNINGS_AS_ERRORS": True,
        "DISK_USAGE_MAX": 90,
        "MEMORY_MIN": 100,
        "DISABLE_THREADING": False,
        "LIVENESS_PATH": "/healthcheck/liveness",
        "TIMEOUT": 3.0,
    }


# --- runner -------------------------------------------------------------------


def test_subset_names_and_unknown_subset(subsets):
    assert subset_names() == ["good", "bad", "tolerable"]
    with pytest.raises(KeyError):
        run_subset("nope")


def test_no_settings_means_no_subsets(settings):
    del settings.HEALTH_CHECK
    assert subset_names() == []
    configure(settings, SUBSETS=["readiness"])  # malformed: E001, nothing runs
    assert subset_names() == []
    with pytest.raises(KeyError):
        run_subset("readiness")


def test_results_in_settings_order_with_timeout_consumed(subsets):
    results = run_subset("good")
    assert [r.name for r in results] == ["OkBackend", "NoKwargsBackend"]
    assert all(r.ok and r.critical and r.message == "" for r in results)
    assert all(r.duration >= 0 for r in results)
    assert subset_ok(results)


def test_critical_failure_fails_subset(subsets):
    results = run_subset("bad")
    assert results[1] == CheckResult(
        "FailBackend", False, True, "unavailable: down for the test", results[1].duration
    )
    assert not subset_ok(results)


def test_non_critical_failure_keeps_subset_ok(subsets):
    results = run_subset("tolerable")
    failed = results[1]
    assert (failed.ok, failed.critical) == (False, False)
    assert failed.message == "unavailable: down for the test"
    assert subset_ok(results)


@pytest.mark.parametrize("warnings_as_errors", [True, False])
def test_warnings_as_errors(settings, warnings_as_errors):
    configure(
        settings,
        SUBSETS={"s": [B + "WarnBackend", B + "FailBackend"]},
        WARNINGS_AS_ERRORS=warnings_as_errors,
    )
    warn, fail = run_subset("s")
    assert warn.ok is not warnings_as_errors
    assert warn.message == "warning: almost full"  # shown either way
    assert not fail.ok  # real errors are errors either way
    assert subset_ok([warn]) is not warnings_as_errors


def test_unexpected_exception_is_a_failure(settings):
    configure(settings, SUBSETS={"s": [B + "CrashBackend"]})
    (result,) = run_subset("s")
    assert not result.ok
    assert result.message == "unknown error: RuntimeError: boom"


def test_broken_entries_fail_their_own_line(settings):
    configure(
        settings,
        SUBSETS={"s": ["no.such.Backend", B + "NotABackend", (B + "OkBackend", {"timeout": -1})]},
    )
    missing, not_backend, bad_timeout = run_subset("s")
    assert missing.name == "no.such.Backend" and not missing.ok
    assert "ModuleNotFoundError" in missing.message
    assert "not a BaseHealthCheckBackend subclass" in not_backend.message
    assert "timeout must be a positive number" in bad_timeout.message


def test_kwargs_are_deep_copied_per_run(settings):
    entry = (B + "MutatingBackend", {"items": ["original"]})
    configure(settings, SUBSETS={"s": [entry]})
    for _ in range(2):
        (result,) = run_subset("s")
        assert result.ok, result.message
    assert entry[1] == {"items": ["original"]}


def test_hung_check_times_out_and_is_not_started_twice(settings):
    configure(
        settings,
        SUBSETS={"s": [(B + "HangBackend", {"timeout": 0.5}), B + "OkBackend"]},
    )
    start = time.monotonic()
    hung, ok = run_subset("s")
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 0.8, elapsed
    assert (hung.name, hung.ok, hung.message) == ("HangBackend", False, "timed out after 0.5 s")
    assert ok.ok
    assert len(health_backends.STARTED) == 1
    assert health_backends.STARTED[0].daemon

    # While the first thread still hangs, the next run starts no other one and
    # does not wait for it.
    start = time.monotonic()
    hung, ok = run_subset("s")
    assert time.monotonic() - start < 0.4
    assert not hung.ok and hung.message.startswith("still running since ")
    assert len(health_backends.STARTED) == 1
    assert ok.ok

    # Once it has ended, the check runs again.
    health_backends.RELEASE.set()
    health_backends.STARTED[0].join(5)
    hung, _ = run_subset("s")
    assert hung.ok and len(health_backends.STARTED) == 2


def test_caller_waits_for_the_largest_timeout_not_the_sum(settings):
    configure(
        settings,
        SUBSETS={
            "s": [(B + "HangBackend", {"timeout": 0.4}), (B + "HangBackend", {"timeout": 0.5})]
        },
    )
    start = time.monotonic()
    results = run_subset("s")
    elapsed = time.monotonic() - start
    assert elapsed < 0.8, elapsed
    assert [r.message for r in results] == ["timed out after 0.4 s", "timed out after 0.5 s"]


def test_default_timeout_setting(settings):
    configure(settings, SUBSETS={"s": [B + "HangBackend"]}, TIMEOUT=0.3)
    (result,) = run_subset("s")
    assert result.message == "timed out after 0.3 s"


@pytest.mark.parametrize("disable_threading", [False, True])
def test_disable_threading(settings, disable_threading):
    configure(
        settings, SUBSETS={"s": [B + "ThreadRecordingBackend"]}, DISABLE_THREADING=disable_threading
    )
    health_backends.ThreadRecordingBackend.threads.clear()
    (result,) = run_subset("s")
    assert result.ok
    (thread,) = health_backends.ThreadRecordingBackend.threads
    assert (thread is threading.current_thread()) is disable_threading


@pytest.mark.django_db
def test_check_thread_closes_its_database_connections(settings, monkeypatch):
    configure(settings, SUBSETS={"s": ["squall.health.backends.database.DatabaseBackend"]})
    closed_in: list[threading.Thread] = []
    close_all = connections.close_all

    def spy() -> None:
        closed_in.append(threading.current_thread())
        close_all()

    monkeypatch.setattr(connections, "close_all", spy)
    (result,) = run_subset("s")
    assert result.ok, result.message
    assert len(closed_in) == 1 and closed_in[0] is not threading.current_thread()
    assert closed_in[0].name == "squall-health:DatabaseBackend[default]"


# --- backends -----------------------------------------------------------------


@pytest.mark.django_db
def test_database_backend_through_the_runner(settings):
    configure(settings, SUBSETS={"db": ["squall.health.backends.database.DatabaseBackend"]})
    (result,) = run_subset("db")
    assert (result.name, result.ok) == ("DatabaseBackend[default]", True)


@pytest.mark.django_db
def test_database_backend_only_selects():
    backend = DatabaseBackend(alias="default")
    with CaptureQueriesContext(connection) as queries:
        backend.run_check()
    assert backend.errors == []
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 1"]


def test_database_backend_one_instance_per_alias(settings):
    assert [b.identifier() for b in DatabaseBackend.expand()] == [
        f"DatabaseBackend[{alias}]" for alias in settings.DATABASES
    ]
    (only,) = DatabaseBackend.expand(alias="default")
    assert only.alias == "default"


@pytest.mark.django_db
def test_database_backend_reports_errors(monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    backend = DatabaseBackend(alias="default")
    backend.run_check()
    assert backend.pretty_status() == "unavailable: default: server closed the connection"


@pytest.mark.django_db(transaction=True)
def test_database_backend_drops_stale_connection_outside_transactions(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: calls.append("x"))
    backend = DatabaseBackend(alias="default")
    with transaction.atomic():
        backend.run_check()
    assert calls == []  # closing inside the caller's transaction would break it
    backend.run_check()
    assert calls == ["x"] and backend.errors == []


@pytest.mark.django_db
def test_migrations_backend():
    backend = MigrationsBackend()
    backend.run_check()
    assert backend.errors == []
    MigrationRecorder(connection).record_unapplied("components", "0002_sample_components")
    backend.run_check()
    assert backend.pretty_status() == (
        "unavailable: 1 unapplied migration(s) on default: components.0002_sample_components"
    )


def test_cache_backend_per_alias(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    configure(settings, SUBSETS={"c": ["squall.health.backends.cache.CacheBackend"]})
    default, dummy = run_subset("c")
    assert (default.name, default.ok) == ("CacheBackend[default]", True)
    assert (dummy.name, dummy.ok) == ("CacheBackend[dummy]", False)
    assert dummy.message == "unexpected result: dummy: set then get returned None"
    # the key is gone afterwards
    from django.core.cache import caches

    assert not caches["default"]._cache  # type: ignore[attr-defined]
    (only,) = CacheBackend.expand(alias="dummy")
    assert only.identifier() == "CacheBackend[dummy]"


def test_storage_backend_writes_reads_and_cleans_up(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    backend = StorageBackend()
    backend.run_check()
    assert backend.errors == [] and backend.identifier() == "StorageBackend[default]"
    assert list(tmp_path.iterdir()) == []


def test_storage_backend_cleans_up_after_a_failed_read(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    backend = StorageBackend(storage=B + "BrokenReadStorage")
    backend.run_check()
    assert backend.pretty_status().startswith("unavailable: health_backends.BrokenReadStorage:")
    assert "read failed for the test" in backend.pretty_status()
    assert list(tmp_path.iterdir()) == []


def test_storage_backend_unwritable(settings, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    settings.MEDIA_ROOT = str(not_a_dir)
    backend = StorageBackend(storage="django.core.files.storage.FileSystemStorage")
    backend.run_check()
    assert backend.pretty_status().startswith("unavailable: ")


def test_disk_usage_backend(settings, tmp_path):
    ok = DiskUsageBackend(path=str(tmp_path), max_percent=100.1)
    ok.run_check()
    assert ok.errors == [] and ok.identifier() == f"DiskUsageBackend[{tmp_path}]"
    full = DiskUsageBackend(path=str(tmp_path), max_percent=0)
    full.run_check()
    assert isinstance(full.errors[0], ServiceWarning)
    assert "% full (limit 0%)" in full.pretty_status()
    missing = DiskUsageBackend(path=str(tmp_path / "missing"))
    missing.run_check()
    assert isinstance(missing.errors[0], ServiceUnavailable)
    disabled = DiskUsageBackend(max_percent=None)
    disabled.run_check()
    assert disabled.errors == []
    # the default limit is DISK_USAGE_MAX
    assert DiskUsageBackend().max_percent == 90
    configure(settings, DISK_USAGE_MAX=0)
    from_setting = DiskUsageBackend(path=str(tmp_path))
    from_setting.run_check()
    assert isinstance(from_setting.errors[0], ServiceWarning)


def test_memory_backend(settings):
    assert MemoryBackend().min_mib == 100
    plenty = MemoryBackend(min_mib=0)
    plenty.run_check()
    assert plenty.errors == []
    short = MemoryBackend(min_mib=10**9)
    short.run_check()
    assert isinstance(short.errors[0], ServiceWarning)
    assert "MiB available (minimum 1000000000 MiB)" in short.pretty_status()
    disabled = MemoryBackend(min_mib=None)
    disabled.run_check()
    assert disabled.errors == []
    configure(settings, MEMORY_MIN=10**9)
    from_setting = MemoryBackend()
    from_setting.run_check()
    assert isinstance(from_setting.errors[0], ServiceWarning)


def test_meminfo_available(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  8000000 kB\nMemFree:  100 kB\nMemAvailable:  204800 kB\n")
    assert meminfo_available(meminfo) == 200 * MIB
    meminfo.write_text("MemTotal:  8000000 kB\n")
    assert meminfo_available(meminfo) is None
    assert meminfo_available(tmp_path / "missing") is None


def _cgroup(directory: Path, max_: str, current: int, inactive_file: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.max").write_text(max_ + "\n")
    (directory / "memory.current").write_text(f"{current}\n")
    (directory / "memory.stat").write_text(
        f"anon 1\ninactive_file {inactive_file}\nactive_file 5\n"
    )


def test_cgroup_available_takes_the_tightest_limit(tmp_path):
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/kubepods/pod1/ctr\n")
    _cgroup(root, "max", 10**12)
    _cgroup(root / "kubepods", "max", 10**10)
    _cgroup(root / "kubepods/pod1", str(1000 * MIB), 700 * MIB, inactive_file=100 * MIB)
    _cgroup(root / "kubepods/pod1/ctr", "max", 600 * MIB)
    # pod limit 1000 MiB, working set 700 - 100 MiB page cache: 400 MiB left
    assert cgroup_available(proc, root) == 400 * MIB
    _cgroup(root / "kubepods/pod1/ctr", str(500 * MIB), 450 * MIB)
    assert cgroup_available(proc, root) == 50 * MIB
    # no limit anywhere, cgroup v1 only, or no file at all: unlimited
    proc.write_text("0::/\n")
    assert cgroup_available(proc, root) is None
    proc.write_text("4:memory:/x\n")
    assert cgroup_available(proc, root) is None
    assert cgroup_available(tmp_path / "missing", root) is None


def test_memory_backend_uses_the_lower_of_host_and_cgroup(tmp_path, monkeypatch):
    from squall.health.backends import memory

    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemAvailable: {4096 * 1024} kB\n")  # 4 GiB on the host
    proc = tmp_path / "cgroup-of-self"
    proc.write_text("0::/pod\n")
    _cgroup(tmp_path / "root/pod", str(256 * MIB), 200 * MIB)  # 56 MiB left in the pod
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "PROC_CGROUP", proc)
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path / "root")
    backend = MemoryBackend(min_mib=100)
    assert backend.available_bytes() == 56 * MIB
    backend.run_check()
    assert backend.pretty_status() == "warning: 56 MiB available (minimum 100 MiB)"
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "missing")
    monkeypatch.setattr(memory, "PROC_CGROUP", tmp_path / "missing")
    backend.run_check()
    assert isinstance(backend.errors[0], ServiceReturnedUnexpectedResult)


# --- views --------------------------------------------------------------------

views = pytest.mark.urls("health_urls")


@views
def test_view_html(subsets, client):
    response = client.get("/health/good/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "<td>OkBackend</td><td>working</td>" in body


@views
def test_view_json_by_query_and_accept(subsets, client):
    for response in (
        client.get("/health/bad/?format=json"),
        client.get("/health/bad/", HTTP_ACCEPT="application/json"),
    ):
        assert response.status_code == 500
        assert response["Content-Type"] == "application/json"
        assert "no-store" in response["Cache-Control"]
        assert response.json() == {
            "OkBackend": "working",
            "FailBackend": "unavailable: down for the test",
        }


@views
def test_view_status_codes(subsets, client):
    assert client.get("/health/tolerable/?format=json").status_code == 200
    assert client.get("/health/bad/").status_code == 500
    assert client.get("/health/missing/").status_code == 404
    assert client.get("/health/good/", HTTP_ACCEPT="text/plain").status_code == 406
    assert client.get("/health/good/?format=xml").status_code == 406
    assert client.get("/health/good/", HTTP_ACCEPT="text/html").status_code == 200
    assert client.get("/health/good/", HTTP_ACCEPT="*/*")["Content-Type"].startswith("text/html")
    assert client.post("/health/good/").status_code == 405


@views
def test_view_index(subsets, client):
    response = client.get("/health/?format=json")
    assert response.status_code == 200
    assert response.json() == {
        "subsets": {
            "good": "/health/good/",
            "bad": "/health/bad/",
            "tolerable": "/health/tolerable/",
        }
    }
    html = client.get("/health/")
    assert '<a href="/health/good/">good</a>' in html.content.decode()
    assert "no-store" in html["Cache-Control"]
    assert client.get("/health/", HTTP_ACCEPT="image/png").status_code == 406


@views
def test_view_escapes_messages(subsets, client, monkeypatch):
    # messages come from exceptions: they must not be able to inject HTML
    from squall.health import views as health_views

    result = CheckResult("<b>", False, True, "<script>", 0.0)
    monkeypatch.setattr(health_views, "run_subset", lambda name: [result])
    body = client.get("/health/good/").content.decode()
    assert "<script>" not in body and "<b>" not in body
    assert "&lt;script&gt;" in body and "&lt;b&gt;" in body


# --- middleware ---------------------------------------------------------------


@pytest.fixture
def liveness_first(settings):
    settings.MIDDLEWARE = [LIVENESS_MIDDLEWARE, *settings.MIDDLEWARE]
    settings.ALLOWED_HOSTS = ["app.example.com"]
    return settings


def test_liveness_middleware_answers_first(liveness_first, client):
    # 10.1.2.3 is not an allowed host: the answer must not depend on it
    for path in ("/healthcheck/liveness", "/healthcheck/liveness/"):
        response = client.get(path, HTTP_HOST="10.1.2.3")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    head = client.head("/healthcheck/liveness", HTTP_HOST="10.1.2.3")
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Length"] == str(len(b'{"status": "ok"}'))


def test_liveness_middleware_passes_everything_else(liveness_first, client):
    # other paths and methods still go through ALLOWED_HOSTS and the app
    assert client.get("/json", HTTP_HOST="10.1.2.3").status_code == 400
    assert client.get("/json", HTTP_HOST="app.example.com").status_code == 200
    post = client.post("/healthcheck/liveness", HTTP_HOST="app.example.com")
    assert post.status_code == 404
    assert client.get("/healthcheck/livenessX", HTTP_HOST="app.example.com").status_code == 404


def test_liveness_path_setting(liveness_first, client):
    configure(liveness_first, LIVENESS_PATH="/livez/")
    assert client.get("/livez", HTTP_HOST="app.example.com").json() == {"status": "ok"}
    assert client.get("/healthcheck/liveness", HTTP_HOST="app.example.com").status_code == 404


# --- management command -------------------------------------------------------


def test_command_one_subset(subsets):
    out = StringIO()
    call_command("health_check", "--subset", "good", stdout=out)
    assert out.getvalue().splitlines() == ["OkBackend ... working", "NoKwargsBackend ... working"]


def test_command_failures(subsets):
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("health_check", "--subset", "bad", stdout=out)
    assert failed.value.returncode == 1
    assert "FailBackend ... unavailable: down for the test" in out.getvalue()
    with pytest.raises(CommandError) as unknown:
        call_command("health_check", "--subset", "nope", stdout=StringIO())
    assert unknown.value.returncode == 1
    assert "'nope'" in str(unknown.value) and "good, bad, tolerable" in str(unknown.value)
    call_command("health_check", "--subset", "tolerable", stdout=StringIO())  # no error


def test_command_all_subsets_and_json(subsets):
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("health_check", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[good]" and "[bad]" in lines and "[tolerable]" in lines
    out = StringIO()
    call_command("health_check", "--subset", "tolerable", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "tolerable": {
            "OkBackend": "working",
            "NonCriticalFailBackend": "unavailable: down for the test",
        }
    }


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "health_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TEST_APPS)]),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "examples/demo/manage.py"), "health_check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_exit_status_in_a_process():
    good = _manage("--subset", "good")
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines() == ["OkBackend ... working", "DiskUsageBackend[/] ... working"]
    bad = _manage("--subset", "bad", "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["bad"]["FailBackend"] == "unavailable: down for the test"
    assert "bad" in bad.stderr
    unknown = _manage("--subset", "nope")
    assert unknown.returncode == 1
    assert "'nope'" in unknown.stderr and "good, bad, tolerable" in unknown.stderr
    assert _manage("--subset", "tolerable").returncode == 0
    assert _manage().returncode == 1  # every subset, "bad" among them


# --- system checks and app configs -------------------------------------------


def _ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_w001_liveness_middleware_not_first():
    with override_settings(
        MIDDLEWARE=["django.middleware.common.CommonMiddleware", LIVENESS_MIDDLEWARE]
    ):
        assert _ids(liveness_middleware_first()) == ["squall.health.W001"]
        assert "squall.health.W001" in _ids(run_checks(tags=["squall"]))
    with override_settings(
        MIDDLEWARE=[LIVENESS_MIDDLEWARE, "django.middleware.common.CommonMiddleware"]
    ):
        assert liveness_middleware_first() == []
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        assert liveness_middleware_first() == []


def test_e001_e002_subsets_shape():
    with override_settings(HEALTH_CHECK={"SUBSETS": ["readiness"]}):
        assert _ids(subsets_valid()) == ["squall.health.E001"]
    with override_settings(HEALTH_CHECK={"SUBSETS": {"readiness": B + "OkBackend"}}):
        assert _ids(subsets_valid()) == ["squall.health.E002"]
        assert "squall.health.E002" in _ids(run_checks(tags=["squall"]))


def test_e004_entry_does_not_resolve():
    with override_settings(
        HEALTH_CHECK={"SUBSETS": {"r": ["no.such.Backend", B + "NotABackend", B + "OkBackend"]}}
    ):
        messages = subsets_valid()
        assert _ids(messages) == ["squall.health.E004", "squall.health.E004"]
        assert "'no.such.Backend'" in messages[0].msg
        assert "'health_backends.NotABackend'" in messages[1].msg


def test_e005_malformed_entry():
    bad_entries = [
        42,
        ("only-a-path",),
        (B + "OkBackend", "not a dict"),
        (B + "OkBackend", {"timeout": 0}),
    ]
    with override_settings(HEALTH_CHECK={"SUBSETS": {"r": bad_entries}}):
        assert _ids(subsets_valid()) == ["squall.health.E005"] * 4


def test_valid_settings_pass_the_checks():
    with override_settings(HEALTH_CHECK={"SUBSETS": SUBSETS}):
        assert subsets_valid() == []
    with override_settings(HEALTH_CHECK={}):
        assert subsets_valid() == []


def test_squall_health_as_its_own_app():
    assert apps.get_app_config("squall").name == "squall"
    installed = [*apps.app_configs]
    with override_settings(INSTALLED_APPS=["squall", "squall.health"]):
        config = apps.get_app_config("squall_health")
        assert config.name == "squall.health"
    assert [*apps.app_configs] == installed


def test_runner_module_exports():
    assert runner.CheckResult is CheckResult
    assert isinstance(runner.CheckResult("n", True, True, "", 0.0), CheckResult)
