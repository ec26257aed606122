"""The project as a django-prometheus 2.5.0 user sets it up: its app, its two
middlewares, its database engine and cache backends, its model mixin; its
metrics exported on their own port (PROMETHEUS_METRICS_EXPORT_PORT), so a
scrape is not a request of the project."""

import os

from promparity.settings_common import *  # noqa: F403
from promparity.settings_common import CACHES, DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_prometheus"]
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"
CACHES["default"]["BACKEND"] = "django_prometheus.cache.backends.locmem.LocMemCache"
CACHES["files"]["BACKEND"] = "django_prometheus.cache.backends.filebased.FileBasedCache"
PROMETHEUS_METRICS_EXPORT_PORT = int(os.environ.get("PARITY_DP_METRICS_PORT", "0")) or None
PROMETHEUS_METRICS_EXPORT_ADDRESS = "127.0.0.1"
PARITY_MODEL_MIXIN = "django_prometheus.models.ExportModelOperationsMixin"
