"""A Django project with ManifestStaticFilesStorage whose app reads the manifest
in ready() (tests/apps/manifest_test_app), for tests/test_startup_phase.py.

STATIC_ROOT is $MANIFEST_TEST_ROOT. The page ``/`` answers the hashed URL of
manifest_test_app/site.css (a 500 when the manifest the process read has no
entry for it, as every page of such a site is).
"""

import os

from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse
from django.urls import path

SECRET_KEY = "manifest-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles", "squall", "manifest_test_app"]
ROOT_URLCONF = "manifest_settings"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = os.environ["MANIFEST_TEST_ROOT"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}


def page(request):
    return HttpResponse(staticfiles_storage.url("manifest_test_app/site.css"))


urlpatterns = [path("", page)]
