"""Requests you can follow (docs/tracing.md): the request id, the W3C trace
context, Squall's OpenTelemetry server span and the latency exemplars,
against real server processes.
"""

from __future__ import annotations

import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import serverproc
from prometheus import start_prometheus
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from serverproc import DEMO_DIR, ServerProcess, run_server, wait_for
from websockets.sync.client import connect as ws_connect

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
HEX32 = re.compile("[0-9a-f]{32}")
HEX16 = re.compile("[0-9a-f]{16}")
# The spec's example (https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers).
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
OM_ACCEPT = "application/openmetrics-text;version=1.0.0"


def environ_of(server: ServerProcess, headers: dict[str, str] | None = None) -> tuple:
    r = requests.get(server.url + "/environ", headers=headers or {}, timeout=5)
    assert r.status_code == 200, r.text
    return r.headers, r.json()


def access_lines(server: ServerProcess) -> list[str]:
    assert server.stop() == 0
    return [line for line in server.log().splitlines() if "squall.access" in line]


def serve_wsgi(tmp_path: Path, *options: str):  # type: ignore[no-untyped-def]
    env = {"WSGI_APPS_RECORD": str(tmp_path / "record.txt")}
    return run_server(["wsgi_apps:app", "--shutdown-delay", "0", *options], env=env)


# ---- request id -----------------------------------------------------------------------


def test_every_request_gets_an_id_in_the_response_the_environ_and_the_log(
    tmp_path: Path,
) -> None:
    with serve_wsgi(tmp_path) as server:
        h1, env1 = environ_of(server)
        h2, env2 = environ_of(server)
        lines = access_lines(server)
    for headers, env in ((h1, env1), (h2, env2)):
        rid = headers["X-Request-ID"]
        assert HEX32.fullmatch(rid), rid
        # Django's request.headers["X-Request-ID"] reads HTTP_X_REQUEST_ID.
        assert env["HTTP_X_REQUEST_ID"] == env["squall.request_id"] == rid
    assert h1["X-Request-ID"] != h2["X-Request-ID"]
    assert [re.search(r"request_id=(\S+)", line)[1] for line in lines] == [
        h1["X-Request-ID"],
        h2["X-Request-ID"],
    ]


def test_a_trusted_proxys_request_id_is_kept_when_valid(tmp_path: Path) -> None:
    # 127.0.0.1 is trusted by default (--forwarded-allow-ips).
    with serve_wsgi(tmp_path) as server:
        headers, env = environ_of(server, {"X-Request-ID": "lb-7f3a:9/x=1@edge"})
        assert headers["X-Request-ID"] == env["HTTP_X_REQUEST_ID"] == "lb-7f3a:9/x=1@edge"
        for bad in ("has space", "semi;colon", "x" * 129, 'quote"d'):
            headers, env = environ_of(server, {"X-Request-ID": bad})
            assert HEX32.fullmatch(headers["X-Request-ID"]), bad
            assert env["HTTP_X_REQUEST_ID"] == headers["X-Request-ID"]


def test_an_untrusted_clients_request_id_is_replaced(tmp_path: Path) -> None:
    with serve_wsgi(tmp_path, "--forwarded-allow-ips", "") as server:
        headers, env = environ_of(server, {"X-Request-ID": "forged-by-client"})
        lines = access_lines(server)
    rid = headers["X-Request-ID"]
    assert HEX32.fullmatch(rid)
    assert env["HTTP_X_REQUEST_ID"] == rid  # the app never sees the forged one
    assert "forged-by-client" not in "\n".join(lines)


def test_error_answers_carry_a_request_id_too(tmp_path: Path) -> None:
    with serve_wsgi(tmp_path) as server:
        r = requests.get(server.url + "/crash", timeout=5)
        assert r.status_code == 500
        assert HEX32.fullmatch(r.headers["X-Request-ID"])
        # A request the parser refuses (no Host, RFC 9112 3.2) has no head to
        # take an id from: a new one.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
            c.sendall(b"GET / HTTP/1.1\r\n\r\n")
            answer = c.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 400 ")
        assert re.search(r"\r\nX-Request-ID: [0-9a-f]{32}\r\n", answer), answer


# ---- W3C trace context ---------------------------------------------------------------


