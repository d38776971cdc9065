"""A pump that starts and stalls at once: nothing moved, yet a start the next pulse must respect."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.invariants import check_starts, commanded_starts
from pumpctl.simulation import Simulation, SimulationOptions, default_config
from tests.reliability.ground_truth import journal_slots

#: How late the faulted pulse starts (a busy host, inside the 10 min grace window).
LATE = timedelta(minutes=2)
#: The daemon stalls from this long before the slot: before it would arm the pulse.
QUIET_BEFORE = timedelta(seconds=10)


def test_a_pulse_that_started_and_stalled_holds_the_next_start_back(tmp_path: Path) -> None:
    """SR-02: a pulse whose RUN started the pump, which then stalled at once (NOT_DELIVERED,
    0 uL), counts for the minimum interval from its start: started 2 min late, the next pulse
    waits until 90 min after it, so no two physical starts on pumpsim's ledger are closer than
    the minimum interval less the start-latency bound."""
    config = default_config()
    # A 60 s heartbeat keeps the pump's 255 s watchdog fed across the 2 min the daemon sleeps.
    options = SimulationOptions(days=5 / 24, seed=0, heartbeat_s=60.0)
    sim = Simulation(config, tmp_path / "journal.sqlite3", options)
    slots = list(sim.daemon.planner.slots_between(sim.clock.now(), sim.end))
    target = slots[1]
    arm_at, late_until = target.scheduled - timedelta(minutes=30), target.scheduled + LATE
    armed = False
    sim.daemon.start()
    while sim.clock.now() < sim.end:
        now = sim.clock.now()
        if not armed and now >= arm_at:
            sim.sim.inject("stall@run:1")
            armed = True
        if target.scheduled - QUIET_BEFORE <= now < late_until:
            # The daemon does not run from before the slot's arming until 2 min into its
            # window (a pulse armed and then left unwatched that long is disarmed instead).
            sim.daemon.waker.sleep((late_until - now).total_seconds())
            continue
        pause = sim.daemon.tick()
        sim._operator()
        for edge in (arm_at, target.scheduled - QUIET_BEFORE, sim.end):
            if now < edge:
                pause = min(pause, (edge - now).total_seconds())
        sim.daemon.waker.sleep(max(pause, 0.001))
    sim.finish("test complete")
    records = journal_slots(sim.journal_path)
    stalled = records[target.slot_id]
    assert stalled.final is not None and stalled.final[1] == "NOT_DELIVERED"
    starts = commanded_starts(sim.ledger.entries)
    at_target = [s for s in starts if s.started >= target.scheduled]
    assert at_target[0].started >= late_until  # the stalled pulse did start, late
    after = records[slots[2].slot_id]
    assert after.final is not None and after.final[1] == "DELIVERED"
    assert check_starts(starts, config.limits, tolerance=START_LATENCY_BOUND) == []
    gap = at_target[1].started - at_target[0].started
    assert gap >= timedelta(minutes=config.limits.min_interval_min) - START_LATENCY_BOUND
