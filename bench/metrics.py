#!/usr/bin/env python3
"""/metrics under load, against two targets: scrapes stay fast and cheap.

1. Scrape latency: Squall serves bench.metrics_app (every request recorded
   as the Django middleware records it, over 42 view names: just over 1,000
   series) with 2 workers x 2 threads while wrk drives the app port; a
   Prometheus-like client scrapes /metrics on the probe port (a new
   connection each, OpenMetrics Accept) back to back. Target: p99 < 10 ms.
2. Scrape cost: wrk throughput on the same app without scraping and with a
   scrape every second (as Prometheus with scrape_interval: 1s), runs
   alternated, the median of each. Target: under 3 % apart.

    PYTHONPATH=$PWD .venv/bin/python bench/metrics.py [-d 10] [--rounds 3] [-c 64]

Loopback only, every wait bounded; the wrk helpers of bench/harness.py.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import (
    BENCH_DIR,
    BIN,
    HOST,
    REPO,
    Launch,
    Options,
    free_port,
    parse_wrk,
    run_wrk,
    running_server,
    wait_until_answering,
)

OM_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def launch(port: int, probe_port: int, opts: Options) -> Launch:
    # The console script, with the caller's PYTHONPATH only: this tree's squall
    # with PYTHONPATH=$PWD (an in-place build), else the one installed in .venv.
    argv = [str(BIN / "squall"), "bench.metrics_app:app", "--host", HOST]
    argv += ["--port", str(port), "--probe-port", str(probe_port), "--no-access-log"]
    argv += ["--workers", str(opts.processes), "--threads", str(opts.threads)]
    return Launch(argv, REPO)


def scrape(port: int) -> tuple[float, str]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"Accept": OM_ACCEPT})
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    return time.perf_counter() - started, body


def series_count(body: str) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


class Scraper(threading.Thread):
    """Scrapes every `interval` seconds (0: back to back) until stopped."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.latencies: list[float] = []
        self.failures = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.latencies.append(scrape(self.port)[0])
            except OSError:
                self.failures += 1
            if self.interval:
                self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="runs with and without scraping")
    args = parser.parse_args()
    opts = Options(
        processes=2, threads=2, connections=args.connections, duration_s=args.duration,
        warmup_s=2, wrk_threads=2, startup_timeout_s=30,
    )  # fmt: skip
    port, probe_port = free_port(), free_port()
    log = Path(tempfile.mkstemp(prefix="squall-bench-metrics-", suffix=".log")[1])
    url = f"http://{HOST}:{port}/"
    with running_server(launch(port, probe_port, opts), log) as proc:
        if wait_until_answering(proc, port, "/", opts.startup_timeout_s) != 200:
            print(f"squall did not start; log: {log}")
            return 1
        run_wrk(url, opts, opts.warmup_s)  # every view has a label set now
        _, body = scrape(probe_port)
        series = series_count(body)

        # 1. latency of back-to-back scrapes under full load
        scraper = Scraper(probe_port, 0)
        scraper.start()
        loaded = parse_wrk(run_wrk(url, opts, opts.duration_s))
        scraper.stop()
        lat = [x * 1000 for x in scraper.latencies]

        # 2. throughput without / with a 1 s scrape interval, alternated
        without, with_scrape = [], []
        for _ in range(args.rounds):
            without.append(parse_wrk(run_wrk(url, opts, opts.duration_s)).requests_per_s)
            s = Scraper(probe_port, 1.0)
            s.start()
            with_scrape.append(parse_wrk(run_wrk(url, opts, opts.duration_s)).requests_per_s)
            s.stop()

    where = f"{BENCH_DIR.name}/metrics.py"
    print(f"# /metrics under load (2 workers x 2 threads, wrk -c{opts.connections}, {where})")
    print(f"series in the exposition: {series} ({len(body)} bytes, OpenMetrics)")
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    print(
        f"scrapes back to back while wrk ran ({loaded.requests_per_s:.0f} req/s): "
        f"{len(lat)} scrapes, {scraper.failures} failed; p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
        f"max {max(lat):.2f} ms (target p99 < 10 ms)"
    )
    a, b = statistics.median(without), statistics.median(with_scrape)
    print(
        f"req/s without scraping {', '.join(f'{x:.0f}' for x in without)} (median {a:.0f}); "
        f"with a 1 s scrape {', '.join(f'{x:.0f}' for x in with_scrape)} (median {b:.0f}); "
        f"difference {100 * (a - b) / a:+.1f} % (target under 3 %)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
