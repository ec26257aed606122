"""The Django app: add ``"squall"`` to INSTALLED_APPS for ``manage.py serve``."""

from django.apps import AppConfig


class SquallConfig(AppConfig):
    name = "squall"
    label = "squall"
    verbose_name = "Squall"

    def ready(self) -> None:
        # The HEALTH_CHECK system checks, also when "squall.health" is not
        # installed on its own (registering twice is harmless).
        from squall.health.checks import register_checks

        register_checks()
        # django_db_* metrics: an execute_wrapper on every new connection.
        try:
            from squall.metrics import install_db_instrumentation
        except ImportError:
            # The engine is not built here (a source checkout, an image's build
            # stage): management commands still run, with nothing to count into.
            return
        install_db_instrumentation()
