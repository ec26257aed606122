"""A small Django project for tests/test_static_files.py (settings and URLs).

The directories come from the environment, so each test module gets its own:
STATIC_TEST_ROOT (STATIC_ROOT), MEDIA_TEST_ROOT (MEDIA_ROOT), STATIC_TEST_DIRS
(STATICFILES_DIRS: "dir" or "prefix=dir", comma-separated), STATIC_TEST_DEBUG
(1: DEBUG on). Every URL the engine does not answer reaches `echo`, which
says so: a test can tell a file from a request that fell through to Django.
"""

import os

from django.http import HttpResponse
from django.urls import re_path

SECRET_KEY = "static-files-tests"
DEBUG = os.environ.get("STATIC_TEST_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles", "static_test_app"]
ROOT_URLCONF = "static_settings"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_TEST_ROOT") or None
MEDIA_URL = "media/"
MEDIA_ROOT = os.environ.get("MEDIA_TEST_ROOT", "")
STATICFILES_DIRS = [
    tuple(item.split("=", 1)) if "=" in item else item
    for item in os.environ.get("STATIC_TEST_DIRS", "").split(",")
    if item
]


def echo(request, path=""):
    return HttpResponse(f"django: {request.method} {request.path}", content_type="text/plain")


urlpatterns = [re_path(r"^(?P<path>.*)$", echo)]
WSGI_APPLICATION = "static_wsgi.application"
