"""The demo project (examples/demo) with OpenTelemetry: Django's own
instrumentation (opentelemetry-instrumentation-django, in tracing_wsgi.py,
before the application is loaded: it adds a middleware) and the SDK set up
in each worker by --tracing-setup tracing_setup.setup (tests/test_tracing.py)."""

import os

from demo.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DEMO_TEST_DB"],
    }
}
WSGI_APPLICATION = "tracing_wsgi.application"
ASGI_APPLICATION = "tracing_asgi.application"
