"""Squall's options: one table, every source.

The body of :class:`Config` *is* the option table: each field is declared with
:func:`option`, which records its kind (how values are parsed and checked), its
help text, unit and aliases. :data:`OPTIONS` is read from those fields, and the
command-line parser, the Django settings and environment look-ups, the
``--help`` text, ``docs/options.md`` and :class:`Config` validation all derive
from it. No option is listed twice.

Where a value comes from, highest precedence first:

1. the command line: ``--max-body-size 1048576``;
2. a Django setting ``SQUALL_MAX_BODY_SIZE`` (only in ``manage.py serve``);
3. the environment variable ``SQUALL_MAX_BODY_SIZE``;
4. the default.

Hurricane's names are aliases one step below Squall's own name at the same
level: its settings without prefix (``PORT``, ``MAX_BODY_SIZE``) after
``SQUALL_*`` settings, its ``HURRICANE_*`` environment variables after
``SQUALL_*`` ones, and, in ``manage.py serve`` only, its ``--workers N``
(a thread-pool size) as a deprecated alias of ``--threads``.

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
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, NoReturn

__all__ = [
    "OPTIONS",
    "Alias",
    "Config",
    "Option",
    "OptionError",
    "build_parser",
    "exit_with_error",
    "parse_config",
    "render_markdown",
    "resolve_config",
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


def _seconds(value: object) -> float:
    value = _strict(_FLOAT, float, value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(value)
    return float(value)


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


SECONDS = Kind("a number of seconds > 0", "SECONDS", _seconds, lambda v: f"{v:g}")
BOOLEAN = Kind("a boolean: 1/0, true/false, yes/no, on/off", "", _boolean, lambda v: str(v).lower())
HOST = Kind("a host name or IP address", "ADDRESS", _host)
NETWORKS = Kind("comma-separated IP addresses or CIDR networks, or *", "IPS", _networks, ",".join)


# --------------------------------------------------------------------------- table

Source = Literal["cli", "settings", "env"]


@dataclass(frozen=True)
class Alias:
    """Another name for an option, one step below Squall's own name at `source`."""

    source: Source
    name: str  # "--workers", "PORT" (a setting), "HURRICANE_PORT" (an env var)
    warning: str | None = None  # printed on stderr whenever the alias is used

    @property
    def dest(self) -> str:
        """The argparse destination of a command-line alias."""
        return "alias_" + self.name.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Option:
    """One row of the option table (see the module docstring)."""

    name: str  # the Config field
    kind: Kind
    default: Any
    help: str
    group: str
    unit: str = ""  # "bytes", "seconds"
    aliases: tuple[Alias, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_switch(self) -> bool:
        """A boolean: --name / --no-name on the command line."""
        return self.kind is BOOLEAN

    @property
    def flags(self) -> tuple[str, ...]:
        """Every command-line spelling (a boolean also has its --no- form)."""
        if self.is_switch:
            return (self.flag, "--no-" + self.flag[2:])
        return (self.flag,)

    @property
    def variable(self) -> str:
        """The name of both the Django setting and the environment variable."""
        return "SQUALL_" + self.name.upper()

    @property
    def metavar(self) -> str:
        return {"bytes": "BYTES", "seconds": "SECONDS"}.get(self.unit, self.kind.metavar)

    def show_default(self) -> str:
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
) -> Any:
    """Declare a Config field together with its entry in the option table."""
    entry = Option("", kind, default, help, group, unit, aliases)
    return field(default=default, metadata={"squall": entry})


def hurricane(name: str) -> tuple[Alias, ...]:
    """Hurricane read NAME from Django settings (no prefix) and HURRICANE_NAME from env."""
    return (Alias("settings", name), Alias("env", "HURRICANE_" + name))


