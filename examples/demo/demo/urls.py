"""URL configuration of the Squall demo project."""

from django.contrib import admin
from django.urls import include, path

from components import views

urlpatterns = [
    path("", views.hello, name="hello"),
    path("json", views.hello_json, name="json"),
    path("db", views.components_list, name="db"),
    path("slow", views.slow, name="slow"),
    path("echo", views.echo, name="echo"),
    path("stream", views.stream, name="stream"),
    path("file", views.sample_file, name="file"),
    path("async", views.hello_async, name="async"),
    path("events", views.events, name="events"),
    path("admin/", admin.site.urls),
    path("health/", include("squall.health.urls")),
]
