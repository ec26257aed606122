"""``--static`` / ``--media``: the URL prefixes and directories the engine serves,
read from Django's settings and staticfiles finders (docs/static-files.md).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from squall.options import Config

if TYPE_CHECKING:
    from squall import _core

__all__ = ["StaticSetupError", "finder_roots", "static_mounts"]

logger = logging.getLogger("squall")
_QUIET = logging.Logger("squall.quiet", logging.CRITICAL + 1)  # outside the tree: logs nothing


class StaticSetupError(Exception):
    """--static / --media cannot be set up; str() is the one-line reason."""


def _url_prefix(value: object, name: str, log: logging.Logger) -> str | None:
    """The path of STATIC_URL / MEDIA_URL with its trailing slash, decoded (the
    engine compares it with the decoded request path); None when it is an
    absolute URL on another host (a CDN): nothing to serve here."""
    if not value:
        raise StaticSetupError(f"settings.{name} is not set")
    parts = urlsplit(str(value))
    if parts.scheme or parts.netloc:
        log.warning("settings.%s is %r, on another host: not served by Squall", name, value)
        return None
    path = unquote(parts.path)
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        raise StaticSetupError(f"settings.{name} must end with a slash: {value!r}")
    if path == "/":
        raise StaticSetupError(f"settings.{name} is '/': every request would be a file")
    return path


def finder_roots(log: logging.Logger = logger) -> list[tuple[str, str]]:
    """(prefix, directory) of every place Django's staticfiles finders look, in
    their order: what runserver serves with DEBUG."""
    from django.apps import apps
    from django.contrib.staticfiles.finders import (
        AppDirectoriesFinder,
        FileSystemFinder,
        get_finders,
    )

    if not apps.is_installed("django.contrib.staticfiles"):
        return []
    roots: list[tuple[str, str]] = []
    for finder in get_finders():
        if isinstance(finder, FileSystemFinder):
            for prefix, root in finder.locations:
                roots.append((prefix.strip("/") + "/" if prefix else "", str(root)))
        elif isinstance(finder, AppDirectoriesFinder):
            for storage in finder.storages.values():
                roots.append(("", str(storage.location)))
        else:
            log.warning(
                "staticfiles finder %s.%s: its files are not served by --static",
                type(finder).__module__, type(finder).__qualname__,
            )  # fmt: skip
    return roots


def private_prefixes(config: Config, media_url: str) -> list[str]:
    """--media-private, each as the engine compares it: a directory relative to
    MEDIA_URL, with its trailing slash ("invoices/" for "invoices",
    "/media/invoices" or "/media/invoices/")."""
    found = []
    for item in config.media_private:
        path = item if item.startswith("/") else media_url + item.removeprefix("./")
        if not path.startswith(media_url) or path.rstrip("/") + "/" == media_url:
            raise StaticSetupError(
                f"--media-private {item!r}: not a directory under MEDIA_URL {media_url!r}"
            )
        found.append(path[len(media_url):].rstrip("/") + "/")
    return found


def static_mounts(
    config: Config, *, finders: bool = True, quiet: bool = False
) -> _core.StaticFilesConfig | None:
    """The engine's "statics": URL prefixes and directories from Django's settings
    (with DEBUG, the staticfiles finders' directories, then STATIC_ROOT; without,
    STATIC_ROOT; MEDIA_ROOT). None without --static and --media. Raises
    StaticSetupError. Without `finders`, the settings alone (no application
    needs to be loaded). As Hurricane does, --static without STATIC_ROOT (and
    without DEBUG) and --media without MEDIA_ROOT warn, and those URLs go to the
    application. `quiet`: no warnings (they were given by the master)."""
    from squall.startup import django_configured

    if not (config.static or config.media):
        return None
    if not django_configured():
        raise StaticSetupError(
            "--static and --media need Django settings (manage.py serve, or an application "
            "that configures Django)"
        )
    from django.conf import settings

    from squall import _core

    def mount(prefix: str, roots: list[tuple[str, str]], media: bool) -> _core.StaticMount:
        return _core.StaticMount(
            prefix=prefix,
            roots=[_core.StaticRoot(subprefix=sub, dir=root) for sub, root in roots],
            fall_through=media,  # a media miss goes to the application
            immutable_hashed=not media,
            private_prefixes=private_prefixes(config, prefix) if media else [],
        )

    log = _QUIET if quiet else logger
    mounts: list[_core.StaticMount] = []
    if config.static:
        prefix = _url_prefix(settings.STATIC_URL, "STATIC_URL", log)
        roots: list[tuple[str, str]] = []
        if settings.DEBUG and finders:
            # As runserver: the sources first, so an edited file is served at once.
            roots += finder_roots(log)
        if settings.STATIC_ROOT:
            roots.append(("", os.fspath(settings.STATIC_ROOT)))
        elif not settings.DEBUG:
            log.warning(
                "--static: settings.STATIC_ROOT is not set (and DEBUG is off): "
                "%s is not served by Squall", prefix,
            )  # fmt: skip
        if prefix is not None and roots:
            mounts.append(mount(prefix, roots, media=False))
    if config.media:
        if not settings.MEDIA_ROOT or not settings.MEDIA_URL:
            log.warning(
                "--media: settings.%s is not set: media files are not served by Squall",
                "MEDIA_ROOT" if not settings.MEDIA_ROOT else "MEDIA_URL",
            )
        else:
            prefix = _url_prefix(settings.MEDIA_URL, "MEDIA_URL", log)
            if prefix is not None:
                mounts.append(mount(prefix, [("", os.fspath(settings.MEDIA_ROOT))], media=True))
    return _core.StaticFilesConfig(
        mounts=mounts,
        max_age=config.static_max_age,
        follow_symlinks=config.static_follow_symlinks,
    )
