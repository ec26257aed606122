"""The console script and ``manage.py serve``, run for real as subprocesses.

Every error is one line on stderr naming the option (or the application) and
where the bad value came from, and exit status 2. None of this needs the C++
engine: errors happen before it is imported, and the success-path tests put a
stand-in ``squall.server`` in sys.modules that reports what it was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import serverproc
from serverproc import run_until_exit

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"

# Prepended to a `python -c` script that then runs main (squall's or Django's):
# a stand-in engine whose serve() prints what it was given as JSON and returns 3
# (with --no-preload it is given a loader, which it calls as a worker would).
FAKE_ENGINE = textwrap.dedent(
    """
    import dataclasses, json, sys, types
    def serve(app, config, *, load_app=None):
        preloaded = app is not None
        app = app if preloaded else load_app()
        kind = app if isinstance(app, types.FunctionType) else type(app)
        print(json.dumps({"app": f"{kind.__module__}.{kind.__qualname__}",
                          "preloaded": preloaded,
                          "config": dataclasses.asdict(config)}))
        return 3
    sys.modules["squall.server"] = types.SimpleNamespace(serve=serve)
    """
)


def clean_env(path: tuple[Path, ...] = ()) -> dict[str, str]:
    """os.environ with squall (and `path`) importable and no SQUALL_*/HURRICANE_* env."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SQUALL_", "HURRICANE_", "DJANGO_SETTINGS_MODULE"))
    }
    clean["PYTHONPATH"] = os.pathsep.join(str(p) for p in (ROOT, *path))
    return clean


