"""Demo settings plus HEALTH_CHECK subsets, for the health_check command run as a process.

Subsets use only backends that need no database, so the command never touches
examples/demo/db.sqlite3. Needs tests/apps on sys.path (health_backends).
"""

from demo.settings import *  # noqa: F403

HEALTH_CHECK = {
    "SUBSETS": {
        "good": [
            "health_backends.OkBackend",
            ("squall.health.backends.disk.DiskUsageBackend", {"max_percent": 100.1}),
        ],
        "bad": ["health_backends.OkBackend", "health_backends.FailBackend"],
        "tolerable": ["health_backends.OkBackend", "health_backends.NonCriticalFailBackend"],
    },
}

MIDDLEWARE = ["squall.health.middleware.LivenessMiddleware", *MIDDLEWARE]  # noqa: F405
ROOT_URLCONF = "health_urls"
