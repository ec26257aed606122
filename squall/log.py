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
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from squall.options import Config

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "format_time"]

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


def configure_logging(config: Config, stream: IO[str] | None = None) -> logging.Logger:
    """Send the ``squall`` logger's records to stderr (or `stream`) in config.log_format.

    Independent of Django's LOGGING: the handler is on the ``squall`` logger,
    which does not propagate. Calling it again replaces the handler.
    """
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "squall", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.squall = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if config.log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(config.log_level.upper())
    logger.propagate = False
    return logger
