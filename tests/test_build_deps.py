"""A build where a system library is missing stops with one line naming the
Debian package to install (CMakeLists.txt's squall_require), as a user who
builds the sdist sees it. Each case hides one dependency from CMake's
configure step; nothing is compiled."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")


@pytest.mark.parametrize(
    ("hide", "env", "line"),
    [
        (
            ["-DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON"],
            {},
            "squall: libcurl development files not found: apt-get install libcurl4-openssl-dev",
        ),
        (
            [],
            {"PKG_CONFIG_LIBDIR": "/nonexistent"},
            "squall: librabbitmq development files not found: apt-get install librabbitmq-dev",
        ),
        (
            ["-DCMAKE_IGNORE_PATH=/usr/share/include/llhttp;/usr/include/llhttp"],
            {},
            "squall: llhttp's header (llhttp.h) not found: apt-get install node-llhttp",
        ),
    ],
)
def test_a_missing_library_is_named_with_its_debian_package(
    tmp_path: Path, hide: list[str], env: dict[str, str], line: str
) -> None:
    done = subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(tmp_path), "-G", "Ninja", *hide],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert line in done.stderr.splitlines(), done.stderr
