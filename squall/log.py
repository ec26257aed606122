"""Squall's log lines, on stderr, one per event.

Python (this module) and the C++ engine write the same two formats, selected by
``--log-format``. Every line is one event; only a text line's exception
traceback continues on the following lines.

text (the default)::

    2026-11-21T08:50:00.123Z INFO squall: listening on 0.0.0.0:8000

    <time> <LEVEL> <logger>: <message>

json, one object per line, keys in this order, then any ``extra`` fields given
to the log call (they never replace the five keys)::

    {"time": "2026-11-21T08:50:00.123Z", "level": "info", "logger": "squall", "message": "..."}

- ``time``: UTC, ISO 8601 with milliseconds and a ``Z`` suffix.
- level: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL`` in text; the
  same in lower case in json.
- logger: ``squall`` for server events, ``squall.<part>`` for a part of it
  (the access log is ``squall.access``).
- ``exc_info`` (json only, present only with an exception): the formatted
  traceback text, newlines escaped by JSON.

JSON is written with ASCII escapes, so a json line never contains a raw newline.

The project's LOGGING cannot silence these lines: Django applies it in
``django.setup()``, which may run after :func:`configure_logging` (a worker
loading the application, ``squall mysite.wsgi``), so :func:`reassert_logging`
runs again afterwards (squall's ``AppConfig.ready()``, and after the
application is loaded): the ``squall`` loggers are enabled again, ``squall``
gets Squall's handler and ``--log-level`` back (a ``squall`` entry in LOGGING
may add handlers, not remove these lines). With json, every handler of the
logging tree that writes to stderr (Django's ``console``, the project's own)
gets the json formatter, so ``Not Found: /x`` is a json line too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from squall.options import Config

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "format_time",
    "reassert_logging",
]

LOGGER = "squall"

# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def format_time(created: float) -> str:
    """``2026-11-21T08:50:00.123Z`` for a time.time() value."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message>``, then the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{format_time(record.created)} {record.levelname} {record.name}: "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, exc_info, extras."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": format_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            event["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack_info"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS:
                event.setdefault(key, value)
        return json.dumps(event, default=str)


# What configure_logging() was last called with: reassert_logging() applies it again.
_configured: tuple[str, str, IO[str] | None] | None = None


def configure_logging(config: Config, stream: IO[str] | None = None) -> logging.Logger:
    """Send the ``squall`` logger's records to stderr (or `stream`) in config.log_format.

    Independent of Django's LOGGING: the handler is on the ``squall`` logger,
    which does not propagate. Calling it again replaces the handler.
    """
    global _configured
    _configured = (config.log_format, config.log_level, stream)
    return _configure(config.log_format, config.log_level, stream)


def reassert_logging() -> None:
    """After the project's LOGGING was applied: Squall's log as configure_logging()
    set it up (nothing when it was not called in this process)."""
    if _configured is not None:
        _configure(*_configured)


def _configure(log_format: str, log_level: str, stream: IO[str] | None) -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "squall", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.squall = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(log_level.upper())
    logger.propagate = False
    logger.disabled = False
    # LOGGING's disable_existing_loggers, or levels set on squall.<part>.
    for name, child in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(LOGGER + ".") and isinstance(child, logging.Logger):
            child.disabled = False
            child.setLevel(logging.NOTSET)
            child.propagate = True
    if log_format == "json" and stream is None:
        _json_on_stderr()
    return logger


def _json_on_stderr() -> None:
    """Every handler in the logging tree that writes to stderr formats json."""
    stderrs = {id(sys.stderr), id(sys.__stderr__)}
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = [h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if getattr(handler, "squall", False) or not isinstance(handler, logging.StreamHandler):
            continue
        if id(handler.stream) in stderrs or type(handler).__name__ == "_StderrHandler":
            handler.setFormatter(JsonFormatter())
    logging.captureWarnings(True)  # warnings.warn() as json lines too
