"""bench/amqp.py: the AMQP tests' settings (tests/apps/amqp_settings.py: the demo
plus amqp_test_app on $AMQP_TEST_DB), with ``hurricane`` first when
$BENCH_AMQP_HURRICANE is set (both ship a ``consume`` command; Django takes the
first app's)."""

import os

from amqp_settings import *  # noqa: F403
from amqp_settings import INSTALLED_APPS

if os.environ.get("BENCH_AMQP_HURRICANE"):
    INSTALLED_APPS = ["hurricane", *INSTALLED_APPS]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"hurricane": {"level": "WARNING"}, "pika": {"level": "WARNING"}},
}
