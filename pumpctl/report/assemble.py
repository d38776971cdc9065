"""Fold journal records into a :class:`Report`: a pure function of the records and the verdict.

:func:`report_from_events` is the report's one entry point for records from anywhere: a SQLite
journal (``build.build_report`` reads one and calls it) or rows replicated elsewhere, turned into
:class:`~pumpctl.journal.query.EventRow` by their reader. It needs the records in journal order:
every record of the period (plus :data:`READ_MARGIN` before it) and the context kinds
(:data:`CONTEXT_KINDS`) from the start of the journal.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pumpctl.core.alarm_kinds import AlarmKind, Priority
from pumpctl.core.exposure import Infusion
from pumpctl.core.gate import resolve_threshold
from pumpctl.core.model import START_LATENCY_BOUND, Limits
from pumpctl.journal.events import EventKind
from pumpctl.journal.export import export_slots
from pumpctl.journal.query import EventRow
from pumpctl.report import stats
from pumpctl.report.model import (
    AlarmRow,
    Change,
    Flow,
    Integrity,
    LinkedAlarm,
    Report,
    Safety,
    SlotRow,
    Suspension,
)
from pumpctl.report.outcomes import NO_ATTEMPT, NO_OUTCOME, SlotOutcome, classify
from pumpctl.report.words import NOT_RECORDED, flow_words, limits_of, local_time

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

#: Alarm codes that report flow no pulse commanded when they name no slot (SR-06). Unexplained
#: flow (SR-26) is listed from its own ``flow.unexplained`` records, which carry its volume.
FLOW_ALARMS = frozenset((AlarmKind.UNINTENDED_FLOW,))
#: A flow record's id, as the gate names it when rebuilt from the journal
#: (``pumpctl.daemon.flow_watch.record_from_event``): ``flow-<seq>``.
FLOW_ID_PREFIX = "flow-"
ALARM_KINDS = frozenset(
    (
        EventKind.ALARM_RAISED,
        EventKind.ALARM_ACKNOWLEDGED,
        EventKind.ALARM_SILENCED,
        EventKind.ALARM_CLEARED,
    )
)


def _dec(text: object) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text) if text.__class__ is str else Decimal(str(text))
    except InvalidOperation:
        return None


def _time(text: object) -> datetime | None:
    """A journal time as aware UTC (journal times are already UTC: no conversion then)."""
    if text.__class__ is not str:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is UTC:
        return when
    return None if when.tzinfo is None else when.astimezone(UTC)


def limits_from(payload: dict[str, Any] | None) -> Limits:
    """Limits from a journaled dict; unknown or missing fields keep their defaults."""
    return limits_of(payload) if payload else Limits()


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
    """Each alarm from its raise to its clearing; a kind raised again after it cleared is a
    new alarm, raised again before (an escalation) keeps its first time and takes the new
    priority and slot."""
    rows: list[AlarmRow] = []
    open_: dict[str, int] = {}  # alarm id -> index in rows, until cleared
    for e in events:
        kind = e.kind
        if kind not in ALARM_KINDS:
            continue
        p = e.payload
        alarm_id = _text(p.get("alarm_id"), "")
        at = open_.get(alarm_id)
        if kind == EventKind.ALARM_RAISED:
            slot = p.get("slot_id")
            slots = (slot,) if isinstance(slot, str) else ()
            if at is None:
                open_[alarm_id] = len(rows)
                rows.append(
                    AlarmRow(
                        alarm_id=alarm_id,
                        code=_text(p.get("code"), ""),
                        priority=_text(p.get("priority"), ""),
                        message=_text(p.get("message"), ""),
                        raised=e.wall,
                        slot_ids=slots,
                    )
                )
            else:
                current = rows[at]
                merged = current.slot_ids + tuple(s for s in slots if s not in current.slot_ids)
                priority = _text(p.get("priority"))
                rows[at] = dataclasses.replace(current, priority=priority, slot_ids=merged)
                if (
                    priority != current.priority
                ):  # escalated: the daemon asks a fresh acknowledgement
                    rows[at] = dataclasses.replace(
                        rows[at], acknowledged=None, acknowledged_by=None, acknowledge_note=None
                    )
        elif at is None:
            continue
        elif kind == EventKind.ALARM_ACKNOWLEDGED and rows[at].acknowledged is None:
            rows[at] = dataclasses.replace(
                rows[at],
                acknowledged=e.wall,
                acknowledged_by=_text(p.get("who")),
                acknowledge_note=_text(p.get("note"), ""),
            )
        elif kind == EventKind.ALARM_SILENCED:
            rows[at] = dataclasses.replace(
                rows[at], silenced_by=_text(p.get("who")), silenced_until=p.get("until_utc")
            )
        elif kind == EventKind.ALARM_CLEARED:
            rows[at] = dataclasses.replace(
                rows[at], cleared=e.wall, cleared_why=_text(p.get("why"), "")
            )
            del open_[alarm_id]
    return rows


def _suspensions(events: Sequence[EventRow]) -> list[Suspension]:
    out: list[Suspension] = []
    for e in events:
        p = e.payload
        if e.kind == EventKind.DELIVERY_SUSPENDED:
            out.append(Suspension(e.wall, _text(p.get("who")), _text(p.get("reason"), "")))
        elif e.kind == EventKind.DELIVERY_RESUMED and out and out[-1].ended is None:
            out[-1] = dataclasses.replace(
                out[-1],
                ended=e.wall,
                resumed_by=_text(p.get("who")),
                resume_reason=_text(p.get("reason"), ""),
            )
    return out


def _slot_rows(
    events: Sequence[EventRow], prescriptions: Sequence[tuple[datetime, dict[str, Any]]]
) -> list[SlotRow]:
    """One row per slot from the journal's own export fold, in the report's vocabulary."""
    rows: list[SlotRow] = []
    append = rows.append
    last_dose: Decimal | None = None
    dec, time_ = _dec, _time
    for r in export_slots(events):
        slot_id = r["slot_id"]
        scheduled = time_(r["scheduled_utc"])
        export_outcome = r["outcome"]
        gate_reasons = tuple(r["denial_reasons"] or r["missed_reasons"])
        alarms = tuple(
            LinkedAlarm(str(a["alarm_id"]), str(a["code"]), str(a["priority"])) for a in r["alarms"]
        )
        requested = dec(r["requested_volume_ul"])
        delivered = dec(r["delivered_volume_ul"])
        outcome = classify(
            export_outcome,
            gate_reasons=gate_reasons,
            requested_volume_ul=requested,
            delivered_volume_ul=delivered,
            alarm_codes=[a.code for a in alarms] if alarms else (),
        )
        reasons = gate_reasons
        if outcome is SlotOutcome.MISSED:
            reasons = (r["missed_detail"] or NO_ATTEMPT,)
        elif export_outcome == "PENDING":
            reasons = (NO_OUTCOME,)
        dose = dec(r["requested_dose_ug"])
        if dose is None:
            in_force = _in_force(prescriptions, scheduled)
            dose = dec(in_force.get("dose_ug")) if in_force else last_dose
        last_dose = dose
        append(
            SlotRow(
                slot_id,
                scheduled,
                outcome,
                dose,
                dec(r["delivered_dose_ug"]),
                requested,
                delivered,
                time_(r["start_utc"]),
                time_(r["end_utc"]),
                reasons,
                r["resolved_by"],
                alarms,
                dec(r["requested_duration_s"]),
            )
        )
    return rows


def _flow_record(e: EventRow, zone: ZoneInfo) -> Flow:
    """A ``flow.unexplained`` record as the report lists it: its own volume, dose and words."""
    p = e.payload
    volume, dose = _dec(p.get("volume_ul")), _dec(p.get("dose_ug"))
    since = _time(p.get("since_utc"))
    where = _text(p.get("where"), "where not recorded")
    moving = p.get("moving") is True
    detail = flow_words(
        volume_ul=volume,
        dose_ug=dose,
        totals_ul=_dec(p.get("totals_ul")),
        expected_ul=_dec(p.get("expected_ul")),
        since=since,
        where=where,
        moving=moving,
        zone=zone,
        pump_reset=p.get("pump_reset") is True,
    )
    return Flow(
        when=e.wall,
        volume_ul=volume,
        dose_ug=dose if volume is not None else None,
        detail=detail,
        flow_id=f"{FLOW_ID_PREFIX}{e.seq}",
        since=since,
        where=where,
        moving=moving,
        totals_fell=volume is None,
        pump_reset=p.get("pump_reset") is True,
    )


def _tells_of(alarm: AlarmRow, flow: Flow) -> bool:
    """Whether an unintended-flow alarm saw the flow a record measured: raised in the window
    the flow happened in (after the totals last read as expected, by the time it was found)
    and still standing when it was found."""
    return (
        alarm.raised <= flow.when
        and (flow.since is None or flow.since <= alarm.raised)
        and (alarm.cleared is None or alarm.cleared >= flow.when)
    )


def _flows(events: Sequence[EventRow], alarms: Sequence[AlarmRow], zone: ZoneInfo) -> list[Flow]:
    """Flow no pulse commanded (SR-26), in the order found: every ``flow.unexplained`` record,
    and each unintended-flow alarm that names no slot, unless a record measured the same flow
    (then it is named on that record's entry, not listed twice)."""
    flows: list[Flow] = []
    waiting: int | None = None  # the last record, until the unexplained-flow alarm raised for it
    for e in events:
        if e.kind == EventKind.FLOW_UNEXPLAINED:
            flows.append(_flow_record(e, zone))
            waiting = len(flows) - 1
        elif e.kind == EventKind.PULSE_INTENT:
            waiting = None
        elif (
            waiting is not None
            and e.kind == EventKind.ALARM_RAISED
            and e.payload.get("code") == AlarmKind.UNEXPLAINED_FLOW
        ):
            # Found before clearing the totals for a pulse: the daemon refused that slot and
            # named it on the alarm it raised for the flow.
            slot = e.payload.get("slot_id")
            if isinstance(slot, str):
                f = flows[waiting]
                flows[waiting] = dataclasses.replace(
                    f, slot_id=slot, detail=f"{f.detail}; slot {slot} was not started for it"
                )
            waiting = None
    for a in alarms:
        if a.code not in FLOW_ALARMS or a.slot_ids:
            continue
        at = next((k for k, f in enumerate(flows) if f.flow_id and _tells_of(a, f)), None)
        if at is None:
            flows.append(
                Flow(
                    when=a.raised,
                    volume_ul=None,
                    dose_ug=None,
                    detail=f"volume unknown: {a.message} (the {a.code} alarm; no reading of "
                    "the pump's totals measured it)",
                    alarm_ids=(a.alarm_id,),
                )
            )
        else:
            f = flows[at]
            flows[at] = dataclasses.replace(
                f,
                alarm_ids=(*f.alarm_ids, a.alarm_id),
                detail=f"{f.detail}; the {a.code} alarm at {local_time(a.raised, zone)} told "
                "of the same flow",
            )
    return sorted(flows, key=lambda f: f.when)


def _reference(
    prescription: dict[str, Any] | None, rows: Sequence[SlotRow]
) -> tuple[Decimal, Decimal] | None:
    """(dose µg, duration s) whose single-pulse peak scales the threshold to pg/mL.

    The prescription's when recorded; otherwise the largest planned dose of the period's slots
    (the gate, too, scales by the largest dose involved) at the longest planned duration.
    """
    if prescription and prescription.get("dose_ug") is not None:
        duration = _dec(prescription.get("pulse_duration_s")) or Decimal(60)
        return Decimal(str(prescription["dose_ug"])), duration
    doses = [r.prescribed_dose_ug for r in rows if r.prescribed_dose_ug]
    planned = [r.duration_s for r in rows if r.duration_s is not None]
    if not doses or not planned:
        return None
    return max(doses), max(planned)


def _text(value: object, missing: str = NOT_RECORDED) -> str:
    """A journaled text; a missing one as ``missing`` (never the word None)."""
    return missing if value is None else str(value)


def _mapping(value: object) -> dict[str, Any] | None:
    """A journaled object as a dict; anything else (a record written oddly) as not recorded."""
    return dict(value) if isinstance(value, dict) and value else None


def _within(when: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if when is None:
        return start is None and end is None
    return (start is None or when >= start) and (end is None or when < end)


def _zone(prescription: dict[str, Any] | None) -> tuple[str, ZoneInfo]:
    name = str(prescription.get("timezone") or "UTC") if prescription else "UTC"
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC", ZoneInfo("UTC")


def _safety(rows: Sequence[SlotRow], alarms: Sequence[AlarmRow], flows: Sequence[Flow]) -> Safety:
    by_priority = {str(p): 0 for p in Priority}
    for a in alarms:
        by_priority[a.priority] = by_priority.get(a.priority, 0) + 1
    return Safety(
        over_delivered=tuple(r for r in rows if r.outcome is SlotOutcome.OVER_DELIVERED),
        unexplained_flow=tuple(flows),
        uncertain=tuple(r for r in rows if r.outcome is SlotOutcome.UNCERTAIN),
        alarms_by_priority=by_priority,
        unacknowledged_high=sum(
            1 for a in alarms if a.priority == Priority.HIGH and a.acknowledged is None
        ),
    )


def report_from_events(
    events: Iterable[EventRow],
    integrity: Integrity,
    *,
    source: str,
    journal_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    curve: stats.CurveMode = "always",
) -> Report:
    """Everything the records say about ``[start, end)`` (default: all of them).

    ``source`` names where the records came from (a journal path); ``journal_id`` is a stable
    URN of the journal (:func:`pumpctl.report.build.journal_urn`). ``curve`` says when to sample
    the exposure curve (formats that do not show it skip the work).
    """
    if start is not None and end is not None and end <= start:
        raise ValueError(
            f"--to = {end.isoformat()}: allowed a time after --from = {start.isoformat()}"
        )
    events = list(events)
    starts = [e for e in events if e.kind == EventKind.DAEMON_START]
    started = [{"when": e.wall, **e.payload} for e in starts]
    changes = [
        Change(
            e.seq,
            e.wall,
            e.kind.split(".")[0],
            _text(e.payload.get("who")),
            _text(e.payload.get("why")),
            _mapping(e.payload.get("old")),
            _mapping(e.payload.get("new")) or {},
        )
        for e in events
        if e.kind in (EventKind.PRESCRIPTION_CHANGE, EventKind.LIMITS_CHANGE)
    ]
    # daemon.start may carry the configuration's prescription and limits (newer daemons do).
    prescriptions = sorted(
        [(c.when, c.new) for c in changes if c.what == "prescription"]
        + [(e.wall, p) for e in starts if (p := _mapping(e.payload.get("prescription")))],
        key=lambda item: item[0],
    )
    limit_records = sorted(
        [(c.when, c.new) for c in changes if c.what == "limits"]
        + [(e.wall, p) for e in starts if (p := _mapping(e.payload.get("limits")))],
        key=lambda item: item[0],
    )
    prescription = _in_force(prescriptions, start)
    limits_payload = _in_force(limit_records, start)
    limits = limits_from(limits_payload)
    tz_name, zone = _zone(prescription)

    rows = [r for r in _slot_rows(events, prescriptions) if _within(r.scheduled, start, end)]
    every_alarm = _alarms(events)
    alarms = [a for a in every_alarm if _within(a.raised, start, end)]
    flows = [f for f in _flows(events, every_alarm, zone) if _within(f.when, start, end)]
    suspensions = [
        s
        for s in _suspensions(events)
        if (end is None or s.started < end)
        and (start is None or s.ended is None or s.ended > start)
    ]
    walls = [e.wall for e in events]
    # Every local day the period and the journal share is shown, a day with nothing on record
    # too: a silent day must be seen, not skipped. The period's end is exclusive.
    first_day = last_day = None
    if walls:
        since = max(w for w in (start, min(walls)) if w is not None)
        until = min(w for w in (end and end - timedelta(microseconds=1), max(walls)) if w)
        first_day, last_day = since.astimezone(zone).date(), until.astimezone(zone).date()
    days, total = stats.tally(rows, zone, first=first_day, last=last_day, flows=flows)
    exposed_starts = [t for r in rows if (t := stats.pulse_start(r)) is not None]
    origin = min([*exposed_starts, *(f.when for f in flows)], default=None)
    extra = [
        Infusion((f.when - origin).total_seconds() / 60, float(f.dose_ug), 0.0)
        for f in flows
        if origin is not None and f.dose_ug
    ]
    exposure, fractions = stats.exposure(
        rows,
        resolve_threshold(limits),
        _reference(prescription, rows),
        extra=extra,
        origin=origin,
        curve=curve,
    )
    last = started[-1] if started else {}
    return Report(
        source=source,
        journal_id=journal_id,
        generated=(now or datetime.now(UTC)).astimezone(UTC),
        period_from=start,
        period_to=end,
        first_record=min(walls, default=None),
        last_record=max(walls, default=None),
        timezone=tz_name,
        subject=_mapping(last.get("subject")),
        pump=_mapping(last.get("pump")),
        daemon_starts=tuple(started),
        integrity=integrity,
        prescription_in_force=prescription,
        limits_in_force=limits_payload,
        changes=tuple(c for c in changes if _within(c.when, start, end)),
        slots=tuple(rows),
        days=tuple(days),
        total=total,
        intervals=stats.intervals(rows, limits.min_interval_min, _interval_tolerance(started)),
        alarms=tuple(alarms),
        suspensions=tuple(suspensions),
        exposure=exposure,
        safety=_safety(rows, alarms, flows),
        pre_pulse_fractions=fractions,
    )


def _interval_tolerance(starts: Sequence[dict[str, Any]]) -> timedelta:
    """The gate's start-latency allowance on the journal's clock (docs/design.md).

    A daemon on a clock N x faster than real time (``pumpctl demo``) records ``time_scale`` N
    in ``daemon.start``, and every real latency is N x longer on its clock. The smallest scale
    any start recorded is used, so a real-time run is never judged leniently.
    """
    scales = []
    for start in starts:
        try:
            scale = float(start.get("time_scale", 1.0))
        except (TypeError, ValueError):
            scale = 1.0
        scales.append(scale if math.isfinite(scale) and scale > 0 else 1.0)
    return START_LATENCY_BOUND * min(scales, default=1.0)
