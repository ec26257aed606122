"""django-prometheus' metrics, kept in Squall's shared memory (docs/metrics.md).

Put the two middlewares at the ends of MIDDLEWARE, as with django-prometheus::

    MIDDLEWARE = [
        "squall.metrics.PrometheusBeforeMiddleware",
        # ... every other middleware ...
        "squall.metrics.PrometheusAfterMiddleware",
    ]

Each request costs one call into the engine per middleware (no lock, no
file, no Python object per series): the worker adds to its own table in
shared memory and the master sums the tables for ``/metrics`` on the probe
port. Outside a Squall worker (tests, runserver, the master) the calls do
nothing.

Database metrics (``django_db_*``) need no middleware: with ``"squall"`` in
INSTALLED_APPS, every new connection gets an ``execute_wrapper``
(:func:`install_db_instrumentation`), and every cache of CACHES its ``get()``
counted (``django_cache_get_*``, :func:`install_cache_instrumentation`), with
the project's own engines and backends. Models opt in with
:func:`ExportModelOperationsMixin` (``django_model_*``), as with
django-prometheus. An app's own prometheus_client metrics: squall/app_metrics.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any

from django.core.exceptions import MiddlewareNotUsed
from django.utils.deprecation import MiddlewareMixin

try:
    from squall import _core
except ImportError:
    # The engine is not built here (a source checkout, an image's build stage,
    # runserver from the tree): nothing to count into, so the middlewares
    # remove themselves and no database wrapper is installed.
    _core = None  # type: ignore[assignment]

logger = logging.getLogger("squall.metrics")

UNNAMED_VIEW = "<unnamed view>"
INVALID_METHOD = "<invalid method>"
# django-prometheus' accepted methods; anything else is counted as <invalid method>.
METHODS = frozenset("CONNECT DELETE GET HEAD OPTIONS PATCH POST PUT TRACE".split())

_BEFORE = "_squall_metrics_before"
_AFTER = "_squall_metrics_after"
_VIEWED = "_squall_metrics_viewed"
_TEMPLATE = "_squall_metrics_template"


def view_name(request: Any) -> str:
    """Django's resolved view name (never the raw path: bounded label values)."""
    match = getattr(request, "resolver_match", None)
    name = getattr(match, "view_name", None) if match is not None else None
    return name or UNNAMED_VIEW


def _content_length(request: Any) -> int:
    # The declared length, not request.body: reading the body here would
    # break streaming uploads and raise after request.read().
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class _EngineMiddleware(MiddlewareMixin):
    def __init__(self, get_response: Any) -> None:
        if _core is None:
            raise MiddlewareNotUsed("squall metrics: the engine is not built")
        super().__init__(get_response)

    async def __acall__(self, request: Any) -> Any:
        # Under ASGI: the hooks only add to shared memory and never block, so
        # they run on the event loop (MiddlewareMixin would send each through
        # sync_to_async, a thread hop per hook and request).
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)
        return self.process_response(request, response)


class PrometheusBeforeMiddleware(_EngineMiddleware):
    """First in MIDDLEWARE: requests and latency including every middleware."""

    def process_request(self, request: Any) -> None:
        _core.metrics_before()
        setattr(request, _BEFORE, perf_counter())

    def process_response(self, request: Any, response: Any) -> Any:
        started = getattr(request, _BEFORE, None)
        _core.metrics_before_response(perf_counter() - started if started is not None else -1.0)
        return response


class PrometheusAfterMiddleware(_EngineMiddleware):
    """Last in MIDDLEWARE: method, transport, view, status, latency, body sizes,
    charset, template name, AJAX requests."""

    def process_request(self, request: Any) -> None:
        setattr(request, _AFTER, perf_counter())

    def process_view(self, request: Any, *args: Any, **kwargs: Any) -> None:
        # django-prometheus counts ..._by_view_transport_method here: only
        # requests whose view resolved and was about to run.
        setattr(request, _VIEWED, True)

    def process_template_response(self, request: Any, response: Any) -> Any:
        # str() as django-prometheus: a list of candidates is one label value.
        if hasattr(response, "template_name"):
            setattr(request, _TEMPLATE, str(response.template_name))
        return response

    def process_exception(self, request: Any, exception: BaseException) -> None:
        _core.metrics_exception(type(exception).__name__, view_name(request))

    def process_response(self, request: Any, response: Any) -> Any:
        started = getattr(request, _AFTER, None)
        streaming = bool(getattr(response, "streaming", False))
        charset = getattr(response, "charset", None)
        # The method as sent: the engine writes <invalid method> where
        # django-prometheus does (its counters, not its latency histogram).
        _core.metrics_request(
            view_name(request),
            request.method or "",
            "https" if request.is_secure() else "http",
            str(response.status_code),
            perf_counter() - started if started is not None else -1.0,
            _content_length(request),
            0 if streaming else len(response.content),
            streaming,
            "" if charset is None else str(charset),
            getattr(request, _TEMPLATE, ""),
            request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest",
            getattr(request, _VIEWED, False),
        )
        return response


# Squall's own names for the same classes.
BeforeMiddleware = PrometheusBeforeMiddleware
AfterMiddleware = PrometheusAfterMiddleware


# ---- databases


