"""Type stubs for squall._core, the C++ engine (core/python/module.cpp).

Config objects take every field by keyword, none optional, and refuse an
unknown one (TypeError naming it): the defaults live in squall/options.py.
"""

import enum
from collections.abc import Callable, Iterator
from typing import Any

class LogFormat(enum.Enum):
    """--log-format of the engine's own log lines."""

    text = ...
    json = ...

class LogLevel(enum.Enum):
    """--log-level of the engine's own lines (not the access log: --access-log)."""

    debug = ...
    info = ...
    warning = ...
    error = ...

def set_log_level(level: LogLevel) -> None:
    """The lowest level of the process's engine lines; forks inherit it."""

def set_log_format(format: LogFormat) -> None:
    """The process's log line format; set before the master forks, so every
    process it forks writes the same."""

class Role(enum.Enum):
    """What a process is when Master.run() returns."""

    master = ...
    worker = ...
    startup = ...
    checker = ...

class ProbeBit(enum.IntFlag):
    """The probes a health-check result feeds; a HEALTH_CHECK subset of the
    same name feeds that probe."""

    startup = ...
    readiness = ...
    liveness = ...

class Verdict(enum.Enum):
    """A handler's verdict on an AMQP delivery (reject: dead-lettered with a DLX)."""

    ack = ...
    requeue = ...
    reject = ...

class Limits:
    """Request size limits: past them 414, 431 or 413."""

    max_request_line: int
    max_header_bytes: int
    max_header_count: int
    max_body_size: int
    def __init__(
        self,
        *,
        max_request_line: int,
        max_header_bytes: int,
        max_header_count: int,
        max_body_size: int,
    ) -> None: ...

class ProbeConfig:
    """The probes' paths and limits; check_interval 0: no checker process."""

    startup_path: str
    readiness_path: str
    liveness_path: str
    req_queue_len: int
    heartbeat_timeout: float
    timeout_grace: float
    check_interval: float
    def __init__(
        self,
        *,
        startup_path: str,
        readiness_path: str,
        liveness_path: str,
        req_queue_len: int,
        heartbeat_timeout: float,
        timeout_grace: float,
        check_interval: float,
    ) -> None: ...

class MetricsConfig:
    """/metrics: its path and squall_info's (name, value) labels;
    django_namespace (PROMETHEUS_METRIC_NAMESPACE, "" for none) and
    latency_buckets (PROMETHEUS_LATENCY_BUCKETS without +Inf, [] for the defaults)."""

    path: str
    info: list[tuple[str, str]]
    django_namespace: str
    latency_buckets: list[float]
    def __init__(
        self,
        *,
        path: str,
        info: list[tuple[str, str]],
        django_namespace: str,
        latency_buckets: list[float],
    ) -> None: ...

class StaticRoot:
    """A directory searched for a mount; `subprefix` ("" or "admin/"): only
    names under it come from this root (a staticfiles finder's prefix)."""

    subprefix: str
    dir: str
    def __init__(self, *, subprefix: str, dir: str) -> None: ...

class StaticMount:
    """A URL prefix ("/static/", both slashes: else ValueError) served from
    `roots` in order; fall_through: a miss goes to the application (media);
    immutable_hashed: content-hashed names are cached for a year (static);
    private_prefixes: paths under the mount starting with one of these
    ("invoices/") are never served, they go to the application."""

    prefix: str
    roots: list[StaticRoot]
    fall_through: bool
    immutable_hashed: bool
    private_prefixes: list[str]
    def __init__(
        self,
        *,
        prefix: str,
        roots: list[StaticRoot],
        fall_through: bool,
        immutable_hashed: bool,
        private_prefixes: list[str],
    ) -> None: ...

class StaticFilesConfig:
    """--static / --media (no mounts: off)."""

    mounts: list[StaticMount]
    max_age: int
    follow_symlinks: bool
    def __init__(
        self, *, mounts: list[StaticMount], max_age: int, follow_symlinks: bool
    ) -> None: ...

