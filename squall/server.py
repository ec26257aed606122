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
import math
import os
import platform
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from squall.log import reassert_logging
from squall.options import Config, exit_with_error
from squall.staticfiles import StaticSetupError, static_mounts

if TYPE_CHECKING:
    from squall import _core
    from squall.freshmaster import FreshMaster

logger = logging.getLogger("squall")
error_logger = logging.getLogger("squall.error")

WSGIApp = Callable[..., Any]

NO_QUEUE_CHECK = 2**32 - 1  # --req-queue-len 0: a limit no queue reaches


def log_app_error(message: str, exc: BaseException | None) -> None:
    """Called by the engine when the application raises: traceback to the log."""
    if exc is None:
        error_logger.error(message)
    else:
        error_logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))


def probe_config(config: Config, checker: bool) -> _core.ProbeConfig:
    """The probes' paths and limits; `check_interval` 0 when no checker runs."""
    from squall import _core

    return _core.ProbeConfig(
        startup_path=config.startup_probe,
        readiness_path=config.readiness_probe,
        liveness_path=config.liveness_probe,
        # 0: no queue check (Hurricane accepts 0); the engine compares queued < limit.
        req_queue_len=config.req_queue_len or NO_QUEUE_CHECK,
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


def prometheus_settings() -> tuple[str, list[float]]:
    """django-prometheus' settings Squall honours: PROMETHEUS_METRIC_NAMESPACE
    and PROMETHEUS_LATENCY_BUCKETS (without its +Inf; [] for the defaults).
    ValueError with the reason for buckets Squall cannot keep."""
    from squall.startup import django_configured

    if not django_configured():
        return "", []
    from django.conf import settings

    namespace = str(getattr(settings, "PROMETHEUS_METRIC_NAMESPACE", "") or "")
    if namespace and not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", namespace):
        raise ValueError(f"PROMETHEUS_METRIC_NAMESPACE {namespace!r} is not a metric name prefix")
    given = getattr(settings, "PROMETHEUS_LATENCY_BUCKETS", None)
    if given is None:
        return namespace, []
    try:
        bounds = [float(b) for b in given]
    except (TypeError, ValueError):
        raise ValueError(f"PROMETHEUS_LATENCY_BUCKETS {given!r}: not a list of numbers") from None
    if bounds and bounds[-1] == math.inf:
        bounds.pop()
    if not bounds or any(not math.isfinite(b) for b in bounds):
        raise ValueError(f"PROMETHEUS_LATENCY_BUCKETS {given!r}: finite bounds, +Inf only last")
    if any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(f"PROMETHEUS_LATENCY_BUCKETS {given!r}: bounds must increase")
    if len(bounds) > MAX_LATENCY_BUCKETS:
        raise ValueError(
            f"PROMETHEUS_LATENCY_BUCKETS has {len(bounds)} finite bounds; Squall keeps at "
            f"most {MAX_LATENCY_BUCKETS} (django-prometheus' default has 16)"
        )
    return namespace, bounds


# core/state/metrics_tables.h: kMaxLatencyBuckets.
MAX_LATENCY_BUCKETS = 16


def metrics_config(config: Config, **info: str) -> _core.MetricsConfig | None:
    """/metrics, or None: --no-metrics, or no probe port (as in Hurricane,
    --no-probe disables both). `info`: more squall_info labels."""
    from squall import _core

    if not (config.probe and config.metrics):
        return None
    labels = metrics_info(config) | info
    try:
        namespace, buckets = prometheus_settings()
    except ValueError as exc:
        exit_with_error(str(exc))
    return _core.MetricsConfig(
        path=config.metrics,
        info=list(labels.items()),
        django_namespace=namespace,
        latency_buckets=buckets,
    )


def server_config(
    config: Config, statics: _core.StaticFilesConfig | None = None, *, checker: bool = False
) -> _core.ServerConfig:
    """A worker's HTTP server; `checker`: a checker process publishes health
    results (the probes it answers on the app port judge their age)."""
    from squall import __version__, _core

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
        server_software=f"squall/{__version__}",
        access_log_format=list(config.access_log_format),
        # ASGI: one event loop thread takes the requests (squall.asgi).
        threads=1 if config.interface == "asgi" else config.threads,
        websockets=config.interface == "asgi",
        ws_max_message_size=config.ws_max_message_size,
        multiprocess=config.workers > 1,
        # --probe-port equal to --port: the workers' I/O threads answer the probes.
        app_port_probes=probe_config(config, checker) if app_port_probes else None,
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
    fresh: FreshMaster | None = None,
) -> int:
    """Serves until SIGTERM (graceful) or SIGINT/SIGQUIT; returns the master's exit status.

    `app` is the preloaded application (loaded once, before fork), or None
    with `load_app`, which each worker then calls after its fork (--no-preload).
    With `fresh`, this process has Django's settings but has not set Django up
    (squall.freshmaster): the startup, health-check and worker processes do it
    after their fork, the workers only once the startup phase is done.
    """
    from squall._core import Role
    from squall.bootstrap import run_master, start_master, url_host
    from squall.checker import checker_needed
    from squall.startup import django_configured, needs_startup_process

    if app is None and load_app is None:
        raise ValueError("serve() needs an application or a loader")
    if config.interface == "asgi" and config.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            exit_with_error("--loop uvloop: uvloop is not installed (pip install uvloop)")
    if needs_startup_process(config) and not django_configured():
        exit_with_error("--command and --check-migrations need a Django project (manage.py serve)")
    try:
        # A fresh master checks the settings; its workers add the finders' roots.
        statics = static_mounts(config, finders=fresh is None)
    except StaticSetupError as exc:
        exit_with_error(str(exc))
    if fresh is None:
        log_mounts(statics)
    has_checker = fresh.checker if fresh else checker_needed()
    engine = master_config(config, checker=has_checker)
    started = start_master(engine, config, logger, app_port=True)
    if started is None:
        return 1
    master, port = started
    per_worker = (
        "1 ASGI event loop" if config.interface == "asgi" else f"{config.threads} thread(s)"
    )
    logger.info(
        "Listening on http://%s:%d: %d worker(s) x %s, master pid %d",
        url_host(config.host), port, config.workers, per_worker, os.getpid(),
    )  # fmt: skip

    def worker(master: Any, slot: int, listen_fd: int) -> int:
        return run_worker(
            app, load_app, config, master, slot, listen_fd, statics,
            own_statics=fresh is not None, checker=has_checker,
        )  # fmt: skip

    def startup(master: Any, _slot: int, _listen_fd: int) -> int:
        from squall.startup import run_startup

        if fresh is not None:
            from squall.freshmaster import setup_django

            setup_django()
        status = run_startup(config, master)
        if status == 0 and fresh is not None:
            log_mounts(static_mounts(config, quiet=True))  # what the commands left in place
        return status

    def checker(master: Any, _slot: int, _listen_fd: int) -> int:
        from squall.checker import run_checker
        from squall.freshmaster import setup_django

        setup_django()
        return run_checker(config, master)

    roles = {Role.worker: worker, Role.startup: startup}
    if fresh is not None:
        roles[Role.checker] = checker
    status = run_master(master, config, roles)
    logger.info("Stopped" if status == 0 else "Stopped: startup failed")
    return status


