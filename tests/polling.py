"""Waiting for something another process does (a log line, a record file, a
port that accepts), with a deadline, polling instead of sleeping a fixed time;
and free loopback ports for the processes the tests start (Squall servers in
serverproc.py, PostgreSQL, Redis and RabbitMQ in realservers.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    what: str,
    timeout: float = 5.0,
    *,
    interval: float = 0.02,
    error: type[Exception] = AssertionError,
    detail: Callable[[], str] = str,
) -> T:
    """Returns probe()'s first truthy value; at the deadline raises `error` naming
    `what`, followed by detail() (a log's tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout} s waiting for {what}{detail()}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def file_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for_line(path: Path, line: str, timeout: float = 5.0) -> None:
    """Waits until the file at `path` has the line `line`."""
    wait_for(lambda: line in file_lines(path), f"{line!r} in {path}", timeout)
