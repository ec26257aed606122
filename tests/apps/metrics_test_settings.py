"""The demo project (examples/demo) with Squall's metrics middlewares, as a
django-prometheus user would place them: first and last in MIDDLEWARE.
The SQLite database is the file $DEMO_TEST_DB (tests/test_metrics.py)."""

import os

from demo.settings import *  # noqa: F403
from demo.settings import MIDDLEWARE

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DEMO_TEST_DB"],
    }
}

MIDDLEWARE = [
    "squall.metrics.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "squall.metrics.PrometheusAfterMiddleware",
]
