"""The servers the benchmarks compare, and how to start each on the hello app and
on the demo project (bench/run.py, probes.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness import (
    BIN,
    DEMO_DIR,
    DEMO_SETTINGS,
    HOST,
    HURRICANE_SETTINGS,
    REPO,
    SETTINGS_DIR,
    Launch,
    Options,
)

AppKind = Literal["hello", "demo"]

# argv builder: (port, options) -> argv
ArgvBuilder = Callable[[int, Options], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server on the hello app and/or on the demo project.

    ``hello`` runs with the repository root as working directory, ``demo`` with
    examples/demo; a missing builder means the server has no row for that app.
    """

    name: str
    hello: ArgvBuilder | None
    demo: ArgvBuilder | None
    demo_settings: str = DEMO_SETTINGS
    ports_needed: int = 1  # Hurricane also binds port + 1 for its probes
    caveat: str = ""  # printed under every table this server appears in

    def launch(self, app: AppKind, port: int, opts: Options, db_path: Path | None) -> Launch:
        if app == "hello":
            assert self.hello is not None
            # No PYTHONPATH: every server puts its cwd on sys.path for the app itself,
            # after its own imports, so an installed squall is never shadowed by ./squall.
            return Launch(self.hello(port, opts), REPO)
        assert self.demo is not None and db_path is not None
        env = {
            "PYTHONPATH": os.pathsep.join([str(DEMO_DIR), str(SETTINGS_DIR)]),
            "DJANGO_SETTINGS_MODULE": self.demo_settings,
            "BENCH_DEMO_DB": str(db_path),
        }
        return Launch(self.demo(port, opts), DEMO_DIR, env)

    def serves(self, app: AppKind) -> bool:
        return (self.hello if app == "hello" else self.demo) is not None


def _bin(name: str) -> str:
    return str(BIN / name)


def _squall_hello(port: int, o: Options) -> list[str]:
    argv = [_bin("squall"), "bench.hello:app", "--host", HOST, "--port", str(port)]
    return argv + ["--workers", str(o.processes), "--threads", str(o.threads), "--no-access-log"]


def _squall_demo(port: int, o: Options) -> list[str]:
    argv = [sys.executable, "manage.py", "serve", "--host", HOST, "--port", str(port)]
    return argv + ["--workers", str(o.processes), "--threads", str(o.threads), "--no-access-log"]


def _squall_asgi_hello(port: int, o: Options) -> list[str]:
    argv = [_bin("squall"), "bench.hello_asgi:app", "--interface", "asgi", "--host", HOST]
    return argv + ["--port", str(port), "--workers", str(o.processes), "--no-access-log"]


def _squall_asgi_demo(port: int, o: Options) -> list[str]:
    argv = [sys.executable, "manage.py", "serve", "--asgi", "--host", HOST, "--port", str(port)]
    return argv + ["--workers", str(o.processes), "--no-access-log"]


def _gunicorn(worker: Literal["sync", "gthread"], target: str) -> ArgvBuilder:
    def build(port: int, o: Options) -> list[str]:
        argv = [_bin("gunicorn"), "-k", worker, "-w", str(o.processes)]
        if worker == "gthread":
            argv += ["--threads", str(o.threads)]
        return argv + ["-b", f"{HOST}:{port}", "--log-level", "warning", target]

    return build


def _granian(target: str) -> ArgvBuilder:
    def build(port: int, o: Options) -> list[str]:
        return [
            _bin("granian"), "--interface", "wsgi", "--host", HOST, "--port", str(port),
            "--workers", str(o.processes), "--blocking-threads", str(o.threads),
            "--no-access-log", "--log-level", "warning", target,
        ]  # fmt: skip

    return build


def _granian_asgi(target: str) -> ArgvBuilder:
    def build(port: int, o: Options) -> list[str]:
        return [
            _bin("granian"), "--interface", "asgi", "--host", HOST, "--port", str(port),
            "--workers", str(o.processes), "--no-access-log", "--log-level", "warning", target,
        ]  # fmt: skip

    return build


def _uvicorn(target: str) -> ArgvBuilder:
    def build(port: int, o: Options) -> list[str]:
        return [
            _bin("uvicorn"), target, "--host", HOST, "--port", str(port),
            "--workers", str(o.processes), "--http", "httptools",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip

    return build


def _daphne(target: str) -> ArgvBuilder:
    # One process always: Daphne has no pre-fork (it scales by running more of it).
    def build(port: int, o: Options) -> list[str]:
        return [_bin("daphne"), "-b", HOST, "-p", str(port), "-v", "0", target]

    return build


def _uwsgi(module: str) -> ArgvBuilder:
    def build(port: int, o: Options) -> list[str]:
        return [
            _bin("uwsgi"), "--http-socket", f"{HOST}:{port}", "--master",
            "--processes", str(o.processes), "--threads", str(o.threads),
            "--module", module, "--virtualenv", sys.prefix, "--need-app",
            "--disable-logging", "--die-on-term",
        ]  # fmt: skip

    return build


def _hurricane_demo(port: int, o: Options) -> list[str]:
    # One process always (Hurricane has no pre-fork); --workers is its thread pool size.
    return [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", str(o.threads)]


SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec("squall", hello=_squall_hello, demo=_squall_demo),
    ServerSpec(
        "gunicorn-sync",
        hello=_gunicorn("sync", "bench.hello:app"),
        demo=_gunicorn("sync", "demo.wsgi:application"),
    ),
    ServerSpec(
        "gunicorn-gthread",
        hello=_gunicorn("gthread", "bench.hello:app"),
        demo=_gunicorn("gthread", "demo.wsgi:application"),
    ),
    ServerSpec(
        "granian", hello=_granian("bench.hello:app"), demo=_granian("demo.wsgi:application")
    ),
    ServerSpec(
        "uvicorn", hello=_uvicorn("bench.hello_asgi:app"), demo=_uvicorn("demo.asgi:application")
    ),
    # ASGI rows: one asyncio loop per process (uvloop where installed).
    ServerSpec("squall-asgi", hello=_squall_asgi_hello, demo=_squall_asgi_demo),
    ServerSpec(
        "granian-asgi",
        hello=_granian_asgi("bench.hello_asgi:app"),
        demo=_granian_asgi("demo.asgi:application"),
    ),
    ServerSpec(
        "daphne",
        hello=_daphne("bench.hello_asgi:app"),
        demo=_daphne("demo.asgi:application"),
        caveat="always one process (no --workers): compare it with --processes 1",
    ),
    ServerSpec(
        "uwsgi",
        hello=_uwsgi("bench.hello:app"),
        demo=_uwsgi("demo.wsgi:application"),
        caveat=(
            "--http-socket has no keep-alive and closes after each response without "
            "`Connection: close`; wrk counts each such close as a read error "
            "(the responses were complete)"
        ),
    ),
    ServerSpec(
        "hurricane",
        hello=None,
        demo=_hurricane_demo,
        demo_settings=HURRICANE_SETTINGS,
        ports_needed=2,
    ),
)


CAVEATS = {s.name: s.caveat for s in SERVERS if s.caveat}
