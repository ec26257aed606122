"""django-prometheus parity: the same project (tests/apps/promparity) served
by gunicorn with the real django-prometheus 2.5.0 and by Squall with its own
metrics, the same requests sent to both; the django_* families (name, type,
label names) and their counts are compared, and a real Prometheus scraping
both evaluates every PromQL expression of the django-mixin Grafana
dashboards (tests/apps/promparity/django_mixin_queries.json).

The differences docs/metrics.md documents are listed here, each once:
:data:`SQUALL_ONLY_SERIES` and :func:`expected_difference`.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from polling import free_port, port_accepts, wait_for
from prometheus import Prometheus
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from realservers import start_redis
from serverproc import APPS_DIR, ServerProcess, run_server, stop_process

QUERIES = APPS_DIR / "promparity" / "django_mixin_queries.json"

# (method, path, headers, body): every family django-prometheus has gets
# something to count; run in this order against both servers.
SEQUENCE: list[tuple[str, str, dict[str, str], bytes]] = [
    ("GET", "/", {}, b""),
    ("GET", "/", {}, b""),
    ("HEAD", "/", {}, b""),
    ("PROPFIND", "/", {}, b""),  # counted as <invalid method>
    ("GET", "/page/", {}, b""),
    ("GET", "/page-choice/", {}, b""),
    ("GET", "/json/", {"X-Requested-With": "XMLHttpRequest"}, b""),
    ("GET", "/json/", {"X-Requested-With": "XMLHttpRequest"}, b""),
    ("GET", "/latin1/", {}, b""),
    ("GET", "/stream/", {}, b""),
    ("GET", "/error/", {}, b""),
    ("GET", "/no/such/page/", {}, b""),
    ("GET", "/moved/", {}, b""),
    ("GET", "/missing/", {}, b""),
    ("GET", "/admin/", {}, b""),
    ("GET", "/admin/missing/", {}, b""),
    ("GET", "/admin/error/", {}, b""),
    ("POST", "/echo/", {"Content-Type": "text/plain"}, b"x" * 100),
    ("GET", "/cache/default/get/k/", {}, b""),
    ("GET", "/cache/default/set/k/", {}, b""),
    ("GET", "/cache/default/get/k/", {}, b""),
    ("GET", "/cache/default/get/k/", {}, b""),
    ("GET", "/cache/default/get/absent/", {}, b""),
    ("GET", "/cache/files/get/k/", {}, b""),
    ("GET", "/cache/files/set/k/", {}, b""),
    ("GET", "/cache/files/get/k/", {}, b""),
    ("GET", "/cache/dbcache/get/k/", {}, b""),
    ("GET", "/cache/dbcache/set/k/", {}, b""),
    ("GET", "/cache/dbcache/get/k/", {}, b""),
    ("GET", "/db/query/", {}, b""),
    ("GET", "/db/many/3/", {}, b""),
    ("GET", "/db/bad/", {}, b""),
    ("POST", "/items/", {}, b""),
    ("POST", "/items/", {}, b""),
    ("GET", "/counter/?kind=a", {}, b""),
    ("GET", "/counter/?kind=a", {}, b""),
    ("GET", "/counter/", {}, b""),
]


def send(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def send_sequence(port: int) -> list[int]:
    return [send(port, *request) for request in SEQUENCE]


def get(port: int, path: str = "/metrics") -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


# ---- the two servers


def project_env(base: Path, settings: str) -> dict[str, str]:
    base.mkdir(parents=True, exist_ok=True)
    (base / "cache").mkdir(exist_ok=True)
    return {
        "DJANGO_SETTINGS_MODULE": f"promparity.{settings}",
        "PARITY_DB": str(base / "db.sqlite3"),
        "PARITY_CACHE_DIR": str(base / "cache"),
        "PYTHONPATH": str(APPS_DIR),
    }


def prepare(env: dict[str, str]) -> None:
    """migrate and the database cache's table, before the server starts."""
    for command in (["migrate", "--noinput"], ["createcachetable"]):
        subprocess.run(
            [sys.executable, "-m", "django", *command],
            cwd=APPS_DIR, env={**os.environ, **env}, check=True,
        )  # fmt: skip


