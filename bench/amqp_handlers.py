"""The same work for both consumers in bench/amqp.py: one idempotent row per
message (get_or_create on the message id, in a transaction), or nothing."""

import json

from amqp_test_app.models import Message
from django.db import transaction


def write(routing_key: str, body: bytes) -> None:
    data = json.loads(body)
    with transaction.atomic():
        Message.objects.get_or_create(
            message_id=str(data["id"]), defaults={"routing_key": routing_key, "body": ""}
        )


def _squall_base():
    from squall.amqp import TopicHandler

    return TopicHandler


def _hurricane_base():
    from hurricane.amqp.basehandler import TopicHandler

    return TopicHandler


try:
    _SquallBase = _squall_base()
except ImportError:  # pragma: no cover
    _SquallBase = object
try:
    _HurricaneBase = _hurricane_base()
except ImportError:  # pragma: no cover
    _HurricaneBase = object


class SquallDb(_SquallBase):
    def get_routing_keys(self, queue_name):
        return ["bench.#"]

    def on_message(self, _unused_channel, basic_deliver, properties, body):
        write(basic_deliver.routing_key, body)


class SquallNoop(SquallDb):
    def on_message(self, _unused_channel, basic_deliver, properties, body):
        pass


class HurricaneDb(_HurricaneBase):
    def get_routing_keys(self, queue_name):
        return ["bench.#"]

    def on_message(self, _unused_channel, basic_deliver, properties, body):
        write(basic_deliver.routing_key, body)
        self.acknowledge_message(basic_deliver.delivery_tag)


class HurricaneNoop(HurricaneDb):
    def on_message(self, _unused_channel, basic_deliver, properties, body):
        self.acknowledge_message(basic_deliver.delivery_tag)
