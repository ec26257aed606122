"""Development tools: the autoreloader and debugger attach.

``--autoreload`` (:func:`run_with_autoreload`): the process started by the user
becomes a small supervisor. It runs the same command line again as a child
with ``SQUALL_AUTORELOAD_CHILD=1`` (the child serves), watches the project's
Python files and the ``--static-watch`` paths with inotify (through ctypes on
libc: no third-party dependency, Linux only, like the engine), and on a change
stops the child (SIGTERM, then SIGKILL after a few seconds) and starts a new
one. A child that exits on its own, for example on a SyntaxError at import, is
logged and started again on the next change: the supervisor only ends on
SIGTERM / SIGINT, which it passes to the child.

What is watched: every directory under the current working directory that
holds ``.py`` files (and the directories between it and the current
directory), skipping hidden directories, virtual environments (``.venv``,
``venv``, any directory with a ``pyvenv.cfg``), ``node_modules``,
``__pycache__``, ``.git``, ``build`` and ``site-packages``; directories created
later in a watched one are watched too. A change is a ``.py`` file written,
created, deleted, moved or touched. Under a ``--static-watch`` path (a file, or a
directory watched recursively) any file counts.

``--debugger`` / ``--pycharm-host`` (:func:`attach_debugger`): called by the
engine in the process that runs the application (the single worker), before it
serves. :func:`check_devtools` runs earlier, in the process that parsed the
options, so that a missing package is one error line before anything starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import importlib.util
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from squall.options import Config, exit_with_error

__all__ = [
    "AUTORELOAD_CHILD",
    "InotifyWatcher",
    "attach_debugger",
    "autoreload_child_config",
    "check_devtools",
    "is_autoreload_child",
    "run_with_autoreload",
]

logger = logging.getLogger("squall.devtools")

AUTORELOAD_CHILD = "SQUALL_AUTORELOAD_CHILD"

# --------------------------------------------------------------------------- debuggers

_PACKAGES = {
    # option: (module, package on PyPI, squall extra)
    "debugger": ("debugpy", "debugpy", "debug"),
    "pycharm_host": ("pydevd_pycharm", "pydevd-pycharm", "pycharm"),
}


def _missing(option: str) -> str | None:
    """The one-line error for a debugger option whose package is not installed, else None."""
    module, package, extra = _PACKAGES[option]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    flag = "--" + option.replace("_", "-")
    return f"{flag} needs the {package} package: pip install squall[{extra}]"


def check_devtools(config: Config) -> None:
    """Exit 2 with one line if a requested debugger's package is not installed."""
    for option in ("debugger", "pycharm_host"):
        if getattr(config, option):
            message = _missing(option)
            if message:
                exit_with_error(message)


def attach_debugger(config: Config) -> None:
    """Attach the debuggers `config` asks for to this process; nothing if none.

    ``--debugger``: debugpy listens for a Debug Adapter Protocol client (VS Code)
    on 0.0.0.0:``debugger_port``. ``--pycharm-host``: connect to PyCharm's debug
    server (``pydevd_pycharm.settrace``); if it is not reachable, a warning and
    the server runs without it. A missing package: one error line, exit 2.

    Call it in the process that runs the application, before it serves.
    """
    check_devtools(config)
    if config.debugger:
        import debugpy

        endpoint = debugpy.listen(("0.0.0.0", config.debugger_port))
        host, port = endpoint if isinstance(endpoint, tuple) else ("0.0.0.0", config.debugger_port)
        logger.info(
            "debugger listening on %s:%d (debugpy, Debug Adapter Protocol), pid %d",
            host,
            port,
            os.getpid(),
        )
    if config.pycharm_host:
        import pydevd_pycharm

        where = f"{config.pycharm_host}:{config.pycharm_port}"
        try:
            pydevd_pycharm.settrace(
                config.pycharm_host,
                port=config.pycharm_port,
                stdoutToServer=True,
                stderrToServer=True,
                suspend=False,
            )
        except Exception as exc:  # any failure to connect: serve without the debugger
            logger.warning(
                "could not connect to the PyCharm debug server at %s (%s); serving without it",
                where,
                exc,
            )
        else:
            logger.info("attached to the PyCharm debug server at %s, pid %d", where, os.getpid())


# --------------------------------------------------------------------------- inotify

IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# IN_ATTRIB: `touch views.py` restarts the server too.
_CHANGES = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_DIR_MASK = _CHANGES | IN_DELETE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name

SKIPPED_DIRS = frozenset(
    {".venv", "venv", "node_modules", "__pycache__", ".git", "build", "site-packages"}
)


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRS


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_init1.restype = ctypes.c_int
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_add_watch.restype = ctypes.c_int
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.inotify_rm_watch.restype = ctypes.c_int
    return libc


@dataclass
class _Watch:
    path: Path
    code: bool = False  # a directory of the project's Python code: .py files count
    static: bool = False  # under a --static-watch directory: every file counts
    files: set[str] = field(default_factory=set)  # --static-watch files in this directory


