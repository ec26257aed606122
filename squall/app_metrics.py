"""An application's own prometheus_client metrics on Squall's /metrics.

A view module registers a Counter, Gauge, Histogram or Summary in
prometheus_client's default REGISTRY, as it would under any server; each
worker copies the current values of those metrics into its own table in
shared memory (every :data:`INTERVAL` seconds and once more when it stops),
and the master sums the workers' tables when it renders /metrics. No
``PROMETHEUS_MULTIPROC_DIR``, no files. docs/metrics.md: "An app's own
metrics" says what is summed how and what happens past the label-set cap.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("squall.metrics")

INTERVAL = 1.0  # seconds between two copies of a worker's registry

# Types whose samples only grow (summed, and folded into the pod's totals
# when the worker exits) and types that describe the live process (summed
# over the live workers, gone with their worker).
_GROWING = {"counter", "histogram", "summary"}
_LIVE = {"gauge", "unknown"}


def _metrics(registry: Any, client: Any) -> list[Any]:
    """The registry's metric objects (Counter, Gauge, ...). Custom collectors
    and prometheus_client's process, platform and GC collectors are left out:
    Squall has its own process families, and a custom collector may do work
    meant to run once per scrape, not once per second per worker."""
    base = client.metrics.MetricWrapperBase
    lock = getattr(registry, "_lock", None)
    with lock if lock is not None else threading.Lock():
        collectors = list(getattr(registry, "_collector_to_names", {}))
    return [c for c in collectors if isinstance(c, base)]


class Mirror:
    """Copies one registry into the calling worker's table (squall._core)."""

    def __init__(self, django_prefix: str = "django_") -> None:
        # Families Squall writes itself (django-prometheus' names, squall_*)
        # are never taken from the registry: django_prometheus left installed
        # would otherwise expose them twice.
        self.skip_prefixes = (django_prefix, "squall_")
        self.refused: set[tuple[str, ...]] = set()
        self.skipped_types: set[str] = set()
        self.lock = threading.Lock()

    def rows(self, registry: Any, client: Any) -> list[tuple[list[str], bool, float]]:
        rows: list[tuple[list[str], bool, float]] = []
        for wrapper in _metrics(registry, client):
            for metric in wrapper.collect():
                if metric.name.startswith(self.skip_prefixes):
                    continue
                if metric.type not in _GROWING and metric.type not in _LIVE:
                    if metric.type not in self.skipped_types:
                        self.skipped_types.add(metric.type)
                        logger.warning(
                            "prometheus_client %s metrics (%s) are not exported by Squall",
                            metric.type, metric.name,
                        )  # fmt: skip
                    continue
                growing = metric.type in _GROWING
                for sample in metric.samples:
                    # _created: a timestamp per process, meaningless summed;
                    # quantiles (custom summaries) cannot be summed either.
                    if sample.name.endswith("_created") or "quantile" in sample.labels:
                        continue
                    key = [metric.name, metric.type, sample.name]
                    for name, value in sample.labels.items():
                        key += [name, value]
                    if tuple(key) not in self.refused:
                        rows.append((key, growing, float(sample.value)))
        return rows

    def copy(self) -> None:
        """One copy of the default REGISTRY (nothing when the app never
        imported prometheus_client)."""
        client = sys.modules.get("prometheus_client")
        if client is None:
            return
        from squall import _core

        with self.lock:
            rows = self.rows(client.REGISTRY, client)
            if not rows:
                return
            for index in _core.metrics_app_set(rows):
                key = tuple(rows[index][0])
                self.refused.add(key)
                logger.warning(
                    "metric sample %s%s not exported: the worker's label-set table is "
                    "full or its names and labels exceed 232 bytes "
                    "(squall_metrics_series_dropped_total)",
                    key[2], dict(zip(key[3::2], key[4::2], strict=True)) or "",
                )


def start(django_namespace: str = "") -> Callable[[], None]:
    """In a worker, once its tables are attached: copies every INTERVAL
    seconds in a daemon thread. Returns the function that stops it and makes
    the last copy (the worker calls it when its requests are done)."""
    prefix = f"{django_namespace}_django_" if django_namespace else "django_"
    mirror = Mirror(prefix)
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(INTERVAL):
            try:
                mirror.copy()
            except Exception:  # a broken metric must not end the copies of the others
                logger.exception("copying the application's metrics failed")

    thread = threading.Thread(target=run, name="squall-app-metrics", daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(timeout=INTERVAL * 2)
        try:
            mirror.copy()
        except Exception:
            logger.exception("copying the application's metrics failed")

    return finish
