"""MemoryBackend: is enough memory available?

Kwargs: ``min_mib`` (default HEALTH_CHECK["MEMORY_MIN"], 100; None disables
the check). Below it: ServiceWarning.

Available memory is the lower of the host's ``MemAvailable`` (/proc/meminfo)
and, in a cgroup v2 container, ``memory.max`` minus the working set of the
tightest limit on the way up from our cgroup. The working set is
``memory.current - inactive_file``, as the kubelet counts it: page cache the
kernel can drop on demand is not a shortage, and counting it would warn on
every pod that has read a few files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..conf import get_setting
from .base import BaseHealthCheckBackend, ServiceReturnedUnexpectedResult, ServiceWarning

MIB = 1024 * 1024
MEMINFO = Path("/proc/meminfo")
PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")

_UNSET: Any = object()


def meminfo_available(meminfo: Path | None = None) -> int | None:
    """MemAvailable in bytes, or None when the file or the line is missing."""
    try:
        text = (meminfo or MEMINFO).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # the value is in kB
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" = no limit


def _inactive_file(cgroup_dir: Path) -> int:
    try:
        for line in (cgroup_dir / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "inactive_file":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def cgroup_available(proc_cgroup: Path | None = None, root: Path | None = None) -> int | None:
    """Bytes left under the tightest cgroup v2 memory limit, or None when unlimited."""
    root = root or CGROUP_ROOT
    try:
        lines = (proc_cgroup or PROC_CGROUP).read_text().splitlines()
    except OSError:
        return None
    # cgroup v2 is the single "0::<path>" line; v1 hierarchies are ignored.
    rel = next((line[3:] for line in lines if line.startswith("0::")), None)
    if rel is None:
        return None
    best: int | None = None
    directory = root / rel.lstrip("/")
    while True:
        limit = _read_int(directory / "memory.max")
        current = _read_int(directory / "memory.current")
        if limit is not None and current is not None:
            working_set = max(current - _inactive_file(directory), 0)
            left = max(limit - working_set, 0)
            best = left if best is None else min(best, left)
        if directory == root or root not in directory.parents:
            break
        directory = directory.parent
    return best


class MemoryBackend(BaseHealthCheckBackend):
    def __init__(self, min_mib: float | None = _UNSET, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_mib = get_setting("MEMORY_MIN") if min_mib is _UNSET else min_mib

    def available_bytes(self) -> int | None:
        values = [v for v in (meminfo_available(), cgroup_available()) if v is not None]
        return min(values) if values else None

    def check_status(self) -> None:
        if self.min_mib is None:
            return
        available = self.available_bytes()
        if available is None:
            raise ServiceReturnedUnexpectedResult("cannot read /proc/meminfo or cgroup memory")
        if available < self.min_mib * MIB:
            raise ServiceWarning(
                f"{available / MIB:.0f} MiB available (minimum {self.min_mib} MiB)"
            )
