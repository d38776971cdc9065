"""The real pulse transaction against the simulated pump, with the wire's time on the clock.

The loopback moves the virtual clock by every command's and reply's wire time at 19200 baud in
safe framing, so the plunger moves while bytes travel exactly as at 1x on a real line; the host
itself takes no time. The simulator's ledger says how far the plunger really went.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.core.overshoot import overshoot_bound_ul
from pumpctl.daemon.waiting import VirtualWaker
from pumpctl.delivery import PulseDelivery
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.drivers.ne1000_units import vocabulary
from pumpctl.drivers.testing import SpyTransport
from pumpctl.journal import Journal
from pumpctl.pulse import DeliveryResult
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator
from tests.builders import T0

DIAMETER = Decimal("4.78")


@dataclass
class Wire:
    clock: VirtualClock
    sim: Ne1000Simulator
    ledger: Ledger
    spy: SpyTransport
    driver: Ne1000Driver
    journal: Journal
    delivery: PulseDelivery

    def motions(self) -> list[dict[str, object]]:
        return [e for e in self.ledger.entries if e["event"] == "motion.end"]

    def deliver(self, slot: Slot) -> DeliveryResult:
        return self.delivery.deliver(slot)

    def idle(self, seconds: float) -> None:
        """Let time pass between pulses, feeding the pump's watchdog as the daemon does."""
        while seconds > 0:
            step = min(seconds, 5.0)
            self.clock.advance(step)
            self.driver.heartbeat()
            seconds -= step


def wire(workdir: Path, *, heartbeat_s: float = 2.0) -> Wire:
    clock = VirtualClock(T0, elapsed_s=10_000.0)
    ledger = Ledger()
    sim = Ne1000Simulator(clock, baud=19200, syringe_ul=50_000.0, ledger=ledger)
    spy = SpyTransport(LoopbackTransport(sim, advance=clock.advance))
    driver = Ne1000Driver("loop://", safe_mode_timeout_s=10, transport=spy)
    driver.connect()
    driver.self_test(syringe_diameter_mm=DIAMETER)
    journal = Journal(workdir / "journal.sqlite3", clock)
    delivery = PulseDelivery(
        driver,
        journal,
        clock,
        VirtualWaker(clock),
        heartbeat_s=heartbeat_s,
        syringe_diameter_mm=DIAMETER,
    )
    delivery.flow.settled(Decimal(0), clock.now())
    return Wire(clock, sim, ledger, spy, driver, journal, delivery)


def bolus(volume: Decimal, duration_s: int, n: int = 1) -> Slot:
    rate = (volume * 60 / duration_s).quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    return Slot(
        slot_id=f"S{n}",
        scheduled=T0 + timedelta(hours=2 * n),
        interval_min=90,
        dose_ug=volume,
        volume_ul=volume,
        rate_ul_per_min=rate,
        duration_s=Decimal(duration_s),
    )


@settings(max_examples=60, deadline=None)
@given(
    volume=st.decimals(min_value="0.5", max_value=100, places=2),
    duration_s=st.integers(min_value=1, max_value=600),
    onset=st.one_of(
        st.sampled_from(["", "@run:1", "@run:1:1"]),
        st.floats(min_value=0.001, max_value=0.999).map(lambda f: f"@run:1:{f:.3f}"),
    ),
)
def test_a_runaway_at_any_onset_is_stopped_within_the_bound(
    volume: Decimal, duration_s: int, onset: str
) -> None:
    """SR-25: for any bolus of 1..600 s and any runaway onset (armed before the pulse, at RUN,
    or at any fraction of the bolus), the plunger stops within max(5 % of the pulse, 0.5 uL)
    of its volume, the pulse is OVER_DELIVERED with the measured volume and delivery is
    suspended; or, when the link cannot guarantee that, the pulse is refused before its intent
    and nothing moves."""
    slot = bolus(volume, duration_s)
    assume(vocabulary(DIAMETER).problems(slot.volume_ul, slot.rate_ul_per_min) == [])
    with tempfile.TemporaryDirectory() as workdir:
        w = wire(Path(workdir))
        w.sim.inject("runaway" + onset)
        result = w.deliver(slot)
        w.journal.close()
    motions = w.motions()
    if not result.intent_written:
        event("refused before intent")
        assert result.alarms == ("overshoot-unbounded",)
        assert motions == []
        return
    event("stopped")
    assert len(motions) == 1 and motions[0]["cause"] == "stop-command"
    moved = Decimal(str(motions[0]["volume_ul"]))
    assert volume < moved <= volume + overshoot_bound_ul(volume)
    assert result.outcome is Outcome.OVER_DELIVERED
    assert result.suspend_for == "over-delivery"
    assert result.delivered_volume_ul is not None
    step = vocabulary(DIAMETER).totals_step_ul(moved)
    assert abs(result.delivered_volume_ul - moved) <= step


def test_a_healthy_bolus_is_read_not_stopped(tmp_path: Path) -> None:
    """SR-25: reading the volume often never stops a pump that ends its bolus by itself."""
    w = wire(tmp_path)
    result = w.deliver(bolus(Decimal(10), 1))
    assert result.outcome is Outcome.DELIVERED
    assert [m["cause"] for m in w.motions()] == ["target-reached"]


def test_every_clear_is_preceded_by_a_reading_of_the_totals(tmp_path: Path) -> None:
    """SR-26: the pump's totals are read (DIS) right before every CLD the transaction sends."""
    w = wire(tmp_path)
    for n in range(1, 4):
        w.deliver(bolus(Decimal(10), 60, n))
        w.idle(3600)
    texts = w.spy.texts()
    clears = [i for i, text in enumerate(texts) if text == "CLDINF"]
    assert len(clears) == 3
    assert all(texts[i - 1] == "DIS" for i in clears)


def test_residue_found_before_the_clear_is_journaled_and_not_erased(tmp_path: Path) -> None:
    """SR-26: volume the totals gained after the last pulse is journaled with its volume and
    since when the totals were known; the totals are not cleared, no intent is written and
    delivery is suspended."""
    w = wire(tmp_path)
    w.deliver(bolus(Decimal(10), 60, 1))
    w.idle(1800)
    w.sim.inject("rogue,send=RUN")  # someone restarts the last programme: 10 uL more
    w.idle(120)
    clears_before = w.spy.count("CLDINF")
    result = w.deliver(bolus(Decimal(10), 60, 2))
    assert (result.intent_written, result.suspend_for) == (False, "unexplained-flow")
    assert w.spy.count("CLDINF") == clears_before
    flows = w.journal.events(kinds=("flow.unexplained",))
    assert len(flows) == 1
    payload = flows[0].payload
    assert (payload["volume_ul"], payload["totals_ul"], payload["expected_ul"]) == (
        "10.00",
        "20.00",
        "10.00",
    )
    assert payload["since_utc"] is not None
    intents = [e.payload["slot_id"] for e in w.journal.events(kinds=("pulse.intent",))]
    assert intents == ["S1"]
