"""Wall and CPU time of a long ``pumpctl simulate`` (default: 365 days, no faults).

The whole daemon runs against the in-process simulator on a virtual clock; this measures how
fast the loop, the gate, the journal and the simulator go together. CPU time is reported beside
wall time because a shared host's wall time mostly measures its other tenants.

    python benchmarks/bench_simulate.py [--days 365] [--fault-rate 0] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _bench import figure

from pumpctl.daemon.logging import configure_logging
from pumpctl.simulation import Simulation, SimulationOptions, default_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # As `pumpctl simulate` without -v: events are not rendered, only counted in the journal.
    configure_logging("console", "critical", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="pumpctl-bench-") as tmp:
        journal = Path(tmp) / "year.sqlite3"
        options = SimulationOptions(days=args.days, seed=args.seed, fault_rate=args.fault_rate)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        summary = Simulation(default_config(), journal, options).run()
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
        size_kb = journal.stat().st_size / 1024
    for line in summary.lines():
        print(f"  {line}")
    figure(f"simulate {args.days:g} days, wall s", f"{wall_s:.1f}", "<= 10 s", wall_s <= 10.0)
    figure(f"simulate {args.days:g} days, CPU s", f"{cpu_s:.1f}", "(informative)")
    figure("journal size, KiB", f"{size_kb:.0f}", "(informative)")
    figure("invariants", "held" if summary.ok else "VIOLATED", "held", summary.ok)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
