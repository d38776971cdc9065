"""Export: one row per slot, folded from the journal's events, in a versioned JSON Lines schema.

A pure function of the events, so reports and tests can use it without a file. Decimal values are
exact strings; times are UTC ISO 8601. The schema is documented in ``docs/journal.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from pumpctl.journal.events import EventKind, utc_text
from pumpctl.journal.query import EventRow

#: Bump the number when a field changes meaning or disappears; adding a field keeps it.
EXPORT_SCHEMA = "pumpctl.journal.slots/1"
_DOSE_RESOLUTION = Decimal("0.001")


def _new_row(slot_id: str) -> dict[str, Any]:
    return {
        "schema": EXPORT_SCHEMA,
        "slot_id": slot_id,
        "scheduled_utc": None,
        "intent_utc": None,
        "start_utc": None,
        "end_utc": None,
        "requested_volume_ul": None,
        "requested_dose_ug": None,
        "requested_duration_s": None,
        "delivered_volume_ul": None,
        "delivered_dose_ug": None,
        "outcome": "SCHEDULED",
        "resolved_by": None,
        "denial_reasons": [],
        "missed_reasons": [],
        "missed_detail": None,
        "alarms": [],
    }


def _delivered_dose(row: dict[str, Any]) -> str | None:
    requested_ul, dose_ug, delivered_ul = (
        row["requested_volume_ul"],
        row["requested_dose_ug"],
        row["delivered_volume_ul"],
    )
    if requested_ul is None or dose_ug is None or delivered_ul is None:
        return None
    try:
        if Decimal(requested_ul) == 0:
            return "0"
        dose = Decimal(dose_ug) * Decimal(delivered_ul) / Decimal(requested_ul)
        return str(dose.quantize(_DOSE_RESOLUTION))
    except (InvalidOperation, TypeError, ValueError):
        return None  # a record that does not state numbers states no dose


def _apply(row: dict[str, Any], event: EventRow) -> None:
    p = event.payload
    kind = event.kind
    if kind in (EventKind.SLOT_SCHEDULED, EventKind.PULSE_INTENT):
        row["scheduled_utc"] = p.get("scheduled_utc", row["scheduled_utc"])
        row["requested_volume_ul"] = p.get("volume_ul")
        row["requested_dose_ug"] = p.get("dose_ug")
        row["requested_duration_s"] = p.get("duration_s")
    if kind == EventKind.PULSE_INTENT:
        row["intent_utc"] = utc_text(event.wall)
        row["outcome"] = "PENDING"
    elif kind == EventKind.GATE_DECISION and not p.get("allowed", True):
        reasons = row["denial_reasons"]
        reasons.extend(r for r in p.get("reasons", []) if r not in reasons)
        if row["intent_utc"] is None:
            row["outcome"] = "DENIED"
    elif kind in (EventKind.PULSE_OUTCOME, EventKind.PULSE_RECONCILED):
        row["outcome"] = p["outcome"]
        row["delivered_volume_ul"] = p.get("delivered_volume_ul")
        row["start_utc"] = p.get("started_utc", row["start_utc"])
        row["end_utc"] = p.get("ended_utc", row["end_utc"])
        row["resolved_by"] = (
            p.get("source", "delivery") if kind == EventKind.PULSE_RECONCILED else "delivery"
        )
        row["delivered_dose_ug"] = _delivered_dose(row)
    elif kind == EventKind.SLOT_MISSED:
        row["scheduled_utc"] = p.get("scheduled_utc", row["scheduled_utc"])
        row["missed_reasons"] = list(p.get("reasons", []))
        row["missed_detail"] = p.get("detail") or None
        if row["intent_utc"] is None:
            row["outcome"] = "MISSED"
    elif kind == EventKind.ALARM_RAISED:
        row["alarms"].append(
            {
                "alarm_id": p.get("alarm_id"),
                "code": p.get("code"),
                "priority": p.get("priority"),
                "raised_utc": utc_text(event.wall),
            }
        )


def export_slots(events: Iterable[EventRow]) -> list[dict[str, Any]]:
    """Fold events into one row per slot, in the order slots first appear in the journal."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        slot_id = event.payload.get("slot_id")
        if not isinstance(slot_id, str):
            continue
        row = rows.get(slot_id)
        if row is None:
            row = rows[slot_id] = _new_row(slot_id)
        _apply(row, event)
    return list(rows.values())


def write_jsonl(rows: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    """Write one JSON object per line; returns the number of rows written."""
    count = 0
    for row in rows:
        stream.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
        count += 1
    return count
