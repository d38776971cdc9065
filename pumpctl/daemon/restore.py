"""What a restarted daemon takes over from the journal before it decides anything (SR-30).

Alarms latch across a restart: an unacknowledged alarm (a high one blocks every pulse) is
rebuilt from its journaled transitions, and so are the operator's suspension and the safety
suspensions that only an acknowledgement ends (SR-06). The run of missed pulses (SR-22)
continues from the journaled missed-pulse reports, so a restart never resets its escalation.
Nothing here writes: the restored state produces no new journal records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pumpctl.core.alarm_kinds import AlarmKind, Priority
from pumpctl.core.model import Outcome
from pumpctl.daemon.alarms import CATALOGUE, Alarm, escalated
from pumpctl.journal import EventKind, Journal
from pumpctl.journal.query import EventRow

OPERATOR = "operator"

_KINDS = (
    EventKind.ALARM_RAISED,
    EventKind.ALARM_ACKNOWLEDGED,
    EventKind.ALARM_SILENCED,
    EventKind.ALARM_CLEARED,
    EventKind.DELIVERY_SUSPENDED,
    EventKind.DELIVERY_RESUMED,
    EventKind.PULSE_OUTCOME,
    EventKind.PULSE_RECONCILED,
)
_CONFIRMED = {Outcome.DELIVERED.value, Outcome.PARTIAL.value}


@dataclass
class Restored:
    """The latched state as the journal left it."""

    alarms: dict[str, Alarm] = field(default_factory=dict)
    operator_suspended: str | None = None
    safety_suspended: set[str] = field(default_factory=set)
    missed_in_row: int = 0
    missed_slots: set[str] = field(default_factory=set)


def _suspension_cause(event: EventRow) -> str:
    """The cause of a suspend/resume record; journals before ``cause`` existed are read by who
    wrote them (the daemon wrote its safety suspensions as ``pumpctl``)."""
    cause = event.payload.get("cause")
    if isinstance(cause, str) and cause:
        return cause
    reason = str(event.payload.get("reason", ""))
    if event.kind == EventKind.DELIVERY_SUSPENDED and event.payload.get("who") == "pumpctl":
        return reason.split(":", 1)[0]
    if event.kind == EventKind.DELIVERY_RESUMED and " acknowledged: " in reason:
        return reason.split(" acknowledged: ", 1)[0]
    return OPERATOR


def _raised(state: Restored, event: EventRow) -> None:
    p = event.payload
    try:
        kind = AlarmKind(str(p.get("code")))
        priority = Priority(str(p.get("priority")))
    except ValueError:
        return  # a kind this version does not know cannot block or be acknowledged here
    alarm_id = str(p.get("alarm_id") or kind)
    detail = str(p.get("message") or "")
    current = state.alarms.get(alarm_id)
    if current is None:
        state.alarms[alarm_id] = Alarm(
            alarm_id=alarm_id,
            kind=kind,
            priority=priority,
            detail=detail,
            raised_at=event.wall,
            last_raised_at=event.wall,
            # The cause is taken as still present: only the running daemon can see it end.
            cause_present=CATALOGUE[kind].condition,
        )
    else:
        more_urgent = priority.rank < current.priority.rank
        alarm = dataclasses.replace(
            current,
            detail=detail or current.detail,
            last_raised_at=event.wall,
            count=current.count + 1,
            priority=priority if more_urgent else current.priority,
        )
        if more_urgent:
            alarm = escalated(alarm)
        state.alarms[alarm_id] = alarm
    if kind is AlarmKind.MISSED_PULSE and isinstance(p.get("missed_in_row"), int):
        state.missed_in_row = int(p["missed_in_row"])
        if p.get("slot_id"):
            state.missed_slots.add(str(p["slot_id"]))


def _apply(state: Restored, event: EventRow) -> None:
    p = event.payload
    alarm_id = str(p.get("alarm_id", ""))
    current = state.alarms.get(alarm_id)
    if event.kind == EventKind.ALARM_RAISED:
        _raised(state, event)
    elif event.kind == EventKind.ALARM_ACKNOWLEDGED and current is not None:
        state.alarms[alarm_id] = dataclasses.replace(
            current,
            acknowledged_at=event.wall,
            acknowledged_by=str(p.get("who")),
            ack_reason=str(p.get("note") or ""),
            silenced_until=None,
            silenced_by=None,
        )
    elif event.kind == EventKind.ALARM_SILENCED and current is not None:
        until = datetime.fromisoformat(str(p["until_utc"]))
        state.alarms[alarm_id] = dataclasses.replace(
            current, silenced_until=until, silenced_by=str(p.get("who"))
        )
    elif event.kind == EventKind.ALARM_CLEARED:
        state.alarms.pop(alarm_id, None)
    elif event.kind == EventKind.DELIVERY_SUSPENDED:
        cause = _suspension_cause(event)
        if cause == OPERATOR:
            state.operator_suspended = str(p.get("reason") or "suspended")
        else:
            state.safety_suspended.add(cause)
    elif event.kind == EventKind.DELIVERY_RESUMED:
        cause = _suspension_cause(event)
        if cause == OPERATOR:
            state.operator_suspended = None
        else:
            state.safety_suspended.discard(cause)
    elif str(p.get("outcome")) in _CONFIRMED:
        state.missed_in_row = 0
        state.missed_slots.clear()


def restore_from(events: Iterable[EventRow]) -> Restored:
    """Replay the journaled transitions, oldest first."""
    state = Restored()
    for event in events:
        _apply(state, event)
    # Invariant (SR-06): a safety suspension lasts until its alarm is acknowledged; an alarm
    # acknowledged but whose resume record was lost still ends it, as the live daemon would.
    state.safety_suspended = {
        s for s in state.safety_suspended if s in state.alarms and not state.alarms[s].acknowledged
    }
    return state


def restore(journal: Journal) -> Restored:
    """The latched state recorded in ``journal``."""
    return restore_from(journal.events(kinds=_KINDS))
