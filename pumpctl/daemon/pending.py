"""Settling pending pulses (an intent without an outcome) from pump evidence, never by re-sending.

This is the shell around :func:`pumpctl.core.reconcile.decide_pending`: it gathers the evidence
(waits for the pump to stand still, reads its status and totals, asks the journal what it holds
about the pulse), and carries out the decision. Runs at start-up, after link recovery, and at
every heartbeat while a pulse is pending (SR-08, SR-09).
"""

from __future__ import annotations

from decimal import Decimal

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.clock import Clock
from pumpctl.core.model import Outcome, PulseRecord
from pumpctl.core.reconcile import Action, PendingEvidence, decide_pending
from pumpctl.daemon import notify
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.state import DeliveryState
from pumpctl.daemon.waiting import Waker
from pumpctl.delivery import pump_alarm_kind
from pumpctl.drivers.base import PumpAlarm, PumpDriver, PumpStatus
from pumpctl.journal import EventKind, Journal
from pumpctl.watch import FlowLedger

log = structlog.get_logger("pumpctl.daemon")

#: How long past a pending pulse's own duration the pump is given to stand still.
SETTLE_MARGIN_S = 30.0
#: Journaled alarms that say the pump's totals may have been cleared (a reset, an unknown alarm).
TOTALS_CLEARING_ALARMS = frozenset(pump_alarm_kind(a) for a in PumpAlarm if a.may_clear_totals)


