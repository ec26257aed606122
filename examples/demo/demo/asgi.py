"""ASGI entry point of the Squall demo project (``demo.asgi:application``).

``python manage.py serve --asgi`` serves it (settings.ASGI_APPLICATION):
HTTP goes to Django, WebSockets under ``/ws/chat/ROOM/`` to the Channels chat
consumer (components/consumers.py). Also what the ASGI peers run in
benchmarks, e.g. ``uvicorn demo.asgi:application``.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

# Django first: the consumer's imports need the apps loaded.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from components.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter([path("ws/chat/<str:room_name>/", ChatConsumer.as_asgi())]),
    }
)
