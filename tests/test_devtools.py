"""Development tools for real: the autoreloader and debugger attach.

The autoreloader runs `python -m squall app:app --autoreload` on an app in a
temporary directory and edits the file under it; the debugger test completes a
Debug Adapter Protocol handshake with debugpy inside the worker. The inotify
watcher is also tested on its own, on real directories. Every wait is on a
condition (a response, a log line, an event), with a deadline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from polling import wait_for
from serverproc import free_port, run_server

from squall.inotify import InotifyWatcher

ROOT = Path(__file__).resolve().parent.parent


def app_source(text: str) -> str:
    return textwrap.dedent(
        f"""
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"{text}"]
        """
    )


def get(url: str) -> str | None:
    """The body of GET `url`, or None while nothing answers (the server restarting)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


# --------------------------------------------------------------------------- autoreload


def test_autoreload_restarts_on_edits_and_survives_a_syntax_error(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(app_source("v1"))
    argv = ["app:app", "--autoreload", "--workers", "1"]
    with run_server(argv, cwd=tmp_path) as server:
        assert wait_for(lambda: get(server.url), "the first response", 10) == "v1"

        # Same length, probably the same second as the compile: no stale .pyc.
        app.write_text(app_source("v2"))
        wait_for(lambda: get(server.url) == "v2", "v2 after the edit", timeout=2.0)

        app.write_text("def app(environ, start_response:\n")
        wait_for(
            lambda: "waiting for a change" in server.log(),
            "the reloader to log the failed start",
            timeout=10,
        )
        assert "SyntaxError" in server.log()
        assert server.proc.poll() is None, "the supervisor must keep running"
        assert get(server.url) is None

        app.write_text(app_source("v3"))
        wait_for(lambda: get(server.url) == "v3", "v3 after the fix", timeout=5.0)
        assert server.stop() == 0
    log = server.log()
    assert "autoreload: app.py changed; restarting the server" in log
    assert "autoreload: app.py changed; starting the server" in log
    assert "exited with status 2; waiting for a change" in log


def test_autoreload_ignores_files_that_are_not_code(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(app_source("v1"))
    (tmp_path / "static").mkdir()
    argv = ["app:app", "--autoreload", "--workers", "1", "--static-watch", "static"]
    with run_server(argv, cwd=tmp_path) as server:
        wait_for(lambda: get(server.url) == "v1", "the first response", 10)
        (tmp_path / "notes.txt").write_text("not code")
        (tmp_path / "static" / "site.css").write_text("body {}")
        wait_for(
            lambda: "static/site.css changed; restarting" in server.log(),
            "a restart for the static file",
        )
        assert "notes.txt" not in server.log()
        wait_for(lambda: get(server.url) == "v1", "the restarted server")


# --------------------------------------------------------------------------- debugger


def dap_message(sock: socket.socket, buffer: bytearray) -> dict[str, object]:
    """Reads one `Content-Length: N\\r\\n\\r\\n{json}` message."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        assert data, "the debug adapter closed the connection"
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    headers = dict(line.split(b":", 1) for line in head.split(b"\r\n"))
    length = int(headers[b"Content-Length"])
    while len(rest) < length:
        data = sock.recv(65536)
        assert data, "the debug adapter closed the connection"
        rest += data
    buffer[:] = rest[length:]
    return json.loads(rest[:length])


def connect_when_listening(port: int, server_proc: subprocess.Popen[bytes]) -> socket.socket:
    def attempt() -> socket.socket | None:
        assert server_proc.poll() is None, "the server exited"
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return None

    return wait_for(attempt, f"the debugger to listen on port {port}", timeout=30)


def test_debugger_answers_a_dap_initialize_request(tmp_path: Path) -> None:
    debug_port = free_port()
    argv = [
        "wsgi_apps:hello",
        "--debugger",
        "--debugger-port",
        str(debug_port),
        "--workers",
        "3",
        "--shutdown-delay",
        "0",
    ]
    with run_server(argv) as server:
        with connect_when_listening(debug_port, server.proc) as sock:
            request = {
                "seq": 1,
                "type": "request",
                "command": "initialize",
                "arguments": {"adapterID": "squall-test"},
            }
            body = json.dumps(request).encode()
            sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            buffer = bytearray()
            while True:  # events ("output", ...) may come first
                message = dap_message(sock, buffer)
                if message["type"] == "response":
                    break
            assert message["request_seq"] == 1
            assert message["command"] == "initialize"
            assert message["success"] is True, message
        assert get(server.url) == "Hello, World!"  # the app still serves
        assert server.stop() == 0
    log = server.log()
    assert f"debugger listening on 0.0.0.0:{debug_port}" in log
    assert "--workers 3 is ignored: --debugger runs one worker" in log
    assert "1 worker(s)" in log


def run_squall(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = prelude + "from squall.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT / "tests" / "apps",
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(
    importlib.util.find_spec("pydevd_pycharm") is not None, reason="pydevd-pycharm is installed"
)
def test_a_missing_pycharm_package_is_one_error_line() -> None:
    result = run_squall("wsgi_apps:hello", "--pycharm-host", "localhost")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "squall: error: --pycharm-host needs the pydevd-pycharm package: "
        "pip install squall[pycharm]\n"
    )


def test_a_missing_debugpy_is_one_error_line() -> None:
    # sys.modules[name] = None makes the package unimportable for this process.
    result = run_squall(
        "wsgi_apps:hello", "--debugger", prelude="import sys\nsys.modules['debugpy'] = None\n"
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "squall: error: --debugger needs the debugpy package: pip install squall[debug]\n"
    )


# --------------------------------------------------------------------------- the watcher


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text("")
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "views.py").write_text("")
    for skipped in (".venv", "node_modules", "build", ".git", "__pycache__", "env"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "x.py").write_text("")
    (tmp_path / "env" / "pyvenv.cfg").write_text("")  # a virtualenv by another name
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("")
    return tmp_path


def changes(watcher: InotifyWatcher, what: str) -> list[Path]:
    return wait_for(watcher.read_changes, what, timeout=5)


def no_changes(watcher: InotifyWatcher, touch: Path) -> None:
    """Nothing counts before a later write to `touch` (events are in order)."""
    touch.write_text("# sentinel\n")
    assert changes(watcher, f"the sentinel {touch.name}") == [touch]


def test_watcher_sees_code_in_the_project_and_nothing_else(project: Path) -> None:
    watcher = InotifyWatcher(project)
    try:
        for skipped in (".venv", "node_modules", "build", ".git", "__pycache__", "env"):
            (project / skipped / "x.py").write_text("x = 1\n")
        (project / "templates" / "page.html").write_text("<p>")
        (project / "README.txt").write_text("hello")
        (project / ".#app.py").write_text("")  # an editor's lock file
        no_changes(watcher, project / "app.py")

        views = project / "pkg" / "sub" / "views.py"
        views.write_text("x = 2\n")
        assert changes(watcher, "views.py") == [views]

        # Replaced by rename, as editors save: the new name counts.
        tmp = project / "pkg" / "new.tmp"
        tmp.write_text("y = 1\n")
        tmp.rename(project / "pkg" / "models.py")
        assert changes(watcher, "models.py") == [project / "pkg" / "models.py"]

        os.utime(project / "app.py")  # touch
        assert changes(watcher, "the touched file") == [project / "app.py"]

        (project / "pkg" / "sub" / "views.py").unlink()
        assert changes(watcher, "the deletion") == [views]
    finally:
        watcher.close()


def test_watcher_watches_directories_created_later(project: Path) -> None:
    watcher = InotifyWatcher(project)
    try:
        newapp = project / "newapp" / "migrations"
        newapp.mkdir(parents=True)
        no_changes(watcher, project / "app.py")  # an empty directory is no change
        module = newapp / "0001_initial.py"
        module.write_text("x = 1\n")
        assert changes(watcher, "a file in the new directory") == [module]

        # A package moved in whole is a change, and watched from then on.
        outside = project.parent / (project.name + "-outside")
        (outside / "plugin").mkdir(parents=True)
        (outside / "plugin" / "__init__.py").write_text("")
        (outside / "plugin").rename(project / "plugin")
        assert changes(watcher, "the moved-in package") == [project / "plugin"]
        (project / "plugin" / "__init__.py").write_text("x = 1\n")
        assert changes(watcher, "a file in it") == [project / "plugin" / "__init__.py"]
    finally:
        watcher.close()


def test_watcher_static_paths_count_every_file(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assets = tmp_path_factory.mktemp("assets")
    (assets / "css").mkdir()
    single = project / "templates" / "page.html"
    watcher = InotifyWatcher(project, [assets, single])
    try:
        (assets / "css" / "site.css").write_text("body {}")
        assert changes(watcher, "a static file") == [assets / "css" / "site.css"]
        (assets / "img").mkdir()
        assert changes(watcher, "a new static directory") == [assets / "img"]
        (assets / "img" / "logo.svg").write_text("<svg/>")
        assert changes(watcher, "a file in it") == [assets / "img" / "logo.svg"]
        single.write_text("<p>changed")
        assert changes(watcher, "the watched file") == [single]
        (project / "templates" / "other.html").write_text("")
        no_changes(watcher, project / "app.py")  # only the named file in that directory
    finally:
        watcher.close()


def test_supervisor_passes_sigint_to_the_server(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(app_source("v1"))
    port = free_port()
    with run_server(
        ["app:app", "--autoreload", "--workers", "1"], cwd=tmp_path, port=port
    ) as server:
        wait_for(lambda: get(server.url) == "v1", "the first response", 10)
        assert server.stop(signal.SIGINT) == 0
    assert "autoreload: SIGINT: stopping server process" in server.log()
    with pytest.raises(ConnectionRefusedError):  # the server process is gone too
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_pycharm_host_attaches_with_the_current_pydevd_pycharm() -> None:
    # A stand-in for PyCharm's debug server; tests/apps/pydevd_stub has
    # pydevd-pycharm's current settrace() signature (stdout_to_server, ...).
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    debug_port = listener.getsockname()[1]
    pythonpath = os.pathsep.join(
        p for p in (str(ROOT / "tests" / "apps" / "pydevd_stub"), os.environ.get("PYTHONPATH")) if p
    )
    argv = ["wsgi_apps:hello", "--pycharm-host", "127.0.0.1", "--pycharm-port", str(debug_port)]
    with listener, run_server(argv, env={"PYTHONPATH": pythonpath}) as server:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            call = json.loads(conn.makefile().readline())
        assert call == {"stdout_to_server": True, "stderr_to_server": True, "suspend": False}
        with urllib.request.urlopen(server.url + "/", timeout=10) as response:
            assert response.status == 200
        wait_for(lambda: "attached to the PyCharm debug server" in server.log(), "attach line")
    assert f"attached to the PyCharm debug server at 127.0.0.1:{debug_port}" in server.log()


TEMPLATE_PROJECT = """\
from django.shortcuts import render
from django.urls import path

SECRET_KEY = "autoreload-templates"
DEBUG = False  # the cached template loader, as in production
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["squall"]
ROOT_URLCONF = "tplproj"
DATABASES = {}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
              "DIRS": ["templates"]}]


