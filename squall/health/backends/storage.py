"""StorageBackend: can a storage write, read back and delete a file?

Kwargs: ``storage`` (default "default"): a key of settings.STORAGES, or a
dotted path to a Storage class (instantiated without arguments). The file has
a unique name at the storage root (no directory is left behind) and is deleted
even when the read fails.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.utils.module_loading import import_string

from .base import BaseHealthCheckBackend, ServiceReturnedUnexpectedResult, ServiceUnavailable


class StorageBackend(BaseHealthCheckBackend):
    def __init__(self, storage: str = "default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.storage = storage

    def identifier(self) -> str:
        return f"{type(self).__name__}[{self.storage}]"

    def get_storage(self) -> Storage:
        if self.storage in settings.STORAGES:
            return storages[self.storage]
        return import_string(self.storage)()

    def check_status(self) -> None:
        storage = self.get_storage()
        content = f"squall health check {uuid.uuid4().hex}".encode()
        name = f"squall-health-check-{uuid.uuid4().hex}.txt"
        saved: str | None = None
        try:
            saved = storage.save(name, ContentFile(content))
            with storage.open(saved, "rb") as f:
                got = f.read()
            if got != content:
                raise ServiceReturnedUnexpectedResult(f"{self.storage}: read back other content")
            storage.delete(saved)
            if storage.exists(saved):
                raise ServiceReturnedUnexpectedResult(
                    f"{self.storage}: file still exists after delete"
                )
            saved = None
        except ServiceReturnedUnexpectedResult:
            raise
        except Exception as e:  # storages raise OSError, boto errors, ...
            raise ServiceUnavailable(f"{self.storage}: {type(e).__name__}: {e}") from e
        finally:
            if saved is not None:
                try:
                    storage.delete(saved)
                except Exception:  # already failing; the original error is the news
                    pass
