"""The WSGI application of tests/apps/manifest_settings.py (``squall manifest_wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "manifest_settings")
application = get_wsgi_application()
