"""Reliability campaign figures: how fast the campaign runs, and what the last campaign proved.

Measured here: simulated days per real second of the soak engine (random faults, invariants
checked after every event), real seconds for a killed daemon to be ready again against pumpsim,
and real seconds per kill of the crash campaign. Quoted: the numbers the last pytest run of
``tests/reliability`` saved in ``build/reliability/numbers.json`` (short or long form).

Run on demand: ``python benchmarks/bench_campaign.py`` (about a minute). Prints
``FIGURE | VALUE | TARGET`` lines for ``benchmarks/run``.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import structlog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the campaign's harness lives in the tests package

from pumpctl.simulation import Simulation, SimulationOptions, default_config  # noqa: E402
from tests.reliability import campaign_numbers  # noqa: E402 - needs the path above
from tests.reliability.crash_campaign import CrashCampaign  # noqa: E402
from tests.reliability.test_soak import Soak  # noqa: E402


def soak_days_per_s(workdir: Path, days: float = 10.0) -> float:
    options = SimulationOptions(days=days, seed=1, fault_rate=0.15)
    sim = Simulation(default_config(), workdir / "soak.sqlite3", options)
    began = time.perf_counter()
    runner = Soak(sim)
    runner.run()
    took = time.perf_counter() - began
    if runner.violations:
        raise SystemExit(f"soak broke an invariant: {runner.violations[0]}")
    return days / took


def crash_figures(workdir: Path, kills: int = 4) -> tuple[float, float]:
    """Seconds per kill, and the median real seconds from spawn to ``daemon.ready``."""
    campaign = CrashCampaign(workdir, kills=kills, seed=5, pump_restarts=0)
    began = time.perf_counter()
    result = campaign.run()
    took = time.perf_counter() - began
    if result.violations:
        raise SystemExit(f"crash campaign violation: {result.violations[0]}")
    ready_s = []
    for log in sorted(workdir.glob("daemon-*.log")):
        stamps = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        times = [s["timestamp"] for s in stamps if "timestamp" in s]
        ready = [s["timestamp"] for s in stamps if s.get("event") == "daemon.ready"]
        if times and ready:
            first = datetime.fromisoformat(times[0].replace("Z", "+00:00"))
            ready_s.append(
                (datetime.fromisoformat(ready[0].replace("Z", "+00:00")) - first).total_seconds()
            )
    return took / (kills + 1), statistics.median(ready_s) if ready_s else float("nan")


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with tempfile.TemporaryDirectory() as tmp:
        rate = soak_days_per_s(Path(tmp))
        per_kill_s, ready_s = crash_figures(Path(tmp) / "crash")
    print(f"soak speed, random faults, invariants per event | {rate:.2f} days/s | >= 0.1 days/s")
    print(f"crash campaign, real time per kill | {per_kill_s:.1f} s | <= 15 s (200 kills < 1 h)")
    print(f"killed daemon: log start to ready (pumpsim, 1440x) | {ready_s:.2f} s | <= 3 s")
    targets = {
        "kills": ">= 200 (long form)",
        "pump_restarts": ">= 1",
        "fault_cells": "14 faults x 4 phases = 56",
        "clock_cases": ">= 19",
        "bad_inputs": ">= 500",
        "simulated_days": ">= 180 (long form)",
        "double_deliveries": "0",
        "lost_records": "0",
        "wrong_records": "0",
    }
    for form in ("short", "long"):
        saved = campaign_numbers.saved_path(form)
        if not saved.exists():
            continue
        numbers = json.loads(saved.read_text())
        for key, target in targets.items():
            if key in numbers:
                label = campaign_numbers.LABELS[key]
                print(f"last {form} campaign: {label} | {numbers[key]:g} | {target}")


if __name__ == "__main__":
    main()
