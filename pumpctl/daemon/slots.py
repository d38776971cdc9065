"""The daemon's slots: ask the gate about a due slot, deliver it, and account for every slot.

A due slot is judged by the gate (pure, :mod:`pumpctl.core.gate`) on the journal's history and
the daemon's state, delivered through the pulse transaction if allowed, and otherwise recorded
MISSED once its window closes (SR-10), never later. A slot left unconfirmed raises the
missed-pulse alarm (SR-22).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.clock import Clock
from pumpctl.core.gate import (
    Finding,
    GateContext,
    authorize,
    history_since,
    standing_findings,
    wait_in_window,
)
from pumpctl.core.model import Decision, GateState, Outcome, Reason, Slot
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.flow_watch import FlowWatch
from pumpctl.daemon.reservoir import Reservoir
from pumpctl.daemon.state import DeliveryState, Therapy, json_number
from pumpctl.delivery import DeliveryResult, PulseDelivery
from pumpctl.errors import PumpctlError
from pumpctl.journal import Journal

log = structlog.get_logger("pumpctl.daemon")

#: Slots missed while the daemon was down are recorded for at most this far back.
MISSED_BACKFILL = timedelta(days=7)
#: Outcomes of a pulse that delivered fluid.
_DELIVERED = (Outcome.DELIVERED, Outcome.PARTIAL, Outcome.OVER_DELIVERED)


class SlotKeeper:
    """Judges, delivers and accounts for the slots of the therapy in force."""

    def __init__(
        self,
        *,
        therapy: Therapy,
        journal: Journal,
        clock: Clock,
        delivery: PulseDelivery,
        annunciator: Annunciator,
        reservoir: Reservoir,
        state: DeliveryState,
        flow_watch: FlowWatch,
    ) -> None:
        self._therapy = therapy
        self._flow_watch = flow_watch
        self._journal = journal
        self._clock = clock
        self._delivery = delivery
        self._annunciator = annunciator
        self._reservoir = reservoir
        self._state = state
        self._last_decision: dict[str, tuple[Reason, ...]] = {}
        self._missed_cursor = clock.now()
        self._alarm_cursor = clock.now()
        self._boot_last_elapsed: dict[str, float] = {}
        self._max_journal_wall: datetime | None = None
        #: Called once a pulse is about to run (the daemon rebuilds its status then).
        self.pulse_started: Callable[[], None] = lambda: None

    # -- start-up ------------------------------------------------------------------------------

    def load_history(self, now: datetime) -> None:
        """What the gate needs from earlier runs, read once at start-up."""
        # Earlier boots are over: their last elapsed readings never change again.
        self._boot_last_elapsed = self._journal.last_elapsed_by_boot()
        self._max_journal_wall = self._journal.max_event_wall()
        # Slots that already have an intent are never considered again, whatever the clock says.
        self._mark_attempted_since(history_since(now))

    def ready(self, now: datetime) -> None:
        """Start accounting at ``now``: earlier slots were backfilled or belong to earlier runs.

        Missed-pulse alarms start where the journal ends (SR-30): every slot whose alarm time
        came after the last record an earlier run wrote is judged now, so slots missed while
        no daemon ran, or left unconfirmed across a restart, are alarmed.
        """
        self._missed_cursor = now
        self._alarm_cursor = self._covered_until(now)
        # Slots an earlier run already gave (or tried): after a restart inside a slot's window,
        # or a clock set back across it, the slot comes round again. It must be neither given
        # again nor recorded MISSED beside its real outcome.
        self._mark_attempted_since(now - MISSED_BACKFILL)
        delivered = [
            r.intent_wall
            for r in self._journal.pulse_history(now - MISSED_BACKFILL)
            if r.outcome in _DELIVERED
        ]
        self._state.last_delivered = max(delivered, default=None)

    def _covered_until(self, now: datetime) -> datetime:
        """Up to when an earlier run judged missed-pulse alarms: its last record's time."""
        last = self._journal.wall_at_open
        if last is None or last > now:
            return now
        delay = timedelta(minutes=self._therapy.limits.missed_alarm_min)
        # A slot exactly on the boundary is judged again rather than skipped; the alarm set
        # counts a slot it restored only once.
        return max(last - delay, now - MISSED_BACKFILL)

    def _mark_attempted_since(self, since: datetime) -> None:
        self._state.attempted.update(r.slot_id for r in self._journal.pulse_history(since))

    def backfill_missed(self, now: datetime) -> None:
        """Slots whose window passed while no daemon ran are recorded MISSED (SR-10)."""
        last = self._journal.wall_at_open
        if last is None or last >= now:
            return
        limits = self._therapy.limits
        start = max(last - timedelta(minutes=limits.grace_min), now - MISSED_BACKFILL)
        with_intent = {r.slot_id for r in self._journal.pulse_history(start)}
        grace = timedelta(minutes=limits.grace_min)
        for slot in self._therapy.planner.slots_between(start, now - grace):
            if slot.scheduled + grace > last and slot.slot_id not in with_intent:
                self._record_missed(slot, (), "the daemon was not running")

    # -- each tick -----------------------------------------------------------------------------

    def due_slot(self, now: datetime) -> Slot | None:
        """The slot whose window is open at ``now`` and that has not been attempted."""
        slot = self._therapy.planner.due(now, self._therapy.limits.grace_min)
        if slot is None or slot.slot_id in self._state.attempted:
            return None
        return slot

    def gate_state(self) -> GateState:
        reservoir_ul = self._reservoir.remaining_ul
        return GateState(
            # A refused reload of [pump] holds every pulse until restart (SR-27).
            alarm_active=self._annunciator.blocks_delivery
            or self._state.held_for_restart is not None,
            suspended=self._state.operator_suspended is not None,
            pump_ready=self._state.pump_ready,
            reservoir_ul=reservoir_ul,
            reservoir_unknown=reservoir_ul is None,
            last_journal_wall=self._latest_journal_wall(),
            journal_writable=self._journal.writable,
        )

    def _latest_journal_wall(self) -> datetime | None:
        """The latest wall time in the journal; SR-11 compares the clock against it."""
        walls = [w for w in (self._max_journal_wall, self._journal.last_event_wall()) if w]
        self._max_journal_wall = max(walls) if walls else None
        return self._max_journal_wall

    def standing_blockers(self, slot: Slot) -> list[Finding]:
        """What the gate would deny ``slot`` for whenever it comes (status, item by item)."""
        return standing_findings(
            slot, self._journal.pending_pulses(), self._clock, self.gate_state()
        )

    def decide(self, slot: Slot) -> Decision:
        now = self._clock.now()
        history = self._journal.pulse_history(history_since(now))
        pending = [r for r in self._journal.pending_pulses() if r not in history]
        # SR-26: unexplained flow counts like a pulse given when it was found.
        history += self._flow_watch.gate_records(history_since(now))
        ctx = GateContext(
            limits=self._therapy.limits,
            state=self.gate_state(),
            boot_last_elapsed_s=self._boot_last_elapsed,
        )
        return authorize(slot, [*history, *pending], self._clock, ctx)

    def consider(self, slot: Slot) -> float | None:
        """Judge and, if allowed, deliver ``slot``; returns a shorter sleep when worth waiting."""
        decision = self.decide(slot)
        wait = wait_in_window(slot, decision, self._clock.now(), self._therapy.limits)
        if wait is not None:
            # The previous pulse started later after its own slot than the gate's allowance:
            # the interval is met a moment after this slot's time, inside its window. Wait for
            # it quietly (plan shows the same wait).
            return wait.total_seconds()
        if self._last_decision.get(slot.slot_id) != decision.reasons:
            self._last_decision[slot.slot_id] = decision.reasons
            try:
                self._journal.record_gate_decision(slot.slot_id, decision)
            except PumpctlError as err:
                self._annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
                return None
            if not decision.allowed:
                log.warning("gate.denied", slot_id=slot.slot_id, reasons=list(decision.reasons))
                if Reason.CLOCK_SUSPECT in decision.reasons:
                    self._annunciator.raise_alarm(
                        AlarmKind.CLOCK_SUSPECT, "; ".join(decision.details)
                    )
        if not decision.allowed:
            return None
        self._state.attempted.add(slot.slot_id)
        self._state.delivering = slot
        self._state.delivering_started = self._clock.now()
        # Status says "delivering" for as long as the pulse runs, not what it said before.
        self.pulse_started()
        try:
            result = self._delivery.deliver(slot)
        except PumpctlError as err:
            # A journal failure mid-transaction: what the pump did is unknown to the record.
            self._annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
            return None
        finally:
            self._state.delivering = None
        self._after_delivery(slot, result)
        return None

    def _after_delivery(self, slot: Slot, result: DeliveryResult) -> None:
        if not result.intent_written:
            self._after_refusal(slot, result)
            return
        self._state.count(result.outcome.value)
        self._state.last_pulse = {
            "slot_id": slot.slot_id,
            "outcome": result.outcome.value,
            "delivered_volume_ul": json_number(result.delivered_volume_ul),
            "started_utc": None if result.started is None else result.started.isoformat(),
        }
        if result.outcome in _DELIVERED:
            self._state.last_delivered = result.started or self._clock.now()
            self._annunciator.alarms.pulse_delivered()
        volume = (
            result.delivered_volume_ul if result.delivered_volume_ul is not None else slot.volume_ul
        )
        self._reservoir.used(volume)
        for kind in result.alarms:
            self._annunciator.raise_alarm(
                kind, f"slot {slot.slot_id}: {result.detail}", slot_id=slot.slot_id
            )
        if result.suspend_for is not None:
            self._annunciator.suspend_for(result.suspend_for, result.detail, slot_id=slot.slot_id)
        if result.pump_unready:
            self._state.pump_ready = False  # a new self-test sets the pump from the configuration
        if result.outcome is Outcome.UNCERTAIN:
            self._state.pump_ready = False
            if not result.totals_trusted:
                self._state.awaiting_operator.add(slot.slot_id)
        self.reservoir_alarms()

    def _after_refusal(self, slot: Slot, result: DeliveryResult) -> None:
        """Refused before its intent: nothing moved for it; the slot is missed, with why."""
        for kind in result.alarms:
            self._annunciator.raise_alarm(
                kind, f"slot {slot.slot_id}: {result.detail}", slot_id=slot.slot_id
            )
        if result.flow is not None:
            # Flow found before the clear, already journaled: it counts like a pulse (SR-26).
            dose = None
            if result.flow.volume_ul is not None and slot.volume_ul:
                dose = result.flow.volume_ul * slot.dose_ug / slot.volume_ul
                self._reservoir.used(result.flow.volume_ul)
            self._flow_watch.count(result.flow, dose)
        if result.suspend_for is not None:
            self._annunciator.suspend_for(result.suspend_for, result.detail, slot_id=slot.slot_id)
        self._record_missed(slot, (), f"not started: {result.detail}")
        self.reservoir_alarms()

    def reservoir_alarms(self) -> None:
        remaining = self._reservoir.remaining_ul
        if remaining is None:
            return
        volume = self._therapy.prescription.volume_ul
        if remaining < volume:
            self._annunciator.raise_alarm(
                AlarmKind.RESERVOIR_EMPTY, f"{remaining} uL left, a pulse needs {volume} uL"
            )
        elif remaining < volume * self._therapy.limits.reservoir_low_pulses:
            self._annunciator.raise_alarm(AlarmKind.RESERVOIR_LOW, f"{remaining} uL left")

    # -- missed slots --------------------------------------------------------------------------

    def record_passed(self, now: datetime) -> None:
        """Slots whose grace window closed without an intent are MISSED (SR-10)."""
        grace = timedelta(minutes=self._therapy.limits.grace_min)
        for slot in self._therapy.planner.slots_between(self._missed_cursor, now - grace):
            if slot.slot_id not in self._state.attempted:
                reasons = self._last_decision.get(slot.slot_id, ())
                detail = "denied by the gate" if reasons else "no delivery attempt in its window"
                self._record_missed(slot, reasons, detail)
            self._missed_cursor = slot.scheduled + timedelta(seconds=1)

    def _record_missed(self, slot: Slot, reasons: tuple[Reason, ...], detail: str) -> None:
        self._state.count("MISSED")
        if reasons:
            self._state.count("DENIED")
        try:
            self._journal.record_missed(
                slot.slot_id, slot.scheduled, reasons=reasons, detail=detail
            )
        except PumpctlError as err:
            log.error("journal.write_failed", error=str(err))
        log.warning("slot.missed", slot_id=slot.slot_id, reasons=list(reasons), detail=detail)
        self._last_decision.pop(slot.slot_id, None)

    def missed_pulse_alarms(self, now: datetime) -> None:
        """SR-22: a slot unconfirmed 15 min after its time raises missed-pulse (high after two)."""
        if self._state.operator_suspended is not None:
            self._alarm_cursor = now
            return
        delay = timedelta(minutes=self._therapy.limits.missed_alarm_min)
        for slot in self._therapy.planner.slots_between(self._alarm_cursor, now - delay):
            confirmed = any(
                r.slot_id == slot.slot_id and r.outcome in _DELIVERED
                for r in self._journal.pulse_history(slot.scheduled - timedelta(minutes=1))
            )
            if not confirmed:
                self._annunciator.alarms.missed_pulse(slot.slot_id)
            self._alarm_cursor = slot.scheduled + timedelta(seconds=1)
