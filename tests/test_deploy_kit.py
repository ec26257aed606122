"""The deploy kit (deploy/): manifests, Dockerfile and Grafana dashboard.

Static checks: the Kubernetes manifests' probe paths, ports, timings and
annotations agree with Squall's options as the code defines them
(squall.options.Config, with the Deployment's own args applied), the HPA's
metrics are the ones the prometheus-adapter rules serve, the Dockerfile's ports
and command match, and every PromQL expression of the dashboard names a known
metric family.

End to end: a kubelet-like client starts the demo with the Deployment's
command and args, drives its startup / readiness / liveness probes with the
manifest's timings, sends a steady stream of requests while the pod is in the
Service's endpoints, then terminates it the way Kubernetes does (preStop
sleep, SIGTERM) and checks that no probe failed before termination, that no
request was dropped and that Squall exited 0 within the grace period.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import serverproc
import yaml
from serverproc import DEMO_DIR, ServerProcess, run_server

from squall.options import Config, parse_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
DASHBOARD = DEPLOY / "grafana" / "squall-dashboard.json"

# At exit the master waits up to 3 s for undelivered webhooks (docs/probes.md):
# the grace period must leave that much after the drain.
WEBHOOK_FLUSH_SECONDS = 3

# The metrics endpoint on the probe port (--metrics).
METRICS_PATH = Config().metrics

# The HPA's metrics: per-pod gauges of docs/metrics.md.
HPA_METRICS = {"squall_requests_in_flight", "squall_requests_queued"}

# django-prometheus families Squall exposes under the same names (docs/metrics.md).
DJANGO_FAMILIES = {
    "django_http_requests_total_by_method",
    "django_http_requests_total_by_transport",
    "django_http_requests_total_by_view_transport_method",
    "django_http_requests_latency_seconds_by_view_method",
    "django_http_requests_latency_including_middlewares_seconds",
    "django_http_responses_total_by_status",
    "django_http_responses_total_by_status_view_method",
    "django_http_requests_body_total_bytes",
    "django_http_responses_body_total_bytes",
    "django_http_exceptions_total_by_type",
    "django_http_exceptions_total_by_view",
    "django_db_new_connections_total",
    "django_db_execute_total",
    "django_db_errors_total",
    "django_db_query_duration_seconds",
    "django_migrations_unapplied_total",
    "django_migrations_applied_total",
}

# Squall's own families: docs/metrics.md is the authority, so a renamed family
# fails this test instead of leaving a dashboard panel empty.
FAMILY_NAME = re.compile(r"\b(?:django|squall)_[a-zA-Z0-9_]*[a-zA-Z0-9]")
SERIES_SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total")


def squall_families() -> set[str]:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    return {name for name in FAMILY_NAME.findall(doc) if name.startswith("squall_")}


def known_family(series: str, families: set[str]) -> bool:
    """`series` is a family or one of its series (`_bucket`, `_sum`, `_count`, the
    `_total` a counter gets on exposition)."""
    candidates = {series} | {series[: -len(s)] for s in SERIES_SUFFIXES if series.endswith(s)}
    return bool(candidates & families)


# --------------------------------------------------------------------------- manifests


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        # Kubernetes objects only (prometheus-adapter-values.yaml is Helm values).
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and "kind" in d]
    return docs


def the(kind: str) -> dict[str, Any]:
    found = [d for d in manifests() if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


def pod_spec() -> dict[str, Any]:
    return the("Deployment")["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    (main,) = pod_spec()["containers"]
    return main


def effective_config() -> Config:
    """The Config Squall builds from the Deployment's args and literal env values."""
    main = container()
    env = {e["name"]: str(e["value"]) for e in main.get("env", []) if "value" in e}
    config, _ = parse_config(
        main["args"], prog="manage.py serve", django=True, settings=None, environ=env
    )
    return config


def probe_port(config: Config) -> int:
    return config.probe_port if config.probe_port is not None else config.port + 1


def container_port(name_or_number: str | int) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    (port,) = [p["containerPort"] for p in container()["ports"] if p["name"] == name_or_number]
    return port


