"""The fault matrix: every simulator fault at every phase of the pulse transaction.

Each cell is a short therapy on a virtual clock (the real daemon, the in-process simulator and a
simulated operator who answers alarms after 30 min). One fault is armed for the second slot of
the day at one phase; the cell records what the daemon did about it — the slot's outcome, the
alarms, whether delivery was suspended, the journal events — and the invariants against the
ledger. :func:`render_table` turns the cells into the table in ``docs/reliability.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pumpctl.journal import Journal
from pumpctl.simulation import Simulation, SimulationOptions, default_config
from pumpctl.simulator.faults import FAULT_KINDS, LINK_FAULTS
from tests.reliability.ground_truth import check_records, journal_slots, motions

#: Phase name -> (when the fault is armed relative to the slot, the fault's WHEN suffix).
PHASES: dict[str, tuple[timedelta, str]] = {
    # Between the previous outcome and this slot: the pump is idle, heartbeats only.
    "idle": (timedelta(minutes=-45), ""),
    # The first command the daemon sends as it wakes for the slot (before CLD and the intent).
    "pre-intent": (timedelta(seconds=-5), "@cmd:1"),
    # The RUN command itself (the intent is already on disk).
    "at-run": (timedelta(minutes=-30), "@run:1"),
    # Half-way through the bolus.
    "mid-pulse": (timedelta(minutes=-30), "@0.5"),
}

#: Options that make a link fault last long enough to matter (one reply by default).
FAULT_OPTIONS = {"silence": ",for=120", "slow": ",delay=2"}

FAULTS = sorted(FAULT_KINDS)
HOURS = 7.0
#: Both pump families, each against its own pumpsim personality.
DRIVERS = ("ne1000", "harvard11")


@dataclass(frozen=True)
class Cell:
    """What one fault at one phase did to the faulted slot and the therapy around it."""

    fault: str
    phase: str
    driver: str
    outcome: str
    alarms: tuple[str, ...]
    suspended: bool
    events: tuple[str, ...]
    violations: tuple[str, ...]
    pulses_after: int  # pulses delivered after the faulted slot (therapy continued)

    @property
    def link_fault(self) -> bool:
        return self.fault in LINK_FAULTS


NOTABLE_EVENTS = (
    "pulse.outcome",
    "pulse.reconciled",
    "slot.missed",
    "alarm.raised",
    "delivery.suspended",
    "delivery.resumed",
)


def run_cell(fault: str, phase: str, workdir: Path, seed: int = 0, driver: str = "ne1000") -> Cell:
    """Run one cell in ``workdir`` (a fresh journal there) on the ``driver``'s pump family."""
    config = default_config()
    path = workdir / f"{driver}-{fault}-{phase}.sqlite3"
    options = SimulationOptions(days=HOURS / 24, seed=seed, driver=driver)
    sim = Simulation(config, path, options)
    slots = list(sim.daemon.planner.slots_between(sim.clock.now(), sim.end))
    target = slots[1]
    offset, when = PHASES[phase]
    spec = fault + when + FAULT_OPTIONS.get(fault, "")
    arm_at = target.scheduled + offset
    armed = False
    sim.daemon.start()
    while sim.clock.now() < sim.end:
        if not armed and sim.clock.now() >= arm_at:
            sim.sim.inject(spec)
            armed = True
        pause = sim.daemon.tick()
        sim._operator()
        if not armed:
            pause = min(pause, max(0.0, (arm_at - sim.clock.now()).total_seconds()))
        pause = min(pause, max(0.0, (sim.end - sim.clock.now()).total_seconds()))
        sim.daemon.waker.sleep(max(pause, 0.001))
    sim.finish("cell complete")
    summary = sim.summary()
    journal = journal_slots(path)
    record = journal.get(target.slot_id)
    outcome = "no intent"
    if record is not None and record.final is not None:
        outcome = record.final[1] + (
            " (reconciled)" if record.final[0] == "pulse.reconciled" else ""
        )
    elif record is not None:
        outcome = "UNCERTAIN (pending)"
    events: Counter[str] = Counter()
    with Journal(path, sim.clock) as j:
        after = [e for e in j.events() if e.wall >= arm_at]
        missed = {str(e.payload.get("slot_id")) for e in after if e.kind == "slot.missed"}
        if record is None and target.slot_id in missed:
            outcome = "MISSED"
        events.update(e.kind for e in after if e.kind in NOTABLE_EVENTS)
    problems, _ = check_records(motions(sim.ledger.entries), journal)
    pulses_after = sum(
        1
        for s in journal.values()
        if s.intent_wall > target.scheduled + timedelta(minutes=20)
        and s.final is not None
        and s.final[1] == "DELIVERED"
    )
    return Cell(
        fault=fault,
        phase=phase,
        driver=driver,
        outcome=outcome,
        alarms=tuple(sorted(summary.alarms)),
        suspended=events["delivery.suspended"] > 0,
        events=tuple(k for k in NOTABLE_EVENTS if events[k]),
        violations=tuple(summary.violations + problems),
        pulses_after=pulses_after,
    )


def render_table(cells: list[Cell]) -> str:
    """The docs table: one row per fault and phase."""
    lines = [
        "| fault | phase | faulted slot | alarms | suspended | journal events after the fault |"
        " therapy resumed |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in sorted(cells, key=lambda c: (c.fault, list(PHASES).index(c.phase))):
        lines.append(
            f"| {c.fault} | {c.phase} | {c.outcome} | {', '.join(c.alarms) or '—'} | "
            f"{'yes' if c.suspended else 'no'} | {', '.join(c.events) or '—'} | "
            f"{'yes' if c.pulses_after else 'no'} |"
        )
    return "\n".join(lines) + "\n"
