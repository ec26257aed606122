"""One small project served twice by tests/test_prometheus_parity.py: by
gunicorn with the real django-prometheus 2.5.0 (settings_dp) and by Squall
with its own metrics (settings_squall). Only the instrumentation differs."""

import os

SECRET_KEY = "parity"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "promparity.parity_app.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "promparity.parity_app"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["PARITY_DB"]},
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "files": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ["PARITY_CACHE_DIR"],
    },
    # No django-prometheus backend for it: counted by Squall only.
    "dbcache": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache"},
}
PROMETHEUS_EXPORT_MIGRATIONS = True
LOGGING = {"version": 1, "disable_existing_loggers": False}
