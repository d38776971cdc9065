"""Raising alarms, suspending delivery for safety, and journaling every alarm transition.

The :class:`~pumpctl.daemon.alarms.AlarmSet` is the pure alarm model; the annunciator is the
daemon's single way to use it: it logs each alarm once (:mod:`pumpctl.daemon.alarm_log`),
journals each transition (SR-19), and keeps the safety suspensions that only an acknowledgement
ends (SR-06).
"""

from __future__ import annotations

import structlog

from pumpctl.core.alarm_kinds import AlarmKind, Priority
from pumpctl.core.clock import Clock
from pumpctl.daemon.alarm_log import AlarmLog
from pumpctl.daemon.alarms import AlarmEvent, AlarmSet, Transition
from pumpctl.daemon.restore import Restored
from pumpctl.errors import PumpctlError
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")


class Annunciator:
    """The daemon's alarms and safety suspensions, journaled."""

    def __init__(self, journal: Journal, clock: Clock) -> None:
        self._journal = journal
        self.alarms = AlarmSet(clock, [self._journal_transition, AlarmLog()])
        #: The slot each active alarm was last journaled with.
        self._journaled_slot: dict[str, str | None] = {}
        #: Alarm ids that suspend delivery until acknowledged (SR-06).
        self.safety_suspended: set[str] = set()

    @property
    def blocks_delivery(self) -> bool:
        """An unacknowledged high alarm or a safety suspension: the gate's alarm-active."""
        return self.alarms.high_active or bool(self.safety_suspended)

    def raise_alarm(
        self,
        kind: AlarmKind,
        detail: str,
        priority: Priority | None = None,
        *,
        slot_id: str | None = None,
    ) -> None:
        """Raise ``kind``; ``slot_id`` names the slot it is about (journaled with it)."""
        # Logged by the AlarmLog listener, once per alarm rather than once per repeat.
        self.alarms.raise_alarm(kind, detail, priority=priority, slot_id=slot_id)

    def suspend_for(self, kind: AlarmKind, detail: str, *, slot_id: str | None = None) -> None:
        """SR-06, SR-25, SR-26, SR-27: unintended flow, over-delivery, unexplained flow or a
        settings mismatch suspends delivery until acknowledged."""
        if str(kind) not in self.safety_suspended:
            self.raise_alarm(kind, detail, slot_id=slot_id)
        self.safety_suspended.add(str(kind))
        self._journal.record_suspend("pumpctl", f"{kind}: {detail}", cause=str(kind))

    def restore(self, restored: Restored) -> None:
        """Take over the alarms and safety suspensions the journal left latched (SR-30)."""
        self.alarms.restore(
            restored.alarms.values(),
            missed_in_row=restored.missed_in_row,
            missed_slots=restored.missed_slots,
        )
        self.safety_suspended = set(restored.safety_suspended)
        for alarm in self.alarms.unacknowledged():
            log.warning("alarm.restored", kind=str(alarm.kind), detail=alarm.detail)

    def acknowledge(self, alarm_id: str, *, reason: str, who: str) -> None:
        """Acknowledge an alarm; one that suspended delivery ends its suspension, journaled."""
        self.alarms.acknowledge(alarm_id, reason=reason, who=who)
        if alarm_id in self.safety_suspended:
            self.safety_suspended.discard(alarm_id)
            self.alarms.clear_cause(AlarmKind(alarm_id))
            self._journal.record_resume(who, f"{alarm_id} acknowledged: {reason}", cause=alarm_id)

    def _journal_transition(self, event: AlarmEvent) -> None:
        alarm = event.alarm
        try:
            missed = alarm.kind is AlarmKind.MISSED_PULSE
            slot_id = alarm.slot_id
            if slot_id is None and missed:
                slot_id = self.alarms.last_missed_slot
            # A repeat is journaled only when it is about another slot: each slot's record then
            # names the alarm that concerned it, and a condition raised every tick adds nothing.
            # Every missed slot is on record, so a restart continues the count (SR-30).
            new_slot = (
                event.transition is Transition.REPEATED
                and slot_id is not None
                and slot_id != self._journaled_slot.get(alarm.alarm_id)
            )
            if event.transition in (Transition.RAISED, Transition.ESCALATED) or new_slot:
                self._journal.record_alarm(
                    alarm.alarm_id,
                    alarm.kind,
                    alarm.priority,
                    alarm.detail,
                    slot_id=slot_id,
                    missed_in_row=self.alarms.missed_in_row if missed else None,
                )
                self._journaled_slot[alarm.alarm_id] = slot_id
            elif event.transition is Transition.ACKNOWLEDGED:
                self._journal.record_alarm_acknowledged(
                    alarm.alarm_id, event.who or "?", note=event.reason or ""
                )
            elif event.transition is Transition.SILENCED and alarm.silenced_until is not None:
                self._journal.record_alarm_silenced(
                    alarm.alarm_id, event.who or "?", alarm.silenced_until
                )
            elif event.transition is Transition.CLEARED:
                self._journal.record_alarm_cleared(alarm.alarm_id, why=event.reason or "")
                self._journaled_slot.pop(alarm.alarm_id, None)
        except PumpctlError as err:
            log.error("journal.write_failed", error=str(err), alarm=alarm.alarm_id)