def quantity(value: str | int) -> float:
    """A Kubernetes quantity: "500m" CPUs, "512Mi" bytes."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for unit, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


PROBE_OPTIONS = {
    "startupProbe": "startup_probe",
    "readinessProbe": "readiness_probe",
    "livenessProbe": "liveness_probe",
}


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = the("Kustomization")
    objects = {
        path.name
        for path in K8S.glob("*.yaml")
        if any(
            d and d.get("kind") not in (None, "Kustomization")
            for d in yaml.safe_load_all(path.read_text())
        )
    }
    assert sorted(kustomization["resources"]) == sorted(objects)
    kinds = {d["kind"] for d in manifests()}
    assert kinds >= {"Deployment", "Service", "PodMonitor", "HorizontalPodAutoscaler"}


def test_the_deployment_keeps_squalls_defaults_for_what_the_manifests_depend_on() -> None:
    config, defaults = effective_config(), Config()
    for name in (
        "port",
        "probe_port",
        "startup_probe",
        "readiness_probe",
        "liveness_probe",
        "shutdown_delay",
        "graceful_timeout",
        "check_interval",
        "req_queue_len",
        "timeout",
        "threads",
        "database_wait",
    ):
        assert getattr(config, name) == getattr(defaults, name), name
    assert container()["command"] == ["python", "manage.py", "serve"]


def test_probe_paths_and_ports_are_squalls() -> None:
    config = effective_config()
    main = container()
    assert container_port("http") == config.port
    assert container_port("probes") == probe_port(config) == config.port + 1
    for kind, option in PROBE_OPTIONS.items():
        get = main[kind]["httpGet"]
        assert get["path"] == getattr(config, option), kind
        assert container_port(get["port"]) == probe_port(config), kind
        assert get.get("scheme", "HTTP") == "HTTP"


def test_probe_timings_follow_from_squalls_timings() -> None:
    config = effective_config()
    main = container()
    startup, readiness, liveness = (main[k] for k in PROBE_OPTIONS)
    for probe in (startup, readiness, liveness):
        # Squall's master answers in microseconds: kubelet's 1 s is ample.
        assert probe["timeoutSeconds"] >= 1
        assert probe.get("successThreshold", 1) == 1
    # The startup probe gates the other two: they need no initial delay.
    assert readiness.get("initialDelaySeconds", 0) == 0
    assert liveness.get("initialDelaySeconds", 0) == 0
    # Startup's budget covers --check-migrations waiting for the database.
    budget = startup.get("initialDelaySeconds", 0) + (
        startup["periodSeconds"] * startup["failureThreshold"]
    )
    assert config.check_migrations
    assert budget > config.database_wait
    # After SIGTERM, kubelet sees readiness fail (failureThreshold probes) before
    # the shutdown delay ends and Squall stops accepting.
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < config.shutdown_delay
    # A failing readiness health check reaches kubelet within one check interval.
    assert readiness["periodSeconds"] <= config.check_interval
    # Liveness lets the master replace a stuck worker (--timeout) itself first.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= config.timeout
    assert liveness["failureThreshold"] >= 3


def test_the_grace_period_covers_prestop_shutdown_delay_and_graceful_timeout() -> None:
    config = effective_config()
    spec = pod_spec()
    pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop > 0
    drain = pre_stop + config.shutdown_delay + config.graceful_timeout
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > drain
    assert grace - drain >= WEBHOOK_FLUSH_SECONDS


def test_prometheus_annotations_and_podmonitor_point_at_the_metrics() -> None:
    config = effective_config()
    template = the("Deployment")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(probe_port(config))
    assert annotations["prometheus.io/path"] == METRICS_PATH
    monitor = the("PodMonitor")
    labels = template["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert container_port(endpoint["port"]) == probe_port(config)
    assert endpoint["path"] == METRICS_PATH


def test_the_service_sends_clients_to_the_app_port_only() -> None:
    config = effective_config()
    service, deployment = the("Service"), the("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [container_port(p["targetPort"]) for p in service["spec"]["ports"]] == [config.port]


def test_pod_settings_squall_relies_on() -> None:
    spec = pod_spec()
    # A Service named "squall" would inject SQUALL_PORT=tcp://..., read as --port.
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    strategy = the("Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_resources_match_the_process_model() -> None:
    config = effective_config()
    resources = container()["resources"]
    # --workers defaults to the cgroup CPU quota, rounded up.
    workers = math.ceil(quantity(resources["limits"]["cpu"]))
    assert quantity(resources["requests"]["cpu"]) <= quantity(resources["limits"]["cpu"])
    # Workers are recycled at --max-memory before the pod reaches its limit
    # (the rest is left to the master and the checker).
    limit = quantity(resources["limits"]["memory"])
    assert 0 < config.max_memory * 2**20 * workers < limit
    # The in-flight target stays below the pod's Python threads.
    hpa = the("HorizontalPodAutoscaler")
    targets = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in hpa["spec"]["metrics"]}
    in_flight = quantity(targets["squall_requests_in_flight"]["averageValue"])
    assert 0 < in_flight < workers * config.threads
    waiting = quantity(targets["squall_requests_queued"]["averageValue"])
    assert 0 < waiting < config.req_queue_len


def adapter_rules() -> list[dict[str, Any]]:
    values = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())
    return values["rules"]["custom"]


def adapter_series(rule: dict[str, Any]) -> str:
    """The metric name a rule's seriesQuery selects."""
    series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"])
    assert series, rule["seriesQuery"]
    return series.group(1)


