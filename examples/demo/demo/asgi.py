"""ASGI entry point of the Squall demo project (``demo.asgi:application``).

Used to benchmark against ASGI servers, e.g. ``uvicorn demo.asgi:application``.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

application = get_asgi_application()
