"""The campaign's numbers: each reliability test adds what it tried; the run reports the totals.

Totals are printed at the end of the pytest run and written to ``build/reliability/numbers.json``
(read by ``benchmarks/bench_campaign.py`` and quoted in ``docs/reliability.md``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

NUMBERS: Counter[str] = Counter()
OUT_DIR = Path(__file__).resolve().parents[2] / "build" / "reliability"

LABELS = {
    "kills": "daemon SIGKILLs survived",
    "pump_restarts": "pumpsim power resets survived",
    "fault_cells": "faults x phases covered",
    "clock_cases": "clock cases",
    "bad_inputs": "bad inputs tried",
    "simulated_days": "simulated days (soak and matrix)",
    "double_deliveries": "double or early deliveries",
    "lost_records": "lost records",
}


def add(key: str, amount: float = 1) -> None:
    NUMBERS[key] += amount  # type: ignore[assignment]


def report_lines() -> list[str]:
    return [f"{LABELS.get(k, k)}: {NUMBERS[k]:g}" for k in LABELS if k in NUMBERS]


def write() -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "numbers.json"
    path.write_text(json.dumps(dict(NUMBERS), indent=2, sort_keys=True) + "\n")
    return path
