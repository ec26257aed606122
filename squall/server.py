"""Runs a WSGI application: a C++ master process and pre-forked workers.

``serve()`` opens the listen socket and hands control to the engine's master
(``squall._core.Master``), which forks the workers and supervises them in C++
(docs/architecture.md). Each worker returns here once, right after its fork,
and runs :func:`run_worker`: the engine's epoll loop on the main thread (GIL
released) and ``threads`` Python threads calling the application.

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
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urlsplit

from squall.options import Config, exit_with_error

if TYPE_CHECKING:
    from squall import _core

logger = logging.getLogger("squall")
error_logger = logging.getLogger("squall.error")

WSGIApp = Callable[..., Any]


def log_app_error(message: str, exc: BaseException | None) -> None:
    """Called by the engine when the application raises: traceback to the log."""
    if exc is None:
        error_logger.error(message)
    else:
        error_logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))


def probe_port(config: Config, bound_port: int) -> int | None:
    """The probe port, or None without probes: --probe-port, else the port the
    application got + 1 (so --port 0 gets probes next to its free port). Equal
    to the app port: probes are answered there by the workers' I/O threads."""
    if not config.probe:
        return None
    return config.probe_port if config.probe_port is not None else bound_port + 1


def probe_config(config: Config, checker: bool) -> _core.ProbeConfig:
    """The probes' paths and limits; `check_interval` 0 when no checker runs."""
    from squall import _core

    return _core.ProbeConfig(
        startup_path=config.startup_probe,
        readiness_path=config.readiness_probe,
        liveness_path=config.liveness_probe,
        req_queue_len=config.req_queue_len,
        heartbeat_timeout=float(config.timeout),
        timeout_grace=float(config.timeout_grace),
        check_interval=float(config.check_interval) if checker else 0.0,
    )


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


class StaticSetupError(Exception):
    """--static / --media cannot be set up; str() is the one-line reason."""


def _url_prefix(value: object, name: str) -> str | None:
    """The path of STATIC_URL / MEDIA_URL with its trailing slash, decoded (the
    engine compares it with the decoded request path); None when it is an
    absolute URL on another host (a CDN): nothing to serve here."""
    if not value:
        raise StaticSetupError(f"settings.{name} is not set")
    parts = urlsplit(str(value))
    if parts.scheme or parts.netloc:
        logger.warning("settings.%s is %r, on another host: not served by Squall", name, value)
        return None
    path = unquote(parts.path)
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        raise StaticSetupError(f"settings.{name} must end with a slash: {value!r}")
    if path == "/":
        raise StaticSetupError(f"settings.{name} is '/': every request would be a file")
    return path


def finder_roots() -> list[tuple[str, str]]:
    """(prefix, directory) of every place Django's staticfiles finders look, in
    their order: what runserver serves with DEBUG."""
    from django.apps import apps
    from django.contrib.staticfiles.finders import (
        AppDirectoriesFinder,
        FileSystemFinder,
        get_finders,
    )

    if not apps.is_installed("django.contrib.staticfiles"):
        return []
    roots: list[tuple[str, str]] = []
    for finder in get_finders():
        if isinstance(finder, FileSystemFinder):
            for prefix, root in finder.locations:
                roots.append((prefix.strip("/") + "/" if prefix else "", str(root)))
        elif isinstance(finder, AppDirectoriesFinder):
            for storage in finder.storages.values():
                roots.append(("", str(storage.location)))
        else:
            logger.warning(
                "staticfiles finder %s.%s: its files are not served by --static",
                type(finder).__module__, type(finder).__qualname__,
            )  # fmt: skip
    return roots


def static_mounts(config: Config) -> _core.StaticFilesConfig | None:
    """The engine's "statics": URL prefixes and directories from Django's settings
    (STATIC_URL/STATIC_ROOT and, with DEBUG, the finders; MEDIA_URL/MEDIA_ROOT).
    None without --static and --media. Raises StaticSetupError."""
    from squall.startup import django_configured

    if not (config.static or config.media):
        return None
    if not django_configured():
        raise StaticSetupError(
            "--static and --media need Django settings (manage.py serve, or an application "
            "that configures Django)"
        )
    from django.conf import settings

    from squall import _core

    def mount(prefix: str, roots: list[tuple[str, str]], media: bool) -> _core.StaticMount:
        return _core.StaticMount(
            prefix=prefix,
            roots=[_core.StaticRoot(subprefix=sub, dir=root) for sub, root in roots],
            fall_through=media,  # a media miss goes to the application
            immutable_hashed=not media,
        )

    mounts: list[_core.StaticMount] = []
    if config.static:
        prefix = _url_prefix(settings.STATIC_URL, "STATIC_URL")
        roots = [("", os.fspath(settings.STATIC_ROOT))] if settings.STATIC_ROOT else []
        if settings.DEBUG:
            roots += finder_roots()
        if not roots:
            raise StaticSetupError("--static: settings.STATIC_ROOT is not set (and DEBUG is off)")
        if prefix is not None:
            mounts.append(mount(prefix, roots, media=False))
    if config.media:
        prefix = _url_prefix(settings.MEDIA_URL, "MEDIA_URL")
        if not settings.MEDIA_ROOT:
            raise StaticSetupError("--media: settings.MEDIA_ROOT is not set")
        if prefix is not None:
            mounts.append(mount(prefix, [("", os.fspath(settings.MEDIA_ROOT))], media=True))
    return _core.StaticFilesConfig(
        mounts=mounts,
        max_age=config.static_max_age,
        follow_symlinks=config.static_follow_symlinks,
    )


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


