"""Settings for the Squall demo project.

A small Django 5.2 project on SQLite used by the README (``make demo``), the
test suite and the benchmarks. Not meant for production: see the SECRET_KEY
and DEBUG notes below.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# SECURITY WARNING: the default below is an INSECURE development key, public in
# this repository. Set DJANGO_SECRET_KEY for anything reachable by others.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY",
    "django-insecure-squall-demo-dev-key-do-not-use-in-production",
)

# DJANGO_DEBUG=1 turns debug on; anything else (default "0") leaves it off.
DEBUG = os.environ.get("DJANGO_DEBUG", "0").strip().lower() in ("1", "true", "yes", "on")

ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "squall",
    "components",
]

# django-prometheus' families (docs/metrics.md): Before first, After last.
MIDDLEWARE = [
    "squall.metrics.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "squall.metrics.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "demo.urls"

# manage.py serve --asgi: Django for HTTP, the Channels chat consumer for
# WebSockets. The in-memory channel layer reaches the clients of one worker
# process; with CHANNELS_REDIS_URL in the environment, Redis (every worker,
# every pod).
ASGI_APPLICATION = "demo.asgi.application"
if os.environ.get("CHANNELS_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["CHANNELS_REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "demo.wsgi.application"
ASGI_APPLICATION = "demo.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Health checks behind the probes (docs/health-checks.md, docs/probes.md): the
# checker process runs the "readiness" subset every --check-interval seconds;
# /health/<subset>/ runs a subset on request. The demo's database is a local
# SQLite file, not a dependency shared by every pod, so it may gate readiness;
# liveness checks only the process itself (nothing configured here).
HEALTH_CHECK = {
    "SUBSETS": {
        "readiness": [
            "squall.health.backends.database.DatabaseBackend",
            "squall.health.backends.migrations.MigrationsBackend",
        ],
    },
}
