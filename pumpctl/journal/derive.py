"""The derived pulse tables, written in the same transaction as the event they come from.

They hold nothing the events do not: the safety gate reads its history from them in one indexed
query instead of replaying the journal. An outcome without a prior intent for its slot is refused.
"""

from __future__ import annotations

import json
import sqlite3

from pumpctl.core.model import Outcome
from pumpctl.journal.chain import Envelope
from pumpctl.journal.events import EventKind

_INTENT = EventKind.PULSE_INTENT
_STARTED = EventKind.PULSE_STARTED
_RUN = EventKind.PULSE_RUN
_RESOLVING = frozenset({EventKind.PULSE_OUTCOME, EventKind.PULSE_RECONCILED})


class OrphanOutcomeError(ValueError):
    """An outcome names a slot that has no recorded intent."""


def derive_rows(
    conn: sqlite3.Connection,
    seq: int,
    env: Envelope,
) -> tuple[int, Outcome | None] | None:
    """Insert the derived rows for event ``seq`` (nothing for kinds that are not about pulses).

    Returns the intent touched and the outcome recorded for it (None for the intent itself), or
    None when the event is not about a pulse.
    """
    kind, wall_utc, _, elapsed_s, boot_id, payload_json = env
    if kind == _INTENT:
        payload = json.loads(payload_json)
        conn.execute(
            "INSERT INTO pulses (intent_seq, slot_id, intent_wall, elapsed_s, boot_id, dose_ug,"
            " volume_ul, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                payload["slot_id"],
                wall_utc,
                elapsed_s,
                boot_id,
                payload["dose_ug"],
                payload["volume_ul"],
                payload["duration_s"],
            ),
        )
        return seq, None
    if kind == _STARTED:
        intent_seq = _intent_of(conn, json.loads(payload_json)["slot_id"])
        conn.execute("INSERT INTO pulse_starts (seq, intent_seq) VALUES (?, ?)", (seq, intent_seq))
        return None
    if kind == _RUN:
        intent_seq = _intent_of(conn, json.loads(payload_json)["slot_id"])
        conn.execute("INSERT INTO pulse_runs (seq, intent_seq) VALUES (?, ?)", (seq, intent_seq))
        return None
    if kind in _RESOLVING:
        payload = json.loads(payload_json)
        row = (_intent_of(conn, payload["slot_id"]),)
        outcome = Outcome(payload["outcome"])
        conn.execute(
            "INSERT INTO pulse_outcomes (seq, intent_seq, outcome, delivered_volume_ul)"
            " VALUES (?, ?, ?, ?)",
            (seq, row[0], outcome.value, payload.get("delivered_volume_ul")),
        )
        return int(row[0]), outcome
    return None


def _intent_of(conn: sqlite3.Connection, slot_id: str) -> int:
    """The latest intent recorded for ``slot_id``; a record about a pulse needs one."""
    row = conn.execute(
        "SELECT intent_seq FROM pulses WHERE slot_id = ? ORDER BY intent_seq DESC LIMIT 1",
        (slot_id,),
    ).fetchone()
    if row is None:
        raise OrphanOutcomeError(
            f"slot_id = {slot_id!r}: no pulse intent recorded for this slot; an outcome "
            "is allowed only after the slot's intent"
        )
    return int(row[0])
