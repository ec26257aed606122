"""The demo project (tests/apps/demo_test_settings.py) with a LOGGING that would
silence Squall's log if it could: root at WARNING, existing loggers disabled,
a ``squall`` entry with no handler at ERROR; Django's ``Not Found`` warnings go
to a plain-text console handler on stderr. For tests/test_logging_signals.py."""

from demo_test_settings import *  # noqa: F403

LOGGING = {
    "version": 1,
    "disable_existing_loggers": True,
    "formatters": {"plain": {"format": "PLAIN %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
    "loggers": {
        "django": {"level": "WARNING", "handlers": ["console"], "propagate": False},
        "squall": {"level": "ERROR", "handlers": [], "propagate": False},
        "squall.access": {"level": "CRITICAL"},
    },
}
