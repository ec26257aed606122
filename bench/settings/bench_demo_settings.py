"""The demo's settings with the database moved to the runner's private copy.

``bench/run.py`` migrates a fresh SQLite file per run and points
``BENCH_DEMO_DB`` at it, so benchmarks never touch (or race on)
``examples/demo/db.sqlite3``. Everything else is the demo's own settings, for
every server alike. Importable as a top-level module: the runner puts
``bench/settings`` and ``examples/demo`` on ``PYTHONPATH``.
"""

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The demo lists "squall" in INSTALLED_APPS. Prefer the installed package (the
# one with the built engine); fall back to the source tree, appended after
# site-packages so it can never shadow an installed build.
if importlib.util.find_spec("squall") is None:
    sys.path.append(str(REPO))

from demo.settings import *  # noqa: E402,F403
from demo.settings import DATABASES  # noqa: E402

DATABASES = {
    **DATABASES,
    "default": {
        **DATABASES["default"],
        "NAME": os.environ.get("BENCH_DEMO_DB", DATABASES["default"]["NAME"]),
    },
}