class ServerConfig:
    """A worker's HTTP server. forwarded_allow_ips: IPs, CIDR networks or "*"
    (ValueError for a bad entry; constructor only). access_log_format: field
    names of squall.options.ACCESS_LOG_FIELDS (ValueError for another;
    constructor only). app_port_probes /
    app_port_metrics: --probe-port equal to --port, the I/O threads answer
    the probes (and /metrics) on the app port."""

    limits: Limits
    header_timeout: float
    keepalive_timeout: float
    body_timeout: float
    graceful_timeout: float
    timeout: float
    max_queue: int
    fair_accept: bool
    access_log: bool
    server_software: str
    threads: int
    websockets: bool
    ws_max_message_size: int
    multiprocess: bool
    app_port_probes: ProbeConfig | None
    app_port_metrics: MetricsConfig | None
    statics: StaticFilesConfig
    def __init__(
        self,
        *,
        limits: Limits,
        header_timeout: float,
        keepalive_timeout: float,
        body_timeout: float,
        graceful_timeout: float,
        timeout: float,
        max_queue: int,
        fair_accept: bool,
        forwarded_allow_ips: list[str],
        access_log: bool,
        server_software: str,
        access_log_format: list[str],
        threads: int,
        websockets: bool,
        ws_max_message_size: int,
        multiprocess: bool,
        app_port_probes: ProbeConfig | None,
        app_port_metrics: MetricsConfig | None,
        statics: StaticFilesConfig,
    ) -> None: ...

class MasterConfig:
    """The master: workers, supervision, probes, webhooks. startup_process and
    checker fork those side processes; exit_with_worker (a worker exiting by
    itself stops the pod) and amqp (the workers are consumers: squall_amqp_*
    metrics) are for `manage.py consume`. webhook_urls / webhook_version:
    constructor only."""

    workers: int
    timeout: float
    timeout_grace: float
    max_requests: int
    max_requests_jitter: int
    max_lifetime: float
    max_memory_mib: int
    shutdown_delay: float
    graceful_timeout: float
    startup_process: bool
    checker: bool
    exit_with_worker: bool
    amqp: bool
    probe: ProbeConfig
    metrics: MetricsConfig | None
    def __init__(
        self,
        *,
        workers: int,
        timeout: float,
        timeout_grace: float,
        max_requests: int,
        max_requests_jitter: int,
        max_lifetime: float,
        max_memory_mib: int,
        shutdown_delay: float,
        graceful_timeout: float,
        startup_process: bool,
        checker: bool,
        exit_with_worker: bool,
        amqp: bool,
        probe: ProbeConfig,
        webhook_urls: list[str],
        webhook_version: str | None,
        metrics: MetricsConfig | None,
    ) -> None: ...

class RunResult:
    """What Master.run() returns: in the master when the pod stops (role
    master, exit_status), or in a process it just forked (a worker gets its
    shared-memory slot and the listen socket)."""

    @property
    def role(self) -> Role: ...
    @property
    def slot(self) -> int: ...
    @property
    def listen_fd(self) -> int: ...
    @property
    def exit_status(self) -> int: ...

class CheckResult:
    """One health check's latest result, published for the probes."""

    @property
    def probes(self) -> int:
        """ProbeBit mask: the probes this result feeds."""
    name: str
    ok: bool
    reason: str
    duration: float
    def __init__(
        self, *, probes: ProbeBit, name: str, ok: bool, reason: str, duration: float
    ) -> None: ...

