"""/metrics on the probe port: django-prometheus' families and Squall's own,
summed by the master over the workers from shared memory (docs/metrics.md).

A real server on the demo project with the metrics middlewares
(tests/apps/metrics_test_settings.py); `promtool` and a real Prometheus from
the Debian package (tests/prometheus.py) read what it serves.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import serverproc
from prometheus import promtool_check, start_prometheus
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from serverproc import DEMO_DIR, ServerProcess, run_server, wait_for

OM_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)  # what Prometheus 2.x sends
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return serverproc.demo_env(tmp_path_factory.mktemp("metrics"), "metrics_test_settings")


def demo_server(env: dict[str, str], *options: str):  # type: ignore[no-untyped-def]
    return run_server(["manage.py", "serve", "--workers", "2", *options], cwd=DEMO_DIR, env=env)


def scrape(
    server: ServerProcess,
    accept: str | None = None,
    port: int | None = None,
    path: str = "/metrics",
) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port or server.probe_port, timeout=5)
    try:
        conn.request("GET", path, headers={"Accept": accept} if accept else {})
        r = conn.getresponse()
        return r.status, r.getheader("content-type") or "", r.read().decode()
    finally:
        conn.close()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text-format exposition, by (name, labels)."""
    out = {}
    for family in parse_text(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(text: str, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and want <= ls)


def get(server: ServerProcess, path: str, expect: int = 200) -> None:
    r = requests.get(server.url + path, timeout=10)
    assert r.status_code == expect, r.text


@pytest.fixture(scope="module")
def demo(demo_env: dict[str, str]) -> Iterator[ServerProcess]:
    with demo_server(demo_env) as server:
        wait_for(server, "/startup", 200)
        yield server


def test_both_formats_pass_promtool_and_the_openmetrics_parser(demo: ServerProcess) -> None:
    for path in ("/", "/json", "/db", "/nowhere"):
        get(demo, path, 404 if path == "/nowhere" else 200)
    status, ctype, text = scrape(demo)
    assert (status, ctype) == (200, TEXT_TYPE)
    check = promtool_check(text)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not text.rstrip().endswith("# EOF")

    status, ctype, om = scrape(demo, OM_ACCEPT)
    assert (status, ctype) == (200, OM_TYPE)
    assert om.endswith("\n# EOF\n")
    families = {f.name: f for f in parse_om(om)}  # strict: raises on any spec violation
    assert families["django_http_requests_total_by_method"].type == "counter"
    assert {s.name for s in families["django_http_requests_total_by_method"].samples} == {
        "django_http_requests_total_by_method_total"
    }
    # promtool (Prometheus 2.42) lints with the 0.0.4 parser only: on OpenMetrics,
    # a counter's `_total` samples look like families without HELP, and
    # django-prometheus' two gauges named *_total are gauges again. Nothing else.
    # Nor can it read exemplars (" # {trace_id=...} value time"): they are cut
    # for it; the strict parser above and Prometheus (tests/test_tracing.py) read them.
    assert " # {trace_id=" in om
    check = promtool_check(re.sub(r" # \{trace_id=.*$", "", om, flags=re.MULTILINE))
    problems = [line for line in check.stdout.splitlines() + check.stderr.splitlines() if line]
    counters = {f"{name}_total" for name, f in families.items() if f.type == "counter"}
    gauges_total = {"django_migrations_applied_total", "django_migrations_unapplied_total"}
    for p in problems:
        name = p.split()[0]
        assert (name in counters and p.endswith(" no help text")) or (
            name in gauges_total and p.endswith('should not have "_total" suffix')
        ), problems


def test_django_families_have_view_names_not_paths(demo: ServerProcess) -> None:
    before = scrape(demo)[2]
    for path in ("/", "/", "/json", "/db", "/missing/123"):
        get(demo, path, 404 if path.startswith("/missing") else 200)
    after = scrape(demo)[2]

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    by_view = "django_http_requests_total_by_view_transport_method_total"
    assert grew(by_view, view="hello", transport="http", method="GET") == 2
    assert grew(by_view, view="json") == 1
    assert grew(by_view, view="db") == 1
    # The 404 resolved to no view: counted by status as <unnamed view>, never
    # the raw path, and (django-prometheus' rule) not in ..._by_view_transport_method.
    assert grew(by_view, view="<unnamed view>") == 0
    by_status = "django_http_responses_total_by_status_view_method_total"
    assert grew(by_status, view="<unnamed view>", status="404") == 1
    assert "/missing/123" not in after
    assert grew(by_view) == 4
    assert grew("django_http_requests_total_by_method_total", method="GET") == 5
    assert grew("django_http_responses_total_by_status_total", status="404") == 1
    assert (
        grew("django_http_responses_total_by_status_view_method_total", status="200", view="hello")
        == 2
    )
    assert (
        grew(
            "django_http_requests_latency_seconds_by_view_method_count", view="hello", method="GET"
        )
        == 2
    )
    assert grew("django_http_requests_before_middlewares_total") == 5
    assert grew("django_http_requests_latency_including_middlewares_seconds_count") == 5
    assert grew("django_http_responses_body_total_bytes_sum") >= len("Hello, World!") * 2
    # The database behind /db, through connection.execute_wrapper.
    assert grew("django_db_execute_total", alias="default", vendor="sqlite") >= 1
    assert grew("django_db_query_duration_seconds_count", alias="default", vendor="sqlite") >= 1
    assert total(after, "django_db_new_connections_total", alias="default") >= 1
    # Counted once by the first worker; the fixture migrated everything.
    assert total(after, "django_migrations_unapplied_total", connection="default") == 0
    assert total(after, "django_migrations_applied_total", connection="default") > 0


def test_server_families(demo: ServerProcess) -> None:
    before = scrape(demo)[2]
    with requests.Session() as s:  # one keep-alive connection, 3 requests
        for _ in range(3):
            assert s.get(demo.url + "/", timeout=10).status_code == 200
    after = scrape(demo)[2]
    assert (
        total(after, "squall_http_requests_total") - total(before, "squall_http_requests_total")
        == 3
    )
    assert (
        total(after, "squall_connections_accepted_total")
        - total(before, "squall_connections_accepted_total")
        == 1
    )
    assert total(after, "squall_http_sent_bytes_total") > total(
        before, "squall_http_sent_bytes_total"
    )
    assert total(after, "squall_workers") == 2
    assert total(after, "squall_threads") >= 2
    assert total(after, "squall_probe_success", probe="readiness") == 1
    assert total(after, "squall_listen_queue_max") > 0
    assert total(after, "squall_worker_respawns_total", reason="crash") == 0
    workers = {
        dict(ls)["worker"]
        for (n, ls) in samples(after)
        if n == "squall_process_resident_memory_bytes"
    }
    assert workers == {"master", "0", "1"}
    assert total(after, "squall_info", workers="2") == 1


def test_refused_requests_are_counted_by_reason(demo: ServerProcess) -> None:
    name = "squall_http_request_errors_total"
    before = scrape(demo)[2]
    for reason in ("missing_host", "ambiguous_framing", "head_timeout"):  # every reason, 0 included
        assert (name, frozenset({("reason", reason)})) in samples(before)
    for raw in (
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as c:
            c.sendall(raw)
            assert c.recv(4096).startswith(b"HTTP/1.1 400 ")
    after = scrape(demo)[2]
    missing_host = total(after, name, reason="missing_host")
    assert missing_host - total(before, name, reason="missing_host") == 1
    assert (
        total(after, name, reason="length_and_transfer_encoding")
        - total(before, name, reason="length_and_transfer_encoding")
        == 1
    )
    assert total(after, name) - total(before, name) == 2
    om = scrape(demo, OM_ACCEPT)[2]
    assert 'squall_http_request_errors_total{reason="missing_host"}' in om


def test_no_metrics_and_custom_path(demo_env: dict[str, str]) -> None:
    with demo_server(demo_env, "--no-metrics") as server:
        wait_for(server, "/startup", 200)
        assert scrape(server)[0] == 404
    with demo_server(demo_env, "--metrics", "prom") as server:
        wait_for(server, "/startup", 200)
        assert scrape(server)[0] == 404
        status, ctype, text = scrape(server, path="/prom")
        assert status == 200 and "squall_workers 2" in text


def test_metrics_on_the_app_port_when_the_probe_port_is_the_same(demo_env: dict[str, str]) -> None:
    from serverproc import free_port

    port = free_port()
    with run_server(
        ["manage.py", "serve", "--probe-port", str(port)], cwd=DEMO_DIR, env=demo_env, port=port
    ) as server:
        server.probe_port = port
        wait_for(server, "/startup", 200)
        get(server, "/")
        status, ctype, text = scrape(server, port=port)
        assert (status, ctype) == (200, TEXT_TYPE)
        assert (
            total(text, "django_http_requests_total_by_view_transport_method_total", view="hello")
            == 1
        )


def worker_pids(text: str) -> dict[str, int]:
    return {
        dict(ls)["worker"]: int(dict(ls)["pid"])
        for (n, ls) in samples(text)
        if n == "squall_process_start_time_seconds" and dict(ls)["worker"] != "master"
    }


def poll(what: str, ready, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (value := ready()) is None or value is False:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return value


def counted(prom, query: str, expected: float) -> float:  # type: ignore[no-untyped-def]
    """The query's value once it reached `expected` (more fails the caller's
    assert): Prometheus reports a scrape as done before its samples are
    committed, so the first query after scrapes_after() may still see the last one."""
    return poll(
        f"{query} reaching {expected}",
        lambda: (v := prom.value(query)) is not None and v >= expected and v,
    )


def test_prometheus_sees_every_request_and_no_counter_goes_down(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    with demo_server(demo_env) as server:
        wait_for(server, "/startup", 200)
        with start_prometheus(tmp_path, [f"127.0.0.1:{server.probe_port}"]) as prom:
            n = 40
            for i in range(n):
                get(server, "/" if i % 2 else "/json")
            started = time.time()
            prom.scrapes_after(started)
            query = "sum(django_http_requests_total_by_view_transport_method_total)"
            assert counted(prom, query, n) == n
            target = prom.targets()[0]
            assert target["health"] == "up" and target["lastError"] == ""

            # A worker crashes (SIGKILL), then SIGHUP recycles the others.
            text = scrape(server)[2]
            pids = worker_pids(text)
            os.kill(pids["0"], signal.SIGKILL)
            poll(
                "the crash counted",
                lambda: (
                    total(scrape(server)[2], "squall_worker_respawns_total", reason="crash") == 1
                ),
            )
            poll("two workers again", lambda: len(worker_pids(scrape(server)[2])) == 2)
            old = set(worker_pids(scrape(server)[2]).values())
            server.proc.send_signal(signal.SIGHUP)
            poll(
                "every worker replaced",
                lambda: (
                    total(scrape(server)[2], "squall_worker_respawns_total", reason="reload") == 2
                    and not old & set(worker_pids(scrape(server)[2]).values())
                ),
            )
            m = 10
            for _ in range(m):
                get(server, "/")
            prom.scrapes_after(time.time())
            assert counted(prom, query, n + m) == n + m
            # Not one counter (or histogram bucket, count, sum) of the pod went down.
            names = [
                name
                for name in prom.api("label/__name__/values")
                if re.fullmatch(r"(django|squall)_.+_(total|bucket|count|sum)", name)
                and not name.startswith("squall_process_")  # per process (pid label)
            ]
            assert "django_http_requests_total_by_view_transport_method_total" in names
            went_down = {name: prom.value(f"max(resets({name}[10m]))") for name in names}
            assert {k: v for k, v in went_down.items() if v} == {}
            assert re.search(
                r"squall_worker_respawns_total\{reason=\"reload\"\} 2", scrape(server)[2]
            )


def test_without_the_engine_the_middlewares_step_aside() -> None:
    """A source checkout without the compiled engine (runserver, an image's build
    stage): Django still serves the demo, the metrics middlewares are not used."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["squall._core"] = None  # as if the engine were not built
        import django
        django.setup()
        from django.test import Client
        from django.test.utils import setup_test_environment
        setup_test_environment()
        response = Client().get("/json")
        print(response.status_code, response.content.decode())
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo.settings"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(DEMO_DIR)) if p)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '200 {"message": "Hello, World!"}'
