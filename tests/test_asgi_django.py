"""``manage.py serve --asgi`` on the demo project (examples/demo), over real HTTP.

Django's own ASGI handler (get_asgi_application()): async views, sync views
(run by asgiref in Django's thread-sensitive executor), the request body,
server-sent events from an async iterator arriving one by one, and the
django-prometheus families counted by Squall's metrics middlewares; the
demo's Channels chat consumer, with the in-memory layer and with Redis.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import serverproc
from realservers import Redis
from serverproc import DEMO_DIR, ServerProcess, probe, run_server, wait_for
from websockets.sync.client import ClientConnection, connect


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("demo-asgi")
    return serverproc.demo_env(tmp, "metrics_test_settings")


@pytest.fixture(scope="module")
def demo(demo_env: dict[str, str]) -> Iterator[ServerProcess]:
    argv = ["manage.py", "serve", "--asgi", "--workers", "1", "--shutdown-delay", "0"]
    with run_server(argv, cwd=DEMO_DIR, env=demo_env) as server:
        wait_for(server, "/startup", 200)
        yield server


def counter(server: ServerProcess, name: str, **labels: str) -> float:
    """The sum of the series of `name` whose labels include `labels`."""
    total = 0.0
    for line in probe(server, "/metrics")[1].splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_worker_runs_the_asgi_application(demo: ServerProcess) -> None:
    assert "(ASGI, uvloop loop)" in demo.log()
    assert "does not support lifespan" in demo.log()  # Django's handler: http only


def test_async_view_with_the_async_orm(demo: ServerProcess) -> None:
    response = httpx.get(demo.url + "/async")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Hello, async World!"
    assert len(body["components"]) > 0


def test_sync_views_and_the_request_body(demo: ServerProcess) -> None:
    assert httpx.get(demo.url + "/").text == "Hello, World!"
    assert httpx.get(demo.url + "/db").json()["components"]
    payload = bytes(range(256)) * 2048
    response = httpx.post(
        demo.url + "/echo", content=payload, headers={"Content-Type": "application/x-test"}
    )
    assert response.content == payload
    assert response.headers["content-type"] == "application/x-test"
    assert response.headers["content-length"] == str(len(payload))


def test_server_sent_events_arrive_one_by_one(demo: ServerProcess) -> None:
    started = time.monotonic()
    arrivals = []
    with httpx.stream("GET", demo.url + "/events?n=3&ms=700") as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        buffer = b""
        for chunk in response.iter_raw():
            buffer += chunk
            while b"\n\n" in buffer:
                event, _, buffer = buffer.partition(b"\n\n")
                arrivals.append((time.monotonic() - started, event))
    assert [e for _, e in arrivals] == [b"id: %d\ndata: event %d" % (i, i) for i in range(3)]
    # The first event is there long before the last is produced (1.4 s later).
    assert arrivals[0][0] < 0.6, arrivals
    assert arrivals[2][0] - arrivals[0][0] > 1.2, arrivals


def test_django_prometheus_families_count_asgi_requests(demo: ServerProcess) -> None:
    by_view = "django_http_requests_total_by_view_transport_method_total"
    before = counter(demo, by_view, view="async", method="GET")
    for _ in range(3):
        assert httpx.get(demo.url + "/async").status_code == 200
    assert counter(demo, by_view, view="async", transport="http", method="GET") == before + 3
    assert counter(demo, "django_http_responses_total_by_status_view_method_total", view="async",
                   status="200") >= 3  # fmt: skip
    text = probe(demo, "/metrics")[1]
    assert re.search(r'^django_http_requests_latency_seconds_by_view_method_count\{[^}]*'
                     r'view="async"[^}]*\} [1-9]', text, re.MULTILINE)  # fmt: skip


def test_squall_asgi_from_the_environment(demo_env: dict[str, str], tmp_path: Path) -> None:
    argv = ["manage.py", "serve", "--workers", "1", "--loop", "asyncio"]
    with run_server(argv, cwd=DEMO_DIR, env={**demo_env, "SQUALL_ASGI": "1"}) as server:
        assert httpx.get(server.url + "/async").json()["message"] == "Hello, async World!"
        assert "(ASGI, asyncio loop)" in server.log()


# ---- Channels: the demo's chat consumer ------------------------------------------------


def chat(server: ServerProcess, room: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{server.port}/ws/chat/{room}/")


def test_channels_chat_room_in_memory(demo: ServerProcess) -> None:
    with chat(demo, "lobby") as alice, chat(demo, "lobby") as bob, chat(demo, "other") as eve:
        # The consumer joins its group before it accepts: once connected, it is in.
        alice.send(json.dumps({"message": "hi bob"}))
        assert json.loads(bob.recv(timeout=5)) == {"message": "hi bob"}
        assert json.loads(alice.recv(timeout=5)) == {"message": "hi bob"}
        with pytest.raises(TimeoutError):
            eve.recv(timeout=0.3)  # another room hears nothing


def test_channels_chat_across_pods_with_the_redis_layer(
    demo_env: dict[str, str], redis_server: Redis
) -> None:
    # Two servers (two pods) sharing a real Redis: a message from a client of
    # one reaches a client of the other, which no in-memory layer could do.
    env = {**demo_env, "CHANNELS_REDIS_URL": redis_server.url}
    argv = ["manage.py", "serve", "--asgi", "--workers", "1", "--shutdown-delay", "0"]
    with (
        run_server(argv, cwd=DEMO_DIR, env=env) as pod_a,
        run_server(argv, cwd=DEMO_DIR, env=env) as pod_b,
    ):
        wait_for(pod_a, "/startup", 200)
        wait_for(pod_b, "/startup", 200)
        with chat(pod_a, "redis-room") as alice, chat(pod_b, "redis-room") as bob:
            alice.send(json.dumps({"message": "across pods"}))
            assert json.loads(bob.recv(timeout=5)) == {"message": "across pods"}
            bob.send(json.dumps({"message": "and back"}))
            assert json.loads(alice.recv(timeout=5)) == {"message": "across pods"}
            assert json.loads(alice.recv(timeout=5)) == {"message": "and back"}
