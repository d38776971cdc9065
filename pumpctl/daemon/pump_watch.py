"""The pump between pulses: bring it up, watch it still, recover the link when it fails.

Between pulses the pump must stand still; anything else is unintended flow (SR-06). A link fault
makes the pump not ready (the gate then denies, SR-16) until a reconnect, reconciliation and a
fresh self-test succeed (SR-13).
"""

from __future__ import annotations

from decimal import Decimal

import structlog

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.pending import PendingPulses
from pumpctl.daemon.state import DeliveryState
from pumpctl.delivery import pump_alarm_kind
from pumpctl.drivers.base import PumpDriver
from pumpctl.errors import PumpAlarmError, PumpctlError
from pumpctl.journal import Journal

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
    ) -> None:
        self._driver = driver
        self._journal = journal
        self._annunciator = annunciator
        self._pending = pending
        self._state = state
        self._syringe_diameter_mm = syringe_diameter_mm

    def bring_up(self) -> None:
        """Connect, settle pending pulses, self-test; raises on any failure (no delivery then)."""
        self._driver.connect()
        self._pending.reconcile()
        self._driver.self_test(syringe_diameter_mm=self._syringe_diameter_mm)
        self._state.pump_ready = True

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
        status = self._driver.heartbeat()
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

    def _recover(self) -> None:
        self._driver.close()
        self.bring_up()
        self._annunciator.alarms.clear_cause(AlarmKind.LINK_FAULT)
        log.info("pump.recovered")

    def _link_fault(self, err: PumpctlError) -> None:
        if isinstance(err, PumpAlarmError):
            self._annunciator.raise_alarm(pump_alarm_kind(err.alarm), str(err))
            return
        if self._state.pump_ready:
            log.error("pump.link_fault", error=str(err))
        self._state.pump_ready = False
        self._annunciator.raise_alarm(AlarmKind.LINK_FAULT, str(err))
