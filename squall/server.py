"""Runs a WSGI application on the C++ engine (one process; see docs/architecture.md).

The main thread runs the engine's epoll loop with the GIL released; ``threads``
Python threads take complete requests from the engine's queue and call the
application. SIGTERM, SIGINT and SIGQUIT are received by the loop (signalfd),
so they are blocked in every thread before any thread starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from squall.options import Config

logger = logging.getLogger("squall")
error_logger = logging.getLogger("squall.error")


def log_app_error(message: str, exc: BaseException | None) -> None:
    """Called by the engine when the application raises: traceback to the log."""
    if exc is None:
        error_logger.error(message)
    else:
        error_logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))


def engine_config(config: Config) -> dict[str, Any]:
    """The subset of the configuration the C++ engine reads, by field name."""
    return {
        "threads": config.threads,
        "max_request_line": config.max_request_line,
        "max_header_bytes": config.max_header_bytes,
        "max_header_count": config.max_header_count,
        "max_body_size": config.max_body_size,
        "header_timeout": float(config.header_timeout),
        "keepalive_timeout": float(config.keepalive_timeout),
        "body_timeout": float(config.body_timeout),
        "forwarded_allow_ips": list(config.forwarded_allow_ips),
        "access_log": config.access_log,
        "log_format": config.log_format,
    }


def serve(app: Callable[..., Any], config: Config) -> int:
    """Serves ``app`` until SIGTERM (graceful) or SIGINT/SIGQUIT; returns the exit status."""
    from squall import _core

    # Before the engine exists (it takes them on a signalfd) and before any
    # thread starts (threads inherit the mask).
    _core.Server.block_signals()
    server = _core.Server(engine_config(config))
    try:
        port = server.listen(config.host, config.port, config.backlog)
    except RuntimeError as exc:
        logger.error("%s", exc)
        return 1
    workers = [
        threading.Thread(
            target=server.serve_requests,
            args=(app, log_app_error),
            name=f"squall-app-{index}",
            daemon=True,
        )
        for index in range(config.threads)
    ]
    for worker in workers:
        worker.start()
    host = f"[{config.host}]" if ":" in config.host else config.host
    logger.info("Listening on http://%s:%d with %d thread(s)", host, port, config.threads)
    status = server.run()
    for worker in workers:
        # The queue is closed: each thread ends after its current request.
        worker.join(timeout=5.0)
    logger.info("Stopped")
    return status
