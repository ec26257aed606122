"""``manage.py serve`` on the demo project (examples/demo), over real HTTP.

The settings are the demo's with a temporary SQLite database, migrated by the
fixture, and a WSGI module that records each time the application is loaded
(tests/apps/demo_test_settings.py, demo_test_wsgi.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import serverproc
from polling import file_lines
from serverproc import DEMO_DIR, ServerProcess, probe, run_server, wait_for

SAMPLE_FILE = DEMO_DIR / "components" / "data" / "sample.txt"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the demo's manage.py: test settings, a migrated temporary database."""
    tmp = tmp_path_factory.mktemp("demo")
    return serverproc.demo_env(tmp, "demo_test_settings", DEMO_TEST_RECORD=str(tmp / "loads.txt"))


@pytest.fixture(scope="module")
def demo(demo_env: dict[str, str]) -> Iterator[ServerProcess]:
    with run_server(["manage.py", "serve", "--threads", "4"], cwd=DEMO_DIR, env=demo_env) as server:
        yield server


def get(server: ServerProcess, path: str) -> requests.Response:
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200, response.text
    return response


def test_hello(demo: ServerProcess) -> None:
    assert get(demo, "/").text == "Hello, World!"


def test_json(demo: ServerProcess) -> None:
    assert get(demo, "/json").json() == {"message": "Hello, World!"}


def test_db_lists_the_sample_components(demo: ServerProcess) -> None:
    components = get(demo, "/db").json()["components"]
    assert [c["title"] for c in components] == ["Engine", "Probes", "Metrics"]


@pytest.mark.parametrize("size", [5, 1024 * 1024])
def test_echo_returns_the_body(demo: ServerProcess, size: int) -> None:
    body = os.urandom(size)
    response = requests.post(
        demo.url + "/echo",
        data=body,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.content == body


def test_stream_sends_every_chunk(demo: ServerProcess) -> None:
    response = get(demo, "/stream?n=100")
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.text == "".join(f"chunk {i}\n" for i in range(100))


def test_file_is_sent_whole_with_its_length(demo: ServerProcess) -> None:
    response = get(demo, "/file")
    assert response.content == SAMPLE_FILE.read_bytes()
    assert response.headers["Content-Length"] == str(SAMPLE_FILE.stat().st_size)


def test_slow_view(demo: ServerProcess) -> None:
    start = time.monotonic()
    assert get(demo, "/slow?ms=200").text == "slept 200 ms"
    assert time.monotonic() - start >= 0.2


def test_four_threads_serve_four_slow_requests_at_once(demo: ServerProcess) -> None:
    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: get(demo, "/slow?ms=1000"), range(4)))
    elapsed = time.monotonic() - start
    assert all(r.text == "slept 1000 ms" for r in responses)
    assert elapsed < 2.5, f"4 x 1 s took {elapsed:.2f} s with --threads 4"


def test_application_is_loaded_once_per_process(
    demo: ServerProcess, demo_env: dict[str, str]
) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: get(demo, "/"), range(20)))
    assert file_lines(Path(demo_env["DEMO_TEST_RECORD"])) == [str(demo.proc.pid)]
    assert demo.log().count("Listening on") == 1


def test_the_demo_readiness_runs_its_health_checks(demo: ServerProcess) -> None:
    wait_for(demo, "/startup", 200, timeout=20)
    status, body, _ = probe(demo, "/readyz?verbose")
    assert status == 200
    assert "[+]DatabaseBackend[default] ok\n[+]MigrationsBackend ok\n" in body
    response = requests.get(demo.url + "/health/readiness/?format=json", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "DatabaseBackend[default]": "working",
        "MigrationsBackend": "working",
    }


def test_the_demo_counts_its_views_in_django_prometheus_families(demo: ServerProcess) -> None:
    for _ in range(3):
        get(demo, "/json")
    metrics = requests.get(f"http://127.0.0.1:{demo.probe_port}/metrics", timeout=10).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total{")
        and 'view="json"' in line
        and 'method="GET"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 3


def test_health_pages_answer_other_methods_405_not_a_csrf_403(demo: ServerProcess) -> None:
    # docs/health-checks.md: 405 for other methods than GET and HEAD, also with
    # CsrfViewMiddleware (the demo has it), which would answer a POST 403.
    for path in ("/health/", "/health/default/", "/health/no-such-subset/"):
        response = requests.post(demo.url + path, data=b"x", timeout=10)
        assert response.status_code == 405, (path, response.status_code)
        assert response.headers["Allow"] == "GET, HEAD"