def _execute_wrapper(alias: str, vendor: str) -> Callable[..., Any]:
    def wrapper(
        execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any
    ) -> Any:
        rows = 1
        if many:
            # django-prometheus counts executemany() by its parameter sets.
            try:
                rows = len(params)
            except TypeError:  # an iterator: read it once, here
                params = list(params)
                rows = len(params)
        started = perf_counter()
        error = ""
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            _core.metrics_db_execute(alias, vendor, many, perf_counter() - started, error, rows)

    return wrapper


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    _core.metrics_db_connection(connection.alias, connection.vendor, True)
    wrappers = connection.execute_wrappers
    if not any(getattr(w, "_squall_metrics", False) for w in wrappers):
        wrapper = _execute_wrapper(connection.alias, connection.vendor)
        wrapper._squall_metrics = True  # type: ignore[attr-defined]
        # First: it times the query as the database sees it, not other wrappers.
        wrappers.insert(0, wrapper)


def install_db_instrumentation() -> None:
    """django_db_* for every connection opened from now on (idempotent)."""
    if _core is None:
        return
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, dispatch_uid="squall.metrics.db")


# ---- caches

# django-prometheus' `backend` label for Django's backends (its subclasses in
# django_prometheus.cache.backends); the database cache has none there.
_CACHE_BACKENDS = (
    ("django_redis.cache.RedisCache", "redis"),
    ("django.core.cache.backends.redis.RedisCache", "native_redis"),
    ("django.core.cache.backends.memcached.BaseMemcachedCache", "memcached"),
    ("django.core.cache.backends.filebased.FileBasedCache", "filebased"),
    ("django.core.cache.backends.locmem.LocMemCache", "locmem"),
    ("django.core.cache.backends.db.DatabaseCache", "db"),
    ("django.core.cache.backends.dummy.DummyCache", "dummy"),
)
_GET, _HITS, _MISSES, _FAIL = range(4)


def cache_backend_label(cache: Any) -> str:
    """django-prometheus' label for a cache instance; another backend: its
    class name, lowercased."""
    for klass in type(cache).__mro__:
        path = f"{klass.__module__}.{klass.__qualname__}"
        for known, label in _CACHE_BACKENDS:
            if path == known:
                return label
    return type(cache).__name__.lower()


def instrument_cache(cache: Any) -> None:
    """django_cache_get_* for one cache instance, whatever its BACKEND: its
    get() is wrapped on the instance (get_or_set() goes through it too)."""
    if getattr(cache, "_squall_metrics", False):
        return
    label = cache_backend_label(cache)
    get = cache.get

    def counted_get(key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
        # django-prometheus' rule: get(key, default=None), a hit when not None.
        _core.metrics_cache(label, _GET)
        try:
            value = get(key, None, *args, **kwargs)
        except Exception:
            _core.metrics_cache(label, _FAIL)
            raise
        if value is None:
            _core.metrics_cache(label, _MISSES)
            return default
        _core.metrics_cache(label, _HITS)
        return value

    cache.get = counted_get
    cache._squall_metrics = True


def install_cache_instrumentation() -> None:
    """Every cache of CACHES, as configured (no BACKEND to change): the cache
    handler instruments each instance it creates (one per alias and thread)."""
    if _core is None:
        return
    from django.core.cache import caches

    if getattr(caches, "_squall_metrics", False):
        return
    create = caches.create_connection

    def create_connection(alias: str) -> Any:
        cache = create(alias)
        instrument_cache(cache)
        return cache

    caches.create_connection = create_connection
    caches._squall_metrics = True
    for cache in caches.all(initialized_only=True):
        instrument_cache(cache)


# ---- models

_MODELS: set[str] = set()


def ExportModelOperationsMixin(model_name: str) -> type:  # noqa: N802 (django-prometheus' name)
    """django_model_{inserts,updates,deletes}_total{model=model_name}, with
    django-prometheus' rules: its mixin of the same name, counted by Squall::

        class Dog(ExportModelOperationsMixin("dog"), models.Model): ...
    """
    _MODELS.add(model_name)

    class Mixin:
        def _do_insert(self, *args: Any, **kwargs: Any) -> Any:
            if _core is not None:
                _core.metrics_model(model_name, 0, 1)
            return super()._do_insert(*args, **kwargs)  # type: ignore[misc]

        def _do_update(self, *args: Any, **kwargs: Any) -> Any:
            if _core is not None:
                _core.metrics_model(model_name, 1, 1)
            return super()._do_update(*args, **kwargs)  # type: ignore[misc]

        def delete(self, *args: Any, **kwargs: Any) -> Any:
            if _core is not None:
                _core.metrics_model(model_name, 2, 1)
            return super().delete(*args, **kwargs)  # type: ignore[misc]

    Mixin.__qualname__ = f"ExportModelOperationsMixin('{model_name}')"
    return Mixin


def start_worker_metrics() -> None:
    """In a worker, once attached: each model's series exists from the start
    at 0 (django-prometheus creates them when the class is defined)."""
    if _core is None:
        return
    for name in sorted(_MODELS):
        _core.metrics_model(name, 0, 0)


# ---- migrations


def publish_migrations(master: Any) -> None:
    """django_migrations_(un)applied_total per database, computed once (by a worker
    at start, off the request path); a database that does not answer is skipped."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    for alias in connections:
        connection = connections[alias]
        try:
            executor = MigrationExecutor(connection)
            targets = executor.loader.graph.leaf_nodes()
            unapplied = len(executor.migration_plan(targets))
            applied = len(executor.loader.applied_migrations)
            master.set_migrations(alias, applied, unapplied)
        except Exception as exc:  # a database that is down must not stop a worker
            logger.debug("migrations of %s not counted: %s", alias, exc)
        finally:
            connection.close()
