"""Start-up time of the control commands: ``pumpctl --version`` and ``pumpctl status``.

Each command runs as a fresh process (the installed console script of this interpreter's
environment) ``--runs`` times; the figure is the median wall time, with its CPU time (user +
system of the child) beside it, because a shared host's wall time mostly measures its other
tenants. The floor is a bare ``python -c pass`` of the same interpreter, measured in the same run.
``status`` is pointed at a socket nobody serves, so it measures start-up, argument parsing and
the connection attempt, not a daemon's reply.

    python benchmarks/bench_cli.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import figure

TARGET_S = 0.15


def timed(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``argv`` over ``runs`` runs."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = os.times()
        began = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False, timeout=60)
        walls.append(time.perf_counter() - began)
        after = os.times()
        cpus.append(
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system)
        )
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("pumpctl")
    if not script.exists():
        raise SystemExit(f"{script} not found: install pumpctl into this environment first")
    with tempfile.TemporaryDirectory(prefix="pumpctl-cli-") as tmp:
        socket = str(Path(tmp) / "none.sock")
        floor_wall, floor_cpu = timed([sys.executable, "-c", "pass"], args.runs)
        rows = [
            ("pumpctl --version", timed([str(script), "--version"], args.runs)),
            ("pumpctl status", timed([str(script), "status", "--socket", socket], args.runs)),
        ]
    for name, (wall, cpu) in rows:
        figure(
            f"{name}, median wall s (CPU s)",
            f"{wall:.3f} ({cpu:.3f})",
            f"<= {TARGET_S} s",
            wall <= TARGET_S,
            f"python -c pass: {floor_wall:.3f} ({floor_cpu:.3f})",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
