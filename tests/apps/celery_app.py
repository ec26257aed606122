"""A Celery app for tests/test_health_backends_services.py, with Squall's heartbeat step.

The worker runs as ``python -m celery -A celery_app worker --pool solo`` in
tests/apps; the broker is $SQUALL_TEST_CELERY_BROKER (the test's private
Redis). No Django here: the heartbeat settings come from the environment.
"""

import os

from celery import Celery

from squall.health.celery_heartbeat import HeartbeatStep

app = Celery("squall_test_celery")
app.conf.broker_url = os.environ.get("SQUALL_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/0")
app.conf.broker_connection_retry_on_startup = True
app.steps["worker"].add(HeartbeatStep)


@app.task
def add(x: int, y: int) -> int:
    return x + y
