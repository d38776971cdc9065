"""At an interval equal to the minimum interval, lateness never accumulates into a missed slot.

The whole daemon runs against the in-process simulator with realistic latency (serial round
trips, fsyncs, late wake-ups and occasional stalls longer than the start-latency bound). The
prescription is the default 90 min at the default 90 min minimum and 16 pulses per 24 h: both the
interval and the daily count sit exactly on their limits. The simulator's ledger is the judge.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

import pytest

from pumpctl.config import Config, parse_config_text
from pumpctl.core.clock import seconds_to_us
from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.core.planner import Planner
from pumpctl.invariants import check_starts, commanded_starts
from pumpctl.journal import Journal
from pumpctl.simulation import (
    SIMULATED_SAFE_MODE_S,
    SIMULATION_EPOCH,
    Simulation,
    SimulationOptions,
)
from tests.e2e.latency import LatencyProfile, add_latency


def config_90_90() -> Config:
    """The embedded demo configuration without its night window: 90 min, day and night."""
    text = files("pumpctl.examples").joinpath("demo.toml").read_text(encoding="utf-8")
    text, found = re.subn(r"(?ms)^\[\[prescription\.profile\]\].*?^interval_min = 120\n", "", text)
    assert found == 1
    # The longest watchdog, as `pumpctl simulate` uses: idle heartbeats change nothing about when
    # a pulse starts, and at 10 s they would be nearly all of a year's work.
    text, found = re.subn(
        r"(?m)^safe_mode_timeout_s = .*$", f"safe_mode_timeout_s = {SIMULATED_SAFE_MODE_S}", text
    )
    assert found == 1
    config = parse_config_text(text, now=SIMULATION_EPOCH)
    p, limits = config.prescription, config.limits
    assert (p.interval_min, limits.min_interval_min, p.profile) == (90, 90, ())
    assert limits.max_pulses_24h == 24 * 60 // 90
    return config


def run_days(tmp_path: Path, days: float, seed: int) -> None:
    config = config_90_90()
    simulation = Simulation(config, tmp_path / "journal.sqlite3", SimulationOptions(days=days))
    # Stalls up to 1.5 s: with the bolus armed ahead only a stall at the slot itself (the
    # wake-up, the intent's commit) makes a start late, and some must be later than the
    # start-latency bound for this to prove anything.
    add_latency(simulation, LatencyProfile(stall_s=(0.2, 1.5)), seed)
    summary = simulation.run()

    assert summary.outcomes["MISSED"] == 0, summary.lines()
    assert summary.outcomes["DENIED"] == 0, summary.lines()
    assert summary.ok, summary.lines()
    with Journal(summary.journal_path, simulation.clock) as journal:
        denials = [e for e in journal.events(kinds=("gate.decision",)) if not e.payload["allowed"]]
    assert denials == []  # a late start is waited out quietly, never journaled as a denial
    starts = sorted(commanded_starts(simulation.ledger.entries), key=lambda s: s.elapsed_s)
    planner = Planner(config.prescription)
    slots = planner.slots_between(
        starts[0].started - timedelta(minutes=10), starts[-1].started + timedelta(seconds=1)
    )
    assert len(starts) == len(slots)

    # Never early, and late by no more than one stall: lateness does not build up.
    lateness = [start.started - slot.scheduled for start, slot in zip(starts, slots, strict=True)]
    assert min(lateness) >= timedelta(0)
    assert max(lateness) < timedelta(seconds=3)
    # Two physical starts are never closer than the minimum interval less the bound.
    least = timedelta(minutes=90) - START_LATENCY_BOUND
    gaps = [
        timedelta(microseconds=seconds_to_us(b.elapsed_s) - seconds_to_us(a.elapsed_s))
        for a, b in itertools.pairwise(starts)
    ]
    assert min(gaps) >= least
    assert check_starts(starts, config.limits, tolerance=START_LATENCY_BOUND) == []
    # The stalls did happen: some starts were later than the bound, yet nothing was missed.
    assert max(lateness) > START_LATENCY_BOUND


def test_a_month_at_90_90_with_realistic_latency_misses_no_slot(tmp_path: Path) -> None:
    """SR-02, SR-10, SR-32: 30 days at 90/90 with latency: none MISSED, starts >= 90 min - 1 s."""
    run_days(tmp_path, days=30, seed=1)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_a_year_at_90_90_with_realistic_latency_misses_no_slot(tmp_path: Path) -> None:
    """SR-02, SR-10, SR-32: 365 days at 90/90 with latency: none MISSED, starts >= 90 min - 1 s."""
    run_days(tmp_path, days=365, seed=2)
