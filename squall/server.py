"""Runs a WSGI application: a C++ master process and pre-forked workers.

``serve()`` opens the listen socket and hands control to the engine's master
(``squall._core.Master``, through squall.bootstrap, as ``consume`` does), which
forks the workers and supervises them in C++ (docs/architecture.md). Each
worker returns here once, right after its fork, and runs :func:`run_worker`:
the engine's epoll loop on the main thread (GIL released) and ``threads``
Python threads calling the application.

Signals are taken by the engine's loops (sigaction handlers that wake an
eventfd, core/net/signal_pipe.h): the master handles TERM, INT, QUIT, HUP,
TTIN, TTOU and CHLD; a worker handles TERM (drain), INT and QUIT (stop now).
No signal is blocked, so programs the application starts get the usual
dispositions.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import platform
import threading
from collections.abc import Callable
from typing import Any

from squall.options import Config, exit_with_error
from squall.staticfiles import StaticSetupError, static_mounts

logger = logging.getLogger("squall")
error_logger = logging.getLogger("squall.error")

WSGIApp = Callable[..., Any]


def log_app_error(message: str, exc: BaseException | None) -> None:
    """Called by the engine when the application raises: traceback to the log."""
    if exc is None:
        error_logger.error(message)
    else:
        error_logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))


def probe_paths(config: Config, checker: bool) -> dict[str, Any]:
    return {
        "startup": config.startup_probe,
        "readiness": config.readiness_probe,
        "liveness": config.liveness_probe,
        "req_queue_len": config.req_queue_len,
        "check_interval": float(config.check_interval) if checker else 0.0,
    }


def webhook_version() -> str | None:
    """Hurricane's payload field: settings.SQUALL_VERSION, else HURRICANE_VERSION."""
    from squall.startup import django_configured

    if not django_configured():
        return None
    from django.conf import settings

    for name in ("SQUALL_VERSION", "HURRICANE_VERSION"):
        value = getattr(settings, name, None)
        if value is not None:
            return str(value)
    return None


def metrics_info(config: Config) -> dict[str, str]:
    """squall_info's labels: the version and the options a dashboard groups by."""
    from squall import __version__

    return {
        "version": __version__,
        "python": platform.python_version(),
        "workers": str(config.workers),
        "threads": str(config.threads),
        "timeout": f"{config.timeout:g}",
        "max_requests": str(config.max_requests),
        "max_lifetime": f"{config.max_lifetime:g}",
        "req_queue_len": str(config.req_queue_len),
    }


