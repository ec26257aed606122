"""Waiting for something another process writes (a log line, a record file),
with a deadline, polling instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str, timeout: float = 5.0) -> T:
    """Returns probe()'s first truthy value; AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def file_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for_line(path: Path, line: str, timeout: float = 5.0) -> None:
    """Waits until the file at `path` has the line `line`."""
    wait_for(lambda: line in file_lines(path), f"{line!r} in {path}", timeout)
