"""Benchmark settings plus ``hurricane``, for the django-hurricane row.

Hurricane and Squall both ship a ``serve`` management command; Django takes a
command from the first app in INSTALLED_APPS that has it, so ``hurricane`` goes
first. Hurricane's access log is info-level and has no handler by default;
it is pinned to WARNING here so it stays off, like every other server's.
"""

from bench_demo_settings import *  # noqa: F403
from bench_demo_settings import INSTALLED_APPS

INSTALLED_APPS = ["hurricane", *INSTALLED_APPS]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"hurricane.server.access": {"level": "WARNING"}},
}