class InotifyWatcher:
    """Watches the project's Python code under `top` and the `static` paths.

    :meth:`read_changes` returns the paths that changed since the last call
    (non-blocking); :attr:`fd` is readable when there may be some.
    """

    def __init__(self, top: Path, static: Iterable[str | Path] = ()) -> None:
        self._libc = _libc()
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        self.top = top.resolve()
        self.static = [Path(p).resolve() for p in static]
        self._watches: dict[int, _Watch] = {}
        self._by_path: dict[Path, int] = {}
        self._full = False  # the inotify watch limit was hit (logged once)
        self.scan()

    # ---- setting up watches

    def scan(self) -> None:
        """(Re)adds watches for everything; existing watches are kept."""
        for directory in self._code_dirs(self.top):
            self._add(directory, code=True)
        for path in self.static:
            if path.is_dir():
                for directory in self._tree(path, skip=False):
                    self._add(directory, static=True)
            elif path.exists() or path.parent.is_dir():
                self._add(path.parent, files={path.name})
            else:
                logger.warning("--static-watch %s does not exist: not watched", path)

    @property
    def directories(self) -> int:
        return len(self._watches)

    @staticmethod
    def _tree(top: Path, *, skip: bool) -> Iterator[Path]:
        """`top` and every directory below it (minus skipped ones when `skip`)."""
        for dirpath, dirnames, filenames in os.walk(top):
            if skip and "pyvenv.cfg" in filenames:
                dirnames[:] = []
                continue
            if skip:
                dirnames[:] = [d for d in dirnames if not _skipped(d)]
            yield Path(dirpath)

    @classmethod
    def _code_dirs(cls, top: Path) -> set[Path]:
        """`top`, the directories below it that hold .py files, and those between."""
        found = {top}
        for directory in cls._tree(top, skip=True):
            if directory in found:
                continue
            try:
                has_code = any(e.name.endswith(".py") for e in os.scandir(directory))
            except OSError:
                continue
            if has_code:
                while directory not in found and directory != directory.parent:
                    found.add(directory)
                    directory = directory.parent
        return found

    def _add(
        self, path: Path, *, code: bool = False, static: bool = False, files: Iterable[str] = ()
    ) -> None:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), _DIR_MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC and not self._full:
                self._full = True
                logger.warning(
                    "inotify watch limit reached (sysctl fs.inotify.max_user_watches): "
                    "%s and further directories are not watched",
                    path,
                )
            return  # ENOENT, ENOTDIR, EACCES: gone or not ours
        watch = self._watches.setdefault(wd, _Watch(path))
        self._by_path[path] = wd
        watch.path = path
        watch.code |= code
        watch.static |= static
        watch.files.update(files)

    def _drop_tree(self, path: Path) -> bool:
        """Stops watching `path` and everything below it; True if anything was watched."""
        dropped = False
        for wd, watch in list(self._watches.items()):
            if watch.path == path or watch.path.is_relative_to(path):
                self._libc.inotify_rm_watch(self.fd, wd)
                self._forget(wd)
                dropped = True
        return dropped

    def _forget(self, wd: int) -> None:
        watch = self._watches.pop(wd, None)
        if watch is not None and self._by_path.get(watch.path) == wd:
            del self._by_path[watch.path]

    # ---- reading events

    def read_changes(self) -> list[Path]:
        """Paths changed since the last call, each once (a new file is created, then
        written), in order; empty when none. Never blocks."""
        changes: dict[Path, None] = {}
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return list(changes)
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].split(b"\0", 1)[0]
                offset += length
                changed = self._event(wd, mask, os.fsdecode(name))
                if changed is not None:
                    changes[changed] = None

    def _event(self, wd: int, mask: int, name: str) -> Path | None:
        if mask & IN_Q_OVERFLOW:
            self.scan()
            return self.top  # events were lost: count it as a change
        if mask & IN_IGNORED:
            self._forget(wd)
            return None
        watch = self._watches.get(wd)
        if watch is None or not name:
            return None
        path = watch.path / name
        if mask & IN_ISDIR:
            return self._directory_event(watch, path, mask)
        if name.startswith("."):
            return None  # editor swap and lock files (.#x.py, .x.py.swp)
        if watch.static or name in watch.files:
            return path
        if watch.code and name.endswith(".py"):
            return path
        return None

    def _directory_event(self, watch: _Watch, path: Path, mask: int) -> Path | None:
        if mask & (IN_DELETE | IN_MOVED_FROM):
            dropped = self._drop_tree(path)
            return path if (dropped or watch.static) else None
        if not mask & (IN_CREATE | IN_MOVED_TO):
            return None
        if watch.static:
            for directory in self._tree(path, skip=False):
                self._add(directory, static=True)
            return path
        if _skipped(path.name):
            return None
        has_code = False
        for directory in self._tree(path, skip=True):
            self._add(directory, code=True)
            try:
                has_code = has_code or any(e.name.endswith(".py") for e in os.scandir(directory))
            except OSError:
                pass
        return path if has_code else None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# --------------------------------------------------------------------------- autoreload


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


def run_with_autoreload(config: Config) -> int:
    """Serve in a child process, restarted on changes, until SIGTERM / SIGINT.

    Returns the exit status of the last child (0 after a clean stop).
    """
    watcher = InotifyWatcher(Path.cwd(), config.static_watch)
    count = watcher.directories
    logger.info(
        "autoreload: watching %d director%s under %s%s",
        count,
        "y" if count == 1 else "ies",
        watcher.top,
        "".join(f", and {p}" for p in config.static_watch),
    )
    return Supervisor(config, _child_command(), watcher).run()
