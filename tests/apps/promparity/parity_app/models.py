from django.conf import settings
from django.db import models
from django.utils.module_loading import import_string

# django-prometheus' mixin or Squall's, as the settings say.
Mixin = import_string(settings.PARITY_MODEL_MIXIN)


class Item(Mixin("item"), models.Model):
    name = models.CharField(max_length=50)


class Note(Mixin("note"), models.Model):
    text = models.CharField(max_length=50)
