"""Squall's options: one table, every source.

The body of :class:`Config` *is* the option table: each field is declared with
:func:`option`, which records its kind (how values are parsed and checked), its
help text, unit and aliases. :data:`OPTIONS` is read from those fields, and the
command-line parser, the Django settings and environment look-ups, the
``--help`` text, ``docs/options.md`` and :class:`Config` validation all derive
from it. No option is listed twice. ``manage.py consume``'s connection options
are the body of :class:`AmqpOptions`, declared and resolved the same way
(:data:`AMQP_OPTIONS`, :func:`resolve_amqp_options`) with Hurricane's names
(``--amqp-host``, ``AMQP_HOST``): a row may name its flag and its setting /
environment variable, have only one of them, and count an empty value as unset.

Where a value comes from, highest precedence first:

1. the command line: ``--max-body-size 1048576``;
2. a Django setting ``SQUALL_MAX_BODY_SIZE`` (only in ``manage.py serve``);
3. the environment variable ``SQUALL_MAX_BODY_SIZE``;
4. the default.

Hurricane's names are aliases one step below Squall's own name at the same
level: its settings without prefix (``PORT``, ``MAX_BODY_SIZE``) after
``SQUALL_*`` settings, and its ``HURRICANE_*`` environment variables after
``SQUALL_*`` ones. Where Hurricane's name meant something else, the alias maps
to the option with Hurricane's meaning and prints a one-line deprecation
warning: ``WORKERS`` / ``HURRICANE_WORKERS`` (its thread pool) set ``threads``,
``MAX_LIFETIME`` / ``HURRICANE_MAX_LIFETIME`` (a request count) set
``max_requests``. On the command line only Squall's names exist: ``--workers``
is the number of processes and ``--max-lifetime`` is in seconds.

Some options constrain others (:func:`check_combinations`): ``--debugger`` and
``--pycharm-host`` refuse ``--autoreload`` and run one worker.

Only the value that wins is parsed. An invalid value or an unknown command-line
option is one line on stderr naming the option and its source, then exit 2::

    squall: error: --port: invalid value 'abc' (expected an integer 0-65535)
    squall: error: SQUALL_PORT (environment): invalid value 'x' (expected ...)
    squall: error: settings.SQUALL_THREADS: invalid value 0 (expected an integer >= 1)

Regenerate the reference after changing the table::

    python -m squall.options > docs/options.md
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

from squall.cgroup import available_cpus

__all__ = [
    "AMQP_OPTIONS",
    "OPTIONS",
    "AmqpOptions",
    "Alias",
    "Config",
    "Option",
    "OptionError",
    "add_table_options",
    "add_django_options",
    "build_parser",
    "check_combinations",
    "exit_with_error",
    "parse_config",
    "render_markdown",
    "resolve_amqp_options",
    "resolve_config",
    "with_verbosity",
]

# --------------------------------------------------------------------------- kinds
# A kind parses a value from any source: a string (command line, environment,
# or a setting written as a string) strictly, or a native Python value (a Django
# setting). Its parse() raises ValueError when the value is not acceptable; the
# caller names the option, the source and `expected` in the error.

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Kind:
    expected: str  # for errors: "invalid value 'x' (expected <this>)"
    metavar: str  # for --help
    parse: Callable[[object], Any]
    show: Callable[[Any], str] = str
    repeatable: bool = False  # the flag may be given several times (a tuple of values)


def _strict(pattern: re.Pattern[str], convert: Callable[[str], Any], value: object) -> object:
    """A string that fully matches `pattern` (whitespace around ignored), converted."""
    if isinstance(value, str):
        if not pattern.fullmatch(value.strip()):
            raise ValueError(value)
        return convert(value)
    return value


def integer(lo: int, hi: int | None = None) -> Kind:
    def parse(value: object) -> int:
        value = _strict(_INT, int, value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(value)
        if value < lo or (hi is not None and value > hi):
            raise ValueError(value)
        return value

    expected = f"an integer >= {lo}" if hi is None else f"an integer {lo}-{hi}"
    return Kind(expected, "N", parse)


def seconds(*, zero: bool) -> Kind:
    """A duration in seconds: > 0, or >= 0 when `zero` is allowed (0 = off)."""

    def parse(value: object) -> float:
        value = _strict(_FLOAT, float, value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(value)
        if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
            raise ValueError(value)
        return float(value)

    expected = "a number of seconds >= 0" if zero else "a number of seconds > 0"
    return Kind(expected, "SECONDS", parse, lambda v: f"{v:g}")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(value)


def choice(*choices: str) -> Kind:
    def parse(value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise ValueError(value)

    return Kind("one of " + ", ".join(choices), "{" + ",".join(choices) + "}", parse)


def _host(value: object) -> str:
    if isinstance(value, str) and value.strip() and len(value.split()) == 1:
        return value.strip()
    raise ValueError(value)


def _optional_host(value: object) -> str:
    if isinstance(value, str) and not value.strip():
        return ""
    return _host(value)


def _paths(value: object) -> tuple[str, ...]:
    """Comma-separated in one string; a list or tuple (a setting, repeated flags) as is."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = list(value)  # a setting's list as is (--static-watch splits each flag)
    else:
        raise ValueError(value)
    return tuple(item.strip() for item in items if item.strip())


