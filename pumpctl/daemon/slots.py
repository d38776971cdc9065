"""The daemon's slots: ask the gate about a due slot, deliver it, and account for every slot.

A due slot is judged by the gate (pure, :mod:`pumpctl.core.gate`) on the journal's history and
the daemon's state, delivered through the pulse transaction if allowed, and otherwise recorded
MISSED once its window closes (SR-10), never later. A slot left unconfirmed raises the
missed-pulse alarm (SR-22).

A slot is armed shortly before its time (:mod:`pumpctl.core.arming`) when the gate, asked as of
the slot, would allow it: the bolus is programmed and read back, and at the slot only the gate's
final check, the intent and RUN remain. Anything that changed in between disarms it, journaled,
and the slot is missed; a slot not armed ahead (a daemon started inside its window) is armed
and fired at once, through the same calls.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from pumpctl.core import arming
from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.arming import Ahead, ArmedMark, AtSlot, why_disarm
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
from pumpctl.delivery import Armed, DeliveryResult, PulseDelivery
from pumpctl.errors import PumpctlError
from pumpctl.journal import EventKind, Journal

log = structlog.get_logger("pumpctl.daemon")

#: Slots missed while the daemon was down are recorded for at most this far back.
MISSED_BACKFILL = timedelta(days=7)
#: Outcomes of a pulse that delivered fluid.
_DELIVERED = (Outcome.DELIVERED, Outcome.PARTIAL, Outcome.OVER_DELIVERED)
#: The outcomes that confirm a slot (no missed-pulse alarm, SR-22), for whoever predicts it.
CONFIRMING_OUTCOMES = _DELIVERED


class GcHeld:
    """Python's cyclic garbage collector off until :meth:`release` (idempotent); left off if
    it was already off."""

    def __init__(self) -> None:
        self._restore = gc.isenabled()
        gc.disable()

    def release(self) -> None:
        if self._restore:
            self._restore = False
            gc.enable()


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
        arm_lead_s: float = arming.DEFAULT_ARM_LEAD_S,
    ) -> None:
        self._therapy = therapy
        self._arm_lead_s = arm_lead_s
        #: The pulse armed ahead of its slot, and what was true when it was armed.
        self._armed: tuple[Armed, ArmedMark] | None = None
        #: The slot last judged for arming ahead (armed or not: judged once).
        self._arm_judged: str | None = None
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
        # A disarmed slot is a missed pulse, never given later, by this run or the next one
        # (no catch-up, SR-10): the record of its disarming says it was considered.
        disarmed = self._journal.events(since=since, kinds=(EventKind.PULSE_DISARMED,))
        self._state.attempted.update(str(e.payload["slot_id"]) for e in disarmed)

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
        if slot is None:
            return None
        if self._armed is not None and self._armed[0].slot.slot_id == slot.slot_id:
            return slot  # armed ahead: its time has come
        if slot.slot_id in self._state.attempted:
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

    def decide(self, slot: Slot, clock: Clock | None = None) -> Decision:
        """The gate's verdict on ``slot`` now (or on ``clock``, a look ahead to decide arming)."""
        clock = clock or self._clock
        now = clock.now()
        history = self._journal.pulse_history(history_since(now))
        pending = [r for r in self._journal.pending_pulses() if r not in history]
        # SR-26: unexplained flow counts like a pulse given when it was found.
        history += self._flow_watch.gate_records(history_since(now))
        ctx = GateContext(
            limits=self._therapy.limits,
            state=self.gate_state(),
            boot_last_elapsed_s=self._boot_last_elapsed,
        )
        return authorize(slot, [*history, *pending], clock, ctx)

    # -- arming ahead of the slot --------------------------------------------------------------

    @property
    def armed_slot(self) -> Slot | None:
        """The slot armed ahead, if any."""
        return None if self._armed is None else self._armed[0].slot

    def until_arming(self, now: datetime) -> float | None:
        """Clock seconds until the next slot should be armed (0: now); None if nothing to arm."""
        if self._armed is not None:
            return None
        nxt = self._therapy.planner.next_after(now)
        if nxt.slot_id in self._state.attempted or nxt.slot_id == self._arm_judged:
            return None
        lead = arming.lead(self._clock, self._arm_lead_s)
        return max(0.0, (nxt.scheduled - lead - now).total_seconds())

    def arm_ahead(self, now: datetime) -> None:
        """Arm the next slot if it is within the lead and the gate, asked as of the slot, would
        allow it. Arming moves no fluid; a refusal while arming is a missed pulse."""
        if self.until_arming(now) != 0.0:
            return
        slot = self._therapy.planner.next_after(now)
        # Judged once: if not armed now, the slot is judged at its time and, if allowed, armed
        # and fired at once (a moment later than an armed one, never earlier).
        self._arm_judged = slot.slot_id
        if not self._state.pump_ready:
            return
        shift = slot.scheduled - now
        decision = self.decide(slot, Ahead(self._clock, shift))
        wait = wait_in_window(slot, decision, slot.scheduled, self._therapy.limits)
        if not decision.allowed and wait is None:
            return  # the gate will deny at the slot; it is judged and journaled there
        self._state.attempted.add(slot.slot_id)  # considered once: armed, or missed now
        try:
            armed = self._delivery.arm(slot)
        except PumpctlError as err:
            self._annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
            self._record_missed(slot, (), f"not armed: {err}")
            return
        if isinstance(armed, DeliveryResult):
            self._after_refusal(slot, armed)
            return
        mark = arming.mark(self._clock, slot, armed.seq, self._arm_lead_s, wait or timedelta(0))
        self._armed = (armed, mark)

    def quiet_until_armed_slot(self, now: datetime, heartbeat_s: float) -> float | None:
        """Clock seconds until the armed slot when it is inside its quiet window (no routine
        pump check may start then, :func:`~pumpctl.core.arming.quiet`); None otherwise."""
        if self._armed is None:
            return None
        armed = self._armed[0]
        reading_s = self._delivery.reading_s(armed.words)
        window = arming.quiet(reading_s, heartbeat_s, self._clock.scale)
        until = armed.slot.scheduled - now
        if timedelta(0) < until <= window:
            return until.total_seconds()
        return None

    def at_slot(self, slot: Slot | None) -> AtSlot:
        """What is true now, for comparing with the armed mark."""
        assert self._armed is not None  # noqa: S101 - only asked while armed
        return AtSlot(
            slot=slot,
            wall=self._clock.now(),
            elapsed_us=self._clock.elapsed_us(),
            boot_id=self._clock.boot_id,
            journal_kinds=self._journal.kinds_since(self._armed[1].seq),
            pump_ready=self._state.pump_ready,
            suspended=self._state.operator_suspended is not None,
            pump_problem=self._delivery.pump_problem(),
        )

    def check_armed(self, due: Slot | None) -> None:
        """Disarm an armed pulse that can no longer fire: its slot changed or went away, or
        something bore on it (:func:`~pumpctl.core.arming.why_disarm`) while it waits."""
        if self._armed is None:
            return
        armed, mark = self._armed
        now = self._clock.now()
        planner = self._therapy.planner
        # Due now, or still the next slot: either way the same slot as armed, unchanged.
        candidates = (
            due,
            planner.due(now, self._therapy.limits.grace_min),
            planner.next_after(now),
        )
        current = next(
            (c for c in candidates if c is not None and c.slot_id == armed.slot.slot_id), None
        )
        why = why_disarm(mark, self.at_slot(current), scale=self._clock.scale)
        if why is not None:
            self.disarm(why)

    def disarm(self, why: str) -> None:
        """The armed pulse will not be started: journaled, and its slot is missed (SR-10)."""
        if self._armed is None:
            return
        armed, mark = self._armed
        self._armed = None
        try:
            self._delivery.disarm(armed, why, armed_at=mark.wall)
        except PumpctlError as err:
            self._annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
        self._record_missed(armed.slot, (), f"disarmed before its start: {why}")

    def _fire(self, slot: Slot) -> float | None:
        """The armed slot's time: the gate's final check, then intent and RUN, or disarm.

        Python's cyclic garbage collector is held off from here until RUN is answered and its
        start recorded: a full collection takes ~15 ms, and one falling between the slot and
        RUN would delay the pulse by as much. Reference counting frees everything else
        meanwhile; the collector runs again before the bolus is watched."""
        held = GcHeld()
        try:
            return self._fire_held(slot, held.release)
        finally:
            held.release()

    def _status_after_run(self) -> None:
        """Status says "delivering" from RUN on: rebuilt after RUN, not between the slot and
        RUN. A failure here must not stop the running bolus from being watched."""
        try:
            self.pulse_started()
        except PumpctlError as err:
            log.error("status.update_failed", error=str(err))

    def _fire_held(self, slot: Slot, after_run: Callable[[], None]) -> float | None:
        self.check_armed(slot)
        if self._armed is None:
            return None
        decision = self.decide(slot)
        wait = wait_in_window(slot, decision, self._clock.now(), self._therapy.limits)
        if wait is not None:
            return wait.total_seconds()  # still armed; the mark's validity covers this wait
        if not decision.allowed:
            if self._journal_decision(slot, decision):
                self.disarm("the gate denied it at its slot: " + "; ".join(decision.details))
            else:
                self.disarm("the gate's decision could not be journaled")
            return None
        # The allow goes on record in the intent's own commit (unless already there).
        unrecorded = self._last_decision.get(slot.slot_id) != decision.reasons
        self._last_decision[slot.slot_id] = decision.reasons
        armed, _ = self._armed
        self._armed = None
        self._state.delivering = slot
        self._state.delivering_started = self._clock.now()

        def ran() -> None:
            after_run()
            self._status_after_run()

        try:
            result = self._delivery.fire(armed, decision if unrecorded else None, after_run=ran)
        except PumpctlError as err:
            self._annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
            return None
        finally:
            self._state.delivering = None
        self._after_delivery(slot, result)
        return None

    def _journal_decision(self, slot: Slot, decision: Decision) -> bool:
        """Journal the gate's decision when it differs from the last one for ``slot``."""
        if self._last_decision.get(slot.slot_id) == decision.reasons:
            return True
        self._last_decision[slot.slot_id] = decision.reasons
        try:
            self._journal.record_gate_decision(slot.slot_id, decision)
        except PumpctlError as err:
            self._annunciator.raise_alarm(AlarmKind.JOURNAL_UNAVAILABLE, str(err))
            return False
        if not decision.allowed:
            log.warning("gate.denied", slot_id=slot.slot_id, reasons=list(decision.reasons))
            if Reason.CLOCK_SUSPECT in decision.reasons:
                self._annunciator.raise_alarm(AlarmKind.CLOCK_SUSPECT, "; ".join(decision.details))
        return True

    # -- the slot's time -----------------------------------------------------------------------

    def consider(self, slot: Slot) -> float | None:
        """Judge and, if allowed, deliver ``slot``; returns a shorter sleep when worth waiting."""
        if self._armed is not None and self._armed[0].slot.slot_id == slot.slot_id:
            return self._fire(slot)
        decision = self.decide(slot)
        wait = wait_in_window(slot, decision, self._clock.now(), self._therapy.limits)
        if wait is not None:
            # The previous pulse started later after its own slot than the gate's allowance:
            # the interval is met a moment after this slot's time, inside its window. Wait for
            # it quietly (plan shows the same wait).
            return wait.total_seconds()
        if not self._journal_decision(slot, decision) or not decision.allowed:
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
        if result.pump_unready:
            self._state.pump_ready = False  # a new self-test sets the pump from the configuration
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