class Server:
    """A worker process's HTTP/1.1 server: an epoll I/O loop plus a request queue."""

    def __init__(self, config: ServerConfig) -> None: ...
    def run(self) -> int:
        """Runs the I/O loop in this thread (GIL released) until SIGTERM from the master
        (drain, then return) or SIGINT/SIGQUIT (after handle_signals()). Returns the exit status."""

    def serve_requests(
        self,
        app: Callable[..., Any],
        log_error: Callable[[str, BaseException | None], None],
        thread_index: int = -1,
    ) -> None:
        """A Python thread's loop: take requests from the queue and run `app` (WSGI)
        until the server stops; `thread_index` names its slot in shared memory."""

    def attach(self, master: Master, slot: int, listen_fd: int) -> None:
        """In a worker process: serve on the master's socket, report in shared-memory `slot`."""

    def handle_signals(self) -> None:
        """Take SIGTERM (drain), SIGINT and SIGQUIT (stop now) for run()'s loop."""

    def enable_asgi(self) -> int:
        """ASGI: an event loop takes the requests instead of serve_requests()
        threads (call before run()). Returns the eventfd to watch; at --timeout
        the loop is told (it cancels the task) instead of a thread getting
        RequestTimeout."""

    def asgi_poll(self) -> tuple[list[AsgiRequest], list[int], bool]:
        """After the eventfd became readable: the requests newly queued, the ids
        of the requests whose state changed, and whether the queue is closed."""

    def app_startup_failed(self) -> None:
        """The application refused to start (ASGI lifespan): the master stops
        the pod (exit status 1) when this worker exits."""

    def asgi_heartbeat(self, stop: bool = False) -> None:
        """The event loop is alive (every 0.5 s with --timeout): its thread slot
        shows a request started now, so a blocked loop is replaced by the master."""

WANT_BODY: int  # AsgiRequest.arm(): body bytes, its end, or its failure
WANT_DRAIN: int  # ... the response's unsent bytes below the low-water mark
WANT_GONE: int  # ... the client gone (or its side closed)

class AsgiRequest:
    """One HTTP request run by the ASGI event loop (squall/asgi.py). No method
    blocks; arm(want) -> False means "look again now", True means the eventfd
    will report this id once what `want` waits for may have happened."""

    @property
    def id(self) -> int: ...
    @property
    def gone(self) -> bool: ...
    @property
    def peer_closed(self) -> bool: ...
    @property
    def deadline_passed(self) -> bool: ...
    @property
    def started(self) -> bool: ...
    def scope(self, root_path: str, state: dict[str, Any] | None) -> dict[str, Any]:
        """The http scope (ASGI HTTP spec 2.4); `state` is copied in (shallow)."""

    def read(self, max: int) -> tuple[int, bytes, bool]:
        """(status, body bytes, more): 0 data, 1 end, 2 nothing yet, 3 failed."""

    def arm(self, want: int) -> bool: ...
    def start(self, status: int, headers: Any) -> None:
        """http.response.start: ValueError / TypeError naming what is invalid."""

    def send(self, body: bytes | None, more: bool) -> int:
        """http.response.body: 0 queued, 1 queued above the high-water mark, 2 client gone."""

    def fail(self) -> None:
        """500 if nothing was sent, else the connection closes."""

    def done(self) -> None:
        """The task ended: access log, counters (idempotent); an accepted
        WebSocket the app did not close gets close 1000."""

    @property
    def websocket(self) -> bool:
        """An Upgrade request (a websocket scope)."""

    def ws_accept(self, subprotocol: str | None, headers: Any) -> None: ...
    def ws_send(self, text: str | None, bytes: bytes | None) -> int:
        """0 queued, 1 above the high-water mark (arm WANT_DRAIN), 2 closed."""

    def ws_close(self, code: int, reason: str | None) -> int:
        """Before accept: HTTP 403; after: a close frame (ValueError for an invalid code)."""

    def ws_receive(self) -> tuple[int, bool, str | bytes | None, int, str | None]:
        """(status, is_text, data, code, reason): 0 message, 1 nothing yet, 2 closed."""

class Master:
    """The master process: forks the workers and supervises them (core/master/)."""

    def __init__(self, config: MasterConfig) -> None: ...
    def listen(self, host: str, port: int, backlog: int = 1024, reuse_port: bool = False) -> int:
        """Opens the listen socket the workers share; returns the bound port."""

    def listen_probe(self, host: str, port: int) -> int:
        """Opens the probe port, answered by the master's loop; returns the bound port."""

    def run(self) -> RunResult:
        """Supervises until the pod stops (role master). In a process the master just
        forked it returns that process's role instead: run it, then exit."""

    def publish_checks(self, results: list[CheckResult]) -> None:
        """The checker process: the latest results, into shared memory for the probes."""

    def set_migrations(self, connection: str, applied: int, unapplied: int) -> None:
        """django_migrations_(un)applied_total for a database (pod-wide gauges)."""

    def set_startup_error(self, text: str) -> None:
        """The startup process, before it exits non-zero: the startup-failed webhook's
        traceback."""