def run(
    args: list[str],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    path: tuple[Path, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in the environment of :func:`clean_env`."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**clean_env(path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def squall(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, path: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return run_until_exit(list(args), cwd=cwd, env=env, environ=clean_env(path))


def manage(
    *args: str, env: dict[str, str] | None = None, path: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return run_until_exit(["manage.py", *args], cwd=DEMO, env=env, environ=clean_env(path))


def assert_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == f"squall: error: {message}\n"


# --------------------------------------------------------------------------- squall APP


def test_invalid_flag_value() -> None:
    assert_error(
        squall("--port", "abc", "x:y"),
        "--port: invalid value 'abc' (expected an integer 0-65535)",
    )


def test_unknown_option() -> None:
    assert_error(squall("--no-such-option", "x:y"), "--no-such-option: unknown option")
    assert_error(squall("x:y", "--no-such-option=3"), "--no-such-option: unknown option")


def test_missing_flag_value() -> None:
    assert_error(squall("x:y", "--threads"), "--threads: expected one argument")


def test_invalid_environment_value() -> None:
    assert_error(
        squall("x:y", env={"SQUALL_PORT": "x"}),
        "SQUALL_PORT (environment): invalid value 'x' (expected an integer 0-65535)",
    )
    assert_error(
        squall("x:y", env={"SQUALL_ACCESS_LOG": "nope"}),
        "SQUALL_ACCESS_LOG (environment): invalid value 'nope' "
        "(expected a boolean: 1/0, true/false, yes/no, on/off)",
    )
    assert_error(
        squall("x:y", env={"HURRICANE_MAX_BODY_SIZE": "100M"}),
        "HURRICANE_MAX_BODY_SIZE (environment): invalid value '100M' (expected an integer >= 0)",
    )


def test_missing_application() -> None:
    assert_error(squall(), "missing the application argument MODULE[:CALLABLE]")


def test_unimportable_application(tmp_path: Path) -> None:
    assert_error(
        squall("no_such_module:app", cwd=tmp_path),
        "cannot import 'no_such_module:app': No module named 'no_such_module'",
    )
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom\\nsecond line')\n")
    assert_error(
        squall("broken", cwd=tmp_path),
        "cannot import 'broken': RuntimeError: boom second line",
    )
    (tmp_path / "good.py").write_text("def application(environ, start_response): pass\n")
    assert_error(
        squall("good:nothing.here", cwd=tmp_path),
        "cannot import 'good:nothing.here': good has no attribute 'nothing.here'",
    )
    assert_error(
        squall("good:__name__", cwd=tmp_path),
        "cannot import 'good:__name__': __name__ is not callable (a str)",
    )


def test_import_traceback_is_logged_at_debug_level(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    result = squall("broken", "--log-level", "debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert " DEBUG squall: importing 'broken' failed\n" in result.stderr
    assert result.stderr.endswith("squall: error: cannot import 'broken': RuntimeError: boom\n")


def test_help() -> None:
    result = squall("--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: squall [options] MODULE[:CALLABLE]")
    for flag in ("--port", "--threads", "--max-body-size", "--no-access-log", "--log-format"):
        assert flag in result.stdout
    assert "(default: 104857600 bytes (100 MiB); SQUALL_MAX_BODY_SIZE)" in " ".join(
        result.stdout.split()
    )


def test_serves_the_imported_application(tmp_path: Path) -> None:
    # The current directory is on sys.path; a dotted attribute is followed.
    (tmp_path / "myapp.py").write_text(
        "class holder:\n"
        "    @staticmethod\n"
        "    def wsgi(environ, start_response):\n"
        "        return []\n"
    )
    code = FAKE_ENGINE + "from squall.cli import main\nmain()\n"
    result = run(
        ["-c", code, "myapp:holder.wsgi", "--port", "0", "--no-access-log"],
        cwd=tmp_path,
        env={"SQUALL_THREADS": "8", "SQUALL_LOG_FORMAT": "json"},
    )
    assert result.returncode == 3, result.stderr
    served = json.loads(result.stdout)
    assert served["app"] == "myapp.holder.wsgi"
    assert served["config"]["port"] == 0
    assert served["config"]["threads"] == 8
    assert served["config"]["access_log"] is False
    assert served["config"]["log_format"] == "json"
    assert served["preloaded"] is True


def test_no_preload_hands_the_engine_a_loader(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text("def application(environ, start_response):\n    return []\n")
    code = FAKE_ENGINE + "from squall.cli import main\nmain()\n"
    result = run(["-c", code, "myapp", "--no-preload"], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    served = json.loads(result.stdout)
    assert (served["app"], served["preloaded"]) == ("myapp.application", False)
    assert served["config"]["preload"] is False


# --------------------------------------------------------------------------- manage.py serve


def test_manage_py_serve_invalid_value() -> None:
    assert_error(
        manage("serve", "--port", "abc"),
        "--port: invalid value 'abc' (expected an integer 0-65535)",
    )


def test_manage_py_serve_unknown_and_unimplemented_options() -> None:
    assert_error(manage("serve", "--no-such-option"), "--no-such-option: unknown option")
    assert_error(
        manage("serve", "--debug"),
        "--debug: unknown option (Hurricane's --debug is not supported by Squall yet)",
    )
    assert_error(
        manage("serve", "--webhook-url=ftp://x"),
        "--webhook-url: invalid value 'ftp://x' (expected http:// or https:// URLs (repeat the "
        "flag, or comma-separate them))",
    )
    # Django's own options are checked as Django checks them.
    assert_error(
        manage("serve", "--verbosity", "5"),
        "--verbosity: invalid choice: 5 (choose from 0, 1, 2, 3)",
    )


def test_manage_py_serve_version_prints_the_versions() -> None:
    import django

    from squall import __version__

    result = manage("serve", "--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"squall {__version__}, Django {django.get_version()}\n"


def test_manage_py_serve_traceback_logs_the_whole_traceback(tmp_path: Path) -> None:
    (tmp_path / "nowsgi_settings.py").write_text(
        "from demo.settings import *\nWSGI_APPLICATION = 'nowhere.wsgi.application'\n"
    )
    quiet = manage("serve", "--settings=nowsgi_settings", path=(tmp_path,))
    loud = manage("serve", "--settings=nowsgi_settings", "--traceback", path=(tmp_path,))
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback (most recent call last)" not in quiet.stderr
    assert "Traceback (most recent call last)" in loud.stderr
    assert "ModuleNotFoundError: No module named 'nowhere'" in loud.stderr
    assert loud.stderr.endswith(quiet.stderr.splitlines()[-1] + "\n")


def test_manage_py_serve_takes_djangos_command_options(tmp_path: Path) -> None:
    env = serverproc.demo_env(tmp_path, "demo_test_settings",
                              DEMO_TEST_RECORD=str(tmp_path / "loads.txt"))  # fmt: skip
    argv = ["manage.py", "serve", "-v", "0", "--no-color", "--skip-checks", "--traceback",
            "--settings", "demo_test_settings", "--pythonpath", str(tmp_path),
            "--workers", "1"]  # fmt: skip
    with serverproc.run_server(argv, cwd=DEMO, env=env) as server:
        with urllib.request.urlopen(server.url + "/", timeout=10) as response:
            assert response.status == 200
        assert server.stop() == 0
    # -v 0: the Python side's lines at warning and above only.
    assert "Listening on" not in server.log()
    assert "serving" not in server.log()


def test_manage_py_serve_invalid_environment_value() -> None:
    assert_error(
        manage("serve", env={"HURRICANE_PORT": "http"}),
        "HURRICANE_PORT (environment): invalid value 'http' (expected an integer 0-65535)",
    )


def test_manage_py_serve_invalid_setting(tmp_path: Path) -> None:
    (tmp_path / "bad_settings.py").write_text("from demo.settings import *\nSQUALL_THREADS = 0\n")
    assert_error(
        manage("serve", "--settings", "bad_settings", path=(tmp_path,)),
        "settings.SQUALL_THREADS: invalid value 0 (expected an integer >= 1)",
    )
    (tmp_path / "hurricane_settings.py").write_text(
        "from demo.settings import *\nMAX_BODY_SIZE = '1 MB'\n"
    )
    assert_error(
        manage("serve", "--settings=hurricane_settings", path=(tmp_path,)),
        "settings.MAX_BODY_SIZE: invalid value '1 MB' (expected an integer >= 0)",
    )


def test_manage_py_serve_hurricane_workers_warns_then_fails_on_one_line_each() -> None:
    result = manage("serve", "--port", "-5", env={"HURRICANE_WORKERS": "2"})
    assert result.returncode == 2
    warning, error = result.stderr.splitlines()
    assert warning.startswith(
        "squall: warning: HURRICANE_WORKERS (environment) is Hurricane's thread-pool size"
    )
    assert error == "squall: error: --port: invalid value '-5' (expected an integer 0-65535)"


def test_debugger_with_autoreload_is_refused_before_anything_starts() -> None:
    assert_error(
        squall("--debugger", "--autoreload", "x:y"),
        "--debugger cannot be used with --autoreload: the reloader would restart the "
        "process the debugger is attached to",
    )
    assert_error(
        manage("serve", "--autoreload", "--pycharm-host", "localhost"),
        "--pycharm-host cannot be used with --autoreload: the reloader would restart the "
        "process the debugger is attached to",
    )


def test_manage_py_serve_help() -> None:
    for args in (["serve", "--help"], ["help", "serve"]):
        result = manage(*args)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.startswith("usage: manage.py serve [options]")
        assert "--workers N" in result.stdout and "--max-body-size BYTES" in result.stdout


def test_manage_py_serve_serves_the_project(tmp_path: Path) -> None:
    (tmp_path / "serve_settings.py").write_text(
        "from demo.settings import *\nSQUALL_THREADS = 6\nPORT = 9100\n"
    )
    code = FAKE_ENGINE + textwrap.dedent(
        """
        from django.core.management import execute_from_command_line
        execute_from_command_line(["manage.py", *sys.argv[1:]])
        """
    )
    result = run(
        ["-c", code, "serve", "--settings=serve_settings", "--threads", "2", "--workers", "3"],
        cwd=DEMO,
        env={"SQUALL_MAX_BODY_SIZE": "1024", "HURRICANE_MAX_LIFETIME": "500"},
        path=(tmp_path, DEMO),
    )
    assert result.returncode == 3, result.stderr
    served = json.loads(result.stdout)
    assert served["app"] == "django.core.handlers.wsgi.WSGIHandler"
    assert served["config"]["threads"] == 2  # --threads beats the setting
    assert served["config"]["workers"] == 3  # processes
    assert served["config"]["port"] == 9100  # Hurricane's PORT setting
    assert served["config"]["max_body_size"] == 1024  # environment
    assert served["config"]["max_requests"] == 500  # Hurricane's MAX_LIFETIME: requests
    assert result.stderr.startswith("squall: warning: HURRICANE_MAX_LIFETIME (environment)")
    assert served["preloaded"] is True
    result = run(
        ["-c", code, "serve", "--settings=serve_settings", "--no-preload"],
        cwd=DEMO,
        env={"SQUALL_PRELOAD": "1"},
        path=(tmp_path, DEMO),
    )
    assert result.returncode == 3, result.stderr
    served = json.loads(result.stdout)
    assert (served["app"], served["preloaded"]) == ("django.core.handlers.wsgi.WSGIHandler", False)


def test_manage_py_serve_with_bad_wsgi_application(tmp_path: Path) -> None:
    (tmp_path / "nowsgi_settings.py").write_text(
        "from demo.settings import *\nWSGI_APPLICATION = 'nowhere.wsgi.application'\n"
    )
    result = manage("serve", "--settings=nowsgi_settings", path=(tmp_path,))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "squall: error: cannot load the WSGI application: ImproperlyConfigured: WSGI application "
        "'nowhere.wsgi.application' could not be loaded; Error importing module. "
        "(No module named 'nowhere')\n"
    )
