from django.db import models


class Message(models.Model):
    """One row per message id: the unique constraint makes a handler idempotent."""

    message_id = models.CharField(max_length=64, unique=True)
    routing_key = models.CharField(max_length=255)
    body = models.TextField()
    content_type = models.CharField(max_length=100, blank=True)
    header = models.CharField(max_length=100, blank=True)


class Handled(models.Model):
    """One row per on_message call that completed: duplicates show redeliveries."""

    message_id = models.CharField(max_length=64, db_index=True)
    redelivered = models.BooleanField(default=False)
