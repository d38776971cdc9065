"""The pump between pulses: bring it up, watch it still, recover the link when it fails.

Between pulses the pump must stand still; anything else is unintended flow (SR-06). Its state and
dispensed totals are read on a schedule of their own (:mod:`pumpctl.daemon.flow_watch`), so flow
no pulse commanded is seen within 10 s whatever the safe-mode period (SR-26). A link fault makes
the pump not ready (the gate then denies, SR-16) until a reconnect, reconciliation and a fresh
self-test succeed (SR-13).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import PulseRecord
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.device_access import device_exposure
from pumpctl.daemon.flow_watch import FlowWatch
from pumpctl.daemon.pending import PendingPulses
from pumpctl.daemon.reservoir import Reservoir
from pumpctl.daemon.state import DeliveryState, Therapy
from pumpctl.delivery import PulseDelivery, pump_alarm_kind
from pumpctl.drivers.base import PumpDriver, PumpState, PumpStatus
from pumpctl.errors import PumpAlarmError, PumpctlError
from pumpctl.journal import EventKind, Journal

log = structlog.get_logger("pumpctl.daemon")


class PumpWatch:
    """Readiness of one pump: connect and self-test, heartbeat checks, recovery."""

    def __init__(
        self,
        *,
        driver: PumpDriver,
        journal: Journal,
        annunciator: Annunciator,
        pending: PendingPulses,
        state: DeliveryState,
        syringe_diameter_mm: Decimal,
        flow_watch: FlowWatch,
        device_url: str = "",
        delivery: PulseDelivery,
        therapy: Therapy,
        reservoir: Reservoir,
        reservoir_alarms: Callable[[], None],
    ) -> None:
        self._driver = driver
        self._journal = journal
        self._annunciator = annunciator
        self._pending = pending
        self._state = state
        self._syringe_diameter_mm = syringe_diameter_mm
        #: The pump's device file, judged at each connection (SR-31); "" when there is none.
        self.device_url = device_url
        self._flow_watch = flow_watch
        self._delivery = delivery
        self._therapy = therapy
        self._reservoir = reservoir
        self._reservoir_alarms = reservoir_alarms

    def load_flows(self) -> None:
        """At start-up: the expected totals and recent unexplained flows from the journal, and
        the reservoir charged with the flows since the last fill (SR-26)."""
        self._flow_watch.load(self._journal, self._delivery)
        # A reset another connection saw first (the simulator handshake) explains a fall too.
        self._delivery.flow.reset_seen = self._pending.reset_seen_before_start
        self._reservoir.used(sum((r.volume_ul for r in self._flows_since_fill()), Decimal(0)))

    def _flows_since_fill(self) -> list[PulseRecord]:
        fills = self._journal.events(kinds=(EventKind.RESERVOIR_CHANGED,))
        since = fills[-1].wall if fills else None
        return [r for r in self._flow_watch.records if since is None or r.intent_wall >= since]

    def bring_up(self) -> None:
        """Connect, settle pending pulses, self-test; raises on any failure (no delivery then)."""
        self._driver.connect()
        self._check_device()
        self._pending.reconcile()
        report = self._driver.self_test(syringe_diameter_mm=self._syringe_diameter_mm)
        self._state.pump_ready = True
        if any(alarm.may_clear_totals for alarm in report.alarms_at_connect):
            # SR-26: totals found fallen are this reset's, and say so. The pump reports a reset
            # once, so they are judged (and a fall journaled) now: a daemon killed before its
            # first scheduled reading would leave its successor a fall it could not explain.
            self._delivery.flow.reset_seen = True
            if not self._journal.pending_pulses():
                self._watch_flow(now=True)

    def _check_device(self) -> None:
        """SR-31: alarm while others than the daemon's user can open the pump's device."""
        exposure = device_exposure(self.device_url) if self.device_url else None
        if exposure is None:
            self._annunciator.alarms.clear_cause(AlarmKind.PUMP_DEVICE_SHARED)
        else:
            log.warning("pump.device_shared", detail=exposure)
            self._annunciator.raise_alarm(AlarmKind.PUMP_DEVICE_SHARED, exposure)

    def check(self) -> None:
        """One heartbeat; a link fault becomes an alarm and makes the pump not ready."""
        try:
            self._check()
        except PumpctlError as err:
            self._link_fault(err)

    def _check(self) -> None:
        """Between pulses the pump must be still; anything else is unintended flow (SR-06)."""
        if not self._state.pump_ready:
            self._recover()
            return
        # With a pulse pending its totals are evidence for reconciliation, not a baseline: the
        # watch waits (postponed, so the loop does not wake for a reading it will not take).
        if self._journal.pending_pulses():
            status = self._heartbeat()
            self._flow_watch.postpone()
        else:
            status = self._watch_flow()
        if status.alarm is not None:
            self._annunciator.raise_alarm(
                pump_alarm_kind(status.alarm), f"pump reported alarm {status.alarm}"
            )
        if status.moving:
            self._driver.stop()
            self._annunciator.suspend_for(
                AlarmKind.UNINTENDED_FLOW, f"pump {status.state} with no pulse commanded"
            )
        self._annunciator.alarms.clear_cause(AlarmKind.LINK_FAULT)
        if self._journal.pending_pulses():
            self._pending.reconcile()

    def _watch_flow(self, *, now: bool = False) -> PumpStatus:
        """SR-26: the scheduled reading of state and totals (a heartbeat when not yet due);
        ``now`` takes the reading whether due or not."""
        if not now and not self._flow_watch.due():
            status = self._heartbeat()
            if not status.moving:
                return status
        status, found = self._flow_watch.check(self._delivery, self._therapy.prescription)
        if found is not None and found.reset:
            # The totals fell to a power reset the pump reported: its alarm names the cause.
            self._annunciator.raise_alarm(found.alarm, found.describe())
        elif found is not None:
            if found.volume_ul is not None:
                self._reservoir.used(found.volume_ul)
            self._annunciator.suspend_for(found.alarm, found.describe())
            self._reservoir_alarms()
        # The watch stopped a moving pump and journaled what it moved: not unintended flow twice.
        return replace(status, state=PumpState.STOPPED) if status.moving else status

    def _heartbeat(self) -> PumpStatus:
        """A heartbeat; a reset it reports explains the next fall of the totals (SR-26)."""
        status = self._driver.heartbeat()
        if any(alarm.may_clear_totals for alarm in status.alarms):
            self._delivery.flow.reset_seen = True
        return status

    def _recover(self) -> None:
        self._driver.close()
        self.bring_up()
        self._annunciator.alarms.clear_cause(AlarmKind.LINK_FAULT)
        log.info("pump.recovered")

    def _link_fault(self, err: PumpctlError) -> None:
        if isinstance(err, PumpAlarmError):
            if err.alarm.may_clear_totals:
                self._delivery.flow.reset_seen = True
            self._annunciator.raise_alarm(pump_alarm_kind(err.alarm), str(err))
            return
        if self._state.pump_ready:
            log.error("pump.link_fault", error=str(err))
        self._state.pump_ready = False
        self._annunciator.raise_alarm(AlarmKind.LINK_FAULT, str(err))
