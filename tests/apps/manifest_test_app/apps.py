"""An app whose ready() reads the static files manifest, as Wagtail's admin does:
ManifestStaticFilesStorage loads staticfiles.json once, when it is first used."""

from django.apps import AppConfig


class ManifestTestAppConfig(AppConfig):
    name = "manifest_test_app"

    def ready(self) -> None:
        from django.contrib.staticfiles.storage import staticfiles_storage

        # Loads the manifest now (empty if collectstatic has not run yet).
        staticfiles_storage.hashed_files  # noqa: B018
