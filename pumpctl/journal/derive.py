"""The derived pulse tables, written in the same transaction as the event they come from.

They hold nothing the events do not: the safety gate reads its history from them in one indexed
query instead of replaying the journal. An outcome without a prior intent for its slot is refused.
The row each event gives is computed by one function (:func:`pulse_row`, :func:`start_row`,
:func:`run_row`, :func:`outcome_row`), used both when appending and when the tables are checked
against the verified chain (SR-28).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pumpctl.core.model import Outcome
from pumpctl.journal.chain import Envelope
from pumpctl.journal.events import EventKind

_INTENT = EventKind.PULSE_INTENT
_STARTED = EventKind.PULSE_STARTED
_RUN = EventKind.PULSE_RUN
_RESOLVING = frozenset({EventKind.PULSE_OUTCOME, EventKind.PULSE_RECONCILED})
#: The event kinds that derive rows; everything else derives nothing.
DERIVING_KINDS = (
    EventKind.PULSE_INTENT,
    EventKind.PULSE_STARTED,
    EventKind.PULSE_RUN,
    EventKind.PULSE_OUTCOME,
    EventKind.PULSE_RECONCILED,
)

#: Columns of ``pulses``, ``pulse_outcomes``, ``pulse_starts`` and ``pulse_runs`` in the order
#: the row tuples use.
PULSE_COLUMNS = (
    "intent_seq, slot_id, intent_wall, elapsed_s, boot_id, dose_ug, volume_ul, duration_s"
)
OUTCOME_COLUMNS = "seq, intent_seq, outcome, delivered_volume_ul"
START_COLUMNS = "seq, intent_seq"
RUN_COLUMNS = "seq, intent_seq"

PulseRow = tuple[int, str, str, float, str, str, str, str]
OutcomeRow = tuple[int, int, str, Any]
StartRow = tuple[int, int]
RunRow = tuple[int, int]


class OrphanOutcomeError(ValueError):
    """An outcome names a slot that has no recorded intent."""


def pulse_row(seq: int, env: Envelope) -> PulseRow:
    """The ``pulses`` row of intent event ``seq``."""
    _, wall_utc, _, elapsed_s, boot_id, payload_json = env
    payload = json.loads(payload_json)
    return (
        seq,
        payload["slot_id"],
        wall_utc,
        elapsed_s,
        boot_id,
        payload["dose_ug"],
        payload["volume_ul"],
        payload["duration_s"],
    )


def outcome_slot(env: Envelope) -> str:
    return str(json.loads(env.payload_json)["slot_id"])


def outcome_row(seq: int, env: Envelope, intent_seq: int | None) -> OutcomeRow:
    """The ``pulse_outcomes`` row of outcome event ``seq`` for the slot's latest intent."""
    payload = json.loads(env.payload_json)
    slot_id = payload["slot_id"]
    if intent_seq is None:
        raise OrphanOutcomeError(
            f"slot_id = {slot_id!r}: no pulse intent recorded for this slot; an outcome "
            "is allowed only after the slot's intent"
        )
    outcome = Outcome(payload["outcome"])
    return (seq, intent_seq, outcome.value, payload.get("delivered_volume_ul"))


def start_row(seq: int, env: Envelope, intent_seq: int | None) -> StartRow:
    """The ``pulse_starts`` row of ``pulse.started`` event ``seq`` for the slot's latest intent."""
    return (seq, _required_intent(env, intent_seq, "a start"))


def run_row(seq: int, env: Envelope, intent_seq: int | None) -> RunRow:
    """The ``pulse_runs`` row of ``pulse.run`` event ``seq`` for the slot's latest intent."""
    return (seq, _required_intent(env, intent_seq, "a RUN"))


def _required_intent(env: Envelope, intent_seq: int | None, what: str) -> int:
    if intent_seq is None:
        raise OrphanOutcomeError(
            f"slot_id = {outcome_slot(env)!r}: no pulse intent recorded for this slot; {what} "
            "is allowed only after the slot's intent"
        )
    return intent_seq


def derive_rows(
    conn: sqlite3.Connection,
    seq: int,
    env: Envelope,
) -> tuple[int, Outcome | None] | None:
    """Insert the derived rows for event ``seq`` (nothing for kinds that are not about pulses).

    Returns the intent touched and the outcome recorded for it (None for the intent itself), or
    None when the event is not about a pulse.
    """
    kind = env.kind
    if kind == _INTENT:
        conn.execute(
            f"INSERT INTO pulses ({PULSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608  (constant column list)
            pulse_row(seq, env),
        )
        return seq, None
    if kind == _STARTED:
        started = start_row(seq, env, _latest_intent(conn, outcome_slot(env)))
        conn.execute(
            f"INSERT INTO pulse_starts ({START_COLUMNS}) VALUES (?, ?)",  # noqa: S608  (constant column list)
            started,
        )
        return None
    if kind == _RUN:
        ran = run_row(seq, env, _latest_intent(conn, outcome_slot(env)))
        conn.execute(
            f"INSERT INTO pulse_runs ({RUN_COLUMNS}) VALUES (?, ?)",  # noqa: S608  (constant column list)
            ran,
        )
        return None
    if kind in _RESOLVING:
        derived = outcome_row(seq, env, _latest_intent(conn, outcome_slot(env)))
        conn.execute(
            f"INSERT INTO pulse_outcomes ({OUTCOME_COLUMNS}) VALUES (?, ?, ?, ?)",  # noqa: S608  (constant column list)
            derived,
        )
        return derived[1], Outcome(derived[2])
    return None


def _latest_intent(conn: sqlite3.Connection, slot_id: str) -> int | None:
    """The latest intent recorded for ``slot_id``, or None."""
    row = conn.execute(
        "SELECT intent_seq FROM pulses WHERE slot_id = ? ORDER BY intent_seq DESC LIMIT 1",
        (slot_id,),
    ).fetchone()
    return None if row is None else int(row[0])
