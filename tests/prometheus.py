"""A private Prometheus server (Debian package `prometheus`) for tests.

`start_prometheus(base_dir, targets)` writes a config that scrapes `targets`
("127.0.0.1:PORT", the Squall probe port) every `interval`, starts Prometheus
on a free loopback port with its storage under base_dir, waits until its HTTP
API answers (polling, never a fixed sleep) and returns an object whose
`query()` runs an instant PromQL query. Stopped on exit of the `with` block.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from realservers import _poll, _terminate, free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Prometheus:
    def __init__(
        self,
        base_dir: Path,
        targets: list[str],
        interval: float = 0.5,
        metrics_path: str = "/metrics",
        jobs: dict[str, list[str]] | None = None,
        labels: dict[str, str] | None = None,
        exemplars: bool = False,
    ) -> None:
        """`jobs`: job name -> targets, in place of one job "squall" scraping
        `targets`; `labels`: added to every target (a dashboard's cluster=...)."""
        self.base_dir = base_dir
        self.exemplar_storage = exemplars
        self.port = free_port()
        self.log = base_dir / "prometheus.log"
        ms = f"{int(interval * 1000)}ms"
        config = {
            # evaluation_interval is also a subquery's default step ([1d:]).
            "global": {"scrape_interval": ms, "scrape_timeout": ms, "evaluation_interval": ms},
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": metrics_path,
                    "static_configs": [{"targets": hosts, "labels": labels or {}}],
                }
                for job, hosts in (jobs or {"squall": targets}).items()
            ],
        }
        self.config = base_dir / "prometheus.yml"
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.base_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    *(["--enable-feature=exemplar-storage"] if self.exemplar_storage else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _poll(self._ready, "prometheus", 30.0, self.log)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [t, "v"]}];
        `at`: evaluated at that time.time() instead of now."""
        params = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
        return list(self.api("query", **params)["result"])

    def value(self, promql: str) -> float | None:
        """The single value of a query, None while it has none."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def exemplars(self, promql: str, start: float) -> list[dict[str, Any]]:
        """/api/v1/query_exemplars from `start` (time.time()) to now:
        [{"seriesLabels": {...}, "exemplars": [{"labels": {...}, "value", "timestamp"}]}]."""
        end = str(time.time())
        return list(self.api("query_exemplars", query=promql, start=str(start), end=end))

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])

    def scrapes_after(self, moment: float, timeout: float = 15.0) -> None:
        """Waits until every target was scraped (successfully) after `moment` (time.time())."""

        def done() -> bool:
            targets = self.targets()
            return bool(targets) and all(
                t["health"] == "up" and _rfc3339(t["lastScrape"]) > moment for t in targets
            )

        _poll(done, "a scrape of every target", timeout, self.log)

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _rfc3339(text: str) -> float:
    """Prometheus' lastScrape ("2026-11-21T11:49:10.123456789Z") as time.time()."""
    from datetime import datetime

    main, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(main + "+00:00").timestamp()
    return seconds + (float("0." + frac[:6]) if frac else 0.0)


def start_prometheus(
    base_dir: Path, targets: list[str], interval: float = 0.5, *, exemplars: bool = False
) -> Prometheus:
    """`exemplars`: --enable-feature=exemplar-storage (it scrapes OpenMetrics, keeps exemplars)."""
    base_dir.mkdir(parents=True, exist_ok=True)
    return Prometheus(base_dir, targets, interval, exemplars=exemplars).start()


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    """`promtool check metrics` on an exposition (stdin)."""
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
