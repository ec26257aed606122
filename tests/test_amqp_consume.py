"""`manage.py consume HANDLER` against a real RabbitMQ (docs/amqp.md).

The handler (tests/apps/amqp_handlers.py) writes each message to the Django
database: `Message` has one row per message id (unique), `Handled` one row
per completed on_message call, so duplicates there are redeliveries. The
consumer runs as a real process; tests wait on its probes and its database,
never on fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest
from polling import wait_for
from prometheus import promtool_check
from realservers import RabbitMQ, free_port, start_rabbitmq
from serverproc import APPS_DIR, DEMO_DIR, ServerProcess, run_server, stop_process

pytestmark = pytest.mark.skipif(
    not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists(), reason="needs rabbitmq-server"
)


@dataclass
class Consumer:
    proc: subprocess.Popen[bytes]
    probe_port: int
    log_path: Path
    db: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.probe_port}{path}"
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def status(self, path: str) -> int:
        return self.get(path)[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metric(self, name: str) -> float:
        """The sum of every sample of `name` (all label sets)."""
        body = self.get("/metrics")[1]
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )

    def rows(self, table: str) -> int:
        with sqlite3.connect(self.db, timeout=30) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM amqp_test_app_{table}").fetchone()[0])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        return stop_process(self.proc, sig, timeout)


def django_env(db: Path, flag_dir: Path) -> dict[str, str]:
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    return {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": "amqp_settings",
        "AMQP_TEST_DB": str(db),
        "AMQP_TEST_FLAG_DIR": str(flag_dir),
    }


@pytest.fixture
def database(tmp_path: Path) -> Path:
    db = tmp_path / "db.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=DEMO_DIR, env=django_env(db, tmp_path), check=True,
    )  # fmt: skip
    return db


@contextmanager
def consumer(
    db: Path, port: int, *options: str, handler: str = "amqp_handlers.RecordHandler", **env: str
) -> Iterator[Consumer]:
    probe_port = free_port()
    argv = [
        "manage.py", "consume", handler,
        "--amqp-host", "127.0.0.1", "--amqp-port", str(port), "--probe-port", str(probe_port),
        *options,
    ]  # fmt: skip

    def started(server: ServerProcess) -> None:
        c = Consumer(server.proc, probe_port, server.log_path, db)
        wait_for(lambda: c.status("/alive") or c.proc.poll() is not None, "the probe port", 30)

    with run_server(
        argv, cwd=DEMO_DIR, env={**django_env(db, db.parent), **env}, listen=False,
        probe_port=probe_port, ready=started,
    ) as server:  # fmt: skip
        yield Consumer(server.proc, probe_port, server.log_path, db)


def publish(rabbit: RabbitMQ, exchange: str, messages: list[dict], key: str = "orders.created",
            **props: object) -> None:  # fmt: skip
    """Persistent messages, with publisher confirms: each is in the broker on return."""
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbit.port))
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        for m in messages:
            channel.basic_publish(
                exchange, key, json.dumps(m).encode(),
                pika.BasicProperties(delivery_mode=2, message_id=str(m["id"]), **props),
            )  # fmt: skip
    finally:
        conn.close()


def declare(rabbit: RabbitMQ, exchange: str, queue: str, *keys: str, **arguments: object) -> None:
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbit.port))
    try:
        channel = conn.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(queue, durable=True, arguments=arguments or None)
        for key in keys:
            channel.queue_bind(queue, exchange, key)
    finally:
        conn.close()


def queue_depth(rabbit: RabbitMQ, queue: str) -> int:
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbit.port))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


def duplicates(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute(
                "SELECT COUNT(*) - COUNT(DISTINCT message_id) FROM amqp_test_app_handled"
            ).fetchone()[0]
        )


def test_10000_messages_are_each_handled_exactly_once(rabbitmq: RabbitMQ, database: Path) -> None:
    with consumer(database, rabbitmq.port, "--queue", "q-10k", "--exchange", "ex-10k") as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        assert c.status("/ready") == 200
        publish(rabbitmq, "ex-10k", [{"id": i} for i in range(5000)], key="orders.created")
        publish(rabbitmq, "ex-10k", [{"id": i} for i in range(5000, 10000)], key="audit.x.y")
        publish(rabbitmq, "ex-10k", [{"id": "ignored"}], key="other.key")  # not bound
        wait_for(lambda: c.rows("message") >= 10000, "10,000 rows", 180)
        wait_for(lambda: c.metric("squall_amqp_messages_acked_total") >= 10000, "acks", 10)
        assert c.rows("message") == 10000
        assert c.rows("handled") == 10000  # no message handled twice
        assert duplicates(database) == 0
        assert c.metric("squall_amqp_messages_received_total") == 10000
        assert c.metric("squall_amqp_messages_nacked_total") == 0
        assert c.metric("squall_amqp_handler_duration_seconds_count") == 10000
        body = c.get("/metrics")[1]
        assert 'squall_amqp_messages_acked_total{routing_key="audit.x.y"} 5000' in body
        assert 'squall_amqp_connection_state{state="consuming"} 1' in body
        assert "squall_amqp_connected 1" in body
        assert "squall_amqp_reconnects_total 0" in body
        check = promtool_check(body)
        assert check.returncode == 0, check.stdout + check.stderr
        assert c.stop() == 0
    assert queue_depth(rabbitmq, "q-10k") == 0  # all acked, nothing left behind
    assert "channel and connection closed" in c.log()


def test_properties_and_a_failing_handler(rabbitmq: RabbitMQ, database: Path) -> None:
    with consumer(database, rabbitmq.port, "--queue", "q-props", "--exchange", "ex-props") as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        publish(rabbitmq, "ex-props", [{"id": "p1"}], content_type="application/json",
                headers={"x-test": "hello"})  # fmt: skip
        # Raises on its first delivery: nacked, requeued, handled on redelivery.
        publish(rabbitmq, "ex-props", [{"id": "f1", "fail": "once"}])
        wait_for(lambda: c.rows("message") == 2, "both messages", 30)
        with sqlite3.connect(database) as conn:
            row = conn.execute(
                "SELECT routing_key, content_type, header FROM amqp_test_app_message "
                "WHERE message_id = 'p1'"
            ).fetchone()
            assert row == ("orders.created", "application/json", "hello")
            redelivered = conn.execute(
                "SELECT redelivered FROM amqp_test_app_handled WHERE message_id = 'f1'"
            ).fetchall()
        assert redelivered == [(1,)]
        assert c.metric("squall_amqp_messages_failed_total") == 1
        assert c.metric("squall_amqp_messages_nacked_total") == 1
        assert c.metric("squall_amqp_messages_acked_total") == 2
        assert "on_message failed for delivery" in c.log()
        assert "RuntimeError: handler failure for f1" in c.log()


def test_failures_are_dead_lettered_with_a_dead_letter_exchange(
    rabbitmq: RabbitMQ, database: Path
) -> None:
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbitmq.port))
    channel = conn.channel()
    channel.exchange_declare("dlx-1", "fanout", durable=True)
    channel.queue_declare("dead-1", durable=True)
    channel.queue_bind("dead-1", "dlx-1")
    conn.close()
    options = ("--queue", "q-dlx", "--exchange", "ex-dlx", "--dead-letter-exchange", "dlx-1")
    with consumer(database, rabbitmq.port, *options) as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        publish(rabbitmq, "ex-dlx", [{"id": "poison", "fail": "always"}, {"id": "good"}])
        wait_for(lambda: c.rows("message") == 1, "the good message", 30)
        wait_for(lambda: queue_depth(rabbitmq, "dead-1") == 1, "the poison message dead-lettered")
        assert c.metric("squall_amqp_messages_failed_total") == 1
        assert queue_depth(rabbitmq, "q-dlx") == 0


def test_a_hurricane_handler_that_acks_itself_is_acked_once(
    rabbitmq: RabbitMQ, database: Path
) -> None:
    declare(rabbitmq, "ex-hur", "q-hur", "orders.*")
    handler = "amqp_handlers.HurricaneStyleHandler"
    with consumer(database, rabbitmq.port, "--queue", "q-hur", handler=handler) as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        publish(rabbitmq, "ex-hur", [{"id": i} for i in range(50)])
        wait_for(lambda: c.metric("squall_amqp_messages_acked_total") == 50, "50 acks", 30)
        assert c.rows("handled") == 50
        # A second ack of a delivery tag would close the channel (PRECONDITION_FAILED).
        assert c.metric("squall_amqp_connection_losses_total") == 0
        assert c.stop() == 0
    assert queue_depth(rabbitmq, "q-hur") == 0


def test_a_handlers_print_is_in_the_log_at_once(rabbitmq: RabbitMQ, database: Path) -> None:
    # stdout is a file here, as in a container: Python would buffer a print()
    # until the process exits; the consumer writes each line at once.
    declare(rabbitmq, "ex-print", "q-print", "orders.*")
    handler = "amqp_handlers.PrintHandler"
    with consumer(database, rabbitmq.port, "--queue", "q-print", handler=handler) as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        publish(rabbitmq, "ex-print", [{"id": "p1"}])
        log = c.log_path
        wait_for(lambda: "handled message p1" in log.read_text(), "the print in the log", 30)
        assert c.stop() == 0


def test_sigterm_mid_message_finishes_and_acks_it_and_loses_nothing(
    rabbitmq: RabbitMQ, database: Path, tmp_path: Path
) -> None:
    declare(rabbitmq, "ex-term", "q-term", "orders.*")
    publish(rabbitmq, "ex-term", [{"id": "slow", "sleep": 2}])
    publish(rabbitmq, "ex-term", [{"id": i} for i in range(200)])
    with consumer(database, rabbitmq.port, "--queue", "q-term", "--prefetch", "10") as c:
        wait_for(lambda: (tmp_path / "started-slow").exists(), "the slow message started", 30)
        assert c.stop(signal.SIGTERM) == 0
    # The message being handled was finished and acked; the prefetched ones
    # went back to the queue.
    assert c.rows("message") == 1
    assert queue_depth(rabbitmq, "q-term") == 200
    assert "SIGTERM: finishing the current message" in c.log()
    with consumer(database, rabbitmq.port, "--queue", "q-term") as c:
        wait_for(lambda: c.rows("message") == 201, "every message", 60)
        assert c.stop() == 0
    assert c.rows("handled") == 201
    assert duplicates(database) == 0


def test_without_reconnect_a_missing_broker_stops_the_pod(database: Path) -> None:
    with consumer(database, free_port(), "--queue", "q") as c:
        assert c.proc.wait(timeout=30) != 0
    assert "not reconnecting (start with --reconnect to retry)" in c.log()


def test_credentials_come_from_amqp_user_and_amqp_password(
    rabbitmq: RabbitMQ, database: Path
) -> None:
    env = {"AMQP_USER": "nobody", "AMQP_PASSWORD": "wrong"}
    with consumer(database, rabbitmq.port, "--queue", "q", **env) as c:
        assert c.proc.wait(timeout=30) != 0
        assert c.status("/startup") == 0  # the pod stopped: nothing listens
    assert "login failed" in c.log()


@pytest.fixture
def private_rabbitmq(tmp_path: Path) -> Iterator[RabbitMQ]:
    with start_rabbitmq(tmp_path / "broker") as server:
        yield server


def test_probes_follow_the_broker_and_a_restart_mid_stream_loses_nothing(
    private_rabbitmq: RabbitMQ, database: Path
) -> None:
    rabbit = private_rabbitmq
    declare(rabbit, "ex-r", "q-r", "orders.*")
    rabbit.stop()
    # Started before the broker: probes say "not started" until it consumes.
    with consumer(database, rabbit.port, "--queue", "q-r", "--reconnect") as c:
        wait_for(lambda: "AMQP 127.0.0.1" in c.log(), "a failed connection attempt", 30)
        assert c.status("/startup") == 400
        assert c.status("/ready") == 400
        assert c.metric("squall_amqp_connected") == 0
        rabbit.start()
        wait_for(lambda: c.status("/startup") == 200, "startup once the broker is up", 60)
        assert c.status("/ready") == 200
        assert c.status("/alive") == 200
        assert c.metric("squall_amqp_reconnects_total") >= 1

        publish(rabbit, "ex-r", [{"id": i} for i in range(3000)])
        wait_for(lambda: c.rows("message") >= 300, "some messages handled", 60)
        rabbit.stop()
        wait_for(lambda: c.status("/ready") == 500, "readiness fails while disconnected", 30)
        assert c.status("/alive") == 200  # a broker outage must not restart the pod
        assert c.status("/startup") == 200
        assert c.metric("squall_amqp_connected") == 0
        rabbit.start()
        wait_for(lambda: c.status("/ready") == 200, "ready again", 60)
        wait_for(lambda: c.rows("message") == 3000, "every message after the restart", 120)
        assert c.metric("squall_amqp_connection_losses_total") >= 1
        assert c.stop() == 0
    # At-least-once: a message handled but not yet acked when the broker went
    # away is delivered again; the idempotent handler keeps one row for it.
    assert duplicates(database) <= 1
    assert queue_depth(rabbit, "q-r") == 0


def test_a_handler_past_the_timeout_is_killed_and_its_message_redelivered(
    rabbitmq: RabbitMQ, database: Path, tmp_path: Path
) -> None:
    declare(rabbitmq, "ex-stuck", "q-stuck", "orders.*")
    with consumer(database, rabbitmq.port, "--queue", "q-stuck", "--timeout", "2") as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        publish(rabbitmq, "ex-stuck", [{"id": "stuck", "sleep": 600, "once": True}])
        wait_for(lambda: (tmp_path / "started-stuck").exists(), "the handler started", 30)
        assert c.status("/alive") == 200
        # Past --timeout the master kills the consumer (SIGABRT: tracebacks in
        # the log) and starts another; the message comes back, redelivered.
        wait_for(lambda: c.rows("message") == 1, "the message handled by the new consumer", 60)
        assert "request AMQP orders.created has run for" in c.log()
        assert "Current thread" in c.log() or "Thread 0x" in c.log()  # faulthandler
        with sqlite3.connect(database) as conn:
            handled = conn.execute("SELECT redelivered FROM amqp_test_app_handled").fetchall()
        assert handled == [(1,)]
        assert c.metric("squall_worker_respawns_total") >= 1
        assert c.status("/alive") == 200


def test_heartbeats_go_on_while_a_long_handler_runs(
    rabbitmq: RabbitMQ, database: Path, tmp_path: Path
) -> None:
    # The broker drops a connection silent for two heartbeat intervals (2 x 1 s).
    options = ("--queue", "q-long", "--exchange", "ex-long", "--heartbeat", "1")
    with consumer(database, rabbitmq.port, *options) as c:
        wait_for(lambda: c.status("/startup") == 200, "startup", 30)
        publish(rabbitmq, "ex-long", [{"id": "long", "sleep": 6}, {"id": "next"}])
        wait_for(lambda: c.rows("message") == 2, "both messages", 60)
        assert c.metric("squall_amqp_connection_losses_total") == 0
        assert c.metric("squall_amqp_messages_acked_total") == 2
        assert c.rows("handled") == 2
        assert "heartbeat 1 s" in c.log()
