"""The demo project's settings (examples/demo), for tests/test_django_serve.py.

Two changes: the SQLite database is the file $DEMO_TEST_DB (a temporary one, so
tests never touch examples/demo/db.sqlite3), and the WSGI application is
loaded through demo_test_wsgi, which records each load.
"""

import os

from demo.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DEMO_TEST_DB"],
    }
}

WSGI_APPLICATION = "demo_test_wsgi.application"