WORKERS_WARNING = (
    "--workers is Hurricane's thread-pool size, taken as --threads; use --threads "
    "(Squall's --workers will mean processes, see issue 3)"
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
    threads: int = option(
        4,
        integer(1),
        "Python threads per process that call the WSGI application.",
        group="workers",
        aliases=(Alias("cli", "--workers", WORKERS_WARNING),),
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
        aliases=hurricane("MAX_BODY_SIZE"),
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
        "An idle keep-alive connection is closed after this. Must exceed the idle "
        "timeout of any load balancer or proxy in front (AWS ALB: 60 s), or it may "
        "send a request on a connection Squall is closing.",
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
        "comma-separated IP addresses or CIDR networks, * for any peer, empty for none.",
        group="proxy",
    )
    access_log: bool = option(
        True,
        BOOLEAN,
        "Write one access-log line per request (--no-access-log: none).",
        group="logging",
    )
    log_format: str = option(
        "text",
        choice("text", "json"),
        "Format of log lines on stderr: text, or json (one object per line).",
        group="logging",
    )
    log_level: str = option(
        "info",
        choice("debug", "info", "warning", "error"),
        "Lowest level of Squall's own log lines.",
        group="logging",
    )

    def __post_init__(self) -> None:
        # Check every field (and normalise: 5 -> 5.0 seconds, a list -> a tuple).
        for opt in OPTIONS:
            value = getattr(self, opt.name)
            try:
                object.__setattr__(self, opt.name, opt.kind.parse(value))
            except ValueError:
                raise ValueError(
                    f"Config.{opt.name}: invalid value {value!r} (expected {opt.kind.expected})"
                ) from None


OPTIONS: tuple[Option, ...] = tuple(
    replace(f.metadata["squall"], name=f.name) for f in fields(Config)
)

GROUPS: dict[str, str] = {
    "listening": "Listening",
    "workers": "Workers",
    "limits": "Request limits",
    "timeouts": "Timeouts",
    "proxy": "Reverse proxy",
    "logging": "Logging",
}

# Hurricane `serve` options Squall does not implement (yet): named in the error.
HURRICANE_ONLY = frozenset(
    """--static --media --autoreload --static-watch --debug --probe-port --startup-probe
    --readiness-probe --liveness-probe --metrics --no-metrics --no-probe --req-queue-len
    --command --check-migrations --check-migrations-apply --webhook-url --max-lifetime
    --max-memory --debugger --debugger-port --pycharm-host --pycharm-port
    --max-buffer-size""".split()
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


def warn(message: str) -> None:
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
        # argparse says "argument --port: expected one argument"; we say "--port: ...".
        match = re.fullmatch(r"argument ([^/:\s]+)(?:/\S+)?: (.*)", message, re.DOTALL)
        if match:
            message = f"{match[1]}: {match[2]}"
        exit_with_error(message)


# --------------------------------------------------------------------------- parsing


def build_parser(prog: str, *, django: bool = False) -> SquallArgumentParser:
    """The command-line parser for ``squall APP`` or, with `django`, ``manage.py serve``.

    Every option's value is left raw (``None`` when not given) for
    :func:`resolve_config`. In Django mode there is no APP argument, Django's
    ``--settings`` and ``--pythonpath`` are accepted (manage.py has applied them
    already) and Hurricane's command-line aliases exist.
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
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    for opt in OPTIONS:
        group = groups[opt.group]
        help_text = f"{opt.help} (default: {opt.show_default()}; {opt.variable})"
        help_text = help_text.replace("%", "%%")
        if opt.is_switch:
            group.add_argument(
                opt.flag,
                dest=opt.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            group.add_argument(
                opt.flag, dest=opt.name, default=None, metavar=opt.metavar, help=help_text
            )
        if django:
            for alias in opt.aliases_from("cli"):
                group.add_argument(
                    alias.name,
                    dest=alias.dest,
                    default=None,
                    metavar=opt.metavar,
                    help=f"deprecated Hurricane alias of {opt.flag}",
                )
    if django:
        dj = parser.add_argument_group("Django (applied by manage.py)")
        dj.add_argument("--settings", metavar="MODULE", help="the settings module to use")
        dj.add_argument("--pythonpath", metavar="DIR", help="a directory to add to sys.path")
    return parser


def _candidates(
    opt: Option,
    cli: Mapping[str, object],
    settings: object | None,
    environ: Mapping[str, str],
) -> Iterator[tuple[str, Source, object]]:
    """(label, source, raw value) of every place `opt` is set, highest precedence first."""
    missing = object()
    given = cli.get(opt.name)
    if given is not None:
        yield opt.flag, "cli", given
    for alias in opt.aliases_from("cli"):
        given = cli.get(alias.dest)
        if given is not None:
            yield alias.name, "cli", given
    if settings is not None and getattr(settings, "configured", True):
        for name in (opt.variable, *(a.name for a in opt.aliases_from("settings"))):
            given = getattr(settings, name, missing)
            if given is not missing and given is not None:
                yield f"settings.{name}", "settings", given
    for name in (opt.variable, *(a.name for a in opt.aliases_from("env"))):
        if name in environ:
            yield f"{name} (environment)", "env", environ[name]


def resolve_config(
    cli: Mapping[str, object] | None = None,
    *,
    settings: object | None = None,
    environ: Mapping[str, str] | None = None,
    on_warning: Callable[[str], None] = warn,
) -> Config:
    """Build the Config from raw command-line values, settings and environment.

    `cli` maps an option's name (or a command-line alias's ``dest``) to its raw
    value, ``None`` meaning not given: ``vars()`` of a :func:`build_parser`
    namespace, or keyword arguments. `settings` is Django's settings (ignored
    unless configured) or any object with ``SQUALL_*`` attributes; a setting
    whose value is ``None`` counts as not set. `environ` defaults to os.environ.
    Raises :class:`OptionError` naming the option and the source.
    """
    cli = cli or {}
    environ = os.environ if environ is None else environ
    for opt in OPTIONS:
        for alias in opt.aliases_from("cli"):
            if alias.warning and cli.get(alias.dest) is not None:
                on_warning(alias.warning)
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        found = next(_candidates(opt, cli, settings, environ), None)
        if found is None:
            continue  # the default
        label, source, raw = found
        try:
            values[opt.name] = opt.kind.parse(raw)
        except ValueError:
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
    return Config(**values)


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
    try:
        config = resolve_config(vars(namespace), settings=settings, environ=environ)
    except OptionError as exc:
        parser.error(str(exc))
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
        "  ones;",
        "- in `manage.py serve` only, Hurricane's `--workers N` (the size of its thread pool)",
        "  as an alias of `--threads`, with a deprecation warning: Squall's own `--workers`",
        "  will set the number of processes.",
        "",
        "Hurricane `serve` options that Squall does not implement (`--static`, `--media`,",
        "`--probe-port`, `--command`, `--webhook-url`, `--autoreload`, ...) are errors, not",
        "silently ignored.",
        "",
        "## Values",
        "",
        "Strings (command line, environment, or a setting written as a string) are parsed",
        "strictly; surrounding whitespace is ignored. Settings may also be native Python",
        "values (`SQUALL_PORT = 9000`, `SQUALL_ACCESS_LOG = False`,",
        '`SQUALL_FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]`).',
        "",
        "- integers: decimal digits only (no `1e3`, no `1_000`);",
        "- seconds: a decimal number > 0 (`2.5`);",
        "- booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` (any case); anything",
        "  else is an error (Hurricane took `False` for true: Squall does not);",
        "- lists: comma-separated (`10.0.0.0/8,192.168.1.1`).",
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
        out += [f"## {title}", ""]
        out += ["| option | setting / environment | default | description |", "|---|---|---|---|"]
        for opt in OPTIONS:
            if opt.group != key:
                continue
            flags = " ".join(
                f"`{f}`" if opt.is_switch else f"`{f} {opt.metavar}`" for f in opt.flags
            )
            names = f"`{opt.variable}`"
            description = f"{opt.help} Accepts {opt.kind.expected}."
            if opt.aliases:
                where = {
                    "settings": "setting",
                    "env": "environment",
                    "cli": "`manage.py serve` only",
                }
                alias_names = ", ".join(f"`{a.name}` ({where[a.source]})" for a in opt.aliases)
                description += f" Hurricane aliases: {alias_names}."
            default = opt.show_default().replace("|", "\\|")
            out.append(f"| {flags} | {names} | `{default}` | {description} |")
        out.append("")
    out += [
        "## Django options (`manage.py serve`)",
        "",
        "`--settings MODULE` and `--pythonpath DIR` are Django's own; `manage.py` applies",
        "them before the command runs.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
