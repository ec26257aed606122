"""The plainest WSGI app: ``200 text/plain "Hello, World!"`` with a Content-Length.

Served as ``bench.hello:app`` from the repository root by every WSGI server in
the benchmark, so the ``hello`` workload measures the server, not Django.
"""

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, World!"
HEADERS = [
    ("Content-Type", "text/plain"),
    ("Content-Length", str(len(BODY))),
]


def app(
    environ: dict[str, Any],
    start_response: Callable[[str, list[tuple[str, str]]], Any],
) -> Iterable[bytes]:
    start_response("200 OK", list(HEADERS))
    return [BODY]
