"""The pulse-delivery transaction: journal the intent, run one bounded bolus, prove what it did.

gate (already passed) → CLD → journal INTENT (fsync) → program DIR/VOL/RAT → RUN → monitor
(status polls feed the pump's watchdog) → DIS → journal OUTCOME. From the INTENT on, the pulse
counts as delivered for every limit; if anything goes wrong after it and the pump cannot tell
what happened, the outcome is UNCERTAIN and the next start-up or link recovery reconciles it
from pump evidence. Nothing here ever re-sends a motion command (SR-16).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.clock import Clock
from pumpctl.core.model import Outcome, Slot
from pumpctl.core.reconcile import classify_delivery
from pumpctl.drivers.base import PumpAlarm, PumpDriver, PumpState
from pumpctl.errors import PumpAlarmError, PumpctlError

log = structlog.get_logger("pumpctl.delivery")

T = TypeVar("T")

#: Read-only queries may be retried after a link fault (SR-16); motion commands never are.
QUERY_RETRIES = 3


class Waiter(Protocol):
    """How the daemon lets clock time pass: real sleeping, scaled sleeping or a virtual clock."""

    def sleep(self, seconds: float) -> None: ...


class DeliveryJournal(Protocol):
    """What the transaction needs from the journal."""

    def record_intent(
        self, slot: Slot, *, pump_settings: Mapping[str, Any] | None = None
    ) -> object: ...

    def record_run(self, slot_id: str) -> object: ...

    def record_started(self, slot_id: str) -> object: ...

    def record_outcome(
        self,
        slot_id: str,
        outcome: Outcome,
        *,
        delivered_volume_ul: Decimal | None,
        started: datetime | None = None,
        ended: datetime | None = None,
        detail: str = "",
        totals_trusted: bool = True,
    ) -> object: ...


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


@dataclass(frozen=True)
class DeliveryResult:
    """What one transaction established. ``alarms`` are the alarms for the daemon to raise."""

    slot_id: str
    outcome: Outcome
    delivered_volume_ul: Decimal | None
    started: datetime | None
    ended: datetime | None
    detail: str = ""
    alarms: tuple[AlarmKind, ...] = ()
    suspend: bool = False  # unintended flow: delivery stays suspended until acknowledged (SR-06)
    intent_written: bool = True
    # False after a pump power reset: its totals may have been cleared, so only an operator's
    # acknowledgement may settle this UNCERTAIN pulse, never a later DIS reading (SR-09).
    totals_trusted: bool = True


def query_with_retry(call: Callable[[], T]) -> T:
    """Run a read-only query, retrying link faults a few times (SR-16 allows it for queries)."""
    for attempt in range(QUERY_RETRIES):
        try:
            return call()
        except PumpAlarmError:
            raise
        except PumpctlError:
            if attempt == QUERY_RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


@dataclass
class PulseDelivery:
    """Runs the transaction for one slot against one driver and journal."""

    driver: PumpDriver
    journal: DeliveryJournal
    clock: Clock
    waiter: Waiter
    poll_interval_s: float = 2.0
    # Longest wait between two status polls while the bolus should still be running: the polls
    # feed the pump's safe-mode watchdog, so this stays below its period (the heartbeat).
    heartbeat_s: float = 2.0
    overrun_margin_s: float = 15.0
    over_delivery_tolerance_ul: Decimal = Decimal("0.5")
    seen_alarms: list[PumpAlarm] = field(default_factory=list)

    def deliver(self, slot: Slot) -> DeliveryResult:
        """Deliver ``slot`` (already allowed); every exit after the INTENT journals an OUTCOME."""
        try:
            self.driver.clear_dispensed()
        except PumpctlError as err:
            # No intent yet and nothing moved: a missed pulse, not an unknown one.
            log.warning("pulse.not_started", slot_id=slot.slot_id, error=str(err))
            return DeliveryResult(
                slot.slot_id,
                Outcome.NOT_DELIVERED,
                None,
                None,
                None,
                detail=f"could not clear the pump's totals before the pulse: {err}",
                alarms=(
                    (pump_alarm_kind(err.alarm),)
                    if isinstance(err, PumpAlarmError)
                    else (AlarmKind.LINK_FAULT,)
                ),
                intent_written=False,
            )
        settings = {
            "volume_ul": str(slot.volume_ul),
            "rate_ul_per_min": str(slot.rate_ul_per_min),
            "direction": "INF",
        }
        # Invariant (SR-08): the intent is on disk before any command that could move fluid.
        self.journal.record_intent(slot, pump_settings=settings)
        log.info("pulse.intent", slot_id=slot.slot_id, volume_ul=str(slot.volume_ul))
        try:
            self.driver.program_bolus(slot.volume_ul, slot.rate_ul_per_min)
        except PumpctlError as err:
            return self._finish(slot, None, f"programming failed, RUN not sent: {err}", err)
        # The record that RUN goes out: after a crash, zero totals prove nothing only without it.
        self.journal.record_run(slot.slot_id)
        started = self.clock.now()
        try:
            self.driver.run()
        except PumpAlarmError as err:
            # The pump answered RUN with an alarm: RUN was not executed, and is never re-sent.
            return self._finish(
                slot, started, f"RUN answered by alarm {err.alarm}: not executed", err
            )
        except PumpctlError as err:
            # The RUN may or may not have reached the pump: only its evidence can say.
            log.error("pulse.run_unconfirmed", slot_id=slot.slot_id, error=str(err))
            return self._monitor(slot, started, first_error=err)
        self._record_started(slot)
        return self._monitor(slot, started)

    def _record_started(self, slot: Slot) -> None:
        """The pump answered RUN, so it is running: the next interval is measured from now."""
        try:
            self.journal.record_started(slot.slot_id)
        except PumpctlError as err:
            # The bolus is running and must be watched; without this record the gate measures
            # from the outcome, which is later, so the next pulse can only come later.
            log.error("pulse.started_unrecorded", slot_id=slot.slot_id, error=str(err))

    def _monitor(
        self, slot: Slot, started: datetime, first_error: PumpctlError | None = None
    ) -> DeliveryResult:
        expected_s = float(slot.duration_s)
        start_elapsed = self.clock.elapsed_s()
        deadline = start_elapsed + expected_s + self.overrun_margin_s
        alarms: list[PumpAlarm] = []
        overran = False
        end_elapsed = start_elapsed + expected_s
        while True:
            # Until the bolus's expected end only a stall or a pause can show, and the pump
            # stops itself for those: poll at the heartbeat. From the end on, poll closely so an
            # overrun is caught within the margin (SR-06).
            until_end_s = end_elapsed - self.clock.elapsed_s()
            self.waiter.sleep(
                max(0.05, min(self.heartbeat_s, max(self.poll_interval_s, until_end_s)))
                if until_end_s > 0
                else self.poll_interval_s
            )
            # The question's time, not the answer's: a reply delayed by a busy host says what
            # the pump did when asked, and must not make a bolus that ended in time look overrun.
            asked_s = self.clock.elapsed_s()
            try:
                status = self.driver.status()
            except PumpAlarmError as err:
                alarms.append(err.alarm)
                break
            except PumpctlError as err:
                return self._unknown(slot, started, f"link lost while monitoring: {err}")
            if status.alarm is not None:
                alarms.append(status.alarm)
            if not status.moving:
                if status.state is PumpState.PAUSED:
                    # Paused mid-bolus (keypad): end the phase so no later RUN can resume it.
                    self._stop_now(slot, "paused mid-bolus")
                    alarms.append(PumpAlarm.KEYPAD_PAUSE)
                break
            if asked_s > deadline:
                # Invariant (SR-06): a pulse still running past its end + margin is stopped now.
                overran = True
                self._stop_now(slot)
                break
        return self._settle(slot, started, alarms, overran, first_error)

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
        overran: bool,
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
        outcome = classify_delivery(slot.volume_ul, delivered)
        alarms = [pump_alarm_kind(alarm) for alarm in pump_alarms]
        notes = []
        suspend = False
        if overran or delivered > slot.volume_ul + self.over_delivery_tolerance_ul:
            # Invariant (SR-06): over-delivery or a run past its end suspends delivery.
            self._stop_now(slot)
            alarms.append(AlarmKind.UNINTENDED_FLOW if overran else AlarmKind.OVER_DELIVERY)
            notes.append(f"unintended flow: {delivered} uL for {slot.volume_ul} uL commanded")
            suspend = True
        if outcome is Outcome.PARTIAL:
            alarms.append(AlarmKind.PARTIAL_DELIVERY)
        if pump_alarms:
            notes.append(f"pump alarm(s) {','.join(pump_alarms)}")
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
        event = {
            Outcome.DELIVERED: "pulse.delivered",
            Outcome.PARTIAL: "pulse.partial",
            Outcome.NOT_DELIVERED: "pulse.not_delivered",
        }.get(outcome, "pulse.outcome")
        log.info(event, slot_id=slot.slot_id, delivered_ul=str(delivered), detail=detail)
        return DeliveryResult(
            slot.slot_id, outcome, delivered, started, ended, detail, tuple(alarms), suspend
        )

    def _finish(
        self, slot: Slot, started: datetime | None, detail: str, err: PumpctlError
    ) -> DeliveryResult:
        """RUN was never executed: prove it from the totals, then record NOT_DELIVERED."""
        alarm = (
            pump_alarm_kind(err.alarm) if isinstance(err, PumpAlarmError) else AlarmKind.LINK_FAULT
        )
        try:
            totals = query_with_retry(self.driver.dispensed)
        except PumpctlError as read_err:
            return self._unknown(slot, started, f"{detail}; totals unreadable: {read_err}")
        if totals.infused_ul > 0:
            # The pump moved although we believe RUN never ran: treat it as unintended flow.
            self._stop_now(slot)
            return self._settle(slot, started or self.clock.now(), [], True, err)
        self.journal.record_outcome(
            slot.slot_id,
            Outcome.NOT_DELIVERED,
            delivered_volume_ul=Decimal(0),
            started=started,
            ended=self.clock.now(),
            detail=detail,
        )
        log.warning("pulse.not_delivered", slot_id=slot.slot_id, detail=detail)
        return DeliveryResult(
            slot.slot_id,
            Outcome.NOT_DELIVERED,
            Decimal(0),
            started,
            self.clock.now(),
            detail,
            (alarm,),
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
