"""bench/ws_echo.py end to end, short: its client really completes WebSocket
echo round trips against a real ``squall --interface asgi`` (the plain ASGI
echo app), spread over two client processes, and reports them; bad options
get a precise error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "ws_echo.py"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_echo_row_against_squall_asgi() -> None:
    done = run("-n", "6", "-d", "1", "--warmup", "0", "--apps", "plain",
               "--servers", "squall-asgi", "--clients", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = re.search(r"^\| plain \| squall-asgi \| 2 \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) "
                    r"\| (\d+) \| (\d+) \|", done.stdout, re.M)  # fmt: skip
    assert row, done.stdout
    msgs, p50, p99, errors, connected = row.groups()
    assert int(msgs.replace(",", "")) > 100  # closed loop on loopback: thousands
    assert 0 < float(p50) <= float(p99)
    assert (errors, connected) == ("0", "6")


def test_bad_options_are_refused() -> None:
    done = run("--clients", "two")
    assert done.returncode != 0
    assert "--clients takes a comma list of integers, not 'two'" in done.stderr
    done = run("--servers", "nginx")
    assert "unknown servers: nginx" in done.stderr