def test_a_valid_traceparent_is_continued_with_the_servers_span(tmp_path: Path) -> None:
    with serve_wsgi(tmp_path, "--log-format", "json") as server:
        state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        _, env = environ_of(server, {"traceparent": TRACEPARENT, "tracestate": state})
        lines = access_lines(server)
    span = env["squall.span_id"]
    assert HEX16.fullmatch(span) and span != PARENT
    assert (env["squall.trace_id"], env["squall.parent_id"]) == (TRACE, PARENT)
    # The application's parent is the server's span.
    assert env["HTTP_TRACEPARENT"] == f"00-{TRACE}-{span}-01"
    assert env["HTTP_TRACESTATE"] == state
    event = json.loads(lines[0])
    assert (event["trace_id"], event["span_id"]) == (TRACE, span)
    assert event["request_id"] == env["squall.request_id"]


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        f"00-{TRACE.upper()}-{PARENT}-01",  # uppercase hex
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace-id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent-id
        f"ff-{TRACE}-{PARENT}-01",  # version ff
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 is exactly 55 characters
    ],
)
def test_a_missing_or_invalid_traceparent_starts_a_new_trace(
    tmp_path: Path, traceparent: str | None
) -> None:
    headers = {"tracestate": "congo=t61rcWkgMzE"}
    if traceparent:
        headers["traceparent"] = traceparent
    with serve_wsgi(tmp_path) as server:
        _, env = environ_of(server, headers)
        lines = access_lines(server)
    trace, span = env["squall.trace_id"], env["squall.span_id"]
    assert HEX32.fullmatch(trace) and trace != TRACE and trace != "0" * 32
    assert env["squall.parent_id"] == "NoneType"  # None (the dump names non-str values by type)
    assert env["HTTP_TRACEPARENT"] == f"00-{trace}-{span}-01"
    assert "HTTP_TRACESTATE" not in env  # not propagated without a valid traceparent
    assert lines[0].endswith(f" trace_id={trace} span_id={span}"), lines[0]


# ---- ASGI scopes ---------------------------------------------------------------------


def serve_asgi(tmp_path: Path, *options: str):  # type: ignore[no-untyped-def]
    argv = ["asgi_apps:app", "--interface", "asgi", "--workers", "1", "--shutdown-delay", "0"]
    return run_server([*argv, *options], env={"ASGI_RECORD": str(tmp_path)})


def test_asgi_scopes_carry_the_same_ids_and_trace_context_as_the_environ(
    tmp_path: Path,
) -> None:
    state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    forged = {"X-Request-ID": "forged-by-client"}
    with serve_asgi(tmp_path, "--log-format", "json", "--forwarded-allow-ips", "") as server:
        wait_for(server, "/startup", 200)
        continued = requests.get(
            server.url + "/scope",
            headers={"traceparent": TRACEPARENT, "tracestate": state, **forged},
            timeout=5,
        )
        fresh = requests.get(server.url + "/scope", headers={"tracestate": state}, timeout=5)
        url = f"ws://127.0.0.1:{server.port}/ws/scope"
        with ws_connect(url, additional_headers={"traceparent": TRACEPARENT, **forged}) as ws:
            ws_seen = json.loads(ws.recv(timeout=5))
            ws_rid = ws.response.headers["X-Request-ID"]
        crash = requests.get(server.url + "/raise", timeout=5)
        lines = access_lines(server)
    events = {e["request_id"]: e for e in map(json.loads, lines)}

    def check(seen: dict, rid: str, parent: str | None) -> str:
        ids = seen["squall"]
        headers = seen["headers"]
        # The client's untrusted id is replaced, never sent alongside.
        assert [v for n, v in headers if n == "x-request-id"] == [rid]
        assert HEX32.fullmatch(rid) and ids["squall.request_id"] == rid
        trace, span = ids["squall.trace_id"], ids["squall.span_id"]
        assert HEX16.fullmatch(span) and span != PARENT
        assert (ids["squall.parent_id"], ids["squall.trace_flags"]) == (parent, 1)
        # The application's parent is the server's span.
        assert [v for n, v in headers if n == "traceparent"] == [f"00-{trace}-{span}-01"]
        assert (events[rid]["trace_id"], events[rid]["span_id"]) == (trace, span)
        return trace

    seen = continued.json()
    assert check(seen, continued.headers["X-Request-ID"], PARENT) == TRACE
    assert [v for n, v in seen["headers"] if n == "tracestate"] == [state]
    seen = fresh.json()
    assert check(seen, fresh.headers["X-Request-ID"], None) != TRACE
    # Not propagated without a valid traceparent, as in the environ.
    assert not [v for n, v in seen["headers"] if n == "tracestate"]
    assert ws_seen["type"] == "websocket"
    assert check(ws_seen, ws_rid, PARENT) == TRACE
    assert crash.status_code == 500
    assert HEX32.fullmatch(crash.headers["X-Request-ID"])
    assert crash.headers["X-Request-ID"] in events


# ---- OpenTelemetry: Squall's SERVER span is the parent of Django's ---------------------