class PendingPulses:
    """Reconciles the journal's pending pulses against one pump."""

    def __init__(
        self,
        *,
        driver: PumpDriver,
        journal: Journal,
        clock: Clock,
        waker: Waker,
        annunciator: Annunciator,
        state: DeliveryState,
        poll_interval_s: float,
        flow: FlowLedger,
        alarms_before_start: tuple[PumpAlarm, ...] = (),
    ) -> None:
        self._driver = driver
        #: What the pump's totals should read between pulses (SR-26): a settled pulse sets it.
        self._flow = flow
        self._journal = journal
        self._clock = clock
        self._waker = waker
        self._annunciator = annunciator
        self._state = state
        self._poll_interval_s = poll_interval_s
        #: Alarms another connection saw before this daemon's (e.g. the simulator handshake).
        self.alarms_before_start = alarms_before_start

    @property
    def reset_seen_before_start(self) -> bool:
        return any(alarm.may_clear_totals for alarm in self.alarms_before_start)

    def record_alarms_before_start(self) -> None:
        """Put alarms seen before start-up on record while a pulse is pending: no later run may
        then settle it from totals a reset cleared."""
        if not self._journal.pending_pulses():
            return
        for alarm in self.alarms_before_start:
            if alarm.may_clear_totals:
                self._annunciator.raise_alarm(
                    pump_alarm_kind(alarm),
                    "the pump reported a power reset at start-up"
                    if alarm is PumpAlarm.POWER_RESET
                    else f"the pump reported alarm {alarm} at start-up",
                )

    def reconcile(self) -> None:
        """Settle every pending pulse from pump evidence (SR-08, SR-09); never re-sends."""
        for record in self._journal.pending_pulses():
            if record.slot_id in self._state.awaiting_operator:
                continue  # already alarmed; waits for the operator's acknowledgement
            self._reconcile_one(record)

    def _reconcile_one(self, record: PulseRecord) -> None:
        status = self._wait_until_still(record)
        cleared_by = [alarm for alarm in status.alarms if alarm.may_clear_totals]
        for alarm in cleared_by:
            # Journaled at once: the pump says this only once, and a crash before the pulse is
            # settled must not take the evidence with it.
            self._annunciator.raise_alarm(
                pump_alarm_kind(alarm),
                "the pump reported a power reset"
                if alarm is PumpAlarm.POWER_RESET
                else f"the pump reported alarm {alarm}",
                slot_id=record.slot_id,
            )
        totals = None if status.moving else self._driver.dispensed()
        infused = None if totals is None else totals.infused_ul
        evidence = PendingEvidence(
            still_moving=status.moving,
            infused_ul=infused,
            run_journaled=record.slot_id in self._runs_sent(),
            reset_reported_now=bool(cleared_by),
            reset_seen_before_start=self.reset_seen_before_start,
            reset_journaled_since_intent=self._reset_journaled_since_intent(record.slot_id),
            totals_marked_untrusted=record.slot_id in self._journaled_untrusted(),
            tolerance_ul=Decimal(0) if totals is None else totals.resolution_ul,
        )
        decision = decide_pending(record.volume_ul, evidence)
        if decision.action is Action.STOP_AND_SUSPEND:
            self._driver.stop()
            self._annunciator.suspend_for(
                AlarmKind.UNINTENDED_FLOW,
                f"pump still running for {record.slot_id}",
                slot_id=record.slot_id,
            )
        elif decision.action is Action.AWAIT_OPERATOR:
            self._state.awaiting_operator.add(record.slot_id)
            self._annunciator.raise_alarm(
                AlarmKind.UNCERTAIN_PULSE,
                f"pulse {record.slot_id}: {decision.why}; acknowledge after checking the syringe",
                slot_id=record.slot_id,
            )
        elif infused is not None:
            outcome = self._journal.resolve_from_pump(
                record.slot_id,
                infused,
                pump_status=str(status.state),
                evidence={
                    "infused_ul": str(infused),
                    "alarm": None if status.alarm is None else status.alarm.value,
                },
                tolerance_ul=evidence.tolerance_ul,
            )
            self._flow.settled(infused, self._clock.now())
            log.info("pulse.reconciled", slot_id=record.slot_id, outcome=str(outcome))
            self._annunciator.alarms.clear_cause(AlarmKind.UNCERTAIN_PULSE)
            if outcome is Outcome.OVER_DELIVERED:
                # SR-25: the pump's totals show more than the pulse; its measured volume is the
                # record, and delivery stays suspended until acknowledged.
                self._annunciator.suspend_for(
                    AlarmKind.OVER_DELIVERY,
                    f"pulse {record.slot_id} reconciled from the pump's totals: "
                    f"{infused} uL for {record.volume_ul} uL commanded",
                    slot_id=record.slot_id,
                )

    def settle_by_operator(self, who: str, reason: str) -> None:
        """The operator settles every pending pulse as delivered, the conservative reading."""
        for record in self._journal.pending_pulses():
            self._journal.acknowledge_uncertain(record.slot_id, who, reason)
            self._state.awaiting_operator.discard(record.slot_id)
        self._flow.adopt()  # what the totals now hold was the operator's to judge (SR-26)
        self._annunciator.alarms.clear_cause(AlarmKind.UNCERTAIN_PULSE)

    # -- evidence ------------------------------------------------------------------------------

    def _wait_until_still(self, record: PulseRecord) -> PumpStatus:
        """The pump's status once it stands still, or once the pulse should long have ended."""
        deadline = self._clock.elapsed_s() + float(record.duration_s) + SETTLE_MARGIN_S
        status = self._driver.status()
        while status.moving and self._clock.elapsed_s() < deadline:
            # Start-up may wait up to a whole pulse here: systemd is told, poll by poll.
            notify.extend_timeout(self._poll_interval_s + SETTLE_MARGIN_S)
            self._waker.sleep(self._poll_interval_s)
            status = self._driver.status()
        return status

    def _journaled_untrusted(self) -> set[str]:
        """Slots whose journaled outcome says the pump's totals prove nothing (a power reset)."""
        return {
            str(e.payload.get("slot_id"))
            for e in self._journal.events(kinds=(EventKind.PULSE_OUTCOME,))
            if e.payload.get("totals_trusted") is False
        }

    def _reset_journaled_since_intent(self, slot_id: str) -> bool:
        """Whether an alarm that may clear the totals was journaled after this pulse's intent."""
        intent_seq: int | None = None
        for event in self._journal.events(kinds=(EventKind.PULSE_INTENT, EventKind.ALARM_RAISED)):
            if event.kind == EventKind.PULSE_INTENT and event.payload.get("slot_id") == slot_id:
                intent_seq = event.seq
            elif intent_seq is not None and event.payload.get("alarm_id") in TOTALS_CLEARING_ALARMS:
                return True
        return False

    def _runs_sent(self) -> set[str]:
        """Slots whose RUN the journal records as sent."""
        return {
            str(e.payload.get("slot_id"))
            for e in self._journal.events(kinds=(EventKind.PULSE_RUN,))
        }