def engine_config(
    config: Config, *, checker: bool = False, statics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the C++ engine reads (worker and master), by field name."""
    from squall.startup import needs_startup_process

    probes = probe_paths(config, checker)
    extra: dict[str, Any] = {}
    if statics is not None:
        extra["statics"] = statics
    if config.probe and config.probe_port == config.port:
        extra["app_port_probes"] = probes
    if config.probe and config.metrics:
        # No probe port, no metrics (as in Hurricane: --no-probe disables both).
        extra["metrics"] = {"path": config.metrics, "info": metrics_info(config)}
    if config.webhook_url:
        extra["webhook_urls"] = list(config.webhook_url)
        extra["webhook_version"] = webhook_version()
    return extra | {
        "probes": probes,
        "startup_process": needs_startup_process(config),
        "checker": checker,
        "threads": config.threads,
        "workers": config.workers,
        "max_request_line": config.max_request_line,
        "max_header_bytes": config.max_header_bytes,
        "max_header_count": config.max_header_count,
        "max_body_size": config.max_body_size,
        "header_timeout": float(config.header_timeout),
        "keepalive_timeout": float(config.keepalive_timeout),
        "body_timeout": float(config.body_timeout),
        "graceful_timeout": float(config.graceful_timeout),
        "forwarded_allow_ips": list(config.forwarded_allow_ips),
        "access_log": config.access_log,
        "log_format": config.log_format,
        "timeout": float(config.timeout),
        "max_requests": config.max_requests,
        "max_requests_jitter": config.max_requests_jitter,
        "max_lifetime": float(config.max_lifetime),
        "max_memory": config.max_memory,
        "shutdown_delay": float(config.shutdown_delay),
    }


def serve(
    app: WSGIApp | None,
    config: Config,
    *,
    load_app: Callable[[], WSGIApp] | None = None,
) -> int:
    """Serves until SIGTERM (graceful) or SIGINT/SIGQUIT; returns the master's exit status.

    `app` is the preloaded application (loaded once, before fork), or None
    with `load_app`, which each worker then calls after its fork (--no-preload).
    """
    from squall.bootstrap import run_master, start_master, url_host
    from squall.checker import checker_needed
    from squall.startup import django_configured, needs_startup_process

    if app is None and load_app is None:
        raise ValueError("serve() needs an application or a loader")
    if needs_startup_process(config) and not django_configured():
        exit_with_error("--command and --check-migrations need a Django project (manage.py serve)")
    try:
        statics = static_mounts(config)
    except StaticSetupError as exc:
        exit_with_error(str(exc))
    for mount in (statics or {}).get("mounts", []):
        where = ", ".join(root for _, root in mount["roots"])
        logger.info("Serving %s from %s", mount["prefix"], where)
    checker = checker_needed()
    started = start_master(engine_config(config, checker=checker), config, logger, app_port=True)
    if started is None:
        return 1
    master, port = started
    logger.info(
        "Listening on http://%s:%d: %d worker(s) x %d thread(s), master pid %d",
        url_host(config.host), port, config.workers, config.threads, os.getpid(),
    )  # fmt: skip

    def worker(master: Any, slot: int, listen_fd: int) -> int:
        return run_worker(app, load_app, config, master, slot, listen_fd, statics)

    def startup(master: Any, _slot: int, _listen_fd: int) -> int:
        from squall.startup import run_startup

        return run_startup(config, master)

    status = run_master(master, config, {"worker": worker, "startup": startup})
    logger.info("Stopped" if status == 0 else "Stopped: startup failed")
    return status


def start_migrations_gauges(master: Any) -> None:
    """django_migrations_*: counted once by the first worker, in a thread of its
    own (a slow database delays nothing)."""
    from squall.startup import django_configured

    if not django_configured():
        return
    from django.apps import apps

    if not apps.ready:
        return
    from squall.metrics import publish_migrations

    threading.Thread(
        target=publish_migrations, args=(master,), name="squall-migrations", daemon=True
    ).start()


def run_worker(
    app: WSGIApp | None,
    load_app: Callable[[], WSGIApp] | None,
    config: Config,
    master: Any,
    slot: int,
    listen_fd: int,
    statics: dict[str, Any] | None = None,
) -> int:
    """One worker process's life; returns its exit status."""
    from squall import _core

    # SIGABRT from the master (a request past --timeout) prints every
    # thread's traceback before the worker dies.
    faulthandler.enable(all_threads=True)
    try:
        if config.debugger or config.pycharm_host:
            from squall.debugger import attach_debugger

            attach_debugger(config)
        if app is None:
            assert load_app is not None
            app = load_app()
        server = _core.Server(engine_config(config, statics=statics))
        server.attach(master, slot, listen_fd)
        server.handle_signals()
    except BaseException:
        logger.exception("worker %d could not start", os.getpid())
        return 1
    threads = [
        threading.Thread(
            target=server.serve_requests,
            args=(app, log_app_error, index),
            name=f"squall-app-{index}",
            daemon=True,
        )
        for index in range(config.threads)
    ]
    for thread in threads:
        thread.start()
    if slot == 0 and _core.metrics_enabled():
        start_migrations_gauges(master)
    logger.info("worker %d serving", os.getpid())
    status = server.run()
    for thread in threads:
        # The queue is closed: each thread ends after its current request.
        thread.join(timeout=5.0)
    return int(status)
