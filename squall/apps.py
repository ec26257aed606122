"""The Django app: add ``"squall"`` to INSTALLED_APPS for ``manage.py serve``."""

from django.apps import AppConfig


class SquallConfig(AppConfig):
    name = "squall"
    label = "squall"
    verbose_name = "Squall"

    def ready(self) -> None:
        # django.setup() has just applied the project's LOGGING: Squall's own
        # log lines stay as --log-level / --log-format say (squall.log).
        from squall.log import reassert_logging

        reassert_logging()
        # The HEALTH_CHECK system checks, also when "squall.health" is not
        # installed on its own (registering twice is harmless).
        from squall.health.checks import register_checks

        register_checks()
        # django_db_* metrics: an execute_wrapper on every new connection.
        # (Without the engine built, e.g. in a source checkout, this does nothing.)
        # django_cache_get_*: every cache of CACHES, BACKEND unchanged.
        from squall.metrics import install_cache_instrumentation, install_db_instrumentation

        install_db_instrumentation()
        install_cache_instrumentation()