def adapter_metric_names() -> dict[str, dict[str, Any]]:
    """The custom metrics the adapter serves, each with its rule."""
    served = {}
    for rule in adapter_rules():
        name = adapter_series(rule)
        naming = rule.get("name", {"matches": "^(.*)$", "as": "${1}"})
        template = re.sub(r"\$\{?(\d+)\}?", r"\\\1", naming.get("as") or "${1}")
        served[re.sub(naming["matches"], template, name)] = rule
    return served


def test_the_hpa_scales_on_metrics_the_adapter_serves() -> None:
    hpa = the("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", the("Deployment")["metadata"]["name"])
    served = adapter_metric_names()
    names = set()
    for metric in hpa["spec"]["metrics"]:
        assert metric["type"] == "Pods"
        assert metric["pods"]["target"]["type"] == "AverageValue"
        name = metric["pods"]["metric"]["name"]
        names.add(name)
        rule = served[name]
        overrides = rule["resources"]["overrides"]
        assert overrides["pod"] == {"resource": "pod"}
        assert overrides["namespace"] == {"resource": "namespace"}
        for placeholder in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
            assert placeholder in rule["metricsQuery"]
        assert known_family(name, squall_families())
    assert names == HPA_METRICS


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_the_dockerfile_builds_a_wheel_and_runs_serve_as_a_non_root_user() -> None:
    config, steps = Config(), dockerfile_instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) == 2  # multi-stage: no compiler in the image
    assert all(s.split()[0] == "python:3.12-slim-bookworm" for s in stages)
    second = [i for i, (w, _) in enumerate(steps) if w == "FROM"][1]
    build, runtime = steps[:second], steps[second:]
    build_runs = " ".join(args for word, args in build if word == "RUN")
    for package in (
        "cmake",
        "ninja-build",
        "g++",
        "pkg-config",
        "node-llhttp",
        "libcurl4-openssl-dev",
        "librabbitmq-dev",
        "nlohmann-json3-dev",
    ):
        assert package in shlex.split(build_runs), package
    # The wheel `make wheels` makes: pip builds it, auditwheel bundles the libraries.
    assert re.search(r"pip wheel .*-w \S+ \.(\s|$)", build_runs)
    assert "auditwheel repair" in build_runs
    # What `pip wheel .` needs is in the build stage (pyproject's readme too).
    copied = " ".join(args for word, args in build if word == "COPY")
    for needed in ("pyproject.toml", "CMakeLists.txt", "README.md", "core/", "squall/"):
        assert needed in copied.split(), needed
    # The runtime installs that wheel and nothing is compiled or apt-installed there.
    runtime_runs = " ".join(args for word, args in runtime if word == "RUN")
    assert "apt-get" not in runtime_runs and "-dev" not in runtime_runs
    assert re.search(r"pip install --only-binary=:all: \S*squall-\*\.whl", runtime_runs)
    assert "from=build" in runtime_runs
    exposed = {int(p) for word, args in steps if word == "EXPOSE" for p in args.split()}
    assert exposed == {config.port, probe_port(config)}
    (cmd,) = [json.loads(args) for word, args in steps if word == "CMD"]
    assert cmd == ["python", "manage.py", "serve"] == container()["command"]
    assert not [w for w, _ in steps if w == "ENTRYPOINT"]
    (user,) = [args for word, args in steps if word == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: kubelet can verify runAsNonRoot
    assert int(uid) == pod_spec()["securityContext"]["runAsUser"]


# --------------------------------------------------------------------------- dashboard


def dashboard_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target and query variable."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                found.append((inner["title"], target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append((variable["name"], query["query"] if isinstance(query, dict) else query))
    return found


def balanced(expr: str) -> bool:
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                return False
    return not stack


def test_the_dashboard_is_a_grafana_model_over_known_families() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    for key in ("uid", "title", "panels", "schemaVersion", "templating"):
        assert key in dashboard, key
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
    families = DJANGO_FAMILIES | squall_families()
    expressions = dashboard_expressions(dashboard)
    assert len(expressions) > 20
    for title, expr in expressions:
        names = FAMILY_NAME.findall(expr)
        assert names, f"{title}: no metric family in {expr!r}"
        unknown = [n for n in names if not known_family(n, families)]
        assert not unknown, f"{title}: unknown families {unknown} in {expr!r}"
        assert balanced(expr), f"{title}: unbalanced {expr!r}"
    joined = "\n".join(expr for _, expr in expressions)
    for q in ("0.5", "0.99"):
        assert (
            f"histogram_quantile({q}, sum by (le) (rate("
            "django_http_requests_latency_seconds_by_view_method_bucket"
        ) in joined
    for needed in (
        *HPA_METRICS,
        "django_http_responses_total_by_status_total",
        "squall_workers_busy",
        "squall_workers_idle",
        "squall_worker_respawns_total",
        "squall_probe_success",
        "squall_health_check_success",
    ):
        assert needed in joined, needed


def grafana_to_promql(expr: str) -> str:
    """Grafana's variables replaced by values, so that Prometheus can parse it."""
    for variable, value in (
        ("$__rate_interval", "1m"),
        ("$namespace", "default"),
        ("$pod", ".+"),
    ):
        expr = expr.replace(variable, value)
    return expr


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """The dashboard's PromQL and the adapter's queries (placeholders filled in as
    prometheus-adapter does), as recording rules: `promtool check rules` parses them."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [grafana_to_promql(expr) for _, expr in dashboard_expressions(dashboard)]
    for rule in adapter_rules():
        queries.append(
            rule["metricsQuery"]
            .replace("<<.Series>>", adapter_series(rule))
            .replace("<<.LabelMatchers>>", 'namespace="default",pod=~"a|b"')
            .replace("<<.GroupBy>>", "pod")
        )
    # label_values(SELECTOR, label) is Grafana's: its selector must parse.
    queries = [re.sub(r"^label_values\((.*), *\w+\)$", r"\1", q) for q in queries]
    rules = {
        "groups": [
            {
                "name": "squall-deploy-kit",
                "rules": [
                    {"record": f"squall:query_{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubectl_kustomize_builds_the_objects() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout) if d)
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodMonitor", "Service"]


# --------------------------------------------------------------------------- end to end

# Kubernetes' seconds are scaled by this factor to keep the test short: probe
# periods and initial delays, the preStop sleep, the grace period and Squall's
# --shutdown-delay / --graceful-timeout (each passed scaled). Probe timeouts are
# not scaled: kubelet's 1 s is what a probe answer must meet.
SCALE = 0.25
KUBE_PROBE_USER_AGENT = "kube-probe/1.31"


@dataclass
class ProbeSpec:
    path: str
    port: int
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int

    @classmethod
    def from_manifest(cls, probe: dict[str, Any], port: int) -> ProbeSpec:
        return cls(
            path=probe["httpGet"]["path"],
            port=port,
            initial_delay=probe.get("initialDelaySeconds", 0) * SCALE,
            period=probe.get("periodSeconds", 10) * SCALE,
            timeout=probe.get("timeoutSeconds", 1),
            failure_threshold=probe.get("failureThreshold", 3),
            success_threshold=probe.get("successThreshold", 1),
        )


@dataclass
class Result:
    start: float
    end: float
    ok: bool
    detail: str


@dataclass
class Prober:
    """One of kubelet's probe workers: a new connection per probe, GET only,
    success for 200-399, at most 10 KiB read; consecutive results against the
    thresholds give the verdict."""

    name: str
    spec: ProbeSpec
    stop: threading.Event
    until_success: bool = False  # the startup probe stops at its first success
    results: list[Result] = field(default_factory=list)
    succeeded: threading.Event = field(default_factory=threading.Event)  # verdict: success
    failed: threading.Event = field(default_factory=threading.Event)  # verdict: failure
    failed_at: float | None = None
    thread: threading.Thread | None = None

    def start(self, since: float) -> None:
        self.thread = threading.Thread(target=self._run, args=(since,), daemon=True)
        self.thread.start()

    def once(self) -> Result:
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.spec.port, timeout=self.spec.timeout)
        try:
            conn.request(
                "GET",
                self.spec.path,
                headers={
                    "User-Agent": KUBE_PROBE_USER_AGENT,
                    "Accept": "*/*",
                    "Connection": "close",
                },
            )
            response = conn.getresponse()
            response.read(10 * 1024)
            ok = 200 <= response.status < 400
            detail = str(response.status)
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout
            ok, detail = False, repr(exc)
        finally:
            conn.close()
        return Result(start, time.monotonic(), ok, detail)

    def _run(self, since: float) -> None:
        next_at = since + self.spec.initial_delay
        successes = failures = 0
        while not self.stop.is_set():
            if self.stop.wait(max(0.0, next_at - time.monotonic())):
                return
            next_at += self.spec.period
            result = self.once()
            self.results.append(result)
            if result.ok:
                successes, failures = successes + 1, 0
                if successes >= self.spec.success_threshold:
                    self.failed.clear()
                    self.succeeded.set()
                    if self.until_success:
                        return
            else:
                successes, failures = 0, failures + 1
                if failures >= self.spec.failure_threshold and not self.failed.is_set():
                    self.succeeded.clear()
                    self.failed_at = result.end
                    self.failed.set()
                    if self.until_success:
                        return  # kubelet would kill the container

    def failures(self, *, before: float = math.inf) -> list[Result]:
        return [r for r in self.results if not r.ok and r.start < before]


@dataclass
class Client:
    """A steady stream of requests, sent while the pod is in the endpoints."""

    server: ServerProcess
    in_endpoints: threading.Event
    keep_alive: bool
    paths: tuple[str, ...] = ("/", "/json", "/db")
    sent: list[tuple[float, str, int | str]] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn = None
        i = 0
        while self.in_endpoints.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            if conn is None or not self.keep_alive:
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                outcome: int | str = response.status
            except (OSError, http.client.HTTPException) as exc:
                outcome = repr(exc)
                conn.close()
                conn = None
            self.sent.append((time.monotonic(), path, outcome))
            if not self.keep_alive and conn is not None:
                conn.close()
            time.sleep(0.01)
        if conn is not None:
            conn.close()


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with test settings and a migrated temporary database."""
    tmp = tmp_path_factory.mktemp("deploy-demo")
    return serverproc.demo_env(tmp, "demo_test_settings", DEMO_TEST_RECORD=str(tmp / "loads.txt"))


def scaled(seconds: float) -> str:
    return f"{seconds * SCALE:g}"


@pytest.fixture
def stop_probing() -> Iterator[threading.Event]:
    stop = threading.Event()
    yield stop
    stop.set()


def test_kubelet_sees_the_pod_start_serve_and_terminate_cleanly(
    demo_env: dict[str, str], stop_probing: threading.Event
) -> None:
    config = effective_config()
    main, spec = container(), pod_spec()
    pre_stop = main["lifecycle"]["preStop"]["sleep"]["seconds"] * SCALE
    grace = spec["terminationGracePeriodSeconds"] * SCALE
    shutdown_delay = config.shutdown_delay * SCALE
    command = main["command"]
    assert command[0] == "python"
    argv = [
        *command[1:],
        *main["args"],
        f"--shutdown-delay={scaled(config.shutdown_delay)}",
        f"--graceful-timeout={scaled(config.graceful_timeout)}",
    ]
    env = {**demo_env, **{e["name"]: str(e["value"]) for e in main.get("env", []) if "value" in e}}

    container_start = time.monotonic()
    with run_server(argv, cwd=DEMO_DIR, env=env) as server:
        specs = {
            kind: ProbeSpec.from_manifest(main[kind], server.probe_port) for kind in PROBE_OPTIONS
        }
        startup = Prober("startup", specs["startupProbe"], stop_probing, until_success=True)
        readiness = Prober("readiness", specs["readinessProbe"], stop_probing)
        liveness = Prober("liveness", specs["livenessProbe"], stop_probing)

        # Startup: probed from the container's start until its first success.
        startup.start(container_start)
        budget = specs["startupProbe"].initial_delay + (
            specs["startupProbe"].period * specs["startupProbe"].failure_threshold
        )
        assert startup.thread is not None
        startup.thread.join(budget + 5)
        assert startup.succeeded.is_set(), (startup.results, server.log()[-3000:])
        assert not startup.failed.is_set()
        started = startup.results[-1].end
        assert started - container_start <= budget

        # Readiness and liveness once startup succeeded; the Service's endpoints
        # follow readiness, and so do the clients.
        readiness.start(started)
        liveness.start(started)
        assert readiness.succeeded.wait(specs["readinessProbe"].period * 4)
        in_endpoints = threading.Event()
        in_endpoints.set()
        clients = [Client(server, in_endpoints, keep_alive=k) for k in (True, False)]
        for client in clients:
            client.start()

        def endpoints_controller() -> None:
            readiness.failed.wait()
            in_endpoints.clear()

        controller = threading.Thread(target=endpoints_controller, daemon=True)
        controller.start()

        # Serve long enough for several liveness probes.
        serving = specs["livenessProbe"].period * 2 + specs["livenessProbe"].initial_delay
        time.sleep(serving)
        assert in_endpoints.is_set(), readiness.results
        assert len(liveness.results) >= 2

        # Termination: preStop sleep, then SIGTERM; SIGKILL after the grace period.
        # A slow request spans the preStop sleep and the shutdown delay and ends
        # in the drain (--graceful-timeout): it must finish.
        slow: dict[str, Any] = {}

        def slow_request() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=grace + 5)
            try:
                conn.request("GET", f"/slow?ms={int((pre_stop + shutdown_delay + 0.5) * 1000)}")
                response = conn.getresponse()
                slow["status"], slow["body"] = response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                slow["status"] = repr(exc)
            finally:
                conn.close()

        terminating = time.monotonic()
        slow_thread = threading.Thread(target=slow_request, daemon=True)
        slow_thread.start()
        time.sleep(pre_stop)
        sigterm = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            status = server.proc.wait(timeout=max(0.1, terminating + grace - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.proc.kill()  # what kubelet does at the end of the grace period
            server.proc.wait()
            pytest.fail(f"still running after the grace period ({grace:g} s)\n{server.log()}")
        exited = time.monotonic()
        stop_probing.set()
        in_endpoints.clear()
        for thread in [
            slow_thread,
            controller,
            *(c.thread for c in clients),
            readiness.thread,
            liveness.thread,
        ]:
            assert thread is not None
            thread.join(10)
        log = server.log()

    assert status == 0, log
    assert exited - terminating <= grace

    # No failed probe before termination; liveness never failed while the
    # process lived (its port closes only as the master exits).
    assert not readiness.failures(before=sigterm), readiness.results
    assert not liveness.failures(before=exited - 0.2), liveness.results
    # After SIGTERM readiness failed, and kubelet's verdict (failureThreshold
    # probes) came while Squall still accepted connections.
    assert readiness.failed.is_set(), readiness.results
    assert readiness.failed_at is not None
    assert sigterm < readiness.failed_at < sigterm + shutdown_delay, (
        readiness.failed_at - sigterm,
        shutdown_delay,
    )

    # No failed or dropped request; some were served after SIGTERM.
    sent = [s for c in clients for s in c.sent]
    failed = [s for s in sent if s[2] != 200]
    assert not failed, (failed, log[-3000:])
    assert len(sent) > 50
    assert any(t > sigterm for t, _, _ in sent), "no request was served after SIGTERM"
    # ... and while readiness already answered "not ready" (the shutdown delay).
    first_unready = min(r.end for r in readiness.failures() if r.start >= sigterm)
    assert any(t > first_unready for t, _, _ in sent), "none served once readiness failed"
    assert slow.get("status") == 200, (slow, log[-3000:])
    assert "Traceback" not in log
