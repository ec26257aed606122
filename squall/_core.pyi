"""Type stubs for squall._core, the C++ engine (core/wsgi/module.cpp)."""

from collections.abc import Callable, Iterator
from typing import Any

class Server:
    """A worker process's HTTP/1.1 server: an epoll I/O loop plus a request queue."""

    def __init__(self, config: dict[str, Any]) -> None:
        """`config` keys: threads, workers, max_request_line, max_header_bytes,
        max_header_count, max_body_size, header_timeout, keepalive_timeout, body_timeout,
        graceful_timeout, forwarded_allow_ips (list of IPs/CIDRs, "*"), access_log,
        log_format ("text"|"json"), timeout, app_port_probes (the listen_probe dict, when
        the probes are served on the app port), statics (--static / --media, from
        squall.server.static_mounts: {"mounts": [{"prefix": "/static/", "roots":
        [(subprefix, directory)], "fall_through": bool, "immutable_hashed": bool}],
        "max_age": int, "follow_symlinks": bool}). Raises ValueError for a bad
        forwarded_allow_ips entry or a static prefix without its slashes."""

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

class Master:
    """The master process: forks the workers and supervises them (core/master/)."""

    def __init__(self, config: dict[str, Any]) -> None:
        """`config`: the worker keys above plus workers, timeout, max_requests,
        max_requests_jitter, max_lifetime, max_memory, shutdown_delay; probes (a dict:
        startup, readiness, liveness paths, req_queue_len, check_interval — 0 without a
        checker); startup_process and checker (bools: fork those side processes);
        webhook_urls (list) and webhook_version (str or None); exit_with_worker (a
        worker exiting by itself stops the pod) and amqp (the workers are consumers:
        squall_amqp_* metrics), both for `manage.py consume`."""

    def listen(self, host: str, port: int, backlog: int = 1024, reuse_port: bool = False) -> int:
        """Opens the listen socket the workers share; returns the bound port."""

    def listen_probe(self, host: str, port: int) -> int:
        """Opens the probe port, answered by the master's loop; returns the bound port."""

    def run(self) -> tuple[str, int, int, int]:
        """Supervises until the pod stops: ("master", -1, -1, exit_status). In a process
        the master just forked it returns ("worker", slot, listen_fd, 0), ("startup",
        -1, -1, 0) or ("checker", -1, -1, 0) instead: run that role, then exit."""

    def publish_checks(self, results: list[tuple[int, str, bool, str, float]]) -> None:
        """The checker process: (probe bits 1 startup|2 readiness|4 liveness, name, ok,
        reason, seconds) per check, into shared memory for the probes."""

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
) -> None:
    """One request through PrometheusAfterMiddleware; latency < 0: unknown."""

def metrics_before() -> None: ...
def metrics_before_response(latency: float) -> None: ...
def metrics_exception(type: str, view: str) -> None: ...
def metrics_db_connection(alias: str, vendor: str, ok: bool) -> None: ...
def metrics_db_execute(
    alias: str, vendor: str, many: bool, seconds: float, error_type: str
) -> None: ...

class Consumer:
    """The AMQP consumer of `manage.py consume` (core/amqp/consumer.h)."""

    def __init__(self, config: dict[str, Any]) -> None:
        """`config`: host, port, vhost, user, password, queue, exchange, routing_keys
        (list), dead_letter_exchange, prefetch, heartbeat, connect_timeout, reconnect,
        graceful_timeout, max_backoff."""

    def attach(self, master: Master, slot: int) -> None:
        """Report heartbeat, connection state and the running handler in `slot`."""

    def handle_signals(self) -> None:
        """Take SIGTERM (finish the current message, close cleanly), SIGINT, SIGQUIT."""

    def run(self) -> int:
        """The connection loop (GIL released) until shutdown; the exit status."""

    def request_stop(self) -> None:
        """Ask run() to stop, as SIGTERM does (thread-safe)."""

    def next_delivery(
        self,
    ) -> tuple[int, int, bool, str, str, str, bytes, dict[str, Any]] | None:
        """The next message (GIL released while waiting): (generation, delivery_tag,
        redelivered, consumer_tag, exchange, routing_key, body, properties); None once
        the consumer stops."""

    def settle(
        self,
        generation: int,
        delivery_tag: int,
        verdict: str,
        failed: bool,
        seconds: float,
        routing_key: str,
    ) -> None:
        """The handler's verdict, "ack", "requeue" or "reject", sent by run()'s loop."""
