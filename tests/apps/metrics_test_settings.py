"""The demo project (examples/demo), whose MIDDLEWARE has Squall's metrics
middlewares first and last, as a django-prometheus user places them. The
SQLite database is the file $DEMO_TEST_DB (tests/test_metrics.py)."""

import os

from demo.settings import *  # noqa: F403
from demo.settings import MIDDLEWARE

assert MIDDLEWARE[0] == "squall.metrics.PrometheusBeforeMiddleware"
assert MIDDLEWARE[-1] == "squall.metrics.PrometheusAfterMiddleware"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DEMO_TEST_DB"],
    }
}
