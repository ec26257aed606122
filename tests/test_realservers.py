"""tests/realservers.py: each private server answers a real client, refuses
connections once stopped and answers again once started (same port)."""

from __future__ import annotations

from pathlib import Path

import amqp
import psycopg
import pytest
import redis
from realservers import Postgres, RabbitMQ, Redis, port_accepts, start_postgres


def select_one(pg: Postgres) -> int:
    with psycopg.connect(**pg.conninfo()) as conn:
        row = conn.execute("SELECT 1").fetchone()
    assert row is not None
    return int(row[0])


def test_postgres_answers_stops_and_starts_again(postgres: Postgres) -> None:
    assert select_one(postgres) == 1
    assert postgres.django_database()["NAME"] == "squall_test"
    try:
        postgres.stop()
        assert not postgres.is_running()
        with pytest.raises(psycopg.OperationalError, match="refused"):
            select_one(postgres)
    finally:
        postgres.start()
    assert postgres.is_running()
    assert select_one(postgres) == 1


def test_postgres_rejects_a_wrong_password(postgres: Postgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**{**postgres.conninfo(), "password": "wrong"})


def test_two_postgres_clusters_in_one_session(postgres: Postgres, tmp_path: Path) -> None:
    with start_postgres(tmp_path) as second:
        assert second.port != postgres.port
        assert select_one(second) == 1
        assert select_one(postgres) == 1
        root = second.root
    assert not root.exists()  # close() removed the cluster
    assert select_one(postgres) == 1


def ping(server: Redis) -> bool:
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_redis_answers_stops_and_starts_again(redis_server: Redis) -> None:
    assert ping(redis_server)
    try:
        redis_server.stop()
        assert not redis_server.is_running()
        with pytest.raises(redis.ConnectionError):
            ping(redis_server)
    finally:
        redis_server.start()
    assert ping(redis_server)


def amqp_connects(mq: RabbitMQ) -> bool:
    conn = amqp.Connection(
        host=f"{mq.host}:{mq.port}",
        userid=mq.user,
        password=mq.password,
        virtual_host=mq.vhost,
        connect_timeout=5,
    )
    conn.connect()
    try:
        return bool(conn.connected)
    finally:
        conn.close()


def test_rabbitmq_answers_stops_and_starts_again(rabbitmq: RabbitMQ) -> None:
    assert rabbitmq.url == f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}//"
    assert amqp_connects(rabbitmq)
    try:
        rabbitmq.stop()
        assert not rabbitmq.is_running()
        assert not port_accepts(rabbitmq.port)
        with pytest.raises(ConnectionRefusedError):
            amqp_connects(rabbitmq)
    finally:
        rabbitmq.start()
    assert amqp_connects(rabbitmq)
