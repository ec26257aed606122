"""Demo settings plus tests/apps/amqp_test_app, on the SQLite file $AMQP_TEST_DB
(the AMQP consumer tests run `manage.py consume` with these)."""

import os

from demo.settings import *  # noqa: F403
from demo.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "amqp_test_app"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["AMQP_TEST_DB"],
        "OPTIONS": {"timeout": 30},
    }
}
