"""Redis, RabbitMQ and Celery health-check backends against real servers.

The servers are the session's private instances (tests/realservers.py);
tests that stop one start it again in a `finally:`. The Celery worker is a
real `celery worker` process (tests/apps/celery_app.py) on the test's Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from polling import wait_for
from realservers import RabbitMQ, Redis, free_port
from serverproc import APPS_DIR

from squall.health.backends.base import (
    BaseHealthCheckBackend,
    ServiceUnavailable,
    ServiceWarning,
)
from squall.health.backends.celery import CeleryHeartbeatBackend, CeleryPingBackend
from squall.health.backends.rabbitmq import RabbitMQBackend
from squall.health.backends.redis import RedisBackend

REPO = Path(__file__).resolve().parent.parent


def errors(backend: BaseHealthCheckBackend) -> list[str]:
    backend.run_check()
    return [str(e) for e in backend.errors]


def only_error(backend: BaseHealthCheckBackend) -> Any:
    backend.run_check()
    assert len(backend.errors) == 1, backend.errors
    return backend.errors[0]


# --------------------------------------------------------------------------- Redis


def test_redis_up_stopped_and_restarted(redis_server: Redis) -> None:
    backend = RedisBackend(url=redis_server.url, socket_timeout=1)
    assert backend.identifier() == f"RedisBackend[127.0.0.1:{redis_server.port}]"
    assert errors(backend) == []
    try:
        redis_server.stop()
        started = time.monotonic()
        error = only_error(backend)
        assert time.monotonic() - started < 1.0  # refused at once, no retries with backoff
        assert isinstance(error, ServiceUnavailable)
        assert f"127.0.0.1:{redis_server.port}" in str(error)
        assert "refused" in str(error).lower()
    finally:
        redis_server.start()
    assert errors(backend) == []


def test_redis_url_from_settings_and_password_never_shown(redis_server: Redis) -> None:
    import redis

    with override_settings(REDIS_URL=redis_server.url):
        assert errors(RedisBackend()) == []
    # A user with a password (an ACL user, so the shared server's default
    # user stays open): the right password works, a wrong one is reported,
    # and neither the identifier nor the message shows a password.
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser("probe", enabled=True, passwords=["+s3cret-pw"], commands=["+ping"])
    try:
        good = RedisBackend(url=f"redis://probe:s3cret-pw@127.0.0.1:{redis_server.port}/0")
        assert errors(good) == []
        assert "s3cret" not in good.identifier()
        bad = RedisBackend(url=f"redis://probe:wrong-pw@127.0.0.1:{redis_server.port}/0")
        error = only_error(bad)
        assert isinstance(error, ServiceUnavailable)
        assert "authentication failed" in str(error)
        assert "wrong-pw" not in str(error) and "wrong-pw" not in bad.identifier()
    finally:
        admin.acl_deluser("probe")
        admin.close()


def test_redis_without_url_is_unavailable() -> None:
    with override_settings(REDIS_URL=None):
        assert "REDIS_URL" in str(only_error(RedisBackend()))


# --------------------------------------------------------------------------- RabbitMQ


def amqp_url(mq: RabbitMQ, user: str = "guest", password: str = "guest", vhost: str = "/") -> str:
    from urllib.parse import quote

    return f"amqp://{user}:{password}@127.0.0.1:{mq.port}/{quote(vhost, safe='')}"


def test_rabbitmq_handshake_ok(rabbitmq: RabbitMQ) -> None:
    backend = RabbitMQBackend(url=rabbitmq.url)
    assert errors(backend) == []
    assert backend.identifier() == f"RabbitMQBackend[127.0.0.1:{rabbitmq.port}//]"
    with override_settings(BROKER_URL=None, CELERY_BROKER_URL=amqp_url(rabbitmq)):
        assert errors(RabbitMQBackend()) == []
    with override_settings(BROKER_URL=rabbitmq.url):
        assert errors(RabbitMQBackend()) == []
    # No credentials, no vhost: Celery's defaults guest/guest and "/".
    assert errors(RabbitMQBackend(url=f"amqp://127.0.0.1:{rabbitmq.port}")) == []


def test_rabbitmq_wrong_password(rabbitmq: RabbitMQ) -> None:
    backend = RabbitMQBackend(url=amqp_url(rabbitmq, password="wrong-pw"))
    error = only_error(backend)
    assert isinstance(error, ServiceUnavailable)
    assert "authentication as user 'guest'" in str(error)
    assert "403 ACCESS_REFUSED" in str(error)
    assert "wrong-pw" not in str(error) and "wrong-pw" not in backend.identifier()


def test_rabbitmq_wrong_vhost(rabbitmq: RabbitMQ) -> None:
    error = only_error(RabbitMQBackend(url=amqp_url(rabbitmq, vhost="no-such-vhost")))
    assert isinstance(error, ServiceUnavailable)
    assert "vhost 'no-such-vhost'" in str(error)
    assert "530 NOT_ALLOWED" in str(error)


def test_rabbitmq_stopped_and_restarted(rabbitmq: RabbitMQ) -> None:
    backend = RabbitMQBackend(url=rabbitmq.url)
    try:
        rabbitmq.stop()
        error = only_error(backend)
        assert isinstance(error, ServiceUnavailable)
        assert str(error) == f"unavailable: 127.0.0.1:{rabbitmq.port}//: connection refused"
    finally:
        rabbitmq.start()
    assert errors(backend) == []


def test_rabbitmq_silent_server_times_out() -> None:
    # A real listening socket that never answers (the kernel accepts the
    # connection into the backlog, nobody reads): each step is bounded.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        backend = RabbitMQBackend(url=f"amqp://127.0.0.1:{port}//", socket_timeout=0.5)
        started = time.monotonic()
        error = only_error(backend)
        assert time.monotonic() - started < 2.0
    assert str(error) == f"unavailable: 127.0.0.1:{port}//: no answer within 0.5 s"


def test_rabbitmq_not_an_amqp_url() -> None:
    error = only_error(RabbitMQBackend(url="redis://127.0.0.1:6379/0"))
    assert "not an AMQP URL" in str(error)


# --------------------------------------------------------------------------- Celery


@pytest.fixture
def celery_app(redis_server: Redis) -> Iterator[Any]:
    """tests/apps/celery_app.py's app on the session's Redis, as celery.current_app."""
    if str(APPS_DIR) not in sys.path:
        sys.path.insert(0, str(APPS_DIR))
    import celery_app as module

    app = module.app
    app.conf.broker_url = redis_server.url
    app.set_current()
    yield app
    app.pool.force_close_all()


def start_worker(broker_url: str, heartbeat: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(APPS_DIR)]),
        "SQUALL_TEST_CELERY_BROKER": broker_url,
        "SQUALL_CELERY_HEARTBEAT_FILE": str(heartbeat),
        "SQUALL_CELERY_HEARTBEAT_INTERVAL": "0.2",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the worker runs without Django
    argv = [
        sys.executable, "-m", "celery", "-A", "celery_app", "worker",
        "--pool", "solo", "--loglevel", "INFO", "--hostname", f"squall-test-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=APPS_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_celery_worker_ping_and_heartbeat(
    celery_app: Any, redis_server: Redis, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    log = tmp_path / "worker.log"
    ping = CeleryPingBackend(timeout=1.0)
    beat = CeleryHeartbeatBackend(path=heartbeat, max_age=5)
    worker = start_worker(redis_server.url, heartbeat, log)
    try:
        wait_for(heartbeat.exists, f"the worker's heartbeat file (log: {log})", timeout=30)
        # The heartbeat starts before the worker consumes its control queue.
        wait_for(lambda: errors(ping) == [], f"a ping answer (log: {log})", timeout=30)
        assert errors(beat) == []
        first = heartbeat.stat().st_mtime_ns
        wait_for(lambda: heartbeat.stat().st_mtime_ns > first, "a second touch", timeout=5)

        # The same app by dotted path; a queue no worker consumes is a warning.
        assert errors(CeleryPingBackend(timeout=1.0, app="celery_app.app")) == []
        warning = only_error(CeleryPingBackend(timeout=1.0, queues=["celery", "reports"]))
        assert isinstance(warning, ServiceWarning)
        assert "none consumes queue(s) reports" in str(warning)
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the step removes the file
        worker.wait(timeout=30)
    assert worker.returncode == 0, log.read_text()

    started = time.monotonic()
    error = only_error(ping)
    assert time.monotonic() - started < 1.0 + 1.0
    assert isinstance(error, ServiceUnavailable)
    assert "no Celery worker answered a ping within 1 s" in str(error)
    assert not heartbeat.exists()
    assert "missing" in str(only_error(beat))


def test_celery_ping_broker_down(celery_app: Any) -> None:
    from celery import Celery

    app = Celery("squall_test_down", broker=f"redis://127.0.0.1:{free_port()}/0",
                 set_as_current=False)  # fmt: skip
    started = time.monotonic()
    error = only_error(CeleryPingBackend(timeout=1.0, app=app))
    assert time.monotonic() - started < 1.0  # one attempt, no retry backoff
    assert isinstance(error, ServiceUnavailable)
    assert "unreachable" in str(error)


def test_celery_heartbeat_stale_file(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    old = time.time() - 120
    os.utime(heartbeat, (old, old))
    error = only_error(CeleryHeartbeatBackend(path=heartbeat, max_age=60))
    assert isinstance(error, ServiceUnavailable)
    assert "last touched 120" in str(error) and "max_age 60 s" in str(error)
    with override_settings(SQUALL_CELERY_HEARTBEAT_FILE=str(heartbeat)):
        heartbeat.touch()
        assert errors(CeleryHeartbeatBackend()) == []