@dataclass
class Gunicorn:
    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path


@pytest.fixture(scope="module")
def django_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """gunicorn, one sync worker, the project with the real django-prometheus;
    its metrics on their own port (a scrape is not a request of the project)."""
    # django-prometheus 2.5.0 needs Django < 6.1: the test extra installs it
    # where `make test` runs (Python 3.11, Django 5.2), not in the 6.1 rows.
    pytest.importorskip("django_prometheus", reason="django-prometheus needs Django < 6.1")
    base = tmp_path_factory.mktemp("dp")
    env = project_env(base, "settings_dp")
    prepare(env)
    env["PARITY_DP_METRICS_PORT"] = str(free_port())
    port = free_port()
    log = base / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
             "promparity.wsgi:application"],
            cwd=APPS_DIR, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Gunicorn(proc, port, int(env["PARITY_DP_METRICS_PORT"]), log)
    try:
        for p in (port, server.metrics_port):
            wait_for(lambda p=p: proc.poll() is None and port_accepts(p), "gunicorn", 30)
        yield server
    finally:
        stop_process(proc, signal.SIGTERM, 15)


def squall_env(base: Path, **settings: str) -> dict[str, str]:
    env = project_env(base, "settings_squall")
    env.update({f"PARITY_{k.upper()}": v for k, v in settings.items()})
    prepare(env)
    return env


@pytest.fixture(scope="module")
def squall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Squall, one worker and one thread: the same database connections as
    gunicorn's one sync worker."""
    env = squall_env(tmp_path_factory.mktemp("squall"))
    argv = ["promparity.wsgi:application", "--workers", "1", "--threads", "1"]
    with run_server(argv, env=env) as server:
        yield server


# ---- reading an exposition


@dataclass
class Family:
    type: str
    labels: frozenset[str]
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]


def families(text: str, prefix: str = "django_") -> dict[str, Family]:
    out: dict[str, Family] = {}
    for f in parse_text(text):
        # prometheus_client's _created samples parse as families of their own.
        if not f.name.startswith(prefix) or f.name.endswith("_created"):
            continue
        names = {k for s in f.samples for k in s.labels} - {"le"}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
        out[f.name] = Family(f.type, frozenset(names), samples)
    return out


def timing(sample_name: str, family: str) -> bool:
    """Samples that depend on how long things took: compared by count only."""
    return "_seconds" in family and not sample_name.endswith("_count")


# Series Squall has and django-prometheus has not, by design (docs/metrics.md):
# Django's database cache, which django-prometheus has no backend for.
SQUALL_ONLY_SERIES = {
    ("django_cache_get_total", (("backend", "db"),)),
    ("django_cache_get_hits_total", (("backend", "db"),)),
    ("django_cache_get_misses_total", (("backend", "db"),)),
    ("django_cache_get_fail_total", (("backend", "db"),)),
}


# django-prometheus' gauges named *_total are "untyped" in Squall's text
# format (promtool refuses a gauge named *_total), gauges in OpenMetrics.
TEXT_TYPES = {
    "django_migrations_applied_total": "unknown",
    "django_migrations_unapplied_total": "unknown",
}


def raised_by_view(theirs: dict[str, Family]) -> dict[str, float]:
    """django-prometheus observes the latency of a request whose view raised
    (Http404 included) twice, in process_exception and again in
    process_response; Squall once (docs/metrics.md). Its exceptions by view."""
    family = theirs["django_http_exceptions_total_by_view"]
    return {dict(labels)["view"]: v for (s, labels), v in family.samples.items()}


# ---- the comparison