def page(request):
    return render(request, "page.html")


urlpatterns = [path("", page)]
"""

MANAGE_PY = """\
import os
import sys

from django.core.management import execute_from_command_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tplproj")
execute_from_command_line(sys.argv)
"""


def test_autoreload_notices_template_edits_and_static_watch_takes_a_list(tmp_path: Path) -> None:
    (tmp_path / "tplproj.py").write_text(TEMPLATE_PROJECT)
    (tmp_path / "manage.py").write_text(MANAGE_PY)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("template v1")
    for name in ("assets", "more"):
        (tmp_path / name).mkdir()
    argv = ["manage.py", "serve", "--autoreload", "--workers", "1",
            "--static-watch", "assets,more"]  # fmt: skip
    env = {"DJANGO_SETTINGS_MODULE": "tplproj"}
    with run_server(argv, cwd=tmp_path, env=env) as server:
        wait_for(lambda: get(server.url) == "template v1", "the first page", 10)
        (tmp_path / "templates" / "page.html").write_text("template v2")
        wait_for(lambda: get(server.url) == "template v2", "the edited template", 10)
        (tmp_path / "more" / "site.css").write_text("body {}")
        wait_for(
            lambda: "more/site.css changed; restarting" in server.log(),
            "a restart for the second --static-watch path", 10,
        )  # fmt: skip
        wait_for(lambda: get(server.url) == "template v2", "the restarted server", 10)
    assert "templates/page.html changed; restarting" in server.log()
