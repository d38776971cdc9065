"""SR-25: the worst overshoot of a runaway bolus, over a sweep of bolus lengths.

A runaway pump ignores its commanded volume and keeps infusing at the programmed rate; pumpctl
reads the dispensed volume during the bolus at a cadence planned from the rate and the link's
measured speed, and stops the pump at the first reading past the volume. The target: overshoot
<= max(5 % of the pulse, 0.5 uL) for boluses of 1 s to the 600 s ceiling. Two measurements:

* **wire model** (all lengths, 1..600 s): the real pulse transaction against the in-process
  simulator, whose loopback puts every byte's wire time at 19200 baud on a virtual clock, so
  the plunger moves while bytes travel exactly as on a real line; the host takes no time. Each
  length is tried with the runaway armed at RUN and at 25 %, 50 %, 90 % and 99 % of the bolus.
* **real pty at 1x** (1, 2, 5, 10 s): the same transaction with the real clock against a
  ``pumpsim`` process over a pseudo-terminal, so the host's scheduling and the pty count too.

The plunger's travel comes from the simulator's ledger. A length the link cannot bound is
refused before its intent (nothing moves); that is reported, not counted as an overshoot.
Run on demand: ``python benchmarks/bench_overshoot.py`` (about two minutes).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import structlog
from _bench import figure

from pumpctl.core.clock import Clock, SystemClock, VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.core.overshoot import overshoot_bound_ul
from pumpctl.daemon.waiting import RealWaker, VirtualWaker, Waker
from pumpctl.delivery import PulseDelivery
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.journal import Journal
from pumpctl.simulator.ledger import Ledger
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator
from tests.builders import T0
from tests.e2e.harness import Pumpsim

DIAMETER = Decimal("4.78")
VOLUME = Decimal(10)  # 10 ug at 1000 ug/mL: the bench's usual pulse
WIRE_LENGTHS_S = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
PTY_LENGTHS_S = (1, 2, 5, 10)
ONSETS = ("@run:{n}", "@run:{n}:0.25", "@run:{n}:0.5", "@run:{n}:0.9", "@run:{n}:0.99")
PTY_ONSETS = ("@run:{n}", "@run:{n}:0.5")


@dataclass
class Trial:
    length_s: int
    refused: bool
    overshoot_ul: Decimal  # 0 when refused


def bolus(duration_s: int, n: int) -> Slot:
    rate = (VOLUME * 60 / duration_s).quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    return Slot(
        slot_id=f"S{n}",
        scheduled=T0 + timedelta(hours=2 * n),
        interval_min=90,
        dose_ug=VOLUME,
        volume_ul=VOLUME,
        rate_ul_per_min=rate,
        duration_s=Decimal(duration_s),
    )


def make_delivery(
    driver: Ne1000Driver, journal: Journal, clock: Clock, waker: Waker
) -> PulseDelivery:
    delivery = PulseDelivery(
        driver, journal, clock, waker, heartbeat_s=2.0, syringe_diameter_mm=DIAMETER
    )
    delivery.flow.settled(Decimal(0), clock.now())
    return delivery


def moved_ul(entries: list[dict[str, object]]) -> Decimal:
    ends = [e for e in entries if e.get("event") == "motion.end" and e.get("direction") == "INF"]
    return Decimal(str(ends[-1]["volume_ul"]))


def wire_trial(length_s: int, onset: str, workdir: Path) -> Trial:
    """One runaway bolus on the wire model (virtual clock, wire time on the clock)."""
    clock = VirtualClock(T0, elapsed_s=10_000.0)
    ledger = Ledger()
    sim = Ne1000Simulator(clock, baud=19200, syringe_ul=50_000.0, ledger=ledger)
    driver = Ne1000Driver(
        "loop://", safe_mode_timeout_s=10, transport=LoopbackTransport(sim, advance=clock.advance)
    )
    driver.connect()
    driver.self_test(syringe_diameter_mm=DIAMETER)
    with Journal(workdir / f"wire-{length_s}-{len(onset)}.sqlite3", clock) as journal:
        delivery = make_delivery(driver, journal, clock, VirtualWaker(clock))
        sim.inject("runaway" + onset.format(n=1))
        result = delivery.deliver(bolus(length_s, 1))
    driver.close()
    if not result.intent_written:
        return Trial(length_s, True, Decimal(0))
    if result.outcome is not Outcome.OVER_DELIVERED:
        raise SystemExit(f"{length_s} s bolus, runaway{onset}: {result.outcome}, expected over")
    return Trial(length_s, False, moved_ul(ledger.entries) - VOLUME)


def pty_trials(workdir: Path) -> list[Trial]:
    """Runaway boluses at 1x against pumpsim over a pty, on the real clock."""
    trials = []
    sim = Pumpsim(workdir, scale=1.0, syringe_ul=50_000.0)
    clock = SystemClock()
    waker = RealWaker(clock)
    driver = Ne1000Driver(str(sim.link), safe_mode_timeout_s=30)
    try:
        driver.connect()
        driver.self_test(syringe_diameter_mm=DIAMETER)
        runs = 0
        with Journal(workdir / "pty.sqlite3", clock) as journal:
            delivery = make_delivery(driver, journal, clock, waker)
            for length_s in PTY_LENGTHS_S:
                for onset in PTY_ONSETS:
                    sim.fault("runaway" + onset.format(n=runs + 1))
                    result = delivery.deliver(bolus(length_s, runs + 1))
                    if not result.intent_written:
                        trials.append(Trial(length_s, True, Decimal(0)))
                        continue
                    runs += 1
                    trials.append(Trial(length_s, False, moved_ul(sim.ledger()) - VOLUME))
    finally:
        with contextlib.suppress(Exception):
            driver.close()
        waker.close()
        sim.close()
    return trials


def report(label: str, trials: list[Trial]) -> None:
    bound = overshoot_bound_ul(VOLUME)
    for length_s in sorted({t.length_s for t in trials}):
        mine = [t for t in trials if t.length_s == length_s]
        stopped = [t for t in mine if not t.refused]
        name = f"worst overshoot, {length_s} s bolus of {VOLUME} uL, {label}"
        target = f"<= {bound} uL (max(5 %, 0.5 uL))"
        if not stopped:
            figure(name, f"refused before intent ({len(mine)} of {len(mine)})", target, met=True)
            continue
        worst = max(t.overshoot_ul for t in stopped)
        refused = len(mine) - len(stopped)
        value = f"{worst.quantize(Decimal('0.001'))} uL ({len(stopped)} stopped" + (
            f", {refused} refused)" if refused else ")"
        )
        figure(name, value, target, met=worst <= bound)


def main() -> None:
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        wire = [
            wire_trial(length_s, onset, workdir) for length_s in WIRE_LENGTHS_S for onset in ONSETS
        ]
        report("wire model at 19200 baud", wire)
        pty_dir = workdir / "pty"
        pty_dir.mkdir()
        report("pumpsim over a pty at 1x", pty_trials(pty_dir))


if __name__ == "__main__":
    main()
