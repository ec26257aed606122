"""AMQP consumers run by ``manage.py consume HANDLER`` (docs/amqp.md).

A handler is a subclass of :class:`TopicHandler`, written as for
django-hurricane's ``hurricane.amqp.basehandler.TopicHandler``: override
``on_message(self, _unused_channel, basic_deliver, properties, body)`` and,
optionally, ``get_routing_keys(self, queue_name)``. The connection itself
(heartbeats, consume, ack / nack, reconnect) lives in Squall's C++ engine;
only ``on_message`` runs in Python.

A message is acknowledged after ``on_message`` returns and negatively
acknowledged when it raises (requeued, or dead-lettered with
``--dead-letter-exchange``). Hurricane handlers that settle messages
themselves with ``self.acknowledge_message(tag)`` / ``self.reject_message(tag)``
keep working: their verdict is the one sent, once, after ``on_message``
returns. Nothing here imports the compiled engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["BasicProperties", "Channel", "Deliver", "TopicHandler"]

logger = logging.getLogger("squall.amqp")


@dataclass(frozen=True)
class Deliver:
    """The Basic.Deliver method of a message (pika's ``pika.spec.Basic.Deliver`` names)."""

    consumer_tag: str
    delivery_tag: int
    redelivered: bool
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class BasicProperties:
    """A message's properties (pika's ``pika.spec.BasicProperties`` names); None when unset."""

    content_type: str | None = None
    content_encoding: str | None = None
    headers: dict[str, Any] | None = None
    delivery_mode: int | None = None
    priority: int | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    expiration: str | None = None
    message_id: str | None = None
    timestamp: int | None = None
    type: str | None = None
    user_id: str | None = None
    app_id: str | None = None
    cluster_id: str | None = None


class Channel:
    """What ``on_message`` gets as its channel: settles the current message.

    The verdict is sent by the engine after ``on_message`` returns (never
    twice); only the message being handled can be settled.
    """

    def __init__(self) -> None:
        self._tag: int | None = None
        # "ack", "requeue" or "reject": the name of a squall._core.Verdict (this
        # module does not import the engine).
        self._verdict: str | None = None

    def _begin(self, delivery_tag: int) -> None:
        self._tag = delivery_tag
        self._verdict = None

    def _settle(self, delivery_tag: int, verdict: str) -> None:
        if delivery_tag != self._tag:
            raise ValueError(
                f"delivery tag {delivery_tag} is not the message being handled ({self._tag})"
            )
        if self._verdict is None:
            self._verdict = verdict
        else:
            logger.warning("message %s settled twice; the first verdict (%s) stands",
                           delivery_tag, self._verdict)  # fmt: skip

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        self._settle(delivery_tag or self._tag or 0, "ack")

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        self._settle(delivery_tag or self._tag or 0, "requeue" if requeue else "reject")

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        self.basic_nack(delivery_tag, requeue=requeue)


class TopicHandler:
    """Base class of a consumer's handler (Hurricane's ``TopicHandler``): a topic
    exchange, the queue bound with :meth:`get_routing_keys`, one
    :meth:`on_message` call per message."""

    EXCHANGE_TYPE = "topic"

    def __init__(
        self,
        queue_name: str,
        exchange_name: str,
        host: str,
        port: int,
        vhost: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._queue_name = queue_name
        self._exchange_name = exchange_name
        self._host = host
        self._port = port
        self._vhost = vhost or "/"
        self._username = username
        self._password = password
        self._channel = Channel()
        self._prefetch_count = 1

    def get_routing_keys(self, queue_name: str) -> list[str]:
        """The routing keys the queue is bound with (none: the queue's name)."""
        return []

    def on_message(
        self,
        _unused_channel: Channel,
        basic_deliver: Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        raise NotImplementedError("The on_message method must be implemented by a handler class")

    # Hurricane's helpers: settle the current message (sent after on_message returns).
    def acknowledge_message(self, delivery_tag: int) -> None:
        self._channel.basic_ack(delivery_tag)

    def reject_message(self, delivery_tag: int, requeue: bool = False) -> None:
        self._channel.basic_nack(delivery_tag, requeue=requeue)
