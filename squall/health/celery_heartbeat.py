"""A Celery worker bootstep that touches a heartbeat file while the worker runs.

Install it on the project's Celery app (e.g. in ``proj/celery.py``)::

    from celery import Celery
    from squall.health.celery_heartbeat import HeartbeatStep

    app = Celery("proj")
    app.steps["worker"].add(HeartbeatStep)

and check the file from the worker pod's liveness probe with
``squall.health.backends.celery.CeleryHeartbeatBackend``.

Settings (Django settings, or environment variables of the same name when
the worker runs without Django settings):

- ``SQUALL_CELERY_HEARTBEAT_FILE``: the file, default
  ``<tempdir>/squall-celery-heartbeat`` (one worker per container; give
  each worker its own file when several share a filesystem).
- ``SQUALL_CELERY_HEARTBEAT_INTERVAL``: seconds between touches, default 10.
  Keep the backend's ``max_age`` a few intervals above it.

The file is touched by the worker's timer, which runs in the worker's event
loop: a loop that is blocked (a wedged consumer, or a task hogging a solo
pool) stops the heartbeat, which is what a liveness check should notice.
At shutdown the file is removed, so a stopped worker fails the check at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from celery import bootsteps

from squall.health.backends.celery import heartbeat_file, heartbeat_interval

logger = logging.getLogger("squall.health")


class HeartbeatStep(bootsteps.StartStopStep):
    # worker.timer exists only once the Timer step has run.
    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path: Path = heartbeat_file()
        self.interval: float = heartbeat_interval()
        self.tref: Any = None

    def touch(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()  # updates the mtime when the file exists
        except OSError as e:  # a full or read-only disk must not kill the worker
            logger.warning("celery heartbeat: cannot touch %s: %s", self.path, e)

    def start(self, parent: Any) -> None:
        self.touch()
        self.tref = parent.timer.call_repeatedly(self.interval, self.touch, priority=10)
        logger.info("celery heartbeat: touching %s every %g s", self.path, self.interval)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def terminate(self, parent: Any) -> None:  # cold shutdown: the same cleanup
        self.stop(parent)
