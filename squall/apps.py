"""The Django app: add ``"squall"`` to INSTALLED_APPS for ``manage.py serve``."""

from django.apps import AppConfig


class SquallConfig(AppConfig):
    name = "squall"
    label = "squall"
    verbose_name = "Squall"
