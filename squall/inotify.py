"""An inotify watcher of a project's Python code and of extra paths (Linux only).

Through ctypes on libc: no third-party dependency. Used by the autoreloader
(squall.autoreload).

What is watched: every directory under the top directory that holds ``.py``
files (and the directories between it and the top), skipping hidden
directories, virtual environments (``.venv``, ``venv``, any directory with a
``pyvenv.cfg``), ``node_modules``, ``__pycache__``, ``.git``, ``build`` and
``site-packages``; directories created later in a watched one are watched too.
A change is a ``.py`` file written, created, deleted, moved or touched. Under a
``static`` path (a file, or a directory watched recursively) any file counts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SKIPPED_DIRS", "InotifyWatcher"]

# The name of the module these tools came from: log lines keep it ("squall.devtools: ...").
logger = logging.getLogger("squall.devtools")

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
