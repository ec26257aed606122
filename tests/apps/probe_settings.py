"""Demo settings for the startup-phase and health-probe tests (tests run them
as real servers): the database and the HEALTH_CHECK subsets come from the
environment, so one settings module serves every test.

SQUALL_TEST_DATABASE: a JSON Django DATABASES entry (default: a SQLite file
$DEMO_TEST_DB). SQUALL_TEST_SUBSETS: JSON HEALTH_CHECK["SUBSETS"].
"""

import json
import os

from demo.settings import *  # noqa: F403

if "SQUALL_TEST_DATABASE" in os.environ:
    DATABASES = {"default": json.loads(os.environ["SQUALL_TEST_DATABASE"])}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DEMO_TEST_DB"]}
    }

HEALTH_CHECK = {"SUBSETS": json.loads(os.environ.get("SQUALL_TEST_SUBSETS", "{}")), "TIMEOUT": 2.0}
SQUALL_VERSION = "1.2.3-test"

if "SQUALL_TEST_FLAG_DIR" in os.environ:
    import probe_checks  # noqa: F401  (registers the system checks)
