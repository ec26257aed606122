"""Static and media files served by the engine (--static, --media), end to end.

Real servers run the small Django project of tests/apps/static_settings.py on
temporary STATIC_ROOT / MEDIA_ROOT folders; every request the engine does not
answer itself reaches a Django view that says so ("django: GET /path"), which
is how a test tells a file from a fall-through. Requests are written byte for
byte with the strict client of tests/test_http_protocol.py, so traversal
attempts reach the server exactly as written.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverproc import APPS_DIR, ServerProcess, run_server, run_until_exit
from test_http_protocol import IMF_FIXDATE, Client, Response, assert_closed, client, get

from squall.options import resolve_config

CSS = b"body { color: #123456; }\n" * 40  # 1000 bytes
HASHED = "css/app.3f2a9c81b4d0.css"
SECRET = b"SECRET-OUTSIDE-THE-ROOT"
MiB = 1024 * 1024


# ---- fixtures ---


def make_tree(base: Path) -> dict[str, Path]:
    """STATIC_ROOT, MEDIA_ROOT, two STATICFILES_DIRS and a secret next to them."""
    static, media = base / "static", base / "media"
    extra, vendor = base / "extra", base / "vendor"
    for folder in (
        static / "css",
        static / "img",
        static / "empty-dir",
        media / "uploads",
        extra,
        vendor,
    ):
        folder.mkdir(parents=True)
    (base / "secret.txt").write_bytes(SECRET)
    (static / "css" / "app.css").write_bytes(CSS)
    (static / HASHED).write_bytes(CSS)
    (static / "css" / "site.css").write_bytes(b"plain\n")
    (static / "css" / "site.css.gz").write_bytes(b"GZIP-BYTES")
    (static / "css" / "site.css.br").write_bytes(b"BROTLI")
    (static / "css" / "only-gz.js").write_bytes(b"let a = 1;\n")
    (static / "css" / "only-gz.js.gz").write_bytes(b"GZ")
    (static / "img" / "logo.png").write_bytes(b"\x89PNG....")
    (static / "img" / "logo.png.gz").write_bytes(b"never for images")
    (static / "img" / "logo.png.br").write_bytes(b"never for images")
    (static / "img" / "icon.svg").write_bytes(b"<svg/>")
    (static / "img" / "icon.svg.br").write_bytes(b"SVG-BROTLI")
    (static / "empty.txt").write_bytes(b"")
    (static / ".env").write_bytes(SECRET)
    (static / "css" / ".hidden.css").write_bytes(SECRET)
    (static / "escape.txt").symlink_to(base / "secret.txt")
    (static / "escape-dir").symlink_to(base)
    (static / "inner.css").symlink_to("css/app.css")
    (static / "both.txt").write_bytes(b"from STATIC_ROOT\n")
    (media / "uploads" / "photo.jpg").write_bytes(b"JPEG")
    (media / ".secret").write_bytes(SECRET)
    (extra / "both.txt").write_bytes(b"from STATICFILES_DIRS\n")
    (extra / "extra.js").write_bytes(b"extra();\n")
    (vendor / "lib.js").write_bytes(b"vendor();\n")
    return {"base": base, "static": static, "media": media, "extra": extra, "vendor": vendor}


def settings_env(tree: dict[str, Path], *, debug: bool = False, **more: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(APPS_DIR)) if p)
    return {
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": "static_settings",
        "STATIC_TEST_ROOT": str(tree["static"]),
        "MEDIA_TEST_ROOT": str(tree["media"]),
        "STATIC_TEST_DIRS": f"{tree['extra']},vendor={tree['vendor']}",
        "STATIC_TEST_DEBUG": "1" if debug else "0",
        **more,
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tree(tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="module")
def server(tree: dict[str, Path]) -> Iterator[ServerProcess]:
    # --static on the command line, media through Hurricane's environment name.
    env = settings_env(tree, HURRICANE_MEDIA="1")
    argv = ["static_wsgi", "--static", "--static-max-age", "120", "--workers", "1"]
    with run_server(argv, env=env) as s:
        yield s


def fetch(server: ServerProcess, path: str, *headers: str, method: str = "GET") -> Response:
    with client(server) as c:
        c.send(get(path, *headers, method=method))
        return c.response(method)


# ---- serving ---


def test_a_file_with_its_metadata(server: ServerProcess, tree: dict[str, Path]) -> None:
    r = fetch(server, "/static/css/app.css")
    assert r.status == 200
    assert r.body == CSS
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["content-length"] == str(len(CSS))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["cache-control"] == "max-age=120"  # --static-max-age
    assert re.fullmatch(r'"[0-9a-f-]+"', r.headers["etag"])  # a strong validator
    assert re.fullmatch(IMF_FIXDATE, r.headers["last-modified"])
    mtime = int((tree["static"] / "css" / "app.css").stat().st_mtime)
    assert r.headers["last-modified"] == time.strftime(
        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime)
    )
    assert re.fullmatch(IMF_FIXDATE, r.headers["date"])


def test_content_type_from_the_name(server: ServerProcess) -> None:
    assert fetch(server, "/static/img/logo.png").headers["content-type"] == "image/png"
    assert fetch(server, "/static/empty.txt").headers["content-type"].startswith("text/plain")


def test_an_empty_file(server: ServerProcess) -> None:
    r = fetch(server, "/static/empty.txt")
    assert (r.status, r.headers["content-length"], r.body) == (200, "0", b"")


def test_hashed_names_are_immutable_for_a_year(server: ServerProcess) -> None:
    r = fetch(server, "/static/" + HASHED)
    assert r.headers["cache-control"] == "max-age=31536000, immutable"
    assert r.body == CSS


def test_head_sends_the_headers_without_the_body(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(get("/static/css/app.css", method="HEAD") + get("/static/css/site.css"))
        head = c.response("HEAD")
        assert head.status == 200
        assert head.headers["content-length"] == str(len(CSS))
        following = c.response()  # the next response starts right after the head
        assert following.body == b"plain\n"


def test_query_strings_are_ignored(server: ServerProcess) -> None:
    assert fetch(server, "/static/css/site.css?v=42").body == b"plain\n"


def test_pipelined_requests_are_answered_in_order(server: ServerProcess) -> None:
    paths = ["/static/css/site.css", "/other", "/static/css/app.css", "/static/nope.css"] * 3
    with client(server) as c:
        c.send(b"".join(get(p) for p in paths))
        answers = [c.response() for _ in paths]
    for path, r in zip(paths, answers, strict=True):
        if path == "/other":
            assert r.body == b"django: GET /other"
        elif path == "/static/nope.css":
            assert r.status == 404
        else:
            assert r.status == 200 and r.body in (CSS, b"plain\n")


def test_http_1_0_keep_alive_only_when_asked(server: ServerProcess) -> None:
    with client(server) as c:
        c.send(get("/static/css/site.css", "Connection: keep-alive", version="1.0"))
        r = c.response()
        assert (r.version, r.headers["connection"], r.body) == (
            "HTTP/1.0",
            "keep-alive",
            b"plain\n",
        )
        c.send(get("/static/css/site.css", version="1.0"))
        r = c.response()
        assert (r.headers["connection"], r.body) == ("close", b"plain\n")
        assert_closed(c)


def test_only_get_and_head(server: ServerProcess) -> None:
    r = fetch(server, "/static/css/site.css", "Content-Length: 0", method="POST")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"


# ---- caching: validators and conditional requests (RFC 9110 13) ---


def test_if_none_match_gives_304(server: ServerProcess) -> None:
    first = fetch(server, "/static/css/app.css")
    etag = first.headers["etag"]
    r = fetch(server, "/static/css/app.css", f"If-None-Match: {etag}")
    assert r.status == 304
    assert r.body == b""
    assert r.headers["etag"] == etag
    assert r.headers["cache-control"] == "max-age=120"
    assert r.headers["vary"] == "Accept-Encoding"
    assert fetch(server, "/static/css/app.css", 'If-None-Match: "other"').status == 200
    assert fetch(server, "/static/css/app.css", f'If-None-Match: "x", W/{etag}').status == 304


def test_if_modified_since(server: ServerProcess) -> None:
    last = fetch(server, "/static/css/app.css").headers["last-modified"]
    assert fetch(server, "/static/css/app.css", f"If-Modified-Since: {last}").status == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert fetch(server, "/static/css/app.css", f"If-Modified-Since: {old}").status == 200
    assert fetch(server, "/static/css/app.css", "If-Modified-Since: garbage").status == 200


def test_if_match_failure_is_412(server: ServerProcess) -> None:
    assert fetch(server, "/static/css/app.css", 'If-Match: "other"').status == 412


# ---- ranges (RFC 9110 14) ---


def test_range_gives_206(server: ServerProcess) -> None:
    r = fetch(server, "/static/css/app.css", "Range: bytes=10-19")
    assert r.status == 206
    assert r.headers["content-range"] == f"bytes 10-19/{len(CSS)}"
    assert r.body == CSS[10:20]
    r = fetch(server, "/static/css/app.css", "Range: bytes=-5")
    assert r.body == CSS[-5:]
    r = fetch(server, "/static/css/app.css", "Range: bytes=990-")
    assert (r.status, r.body) == (206, CSS[990:])


def test_unsatisfiable_range_is_416(server: ServerProcess) -> None:
    r = fetch(server, "/static/css/app.css", "Range: bytes=5000-")
    assert r.status == 416
    assert r.headers["content-range"] == f"bytes */{len(CSS)}"


def test_several_ranges_get_the_whole_file(server: ServerProcess) -> None:
    r = fetch(server, "/static/css/app.css", "Range: bytes=0-1,5-6")
    assert (r.status, r.body) == (200, CSS)


def test_if_range(server: ServerProcess) -> None:
    first = fetch(server, "/static/css/app.css")
    etag, last = first.headers["etag"], first.headers["last-modified"]
    r = fetch(server, "/static/css/app.css", "Range: bytes=0-3", f"If-Range: {etag}")
    assert (r.status, r.body) == (206, CSS[:4])
    r = fetch(server, "/static/css/app.css", "Range: bytes=0-3", f"If-Range: {last}")
    assert r.status == 206
    r = fetch(server, "/static/css/app.css", "Range: bytes=0-3", 'If-Range: "stale"')
    assert (r.status, r.body) == (200, CSS)  # changed since: the whole new file


def test_head_with_range_is_not_partial(server: ServerProcess) -> None:
    r = fetch(server, "/static/css/app.css", "Range: bytes=0-3", method="HEAD")
    assert (r.status, r.headers["content-length"]) == (200, str(len(CSS)))


# ---- precompressed variants (RFC 9110 8.4, 12.5.3) ---


def test_brotli_preferred_then_gzip(server: ServerProcess) -> None:
    br = fetch(server, "/static/css/site.css", "Accept-Encoding: gzip, deflate, br")
    assert (br.body, br.headers["content-encoding"]) == (b"BROTLI", "br")
    assert br.headers["content-type"] == "text/css; charset=utf-8"  # the original's type
    assert br.headers["vary"] == "Accept-Encoding"
    gz = fetch(server, "/static/css/site.css", "Accept-Encoding: gzip")
    assert (gz.body, gz.headers["content-encoding"]) == (b"GZIP-BYTES", "gzip")
    no_br = fetch(server, "/static/css/site.css", "Accept-Encoding: br;q=0, gzip")
    assert no_br.headers["content-encoding"] == "gzip"
    only_gz = fetch(server, "/static/css/only-gz.js", "Accept-Encoding: br, gzip")
    assert (only_gz.body, only_gz.headers["content-encoding"]) == (b"GZ", "gzip")
    plain = fetch(server, "/static/css/site.css")
    assert plain.body == b"plain\n" and "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    # Each representation has its own validator.
    assert len({br.headers["etag"], gz.headers["etag"], plain.headers["etag"]}) == 3
    assert (
        fetch(
            server,
            "/static/css/site.css",
            "Accept-Encoding: br",
            f"If-None-Match: {br.headers['etag']}",
        ).status
        == 304
    )


def test_compressed_image_formats_are_never_sent_encoded_svg_is(server: ServerProcess) -> None:
    # docs/static-files.md: PNG (compressed already) never; SVG (XML text) like text.
    for encoding in ("gzip", "br", "br, gzip"):
        r = fetch(server, "/static/img/logo.png", f"Accept-Encoding: {encoding}")
        assert r.body == b"\x89PNG...." and "content-encoding" not in r.headers
        assert "vary" not in r.headers
    r = fetch(server, "/static/img/icon.svg", "Accept-Encoding: br")
    assert (r.body, r.headers["content-encoding"]) == (b"SVG-BROTLI", "br")


# ---- safety ---

TRAVERSALS = [
    "/static/../secret.txt",
    "/static/css/../../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/css%2f..%2f..%2fsecret.txt",
    "/static/%252e%252e/secret.txt",  # double-encoded
    "/static/%252e%252e%252fsecret.txt",
    "/static/..%252fsecret.txt",
    "/static/..\\secret.txt",
    "/static/..%5csecret.txt",
    "/static/css%5c..%5c..%5csecret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
    "/static//etc/passwd",
    "/static/%2fetc/passwd",
    "/static/css/app.css%00.png",
    "/static/%00",
    "/static/a%0d%0aX-Injected:%20yes",
    "/static/%",
    "/static/%zz",
    "/static/.env",
    "/static/%2eenv",
    "/static/css/.hidden.css",
    "/static/escape.txt",  # a symbolic link out of the root
    "/static/escape-dir/secret.txt",
    "/static/",  # no directory listing
    "/static/css",
    "/static/css/",
    "/static/empty-dir/",
    "/static%2f..%2fsecret.txt",
    "http://test/static/../secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_attempts_end_in_404_or_400(server: ServerProcess, target: str) -> None:
    r = fetch(server, target)
    assert r.status in (400, 404), (target, r.status, r.body[:100])
    assert SECRET not in r.body
    assert not r.body.startswith(b"django:"), "a static path must never reach the application"


def test_traversal_attempts_under_media_never_serve_a_file(server: ServerProcess) -> None:
    for target in [t.replace("/static", "/media", 1) for t in TRAVERSALS] + ["/media/.secret"]:
        r = fetch(server, target)
        assert SECRET not in r.body, target
        # Either refused by the server or handed to the application, never a file.
        assert r.status in (400, 404) or r.body.startswith(b"django:"), target


def test_a_symbolic_link_inside_the_root_is_served(server: ServerProcess) -> None:
    assert fetch(server, "/static/inner.css").body == CSS


def test_follow_symlinks_lets_links_out(tree: dict[str, Path]) -> None:
    argv = ["static_wsgi", "--static", "--static-follow-symlinks", "--workers", "1"]
    with run_server(argv, env=settings_env(tree)) as s:
        assert fetch(s, "/static/escape.txt").body == SECRET
        assert fetch(s, "/static/escape-dir/secret.txt").body == SECRET
        # Names are still checked before the file system is asked.
        assert fetch(s, "/static/../secret.txt").status == 404
        assert fetch(s, "/static/.env").status == 404


# ---- media, misses ---


def test_media_file_and_miss(server: ServerProcess) -> None:
    r = fetch(server, "/media/uploads/photo.jpg")
    assert (r.status, r.body, r.headers["content-type"]) == (200, b"JPEG", "image/jpeg")
    miss = fetch(server, "/media/uploads/missing.jpg")
    assert (miss.status, miss.body) == (200, b"django: GET /media/uploads/missing.jpg")
    post = fetch(server, "/media/uploads/photo.jpg", "Content-Length: 0", method="POST")
    assert post.body == b"django: POST /media/uploads/photo.jpg"


def test_missing_static_file_is_404_without_django(server: ServerProcess) -> None:
    r = fetch(server, "/static/css/missing.css")
    assert r.status == 404
    assert not r.body.startswith(b"django:")
    assert r.headers["content-length"] == str(len(r.body))


def test_other_paths_reach_the_application(server: ServerProcess) -> None:
    assert fetch(server, "/staticfoo/x.css").body == b"django: GET /staticfoo/x.css"


def test_a_path_in_raw_utf8_reaches_django_as_text(server: ServerProcess) -> None:
    # obs-text in the request-target: accepted, and Django decodes PATH_INFO's
    # bytes as UTF-8 exactly as it does for the percent-encoded form.
    for target in ("/café/☃".encode(), b"/caf%C3%A9/%E2%98%83"):
        with client(server) as c:
            c.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.response()
        assert (r.status, r.body) == (200, "django: GET /café/☃".encode()), target


# ---- DEBUG: the staticfiles finders ---


def test_debug_serves_what_the_finders_find(tree: dict[str, Path]) -> None:
    argv = ["static_wsgi", "--static", "--workers", "1"]
    with run_server(argv, env=settings_env(tree, debug=True)) as s:
        assert fetch(s, "/static/extra.js").body == b"extra();\n"  # STATICFILES_DIRS
        assert fetch(s, "/static/vendor/lib.js").body == b"vendor();\n"  # ("vendor", dir)
        assert fetch(s, "/static/lib.js").status == 404  # only under its prefix
        app_css = APPS_DIR / "static_test_app" / "static" / "static_test_app" / "app.css"
        r = fetch(s, "/static/static_test_app/app.css")  # AppDirectoriesFinder
        assert r.body == app_css.read_bytes()
        # The finders win over STATIC_ROOT, as with runserver; STATIC_ROOT is searched last.
        assert fetch(s, "/static/both.txt").body == b"from STATICFILES_DIRS\n"
        assert fetch(s, "/static/css/app.css").body == CSS
        # An edited source file is served at once, without collectstatic.
        edited = tree["extra"] / "edited.css"
        edited.write_bytes(b"a { color: red; }\n")
        assert fetch(s, "/static/edited.css").body == b"a { color: red; }\n"
        edited.write_bytes(b"a { color: blue; }\n")
        assert fetch(s, "/static/edited.css").body == b"a { color: blue; }\n"


def test_without_debug_the_finders_are_not_searched(server: ServerProcess) -> None:
    assert fetch(server, "/static/extra.js").status == 404
    assert fetch(server, "/static/static_test_app/app.css").status == 404


# ---- files changing on disk ---


def test_a_file_replaced_on_disk_is_served_fresh(
    server: ServerProcess, tree: dict[str, Path]
) -> None:
    path = tree["static"] / "fresh.txt"
    path.write_bytes(b"version 1\n")
    first = fetch(server, "/static/fresh.txt")
    assert first.body == b"version 1\n"
    # Replaced the way deploys do it (a new file renamed over the old), same size,
    # within the same second: the next request sees it, with a new ETag.
    new = tree["static"] / "fresh.txt.tmp"
    new.write_bytes(b"version 2\n")
    new.rename(path)
    second = fetch(server, "/static/fresh.txt")
    assert second.body == b"version 2\n"
    assert second.headers["etag"] != first.headers["etag"]
    assert (
        fetch(server, "/static/fresh.txt", f"If-None-Match: {first.headers['etag']}").status == 200
    )
    # Rewritten in place, and grown.
    path.write_bytes(b"version 3, longer\n")
    assert fetch(server, "/static/fresh.txt").body == b"version 3, longer\n"
    path.unlink()
    assert fetch(server, "/static/fresh.txt").status == 404


def test_a_file_truncated_while_being_sent_closes_the_connection(
    server: ServerProcess, tree: dict[str, Path]
) -> None:
    path = tree["static"] / "big.bin"
    size = 64 * MiB
    with path.open("wb") as f:
        f.truncate(size)
    try:
        c = Client(server)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(get("/static/big.bin") + get("/static/css/site.css"))
        head = c.head()
        assert head.headers["content-length"] == str(size)
        received = len(c.buf)
        while received < MiB:  # the send is under way
            received += len(c.sock.recv(65536))
        os.truncate(path, 2 * MiB)
        rest = c.rest_until_close(timeout=10)
        assert rest is not None, "the connection stayed open after a short body"
        received += len(rest)
        # Never as long as promised (the client must not take it as complete), and
        # the pipelined request after it is never answered on this connection.
        assert received < size
        assert b"HTTP/1.1" not in rest
        c.close()
    finally:
        path.unlink()
    assert fetch(server, "/static/css/site.css").body == b"plain\n"  # the server is fine


def test_a_file_growing_while_being_sent_keeps_its_length(
    server: ServerProcess, tree: dict[str, Path]
) -> None:
    path = tree["static"] / "growing.bin"
    path.write_bytes(b"a" * (4 * MiB))
    try:
        with client(server) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            c.send(get("/static/growing.bin") + get("/static/css/site.css"))
            head = c.head()
            assert head.headers["content-length"] == str(4 * MiB)
            with path.open("ab") as f:
                f.write(b"b" * MiB)
            body = c._take(4 * MiB)
            assert body == b"a" * (4 * MiB)
            assert c.response().body == b"plain\n"  # framing intact
    finally:
        path.unlink()


# ---- options ---


def test_hurricane_names_turn_the_options_on() -> None:
    class Settings:
        STATIC = True
        MEDIA = True

    config = resolve_config({}, settings=Settings(), environ={})
    assert (config.static, config.media) == (True, True)
    config = resolve_config({}, environ={"HURRICANE_STATIC": "1", "HURRICANE_MEDIA": "yes"})
    assert (config.static, config.media) == (True, True)
    config = resolve_config({}, environ={"SQUALL_STATIC_MAX_AGE": "60"})
    assert config.static_max_age == 60


def squall_exit(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_until_exit([*argv, "--port", "0"], cwd=APPS_DIR, env=env)


def test_static_without_a_static_root_and_media_without_a_media_root_warn_and_serve(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    # As Hurricane: a warning each, and those URLs reach the application.
    env = settings_env(tree, STATIC_TEST_ROOT="", MEDIA_TEST_ROOT="")
    with run_server(["static_wsgi", "--static", "--media", "--workers", "1"], env=env) as s:
        assert fetch(s, "/static/css/app.css").body == b"django: GET /static/css/app.css"
        assert fetch(s, "/media/uploads/photo.jpg").body == b"django: GET /media/uploads/photo.jpg"
        log = s.log()
    assert (
        "WARNING squall: --static: settings.STATIC_ROOT is not set (and DEBUG is off): "
        "/static/ is not served by Squall" in log
    )
    assert "WARNING squall: --media: settings.MEDIA_ROOT is not set" in log
    assert "Serving" not in log


def test_a_root_that_does_not_exist_is_a_warning_not_serving(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    missing = tmp_path / "not-collected-yet"
    env = settings_env(tree, STATIC_TEST_ROOT=str(missing))
    with run_server(["static_wsgi", "--static", "--media", "--workers", "1"], env=env) as s:
        assert fetch(s, "/static/css/app.css").status == 404
        log = s.log()
    assert f"Serving /static/ from {missing}" not in log
    assert (
        f"WARNING squall: /static/: {missing} is not a directory: its files are 404 until it is"
        in log
    )
    assert f"Serving /media/ from {tree['media']}" in log


def test_static_needs_django() -> None:
    done = squall_exit(["wsgi_apps:hello", "--static"], {})
    assert done.returncode == 2
    assert "--static and --media need Django settings" in done.stderr


def test_files_get_an_access_log_line(server: ServerProcess) -> None:
    assert fetch(server, "/static/css/app.css?v=access-log").status == 200
    assert fetch(server, "/static/no-such-file.css").status == 404
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "no-such-file" not in server.log():
        time.sleep(0.02)
    log = server.log()
    assert f'"GET /static/css/app.css?v=access-log HTTP/1.1" 200 {len(CSS)} ' in log
    assert '"GET /static/no-such-file.css HTTP/1.1" 404 ' in log


# ---- --media-private ---


def test_media_private_prefixes_go_to_the_application(tree: dict[str, Path]) -> None:
    private = tree["media"] / "invoices"
    private.mkdir(exist_ok=True)
    (private / "2026-01.pdf").write_bytes(b"PRIVATE")
    (tree["media"] / "invoices-public.txt").write_bytes(b"public")
    env = settings_env(tree, SQUALL_MEDIA_PRIVATE="/media/contracts/")
    argv = ["static_wsgi", "--media", "--media-private", "invoices", "--workers", "1"]
    with run_server(argv, env=env) as s:
        # The file exists, but only the application may hand it out.
        body = fetch(s, "/media/invoices/2026-01.pdf").body
        assert body == b"django: GET /media/invoices/2026-01.pdf"
        assert fetch(s, "/media/%69nvoices/2026-01.pdf").body.startswith(b"django: GET ")
        assert fetch(s, "/media/invoices-public.txt").body == b"public"  # a directory prefix
        assert fetch(s, "/media/uploads/photo.jpg").body == b"JPEG"
    # The command line wins over the environment, as for every option.
    with run_server(["static_wsgi", "--media", "--workers", "1"], env=env) as s:
        assert fetch(s, "/media/invoices/2026-01.pdf").body == b"PRIVATE"


def test_media_private_outside_media_url_is_an_error(tree: dict[str, Path]) -> None:
    argv = ["static_wsgi", "--media", "--media-private", "/static/x"]
    done = squall_exit(argv, settings_env(tree))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "squall: error: --media-private '/static/x': not a directory under MEDIA_URL '/media/'"
    )
