"""Build a :class:`Report` from a journal file: verify it, read it read-only, fold its events.

The journal is opened read-only and never changed; a tampered or damaged journal still gives a
report, whose integrity verdict says so. Slots come from the journal's own export fold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pumpctl.core.gate import resolve_threshold
from pumpctl.core.model import Limits, Outcome
from pumpctl.errors import JournalError
from pumpctl.journal.events import EventKind
from pumpctl.journal.export import export_slots
from pumpctl.journal.query import EventRow, iter_events
from pumpctl.journal.store import connect
from pumpctl.journal.verify import verify
from pumpctl.report import stats
from pumpctl.report.model import (
    AlarmRow,
    Change,
    Integrity,
    Report,
    SlotRow,
    Suspension,
)

_CATEGORY = {
    Outcome.DELIVERED: "delivered",
    Outcome.PARTIAL: "partial",
    Outcome.OVER_DELIVERED: "over-delivered",  # the measured (larger) volume is its dose (SR-25)
    Outcome.NOT_DELIVERED: "not-delivered",
    Outcome.UNCERTAIN: "uncertain",
    "PENDING": "uncertain",  # an intent without outcome counts as uncertain (SR-09)
    "DENIED": "denied",
    "SCHEDULED": "open",
}


def _dec(text: object) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def _time(text: object) -> datetime | None:
    return None if not isinstance(text, str) else datetime.fromisoformat(text).astimezone(UTC)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report is built and written.

    A report allocates hundreds of thousands of small acyclic objects (records, rows); the
    collector would rescan them again and again, which cost a ten-year report about 40 % of
    its time. Reference counting still frees everything; the collector resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Records that describe the whole therapy, read in full whatever the period.
CONTEXT_KINDS = (
    EventKind.DAEMON_START,
    EventKind.PRESCRIPTION_CHANGE,
    EventKind.LIMITS_CHANGE,
    EventKind.DELIVERY_SUSPENDED,
    EventKind.DELIVERY_RESUMED,
)

#: Records of a slot are written from its window's start (the slot time, less the gate's early
#: tolerance of seconds) on; a day of margin before the period keeps every one of them.
READ_MARGIN = timedelta(days=1)


def read_events(path: Path, since: datetime | None = None) -> list[EventRow]:
    """Records in journal order, read-only; from ``since`` (less a margin) plus the context.

    A damaged file raises :class:`JournalError`.
    """
    conn = connect(path, writable=False)
    try:
        if since is None:
            return list(iter_events(conn))
        context = iter_events(conn, kinds=CONTEXT_KINDS, until=since - READ_MARGIN)
        recent = iter_events(conn, since=since - READ_MARGIN)
        # Journal order even if the wall clock once stepped back between the two reads.
        return sorted([*context, *recent], key=lambda e: e.seq)
    except (sqlite3.Error, ValueError) as err:
        raise JournalError(f"journal {path}: records cannot be read ({err})") from err
    finally:
        conn.close()


def integrity_of(path: Path) -> Integrity:
    result = verify(path)
    problem = None
    if result.problem is not None:
        p = result.problem
        problem = f"{p.diagnosis.value} at record {p.seq}: {p.message}"
    head = result.head
    return Integrity(
        ok=result.ok,
        records=result.records,
        head_seq=None if head is None else head.seq,
        head_hash=None if head is None else head.hash,
        problem=problem,
        warnings=tuple(result.warnings),
    )


def limits_from(payload: dict[str, Any] | None) -> Limits:
    """Limits from a journaled dict; unknown or missing fields keep their defaults."""
    if not payload:
        return Limits()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        if f.name not in payload or payload[f.name] is None:
            continue
        default = getattr(Limits(), f.name)
        raw = payload[f.name]
        values[f.name] = (
            Decimal(str(raw))
            if isinstance(default, Decimal)
            else int(raw)
            if isinstance(default, int)
            else float(raw)
        )
    try:
        return Limits(**values)
    except (TypeError, ValueError):
        return Limits()


def _in_force(
    records: Sequence[tuple[datetime, dict[str, Any]]], at: datetime | None
) -> dict[str, Any] | None:
    """The last record at or before ``at``; the first one when none precedes it."""
    if not records:
        return None
    if at is None:
        return records[0][1]
    before = [payload for when, payload in records if when <= at]
    return before[-1] if before else records[0][1]


def _alarms(events: Sequence[EventRow]) -> list[AlarmRow]:
    alarms: dict[str, AlarmRow] = {}
    for e in events:
        p = e.payload
        alarm_id = str(p.get("alarm_id", ""))
        current = alarms.get(alarm_id)
        if e.kind == EventKind.ALARM_RAISED:
            if current is None:
                alarms[alarm_id] = AlarmRow(
                    alarm_id=alarm_id,
                    code=str(p.get("code", "")),
                    priority=str(p.get("priority", "")),
                    message=str(p.get("message", "")),
                    raised=e.wall,
                    slot_id=p.get("slot_id"),
                )
            else:  # raised again: an escalation keeps the first time and takes the new priority
                alarms[alarm_id] = dataclasses.replace(current, priority=str(p.get("priority")))
        elif current is None:
            continue
        elif e.kind == EventKind.ALARM_ACKNOWLEDGED and current.acknowledged is None:
            alarms[alarm_id] = dataclasses.replace(
                current,
                acknowledged=e.wall,
                acknowledged_by=str(p.get("who")),
                acknowledge_note=str(p.get("note", "")),
            )
        elif e.kind == EventKind.ALARM_SILENCED:
            alarms[alarm_id] = dataclasses.replace(
                current, silenced_by=str(p.get("who")), silenced_until=p.get("until_utc")
            )
        elif e.kind == EventKind.ALARM_CLEARED and current.cleared is None:
            alarms[alarm_id] = dataclasses.replace(
                current, cleared=e.wall, cleared_why=str(p.get("why", ""))
            )
    return list(alarms.values())


def _suspensions(events: Sequence[EventRow]) -> list[Suspension]:
    out: list[Suspension] = []
    for e in events:
        p = e.payload
        if e.kind == EventKind.DELIVERY_SUSPENDED:
            out.append(Suspension(e.wall, str(p.get("who")), str(p.get("reason", ""))))
        elif e.kind == EventKind.DELIVERY_RESUMED and out and out[-1].ended is None:
            out[-1] = dataclasses.replace(
                out[-1],
                ended=e.wall,
                resumed_by=str(p.get("who")),
                resume_reason=str(p.get("reason", "")),
            )
    return out


def _slot_rows(
    events: Sequence[EventRow], prescriptions: Sequence[tuple[datetime, dict[str, Any]]]
) -> tuple[list[SlotRow], dict[str, Decimal]]:
    missed_detail: dict[str, str] = {}
    durations: dict[str, Decimal] = {}
    for e in events:
        if e.kind == EventKind.SLOT_MISSED:
            missed_detail[str(e.payload.get("slot_id"))] = str(e.payload.get("detail", ""))
        elif (
            e.kind in (EventKind.PULSE_INTENT, EventKind.SLOT_SCHEDULED)
            and "duration_s" in e.payload
        ):
            durations[str(e.payload["slot_id"])] = Decimal(str(e.payload["duration_s"]))
    rows: list[SlotRow] = []
    last_dose: Decimal | None = None
    for r in export_slots(events):
        scheduled = _time(r["scheduled_utc"])
        outcome = str(r["outcome"])
        reasons = tuple(r["denial_reasons"]) or tuple(r["missed_reasons"])
        category = _CATEGORY.get(outcome, "missed")
        if outcome == "MISSED" and reasons:
            category = "denied"  # missed because the gate kept denying it until its window closed
        elif outcome == "MISSED":
            reasons = (missed_detail.get(r["slot_id"]) or "no delivery attempt in its window",)
        dose = _dec(r["requested_dose_ug"])
        if dose is None:
            in_force = _in_force(prescriptions, scheduled)
            dose = _dec(in_force.get("dose_ug")) if in_force else last_dose
        last_dose = dose
        rows.append(
            SlotRow(
                slot_id=r["slot_id"],
                scheduled=scheduled,
                category=category,
                outcome=outcome,
                prescribed_dose_ug=dose,
                delivered_dose_ug=_dec(r["delivered_dose_ug"]),
                requested_volume_ul=_dec(r["requested_volume_ul"]),
                delivered_volume_ul=_dec(r["delivered_volume_ul"]),
                started=_time(r["start_utc"]),
                ended=_time(r["end_utc"]),
                reasons=reasons,
                resolved_by=r["resolved_by"],
                alarm_codes=tuple(str(a["code"]) for a in r["alarms"]),
            )
        )
    return rows, durations


def _reference(
    prescription: dict[str, Any] | None, rows: Sequence[SlotRow], durations: dict[str, Decimal]
) -> tuple[Decimal, Decimal] | None:
    """(dose µg, duration s) whose single-pulse peak scales the threshold to pg/mL.

    The prescription's when recorded; otherwise the largest planned dose of the period's slots
    (the gate, too, scales by the largest dose involved) at the longest planned duration.
    """
    if prescription and prescription.get("dose_ug") is not None:
        duration = _dec(prescription.get("pulse_duration_s")) or Decimal(60)
        return Decimal(str(prescription["dose_ug"])), duration
    doses = [r.prescribed_dose_ug for r in rows if r.prescribed_dose_ug]
    planned = [durations[r.slot_id] for r in rows if r.slot_id in durations]
    if not doses or not planned:
        return None
    return max(doses), max(planned)


def _within(when: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if when is None:
        return start is None and end is None
    return (start is None or when >= start) and (end is None or when < end)


def build_report(
    journal_path: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    curve: bool = True,
) -> Report:
    """Everything the journal says about ``[start, end)`` (default: all of it).

    ``curve=False`` skips sampling the exposure curve (formats that do not show it).
    """
    with paused_gc():
        return _build(journal_path, start, end, now, curve)


def _build(
    journal_path: Path,
    start: datetime | None,
    end: datetime | None,
    now: datetime | None,
    curve: bool,
) -> Report:
    if start is not None and end is not None and end <= start:
        raise ValueError(
            f"--to = {end.isoformat()}: allowed a time after --from = {start.isoformat()}"
        )
    integrity = integrity_of(journal_path)
    events = read_events(journal_path, since=start)
    starts = [e for e in events if e.kind == EventKind.DAEMON_START]
    started = [{"when": e.wall, **e.payload} for e in starts]
    changes = [
        Change(
            e.seq,
            e.wall,
            e.kind.split(".")[0],
            str(e.payload.get("who")),
            str(e.payload.get("why")),
            e.payload.get("old"),
            e.payload.get("new") or {},
        )
        for e in events
        if e.kind in (EventKind.PRESCRIPTION_CHANGE, EventKind.LIMITS_CHANGE)
    ]
    # daemon.start may carry the configuration's prescription and limits (newer daemons do).
    prescriptions = sorted(
        [(c.when, c.new) for c in changes if c.what == "prescription"]
        + [(e.wall, e.payload["prescription"]) for e in starts if e.payload.get("prescription")],
        key=lambda item: item[0],
    )
    limit_records = sorted(
        [(c.when, c.new) for c in changes if c.what == "limits"]
        + [(e.wall, e.payload["limits"]) for e in starts if e.payload.get("limits")],
        key=lambda item: item[0],
    )
    prescription = _in_force(prescriptions, start)
    limits_payload = _in_force(limit_records, start)
    limits = limits_from(limits_payload)
    tz_name = str(prescription.get("timezone", "UTC")) if prescription else "UTC"
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone, tz_name = ZoneInfo("UTC"), "UTC"

    rows, durations = _slot_rows(events, prescriptions)
    rows = [r for r in rows if _within(r.scheduled, start, end)]
    alarms = [a for a in _alarms(events) if _within(a.raised, start, end)]
    suspensions = [
        s
        for s in _suspensions(events)
        if (end is None or s.started < end)
        and (start is None or s.ended is None or s.ended > start)
    ]
    days, total = stats.tally(rows, zone)
    reference = _reference(prescription, rows, durations)
    exposure, fractions = stats.exposure(
        rows, durations, resolve_threshold(limits), reference, curve=curve
    )
    last = started[-1] if started else {}
    return Report(
        journal_path=str(journal_path),
        generated=(now or datetime.now(UTC)).astimezone(UTC),
        period_from=start,
        period_to=end,
        timezone=tz_name,
        subject=last.get("subject"),
        pump=last.get("pump"),
        daemon_starts=tuple(started),
        integrity=integrity,
        prescription_in_force=prescription,
        limits_in_force=limits_payload,
        changes=tuple(c for c in changes if _within(c.when, start, end)),
        slots=tuple(rows),
        days=tuple(days),
        total=total,
        intervals=stats.intervals(rows, limits.min_interval_min),
        alarms=tuple(alarms),
        suspensions=tuple(suspensions),
        exposure=exposure,
        pre_pulse_fractions=fractions,
    )
