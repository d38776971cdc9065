"""The journal's pure parts: canonical bytes, links, anchors, classification, export."""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pumpctl.core.model import Outcome
from pumpctl.core.reconcile import classify_delivery
from pumpctl.journal.chain import (
    GENESIS_HASH,
    Envelope,
    Head,
    canonical_json,
    link_hash,
    record_bytes,
)
from pumpctl.journal.events import EventKind
from pumpctl.journal.export import EXPORT_SCHEMA, export_slots
from pumpctl.journal.query import EventRow


def test_canonical_json_is_sorted_compact_and_exact() -> None:
    """Canonical JSON sorts keys, drops whitespace and writes decimals as exact strings."""
    text = canonical_json({"b": Decimal("0.1"), "a": [1, "é"], "c": Outcome.PARTIAL})
    assert text == '{"a":[1,"\\u00e9"],"b":"0.1","c":"PARTIAL"}'


def test_canonical_json_refuses_values_it_cannot_write_exactly() -> None:
    """Non-finite numbers and unknown objects are refused rather than written lossily."""
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON"):
        canonical_json({"x": object()})


def test_record_bytes_equal_the_canonical_json_of_the_record() -> None:
    """The hand-built record bytes are exactly the canonical JSON another verifier would build."""
    payload = {"slot_id": "s-1", "dose_ug": "5", "note": 'quote " and \\'}
    env = Envelope(
        "pulse.intent",
        "2026-01-05T08:00:00.000000+00:00",
        60,
        1234.5,
        "b\u00e9",
        canonical_json(payload),
    )
    expected = canonical_json(
        {
            "kind": env.kind,
            "wall_utc": env.wall_utc,
            "utc_offset_min": 60,
            "elapsed_s": 1234.5,
            "boot_id": env.boot_id,
            "payload": payload,
        }
    ).encode()
    assert record_bytes(env) == expected


def test_link_hash_is_sha256_of_previous_hash_bytes_then_record() -> None:
    """SR-20: each link is SHA-256 over the previous hash's 32 bytes followed by the record."""
    body = b'{"x":1}'
    assert link_hash(GENESIS_HASH, body) == hashlib.sha256(bytes(32) + body).hexdigest()


def test_head_parse_round_trips_and_refuses_malformed_anchors() -> None:
    """An anchor prints as SEQ:HASH, parses back, and malformed ones name what is allowed."""
    head = Head(42, "ab" * 32)
    assert Head.parse(str(head)) == head
    for bad in ("42", "0:" + "ab" * 32, "x:" + "ab" * 32, "5:abc", "5:" + "zz" * 32):
        with pytest.raises(ValueError, match="SEQ:HASH"):
            Head.parse(bad)


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        ("0", Outcome.NOT_DELIVERED),
        ("44.999", Outcome.PARTIAL),
        ("45", Outcome.DELIVERED),
        ("50", Outcome.DELIVERED),
    ],
)
def test_classify_delivery_marks_less_than_90_percent_partial(
    delivered: str, expected: Outcome
) -> None:
    """SR-07: below 90 % of the requested volume is PARTIAL; nothing measured is NOT_DELIVERED."""
    assert classify_delivery(Decimal(50), Decimal(delivered)) is expected


def test_classify_delivery_refuses_negative_volume() -> None:
    """A negative measured volume is a bad reading, named in the error."""
    with pytest.raises(ValueError, match="delivered_volume_ul = -1"):
        classify_delivery(Decimal(50), Decimal(-1))


def _event(seq: int, kind: EventKind, minute: int, **payload: Any) -> EventRow:
    return EventRow(
        seq=seq,
        kind=kind.value,
        wall=datetime(2026, 1, 5, 8, minute, tzinfo=UTC),
        utc_offset_min=0,
        elapsed_s=float(seq),
        boot_id="b",
        payload=json.loads(canonical_json(payload)),
        hash="00" * 32,
    )


def test_export_folds_events_into_one_row_per_slot() -> None:
    """Export gives one row per slot with its times, volumes, dose, outcome, denials and alarms."""
    slot = {"scheduled_utc": "2026-01-05T08:00:00.000000+00:00", "dose_ug": "5", "volume_ul": "50"}
    events = [
        _event(1, EventKind.SLOT_SCHEDULED, 0, slot_id="a", **slot),
        _event(2, EventKind.GATE_DECISION, 1, slot_id="a", allowed=True, reasons=[]),
        _event(3, EventKind.PULSE_INTENT, 1, slot_id="a", **slot),
        _event(
            4, EventKind.ALARM_RAISED, 2, slot_id="a", alarm_id="x", code="stall", priority="high"
        ),
        _event(
            5,
            EventKind.PULSE_OUTCOME,
            2,
            slot_id="a",
            outcome="PARTIAL",
            delivered_volume_ul="25",
            started_utc="2026-01-05T08:01:00.000000+00:00",
            ended_utc="2026-01-05T08:02:00.000000+00:00",
        ),
        _event(6, EventKind.SLOT_SCHEDULED, 3, slot_id="b", **slot),
        _event(7, EventKind.GATE_DECISION, 3, slot_id="b", allowed=False, reasons=["min-interval"]),
        _event(
            8,
            EventKind.SLOT_MISSED,
            4,
            slot_id="b",
            scheduled_utc=slot["scheduled_utc"],
            reasons=["min-interval"],
        ),
        _event(9, EventKind.DAEMON_STOP, 5, reason="signal"),
    ]
    a, b = export_slots(events)
    assert a["schema"] == EXPORT_SCHEMA
    assert (a["slot_id"], a["outcome"], a["resolved_by"]) == ("a", "PARTIAL", "delivery")
    assert a["intent_utc"] == "2026-01-05T08:01:00.000000+00:00"
    assert (a["requested_volume_ul"], a["delivered_volume_ul"]) == ("50", "25")
    assert (a["requested_dose_ug"], a["delivered_dose_ug"]) == ("5", "2.500")
    assert a["start_utc"] == "2026-01-05T08:01:00.000000+00:00"
    assert a["alarms"][0]["code"] == "stall"
    assert (b["outcome"], b["denial_reasons"], b["missed_reasons"]) == (
        "MISSED",
        ["min-interval"],
        ["min-interval"],
    )
    assert b["intent_utc"] is None
