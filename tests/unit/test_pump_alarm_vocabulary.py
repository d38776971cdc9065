"""The vendor-neutral pump alarm vocabulary: every pump alarm raises a daemon alarm, and an alarm
nobody can name is treated as conservatively as a power reset."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pumpctl.core.alarm_kinds import AlarmKind, Priority
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome
from pumpctl.core.planner import Planner
from pumpctl.daemon.alarm_catalogue import CATALOGUE
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.delivery import PulseDelivery, pump_alarm_kind
from pumpctl.drivers.base import Progress, PumpAlarm, PumpStatus
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.journal import EventKind, Journal
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator
from tests.builders import T0, make_prescription


def test_only_a_reset_or_an_unknown_alarm_makes_totals_untrusted() -> None:
    """A power reset and an alarm nobody can name may have cleared the totals; nothing else."""
    assert {a for a in PumpAlarm if a.may_clear_totals} == {
        PumpAlarm.POWER_RESET,
        PumpAlarm.UNKNOWN,
    }


def test_every_pump_alarm_raises_a_daemon_alarm_and_unknown_is_never_a_reset() -> None:
    """The mapping is total; UNKNOWN raises its own high-priority alarm, not pump-alarm-reset."""
    kinds = {alarm: pump_alarm_kind(alarm) for alarm in PumpAlarm}
    assert kinds[PumpAlarm.UNKNOWN] is AlarmKind.PUMP_ALARM_UNKNOWN
    assert CATALOGUE[AlarmKind.PUMP_ALARM_UNKNOWN].priority is Priority.HIGH
    assert kinds[PumpAlarm.POWER_RESET] is AlarmKind.PUMP_ALARM_RESET
    assert [a for a, k in kinds.items() if k is AlarmKind.PUMP_ALARM_RESET] == [
        PumpAlarm.POWER_RESET
    ]


class UnknownAlarmMidBolus(Ne1000Driver):
    """Reports an alarm its vendor code table does not know on the first poll after RUN."""

    def __init__(self, sim: Ne1000Simulator) -> None:
        super().__init__("loop://", safe_mode_timeout_s=255, transport=LoopbackTransport(sim))
        self.armed = False

    def run(self) -> PumpStatus:
        status = super().run()
        self.armed = True
        return status

    def progress(self) -> Progress:
        """The bolus is watched by progress readings (SR-25): the alarm comes with the first."""
        reading = super().progress()
        if self.armed:
            self.armed = False
            unknown = PumpStatus(reading.status.state, PumpAlarm.UNKNOWN, (PumpAlarm.UNKNOWN,))
            return Progress(unknown, reading.totals)
        return reading


def test_an_unknown_alarm_mid_bolus_leaves_the_pulse_uncertain(tmp_path: Path) -> None:
    """An unnamed alarm during a bolus makes its totals untrusted: UNCERTAIN until an operator
    settles it, never DELIVERED or NOT_DELIVERED from the pump's word."""
    clock = VirtualClock(T0, elapsed_s=10_000.0)
    sim = Ne1000Simulator(clock, ledger=Ledger())
    driver = UnknownAlarmMidBolus(sim)
    driver.connect()
    driver.self_test(syringe_diameter_mm=Decimal("4.78"))
    prescription = make_prescription(dose_ug=Decimal(10), anchor=clock.now())
    slot = Planner(prescription).next_after(clock.now())
    with Journal(tmp_path / "journal.sqlite3", clock) as journal:
        result = PulseDelivery(driver, journal, clock, VirtualWaker(clock)).deliver(slot)
        outcome = journal.events(kinds=(EventKind.PULSE_OUTCOME,))[-1].payload
    assert result.outcome is Outcome.UNCERTAIN
    assert not result.totals_trusted
    assert AlarmKind.UNCERTAIN_PULSE in result.alarms
    assert outcome["totals_trusted"] is False
