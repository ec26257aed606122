#!/usr/bin/env python3
"""Smoke-test a built wheel the way a user installs it (`make wheels` runs it).

    scripts/wheel_smoke.py dist/squall-...whl --python /path/to/python3.12 \
        --django 'Django>=6.1,<6.2'

1. A fresh venv of that interpreter; the wheel and Django installed with
   `pip install --only-binary=:all:` and a PATH that holds only the venv, with
   CC/CXX pointing nowhere: nothing can be compiled, no -dev package is read.
2. `import squall._core`: libcurl and librabbitmq must be loaded from the
   wheel's own squall.libs/ (auditwheel bundled them), not from the system.
3. A copy of examples/demo: `manage.py migrate`, then `manage.py serve --port P`:
   GET / (200), the probes /startup /ready /alive on P+1 (200), /metrics
   (squall_ and django_ families), then SIGTERM: the server must exit 0.

Stdlib only, so it runs with any Python; exits non-zero with one line saying
what failed. Not collected by pytest (scripts/ is not under tests/).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
BUNDLED = ("libcurl", "librabbitmq")

# Run inside the venv: where the engine's shared libraries were loaded from.
MAPS_PROBE = """
import json, squall._core
libs = {}
for line in open("/proc/self/maps"):
    path = line.split()[-1] if len(line.split()) >= 6 else ""
    name = os.path.basename(path)
    for lib in LIBS:
        if name.startswith(lib):
            libs[lib] = path
print(json.dumps(libs))
"""


class SmokeError(Exception):
    pass


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    # cwd is never the repository: its squall/ would shadow the installed one.
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise SmokeError(f"{' '.join(cmd)} exited {done.returncode}:\n" + "\n".join(tail))
    return done.stdout


def free_port_pair() -> int:
    """A port P such that P and P + 1 (the probe port) are both free."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise SmokeError("no free pair of ports")


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_status(url: str, want: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SmokeError(f"the server exited with {proc.returncode} before {url} answered")
        try:
            status, _ = get(url, timeout=1.0)
            if status == want:
                return
            last = f"status {status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    raise SmokeError(f"{url}: not {want} within {timeout} s ({last})")


def smoke(wheel: Path, python: str, django: str, work: Path) -> str:
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    vpy = str(venv / "bin" / "python")
    # Only the venv on PATH and no compiler anywhere: a source build would fail.
    env = {
        "PATH": str(venv / "bin"),
        "HOME": str(work),
        "CC": "/nonexistent/cc",
        "CXX": "/nonexistent/c++",
        "LANG": "C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    pip_keys = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT")
    for key in (*pip_keys, "SSL_CERT_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    run([vpy, "-m", "pip", "install", "-q", "--only-binary=:all:", str(wheel), django], env, work)

    probe = "import os\nLIBS = " + repr(BUNDLED) + "\n" + MAPS_PROBE
    loaded: dict[str, str] = json.loads(run([vpy, "-c", probe], env, work).strip().splitlines()[-1])
    for lib in BUNDLED:
        where = loaded.get(lib)
        if where is None or "/squall.libs/" not in where:
            raise SmokeError(f"{lib} not loaded from the wheel's squall.libs/: {where}")

    demo = work / "demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("db.sqlite3", "__pycache__"))
    run([vpy, "manage.py", "migrate", "--noinput"], env, cwd=demo)

    port = free_port_pair()
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(
        [vpy, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--shutdown-delay", "0.5"],
        cwd=demo, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    app, probes = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    try:
        wait_status(f"{probes}/startup", 200, proc, timeout=60)
        for url in (f"{app}/", f"{probes}/ready", f"{probes}/alive"):
            wait_status(url, 200, proc, timeout=15)
        status, metrics = get(f"{probes}/metrics")
        if status != 200 or "squall_" not in metrics or "django_http_" not in metrics:
            raise SmokeError(f"/metrics: status {status}, no squall_ or django_http_ families")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        if code != 0:
            raise SmokeError(f"after SIGTERM the server exited {code}")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        sys.stderr.write((work / "serve.log").read_text(errors="replace")[-3000:])
        raise
    log.close()
    versions = "import sys, django; print(sys.version.split()[0], django.__version__)"
    version = run([vpy, "-c", versions], env, work)
    py_version, django_version = version.split()
    return (
        f"{wheel.name}: Python {py_version}, Django {django_version}: "
        f"libcurl and librabbitmq from squall.libs/, demo served, probes and /metrics 200, "
        f"SIGTERM -> exit 0"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--python", required=True, help="the interpreter the wheel is for")
    parser.add_argument("--django", default="Django>=5.2", help="Django requirement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="squall-wheel-smoke-"))
    try:
        print(smoke(args.wheel.resolve(), args.python, args.django, work))
        return 0
    except (SmokeError, subprocess.SubprocessError, OSError) as e:
        print(f"wheel smoke test FAILED: {args.wheel.name}: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
