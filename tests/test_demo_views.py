"""Behaviour of the demo project's endpoints (examples/demo), through Django's test Client."""

import json
import time
from pathlib import Path

import pytest

SAMPLE_FILE = (
    Path(__file__).resolve().parent.parent
    / "examples"
    / "demo"
    / "components"
    / "data"
    / "sample.txt"
)


@pytest.fixture
def sleeps(monkeypatch):
    """Record time.sleep calls instead of sleeping."""
    calls = []
    monkeypatch.setattr(time, "sleep", calls.append)
    return calls


def streamed(response):
    return b"".join(response.streaming_content)


# GET /


def test_hello(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"Hello, World!"


def test_hello_head(client):
    response = client.head("/")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", ["/", "/json", "/db", "/slow", "/stream", "/file"])
def test_get_endpoints_refuse_post(path):
    from django.test import Client

    # With CSRF checks on, as on a real server: 405 from the view, not 403.
    response = Client(enforce_csrf_checks=True).post(path)
    assert response.status_code == 405
    assert "GET" in response["Allow"]


# GET /json


def test_json(client):
    response = client.get("/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Hello, World!"}


# GET /db


@pytest.mark.django_db
def test_db_lists_sample_components(client):
    response = client.get("/db")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    components = response.json()["components"]
    assert [c["title"] for c in components] == ["Engine", "Probes", "Metrics"]
    assert all(set(c) == {"id", "title"} for c in components)
    ids = [c["id"] for c in components]
    assert ids == sorted(ids)


@pytest.mark.django_db
def test_db_reflects_orm_changes(client):
    from components.models import Component

    Component.objects.all().delete()
    assert client.get("/db").json() == {"components": []}

    second = Component.objects.create(title="Second")
    first = Component.objects.create(title="First")
    Component.objects.filter(pk=second.pk).update(title="Renamed")
    assert client.get("/db").json() == {
        "components": [
            {"id": second.pk, "title": "Renamed"},
            {"id": first.pk, "title": "First"},
        ]
    }


@pytest.mark.django_db
def test_component_str():
    from components.models import Component

    assert str(Component(title="Engine")) == "Engine"


# GET /slow


def test_slow_default(client, sleeps):
    response = client.get("/slow")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"slept 1000 ms"
    assert sleeps == [1.0]


def test_slow_really_sleeps(client):
    start = time.monotonic()
    response = client.get("/slow", {"ms": "50"})
    elapsed = time.monotonic() - start
    assert response.status_code == 200
    assert response.content == b"slept 50 ms"
    assert elapsed >= 0.05


@pytest.mark.parametrize(
    ("ms", "expected"),
    [("0", 0), ("250", 250), ("60000", 60000), ("60001", 60000), ("999999", 60000), ("-5", 0)],
)
def test_slow_bounds(client, sleeps, ms, expected):
    response = client.get("/slow", {"ms": ms})
    assert response.status_code == 200
    assert response.content == f"slept {expected} ms".encode()
    assert sleeps == [expected / 1000]


@pytest.mark.parametrize("ms", ["abc", "1.5", "1e3", "0x10"])
def test_slow_bad_value(client, sleeps, ms):
    response = client.get("/slow", {"ms": ms})
    assert response.status_code == 400
    assert sleeps == []


# POST /echo


def test_echo_returns_body_and_content_type(client):
    body = b'{"hello": "world", "n": [1, 2, 3]}'
    response = client.post("/echo", body, content_type="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == body


def test_echo_keeps_content_type_parameters(client):
    body = "héllo".encode()
    response = client.post("/echo", body, content_type="text/plain; charset=utf-8")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == body


def test_echo_binary_body(client):
    body = bytes(range(256)) * 64
    response = client.generic("POST", "/echo", body, content_type="application/x-test")
    assert response.status_code == 200
    assert response.content == body


def test_echo_default_content_type(client):
    response = client.generic("POST", "/echo", b"raw bytes", content_type="")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response.content == b"raw bytes"


def test_echo_empty_body(client):
    response = client.post("/echo", b"", content_type="text/plain")
    assert response.status_code == 200
    assert response.content == b""


def test_echo_is_csrf_exempt():
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/echo", b"payload", content_type="text/plain")
    assert response.status_code == 200
    assert response.content == b"payload"


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head"])
def test_echo_other_methods_405(client, method):
    response = getattr(client, method)("/echo")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# GET /stream


def test_stream_default(client):
    response = client.get("/stream")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/plain")
    assert streamed(response) == "".join(f"chunk {i}\n" for i in range(10)).encode()


def test_stream_yields_one_chunk_per_item(client):
    response = client.get("/stream", {"n": "3"})
    assert response.status_code == 200
    assert list(response.streaming_content) == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]


def test_stream_zero(client):
    response = client.get("/stream", {"n": "0"})
    assert response.status_code == 200
    assert streamed(response) == b""


@pytest.mark.parametrize(("n", "expected"), [("-1", 0), ("100000", 100000), ("100001", 100000)])
def test_stream_bounds(client, n, expected):
    response = client.get("/stream", {"n": n})
    assert response.status_code == 200
    lines = streamed(response).decode().splitlines()
    assert len(lines) == expected
    if expected:
        assert lines[-1] == f"chunk {expected - 1}"


@pytest.mark.parametrize("n", ["ten", "2.0", "1e2"])
def test_stream_bad_value(client, n):
    response = client.get("/stream", {"n": n})
    assert response.status_code == 400


# GET /file


def test_file(client):
    expected = SAMPLE_FILE.read_bytes()
    assert 1024 <= len(expected) <= 16 * 1024
    response = client.get("/file")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Length"] == str(len(expected))
    assert streamed(response) == expected


# /admin/


@pytest.mark.django_db
def test_admin_login_page(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"Django administration" in response.content


@pytest.mark.django_db
def test_admin_redirects_anonymous_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_admin_lists_components(admin_client):
    response = admin_client.get("/admin/components/component/")
    assert response.status_code == 200
    for title in (b"Engine", b"Probes", b"Metrics"):
        assert title in response.content


def test_url_names():
    from django.urls import reverse

    assert reverse("hello") == "/"
    assert reverse("json") == "/json"
    assert reverse("db") == "/db"
    assert reverse("slow") == "/slow"
    assert reverse("echo") == "/echo"
    assert reverse("stream") == "/stream"
    assert reverse("file") == "/file"


def test_json_body_is_valid_json(client):
    assert json.loads(client.get("/json").content) == {"message": "Hello, World!"}