def _networks(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise ValueError(value)
    for item in items:
        if item != "*":
            ipaddress.ip_network(item, strict=False)  # ValueError unless an IP or CIDR
    return ("*",) if "*" in items else tuple(items)


def _commands(value: object) -> tuple[str, ...]:
    """Management commands with their arguments: one per string (arguments hold
    spaces and commas), a list or tuple (a setting, repeated flags) for several."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ValueError(value)
    commands = tuple(item.strip() for item in items if item.strip())
    for command in commands:
        try:
            shlex.split(command)
        except ValueError:  # unbalanced quotes
            raise ValueError(command) from None
    return commands


def _urls(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ValueError(value)
    urls = tuple(url.strip() for item in items for url in item.split(",") if url.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
            raise ValueError(url)
    return urls


#: The fields --access-log-format may name (the engine's SQUALL_ACCESS_LOG_FIELDS).
ACCESS_LOG_FIELDS = (
    "client",
    "request",
    "method",
    "path",
    "protocol",
    "status",
    "bytes",
    "duration",
    "user_agent",
    "referer",
    "host",
    "request_id",
    "trace_id",
    "span_id",
)


def _access_log_fields(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip().lower() for item in value.split(",") if item.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = [item.strip().lower() for item in value]
    else:
        raise ValueError(value)
    if not items:
        raise ValueError(value)
    for item in items:
        if item not in ACCESS_LOG_FIELDS or items.count(item) > 1:
            raise ValueError(item)
    return tuple(items)


SECONDS = seconds(zero=False)
SECONDS_OR_ZERO = seconds(zero=True)
BOOLEAN = Kind("a boolean: 1/0, true/false, yes/no, on/off", "", _boolean, lambda v: str(v).lower())
HOST = Kind("a host name or IP address", "ADDRESS", _host)
OPTIONAL_HOST = Kind("a host name or IP address, or empty", "ADDRESS", _optional_host)
NETWORKS = Kind("comma-separated IP addresses or CIDR networks, or *", "IPS", _networks, ",".join)
ACCESS_FIELDS = Kind(
    "comma-separated access-log fields, each once: " + ", ".join(ACCESS_LOG_FIELDS),
    "FIELDS",
    _access_log_fields,
    ", ".join,  # spaces: --help wraps the default between fields, not inside one
)
# Repeatable on the command line (--static-watch A --static-watch B).
PATHS = Kind("paths (repeat the flag, or comma-separate them)", "PATH", _paths, ",".join, True)
COMMANDS = Kind(
    'a management command with its arguments, e.g. "migrate --noinput" (repeat the flag '
    "for more)",
    "COMMAND",
    _commands,
    lambda v: "; ".join(v) if v else "none",
    True,
)
URLS = Kind(
    "http:// or https:// URLs (repeat the flag, or comma-separate them)",
    "URL",
    _urls,
    lambda v: ",".join(v) if v else "none",
    True,
)


def _optional_port(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    port = _strict(_INT, int, value)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(value)
    return port


def _url_path(value: object) -> str:
    """Hurricane forces the leading slash; so does Squall."""
    if isinstance(value, str) and value.strip() and len(value.split()) == 1:
        return "/" + value.strip().lstrip("/")
    raise ValueError(value)


OPTIONAL_PORT = Kind(
    "an integer 1-65535, or empty for the app port + 1",
    "N",
    _optional_port,
    lambda v: "the app port + 1" if v is None else str(v),
)
URL_PATH = Kind("a URL path", "PATH", _url_path)


def _optional_url_path(value: object) -> str:
    """A URL path, or off: empty, False or None (a setting)."""
    if value is None or value is False or (isinstance(value, str) and not value.strip()):
        return ""
    return _url_path(value)


OPTIONAL_URL_PATH = Kind(
    "a URL path, or empty for none", "PATH", _optional_url_path, lambda v: v or "none"
)

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _optional_callable_path(value: object) -> str:
    """module.attribute (imported later, in each worker), or empty for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if isinstance(value, str) and _DOTTED.fullmatch(value.strip()):
        return value.strip()
    raise ValueError(value)


OPTIONAL_CALLABLE = Kind(
    "a dotted path module.function, or empty for none",
    "MODULE.FUNCTION",
    _optional_callable_path,
    lambda v: v or "none",
)


def _root_path(value: object) -> str:
    """Empty, or a path starting with / and not ending with one (ASGI root_path)."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return ""
        if value.startswith("/") and not value.endswith("/") and len(value.split()) == 1:
            return value
    raise ValueError(value)


ROOT_PATH = Kind("empty, or a URL path without a trailing /", "PATH", _root_path)


# --------------------------------------------------------------------------- table

Source = Literal["cli", "settings", "env"]


@dataclass(frozen=True)
class Alias:
    """Another name for an option, one step below Squall's own name at `source`."""

    source: Literal["cli", "settings", "env"]
    # "PORT" (a Django setting), "HURRICANE_PORT" (an environment variable),
    # "--max-buffer-size" (a command-line flag)
    name: str
    # A deprecation warning printed on stderr whenever the alias is set; "{label}"
    # is replaced by where it was found ("settings.WORKERS").
    warning: str | None = None
    negate: bool = False  # a boolean alias meaning the opposite (NO_PROBE for probe)


@dataclass(frozen=True)
class Option:
    """One row of the option table (see the module docstring)."""

    name: str  # the Config field
    kind: Kind
    default: Any
    help: str
    group: str
    unit: str = ""  # "bytes", "seconds", "MiB"
    aliases: tuple[Alias, ...] = ()
    default_text: str = ""  # shown instead of a default computed on this machine
    off_flag: bool = False  # also --no-NAME, which sets the value to "" (off)
    # The command-line name: "" for the field's name, None for none (settings and
    # environment only).
    cli_name: str | None = ""
    # The Django setting and environment variable: "" for SQUALL_<NAME>, None for
    # none (command line only).
    variable_name: str | None = ""
    blank_is_unset: bool = False  # an empty value counts as not set (Hurricane's `or`)

    @property
    def is_list(self) -> bool:
        """Repeatable on the command line."""
        return self.kind.repeatable

    @property
    def dest(self) -> str | None:
        """The key of its command-line value (argparse's dest); None when there is no flag."""
        return self.name if self.cli_name == "" else self.cli_name

    @property
    def flag(self) -> str:
        return "--" + (self.dest or self.name).replace("_", "-")

    @property
    def is_switch(self) -> bool:
        """A boolean: --name / --no-name on the command line."""
        return self.kind is BOOLEAN

    @property
    def flags(self) -> tuple[str, ...]:
        """Every command-line spelling (a boolean also has its --no- form)."""
        if self.is_switch or self.off_flag:
            return (self.flag, "--no-" + self.flag[2:])
        return (self.flag,)

    @property
    def variable(self) -> str | None:
        """The name of both the Django setting and the environment variable."""
        return "SQUALL_" + self.name.upper() if self.variable_name == "" else self.variable_name

    @property
    def metavar(self) -> str:
        return {"bytes": "BYTES", "seconds": "SECONDS", "MiB": "MIB"}.get(
            self.unit, self.kind.metavar
        )

    def show_default(self) -> str:
        if self.default_text:
            return self.default_text
        text = self.kind.show(self.default)
        if self.unit == "bytes" and self.default >= 1024:
            for size, name in ((1 << 20, "MiB"), (1 << 10, "KiB")):
                if self.default % size == 0:
                    return f"{text} bytes ({self.default // size} {name})"
        if self.unit:
            return f"{text} {self.unit}"
        return text or '""'

    def aliases_from(self, source: Source) -> tuple[Alias, ...]:
        return tuple(a for a in self.aliases if a.source == source)


def option(
    default: Any,
    kind: Kind,
    help: str,
    *,
    group: str,
    unit: str = "",
    aliases: tuple[Alias, ...] = (),
    default_text: str = "",
    off_flag: bool = False,
    cli_name: str | None = "",
    variable_name: str | None = "",
    blank_is_unset: bool = False,
) -> Any:
    """Declare a field of Config (or AmqpOptions) together with its row in the option table."""
    entry = Option(
        "", kind, default, help, group, unit, aliases, default_text, off_flag,
        cli_name, variable_name, blank_is_unset,
    )  # fmt: skip
    return field(default=default, metadata={"squall": entry})


def hurricane(name: str, warning: str | None = None) -> tuple[Alias, ...]:
    """Hurricane read NAME from Django settings (no prefix) and HURRICANE_NAME from env."""
    return (Alias("settings", name, warning), Alias("env", "HURRICANE_" + name, warning))


WORKERS_WARNING = (
    "{label} is Hurricane's thread-pool size, taken as threads: use SQUALL_THREADS "
    "(Squall's --workers / SQUALL_WORKERS is the number of processes)"
)
MAX_LIFETIME_WARNING = (
    "{label} is Hurricane's request count, taken as max_requests: use SQUALL_MAX_REQUESTS "
    "(Squall's --max-lifetime / SQUALL_MAX_LIFETIME is in seconds)"
)


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything the engine needs to serve; read by field name from C++.

    Construct it with :func:`parse_config` / :func:`resolve_config`, or directly
    (tests): every field is checked against the option table on construction.
    """

    host: str = option(
        "0.0.0.0",
        HOST,
        "Address the application port listens on (0.0.0.0: every IPv4 interface, "
        ":: every IPv6 one).",
        group="listening",
    )
    port: int = option(
        8000,
        integer(0, 65535),
        "TCP port of the application (0 picks a free port).",
        group="listening",
        aliases=hurricane("PORT"),
    )
    backlog: int = option(
        1024,
        integer(1),
        "Length of the queue of connections not yet accepted (listen(2) backlog).",
        group="listening",
    )
    workers: int = option(
        available_cpus(),
        integer(1),
        "Worker processes forked by the master, each serving requests with its own "
        "I/O loop and Python threads. --debugger and --pycharm-host run one.",
        group="workers",
        default_text="CPUs available to the container (cgroup quota)",
    )
    interface: str = option(
        "wsgi",
        choice("wsgi", "asgi"),
        "The application's interface: wsgi (PEP 3333, called by --threads threads per "
        "worker) or asgi (ASGI 3: HTTP, WebSocket and lifespan, run by one asyncio loop per "
        "worker; docs/asgi.md). manage.py serve --asgi is the same as --interface asgi.",
        group="asgi",
    )
    asgi: bool = option(
        False,
        BOOLEAN,
        "Serve the project's ASGI application: settings.ASGI_APPLICATION (Channels), else "
        "Django's get_asgi_application(). Same as --interface asgi.",
        group="asgi",
    )
    loop: str = option(
        "auto",
        choice("auto", "asyncio", "uvloop"),
        "The event loop of --interface asgi: asyncio, uvloop, or auto (uvloop when it is "
        "installed).",
        group="asgi",
    )
    lifespan: str = option(
        "auto",
        choice("auto", "on", "off"),
        "The ASGI lifespan protocol: on (an application that fails or refuses it stops the "
        "server: the startup probe never passes, exit status 1), off, or auto (an application "
        "that raises before reading the startup event does not support it: served without).",
        group="asgi",
    )
    ws_max_message_size: int = option(
        1048576,
        integer(1),
        "Largest WebSocket message accepted from a client, reassembled and inflated; past it "
        "the connection is closed with 1009 (RFC 6455 7.4.1). Messages the application has "
        "not read yet are bounded by it too: past it the server stops reading the socket.",
        group="asgi",
        unit="bytes",
    )
    root_path: str = option(
        "",
        ROOT_PATH,
        "The ASGI root_path: the URL prefix the application is mounted under behind a proxy "
        "that strips it (e.g. /api).",
        group="asgi",
    )
    threads: int = option(
        4,
        integer(1),
        "Python threads per worker process that call the WSGI application.",
        group="workers",
        aliases=hurricane("WORKERS", WORKERS_WARNING),
    )
    preload: bool = option(
        True,
        BOOLEAN,
        "Load the application once in the master before forking the workers "
        "(--no-preload: each worker loads it, so a rolling restart by SIGHUP imports new code). "
        "With --command or --check-migrations each worker loads it, after them.",
        group="workers",
    )
    reuse_port: bool = option(
        False,
        BOOLEAN,
        "Set SO_REUSEPORT on the listen socket, so that another process may listen on "
        "the same port.",
        group="workers",
    )
    timeout: float = option(
        30.0,
        SECONDS,
        "A request that runs longer than this in the application gets its deadline: the "
        "client is answered 504 (or the connection closed, if the response had started) and "
        "squall.RequestTimeout is raised in the request's thread, which unwinds; the worker "
        "keeps serving. A worker whose I/O loop stops heartbeating this long is killed and "
        "replaced; the log names the request.",
        group="lifecycle",
        unit="seconds",
    )
    timeout_grace: float = option(
        5.0,
        SECONDS_OR_ZERO,
        "A request still running this long after its --timeout (its thread blocked in C, "
        "where the RequestTimeout cannot be delivered) gets its worker replaced: the "
        "replacement is forked first, then the stuck worker dumps its threads' stacks "
        "(SIGABRT) and is killed.",
        group="lifecycle",
        unit="seconds",
    )
    max_requests: int = option(
        0,
        integer(0),
        "Recycle a worker after it has served this many requests (0: never). "
        "The replacement accepts before the old worker stops.",
        group="lifecycle",
        aliases=(
            Alias("settings", "MAX_LIFETIME", MAX_LIFETIME_WARNING),
            Alias("env", "HURRICANE_MAX_LIFETIME", MAX_LIFETIME_WARNING),
        ),
    )
    max_requests_jitter: int = option(
        0,
        integer(0),
        "Add a random 0..N to --max-requests for each worker, so that workers are not "
        "all recycled at once.",
        group="lifecycle",
    )
    max_lifetime: float = option(
        0.0,
        SECONDS_OR_ZERO,
        "Recycle a worker this long after it started (0: never). Hurricane's "
        "--max-lifetime was a request count: that is --max-requests here.",
        group="lifecycle",
        unit="seconds",
    )
    max_memory: int = option(
        0,
        integer(0),
        "Recycle a worker whose resident memory (RSS) exceeds this (0: never).",
        group="lifecycle",
        unit="MiB",
        aliases=hurricane("MAX_MEMORY"),
    )
    shutdown_delay: float = option(
        5.0,
        SECONDS_OR_ZERO,
        "After SIGTERM, readiness fails at once but the server keeps accepting this "
        "long, because Kubernetes removes a pod from its Services' endpoints "
        "asynchronously. Shutdown delay + graceful timeout must stay below the pod's "
        "terminationGracePeriodSeconds (30 s by default): 5 + 20 = 25.",
        group="lifecycle",
        unit="seconds",
    )
    graceful_timeout: float = option(
        20.0,
        SECONDS,
        "After the shutdown delay, stop accepting and wait this long for in-flight "
        "requests to finish before the workers are killed.",
        group="lifecycle",
        unit="seconds",
    )
    probe: bool = option(
        True,
        BOOLEAN,
        "Serve the Kubernetes probes, answered by the master from shared memory, never by "
        "the application (--no-probe: none).",
        group="probes",
        aliases=(
            Alias("settings", "NO_PROBE", negate=True),
            Alias("env", "HURRICANE_NO_PROBE", negate=True),
        ),
    )
    probe_port: int | None = option(
        None,
        OPTIONAL_PORT,
        "Port of the probes: /startup, /ready, /alive (or the paths below) and "
        "/startupz, /readyz, /livez. Equal to --port: the probe paths are answered on the "
        "application port instead (by the I/O thread, not the application).",
        group="probes",
        aliases=hurricane("PROBE_PORT"),
    )
    startup_probe: str = option(
        "/startup",
        URL_PATH,
        "Path of the startup probe: 400 until every worker accepts connections, then 200.",
        group="probes",
        aliases=hurricane("STARTUP_PROBE"),
    )
    readiness_probe: str = option(
        "/ready",
        URL_PATH,
        "Path of the readiness probe: 400 before startup and while the request queue is "
        "full, 500 after SIGTERM, 200 otherwise.",
        group="probes",
        aliases=hurricane("READINESS_PROBE"),
    )
    liveness_probe: str = option(
        "/alive",
        URL_PATH,
        "Path of the liveness probe: 500 when a worker stopped heartbeating beyond "
        "--timeout; it touches no database, so an outage does not restart every pod.",
        group="probes",
        aliases=hurricane("LIVENESS_PROBE"),
    )
    req_queue_len: int = option(
        10,
        integer(0),
        "Readiness fails (400) while this many requests or more, summed over the workers, "
        "wait for a Python thread; 0: the queue never fails readiness (no queue check).",
        group="probes",
        aliases=hurricane("REQ_QUEUE_LEN"),
    )
    max_queue: int = option(
        64,
        integer(0),
        "Requests that may wait in a worker for a Python thread; past this, a new request "
        "is answered 503 with Retry-After: 1 by the I/O thread at once, without Python "
        "(0: unbounded, not recommended: requests then wait until the client gives up). "
        "Keep it above --req-queue-len, so that readiness fails (and Kubernetes stops "
        "sending) before shedding starts.",
        group="probes",
    )
    fair_accept: bool = option(
        True,
        BOOLEAN,
        "A worker whose queue holds as many requests as it has threads stops accepting "
        "connections while another worker has an idle thread (--no-fair-accept: every "
        "worker accepts whatever its load).",
        group="workers",
    )
    check_interval: float = option(
        5.0,
        SECONDS,
        "Seconds between two runs of the health checks (HEALTH_CHECK subsets named "
        "startup, readiness, liveness, and Django system checks tagged readiness or "
        "liveness), in a process of their own; probes answer from the latest result.",
        group="probes",
    )
    metrics: str = option(
        "/metrics",
        OPTIONAL_URL_PATH,
        "Path of the Prometheus metrics on the probe port (text 0.0.4, or OpenMetrics "
        "1.0 when the scraper asks for it), summed over the workers by the master from "
        "shared memory (docs/metrics.md); --no-metrics: none.",
        group="probes",
        off_flag=True,
    )
    webhook_url: tuple[str, ...] = option(
        (),
        URLS,
        "POST a JSON event (Hurricane's payload) to URL when startup succeeds or fails "
        "and whenever readiness or liveness changes; 5 s timeout, 3 retries. Repeat the "
        "flag for more receivers.",
        group="probes",
        aliases=hurricane("WEBHOOK_URL"),
    )
    command: tuple[str, ...] = option(
        (),
        COMMANDS,
        "Run this Django management command (with its arguments) before the workers "
        "start, while the startup probe answers 400; repeat the flag for more, run in "
        "order. A failing command stops startup: exit status 1, startup-failed webhook.",
        group="startup",
        aliases=hurricane("COMMAND"),
    )
    check_migrations: bool = option(
        False,
        BOOLEAN,
        "Before the workers start: wait for the database, then fail startup if a "
        "migration is not applied.",
        group="startup",
        aliases=hurricane("CHECK_MIGRATIONS"),
    )
    check_migrations_apply: bool = option(
        False,
        BOOLEAN,
        "Like --check-migrations, but apply unapplied migrations instead of failing.",
        group="startup",
        aliases=hurricane("CHECK_MIGRATIONS_APPLY"),
    )
    database_wait: float = option(
        30.0,
        SECONDS,
        "With --check-migrations(-apply): how long to wait for the database to answer "
        "(one attempt per second, each logged) before startup fails.",
        group="startup",
        unit="seconds",
    )
    max_request_line: int = option(
        8190,
        integer(1),
        "Longest request line (method, target, version); longer is answered 414.",
        group="limits",
        unit="bytes",
    )
    max_header_bytes: int = option(
        65536,
        integer(1),
        "Largest request head (request line and header fields); larger is answered 431.",
        group="limits",
        unit="bytes",
    )
    max_header_count: int = option(
        100,
        integer(1),
        "Most header fields in one request; more is answered 431.",
        group="limits",
    )
    max_body_size: int = option(
        104857600,
        integer(0),
        "Largest request body, declared or streamed; larger is answered 413.",
        group="limits",
        unit="bytes",
        aliases=(
            *hurricane("MAX_BODY_SIZE"),
            # Tornado's max_buffer_size: the most of a body it would hold.
            Alias("cli", "--max-buffer-size"),
            *hurricane("MAX_BUFFER_SIZE"),
        ),
    )
    header_timeout: float = option(
        10.0,
        SECONDS,
        "Time allowed to receive a complete request head; past it the request is "
        "answered 408 and the connection closed.",
        group="timeouts",
        unit="seconds",
    )
    keepalive_timeout: float = option(
        75.0,
        SECONDS,
        "An idle keep-alive connection is closed after this (a request that already "
        "arrived is served first; the close is a half-close, never a reset). Must "
        "exceed the idle timeout of any load balancer or proxy in front (AWS ALB: "
        "60 s, nginx upstream keepalive_timeout: 60 s), or it may send a request on "
        "a connection Squall is closing (a proxy retries only idempotent ones).",
        group="timeouts",
        unit="seconds",
    )
    body_timeout: float = option(
        30.0,
        SECONDS,
        "Longest wait between two pieces of a request body; past it the connection is closed.",
        group="timeouts",
        unit="seconds",
    )
    forwarded_allow_ips: tuple[str, ...] = option(
        ("127.0.0.1", "::1"),
        NETWORKS,
        "Peers whose X-Forwarded-For and X-Forwarded-Proto headers are honoured: "
        "comma-separated IP addresses or CIDR networks, * for any peer, empty for none. "
        "The client (REMOTE_ADDR, the access log) is the right-most X-Forwarded-For "
        "address that is not itself in this list.",
        group="proxy",
    )
    access_log: bool = option(
        True,
        BOOLEAN,
        "Write one access-log line per request (--no-access-log: none).",
        group="logging",
    )
    access_log_format: tuple[str, ...] = option(
        ("client", "request", "status", "bytes", "duration", "request_id", "trace_id", "span_id"),
        ACCESS_FIELDS,
        "The fields of an access-log line, in order: client (the peer, or the client "
        "a trusted proxy forwarded for), request (\"METHOD TARGET PROTOCOL\"), method, "
        "path, protocol, status, bytes (of the body), duration (ms), user_agent, referer, "
        "host (quoted, \"-\" when absent), request_id, trace_id, span_id (written "
        "request_id=ID ...; docs/tracing.md). With --log-format json they are keys of the "
        "line's object (client: remote_addr, request: method, path and protocol, "
        "duration: duration_ms; an absent header is null).",
        group="logging",
    )
    log_format: str = option(
        "text",
        choice("text", "json"),
        "Format of log lines on stderr: text, or json (one object per line; then every "
        "logging handler of the project that writes to stderr writes json too, e.g. "
        "Django's 'Not Found' warnings).",
        group="logging",
    )
    log_level: str = option(
        "info",
        choice("debug", "info", "warning", "error"),
        "Lowest level of Squall's own log lines (the squall loggers and the engine's "
        "lines; not the access log: --access-log); the project's LOGGING cannot "
        "disable or raise it.",
        group="logging",
    )
    tracing_setup: str = option(
        "",
        OPTIONAL_CALLABLE,
        "A function Squall calls with no arguments in every worker process after it is "
        "forked, to set up the OpenTelemetry SDK (a TracerProvider with its exporters: "
        "their threads and connections do not survive a fork). With one, each request "
        "runs inside Squall's SERVER span, whose trace id and span id are the access "
        "log's; Django's spans are its children. See docs/tracing.md.",
        group="tracing",
    )
    static: bool = option(
        False,
        BOOLEAN,
        "Serve STATIC_ROOT under STATIC_URL from the workers' I/O threads, without Python "
        "(sendfile, ETag, Range, precompressed .br/.gz); with DEBUG the files Django's "
        "staticfiles finders find come first, as with runserver. A missing file is 404. "
        "Without STATIC_ROOT: a warning, and STATIC_URL goes to the application. See "
        "docs/static-files.md.",
        group="static",
        aliases=hurricane("STATIC"),
    )
    media: bool = option(
        False,
        BOOLEAN,
        "Serve MEDIA_ROOT under MEDIA_URL the same way; a request for a file that is not "
        "there goes to the application. Every file under MEDIA_ROOT is public to anyone "
        "who knows its URL, without the application's permission checks: keep private "
        "uploads out with --media-private.",
        group="static",
        aliases=hurricane("MEDIA"),
    )
    media_private: tuple[str, ...] = option(
        (),
        PATHS,
        "With --media: files under this directory of MEDIA_URL (invoices, or "
        "/media/invoices/) are never served by Squall; their requests go to the "
        "application, which checks permissions. --media serves every other file under "
        "MEDIA_ROOT to anyone who knows its URL. Repeat the flag for more.",
        group="static",
    )
    static_max_age: int = option(
        3600,
        integer(0),
        "Cache-Control max-age of files served by --static and --media whose name carries "
        "no content hash (names from ManifestStaticFilesStorage, app.3f2a9c81b4d0.css, get "
        "a year and immutable).",
        group="static",
        unit="seconds",
    )
    static_follow_symlinks: bool = option(
        False,
        BOOLEAN,
        "Let symbolic links under STATIC_ROOT and MEDIA_ROOT lead out of the root (by "
        "default such a link is 404, as are absolute links; collectstatic --link needs this).",
        group="static",
    )
    autoreload: bool = option(
        False,
        BOOLEAN,
        "Development: restart the server within a second when a .py file under the "
        "current directory (or a file under --static-watch) changes; an import error "
        "is logged and the server starts again on the next change.",
        group="development",
        aliases=hurricane("AUTORELOAD"),
    )
    static_watch: tuple[str, ...] = option(
        (),
        PATHS,
        "With --autoreload: also restart when a file under PATH changes (a file or a "
        "directory, watched recursively). Repeat the flag for more paths.",
        group="development",
        aliases=hurricane("STATIC_WATCH"),
    )
    debugger: bool = option(
        False,
        BOOLEAN,
        "Development: listen for a Debug Adapter Protocol client (debugpy; VS Code) on "
        "--debugger-port, in the worker process. Runs one worker; refuses --autoreload. "
        "Needs pip install squall[debug].",
        group="development",
        aliases=hurricane("DEBUGGER"),
    )
    debugger_port: int = option(
        5678,
        integer(0, 65535),
        "TCP port of --debugger, on every interface (0 picks a free port, logged).",
        group="development",
        aliases=hurricane("DEBUGGER_PORT"),
    )
    pycharm_host: str = option(
        "",
        OPTIONAL_HOST,
        "Development: connect the worker process to the PyCharm debug server on this "
        "host (empty: off). Runs one worker; refuses --autoreload. Needs pip install "
        "squall[pycharm].",
        group="development",
        aliases=hurricane("PYCHARM_HOST"),
    )
    pycharm_port: int = option(
        5678,
        integer(1, 65535),
        "Port of the PyCharm debug server of --pycharm-host.",
        group="development",
        aliases=hurricane("PYCHARM_PORT"),
    )

    def __post_init__(self) -> None:
        _check_fields(self, OPTIONS)
        # A debugger is attached to one process, which must not be restarted under it.
        debugging = self.debugger or bool(self.pycharm_host)
        if debugging and self.autoreload:
            raise ValueError("Config: debugger / pycharm_host cannot be used with autoreload")
        if debugging:
            object.__setattr__(self, "workers", 1)


def _check_fields(obj: object, table: Sequence[Option]) -> None:
    """Checks every field of `obj` against its row of `table` (and normalises:
    5 -> 5.0 seconds, a list -> a tuple)."""
    for opt in table:
        value = getattr(obj, opt.name)
        try:
            object.__setattr__(obj, opt.name, opt.kind.parse(value))
        except ValueError:
            raise ValueError(
                f"{type(obj).__name__}.{opt.name}: invalid value {value!r} "
                f"(expected {opt.kind.expected})"
            ) from None


def _table(cls: type) -> tuple[Option, ...]:
    """The option table declared by the fields of the dataclass `cls`."""
    return tuple(replace(f.metadata["squall"], name=f.name) for f in fields(cls))


OPTIONS: tuple[Option, ...] = _table(Config)


def _text(value: object) -> str:
    if value is None:
        raise ValueError(value)
    return value if isinstance(value, str) else str(value)


def _or_none(kind: Kind) -> Kind:
    """`kind`, or None (not set)."""
    return replace(kind, parse=lambda value: None if value is None else kind.parse(value))


TEXT = Kind("a string", "NAME", _text)


def _amqp(name: str) -> str:
    """Hurricane's AMQP setting and environment variable: AMQP_<NAME>, no prefix."""
    return "AMQP_" + name.upper()


@dataclass(frozen=True, kw_only=True)
class AmqpOptions:
    """``manage.py consume``'s connection to the broker (docs/amqp.md); its body is
    the consumer's part of the option table.

    As Hurricane read them: the command line, then the Django setting, then the
    environment variable, both named AMQP_<NAME> without Squall's prefix; an
    empty value counts as not set. The credentials are read from settings and
    the environment only, the queue, exchange and --reconnect from the command
    line only.
    """

    host: str | None = option(
        None, _or_none(HOST), "The broker's host.", group="amqp", cli_name="amqp_host",
        variable_name=_amqp("host"), blank_is_unset=True, default_text="none (required)",
    )  # fmt: skip
    port: int | None = option(
        None, _or_none(integer(0, 65535)), "The broker's port.", group="amqp",
        cli_name="amqp_port", variable_name=_amqp("port"), blank_is_unset=True,
        default_text="none (required)",
    )  # fmt: skip
    vhost: str = option(
        "/", TEXT, "The virtual host.", group="amqp", cli_name="amqp_vhost",
        variable_name=_amqp("vhost"), blank_is_unset=True,
    )  # fmt: skip
    user: str | None = option(
        None, _or_none(TEXT), "The user name.", group="amqp", cli_name=None,
        variable_name=_amqp("user"), default_text="guest",
    )  # fmt: skip
    password: str | None = option(
        None, _or_none(TEXT), "The password.", group="amqp", cli_name=None,
        variable_name=_amqp("password"), default_text="guest",
    )  # fmt: skip
    queue: str = option(
        "", TEXT, "The queue to consume from ('': a server-named queue).", group="amqp",
        variable_name=None,
    )  # fmt: skip
    exchange: str = option(
        "", TEXT, "The topic exchange to declare and bind to.", group="amqp",
        variable_name=None,
    )  # fmt: skip
    reconnect: bool = option(
        False, BOOLEAN, "Reconnect (backoff 0, 1, 2 ... 30 s) when the broker goes away; "
        "without it the consumer exits non-zero.", group="amqp", variable_name=None,
    )  # fmt: skip
    prefetch: int = option(
        1, integer(1, 65535), "Unacknowledged messages the broker may send ahead (basic.qos).",
        group="amqp", variable_name=_amqp("prefetch"), blank_is_unset=True,
    )  # fmt: skip
    heartbeat: int = option(
        30, integer(0), "AMQP heartbeat.", group="amqp", unit="seconds",
        variable_name=_amqp("heartbeat"), blank_is_unset=True,
    )  # fmt: skip
    dead_letter_exchange: str = option(
        "", TEXT, "Failed messages are rejected (dead-lettered) instead of requeued; a queue "
        "Squall declares gets this x-dead-letter-exchange.", group="amqp",
        variable_name=_amqp("dead_letter_exchange"), blank_is_unset=True, default_text="none",
    )  # fmt: skip

    def __post_init__(self) -> None:
        _check_fields(self, AMQP_OPTIONS)


AMQP_OPTIONS: tuple[Option, ...] = _table(AmqpOptions)

GROUPS: dict[str, str] = {
    "listening": "Listening",
    "workers": "Workers",
    "lifecycle": "Worker lifecycle and shutdown",
    "probes": "Kubernetes probes",
    "startup": "Startup phase",
    "limits": "Request limits",
    "timeouts": "Timeouts",
    "proxy": "Reverse proxy",
    "logging": "Logging",
    "tracing": "Request ids and tracing",
    "static": "Static and media files",
    "development": "Development",
    "asgi": "ASGI (--interface asgi)",
    "amqp": "AMQP (manage.py consume)",
}

# Hurricane `serve` options Squall does not implement (yet): named in the error.
HURRICANE_ONLY = frozenset(
    """--debug""".split()
)

# --------------------------------------------------------------------------- errors


class OptionError(Exception):
    """An invalid option value or an unknown option; str() is the one-line message."""


def exit_with_error(message: str) -> NoReturn:
    """Print ``squall: error: <message>`` as one line on stderr and exit 2."""
    one_line = message.replace("\n", " ")
    sys.stderr.write(f"squall: error: {one_line}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def warn(message: str, *, json_line: bool = False) -> None:
    """A warning about the options on stderr: ``squall: warning: ...``, or with
    `json_line` (--log-format json) a log line of the ``squall`` logger."""
    if json_line:
        from squall.log import JsonFormatter

        record = logging.LogRecord("squall", logging.WARNING, __file__, 0, message, (), None)
        sys.stderr.write(JsonFormatter().format(record) + "\n")
    else:
        sys.stderr.write(f"squall: warning: {message}\n")
    sys.stderr.flush()


def _unexpected(extras: Sequence[str]) -> str:
    first = extras[0]
    if not first.startswith("-") or first == "-":
        return f"unexpected argument {first!r}"
    name = first.split("=", 1)[0]
    if name in HURRICANE_ONLY:
        return f"{name}: unknown option (Hurricane's {name} is not supported by Squall yet)"
    return f"{name}: unknown option"


class SquallArgumentParser(argparse.ArgumentParser):
    """argparse, but every error is one line ``squall: error: ...`` and exit 2."""

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(_unexpected(extras))
        return namespace

    def error(self, message: str) -> NoReturn:
        # argparse says "argument --port: expected one argument"; we say "--port: ...",
        # with the long name of an option that has two ("-v/--verbosity").
        match = re.fullmatch(r"argument ([^:\s]+): (.*)", message, re.DOTALL)
        if match:
            names = match[1].split("/")
            name = next((n for n in names if n.startswith("--")), names[0])
            message = f"{name}: {match[2]}"
        exit_with_error(message)


# --------------------------------------------------------------------------- parsing


def build_parser(prog: str, *, django: bool = False) -> SquallArgumentParser:
    """The command-line parser for ``squall APP`` or, with `django`, ``manage.py serve``.

    Every option's value is left raw (``None`` when not given) for
    :func:`resolve_config`. In Django mode there is no APP argument, and Django's
    ``--settings`` and ``--pythonpath`` are accepted (manage.py has applied them
    already).
    """
    if django:
        usage = f"{prog} [options]"
        description = "Serve this Django project's WSGI application with Squall."
        where = "the Django setting SQUALL_<NAME>, then the environment variable SQUALL_<NAME>"
    else:
        usage = f"{prog} [options] MODULE[:CALLABLE]"
        description = "Serve a WSGI application with Squall."
        where = "the environment variable SQUALL_<NAME>"
    parser = SquallArgumentParser(
        prog=prog,
        usage=usage,
        description=description,
        epilog=f"An option not given on the command line is read from {where} "
        "(e.g. SQUALL_MAX_BODY_SIZE), else it has its default. See docs/options.md.",
        allow_abbrev=False,
    )
    if not django:
        parser.add_argument(
            "app",
            nargs="?",
            metavar="MODULE[:CALLABLE]",
            help="the WSGI application: a module and an attribute (dotted path allowed) "
            "in it, 'application' when omitted; the current directory is on sys.path",
        )
    add_table_options(parser, OPTIONS)
    if django:
        add_django_options(parser)
    return parser


# Django's -v/--verbosity as Squall's log level (when --log-level is not given).
VERBOSITY_LOG_LEVEL = {0: "warning", 1: "info", 2: "debug", 3: "debug"}


def with_verbosity(cli: Mapping[str, object]) -> dict[str, object]:
    """Raw command-line values with Django's -v as --log-level, unless that is given."""
    verbosity = cli.get("verbosity")
    if isinstance(verbosity, int) and cli.get("log_level") is None:
        return {**cli, "log_level": VERBOSITY_LOG_LEVEL.get(verbosity, "debug")}
    return dict(cli)


def add_django_options(parser: argparse.ArgumentParser) -> None:
    """The options every Django management command takes, with their meaning for
    ``serve``: -v sets the log level, --traceback logs the traceback of an error
    that stops the server, --version prints the versions; --no-color,
    --force-color and --skip-checks are accepted (Squall's lines have no colour,
    and serve runs no system checks before serving)."""
    dj = parser.add_argument_group("Django (as every management command)")
    dj.add_argument("--settings", metavar="MODULE",
                    help="the settings module to use (applied by manage.py)")  # fmt: skip
    dj.add_argument("--pythonpath", metavar="DIR",
                    help="a directory to add to sys.path (applied by manage.py)")  # fmt: skip
    dj.add_argument(
        "-v", "--verbosity", type=int, choices=[0, 1, 2, 3], default=None,
        help="0: only warnings and errors in the log, 1: info (default), 2 and 3: debug; "
        "--log-level wins",
    )  # fmt: skip
    dj.add_argument("--traceback", action="store_true", default=None,
                    help="log the traceback of an error that stops the server")  # fmt: skip
    dj.add_argument("--no-color", action="store_true", default=None,
                    help="accepted; Squall's log lines have no colour")  # fmt: skip
    dj.add_argument("--force-color", action="store_true", default=None,
                    help="accepted; Squall's log lines have no colour")  # fmt: skip
    dj.add_argument("--skip-checks", action="store_true", default=None,
                    help="accepted; serve runs no system checks before serving "
                    "(docs/migrating-from-hurricane.md)")  # fmt: skip
    dj.add_argument("--version", action="version", version=_versions(),
                    help="print Squall's and Django's versions and exit")  # fmt: skip


def _versions() -> str:
    from squall import __version__

    try:
        import django

        return f"squall {__version__}, Django {django.get_version()}"
    except ImportError:
        return f"squall {__version__}"



def add_table_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """Adds `options` (rows of the table) to `parser` in their groups, each value
    left raw (``None`` when not given) for :func:`resolve_config`."""
    groups: dict[str, Any] = {}
    for opt in options:
        if opt.dest is None:
            continue  # settings and environment only
        if opt.group not in groups:
            groups[opt.group] = parser.add_argument_group(GROUPS[opt.group])
        group = groups[opt.group]
        for alias in opt.aliases_from("cli"):
            group.add_argument(
                alias.name, dest=_alias_dest(alias), default=None, metavar=opt.metavar,
                help=f"Hurricane's name of {opt.flag}",
            )  # fmt: skip
        where = f"; {opt.variable}" if opt.variable else ""
        help_text = f"{opt.help} (default: {opt.show_default()}{where})"
        help_text = help_text.replace("%", "%%")
        if opt.is_switch:
            group.add_argument(
                opt.flag,
                dest=opt.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            group.add_argument(
                opt.flag,
                dest=opt.dest,
                default=None,
                metavar=opt.metavar,
                help=help_text,
                action=_list_action(opt) if opt.is_list else "store",
            )
            if opt.off_flag:
                group.add_argument(
                    "--no-" + opt.flag[2:],
                    dest=opt.dest,
                    action="store_const",
                    const="",
                    help=f"no {opt.flag[2:]} at all",
                )


def _list_action(opt: Option) -> type[argparse.Action] | str:
    return _AppendSplit if opt.kind is PATHS else "append"


class _AppendSplit(argparse.Action):
    """A repeatable flag whose every value may hold several, comma-separated."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
        values: Any, option_string: str | None = None,
    ) -> None:  # fmt: skip
        items = list(getattr(namespace, self.dest, None) or [])
        items += [part for part in str(values).split(",")]
        setattr(namespace, self.dest, items)


@dataclass(frozen=True)
class Found:
    """Where an option is set: a label for messages, the source, the raw value."""

    label: str  # "--port", "settings.PORT", "HURRICANE_PORT (environment)"
    source: Source
    raw: object
    alias: Alias | None = None


def _candidates(
    opt: Option,
    cli: Mapping[str, object],
    settings: object | None,
    environ: Mapping[str, str],
) -> Iterator[Found]:
    """Every place `opt` is set, highest precedence first."""

    def unset(value: object) -> bool:
        return value is None or (opt.blank_is_unset and value == "")

    if opt.dest is not None and not unset(given := cli.get(opt.dest)):
        yield Found(opt.flag, "cli", given)
    for alias in opt.aliases_from("cli"):
        if not unset(given := cli.get(_alias_dest(alias))):
            yield Found(alias.name, "cli", given, alias)
    if opt.variable is None:
        return
    if settings is not None and getattr(settings, "configured", True):
        for name, alias in ((opt.variable, None), *_named(opt, "settings")):
            if not unset(given := getattr(settings, name, None)):
                yield Found(f"settings.{name}", "settings", given, alias)
    for name, alias in ((opt.variable, None), *_named(opt, "env")):
        if name in environ and not unset(environ[name]):
            yield Found(f"{name} (environment)", "env", environ[name], alias)


def _alias_dest(alias: Alias) -> str:
    return alias.name.lstrip("-").replace("-", "_")


def _named(opt: Option, source: Source) -> tuple[tuple[str, Alias], ...]:
    return tuple((a.name, a) for a in opt.aliases_from(source))


def check_combinations(
    values: Mapping[str, Any],
    labels: Mapping[str, str],
    on_warning: Callable[[str], None] = warn,
) -> dict[str, Any]:
    """Checks between options, on parsed values before the Config is built.

    `values` maps each option that was set (not defaulted) to its parsed value
    and `labels` to where it was set ("--workers", "SQUALL_DEBUGGER
    (environment)"). Returns the values, adjusted where one option forces
    another; raises :class:`OptionError`.
    """
    values = dict(values)
    debugger = next((n for n in ("debugger", "pycharm_host") if values.get(n)), None)
    if debugger and values.get("autoreload"):
        raise OptionError(
            f"{labels[debugger]} cannot be used with {labels['autoreload']}: the "
            "reloader would restart the process the debugger is attached to"
        )
    if debugger:
        if values.get("workers", 1) != 1:
            on_warning(
                f"{labels['workers']} {values['workers']} is ignored: {labels[debugger]} "
                "runs one worker"
            )
        values["workers"] = 1
    max_queue, req_queue_len = values.get("max_queue"), values.get("req_queue_len")
    if max_queue is not None or req_queue_len is not None:
        defaults = {o.name: o.default for o in OPTIONS}
        mq = defaults["max_queue"] if max_queue is None else max_queue
        rq = defaults["req_queue_len"] if req_queue_len is None else req_queue_len
        if mq and mq <= rq:
            on_warning(
                f"{labels.get('max_queue', '--max-queue')} {mq} is not above "
                f"{labels.get('req_queue_len', '--req-queue-len')} {rq}: requests are shed "
                "(503) before readiness fails"
            )
    if values.get("asgi"):
        if values.get("interface") == "wsgi":
            raise OptionError(f"{labels['asgi']} cannot be used with {labels['interface']} wsgi")
        values["interface"] = "asgi"
    if values.get("static_watch") and not values.get("autoreload"):
        on_warning(f"{labels['static_watch']} has no effect without --autoreload")
    return values


def resolve_config(
    cli: Mapping[str, object] | None = None,
    *,
    settings: object | None = None,
    environ: Mapping[str, str] | None = None,
    on_warning: Callable[[str], None] = warn,
) -> Config:
    """Build the Config from raw command-line values, settings and environment.

    `cli` maps an option's name to its raw value, ``None`` meaning not given:
    ``vars()`` of a :func:`build_parser` namespace, or keyword arguments.
    `settings` is Django's settings (ignored unless configured) or any object
    with ``SQUALL_*`` attributes; a setting whose value is ``None`` counts as
    not set. `environ` defaults to os.environ. A deprecated alias that is set
    is reported to `on_warning`, one line each. Raises :class:`OptionError`
    naming the option and the source.
    """
    values, labels = _resolve(OPTIONS, cli, settings, environ, on_warning)
    return Config(**check_combinations(values, labels, on_warning))


def resolve_amqp_options(
    cli: Mapping[str, object] | None = None,
    *,
    settings: object | None = None,
    environ: Mapping[str, str] | None = None,
) -> AmqpOptions:
    """The AmqpOptions from raw command-line values (keyed by each row's dest:
    ``amqp_host``, ``queue``), settings and environment, as
    :func:`resolve_config` does for Config. Raises :class:`OptionError`."""
    values, _ = _resolve(AMQP_OPTIONS, cli, settings, environ, warn)
    return AmqpOptions(**values)


def _resolve(
    table: Sequence[Option],
    cli: Mapping[str, object] | None,
    settings: object | None,
    environ: Mapping[str, str] | None,
    on_warning: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The parsed value of every row of `table` that is set, by name, and where
    each was found ("--port", "settings.PORT"); see :func:`resolve_config`."""
    cli = cli or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    everywhere = {opt: list(_candidates(opt, cli, settings, environ)) for opt in table}
    for candidates in everywhere.values():  # every warning before the first error
        for found in candidates:
            if found.alias is not None and found.alias.warning:
                on_warning(found.alias.warning.format(label=found.label))
    for opt, candidates in everywhere.items():
        if not candidates:
            continue  # the default
        label, source, raw = candidates[0].label, candidates[0].source, candidates[0].raw
        try:
            values[opt.name] = opt.kind.parse(raw)
            if candidates[0].alias is not None and candidates[0].alias.negate:
                values[opt.name] = not values[opt.name]
        except ValueError as exc:
            # A repeated flag: name the one bad value, not the whole list.
            if isinstance(raw, list) and exc.args and isinstance(exc.args[0], str):
                raw = exc.args[0]
            hint = ""
            if source == "env" and isinstance(raw, str) and re.match(r"(tcp|udp|sctp)://", raw):
                service = label.split("_", 1)[0].lower()
                hint = (
                    f"; a Kubernetes service link of a Service named {service!r}? "
                    "Set enableServiceLinks: false in the pod spec"
                )
            raise OptionError(
                f"{label}: invalid value {raw!r} (expected {opt.kind.expected}){hint}"
            ) from None
        labels[opt.name] = label
    return values, labels


def parse_config(
    argv: Sequence[str],
    *,
    prog: str = "squall",
    django: bool = False,
    settings: object | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Config, argparse.Namespace]:
    """Parse `argv` (without the program name) into a Config and the namespace.

    `django` selects ``manage.py serve`` mode (see :func:`build_parser`);
    otherwise the namespace's ``app`` is the required MODULE[:CALLABLE].
    On any error: one line on stderr and ``SystemExit(2)``. ``--help`` exits 0.
    """
    parser = build_parser(prog, django=django)
    namespace = parser.parse_args(list(argv))
    if not django and not namespace.app:
        parser.error("missing the application argument MODULE[:CALLABLE]")
    warnings: list[str] = []  # written once the log format is known
    try:
        config = resolve_config(
            with_verbosity(vars(namespace)), settings=settings, environ=environ,
            on_warning=warnings.append,
        )  # fmt: skip
    except OptionError as exc:
        for message in warnings:
            warn(message)
        parser.error(str(exc))
    for message in warnings:
        warn(message, json_line=config.log_format == "json")
    return config, namespace


# --------------------------------------------------------------------------- docs


def render_markdown() -> str:
    """docs/options.md, generated from the option table."""
    out = [
        "# Options",
        "",
        "<!-- Generated by `python -m squall.options > docs/options.md`; do not edit. -->",
        "",
        "Every option can be given on the command line (`squall APP --port 9000` or",
        "`python manage.py serve --port 9000`), as a Django setting (`SQUALL_PORT = 9000`,",
        "read by `manage.py serve` only) or as an environment variable (`SQUALL_PORT=9000`).",
        "",
        "## Precedence",
        "",
        "For each option, the first of these that is set wins:",
        "",
        "1. the command-line flag;",
        "2. the Django setting `SQUALL_<NAME>` (`manage.py serve` only; `None` counts as unset);",
        "3. the environment variable `SQUALL_<NAME>`;",
        "4. the default.",
        "",
        "Hurricane's names are accepted one step below Squall's own name at the same level:",
        "",
        "- settings without prefix (`PORT`, `MAX_BODY_SIZE`) after `SQUALL_*` settings;",
        "- environment variables `HURRICANE_PORT`, `HURRICANE_MAX_BODY_SIZE` after `SQUALL_*`",
        "  ones.",
        "",
        "Two of Hurricane's names meant something else than Squall's option of the same",
        "name. Its setting and environment variable keep Hurricane's meaning, with a",
        "one-line deprecation warning; on the command line only Squall's meaning exists:",
        "",
        "| Hurricane | meant | is taken as | Squall's own option of that name |",
        "|---|---|---|---|",
        "| `WORKERS`, `HURRICANE_WORKERS` | threads of its pool | `threads` |"
        " `--workers`: worker processes |",
        "| `MAX_LIFETIME`, `HURRICANE_MAX_LIFETIME` | requests before a restart |"
        " `max_requests` | `--max-lifetime`: seconds |",
        "",
        "So `manage.py serve --workers 4`, which gave Hurricane 4 threads, now starts 4",
        "processes, and `--max-lifetime 1000` recycles a worker after 1000 seconds: write",
        "`--threads 4` and `--max-requests 1000` for Hurricane's meaning.",
        "`MAX_MEMORY` / `HURRICANE_MAX_MEMORY` / `--max-memory` mean MiB of RSS in both.",
        "",
        "Hurricane's `--max-buffer-size` (Tornado's limit of a body held in memory) is",
        "`--max-body-size`. Hurricane's `--debug` (Tornado's debug mode), which Squall",
        "does not implement, is an error, not silently ignored.",
        "`--metrics PATH` and `--no-metrics` work as in Hurricane (docs/metrics.md).",
        "",
        "## Options that constrain others",
        "",
        "- `--debugger` and `--pycharm-host` cannot be combined with `--autoreload` (an",
        "  error), and run one worker: a `--workers N` given with them is set to 1 with a",
        "  warning.",
        "- `--static-watch` has an effect only with `--autoreload` (else a warning).",
        "",
        "## Values",
        "",
        "Strings (command line, environment, or a setting written as a string) are parsed",
        "strictly; surrounding whitespace is ignored. Settings may also be native Python",
        "values (`SQUALL_PORT = 9000`, `SQUALL_ACCESS_LOG = False`,",
        '`SQUALL_FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]`).',
        "",
        "- integers: decimal digits only (no `1e3`, no `1_000`);",
        "- seconds: a decimal number > 0 (`2.5`), or >= 0 where 0 means off;",
        "- booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` (any case); anything",
        "  else is an error (Hurricane took `False` for true: Squall does not);",
        "- lists: comma-separated (`10.0.0.0/8,192.168.1.1`); a list of paths also by",
        "  repeating the flag (`--static-watch a --static-watch b`).",
        "",
        "Only the value that wins is parsed. An invalid value or an unknown option prints one",
        "line naming the option and where the value came from, and exits with status 2:",
        "",
        "```",
        "squall: error: --port: invalid value 'abc' (expected an integer 0-65535)",
        "squall: error: SQUALL_PORT (environment): invalid value 'x' (expected an integer 0-65535)",
        "squall: error: settings.SQUALL_THREADS: invalid value 0 (expected an integer >= 1)",
        "```",
        "",
    ]
    for key, title in GROUPS.items():
        if not any(opt.group == key for opt in OPTIONS):
            continue  # another command's rows (AMQP: docs/amqp.md)
        out += [f"## {title}", ""]
        out += ["| option | setting / environment | default | description |", "|---|---|---|---|"]
        for opt in OPTIONS:
            if opt.group != key:
                continue
            flags = " ".join(
                f"`{f}`" if opt.is_switch or f.startswith("--no-") else f"`{f} {opt.metavar}`"
                for f in opt.flags
            )
            names = f"`{opt.variable}`"
            description = f"{opt.help} Accepts {opt.kind.expected}."
            if opt.aliases:
                where = {"cli": "command line", "settings": "setting", "env": "environment"}
                alias_names = ", ".join(
                    f"`{a.name}` ({where[a.source]}{', deprecated' if a.warning else ''}"
                    f"{', negated' if a.negate else ''})"
                    for a in opt.aliases
                )
                description += f" Hurricane aliases: {alias_names}."
            default = opt.show_default().replace("|", "\\|")
            out.append(f"| {flags} | {names} | `{default}` | {description} |")
        out.append("")
    out += [
        "## Django options (`manage.py serve`)",
        "",
        "`--settings MODULE` and `--pythonpath DIR` are Django's own; `manage.py` applies",
        "them before the command runs. Django's other command options keep their meaning:",
        "`-v/--verbosity N` (0: warnings and errors only, 1: info, 2 and 3: debug; a",
        "`--log-level` given wins), `--traceback` (log the traceback of an error that stops",
        "the server), `--version`; `--no-color`, `--force-color` and `--skip-checks` are",
        "accepted (Squall's lines have no colour; `serve` runs no system checks first).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
