"""The pulse monitor judges an overrun by when it asked the pump, and refuses a link too slow."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome
from pumpctl.core.planner import Planner
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.delivery import PulseDelivery
from pumpctl.drivers.base import Progress, PumpStatus
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.journal import Journal
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator
from tests.builders import T0, make_prescription


class SlowRepliesDriver(Ne1000Driver):
    """Every progress reading arrives ``delay_s`` of clock time after the pump gave it."""

    def __init__(self, clock: VirtualClock, sim: Ne1000Simulator, delay_s: float) -> None:
        super().__init__("loop://", safe_mode_timeout_s=255, transport=LoopbackTransport(sim))
        self.clock = clock
        self.delay_s = delay_s
        self.slow = False
        self.slow_from_run = False

    def run(self) -> PumpStatus:
        self.slow = self.slow or self.slow_from_run
        return super().run()

    def progress(self) -> Progress:
        answer = super().progress()
        if self.slow:
            self.clock.advance(self.delay_s)
        return answer


def test_a_late_answer_does_not_make_a_finished_bolus_look_overrun(tmp_path: Path) -> None:
    """A 'still infusing' answer to a question asked before the pulse's deadline, arriving
    after it (a busy host), is no overrun: the pulse ends DELIVERED, nothing is stopped and
    delivery is not suspended."""
    clock = VirtualClock(T0, elapsed_s=10_000.0)
    ledger = Ledger()
    sim = Ne1000Simulator(clock, ledger=ledger)
    driver = SlowRepliesDriver(clock, sim, delay_s=40.0)
    driver.connect()
    driver.self_test(syringe_diameter_mm=Decimal("4.78"))
    prescription = make_prescription(dose_ug=Decimal(10), anchor=clock.now())
    slot = Planner(prescription).next_after(clock.now())
    with Journal(tmp_path / "journal.sqlite3", clock) as journal:
        delivery = PulseDelivery(driver, journal, clock, VirtualWaker(clock), heartbeat_s=2.0)
        driver.slow_from_run = True
        result = delivery.deliver(slot)
    assert result.outcome is Outcome.DELIVERED
    assert not result.suspend
    assert "unintended-flow" not in result.alarms
    ends = [e for e in ledger.entries if e["event"] == "motion.end"]
    assert [e["cause"] for e in ends] == ["target-reached"]  # never stopped by the daemon


def test_a_link_measured_too_slow_refuses_the_pulse_before_its_intent(tmp_path: Path) -> None:
    """SR-25: when readings take so long that a runaway could not be stopped within the bound,
    the pulse is refused before any intent: nothing journaled as commanded, nothing moved."""
    clock = VirtualClock(T0, elapsed_s=10_000.0)
    ledger = Ledger()
    sim = Ne1000Simulator(clock, ledger=ledger)
    driver = SlowRepliesDriver(clock, sim, delay_s=5.0)
    driver.connect()
    driver.self_test(syringe_diameter_mm=Decimal("4.78"))
    prescription = make_prescription(dose_ug=Decimal(10), anchor=clock.now())
    slot = Planner(prescription).next_after(clock.now())
    with Journal(tmp_path / "journal.sqlite3", clock) as journal:
        delivery = PulseDelivery(driver, journal, clock, VirtualWaker(clock), heartbeat_s=2.0)
        driver.slow = True
        result = delivery.deliver(slot)
        kinds = [e.kind for e in journal.events()]
    assert (result.outcome, result.intent_written) == (Outcome.NOT_DELIVERED, False)
    assert result.alarms == ("overshoot-unbounded",)
    assert "pulse.intent" not in kinds
    assert [e for e in ledger.entries if e["event"] == "motion.start"] == []
