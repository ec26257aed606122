"""Debugger attach for development: ``--debugger`` (debugpy) and ``--pycharm-host``.

:func:`attach_debugger` is called in the process that runs the application
(the single worker), before it serves. :func:`check_devtools` runs earlier, in
the process that parsed the options, so that a missing package is one error
line before anything starts. See docs/devtools.md.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
from typing import Any

from squall.options import Config, exit_with_error

__all__ = ["attach_debugger", "check_devtools"]

# The name of the module these tools came from: log lines keep it ("squall.devtools: ...").
logger = logging.getLogger("squall.devtools")

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


def _output_to_server(settrace: Any) -> dict[str, bool]:
    """settrace's arguments that send stdout and stderr to PyCharm's console:
    ``stdout_to_server`` since pydevd-pycharm 2023 (e.g. 263.7307.50),
    ``stdoutToServer`` before."""
    try:
        names = inspect.signature(settrace).parameters
    except (TypeError, ValueError):
        names = {}
    if "stdoutToServer" in names:
        return {"stdoutToServer": True, "stderrToServer": True}
    return {"stdout_to_server": True, "stderr_to_server": True}


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
                suspend=False,
                **_output_to_server(pydevd_pycharm.settrace),
            )
        except Exception as exc:  # any failure to connect: serve without the debugger
            logger.warning(
                "could not connect to the PyCharm debug server at %s (%s); serving without it",
                where,
                exc,
            )
        else:
            logger.info("attached to the PyCharm debug server at %s, pid %d", where, os.getpid())
