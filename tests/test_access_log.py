"""The access log's fields (--access-log-format), in text and JSON lines.

Servers run tests/apps/wsgi_apps.py:app; logs are read after the server has
exited, so every line is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests
from serverproc import ServerProcess, run_server, run_until_exit

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
HEADERS = {"User-Agent": 'probe/1.0 "quoted"', "Referer": "https://example.test/from"}


def access_lines(server: ServerProcess) -> list[str]:
    assert server.stop() == 0
    return [line for line in server.log().splitlines() if "squall.access" in line]


def run(tmp_path: Path, *options: str) -> list[str]:
    env = {"WSGI_APPS_RECORD": str(tmp_path / "record.txt")}
    argv = ["wsgi_apps:app", "--shutdown-delay", "0", *options]
    with run_server(argv, env=env) as server:
        assert requests.get(server.url + "/hello", headers=HEADERS, timeout=5).status_code == 200
        assert requests.get(server.url + "/missing", timeout=5).status_code == 404
        return access_lines(server)


def test_chosen_fields_in_text_lines(tmp_path: Path) -> None:
    fields = "client,request,status,user_agent,referer,duration,host"
    lines = run(tmp_path, "--access-log-format", fields)
    assert len(lines) == 2, lines
    prefix = TIME + r" INFO squall\.access: 127\.0\.0\.1 "
    assert re.fullmatch(
        prefix + r'"GET /hello HTTP/1\.1" 200 "probe/1\.0 \\"quoted\\"" '
        r'"https://example\.test/from" \d+\.\d{3}ms "127\.0\.0\.1:\d+"',
        lines[0],
    ), lines[0]
    # Absent headers are "-"; requests sends its own User-Agent.
    assert re.fullmatch(
        prefix + r'"GET /missing HTTP/1\.1" 404 "python-requests/[^"]+" "-" \d+\.\d{3}ms "[^"]+"',
        lines[1],
    ), lines[1]


def test_chosen_fields_are_the_keys_of_json_lines(tmp_path: Path) -> None:
    lines = run(
        tmp_path,
        "--log-format", "json",
        "--access-log-format", "status,path,user_agent,referer,duration",
    )  # fmt: skip
    events = [json.loads(line) for line in lines]
    common = {"time", "level", "logger", "message"}
    assert [set(e) - common for e in events] == [
        {"status", "path", "user_agent", "referer", "duration_ms"}
    ] * 2
    assert (events[0]["user_agent"], events[0]["referer"]) == tuple(HEADERS.values())
    assert (events[1]["status"], events[1]["path"], events[1]["referer"]) == (404, "/missing", None)
    assert isinstance(events[0]["duration_ms"], float)


def test_the_default_line_ends_with_the_request_ids(tmp_path: Path) -> None:
    lines = run(tmp_path, "--log-format", "json")
    keys = [k for k in json.loads(lines[0]) if k not in {"time", "level", "logger", "message"}]
    assert keys == [
        "remote_addr", "method", "path", "protocol", "status", "bytes", "duration_ms",
        "request_id", "trace_id", "span_id",
    ]  # fmt: skip


def test_setting_and_environment(tmp_path: Path) -> None:
    env = {"WSGI_APPS_RECORD": str(tmp_path / "r.txt"), "SQUALL_ACCESS_LOG_FORMAT": "status, bytes"}
    with run_server(["wsgi_apps:app", "--shutdown-delay", "0"], env=env) as server:
        assert requests.get(server.url + "/hello", timeout=5).status_code == 200
        lines = access_lines(server)
    assert re.fullmatch(TIME + r" INFO squall\.access: 200 13", lines[0]), lines


def test_a_bad_field_is_one_line_and_exit_2() -> None:
    for value in ("client,agent", "status,status", ""):
        result = run_until_exit(["wsgi_apps:app", "--access-log-format", value])
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"squall: error: --access-log-format: invalid value '{value}' (expected "
            "comma-separated access-log fields, each once: client, request, method, path, "
            "protocol, status, bytes, duration, user_agent, referer, host, request_id, "
            "trace_id, span_id)\n"
        )
