"""Shared pytest configuration.

Real servers: the session-scoped fixtures `postgres`, `redis_server` and
`rabbitmq` each start one private instance (tests/realservers.py) the first
time a test asks for it and stop it at the end of the session. They are
shared by every test of the session, so a test that stops a shared instance
(to check how something reacts to an outage) must start it again before it
returns, in a `finally:`; or it starts a private instance of its own with
tests/realservers.py.
"""

# Django: the Django-level tests (pytest-django, Django's test Client) run
# against the demo project in examples/demo. Put it on sys.path and default
# DJANGO_SETTINGS_MODULE to its settings (--ds or an exported
# DJANGO_SETTINGS_MODULE still win). pytest-django only sets Django up by
# itself when it knows the settings module before this file is imported, so
# set it up here; pytest-django then finishes its own configuration as usual.
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.apps import apps
from realservers import Postgres, RabbitMQ, Redis, start_postgres, start_rabbitmq, start_redis

DEMO_DIR = Path(__file__).resolve().parent.parent / "examples" / "demo"
if str(DEMO_DIR) not in sys.path:
    sys.path.insert(0, str(DEMO_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
if not apps.ready:
    django.setup()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with start_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    with start_rabbitmq(tmp_path_factory.mktemp("rabbitmq")) as server:
        yield server
