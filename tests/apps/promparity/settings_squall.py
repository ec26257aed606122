"""The same project under Squall: "squall" installed, its two middlewares,
the stock database engine and cache backends (instrumented as they are),
Squall's model mixin."""

import os

from promparity.settings_common import *  # noqa: F403
from promparity.settings_common import CACHES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "squall"]
MIDDLEWARE = [
    "squall.metrics.PrometheusBeforeMiddleware",
    "squall.metrics.PrometheusAfterMiddleware",
]
PARITY_MODEL_MIXIN = "squall.metrics.ExportModelOperationsMixin"

# tests/test_prometheus_parity.py: django-prometheus' settings, when given.
if os.environ.get("PARITY_NAMESPACE"):
    PROMETHEUS_METRIC_NAMESPACE = os.environ["PARITY_NAMESPACE"]
if os.environ.get("PARITY_BUCKETS"):
    PROMETHEUS_LATENCY_BUCKETS = [float(b) for b in os.environ["PARITY_BUCKETS"].split(",")]
if os.environ.get("PARITY_MIGRATIONS") == "0":
    PROMETHEUS_EXPORT_MIGRATIONS = False
if os.environ.get("PARITY_REDIS_URL"):
    CACHES["redis"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["PARITY_REDIS_URL"],
        "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
    }