def spans_of(path: Path, trace_id: str, want: int, timeout: float = 10.0) -> list[dict]:
    """The exported spans of `trace_id`, once there are `want` of them (the
    batch processor exports every 50 ms)."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        if path.exists():
            spans = [json.loads(line) for line in path.read_text().splitlines()]
            found = [s for s in spans if s["trace_id"] == trace_id]
            if len(found) >= want:
                return found
        time.sleep(0.05)
    raise AssertionError(f"{want} spans of {trace_id} never exported; got {found}")


def test_squalls_server_span_is_the_parent_of_djangos_in_every_worker(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    env = serverproc.demo_env(tmp_path, "tracing_settings", TRACING_SPANS=str(spans_file))
    argv = [
        "manage.py", "serve", "--workers", "2", "--threads", "1", "--shutdown-delay", "0",
        "--tracing-setup", "tracing_setup.setup",
    ]  # fmt: skip
    with run_server(argv, cwd=DEMO_DIR, env=env) as server:
        wait_for(server, "/startup", 200)

        def one(i: int) -> tuple[str, str, str]:
            parent = f"{i + 1:016x}"
            # Slow views sent together: a worker whose thread is busy lets the
            # other accept (fair accept), so both workers serve some.
            path = "/db" if i < 4 else "/slow?ms=300"
            r = requests.get(
                server.url + path,
                headers={"traceparent": f"00-{TRACE[:-1]}{i}-{parent}-01", "Connection": "close"},
                timeout=10,
            )
            assert r.status_code == 200
            return f"{TRACE[:-1]}{i}", parent, r.headers["X-Request-ID"]

        traced = [one(i) for i in range(4)]
        with ThreadPoolExecutor(4) as pool:
            traced += list(pool.map(one, range(4, 8)))
        fresh = requests.get(server.url + "/", headers={"Connection": "close"}, timeout=5)
        assert fresh.status_code == 200
        lines = access_lines(server)

    pids = set()
    for trace_id, parent, request_id in traced:
        spans = spans_of(spans_file, trace_id, 2)
        servers = [s for s in spans if s["kind"] == "SERVER"]
        assert len(servers) == 1, spans  # no second SERVER span from Django's instrumentation
        (ours,) = servers
        assert ours["scope"] == "squall" and ours["parent_id"] == parent
        assert ours["attributes"]["http.response.status_code"] == 200
        assert ours["attributes"]["http.request.header.x_request_id"] == request_id
        django = [s for s in spans if s["scope"].startswith("opentelemetry.instrumentation.django")]
        assert django and all(s["parent_id"] == ours["span_id"] for s in django), spans
        assert all(s["kind"] == "INTERNAL" for s in django)
        # The access log names the same span.
        (line,) = [x for x in lines if f"request_id={request_id}" in x]
        assert line.endswith(f"trace_id={trace_id} span_id={ours['span_id']}"), line
        pids.add(ours["pid"])
    assert len(pids) == 2, pids  # both workers exported from their own SDK

    # A request without a traceparent: a root span whose ids are the engine's.
    (line,) = [x for x in lines if f"request_id={fresh.headers['X-Request-ID']}" in x]
    trace_id, span_id = re.search(r"trace_id=(\S+) span_id=(\S+)$", line).groups()
    (root,) = [s for s in spans_of(spans_file, trace_id, 2) if s["kind"] == "SERVER"]
    assert (root["span_id"], root["parent_id"]) == (span_id, None)


def test_under_asgi_squalls_server_span_is_the_parent_of_djangos(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    env = serverproc.demo_env(tmp_path, "tracing_settings", TRACING_SPANS=str(spans_file))
    argv = [
        "manage.py", "serve", "--asgi", "--workers", "1", "--shutdown-delay", "0",
        "--tracing-setup", "tracing_setup.setup",
    ]  # fmt: skip
    with run_server(argv, cwd=DEMO_DIR, env=env) as server:
        wait_for(server, "/startup", 200)
        traced = []
        for i in range(3):
            parent = f"{i + 1:016x}"
            r = requests.get(
                server.url + "/db",
                headers={"traceparent": f"00-{TRACE[:-1]}{i}-{parent}-01"},
                timeout=10,
            )
            assert r.status_code == 200
            traced.append((f"{TRACE[:-1]}{i}", parent, r.headers["X-Request-ID"]))
        fresh = requests.get(server.url + "/", timeout=5)
        assert fresh.status_code == 200
        url = f"ws://127.0.0.1:{server.port}/ws/trace"
        with ws_connect(url, additional_headers={"traceparent": TRACEPARENT}) as ws:
            in_app = json.loads(ws.recv(timeout=5))
        lines = access_lines(server)

    for trace_id, parent, request_id in traced:
        spans = spans_of(spans_file, trace_id, 2)
        servers = [s for s in spans if s["kind"] == "SERVER"]
        assert len(servers) == 1, spans  # no second SERVER span from Django's instrumentation
        (ours,) = servers
        assert ours["scope"] == "squall" and ours["parent_id"] == parent
        assert ours["attributes"]["http.response.status_code"] == 200
        assert ours["attributes"]["http.request.header.x_request_id"] == request_id
        django = [s for s in spans if s["scope"].startswith("opentelemetry.instrumentation.django")]
        assert django and all(s["parent_id"] == ours["span_id"] for s in django), spans
        assert all(s["kind"] == "INTERNAL" for s in django)
        (line,) = [x for x in lines if f"request_id={request_id}" in x]
        assert line.endswith(f"trace_id={trace_id} span_id={ours['span_id']}"), line

    (line,) = [x for x in lines if f"request_id={fresh.headers['X-Request-ID']}" in x]
    trace_id, span_id = re.search(r"trace_id=(\S+) span_id=(\S+)$", line).groups()
    (root,) = [s for s in spans_of(spans_file, trace_id, 2) if s["kind"] == "SERVER"]
    assert (root["span_id"], root["parent_id"]) == (span_id, None)

    # A WebSocket runs inside its SERVER span too: the app's current span.
    assert in_app["span_id"] == in_app["squall.span_id"]
    (ws_span,) = spans_of(spans_file, TRACE, 1)
    assert (ws_span["kind"], ws_span["span_id"]) == ("SERVER", in_app["span_id"])
    assert ws_span["parent_id"] == PARENT
    assert ws_span["attributes"]["http.response.status_code"] == 101


def test_a_tracing_setup_that_does_not_import_stops_the_worker_with_its_reason(
    tmp_path: Path,
) -> None:
    with serve_wsgi(tmp_path, "--tracing-setup", "no_such_module.setup") as server:
        deadline = time.monotonic() + 10
        while "cannot import no_such_module" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "--tracing-setup no_such_module.setup: cannot import no_such_module" in server.log()


# ---- OpenMetrics exemplars, read back by a real Prometheus -----------------------------


def test_prometheus_stores_the_exemplars_of_the_latency_histograms(tmp_path: Path) -> None:
    env = serverproc.demo_env(tmp_path, "metrics_test_settings")
    argv = ["manage.py", "serve", "--workers", "2", "--shutdown-delay", "0"]
    with run_server(argv, cwd=DEMO_DIR, env=env) as server:
        wait_for(server, "/startup", 200)
        trace_id = "5bf92f3577b34da6a3ce929d0e0e4736"
        r = requests.get(
            server.url + "/slow?ms=300",
            headers={"traceparent": f"00-{trace_id}-{PARENT}-01"},
            timeout=10,
        )
        assert r.status_code == 200
        exemplar = re.compile(
            r'^squall_http_request_duration_seconds_bucket\{le="0\.5"\} \d+ '
            r'# \{trace_id="' + trace_id + r'"\} 0\.3\d* \d+\.\d{3}$',
            re.MULTILINE,
        )
        # The I/O thread observes the duration just after the last byte went
        # out: the client may be faster than that (a loaded machine).
        deadline = time.monotonic() + 5
        while True:
            om = requests.get(
                f"http://127.0.0.1:{server.probe_port}/metrics",
                headers={"Accept": OM_ACCEPT},
                timeout=5,
            ).text
            if exemplar.search(om) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert exemplar.search(om), om
        # The reference parser (strict) reads the exemplar too.
        bucket = next(
            s
            for f in parse_om(om)
            if f.name == "squall_http_request_duration_seconds"
            for s in f.samples
            if s.name.endswith("_bucket") and s.labels["le"] == "0.5"
        )
        assert bucket.exemplar.labels == {"trace_id": trace_id}
        assert 0.3 <= bucket.exemplar.value <= 0.5
        assert re.search(
            r'^django_http_requests_latency_seconds_by_view_method_bucket\{view="slow",'
            r'method="GET",le="0\.5"\} \d+ # \{trace_id="' + trace_id + '"}',
            om,
            re.MULTILINE,
        ), om

        started = time.time()
        with start_prometheus(
            tmp_path / "prom", [f"127.0.0.1:{server.probe_port}"], exemplars=True
        ) as prom:
            prom.scrapes_after(started)
            found: dict[str, set[str]] = {}
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                found = {}
                for series in prom.exemplars(
                    "squall_http_request_duration_seconds_bucket"
                    " or django_http_requests_latency_seconds_by_view_method_bucket",
                    started - 60,
                ):
                    name = series["seriesLabels"]["__name__"]
                    for e in series["exemplars"]:
                        found.setdefault(name, set()).add(e["labels"]["trace_id"])
                if len(found) == 2:
                    break
                time.sleep(0.2)
    assert trace_id in found.get("squall_http_request_duration_seconds_bucket", set()), found
    assert trace_id in found.get(
        "django_http_requests_latency_seconds_by_view_method_bucket", set()
    ), found
