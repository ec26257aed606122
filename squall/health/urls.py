"""``path("health/", include("squall.health.urls"))``: the subset list and one URL per subset."""

from django.urls import path

from . import views

app_name = "squall_health"

urlpatterns = [
    path("", views.index, name="index"),
    path("<str:subset>/", views.subset, name="subset"),
]
