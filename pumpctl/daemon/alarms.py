"""The alarm model (SR-22): priorities, latching, acknowledgement, time-limited silence.

Pure logic on an injected :class:`~pumpctl.core.clock.Clock`, no I/O. Every transition is
reported to the listeners so the daemon can journal it (SR-19). An alarm's id is its kind's name
(``reservoir-low``), so an operator can type it; one kind has at most one alarm at a time.

Life of an alarm: raised (active) -> acknowledged (with who and why) -> cleared, which happens
when it is acknowledged *and* its cause is gone. An alarm whose cause goes away before anyone
acknowledged it stays active: alarms latch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pumpctl.core.alarm_kinds import DEFAULT_SILENCE_MIN, MAX_SILENCE_MIN
from pumpctl.core.clock import Clock
from pumpctl.daemon.alarm_catalogue import CATALOGUE, AlarmKind, AlarmSpec, Priority
from pumpctl.errors import PumpctlError

__all__ = [
    "CATALOGUE",
    "DEFAULT_SILENCE_MIN",
    "MAX_SILENCE_MIN",
    "MISSED_IN_ROW_FOR_HIGH",
    "Alarm",
    "AlarmError",
    "AlarmEvent",
    "AlarmKind",
    "AlarmSet",
    "AlarmSpec",
    "Priority",
    "Transition",
]

#: Consecutive missed pulses that raise the missed-pulse alarm to high priority (SR-22).
MISSED_IN_ROW_FOR_HIGH = 2


class AlarmError(PumpctlError, ValueError):
    """An alarm operation was refused: unknown id, missing reason, silence out of range."""


class Transition(StrEnum):
    """What happened to an alarm; each one reaches the listeners (and the journal)."""

    RAISED = "raised"
    REPEATED = "repeated"
    ESCALATED = "escalated"
    CAUSE_CLEARED = "cause-cleared"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    CLEARED = "cleared"


@dataclass(frozen=True)
class Alarm:
    """A snapshot of one alarm; the :class:`AlarmSet` replaces it on every change."""

    alarm_id: str
    kind: AlarmKind
    priority: Priority
    detail: str
    raised_at: datetime
    last_raised_at: datetime
    count: int = 1
    cause_present: bool = True
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_reason: str | None = None
    silenced_until: datetime | None = None
    silenced_by: str | None = None
    #: The slot this alarm is about, when it is about one (journaled with the alarm).
    slot_id: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def spec(self) -> AlarmSpec:
        return CATALOGUE[self.kind]

    def silenced_at(self, now: datetime) -> bool:
        """Whether the alarm's signal is silenced at ``now`` (it is still active for the gate)."""
        return self.silenced_until is not None and now < self.silenced_until

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """A JSON-ready view for the control socket and the journal (times in UTC ISO 8601)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        data: dict[str, Any] = {
            "id": self.alarm_id,
            "kind": str(self.kind),
            "priority": str(self.priority),
            "detail": self.detail,
            "raised_at": iso(self.raised_at),
            "last_raised_at": iso(self.last_raised_at),
            "count": self.count,
            "cause_present": self.cause_present,
            "acknowledged": self.acknowledged,
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "ack_reason": self.ack_reason,
            "silenced_until": iso(self.silenced_until),
            "silenced_by": self.silenced_by,
            "meaning": self.spec.meaning,
            "action": self.spec.action,
        }
        if now is not None:
            data["silenced"] = self.silenced_at(now)
        return data


@dataclass(frozen=True)
class AlarmEvent:
    """One transition, as handed to listeners: the alarm after the change, when, who and why."""

    transition: Transition
    alarm: Alarm
    at: datetime
    who: str | None = None
    reason: str | None = None


Listener = Callable[[AlarmEvent], None]


def escalated(alarm: Alarm) -> Alarm:
    """A more urgent alarm demands a fresh acknowledgement and is heard again: its
    acknowledgement and silence are cleared (live in :class:`AlarmSet` and when alarms are
    rebuilt from the journal at start)."""
    return dataclasses.replace(
        alarm,
        acknowledged_at=None,
        acknowledged_by=None,
        ack_reason=None,
        silenced_until=None,
        silenced_by=None,
    )


class AlarmSet:
    """All alarms of one daemon. Not thread-safe: the daemon serialises access."""

    def __init__(self, clock: Clock, listeners: Iterable[Listener] = ()) -> None:
        self._clock = clock
        self._alarms: dict[str, Alarm] = {}
        self._listeners: list[Listener] = list(listeners)
        self._missed_in_row = 0
        self._missed_slots: set[str] = set()
        self._last_missed_slot: str | None = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -- queries ---------------------------------------------------------------------------

    def get(self, alarm_id: str) -> Alarm:
        try:
            return self._alarms[alarm_id]
        except KeyError as err:
            known = ", ".join(sorted(self._alarms)) or "none"
            raise AlarmError(
                f"alarm_id: no alarm {alarm_id!r} is active (active alarms: {known})"
            ) from err

    def active(self) -> list[Alarm]:
        """Every alarm not yet cleared, most urgent first, then oldest first."""
        return sorted(self._alarms.values(), key=lambda a: (a.priority.rank, a.raised_at))

    def unacknowledged(self) -> list[Alarm]:
        return [a for a in self.active() if not a.acknowledged]

    def annunciating(self) -> list[Alarm]:
        """Unacknowledged alarms whose signal is not silenced right now."""
        now = self._clock.now()
        return [a for a in self.unacknowledged() if not a.silenced_at(now)]

    @property
    def high_active(self) -> bool:
        """Whether any high-priority alarm is unacknowledged (silenced or not).

        Invariant: the gate denies every pulse (alarm-active) while this is true (SR-12).
        """
        return any(a.priority is Priority.HIGH for a in self.unacknowledged())

    @property
    def missed_in_row(self) -> int:
        return self._missed_in_row

    @property
    def last_missed_slot(self) -> str | None:
        """The slot the latest missed-pulse report was about."""
        return self._last_missed_slot

    # -- transitions -----------------------------------------------------------------------

    def raise_alarm(
        self,
        kind: AlarmKind,
        detail: str = "",
        *,
        priority: Priority | None = None,
        slot_id: str | None = None,
    ) -> Alarm:
        """Raise ``kind`` (or refresh it if already present); returns the alarm.

        Raising an alarm that is already present updates its detail and count and sets its
        cause present again; it raises its priority if ``priority`` is more urgent, and never
        lowers it. An acknowledged alarm raised again before it cleared stays acknowledged
        (the operator already knows); a new alarm follows once it has cleared. ``slot_id``
        names the slot the alarm is about; raised again, the alarm names the newest one.
        """
        now = self._clock.now()
        spec = CATALOGUE[kind]
        wanted = priority or spec.priority
        alarm_id = str(kind)
        current = self._alarms.get(alarm_id)
        if current is None:
            alarm = Alarm(
                alarm_id=alarm_id,
                kind=kind,
                priority=wanted,
                detail=detail,
                raised_at=now,
                last_raised_at=now,
                cause_present=spec.condition,
                slot_id=slot_id,
            )
            self._alarms[alarm_id] = alarm
            self._emit(Transition.RAISED, alarm, now)
            return alarm
        escalate = wanted.rank < current.priority.rank
        alarm = dataclasses.replace(
            current,
            detail=detail or current.detail,
            last_raised_at=now,
            count=current.count + 1,
            cause_present=spec.condition,
            priority=wanted if escalate else current.priority,
            slot_id=slot_id or current.slot_id,
        )
        if escalate:
            alarm = escalated(alarm)
        self._alarms[alarm_id] = alarm
        self._emit(Transition.ESCALATED if escalate else Transition.REPEATED, alarm, now)
        return alarm

    def clear_cause(self, kind: AlarmKind) -> Alarm | None:
        """The condition behind ``kind`` ended; the alarm clears only if already acknowledged.

        Returns the alarm if it is still latched, ``None`` if it cleared or was not present.
        """
        current = self._alarms.get(str(kind))
        if current is None or not current.cause_present:
            return current
        now = self._clock.now()
        alarm = dataclasses.replace(current, cause_present=False)
        if alarm.acknowledged:
            del self._alarms[alarm.alarm_id]
            self._emit(Transition.CLEARED, alarm, now)
            return None
        self._alarms[alarm.alarm_id] = alarm
        self._emit(Transition.CAUSE_CLEARED, alarm, now)
        return alarm

    def acknowledge(self, alarm_id: str, *, reason: str, who: str) -> Alarm:
        """Acknowledge with a reason and the operator's identity; clears it if its cause is gone."""
        reason = reason.strip()
        if not reason:
            raise AlarmError("reason: an acknowledgement needs a non-empty reason")
        current = self.get(alarm_id)
        if current.acknowledged:
            raise AlarmError(
                f"alarm_id: {alarm_id!r} was already acknowledged by {current.acknowledged_by}"
            )
        now = self._clock.now()
        alarm = dataclasses.replace(
            current,
            acknowledged_at=now,
            acknowledged_by=who,
            ack_reason=reason,
            silenced_until=None,
            silenced_by=None,
        )
        self._alarms[alarm_id] = alarm
        self._emit(Transition.ACKNOWLEDGED, alarm, now, who=who, reason=reason)
        if not alarm.cause_present:
            del self._alarms[alarm_id]
            self._emit(Transition.CLEARED, alarm, now, who=who)
            return alarm
        return alarm

    def silence(self, alarm_id: str, *, who: str, minutes: int = DEFAULT_SILENCE_MIN) -> Alarm:
        """Silence the alarm's signal for ``minutes`` (1..MAX_SILENCE_MIN).

        Invariant: a silenced alarm is still active; silence never lets a pulse through.
        """
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise AlarmError(f"minutes: must be a whole number, got {minutes!r}")
        if not 1 <= minutes <= MAX_SILENCE_MIN:
            raise AlarmError(
                f"minutes: {minutes} is out of range; silence lasts 1 to {MAX_SILENCE_MIN} minutes"
            )
        current = self.get(alarm_id)
        if current.acknowledged:
            raise AlarmError(f"alarm_id: {alarm_id!r} is acknowledged; there is nothing to silence")
        now = self._clock.now()
        alarm = dataclasses.replace(
            current, silenced_until=now + timedelta(minutes=minutes), silenced_by=who
        )
        self._alarms[alarm_id] = alarm
        self._emit(Transition.SILENCED, alarm, now, who=who, reason=f"{minutes} min")
        return alarm

    # -- missed pulses ---------------------------------------------------------------------

    def missed_pulse(self, slot_id: str) -> Alarm:
        """A slot's pulse was not confirmed in time (SR-22): medium, high after two in a row.

        Reporting the same slot twice counts it once.
        """
        if slot_id not in self._missed_slots:
            self._missed_slots.add(slot_id)
            self._missed_in_row += 1
        self._last_missed_slot = slot_id
        priority = Priority.HIGH if self._missed_in_row >= MISSED_IN_ROW_FOR_HIGH else None
        detail = f"slot {slot_id} missed ({self._missed_in_row} in a row)"
        return self.raise_alarm(AlarmKind.MISSED_PULSE, detail, priority=priority, slot_id=slot_id)

    def pulse_delivered(self) -> None:
        """A pulse was delivered: the run of missed pulses is broken (the alarm still latches)."""
        self._missed_in_row = 0
        self._missed_slots.clear()

    # -- restart ---------------------------------------------------------------------------

    def restore(
        self,
        alarms: Iterable[Alarm],
        *,
        missed_in_row: int = 0,
        missed_slots: Iterable[str] = (),
    ) -> None:
        """Reinstate alarms rebuilt from the journal after a restart, without new events.

        ``missed_slots`` were already counted in ``missed_in_row``: reporting one again does
        not count it twice.
        """
        for alarm in alarms:
            self._alarms[alarm.alarm_id] = alarm
        self._missed_in_row = missed_in_row
        self._missed_slots = set(missed_slots)

    def _emit(
        self,
        transition: Transition,
        alarm: Alarm,
        at: datetime,
        *,
        who: str | None = None,
        reason: str | None = None,
    ) -> None:
        event = AlarmEvent(transition, alarm, at, who, reason)
        for listener in self._listeners:
            listener(event)
