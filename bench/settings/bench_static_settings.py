"""The smallest Django project that serves STATIC_ROOT, for bench/static.py.

STATIC_ROOT is $BENCH_STATIC_ROOT. WhiteNoise's middleware is installed for the
gunicorn + WhiteNoise row; Squall's --static answers before Django is reached,
so the same settings serve both. Importable as a top-level module: the runner
puts bench/settings on PYTHONPATH.
"""

import os

SECRET_KEY = "bench-static"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles"]
MIDDLEWARE = ["whitenoise.middleware.WhiteNoiseMiddleware"]
ROOT_URLCONF = "bench_static_settings"
DATABASES: dict[str, dict[str, str]] = {}
STATIC_URL = "static/"
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
USE_TZ = True
urlpatterns: list[object] = []