class Input:
    """wsgi.input: the request body, streamed from the I/O thread."""

    def read(self, size: int = -1) -> bytes: ...
    def readline(self, size: int = -1) -> bytes: ...
    def readlines(self, hint: int = -1) -> list[bytes]: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...

class FileWrapper:
    """wsgi.file_wrapper: a real file is sent with sendfile(2)."""

    filelike: Any
    blksize: int
    def __init__(self, filelike: Any, blksize: int = 8192) -> None: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

class StartResponse:
    """The start_response callable handed to the application."""

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]: ...
    def write(self, data: bytes) -> None: ...

# Metrics from the Django side (squall/metrics.py): each adds to the calling
# worker's table in shared memory; no-ops outside a worker or with --no-metrics.
def metrics_enabled() -> bool: ...
def metrics_request(
    view: str,
    method: str,
    transport: str,
    status: str,
    latency: float,
    request_bytes: int,
    response_bytes: int,
    streaming: bool,
    charset: str,
    templatename: str,
    ajax: bool,
    viewed: bool,
) -> None:
    """One request through PrometheusAfterMiddleware; latency < 0: unknown;
    viewed: its process_view ran; templatename "": not a TemplateResponse."""

def metrics_before() -> None: ...
def metrics_before_response(latency: float) -> None: ...
def metrics_exception(type: str, view: str) -> None: ...
def metrics_db_connection(alias: str, vendor: str, ok: bool) -> None: ...
def metrics_db_execute(
    alias: str, vendor: str, many: bool, seconds: float, error_type: str, rows: int
) -> None: ...
def metrics_cache(backend: str, cell: int) -> None: ...
def metrics_model(model: str, cell: int, n: int) -> None: ...
def metrics_app_set(samples: list[tuple[list[str], bool, float]]) -> list[int]: ...

class ConsumerConfig:
    """The AMQP consumer of `manage.py consume`; prefetch 1-65535 (else ValueError)."""

    host: str
    port: int
    vhost: str
    user: str
    password: str
    queue: str
    exchange: str
    routing_keys: list[str]
    dead_letter_exchange: str
    prefetch: int
    heartbeat: int
    reconnect: bool
    graceful_timeout: float
    def __init__(
        self,
        *,
        host: str,
        port: int,
        vhost: str,
        user: str,
        password: str,
        queue: str,
        exchange: str,
        routing_keys: list[str],
        dead_letter_exchange: str,
        prefetch: int,
        heartbeat: int,
        reconnect: bool,
        graceful_timeout: float,
    ) -> None: ...

class Delivery:
    """One AMQP message. generation: the connection it came on (a verdict for an
    older one is dropped: the broker requeued the message when it closed)."""

    @property
    def generation(self) -> int: ...
    @property
    def delivery_tag(self) -> int: ...
    @property
    def redelivered(self) -> bool: ...
    @property
    def consumer_tag(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def routing_key(self) -> str: ...
    @property
    def body(self) -> bytes: ...
    @property
    def properties(self) -> dict[str, Any]:
        """pika's BasicProperties names; None when unset."""

class Consumer:
    """The AMQP consumer of `manage.py consume` (core/amqp/consumer.h)."""

    def __init__(self, config: ConsumerConfig) -> None: ...
    def attach(self, master: Master, slot: int) -> None:
        """Report heartbeat, connection state and the running handler in `slot`."""

    def handle_signals(self) -> None:
        """Take SIGTERM (finish the current message, close cleanly), SIGINT, SIGQUIT."""

    def run(self) -> int:
        """The connection loop (GIL released) until shutdown; the exit status."""

    def request_stop(self) -> None:
        """Ask run() to stop, as SIGTERM does (thread-safe)."""

    def next_delivery(self) -> Delivery | None:
        """The next message (GIL released while waiting); None once the consumer stops."""

    def settle(
        self,
        generation: int,
        delivery_tag: int,
        verdict: Verdict,
        failed: bool,
        seconds: float,
        routing_key: str,
    ) -> None:
        """The handler's verdict, sent by run()'s loop."""
