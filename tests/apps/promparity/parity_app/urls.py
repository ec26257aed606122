from django.urls import include, path

from promparity.parity_app import views

urlpatterns = [
    path("", views.hello, name="hello"),
    path("page/", views.page, name="page"),
    path("page-choice/", views.page_choice, name="page-choice"),
    path("json/", views.json_view, name="json"),
    path("latin1/", views.latin1, name="latin1"),
    path("stream/", views.stream, name="stream"),
    path("error/", views.error, name="error"),
    path("echo/", views.echo, name="echo"),
    path("cache/<str:alias>/set/<str:key>/", views.cache_set, name="cache-set"),
    path("cache/<str:alias>/get/<str:key>/", views.cache_get, name="cache-get"),
    path("db/query/", views.db_query, name="db-query"),
    path("db/many/<int:rows>/", views.db_many, name="db-many"),
    path("db/bad/", views.db_bad, name="db-bad"),
    path("items/", views.items, name="items"),
    path("counter/", views.counter, name="counter"),
    path("moved/", views.moved, name="moved"),
    path("missing/", views.missing, name="missing"),
    # Views named admin:*, which the dashboards show apart.
    path(
        "admin/",
        include(
            (
                [
                    path("", views.hello, name="index"),
                    path("missing/", views.missing, name="missing"),
                    path("error/", views.error, name="error"),
                ],
                "admin",
            )
        ),
    ),
]
