"""The campaign's numbers: each reliability test adds what it tried; the run reports the totals.

Totals are printed at the end of the pytest run and merged into
``build/reliability/numbers-short.json`` or ``numbers-long.json`` (read by
``benchmarks/bench_campaign.py``). A key this run counted replaces the saved one, so parts of the
long form run in separate sessions still add up to one record of the latest run of each part.
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
    "operator_examples": "operator campaign: lives (Hypothesis examples)",
    "operator_pulses": "operator campaign: pulses the plunger gave",
    "operator_requests": "operator campaign: requests sent",
    "operator_refusals": "operator campaign: requests refused (nothing done)",
    "operator_reloads": "operator campaign: reloads (SIGHUP)",
    "operator_reloads_refused": "operator campaign: reloads refused for a changed [pump] (SR-27)",
    "operator_restarts": "operator campaign: SIGTERM restarts",
    "operator_kills": "operator campaign: SIGKILLs (between ticks and mid-pulse)",
    "operator_kills_mid_pulse": "operator campaign: SIGKILLs inside a pulse",
    "operator_pump_faults": "operator campaign: pump faults",
    "operator_simulated_minutes": "operator campaign: simulated minutes",
    "double_deliveries": "double or early deliveries",
    "lost_records": "lost records",
    "wrong_records": "wrong records or crash-campaign failures",
}


def add(key: str, amount: float = 1) -> None:
    NUMBERS[key] += amount  # type: ignore[assignment]


def report_lines() -> list[str]:
    return [f"{LABELS.get(k, k)}: {NUMBERS[k]:g}" for k in LABELS if k in NUMBERS]


def saved_path(form: str) -> Path:
    return OUT_DIR / f"numbers-{form}.json"


def write(form: str) -> Path:
    """Merge this run's numbers into the saved ones of ``form`` ("short" or "long")."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = saved_path(form)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved.update(NUMBERS)
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return path
