"""The WSGI application of tests/apps/static_settings.py (``squall static_wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "static_settings")
application = get_wsgi_application()
