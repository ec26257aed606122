"""squall.health against the real django-health-check-full-of-juice (issue 15).

One Django project has both apps: full-of-juice's views under /ht/ and
Squall's under /health/, one HEALTH_CHECK written with full-of-juice's dotted
paths (Squall answers them with squall/health/juice.py). Each case asks both
mounts the same thing and compares status codes and JSON bodies; then
``manage.py health_check --subset`` of each package is run and their exit
codes compared.

full-of-juice needs Python 3.12 and Django < 6: `make test-matrix` installs
it in its 3.12 + Django 5.2 row and sets SQUALL_REQUIRE_JUICE=1 there, so the
test fails instead of skipping when the package is missing. Elsewhere it skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serverproc import DEMO_DIR

if importlib.util.find_spec("health_check") is None:
    if os.environ.get("SQUALL_REQUIRE_JUICE"):
        raise ImportError("SQUALL_REQUIRE_JUICE=1 but django-health-check-full-of-juice is missing")
    pytest.skip(
        "django-health-check-full-of-juice is not installed (make test-matrix installs it)",
        allow_module_level=True,
    )

HAS_PSUTIL = importlib.util.find_spec("psutil") is not None
JUICE = "health_check"

SETTINGS = """
from demo.settings import *  # noqa: F403

INSTALLED_APPS = {apps!r}
ROOT_URLCONF = "juice_urls"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
CACHES = {{
    "default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    "second": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "2"}},
    # Nothing listens on port 9 (discard): a refused connection.
    "down": {{"BACKEND": "django.core.cache.backends.redis.RedisCache",
              "LOCATION": "redis://127.0.0.1:9/0"}},
}}
STORAGES = {{
    "default": {{"BACKEND": "django.core.files.storage.FileSystemStorage",
                 "OPTIONS": {{"location": {media!r}}}}},
    "staticfiles": {{"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
}}
HEALTH_CHECK = {{
    "SUBSETS": {{
        "readiness": [
            "health_check.contrib.db_heartbeat.backends.DatabaseHeartbeatCheck",
            "health_check.contrib.migrations.backends.MigrationsHealthCheck",
        ],
        "integrations": [
            "health_check.contrib.migrations.backends.MigrationsHealthCheck",
            "health_check.contrib.db_heartbeat.backends.DatabaseHeartbeatCheck",
            "health_check.cache.backends.CacheBackend",
            ("health_check.cache.backends.CacheBackend", {{"backend": "second"}}),
            "health_check.storage.backends.DefaultFileStorageHealthCheck",
        ] + {psutil!r},
        "cache-down": [("health_check.cache.backends.CacheBackend", {{"backend": "down"}})],
        "empty": [],
    }},
}}
"""

URLS = """
from django.urls import include, path

urlpatterns = [
    path("ht/", include("health_check.urls")),
    path("health/", include("squall.health.urls")),
]
"""

# Runs in the project: every case on both mounts, printed as one JSON object.
DRIVER = """
import json, sys
import django
django.setup()
from django.test import Client, override_settings
from django.conf import settings

cases = json.loads(sys.argv[1])
client = Client()
out = {}
for name, (subset, query, accept, overrides) in cases.items():
    hc = {**settings.HEALTH_CHECK, **overrides}
    with override_settings(HEALTH_CHECK=hc):
        for mount in ("ht", "health"):
            r = client.get(f"/{mount}/{subset}/{query}", HTTP_ACCEPT=accept)
            body = r.content.decode()
            is_json = r.get("Content-Type", "").startswith("application/json")
            out.setdefault(name, {})[mount] = [
                r.status_code, json.loads(body) if is_json else None
            ]
print(json.dumps(out))
"""

# name: (subset, query, Accept, HEALTH_CHECK overrides)
CASES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "readiness json": ("readiness", "?format=json", "*/*", {}),
    "readiness accept json": ("readiness", "", "application/json", {}),
    "readiness html": ("readiness", "", "text/html", {}),
    "readiness not acceptable": ("readiness", "", "image/png", {}),
    "integrations": ("integrations", "?format=json", "*/*", {}),
    "cache down": ("cache-down", "?format=json", "*/*", {}),
    "empty subset": ("empty", "?format=json", "*/*", {}),
    "unknown subset": ("nope", "?format=json", "*/*", {}),
    "disk warning": ("integrations", "?format=json", "*/*", {"DISK_USAGE_MAX": 0.001}),
    "disk warning tolerated": (
        "integrations",
        "?format=json",
        "*/*",
        {"DISK_USAGE_MAX": 0.001, "WARNINGS_AS_ERRORS": False},
    ),
}


def project(tmp_path: Path, apps: list[str]) -> dict[str, str]:
    """A settings module for `apps`; returns the environment to run Django with."""
    from demo import settings as demo

    name = f"juice_settings_{len(list(tmp_path.glob('juice_settings_*.py')))}"
    psutil = (
        [
            "health_check.contrib.psutil.backends.DiskUsage",
            "health_check.contrib.psutil.backends.MemoryUsage",
        ]
        if HAS_PSUTIL
        else []
    )
    (tmp_path / "media").mkdir(exist_ok=True)
    (tmp_path / f"{name}.py").write_text(
        SETTINGS.format(
            apps=apps,
            db=str(tmp_path / "db.sqlite3"),
            media=str(tmp_path / "media"),
            psutil=psutil,
        )
    )
    (tmp_path / "juice_urls.py").write_text(URLS)
    assert demo.INSTALLED_APPS  # the settings import the demo's
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": name,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(DEMO_DIR)]),
    }


def django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


def both_mounts(env: dict[str, str]) -> dict[str, dict[str, list[Any]]]:
    done = django(env, "-c", DRIVER, json.dumps(CASES))
    assert done.returncode == 0, done.stderr
    result: dict[str, dict[str, list[Any]]] = json.loads(done.stdout.splitlines()[-1])
    return result


def normalized(value: Any) -> Any:
    """Numbers that change between two runs (disk use, free memory) masked."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, str):
        return re.sub(r"\d[\d.,]*", "N", value)
    return value


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from demo import settings as demo

    tmp = tmp_path_factory.mktemp("juice")
    return project(tmp, [JUICE, *demo.INSTALLED_APPS])


def test_the_same_status_and_json_from_both_mounts_before_and_after_migrate(
    env: dict[str, str],
) -> None:
    before = both_mounts(env)
    assert before["readiness json"]["ht"][0] == 500  # nothing migrated yet
    done = django(env, "-m", "django", "migrate", "--noinput")
    assert done.returncode == 0, done.stderr
    after = both_mounts(env)
    assert after["readiness json"]["ht"] == [
        200,
        {"DatabaseHeartbeatCheck": "working", "MigrationsHealthCheck": "working"},
    ]
    assert after["cache down"]["ht"][0] == 500
    assert after["disk warning"]["ht"][0] == 500
    assert after["disk warning tolerated"]["ht"][0] == 200
    for phase, outcome in (("before migrate", before), ("after migrate", after)):
        for case, answers in outcome.items():
            juice, squall = answers["ht"], answers["health"]
            assert normalized(squall) == normalized(juice), (phase, case, juice, squall)


@pytest.mark.parametrize(
    ("subset", "expected"), [("readiness", 0), ("cache-down", 1), ("nope", 1), ("empty", 0)]
)
def test_health_check_subset_exit_codes_match(
    env: dict[str, str], tmp_path: Path, subset: str, expected: int
) -> None:
    from demo import settings as demo

    done = django(env, "-m", "django", "migrate", "--noinput")
    assert done.returncode == 0, done.stderr
    squall_env = project(Path(env["PYTHONPATH"].split(os.pathsep)[0]), list(demo.INSTALLED_APPS))
    for short in (False, True):
        flag = ["-s", subset] if short else ["--subset", subset]
        # With "health_check" listed first its command is the one manage.py runs.
        juice = django(env, "-m", "django", "health_check", *flag)
        squall = django(squall_env, "-m", "django", "health_check", *flag)
        assert "squall" not in juice.stdout + juice.stderr or juice.returncode == squall.returncode
        assert juice.returncode == squall.returncode == expected, (juice, squall)
