"""The master bootstrap shared by ``serve`` and ``consume``.

Both commands create the engine's master (``squall._core.Master``), listen on
their ports, run the master and, in each process it forks, run that process's
role and leave: :func:`start_master` does the first part (the application
port, if any, then the probe port) and :func:`run_master` the second (the
master's loop; in a child, the role's function, then :func:`exit_child`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from squall.options import Config

if TYPE_CHECKING:
    from squall import _core

__all__ = ["RoleMain", "exit_child", "probe_port", "run_master", "start_master"]

# A forked process's life: (master, worker slot, listen fd) -> its exit status.
RoleMain = Callable[[Any, int, int], int]

# Without an application port (consume): the probe port of the default port 8000.
DEFAULT_PROBE_PORT = 8001
# --port 0: how many ports the kernel may pick before one has a free neighbour.
PORT_PAIR_ATTEMPTS = 32


def probe_port(config: Config, bound_port: int | None) -> int | None:
    """The probe port, or None without probes: --probe-port, else the port the
    application got + 1 (so --port 0 gets probes next to its free port), else
    (no application port) 8001. Equal to the app port: probes are answered
    there by the workers' I/O threads."""
    if not config.probe:
        return None
    if config.probe_port is not None:
        return config.probe_port
    return DEFAULT_PROBE_PORT if bound_port is None else bound_port + 1


def url_host(host: str) -> str:
    """`host` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def start_master(
    engine: _core.MasterConfig, config: Config, log: logging.Logger, *, app_port: bool
) -> tuple[Any, int | None] | None:
    """Creates the master from the engine's config and listens: on config.host /
    config.port when `app_port`, then on the probe port. Returns the master and
    the application port it got (None without one); None, with the reason
    logged on `log`, when a port cannot be listened on."""
    from squall import _core

    _core.set_log_format(_core.LogFormat[config.log_format])
    _core.set_log_level(_core.LogLevel[config.log_level])  # inherited by every fork
    line_buffered_output()
    master = _core.Master(engine)
    # --port 0 with the default probe port (the bound port + 1): the kernel's
    # pick is taken again while its neighbour is busy, so that asking for any
    # free port does not fail on a busy machine.
    pair = app_port and config.port == 0 and config.probe_port is None
    attempts = PORT_PAIR_ATTEMPTS if pair else 1
    for attempt in range(1, attempts + 1):
        port: int | None = None
        if app_port:
            try:
                port = master.listen(config.host, config.port, config.backlog, config.reuse_port)
            except RuntimeError as exc:
                log.error("%s", exc)
                return None
        probes = probe_port(config, port)
        if probes is None or probes == port:
            break
        try:
            probes = master.listen_probe(config.host, probes)
            break
        except RuntimeError as exc:
            if attempt == attempts:
                log.error("probe port: %s", exc)
                return None
    if probes is not None:
        extra = f"; metrics at {config.metrics}" if config.metrics else ""
        log.info("Probes on http://%s:%d (startup, readiness, liveness%s)",
                 url_host(config.host), probes, extra)  # fmt: skip
    return master, port


def line_buffered_output() -> None:
    """stdout and stderr flushed at each newline in the master and every process it
    forks: a print() in a view or a consumer's handler shows at once, also when
    stdout is a pipe or a file (a container's log), where Python would buffer it."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(line_buffering=True)
            except (ValueError, OSError):
                pass


def run_master(master: Any, config: Config, roles: Mapping[_core.Role, RoleMain]) -> int:
    """Runs the master until the pod stops and returns its exit status.

    In a process the master forks, ``Master.run()`` returns that process's role
    instead: its function from `roles` runs (the health-check process runs
    squall.checker unless `roles` has Role.checker), then the process exits
    with its status, never returning here.
    """
    from squall._core import Role

    result = master.run()
    if result.role is Role.master:
        return result.exit_status
    run_role = {Role.checker: _run_checker(config), **roles}.get(result.role)
    if run_role is None:
        logging.getLogger("squall").error("no function for a %s process", result.role.name)
        exit_child(1)
    exit_child(run_role(master, result.slot, result.listen_fd))


def _run_checker(config: Config) -> RoleMain:
    def run(master: Any, _slot: int, _listen_fd: int) -> int:
        from squall.checker import run_checker

        return run_checker(config, master)

    return run


def exit_child(code: int) -> NoReturn:
    """Ends a process the master forked (worker, startup, checker, consumer)
    without running the master's atexit handlers or unwinding its stack."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