def test_same_families_and_counts_as_django_prometheus(
    django_prometheus: Gunicorn, squall: ServerProcess
) -> None:
    statuses = send_sequence(django_prometheus.port)
    assert send_sequence(squall.port) == statuses
    assert statuses.count(500) == 2 and statuses.count(404) == 3 and 302 in statuses

    theirs = families(get(django_prometheus.metrics_port))
    # The app's own metrics reach /metrics within a copy interval (1 s).
    wait_for(
        lambda: 'parity_calls_total{kind="a"} 2.0' in get(squall.probe_port),
        "the app's counter on Squall's /metrics", 10,
    )  # fmt: skip
    ours = families(get(squall.probe_port))

    # Every django-prometheus family, with its type and label names.
    assert len(theirs) == 34  # every family django-prometheus 2.5.0 has
    assert set(theirs) - set(ours) == set(), "missing in Squall's"
    assert set(ours) - set(theirs) == set(), "only in Squall's"
    for name, family in theirs.items():
        assert ours[name].type == TEXT_TYPES.get(name, family.type), name
        # Label names show in samples: a family without any has none to compare.
        if family.samples:
            assert ours[name].labels == family.labels, name

    compared = 0
    raised = raised_by_view(theirs)
    assert set(raised) == {"error", "missing", "admin:error", "admin:missing"}
    for name, family in theirs.items():
        mine = ours[name].samples
        for (sample, labels), value in family.samples.items():
            if sample.endswith("_created") or timing(sample, name):
                continue
            assert (sample, labels) in mine, f"{sample}{dict(labels)} missing in Squall's"
            if sample == "django_http_requests_latency_seconds_by_view_method_count":
                value -= raised.get(dict(labels)["view"], 0)
            assert mine[(sample, labels)] == value, (sample, dict(labels))
            compared += 1
        # Squall's extra series: the documented ones, or a counter at 0 that
        # django-prometheus creates only on its first increment.
        extra = {
            (s, labels)
            for (s, labels), v in mine.items()
            if (s, labels) not in family.samples and (s, labels) not in SQUALL_ONLY_SERIES and v
        }
        assert not extra, f"{name}: only in Squall's: {sorted(extra)}"
    print(f"{len(theirs)} families, {compared} samples equal")
    assert compared > 150

    # The counting rules the issue named, read on Squall's side.
    def value(fam: str, sample: str, **labels: str) -> float:
        return ours[fam].samples[(sample, tuple(sorted(labels.items())))]

    db = {"alias": "default", "vendor": "sqlite"}
    assert value("django_db_execute_many", "django_db_execute_many_total", **db) == 3
    by_method = "django_http_requests_total_by_method"
    assert value(by_method, f"{by_method}_total", method="<invalid method>") == 1
    assert value("django_http_requests_latency_seconds_by_view_method",
                 "django_http_requests_latency_seconds_by_view_method_count",
                 view="hello", method="PROPFIND") == 1  # fmt: skip
    assert value("django_http_ajax_requests", "django_http_ajax_requests_total") == 2
    assert value("django_cache_get_hits", "django_cache_get_hits_total", backend="locmem") == 2
    assert value("django_cache_get_misses", "django_cache_get_misses_total", backend="locmem") == 2
    assert value("django_cache_get_misses", "django_cache_get_misses_total", backend="db") == 1
    assert value("django_model_updates", "django_model_updates_total", model="item") == 2
    buckets = {
        dict(labels)["le"]
        for (s, labels) in ours["django_db_query_duration_seconds"].samples
        if s.endswith("_bucket")
    }
    assert {"0.01", "75.0", "+Inf"} <= buckets and "0.005" not in buckets