def metrics_config(config: Config, **info: str) -> _core.MetricsConfig | None:
    """/metrics, or None: --no-metrics, or no probe port (as in Hurricane,
    --no-probe disables both). `info`: more squall_info labels."""
    from squall import _core

    if not (config.probe and config.metrics):
        return None
    labels = metrics_info(config) | info
    return _core.MetricsConfig(path=config.metrics, info=list(labels.items()))


def server_config(
    config: Config, statics: _core.StaticFilesConfig | None = None
) -> _core.ServerConfig:
    """A worker's HTTP server."""
    from squall import _core

    app_port_probes = config.probe and config.probe_port == config.port
    return _core.ServerConfig(
        limits=_core.Limits(
            max_request_line=config.max_request_line,
            max_header_bytes=config.max_header_bytes,
            max_header_count=config.max_header_count,
            max_body_size=config.max_body_size,
        ),
        header_timeout=float(config.header_timeout),
        keepalive_timeout=float(config.keepalive_timeout),
        body_timeout=float(config.body_timeout),
        graceful_timeout=float(config.graceful_timeout),
        timeout=float(config.timeout),
        max_queue=config.max_queue,
        fair_accept=config.fair_accept,
        forwarded_allow_ips=list(config.forwarded_allow_ips),
        access_log=config.access_log,
        log_format=_core.LogFormat[config.log_format],
        threads=config.threads,
        multiprocess=config.workers > 1,
        # --probe-port equal to --port: the workers' I/O threads answer the probes.
        app_port_probes=probe_config(config, checker=False) if app_port_probes else None,
        app_port_metrics=metrics_config(config) if app_port_probes else None,
        statics=statics if statics is not None else _core.StaticFilesConfig(
            mounts=[], max_age=config.static_max_age,
            follow_symlinks=config.static_follow_symlinks,
        ),
    )  # fmt: skip


def master_config(config: Config, *, checker: bool) -> _core.MasterConfig:
    """The master: workers, supervision, the probe port, webhooks."""
    from squall import _core
    from squall.startup import needs_startup_process

    return _core.MasterConfig(
        workers=config.workers,
        timeout=float(config.timeout),
        timeout_grace=float(config.timeout_grace),
        max_requests=config.max_requests,
        max_requests_jitter=config.max_requests_jitter,
        max_lifetime=float(config.max_lifetime),
        max_memory_mib=config.max_memory,
        shutdown_delay=float(config.shutdown_delay),
        graceful_timeout=float(config.graceful_timeout),
        startup_process=needs_startup_process(config),
        checker=checker,
        exit_with_worker=False,
        amqp=False,
        probe=probe_config(config, checker),
        webhook_urls=list(config.webhook_url or []),
        webhook_version=webhook_version() if config.webhook_url else None,
        metrics=metrics_config(config),
    )


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
    from squall import _core
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
    for mount in statics.mounts if statics is not None else []:
        where = ", ".join(root.dir for root in mount.roots)
        logger.info("Serving %s from %s", mount.prefix, where)
    _core.set_log_format(_core.LogFormat[config.log_format])
    master = _core.Master(master_config(config, checker=checker_needed()))
    try:
        port = master.listen(config.host, config.port, config.backlog, config.reuse_port)
    except RuntimeError as exc:
        logger.error("%s", exc)
        return 1
    probes = probe_port(config, port)
    if probes is not None and probes != port:
        try:
            probes = master.listen_probe(config.host, probes)
        except RuntimeError as exc:
            logger.error("probe port: %s", exc)
            return 1
    host = f"[{config.host}]" if ":" in config.host else config.host
    if probes is not None:
        extra = f"; metrics at {config.metrics}" if config.metrics else ""
        logger.info("Probes on http://%s:%d (startup, readiness, liveness%s)", host, probes, extra)
    logger.info(
        "Listening on http://%s:%d: %d worker(s) x %d thread(s), master pid %d",
        host, port, config.workers, config.threads, os.getpid(),
    )  # fmt: skip
    result = master.run()
    role = result.role
    if role is not _core.Role.master:
        # A process the master just forked: do its job, then leave.
        if role is _core.Role.worker:
            code = run_worker(app, load_app, config, master, result.slot, result.listen_fd, statics)
        elif role is _core.Role.startup:
            from squall.startup import run_startup

            code = run_startup(config, master)
        else:
            from squall.checker import run_checker

            code = run_checker(config, master)
        exit_child(code)
    logger.info("Stopped" if result.exit_status == 0 else "Stopped: startup failed")
    return result.exit_status


def exit_child(code: int) -> NoReturn:
    """Ends a process the master forked (worker, startup, checker, consumer)
    without running the master's atexit handlers or unwinding its stack."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
    statics: _core.StaticFilesConfig | None = None,
) -> int:
    """One worker process's life; returns its exit status."""
    from squall import _core

    # SIGABRT from the master (a request past --timeout) prints every
    # thread's traceback before the worker dies.
    faulthandler.enable(all_threads=True)
    try:
        if config.debugger or config.pycharm_host:
            from squall.devtools import attach_debugger

            attach_debugger(config)
        if app is None:
            assert load_app is not None
            app = load_app()
        server = _core.Server(server_config(config, statics))
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
