"""Tests for the control request schema: strict validation and clear error messages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpctl.daemon.control_protocol import (
    CODE_BAD_JSON,
    CODE_BAD_REQUEST,
    CODE_INVALID_ARGS,
    CODE_UNKNOWN_CMD,
    REQUEST_TYPES,
    RequestError,
    encode_reply,
    parse_request,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"cmd": "status"}', {"cmd": "status"}),
        ('{"cmd": "alarms"}', {"cmd": "alarms"}),
        (
            '{"cmd": "suspend", "reason": " line change "}',
            {"cmd": "suspend", "reason": "line change"},
        ),
        ('{"cmd": "resume"}', {"cmd": "resume", "reason": None}),
        (
            '{"cmd": "ack", "alarm_id": "pump-alarm-stall", "reason": "cleared"}',
            {"cmd": "ack", "alarm_id": "pump-alarm-stall", "reason": "cleared"},
        ),
        (
            '{"cmd": "silence", "alarm_id": "missed-pulse"}',
            {"cmd": "silence", "alarm_id": "missed-pulse", "minutes": 15},
        ),
        (
            '{"cmd": "reservoir_fill", "volume_ul": 2500.5}',
            {"cmd": "reservoir_fill", "volume_ul": Decimal("2500.5"), "reason": None},
        ),
    ],
)
def test_valid_requests_parse_to_typed_dicts(line: str, expected: dict[str, object]) -> None:
    """Each documented command parses, with defaults filled and text trimmed."""
    assert parse_request(line) == expected


def test_schema_covers_the_documented_commands() -> None:
    """The schema knows exactly the seven operator commands."""
    assert set(REQUEST_TYPES) == {
        "status", "suspend", "resume", "alarms", "ack", "silence", "reservoir_fill",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        (b"not json", CODE_BAD_JSON, "not valid JSON"),
        (b"\xff\xfe{}", CODE_BAD_JSON, "not valid JSON"),
        (b"[" * 100_000, CODE_BAD_JSON, "not valid JSON"),
        (b'{"cmd": "silence", "minutes": ' + b"1" * 5000 + b"}", CODE_BAD_JSON, "not valid JSON"),
        (b'["status"]', CODE_BAD_REQUEST, "must be a JSON object"),
        (b'{"reason": "x"}', CODE_BAD_REQUEST, "cmd: missing"),
        (b'{"cmd": 3}', CODE_BAD_REQUEST, "cmd: missing or not a string"),
        (b'{"cmd": "reboot"}', CODE_UNKNOWN_CMD, "unknown command 'reboot'"),
        (b'{"cmd": "suspend"}', CODE_INVALID_ARGS, "suspend: reason: required argument missing"),
        (b'{"cmd": "suspend", "reason": "   "}', CODE_INVALID_ARGS, "reason: string should"),
        (b'{"cmd": "status", "force": true}', CODE_INVALID_ARGS, "force: unknown argument"),
        (b'{"cmd": "silence", "alarm_id": "x", "minutes": "5"}', CODE_INVALID_ARGS, "minutes"),
        (b'{"cmd": "silence", "alarm_id": "x", "minutes": 61}', CODE_INVALID_ARGS, "minutes"),
        (b'{"cmd": "silence", "alarm_id": "x", "minutes": 0}', CODE_INVALID_ARGS, "minutes"),
        (b'{"cmd": "ack", "alarm_id": "../etc", "reason": "r"}', CODE_INVALID_ARGS, "alarm_id"),
        (b'{"cmd": "ack", "alarm_id": 7, "reason": "r"}', CODE_INVALID_ARGS, "alarm_id"),
        (b'{"cmd": "reservoir_fill", "volume_ul": -1}', CODE_INVALID_ARGS, "volume_ul"),
        (b'{"cmd": "reservoir_fill", "volume_ul": 0}', CODE_INVALID_ARGS, "volume_ul"),
        (b'{"cmd": "reservoir_fill", "volume_ul": 1e9}', CODE_INVALID_ARGS, "volume_ul"),
        (b'{"cmd": "reservoir_fill", "volume_ul": NaN}', CODE_INVALID_ARGS, "volume_ul"),
        (b'{"cmd": "reservoir_fill", "volume_ul": 1.0001}', CODE_INVALID_ARGS, "decimal places"),
        (b'{"cmd": "reservoir_fill", "volume_ul": true}', CODE_INVALID_ARGS, "volume_ul"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(
    line: bytes, code: str, message: str
) -> None:
    """SR-24: garbage and wrong arguments give an error code and a message naming the problem."""
    with pytest.raises(RequestError, match=message) as caught:
        parse_request(line)
    assert caught.value.code == code


def test_encode_reply_is_one_json_line_with_decimals_as_text() -> None:
    """Replies are single JSON lines; Decimal values keep their exact digits as strings."""
    line = encode_reply({"ok": True, "volume_ul": Decimal("0.1"), "text": "a\nb"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"ok": True, "volume_ul": "0.1", "text": "a\nb"}


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_requests = st.fixed_dictionaries(
    {"cmd": st.sampled_from([*REQUEST_TYPES, "x"])},
    optional={
        "reason": _json_values,
        "alarm_id": _json_values,
        "minutes": _json_values,
        "volume_ul": _json_values,
        "extra": _json_values,
    },
)


# No deadline: the machine is shared, and a slow example is not a failure of this property.
@settings(deadline=None)
@given(line=st.binary(max_size=200))
def test_any_bytes_parse_or_are_refused(line: bytes) -> None:
    """SR-24: arbitrary bytes either parse or raise RequestError, never another exception."""
    try:
        parse_request(line)
    except RequestError as err:
        assert str(err)


@settings(deadline=None)
@given(request=_requests)
def test_any_json_object_parses_or_is_refused(request: dict[str, object]) -> None:
    """SR-24: arbitrary request objects either validate or raise RequestError with a message."""
    try:
        parsed = parse_request(json.dumps(request))
    except RequestError as err:
        assert err.code in {CODE_UNKNOWN_CMD, CODE_INVALID_ARGS, CODE_BAD_JSON}
        assert str(err)
    else:
        assert parsed["cmd"] in REQUEST_TYPES
