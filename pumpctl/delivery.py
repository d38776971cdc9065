"""The pulse-delivery transaction: arm the bolus, journal the intent, run it, prove what it did.

Arming (shortly before the slot, or at it): the pump can be told the pulse exactly → its totals
hold nothing unexplained (SR-26) → the link can stop a runaway within the SR-25 bound → CLD →
program DIR/VOL/RAT → read them back (SR-27) → journal ``pulse.armed``. Arming moves no fluid;
every refusal there is a missed pulse, never a clamped one.

Firing (at the slot, after the gate's final check): journal INTENT (fsync) → RUN → read the
dispensed volume at the SR-25 cadence (the readings feed the pump's watchdog) → DIS → journal
OUTCOME. From the INTENT on, the pulse counts as delivered for every limit; if anything goes
wrong after it and the pump cannot tell what happened, the outcome is UNCERTAIN and the next
start-up or link recovery reconciles it from pump evidence. Nothing here ever re-sends a motion
command (SR-16), and nothing runs a programme that was not armed on this connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.clock import Clock
from pumpctl.core.model import Decision, Outcome, Slot
from pumpctl.core.overshoot import LinkTiming, WatchPlan, overshoot_bound_ul, plan_watch
from pumpctl.core.reconcile import classify_delivery
from pumpctl.drivers.base import (
    Progress,
    PumpAlarm,
    PumpDriver,
    PumpSettings,
    PumpState,
    PumpVocabulary,
)
from pumpctl.errors import (
    PumpAlarmError,
    PumpctlError,
    SettingsMismatchError,
    UnsendableError,
)
from pumpctl.pulse import (
    DeliveryJournal,
    DeliveryResult,
    Waiter,
    dose_for,
    query_with_retry,
)
from pumpctl.watch import FlowLedger, LinkLatency, UnexplainedFlow

log = structlog.get_logger("pumpctl.delivery")

__all__ = [
    "Armed",
    "DeliveryJournal",
    "DeliveryResult",
    "PulseDelivery",
    "Waiter",
    "pump_alarm_kind",
    "query_with_retry",
]

#: The daemon's alarm for each pump alarm: the one place the two vocabularies meet.
PUMP_ALARM_KINDS = {
    PumpAlarm.POWER_RESET: AlarmKind.PUMP_ALARM_RESET,
    PumpAlarm.STALL: AlarmKind.PUMP_ALARM_STALL,
    PumpAlarm.WATCHDOG_TIMEOUT: AlarmKind.PUMP_ALARM_TIMEOUT,
    PumpAlarm.PROGRAM_ERROR: AlarmKind.PUMP_ALARM_PROGRAM,
    PumpAlarm.PHASE_OUT_OF_RANGE: AlarmKind.PUMP_ALARM_PROGRAM,
    PumpAlarm.KEYPAD_PAUSE: AlarmKind.PARTIAL_DELIVERY,
    PumpAlarm.UNKNOWN: AlarmKind.PUMP_ALARM_UNKNOWN,
}


def pump_alarm_kind(alarm: PumpAlarm) -> AlarmKind:
    """The alarm the daemon raises for a pump alarm."""
    return PUMP_ALARM_KINDS[alarm]


def _kind(err: PumpctlError) -> AlarmKind:
    """The alarm kind for a failed command: the pump's alarm, or a link fault."""
    return pump_alarm_kind(err.alarm) if isinstance(err, PumpAlarmError) else AlarmKind.LINK_FAULT


@dataclass(frozen=True)
class Armed:
    """A bolus programmed and read back for ``slot``, not yet started (no intent, no RUN)."""

    slot: Slot
    words: PumpVocabulary
    read_back: PumpSettings
    #: The journal's ``pulse.armed`` record.
    seq: int


