"""A real project nobody here wrote: a Wagtail site (``wagtail start``'s template,
production settings: DEBUG off, ManifestStaticFilesStorage) under Squall and
under gunicorn + WhiteNoise, with the same pages, admin, static and media
files compared.

Squall runs it as a user would: ``manage.py serve --static --media --command
"collectstatic --noinput"`` on a site that was never collected, so Wagtail's
admin, which reads the static manifest, must see the one collectstatic
writes. An image is uploaded through Squall (the admin's multipart form) and
then fetched from both servers. Wagtail is in the ``bench`` extra, which
``make install`` installs; without it this module is skipped.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from polling import free_port, port_accepts
from polling import wait_for as poll
from serverproc import ServerProcess, run_server, stop_process, wait_for

pytest.importorskip("wagtail")
pytest.importorskip("gunicorn")
pytest.importorskip("whitenoise")

SETTINGS = """\
import os

from .production import *  # noqa: F403

SECRET_KEY = "squall-wagtail-test"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [*INSTALLED_APPS, "squall"]  # noqa: F405
ROOT_URLCONF = "mysite.squall_test_urls"
if os.environ.get("WAGTAIL_TEST_WHITENOISE") == "1":  # gunicorn's static files
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")  # noqa: F405
"""

# Media through Django for gunicorn (Squall's --media answers before Django).
URLS = """\
from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from mysite.urls import urlpatterns as site

urlpatterns = [
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    *site,
]
"""

PASSWORD = "squall-wagtail-pw"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new Wagtail project, migrated, with a superuser; static files not collected."""
    top = tmp_path_factory.mktemp("wagtail")
    run = {"cwd": top, "env": site_env(), "check": True, "capture_output": True, "timeout": 300}
    wagtail = "from wagtail.bin.wagtail import main; main()"
    subprocess.run([sys.executable, "-c", wagtail, "start", "mysite", str(top)], **run)
    (top / "mysite" / "settings" / "squall_test.py").write_text(SETTINGS)
    (top / "mysite" / "squall_test_urls.py").write_text(URLS)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], **run)
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput",
         "--username", "admin", "--email", "admin@example.com"],
        **{**run, "env": {**site_env(), "DJANGO_SUPERUSER_PASSWORD": PASSWORD}},
    )  # fmt: skip
    assert not (top / "static").exists()
    return top


def site_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "mysite.settings.squall_test", **extra}


@contextmanager
def gunicorn(site: Path) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mysite.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2"],
            cwd=site, env=site_env(WAGTAIL_TEST_WHITENOISE="1"), stdout=log, stderr=log,
        )  # fmt: skip
        try:

            def listening() -> bool:
                assert proc.poll() is None, "gunicorn exited"
                return port_accepts(port)

            poll(listening, "gunicorn to listen", 60)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc, signal.SIGTERM, 30)


def log_in(base: str) -> requests.Session:
    session = requests.Session()
    assert session.get(base + "/admin/login/", timeout=30).status_code == 200
    response = session.post(
        base + "/admin/login/",
        data={"username": "admin", "password": PASSWORD, "next": "/admin/",
              "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert (response.status_code, response.headers["Location"]) == (302, "/admin/")
    return session


def png() -> bytes:
    from PIL import Image

    data = io.BytesIO()
    Image.new("RGB", (24, 12), (200, 30, 30)).save(data, "PNG")
    return data.getvalue()


def normalised(body: bytes) -> bytes:
    """A page without what differs per request: CSRF tokens (the form's, Wagtail's config)."""
    body = re.sub(rb'(csrfmiddlewaretoken" value=")[^"]+', rb"\1-", body)
    return re.sub(rb'("CSRF_TOKEN": ")[^"]+', rb"\1-", body)


def title(page: str) -> str:
    match = re.search(r"<title>(.*?)</title>", page, re.S)
    assert match, page[:200]
    return " ".join(match[1].split())


def answer(session: requests.Session, url: str) -> tuple[int, str, bytes]:
    response = session.get(url, allow_redirects=False, timeout=30)
    kind = response.headers.get("Content-Type", "").split(";")[0]
    return response.status_code, kind, normalised(response.content)


def test_a_wagtail_site_answers_under_squall_as_under_gunicorn(site: Path) -> None:
    argv = ["manage.py", "serve", "--static", "--media", "--workers", "2",
            "--command", "collectstatic --noinput -v0"]  # fmt: skip

    def started(server: ServerProcess) -> None:
        wait_for(server, "/startup", 200, timeout=90)

    with run_server(argv, cwd=site, env=site_env(), ready=started) as squall:
        admin = log_in(squall.url)
        # An upload through Squall: the admin's multipart form.
        form = admin.get(squall.url + "/admin/images/add/", timeout=30)
        assert form.status_code == 200
        uploaded = admin.post(
            squall.url + "/admin/images/add/",
            data={"csrfmiddlewaretoken": admin.cookies["csrftoken"], "title": "red box",
                  "description": "a red box"},
            files={"file": ("red-box.png", png(), "image/png")},
            allow_redirects=False, timeout=60,
        )  # fmt: skip
        assert (uploaded.status_code, uploaded.headers["Location"]) == (302, "/admin/images/")
        login_page = requests.get(squall.url + "/admin/login/", timeout=30).text
        css = re.search(r'/static/wagtailadmin/css/core\.[0-9a-f]{12}\.css', login_page)
        assert css, "the admin links its CSS by its hashed name (the manifest collectstatic wrote)"
        paths = [
            "/",  # Wagtail's welcome page
            "/admin/login/",
            "/admin/",  # anonymous: a redirect to the login page
            "/no-such-page/",  # the site's 404 template
            css[0],  # a static file, by its hashed name
            "/media/original_images/red-box.png",  # the upload
            "/media/original_images/missing.png",  # a media miss
        ]
        with gunicorn(site) as reference:
            anonymous = requests.Session()
            for path in paths:
                ours = answer(anonymous, squall.url + path)
                theirs = answer(anonymous, reference + path)
                assert ours == theirs, (path, ours[:2], theirs[:2])
            # The admin's dashboard, logged in on each server.
            bases = (squall.url, reference)
            dashboards = [log_in(base).get(base + "/admin/", timeout=30) for base in bases]
            assert [d.status_code for d in dashboards] == [200, 200]
            titles = [title(d.text) for d in dashboards]
            assert titles[0] == titles[1] and "Dashboard" in titles[0]
        assert answer(anonymous, squall.url + "/media/original_images/red-box.png")[2] == png()
    log = squall.log()
    assert log.index("running command: collectstatic") < log.index("booting worker")
    assert " 500 " not in log