def log_mounts(statics: _core.StaticFilesConfig | None) -> None:
    """``Serving /static/ from DIR`` for each mount; a warning for each
    directory that does not exist."""
    for mount in statics.mounts if statics is not None else []:
        there = [root.dir for root in mount.roots if os.path.isdir(root.dir)]
        if there:
            logger.info("Serving %s from %s", mount.prefix, ", ".join(there))
        miss = "go to the application" if mount.fall_through else "are 404"
        for root in mount.roots:
            if root.dir not in there:
                logger.warning(
                    "%s: %s is not a directory: its files %s until it is",
                    mount.prefix, root.dir, miss,
                )  # fmt: skip


def start_migrations_gauges(master: Any) -> None:
    """django_migrations_*: counted once by the first worker, in a thread of its
    own (a slow database delays nothing)."""
    from squall.startup import django_configured

    if not django_configured():
        return
    from django.apps import apps
    from django.conf import settings

    if not apps.ready:
        return
    # django-prometheus' switch; on by default here (one query per database
    # per start, off the request path), off when the project says False.
    if not getattr(settings, "PROMETHEUS_EXPORT_MIGRATIONS", True):
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
    *,
    own_statics: bool = False,
    checker: bool = False,
) -> int:
    """One worker process's life; returns its exit status. `own_statics`: the
    static mounts are read here, once the application is loaded (fresh master).
    `checker`: a checker process runs beside the workers."""
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
            reassert_logging()  # loading it may have applied the project's LOGGING
        if config.tracing_setup:
            # After the fork: the SDK's exporter threads and sockets are this worker's.
            from squall.tracing import worker_app

            app = worker_app(app, config.tracing_setup, asgi=config.interface == "asgi")
        if own_statics:
            statics = static_mounts(config, quiet=True)
        server = _core.Server(server_config(config, statics, checker=checker))
        server.attach(master, slot, listen_fd)
        server.handle_signals()
    except BaseException:
        logger.exception("worker %d could not start", os.getpid())
        return 1
    if config.interface == "asgi":
        from squall.asgi import run_asgi_worker

        if slot == 0 and _core.metrics_enabled():
            start_migrations_gauges(master)
        return run_asgi_worker(server, app, config)
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
    finish_app_metrics = None
    if _core.metrics_enabled():
        if slot == 0:
            start_migrations_gauges(master)
        finish_app_metrics = start_app_metrics()
    logger.info("worker %d serving", os.getpid())
    status = server.run()
    for thread in threads:
        # The queue is closed: each thread ends after its current request.
        thread.join(timeout=5.0)
    if finish_app_metrics is not None:
        finish_app_metrics()  # the last values, before the master folds this worker's tables
    return int(status)


def start_app_metrics() -> Callable[[], None]:
    """The model series at 0 and the copies of the app's prometheus_client
    registry (squall/app_metrics.py); returns the function that ends them."""
    from squall import app_metrics
    from squall.startup import django_configured

    namespace = ""
    if django_configured():
        from django.apps import apps

        if apps.ready:
            from squall.metrics import start_worker_metrics

            start_worker_metrics()
            namespace, _ = prometheus_settings()
    return app_metrics.start(namespace)