@dataclass
class PulseDelivery:
    """Runs the transaction for one slot against one driver and journal."""

    driver: PumpDriver
    journal: DeliveryJournal
    clock: Clock
    waiter: Waiter
    poll_interval_s: float = 2.0
    # Longest rest between two readings while a bolus runs: the readings feed the pump's
    # safe-mode watchdog, so this stays below its period (the heartbeat).
    heartbeat_s: float = 2.0
    overrun_margin_s: float = 15.0
    #: The configured syringe; None takes the one the driver's last self-test set.
    syringe_diameter_mm: Decimal | None = None
    #: Clock seconds per real second (a scaled clock drives only the simulator). SR-25's
    #: refusal judges the link at 1x: a simulated plunger at Nx outruns any real wire.
    time_scale: float = 1.0
    latency: LinkLatency = field(default_factory=LinkLatency)
    flow: FlowLedger = field(default_factory=FlowLedger)

    # -- the pump's words and the link's speed -------------------------------------------------

    def vocabulary(self) -> PumpVocabulary:
        diameter = self.syringe_diameter_mm or self.driver.capabilities.syringe_diameter_mm
        return self.driver.vocabulary(diameter)

    def read_progress(self) -> Progress:
        """One progress reading, timed: the SR-25 cadence rests on what readings really take."""
        asked_s = self.clock.elapsed_s()
        reading = self.driver.progress()
        self.latency.record(self.clock.elapsed_s() - asked_s)
        if any(alarm.may_clear_totals for alarm in reading.status.alarms):
            self.flow.reset_seen = True  # the totals' next fall is this reset's (SR-26)
        return reading

    def reading_s(self, words: PumpVocabulary) -> float:
        """Clock seconds one reading of the pump takes at worst: the slowest recent one
        measured on this link, or its wire time until one is."""
        return self.latency.timing(words, self.driver.baud, self.time_scale).reading_s

    def plan(self, slot: Slot, words: PumpVocabulary, *, at_1x: bool = False) -> WatchPlan:
        """The SR-25 reading cadence for ``slot`` with the link as measured so far.

        ``at_1x`` judges the link in real seconds (the refusal); otherwise in clock seconds
        (the cadence the loop keeps).
        """
        scale = self.time_scale
        timing = self.latency.timing(words, self.driver.baud, scale)
        if at_1x and scale != 1.0:
            timing = LinkTiming(timing.reading_s / scale, timing.stop_s / scale)
        step = words.totals_step_ul(slot.volume_ul + overshoot_bound_ul(slot.volume_ul))
        return plan_watch(
            slot.volume_ul, slot.rate_ul_per_min, timing, step_ul=step, heartbeat_s=self.heartbeat_s
        )

    def record_flow(self, found: UnexplainedFlow, dose_ug: Decimal | None) -> None:
        """Journal flow no pulse commanded (SR-26); the caller raises the alarm and suspends."""
        self.journal.record_unexplained_flow(
            volume_ul=found.volume_ul,
            dose_ug=dose_ug,
            totals_ul=found.totals_ul,
            expected_ul=found.expected_ul,
            since=found.since,
            moving=found.moving,
            where=found.where,
            pump_reset=found.reset,
        )
        log.error("flow.unexplained", detail=found.describe())

    # -- the transaction ---------------------------------------------------------------------

    def deliver(self, slot: Slot) -> DeliveryResult:
        """Arm and fire ``slot`` at once (already allowed): the path of a slot not armed ahead."""
        armed = self.arm(slot)
        if isinstance(armed, DeliveryResult):
            return armed
        return self.fire(armed)

    def arm(self, slot: Slot) -> Armed | DeliveryResult:
        """Program ``slot``'s bolus and read it back, moving nothing; a result is a refusal.

        Invariant: arming is never a reason to deliver. It writes no intent, so the pulse counts
        for nothing until :meth:`fire`; a refusal here is a missed pulse (nothing moved).
        """
        words = self.vocabulary()
        refused = self._before_intent(slot, words)
        if refused is not None:
            return refused
        read = self._program(slot, words)
        if isinstance(read, DeliveryResult):
            self.driver.disarm()
            return read
        try:
            appended = self.journal.record_armed(slot, read_back=_settings_payload(read))
        except BaseException:
            self.driver.disarm()  # not on record, so never started
            raise
        log.info("pulse.armed", slot_id=slot.slot_id, volume_ul=str(slot.volume_ul))
        return Armed(slot, words, read, appended.seq)

    def pump_problem(self) -> str | None:
        """Why the armed programme may not be started, from what the pump sent on its own (no
        round trip); None when it is still armed and quiet."""
        try:
            self.driver.check_armed()
        except PumpAlarmError as err:
            if err.alarm.may_clear_totals:
                self.flow.reset_seen = True  # the totals' next fall is this reset's (SR-26)
            return f"the pump raised alarm {err.alarm} since arming"
        except PumpctlError as err:
            return f"the pump holds no armed programme: {err}"
        return None

    def disarm(self, armed: Armed, why: str, *, armed_at: datetime | None = None) -> None:
        """The armed bolus will not be started: forget it and journal why (a missed pulse)."""
        self.driver.disarm()
        log.warning("pulse.disarmed", slot_id=armed.slot.slot_id, why=why)
        self.journal.record_disarmed(armed.slot.slot_id, why, armed_utc=armed_at)

    def fire(
        self,
        armed: Armed,
        decision: Decision | None = None,
        *,
        after_run: Callable[[], None] = lambda: None,
    ) -> DeliveryResult:
        """Journal the intent and RUN the armed bolus (the gate allowed it just now); every exit
        after the INTENT journals an OUTCOME. ``decision``: the gate's allow, journaled in the
        intent's commit when it is not on record yet. ``after_run`` is called exactly once: once
        RUN has been answered and the start recorded (or RUN failed), before the bolus is
        watched, or on an exit before RUN."""
        called = False

        def once() -> None:
            nonlocal called
            if not called:
                called = True
                after_run()

        try:
            return self._fire(armed, decision, once)
        finally:
            once()

    def _fire(
        self, armed: Armed, decision: Decision | None, after_run: Callable[[], None]
    ) -> DeliveryResult:
        slot, words = armed.slot, armed.words
        settings = {
            "volume_ul": str(slot.volume_ul),
            "rate_ul_per_min": str(slot.rate_ul_per_min),
            "direction": "INF",
        }
        # Invariant (SR-08): the intent is on disk before any command that could move fluid,
        # with the record that RUN goes out (after a crash, zero totals prove nothing only
        # without it): one commit, so neither is ever on disk without the other.
        try:
            self.journal.record_pulse_start(slot, pump_settings=settings, decision=decision)
        except BaseException:
            self.driver.disarm()  # no intent on record: this programme is never started
            raise
        started = self.clock.now()
        try:
            self.driver.run()
        except PumpAlarmError as err:
            after_run()
            # The pump answered RUN with an alarm: RUN was not executed, and is never re-sent.
            self._publish_head(slot)
            return self._finish(
                slot, started, f"RUN answered by alarm {err.alarm}: not executed", err
            )
        except PumpctlError as err:
            after_run()
            # The RUN may or may not have reached the pump: only its evidence can say.
            log.error("pulse.run_unconfirmed", slot_id=slot.slot_id, error=str(err))
            self._publish_head(slot)
            return self._monitor(slot, started, words, first_error=err)
        self._publish_head(slot)
        # Logged after RUN: nothing but the intent's fsync stands between the slot and RUN.
        log.info("pulse.intent", slot_id=slot.slot_id, volume_ul=str(slot.volume_ul))
        self._record_started(slot)
        # Only now: the start is on record as close to RUN's answer as before.
        after_run()
        return self._monitor(slot, started, words)

    def _refused(self, slot: Slot, detail: str, *alarms: AlarmKind, **extra: Any) -> DeliveryResult:
        """No intent, nothing commanded: a missed pulse with its reason, never a clamped one."""
        log.warning("pulse.refused", slot_id=slot.slot_id, alarms=list(alarms), detail=detail)
        return DeliveryResult(
            slot.slot_id,
            Outcome.NOT_DELIVERED,
            None,
            None,
            None,
            detail=detail,
            alarms=alarms,
            intent_written=False,
            **extra,
        )

    def _before_intent(self, slot: Slot, words: PumpVocabulary) -> DeliveryResult | None:
        """Every check that may refuse the pulse while it is still only a plan."""
        problems = words.problems(slot.volume_ul, slot.rate_ul_per_min)
        if problems:
            text = "; ".join(f"{q.name}={value} {why}" for q, value, why in problems)
            return self._refused(
                slot,
                f"the pump cannot be told this pulse exactly: {text}",
                AlarmKind.PULSE_UNSENDABLE,
            )
        read_ul = self._check_totals(slot)
        if isinstance(read_ul, DeliveryResult):
            return read_ul
        plan = self.plan(slot, words, at_1x=True)
        if not plan.feasible:
            # Invariant (SR-25): a runaway this link could not stop in time is never risked.
            return self._refused(
                slot,
                f"{plan.describe()} with this link; pulse not started",
                AlarmKind.OVERSHOOT_UNBOUNDED,
            )
        # Invariant (SR-26): the clear is on record before it is sent. A daemon killed between
        # the clear and ``pulse.armed`` leaves zero totals that its successor must not take for
        # a clear made outside pumpctl (a high alarm that halts therapy for nothing).
        self.journal.record_totals_clearing(slot.slot_id, read_ul)
        try:
            self.driver.clear_dispensed()
        except PumpctlError as err:
            return self._refused(
                slot, f"could not clear the pump's totals before the pulse: {err}", _kind(err)
            )
        self.flow.settled(Decimal(0), self.clock.now())
        return None

    def _check_totals(self, slot: Slot) -> Decimal | DeliveryResult:
        """SR-26: read state and totals before the clear; refuse on an alarm or unexplained flow.

        Returns the infused total read (as expected), or the refusal."""
        try:
            reading = query_with_retry(self.read_progress)
        except PumpctlError as err:
            return self._refused(
                slot, f"could not read the pump's totals before the pulse: {err}", _kind(err)
            )
        pump_alarms = reading.status.alarms
        if pump_alarms:
            kinds = dict.fromkeys(pump_alarm_kind(alarm) for alarm in pump_alarms)
            names = ",".join(str(alarm) for alarm in pump_alarms)
            return self._refused(slot, f"pump alarm(s) {names} before the pulse", *kinds)
        if reading.status.moving:
            self._stop_now(slot, "moving before the pulse")
            reading = Progress(reading.status, query_with_retry(self.driver.dispensed))
        # Invariant (SR-26): the totals are read, and any residue journaled, before every clear.
        infused_ul: Decimal = reading.totals.infused_ul
        found = self.flow.judge(
            infused_ul,
            at=self.clock.now(),
            moving=reading.status.moving,
            where="read before clearing the totals for a pulse",
        )
        if found is None:
            return infused_ul
        self.record_flow(found, dose_for(found.volume_ul, slot))
        if found.reset:
            # The pump's own reset cleared the totals: its alarm (high, acknowledged by a person)
            # names the cause; nothing is known to have moved, so nothing is suspended for flow.
            return self._refused(slot, found.describe(), found.alarm, flow=found)
        return self._refused(
            slot,
            found.describe(),
            found.alarm,
            suspend_for=found.alarm,
            flow=found,
        )

    def _program(self, slot: Slot, words: PumpVocabulary) -> PumpSettings | DeliveryResult:
        """Program the bolus and read it back (SR-27): the settings read, or a refusal."""
        try:
            self.driver.program_bolus(slot.volume_ul, slot.rate_ul_per_min)
        except UnsendableError as err:
            detail = f"the pump cannot be told this pulse: {err}"
            return self._refused(slot, detail, AlarmKind.PULSE_UNSENDABLE)
        except SettingsMismatchError as err:
            # The driver's own read-back while programming (a pump that cannot program blind).
            return self._mismatch(slot, (str(err),))
        except PumpctlError as err:
            return self._refused(slot, f"programming failed: {err}", _kind(err))
        diameter = self.syringe_diameter_mm or self.driver.capabilities.syringe_diameter_mm
        expected = words.settings_for(diameter, slot.volume_ul, slot.rate_ul_per_min)
        try:
            read = query_with_retry(self.driver.read_settings)
        except PumpctlError as err:
            return self._refused(slot, f"settings not read back: {err}", _kind(err))
        if expected is None:  # pragma: no cover - _before_intent refused unsendable values
            raise UnsendableError(f"slot {slot.slot_id} cannot be stated to the pump")
        mismatches = expected.mismatches(read)
        if not mismatches:
            return read
        return self._mismatch(slot, mismatches)

    def _mismatch(self, slot: Slot, mismatches: tuple[str, ...]) -> DeliveryResult:
        """Invariant (SR-27): a pump not set exactly as configured is never started."""
        detail = "pump settings differ from the configuration, RUN not sent: " + "; ".join(
            mismatches
        )
        log.error("pump.settings_mismatch", slot_id=slot.slot_id, mismatches=list(mismatches))
        return self._refused(
            slot,
            detail,
            AlarmKind.SETTINGS_MISMATCH,
            suspend_for=AlarmKind.SETTINGS_MISMATCH,
            pump_unready=True,
        )

    def _publish_head(self, slot: Slot) -> None:
        """The head file catches up with the intent's commit, once RUN is out. A failure here
        stops nothing: the bolus runs and is watched; the journal is then unwritable, so the
        gate denies the next pulse until it is writable again."""
        try:
            self.journal.publish_head()
        except PumpctlError as err:
            log.error("journal.head_unpublished", slot_id=slot.slot_id, error=str(err))

    def _record_started(self, slot: Slot) -> None:
        """The pump answered RUN, so it is running: the next interval is measured from now."""
        try:
            self.journal.record_started(slot.slot_id)
        except PumpctlError as err:
            # The bolus is running and must be watched; without this record the gate measures
            # from the outcome, which is later, so the next pulse can only come later.
            log.error("pulse.started_unrecorded", slot_id=slot.slot_id, error=str(err))

    def _monitor(
        self,
        slot: Slot,
        started: datetime,
        words: PumpVocabulary,
        first_error: PumpctlError | None = None,
    ) -> DeliveryResult:
        deadline = self.clock.elapsed_s() + float(slot.duration_s) + self.overrun_margin_s
        alarms: list[PumpAlarm] = []
        stopped_by: str | None = None
        while True:
            plan = self.plan(slot, words)
            if plan.gap_s > 0:
                self.waiter.sleep(plan.gap_s)
            # The question's time, not the answer's: a reply delayed by a busy host says what
            # the pump did when asked, and must not make a bolus that ended in time look overrun.
            asked_s = self.clock.elapsed_s()
            try:
                reading = self.read_progress()
            except PumpAlarmError as err:
                alarms.append(err.alarm)
                break
            except PumpctlError as err:
                return self._unknown(slot, started, f"link lost while monitoring: {err}")
            status = reading.status
            alarms.extend(status.alarms)
            if status.moving and reading.totals.infused_ul > slot.volume_ul:
                # Invariant (SR-25): a pump past its volume is stopped at the first reading
                # that shows it; the cadence keeps that within the bound.
                stopped_by = "runaway"
                self._stop_now(slot, "runaway past its volume")
                break
            if not status.moving:
                if status.state is PumpState.PAUSED:
                    # Paused mid-bolus (keypad): end the phase so no later RUN can resume it.
                    self._stop_now(slot, "paused mid-bolus")
                    alarms.append(PumpAlarm.KEYPAD_PAUSE)
                break
            if asked_s > deadline:
                # Invariant (SR-06): a pulse still running past its end + margin is stopped now.
                stopped_by = "overrun"
                self._stop_now(slot)
                break
            if plan.gap_s <= 0 and self.clock.elapsed_s() == asked_s:
                # A clock that does not move while the pump answers (a virtual one) is moved on
                # by a moment, or the bolus would never reach its end.
                self.waiter.sleep(0.001)
        return self._settle(slot, started, alarms, stopped_by, first_error)

    def _stop_now(self, slot: Slot, why: str = "unintended flow") -> None:
        try:
            self.driver.stop()
            log.warning("pump.stopped", slot_id=slot.slot_id, why=why)
        except PumpctlError as err:
            log.critical("pump.stop_failed", slot_id=slot.slot_id, error=str(err))

    def _settle(
        self,
        slot: Slot,
        started: datetime,
        pump_alarms: list[PumpAlarm],
        stopped_by: str | None,
        first_error: PumpctlError | None,
    ) -> DeliveryResult:
        try:
            totals = query_with_retry(self.driver.dispensed)
        except PumpctlError as err:
            return self._unknown(slot, started, f"dispensed totals unreadable: {err}")
        cleared_by = [alarm for alarm in pump_alarms if alarm.may_clear_totals]
        if cleared_by:
            # A power reset (or an alarm the driver cannot name) mid-pulse may have cleared the
            # totals: they prove nothing now.
            return self._unknown(
                slot,
                started,
                f"pump alarm {cleared_by[0]} during the pulse; totals read {totals.infused_ul} uL",
                totals_trusted=False,
            )
        delivered = totals.infused_ul
        ended = self.clock.now()
        outcome = classify_delivery(slot.volume_ul, delivered, tolerance_ul=totals.resolution_ul)
        if stopped_by == "runaway" and delivered > slot.volume_ul:
            outcome = Outcome.OVER_DELIVERED  # it ran past its volume, however little
        alarms = [pump_alarm_kind(alarm) for alarm in pump_alarms]
        notes = []
        suspend_for: AlarmKind | None = None
        if outcome is Outcome.OVER_DELIVERED:
            if stopped_by is None:
                self._stop_now(slot, "over-delivered")
            # Invariant (SR-25): the measured volume is the record; delivery stays suspended.
            over = delivered - slot.volume_ul
            bound = overshoot_bound_ul(slot.volume_ul)
            alarms.append(AlarmKind.OVER_DELIVERY)
            notes.append(
                f"over-delivered: {delivered} uL for {slot.volume_ul} uL commanded ({over} uL "
                f"over; SR-25 bound {bound} uL{'' if over <= bound else ', EXCEEDED'})"
            )
            suspend_for = AlarmKind.OVER_DELIVERY
        elif stopped_by == "overrun":
            # Invariant (SR-06): a run past its end suspends delivery.
            alarms.append(AlarmKind.UNINTENDED_FLOW)
            notes.append(f"unintended flow: {delivered} uL for {slot.volume_ul} uL commanded")
            suspend_for = AlarmKind.UNINTENDED_FLOW
        if outcome is Outcome.PARTIAL:
            alarms.append(AlarmKind.PARTIAL_DELIVERY)
        if pump_alarms:
            notes.append(f"pump alarm(s) {','.join(str(a) for a in pump_alarms)}")
        if first_error is not None:
            notes.append(f"RUN reply lost ({first_error}); outcome from pump totals")
        detail = "; ".join(notes)
        self.journal.record_outcome(
            slot.slot_id,
            outcome,
            delivered_volume_ul=delivered,
            started=started,
            ended=ended,
            detail=detail,
        )
        self.flow.settled(delivered, ended)
        event = {
            Outcome.DELIVERED: "pulse.delivered",
            Outcome.PARTIAL: "pulse.partial",
            Outcome.OVER_DELIVERED: "pulse.over_delivered",
            Outcome.NOT_DELIVERED: "pulse.not_delivered",
        }.get(outcome, "pulse.outcome")
        log.info(event, slot_id=slot.slot_id, delivered_ul=str(delivered), detail=detail)
        return DeliveryResult(
            slot.slot_id,
            outcome,
            delivered,
            started,
            ended,
            detail,
            tuple(alarms),
            suspend_for=suspend_for,
        )

    def _finish(
        self,
        slot: Slot,
        started: datetime | None,
        detail: str,
        err: PumpctlError | None,
        *,
        alarm: AlarmKind | None = None,
        suspend_for: AlarmKind | None = None,
        pump_unready: bool = False,
    ) -> DeliveryResult:
        """RUN was never executed: prove it from the totals, then record NOT_DELIVERED."""
        if alarm is None:
            alarm = AlarmKind.LINK_FAULT if err is None else _kind(err)
        try:
            totals = query_with_retry(self.driver.dispensed)
        except PumpctlError as read_err:
            return self._unknown(slot, started, f"{detail}; totals unreadable: {read_err}")
        if totals.infused_ul > 0:
            # The pump moved although we believe RUN never ran: treat it as unintended flow.
            self._stop_now(slot)
            return self._settle(slot, started or self.clock.now(), [], "overrun", err)
        ended = self.clock.now()
        self.journal.record_outcome(
            slot.slot_id,
            Outcome.NOT_DELIVERED,
            delivered_volume_ul=Decimal(0),
            started=started,
            ended=ended,
            detail=detail,
        )
        self.flow.settled(totals.infused_ul, ended)
        log.warning("pulse.not_delivered", slot_id=slot.slot_id, detail=detail)
        return DeliveryResult(
            slot.slot_id,
            Outcome.NOT_DELIVERED,
            Decimal(0),
            started,
            ended,
            detail,
            (alarm,),
            suspend_for=suspend_for,
            pump_unready=pump_unready,
        )

    def _unknown(
        self,
        slot: Slot,
        started: datetime | None,
        detail: str,
        *,
        totals_trusted: bool = True,
    ) -> DeliveryResult:
        """The pump cannot tell us what happened: UNCERTAIN, counted as delivered (SR-09)."""
        self.journal.record_outcome(
            slot.slot_id,
            Outcome.UNCERTAIN,
            delivered_volume_ul=None,
            started=started,
            ended=None,
            detail=detail,
            totals_trusted=totals_trusted,
        )
        self.flow.settled(None, self.clock.now())
        log.error("pulse.uncertain", slot_id=slot.slot_id, detail=detail)
        return DeliveryResult(
            slot.slot_id,
            Outcome.UNCERTAIN,
            None,
            started,
            None,
            detail,
            (AlarmKind.LINK_FAULT, AlarmKind.UNCERTAIN_PULSE),
            totals_trusted=totals_trusted,
        )


def _settings_payload(read: PumpSettings) -> dict[str, str]:
    """The settings the pump read back, as the journal keeps them (the pump's own words)."""
    return {
        "syringe_diameter": str(read.syringe_diameter),
        "direction": str(read.direction),
        "volume": str(read.volume),
        "rate": str(read.rate),
    }
