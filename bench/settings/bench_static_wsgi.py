"""WSGI application of bench_static_settings (bench/static.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_static_settings")
application = get_wsgi_application()
