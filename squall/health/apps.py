"""``"squall.health"`` in INSTALLED_APPS (optional: ``"squall"`` alone registers the checks too)."""

from django.apps import AppConfig


class SquallHealthConfig(AppConfig):
    name = "squall.health"
    label = "squall_health"
    verbose_name = "Squall health checks"

    def ready(self) -> None:
        from .checks import register_checks

        register_checks()
