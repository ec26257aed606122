"""The demo's URLs plus the health endpoints under /health/."""

from demo.urls import urlpatterns as demo_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("health/", include("squall.health.urls")),
    *demo_urlpatterns,
]