def test_app_metrics_summed_across_workers(tmp_path: Path) -> None:
    """A prometheus_client Counter registered in a view module: requests that
    landed on both workers sum exactly on /metrics, no PROMETHEUS_MULTIPROC_DIR."""
    env = squall_env(tmp_path)
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with run_server(["promparity.wsgi:application", "--workers", "2"], env=env) as server:
        pids: set[str] = set()
        sent = 0
        deadline = time.monotonic() + 30
        while len(pids) < 2 or sent < 20:
            assert time.monotonic() < deadline, "requests never reached both workers"
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/counter/?kind=w")
            pids.add(conn.getresponse().read().decode())
            conn.close()
            sent += 1

        def total() -> str | None:
            text = get(server.probe_port)
            m = re.search(r'^parity_calls_total\{kind="w"\} (\S+)$', text, re.M)
            return text if m and float(m.group(1)) == sent else None

        text = wait_for(total, f"parity_calls_total = {sent}", 10)
        fams = {f.name: f for f in parse_text(text)}
        assert fams["parity_calls"].type == "counter"
        assert fams["parity_sizes"].type == "histogram"
        count = [s for s in fams["parity_sizes"].samples if s.name == "parity_sizes_count"]
        assert count[0].value == sent
        assert fams["parity_waits_seconds"].type == "summary"
        assert fams["parity_in_view"].type == "gauge"
        # A gauge: summed over the live workers, each of which served.
        assert gauge(text, "parity_worker_served") == 2
        # prometheus_client's own process collector is not copied (Squall has squall_process_*).
        assert "process_cpu_seconds" not in fams
        # OpenMetrics too, read by prometheus_client's strict parser.
        conn = http.client.HTTPConnection("127.0.0.1", server.probe_port, timeout=10)
        conn.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text"})
        om = {f.name: f for f in parse_om(conn.getresponse().read().decode())}
        conn.close()
        assert om["parity_calls"].type == "counter" and om["parity_sizes"].type == "histogram"

        # SIGHUP recycles both workers: the counter keeps its total (each
        # worker's last copy is folded in), the old workers' gauges are gone.
        before = worker_pids(text)
        server.proc.send_signal(signal.SIGHUP)

        def recycled() -> str | None:
            text = get(server.probe_port)
            now = worker_pids(text)
            return text if len(now) == 2 and not set(now.values()) & set(before.values()) else None

        text = wait_for(recycled, "both workers replaced", 60)
        assert re.search(rf'^parity_calls_total\{{kind="w"\}} {sent}\.0$', text, re.M), text
        assert gauge(text, "parity_worker_served") in (None, 0)


def worker_pids(text: str) -> dict[str, str]:
    line = r'^squall_process_start_time_seconds\{worker="(\d+)",pid="(\d+)"\}'
    return dict(re.findall(line, text, re.M))


def gauge(text: str, name: str) -> float | None:
    """The value of the sample written exactly `name` (labels included)."""
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_prometheus_settings_honoured(tmp_path: Path) -> None:
    """PROMETHEUS_METRIC_NAMESPACE, PROMETHEUS_LATENCY_BUCKETS,
    PROMETHEUS_EXPORT_MIGRATIONS = False."""
    env = squall_env(tmp_path, namespace="shop", buckets="0.5,1,5", migrations="0")
    with run_server(["promparity.wsgi:application", "--workers", "1"], env=env) as server:
        assert send(server.port, "GET", "/", {}, b"") == 200
        text = get(server.probe_port)
    fams = families(text, prefix="")
    assert "shop_django_http_requests_latency_seconds_by_view_method" in fams
    assert not [name for name in fams if name.startswith("django_")]
    assert not [name for name in fams if "migrations" in name and fams[name].samples]
    les = {
        dict(labels)["le"]
        for (s, labels) in fams["shop_django_http_requests_latency_seconds_by_view_method"].samples
        if s.endswith("_bucket")
    }
    assert les == {"0.5", "1.0", "5.0", "+Inf"}


