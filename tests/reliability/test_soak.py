"""Soak: months of therapy with seeded random faults, every invariant checked after every event.

The real daemon, the in-process simulator and a simulated operator on one virtual clock
(``pumpctl simulate``'s engine). After each loop turn that moved the plunger or wrote the journal,
the new physical starts are checked against the minimum interval, the 24 h caps and their
journaled intents; at the end the whole ledger is held against the whole journal. The short form
(default run) soaks 4 days; the long form (``pytest -m long``) 180 days.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.invariants import PhysicalPulse, check_intents_cover_starts, check_starts
from pumpctl.simulation import Simulation, SimulationOptions, default_config
from tests.reliability import campaign_numbers
from tests.reliability.ground_truth import check_records, journal_slots, motions


class Soak:
    """Drives a :class:`Simulation` turn by turn and checks the invariants as it goes."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.starts: list[PhysicalPulse] = []
        self.intent_walls: list[datetime] = []
        self.ledger_seen = 0
        self.head_seen = 0
        self.checks = 0
        self.violations: list[str] = []

    def run(self) -> None:
        sim = self.sim
        sim.daemon.start()
        while sim.clock.now() < sim.end:
            sim._maybe_fault()  # the simulation's own fault dice, turn by turn
            pause = sim.daemon.tick()
            sim._operator()  # and its operator
            self.after_event()
            pause = min(pause, max(0.0, (sim.end - sim.clock.now()).total_seconds()))
            sim.daemon.waker.sleep(max(pause, 0.001))
        sim.finish("soak complete")

    def after_event(self) -> None:
        """Check what the last turn added: new intents, new physical starts."""
        head = self.sim.journal.head
        entries = self.sim.ledger.entries
        if (head is None or head.seq == self.head_seen) and len(entries) == self.ledger_seen:
            return
        if head is not None and head.seq != self.head_seen:
            for event in self.sim.journal.events(kinds=("pulse.intent",)):
                if event.seq > self.head_seen:
                    self.intent_walls.append(event.wall)
            self.head_seen = head.seq
        new = [
            PhysicalPulse(datetime.fromisoformat(str(e["at"])), float(e["elapsed_s"]))
            for e in entries[self.ledger_seen :]
            if e.get("event") == "motion.start" and e.get("cause") == "run"
        ]
        self.ledger_seen = len(entries)
        if not new:
            return
        self.starts += new
        self.checks += 1
        # Only the recent past can be broken by a new start: check the last day and a bit.
        recent = [p for p in self.starts if p.elapsed_s > new[0].elapsed_s - 90_000]
        self.violations += check_starts(
            recent, self.sim.config.limits, tolerance=START_LATENCY_BOUND
        )
        self.violations += check_intents_cover_starts(new, self.intent_walls[-3:])


def soak(tmp_path: Path, days: float, seed: int) -> None:
    options = SimulationOptions(days=days, seed=seed, fault_rate=0.15)
    sim = Simulation(default_config(), tmp_path / "soak.sqlite3", options)
    runner = Soak(sim)
    runner.run()
    summary = sim.summary()
    problems, tally = check_records(motions(sim.ledger.entries), journal_slots(sim.journal_path))
    campaign_numbers.add("simulated_days", days)
    campaign_numbers.add("double_deliveries", sum("apart" in v for v in runner.violations))
    assert runner.violations == []
    assert summary.violations == []
    assert summary.chain_ok
    assert problems == []
    # The soak really exercised faults and delivered therapy through them.
    assert sum(summary.faults_injected.values()) >= days * 16 * 0.15 * 0.5
    assert summary.outcomes["DELIVERED"] >= days * 16 * 0.6
    assert len(runner.starts) == summary.physical_starts  # every start was checked as it came
    assert sum(tally.values()) == summary.physical_starts


@pytest.mark.timeout(180)
def test_four_day_soak_with_random_faults_keeps_every_invariant(tmp_path: Path) -> None:
    """SR-02 SR-03 SR-08 SR-19: 4 simulated days of random faults; invariants hold at each event."""
    soak(tmp_path, days=4, seed=2026)


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_180_day_soak_with_random_faults_keeps_every_invariant(tmp_path: Path) -> None:
    """SR-02 SR-03 SR-08 SR-09 SR-19: 180 simulated days of random faults; every invariant holds."""
    soak(tmp_path, days=180, seed=180)
