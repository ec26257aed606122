"""bench/hello.py's app, reporting each request to Squall's metrics the way
squall.metrics.PrometheusAfterMiddleware does (one engine call), spread over
`SQUALL_BENCH_VIEWS` view names so /metrics holds about 1,000 series.

    squall bench.metrics_app:app      (from the repository root)
"""

import itertools
import os
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from squall import _core

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
VIEWS = [f"bench:view-{i}" for i in range(int(os.environ.get("SQUALL_BENCH_VIEWS", "42")))]
_next = itertools.count()


def app(
    environ: dict[str, Any],
    start_response: Callable[[str, list[tuple[str, str]]], Any],
) -> Iterable[bytes]:
    started = perf_counter()
    start_response("200 OK", list(HEADERS))
    view = VIEWS[next(_next) % len(VIEWS)]
    latency = perf_counter() - started
    method = environ["REQUEST_METHOD"]
    _core.metrics_request(view, method, "http", "200", latency, 0, len(BODY), False)
    return [BODY]
