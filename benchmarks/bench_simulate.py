"""Wall and CPU time of a long ``pumpctl simulate`` (default: 365 days, no faults).

The whole daemon runs against the in-process simulator on a virtual clock; this measures how
fast the loop, the gate, the journal and the simulator go together. CPU time is reported beside
wall time because a shared host's wall time mostly measures its other tenants.

The floor is the pulses themselves: a shorter run with the idle skip gives the CPU time of one
pulse (its gate decision, programming, the SR-25 readings during its bolus, its journal
records), times the year's pulses. A shorter run with every turn (the idle skip off) shows what
the skip saves.

    python benchmarks/bench_simulate.py [--days 365] [--fault-rate 0] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _bench import figure

from pumpctl.daemon.logging import configure_logging
from pumpctl.simulation import Simulation, SimulationOptions, SimulationSummary, default_config

#: The shorter runs that the floor and the every-turn comparison are measured on.
SHORT_DAYS = 14.0


@dataclass
class Run:
    sim: Simulation
    summary: SimulationSummary
    wall_s: float
    cpu_s: float
    size_kib: float


def simulate(options: SimulationOptions) -> Run:
    with tempfile.TemporaryDirectory(prefix="pumpctl-bench-") as tmp:
        sim = Simulation(default_config(), Path(tmp) / "sim.sqlite3", options)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        summary = sim.run()
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
        return Run(sim, summary, wall_s, cpu_s, sim.journal_path.stat().st_size / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # As `pumpctl simulate` without -v: events are not rendered, only counted in the journal.
    configure_logging("console", "critical", stream=sys.stderr)
    options = SimulationOptions(days=args.days, seed=args.seed, fault_rate=args.fault_rate)
    year = simulate(options)
    summary = year.summary
    for line in summary.lines():
        print(f"  {line}")
    short = simulate(SimulationOptions(days=SHORT_DAYS, seed=args.seed, fault_rate=args.fault_rate))
    every = simulate(
        SimulationOptions(
            days=SHORT_DAYS, seed=args.seed, fault_rate=args.fault_rate, idle_skip=False
        )
    )
    pulses = sum(summary.outcomes.values())
    per_pulse_ms = 1000 * short.cpu_s / max(1, sum(short.summary.outcomes.values()))
    floor = (
        f"the run's {pulses} pulses alone, {per_pulse_ms:.2f} ms CPU each "
        f"({SHORT_DAYS:g}-day run): {pulses * per_pulse_ms / 1000:.1f} s"
    )
    days = f"{args.days:g}"
    wall_s = year.wall_s
    figure(f"simulate {days} days, wall s", f"{wall_s:.1f}", "<= 10 s", wall_s <= 10.0, floor)
    figure(f"simulate {days} days, CPU s", f"{year.cpu_s:.1f}", "(informative)", floor=floor)
    figure(
        f"simulate {days} days, loop turns run / skipped as idle",
        f"{year.sim.turns} / {year.sim.skipped_turns}",
        "(informative)",
    )
    scale = args.days / SHORT_DAYS
    figure(
        f"simulate {days} days without the idle skip, CPU s ({SHORT_DAYS:g} days x {scale:.1f})",
        f"{every.cpu_s * scale:.1f} ({every.sim.turns * scale:.0f} turns)",
        "(informative: what the skip saves)",
    )
    figure("journal size, KiB", f"{year.size_kib:.0f}", "(informative)")
    figure("invariants", "held" if summary.ok else "VIOLATED", "held", summary.ok)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
