# Shared pytest configuration.
#
# Django: the Django-level tests (pytest-django, Django's test Client) run
# against the demo project in examples/demo. Put it on sys.path and default
# DJANGO_SETTINGS_MODULE to its settings (--ds or an exported
# DJANGO_SETTINGS_MODULE still win). pytest-django only sets Django up by
# itself when it knows the settings module before this file is imported, so
# set it up here; pytest-django then finishes its own configuration as usual.
import os
import sys
from pathlib import Path

import django
from django.apps import apps

DEMO_DIR = Path(__file__).resolve().parent.parent / "examples" / "demo"
if str(DEMO_DIR) not in sys.path:
    sys.path.insert(0, str(DEMO_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
if not apps.ready:
    django.setup()
