"""The consumer's process model (docs/amqp.md): the C++ master (probes,
metrics, webhooks, supervision) forks one consumer process; its main thread
runs the engine's AMQP loop (GIL released) and one Python thread runs the
handler for each delivery.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from squall.amqp import BasicProperties, Channel, Deliver, TopicHandler
from squall.options import AmqpOptions, Config

if TYPE_CHECKING:
    from squall import _core

logger = logging.getLogger("squall.amqp")


def consumer_config(
    options: AmqpOptions, routing_keys: list[str], config: Config
) -> _core.ConsumerConfig:
    from squall import _core

    return _core.ConsumerConfig(
        host=options.host,
        port=options.port,
        vhost=options.vhost,
        user=options.user if options.user is not None else "guest",
        password=options.password if options.password is not None else "guest",
        queue=options.queue,
        exchange=options.exchange,
        routing_keys=list(routing_keys),
        dead_letter_exchange=options.dead_letter_exchange,
        prefetch=options.prefetch,
        heartbeat=options.heartbeat,
        reconnect=options.reconnect,
        graceful_timeout=float(config.graceful_timeout),
    )


def consume(handler_class: type[TopicHandler], options: AmqpOptions, config: Config) -> int:
    """Runs the consumer until SIGTERM; returns the pod's exit status."""
    from squall._core import Role
    from squall.bootstrap import run_master, start_master
    from squall.checker import checker_needed
    from squall.server import master_config, metrics_config

    engine = master_config(config, checker=checker_needed())
    engine.workers = 1
    engine.shutdown_delay = 0.0  # no endpoints to leave: stop consuming at once
    engine.startup_process = False
    engine.exit_with_worker = not options.reconnect
    engine.amqp = True
    engine.metrics = metrics_config(config, mode="consume", prefetch=str(options.prefetch))
    started = start_master(engine, config, logger, app_port=False)
    if started is None:
        return 1
    master, _ = started
    logger.info("Consuming from %s:%d%s (queue %r, exchange %r), master pid %d",
                options.host, options.port, options.vhost, options.queue, options.exchange,
                os.getpid())  # fmt: skip

    def consumer(master: Any, slot: int, _listen_fd: int) -> int:
        return run_consumer(handler_class, options, config, master, slot)

    status = run_master(master, config, {Role.worker: consumer})
    logger.info("Stopped" if status == 0 else f"Stopped with status {status}")
    return status


def run_consumer(
    handler_class: type[TopicHandler],
    options: AmqpOptions,
    config: Config,
    master: Any,
    slot: int,
) -> int:
    """The consumer process's life; returns its exit status."""
    from squall import _core

    faulthandler.enable(all_threads=True)
    try:
        handler = handler_class(
            options.queue, options.exchange, options.host, options.port, options.vhost,
            options.user, options.password,
        )  # fmt: skip
        routing_keys = list(handler.get_routing_keys(options.queue) or [])
        consumer = _core.Consumer(consumer_config(options, routing_keys, config))
        consumer.attach(master, slot)
        consumer.handle_signals()
    except BaseException:
        logger.exception("consumer %d could not start", os.getpid())
        return 1
    requeue_failed = not options.dead_letter_exchange
    thread = threading.Thread(
        target=handle_messages, args=(consumer, handler, requeue_failed),
        name="squall-amqp-handler", daemon=True,
    )  # fmt: skip
    thread.start()
    status = consumer.run()
    thread.join(timeout=5.0)
    return int(status)


def _tidy_connections(failed: bool) -> None:
    """Database connections after a message. A consumer is one long-lived
    client: connections are kept from message to message (closing them after
    each, as CONN_MAX_AGE = 0 does for requests, costs a quarter of the
    throughput of a one-row handler on SQLite), closed after a handler raised
    (the error may be a broken connection: the redelivery gets a new one), and
    closed once older than a CONN_MAX_AGE > 0."""
    from squall.startup import django_configured

    if not django_configured():
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if failed:
            conn.close()
        elif conn.settings_dict.get("CONN_MAX_AGE"):
            conn.close_if_unusable_or_obsolete()


def handle_messages(consumer: Any, handler: TopicHandler, requeue_failed: bool) -> None:
    """The Python thread: one on_message call per delivery, then its verdict."""
    from squall._core import Verdict

    channel = handler._channel if isinstance(handler._channel, Channel) else Channel()
    handler._channel = channel
    failure_verdict = Verdict.requeue if requeue_failed else Verdict.reject
    while True:
        delivery = consumer.next_delivery()
        if delivery is None:
            return
        tag, routing_key = delivery.delivery_tag, delivery.routing_key
        deliver = Deliver(
            delivery.consumer_tag, tag, delivery.redelivered, delivery.exchange, routing_key
        )
        channel._begin(tag)
        failed = False
        started = time.perf_counter()
        try:
            handler.on_message(
                channel, deliver, BasicProperties(**delivery.properties), delivery.body
            )
        except Exception:
            failed = True
            outcome = "requeued" if requeue_failed else "rejected (dead-lettered)"
            logger.exception(
                "on_message failed for delivery %d (routing key %r); %s", tag, routing_key, outcome
            )
        duration = time.perf_counter() - started
        if channel._verdict is not None:  # the handler settled it (a Verdict member's name)
            verdict = Verdict[channel._verdict]
        else:
            verdict = failure_verdict if failed else Verdict.ack
        try:
            _tidy_connections(failed)
        except Exception:
            logger.exception("closing database connections after a message")
        consumer.settle(delivery.generation, tag, verdict, failed, duration, routing_key)