def test_bad_latency_buckets_are_refused(tmp_path: Path) -> None:
    env = squall_env(tmp_path, buckets="1,0.5")
    result = subprocess.run(
        [sys.executable, "-m", "squall", "promparity.wsgi:application", "--port", "0"],
        cwd=APPS_DIR, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "PROMETHEUS_LATENCY_BUCKETS" in result.stderr and "increase" in result.stderr


def test_redis_cache_hits_misses_and_failures(tmp_path: Path) -> None:
    """Django's own RedisCache, BACKEND unchanged: django-prometheus' label
    native_redis; a get while Redis is down is a failure (and a 500)."""
    redis = start_redis(tmp_path)
    env = squall_env(tmp_path / "project", redis_url=redis.url)
    try:
        with run_server(["promparity.wsgi:application", "--workers", "1"], env=env) as server:
            for path, status in [
                ("/cache/redis/get/k/", 200),
                ("/cache/redis/set/k/", 200),
                ("/cache/redis/get/k/", 200),
            ]:
                assert send(server.port, "GET", path, {}, b"") == status
            redis.stop()
            assert send(server.port, "GET", "/cache/redis/get/k/", {}, b"") == 500
            text = get(server.probe_port)
    finally:
        redis.stop()
    counts = {
        name: gauge(text, f'django_cache_get_{name}total{{backend="native_redis"}}')
        for name in ("", "hits_", "misses_", "fail_")
    }
    assert counts == {"": 3, "hits_": 1, "misses_": 1, "fail_": 1}


def test_cache_labels_are_django_prometheus_for_every_django_backend() -> None:
    """The `backend` label of each backend a project can configure (the
    memcached clients are not installed here: the label comes from the class)."""
    from django.core.cache.backends import db, dummy, filebased, locmem, memcached, redis

    from squall.metrics import cache_backend_label

    class ProjectCache(locmem.LocMemCache):
        pass

    labels = {
        locmem.LocMemCache: "locmem",
        ProjectCache: "locmem",  # a subclass keeps its base's label
        filebased.FileBasedCache: "filebased",
        memcached.PyMemcacheCache: "memcached",
        memcached.PyLibMCCache: "memcached",
        redis.RedisCache: "native_redis",
        db.DatabaseCache: "db",
        dummy.DummyCache: "dummy",
    }
    for cls, label in labels.items():
        assert cache_backend_label(object.__new__(cls)) == label, cls


# ---- the django-mixin dashboards through a real Prometheus

VARIABLES = {
    "$cluster": "parity",
    "$namespace": "parity",
    "$view": ".*",
    "$method": ".*",
    "$model": ".*",
    "$__rate_interval": "5s",
}
# Panels comparing with last week ("offset 1w") cannot have data on a
# Prometheus started by the test: evaluated (they must parse and run), not
# required to be non-empty.
LAST_WEEK = "offset 1w"


def promql(expr: str, job: str) -> str:
    """A panel's expression with Grafana's variables set; label_values(M, L):
    the series of M that carry L."""
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    expr = expr.replace("$job", job)
    m = re.fullmatch(r"label_values\((.*), (\w+)\)", expr, re.S)
    if m:
        selector = m.group(1).replace("{}", "")
        selector = selector if "{" in selector else selector + "{}"
        return selector[:-1] + ("," if selector[-2] != "{" else "") + f'{m.group(2)}!=""}}'
    return expr


def test_django_mixin_dashboards_have_data_for_both(
    django_prometheus: Gunicorn, squall: ServerProcess, tmp_path: Path
) -> None:
    queries = json.loads(QUERIES.read_text())["dashboards"]
    jobs = {
        "django-prometheus": [f"127.0.0.1:{django_prometheus.metrics_port}"],
        "squall": [f"127.0.0.1:{squall.probe_port}"],
    }
    labels = {"cluster": "parity", "namespace": "parity"}
    with Prometheus(tmp_path, [], interval=0.5, jobs=jobs, labels=labels).start() as prom:
        # Traffic while Prometheus scrapes, so rates and irates are above 0.
        stop = threading.Event()

        def traffic(port: int) -> None:
            while not stop.is_set():
                send_sequence(port)

        threads = [
            threading.Thread(target=traffic, args=(p,), daemon=True)
            for p in (django_prometheus.port, squall.port)
        ]
        for t in threads:
            t.start()
        try:
            prom.scrapes_after(time.time(), timeout=20)
            start = time.time()
            prom.scrapes_after(start + 8, timeout=30)
            at = time.time() - 0.5
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        empty: list[tuple[str, str, str]] = []
        evaluated = 0
        for dashboard, exprs in queries.items():
            for expr in exprs:
                for job in jobs:
                    # A panel shows a time range: data at one of the last
                    # moments of the traffic is data on the panel (an irate
                    # between two scrapes that saw no request of a view is 0).
                    moments = (at - 0.5 * k for k in range(8))
                    result = any(prom.query(promql(expr, job), at=t) for t in moments)
                    evaluated += 1
                    if not result and LAST_WEEK not in expr:
                        empty.append((job, dashboard, expr))
        assert evaluated == 2 * sum(len(e) for e in queries.values())
        assert not empty, "\n".join(f"{j} {d}: {' '.join(e.split())}" for j, d, e in empty)
