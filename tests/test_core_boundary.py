"""The Python boundary of the engine: config objects are typed and strict.

A field the Python side forgets or misspells must fail at startup with its
name, never fall back to a C++ default (the defaults live in
squall/options.py). These are what a developer changing squall/ meets.
"""

from __future__ import annotations

import pytest

from squall import _core
from squall.options import Config
from squall.server import master_config, probe_config, server_config

PROBE_FIELDS = dict(
    startup_path="/startup",
    readiness_path="/ready",
    liveness_path="/alive",
    req_queue_len=10,
    heartbeat_timeout=30.0,
    check_interval=0.0,
)


def test_a_missing_field_is_named() -> None:
    fields = dict(PROBE_FIELDS)
    del fields["req_queue_len"], fields["check_interval"]
    with pytest.raises(
        TypeError, match=r"ProbeConfig\(\) missing field\(s\): req_queue_len, check_interval"
    ):
        _core.ProbeConfig(**fields)


def test_a_misspelled_field_is_named_not_reported_missing() -> None:
    fields = dict(PROBE_FIELDS)
    fields["req_queue_length"] = fields.pop("req_queue_len")
    with pytest.raises(TypeError, match="unknown field 'req_queue_length'"):
        _core.ProbeConfig(**fields)


def test_a_value_of_the_wrong_type_is_named() -> None:
    with pytest.raises(
        TypeError, match=r"ProbeConfig\.req_queue_len: a value of the wrong type \(str\)"
    ):
        _core.ProbeConfig(**(PROBE_FIELDS | {"req_queue_len": "10"}))


def test_fields_read_back_as_attributes() -> None:
    probes = _core.ProbeConfig(**PROBE_FIELDS)
    assert (probes.readiness_path, probes.req_queue_len, probes.heartbeat_timeout) == (
        "/ready",
        10,
        30.0,
    )


def test_a_value_the_engine_refuses_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="static prefix must start and end with '/': 'static'"):
        _core.StaticMount(
            prefix="static", roots=[], fall_through=False, immutable_hashed=True,
            private_prefixes=[],
        )  # fmt: skip


def test_the_options_defaults_reach_the_engine() -> None:
    config = Config(workers=3, timeout=12, req_queue_len=4, keepalive_timeout=7)
    server = server_config(config)
    master = master_config(config, checker=False)
    assert server.multiprocess and server.keepalive_timeout == 7.0
    assert server.limits.max_body_size == config.max_body_size
    assert (master.workers, master.timeout, master.probe.req_queue_len) == (3, 12.0, 4)
    assert master.probe.heartbeat_timeout == 12.0
    assert probe_config(config, checker=True).check_interval == float(config.check_interval)


def test_probe_bits_and_verdicts_are_enums_named_as_on_the_wire() -> None:
    assert [bit.name for bit in _core.ProbeBit] == ["startup", "readiness", "liveness"]
    both = _core.ProbeBit.readiness | _core.ProbeBit.liveness
    result = _core.CheckResult(probes=both, name="db", ok=False, reason="down", duration=0.5)
    assert result.probes == int(both)
    assert _core.Verdict["reject"] is _core.Verdict.reject
    assert _core.Role["worker"] is _core.Role.worker
