"""``--autoreload``: the process started by the user becomes a small supervisor.

It runs the same command line again as a child with ``SQUALL_AUTORELOAD_CHILD=1``
(the child serves), watches the project's Python files, its template
directories (with ``manage.py serve``: Django's cached template loader keeps a
template until the process restarts) and the ``--static-watch`` paths
(squall.inotify), and on a change stops the child
(SIGTERM, then SIGKILL after a few seconds) and starts a new one. A child that
exits on its own, for example on a SyntaxError at import, is logged and
started again on the next change: the supervisor only ends on SIGTERM /
SIGINT, which it passes to the child. See docs/devtools.md.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import replace
from pathlib import Path

from squall.inotify import InotifyWatcher
from squall.options import Config

__all__ = [
    "AUTORELOAD_CHILD",
    "autoreload_child_config",
    "is_autoreload_child",
    "run_with_autoreload",
]

# The name of the module these tools came from: log lines keep it ("squall.devtools: ...").
logger = logging.getLogger("squall.devtools")

AUTORELOAD_CHILD = "SQUALL_AUTORELOAD_CHILD"


def is_autoreload_child() -> bool:
    """True in the server process that an autoreload supervisor started."""
    return os.environ.get(AUTORELOAD_CHILD) == "1"


def autoreload_child_config(config: Config) -> Config:
    """The configuration the autoreload child serves with: no shutdown delay, since
    no load balancer needs one and a restart must be quick."""
    return replace(config, shutdown_delay=0.0)


def _child_command() -> list[str]:
    """This process's own command line, interpreter options included."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    return [sys.executable, *argv[1:]]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _status_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def _exit_status(code: int) -> int:
    return 128 - code if code < 0 else code


RESTART_GRACE = 5.0  # seconds from SIGTERM to SIGKILL on a restart
QUIET = 0.1  # a burst of changes (a git checkout) ends after this much quiet ...
BURST = 0.5  # ... or after this long: then the server restarts


class Supervisor:
    """Runs the server as a child and restarts it on changes (see the module docs)."""

    def __init__(self, config: Config, command: list[str], watcher: InotifyWatcher) -> None:
        self.config = config
        self.command = command
        self.watcher = watcher
        self.child: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.stop_signal: int | None = None
        self.poller = select.poll()

    # ---- the child

    def start(self) -> None:
        # No .pyc from the child: a .pyc is checked against the source's mtime in
        # whole seconds and its size, so an edit of the same length within the
        # second it was compiled would be masked by the stale cache.
        env = {**os.environ, AUTORELOAD_CHILD: "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.child = subprocess.Popen(self.command, env=env, preexec_fn=_die_with_parent)
        try:
            self.pidfd = os.pidfd_open(self.child.pid)
            self.poller.register(self.pidfd, select.POLLIN)
        except (AttributeError, OSError):
            self.pidfd = -1  # old kernel: the loop polls the child every 0.2 s instead
        logger.debug("autoreload: started server process %d", self.child.pid)

    def _reaped(self) -> int:
        assert self.child is not None
        code = self.child.wait()
        if self.pidfd >= 0:
            self.poller.unregister(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        self.child = None
        return code

    def stop(self, sig: int, grace: float) -> int:
        """Signals the child, SIGKILL after `grace` seconds; its exit code."""
        assert self.child is not None
        try:
            self.child.send_signal(sig)
            self.child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning(
                "autoreload: server process %d still running %g s after %s: SIGKILL",
                self.child.pid,
                grace,
                signal.Signals(sig).name,
            )
            self.child.kill()
        return self._reaped()

    # ---- the loop

    def run(self) -> int:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        previous_fd = signal.set_wakeup_fd(wake_w)
        handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.poller.register(self.watcher.fd, select.POLLIN)
            self.poller.register(wake_r, select.POLLIN)
            self.start()
            return self._loop(wake_r)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            os.close(wake_r)
            os.close(wake_w)
            self.watcher.close()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop_signal = signum

    def _loop(self, wake_r: int) -> int:
        first: float | None = None  # time of the first change not acted on yet
        last = 0.0
        changed: list[Path] = []
        while True:
            timeout: float | None = None
            if first is not None:
                timeout = max(0.0, min(last + QUIET, first + BURST) - time.monotonic())
            if self.child is not None and self.pidfd < 0:
                timeout = 0.2 if timeout is None else min(timeout, 0.2)
            ready = self.poller.poll(None if timeout is None else timeout * 1000)
            if self.stop_signal is not None:
                return self._shutdown(self.stop_signal)
            fds = {fd for fd, _ in ready}
            if wake_r in fds:
                _drain(wake_r)
            if self.child is not None and (
                self.pidfd in fds or (self.pidfd < 0 and self.child.poll() is not None)
            ):
                pid = self.child.pid
                code = self._reaped()
                logger.error(
                    "autoreload: server process %d exited with %s; waiting for a change",
                    pid,
                    _status_text(code),
                )
            if self.watcher.fd in fds:
                news = self.watcher.read_changes()
                if news:
                    now = time.monotonic()
                    first = first if first is not None else now
                    last = now
                    changed += news
            if first is not None and time.monotonic() >= min(last + QUIET, first + BURST):
                self._restart(changed)
                first, changed = None, []

    def _restart(self, changed: list[Path]) -> None:
        names = sorted({_relative(p, self.watcher.top) for p in changed})
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        if self.child is not None:
            logger.info("autoreload: %s changed; restarting the server", shown)
            self.stop(signal.SIGTERM, RESTART_GRACE)
        else:
            logger.info("autoreload: %s changed; starting the server", shown)
        if self.stop_signal is None:
            self.start()

    def _shutdown(self, sig: int) -> int:
        if self.child is None:
            return 0
        name = signal.Signals(sig).name
        logger.info("autoreload: %s: stopping server process %d", name, self.child.pid)
        grace = self.config.graceful_timeout + 5.0
        return _exit_status(self.stop(sig, grace))


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _relative(path: Path, top: Path) -> str:
    try:
        return str(path.relative_to(top)) or "."
    except ValueError:
        return str(path)


def template_directories() -> list[Path]:
    """The project's template directories (TEMPLATES' DIRS and, with APP_DIRS or
    the app directories loader, each app's templates/), when Django is set up:
    Django's cached template loader keeps a template until the process
    restarts. Not those of installed packages (site-packages), nor Django's."""
    try:
        from django.apps import apps
        from django.template.autoreload import get_template_directories
    except ImportError:
        return []
    if not apps.ready:
        return []
    installed = {Path(p).resolve() for p in sysconfig.get_paths().values()}
    found = []
    for directory in sorted(get_template_directories()):
        path = Path(directory).resolve()
        if path.is_dir() and not any(path.is_relative_to(p) for p in installed):
            found.append(path)
    return found


def run_with_autoreload(config: Config) -> int:
    """Serve in a child process, restarted on changes, until SIGTERM / SIGINT.

    Returns the exit status of the last child (0 after a clean stop).
    """
    templates = template_directories()
    watcher = InotifyWatcher(Path.cwd(), [*config.static_watch, *templates])
    count = watcher.directories
    logger.info(
        "autoreload: watching %d director%s under %s%s%s",
        count,
        "y" if count == 1 else "ies",
        watcher.top,
        "".join(f", and {p}" for p in config.static_watch),
        "".join(f", templates in {_relative(p, watcher.top)}" for p in templates),
    )
    return Supervisor(config, _child_command(), watcher).run()
