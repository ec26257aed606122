"""Handlers for the AMQP consumer tests (tests/test_amqp_consume.py).

Each message is JSON: {"id": ..., "sleep": seconds, "once": true (sleep only on
the first delivery), "fail": "once" | "always"}.
Before a slow handler sleeps it creates $AMQP_TEST_FLAG_DIR/started-ID, so a
test knows the message is being handled.
"""

import json
import os
import time
from pathlib import Path

from amqp_test_app.models import Handled, Message
from django.db import transaction

from squall.amqp import TopicHandler


class RecordHandler(TopicHandler):
    """Writes each message to the database, idempotently (unique message id)."""

    def get_routing_keys(self, queue_name: str) -> list[str]:
        return ["orders.*", "audit.#"]

    def on_message(self, _unused_channel, basic_deliver, properties, body):
        data = json.loads(body)
        if data.get("sleep") and not (data.get("once") and basic_deliver.redelivered):
            flag_dir = os.environ.get("AMQP_TEST_FLAG_DIR")
            if flag_dir:
                Path(flag_dir, f"started-{data['id']}").touch()
            time.sleep(float(data["sleep"]))
        fail = data.get("fail")
        if fail == "always" or (fail == "once" and not basic_deliver.redelivered):
            raise RuntimeError(f"handler failure for {data['id']}")
        headers = properties.headers or {}
        with transaction.atomic():
            Message.objects.get_or_create(
                message_id=str(data["id"]),
                defaults={
                    "routing_key": basic_deliver.routing_key,
                    "body": body.decode(),
                    "content_type": properties.content_type or "",
                    "header": str(headers.get("x-test", "")),
                },
            )
            Handled.objects.create(
                message_id=str(data["id"]), redelivered=basic_deliver.redelivered
            )


class HurricaneStyleHandler(TopicHandler):
    """Written for Hurricane: settles each message itself."""

    def on_message(self, _unused_channel, basic_deliver, properties, body):
        data = json.loads(body)
        Message.objects.get_or_create(
            message_id=str(data["id"]), defaults={"routing_key": basic_deliver.routing_key}
        )
        Handled.objects.create(message_id=str(data["id"]), redelivered=basic_deliver.redelivered)
        self.acknowledge_message(basic_deliver.delivery_tag)


class PrintHandler(TopicHandler):
    """Prints each message's id, as a quick Hurricane handler does, and acks it."""

    def on_message(self, _unused_channel, basic_deliver, properties, body):
        print(f"handled message {json.loads(body)['id']}")
