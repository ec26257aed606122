"""Squall's two log line formats (the C++ engine writes the same ones)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from squall.log import configure_logging, format_time
from squall.options import Config

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def squall_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("squall")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


def test_time_is_utc_iso8601_with_milliseconds() -> None:
    assert format_time(1795251000.1239) == "2026-11-21T08:50:00.123Z"
    assert format_time(0) == "1970-01-01T00:00:00.000Z"


def test_text_lines(squall_logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(Config(), stream=out)
    squall_logger.info("listening on %s:%d", "0.0.0.0", 8000)
    squall_logger.getChild("access").warning("slow")
    squall_logger.debug("not at info level")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(TIME + r" INFO squall: listening on 0\.0\.0\.0:8000", lines[0])
    assert re.fullmatch(TIME + r" WARNING squall\.access: slow", lines[1])


def test_text_traceback_follows_the_line(squall_logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(Config(), stream=out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        squall_logger.exception("request failed")
    first, *rest = out.getvalue().splitlines()
    assert re.fullmatch(TIME + r" ERROR squall: request failed", first)
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: boom"


def test_json_lines(squall_logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging(Config(log_format="json", log_level="debug"), stream=out)
    squall_logger.debug("hello\nworld", extra={"status": 200, "time": "not the time"})
    try:
        raise ValueError("bad")
    except ValueError:
        squall_logger.error("failed", exc_info=True)
    first, second = out.getvalue().splitlines()
    event = json.loads(first)
    assert list(event) == ["time", "level", "logger", "message", "status"]
    assert re.fullmatch(TIME, event["time"])
    assert event["level"] == "debug" and event["logger"] == "squall"
    assert event["message"] == "hello\nworld" and event["status"] == 200
    event = json.loads(second)
    assert event["level"] == "error"
    assert event["exc_info"].startswith("Traceback") and "ValueError: bad" in event["exc_info"]


def test_configure_again_replaces_the_handler(squall_logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(Config(), stream=first)
    configure_logging(Config(log_level="warning"), stream=second)
    squall_logger.info("dropped")
    squall_logger.warning("kept")
    assert first.getvalue() == ""
    assert second.getvalue().count("\n") == 1 and "kept" in second.getvalue()
    assert squall_logger.propagate is False
