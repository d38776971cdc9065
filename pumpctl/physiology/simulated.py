"""``pumpctl simulate --pituitary``: predicted LH from what the simulated pump physically did.

The interlocked run is predicted from the simulator's ledger (every plunger motion, not the
plan). A comparison run, when asked for, is a counterfactual built in the model alone: the
same ledger with a continuous-exposure fault left unchecked. The daemon's interlocks are never
relaxed; the counterfactual is labelled as model-only wherever it appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pumpctl.core.exposure import DEFAULT_PK, single_pulse_peak
from pumpctl.core.pituitary import MOLAR, PAPER_PULSE_NM, GnrhBridge
from pumpctl.physiology import figures
from pumpctl.physiology.counterfactual import Counterfactual
from pumpctl.physiology.delivered import (
    counterfactual,
    infusions_from_ledger,
    runaway_start_min,
)
from pumpctl.physiology.predict import ModelSettings, Prediction, predict
from pumpctl.physiology.summary import (
    MODEL_LABEL,
    day_lines,
    per_day,
    run_line,
    write_days_csv,
    write_pulses_csv,
    write_trace_csv,
)

INTERLOCKED = "interlocked run (from the simulator's ledger)"
MODEL_ONLY = "MODEL-ONLY counterfactual, interlock bypassed in the model, never in the daemon"
BRIDGES = ("molar", "calibrated")
#: Longer runs print no per-day lines (the days table has them).
PRINTED_DAYS = 14


def bridge_named(name: str) -> GnrhBridge:
    """``molar`` (the default) or ``calibrated`` (a 5 µg bolus's peak = the paper's 0.5 nM)."""
    if name == "molar":
        return MOLAR
    if name == "calibrated":
        return GnrhBridge.calibrated(single_pulse_peak(5.0, 1.0, DEFAULT_PK), PAPER_PULSE_NM)
    raise ValueError(f"unknown bridge {name!r}; allowed: {', '.join(BRIDGES)}")


@dataclass(frozen=True)
class PituitaryRequest:
    """What the command line asked for."""

    compare: Counterfactual | None = None
    compare_from_h: float | None = None
    slow_pulse_min: float = 30.0
    bridge: str = "molar"


@dataclass(frozen=True)
class PituitaryResult:
    predictions: tuple[Prediction, ...]
    origin: datetime
    timezone: str

    def lines(self) -> list[str]:
        """The summary; per-day lines too for runs of up to PRINTED_DAYS days."""
        first = self.predictions[0]
        out = [f"{MODEL_LABEL}: Heinze et al. 1998, {first.settings.bridge.name} bridge"]
        out += [f"  {run_line(p)}" for p in self.predictions]
        if first.trace.end_min - first.trace.start_min > PRINTED_DAYS * 1440:
            return out
        for pred in self.predictions:
            out.append(f"  per day, {pred.label}:")
            out += [f"    {line}" for line in day_lines(per_day(pred, self.origin, self.timezone))]
        return out


def predict_run(
    entries: Iterable[Mapping[str, Any]],
    *,
    concentration_ug_per_ml: float,
    dose_ug: float,
    syringe_ul: float,
    start: datetime,
    end: datetime,
    timezone: str,
    request: PituitaryRequest,
) -> PituitaryResult:
    """The interlocked run's prediction and, if asked, the counterfactual's beside it."""
    ledger = list(entries)
    delivered = infusions_from_ledger(ledger, concentration_ug_per_ml, start, end)
    end_min = (end - start).total_seconds() / 60.0
    settings = ModelSettings(bridge=bridge_named(request.bridge))
    runs = [
        predict(
            delivered, 0.0, end_min, label=INTERLOCKED, reference_dose_ug=dose_ug, settings=settings
        )
    ]
    if request.compare is not None:
        from_min = _from_min(request, ledger, start, end_min)
        what = counterfactual(
            request.compare,
            delivered,
            from_min,
            end_min,
            syringe_ul=syringe_ul,
            concentration_ug_per_ml=concentration_ug_per_ml,
            slow_pulse_min=request.slow_pulse_min,
        )
        label = f"{MODEL_ONLY}: {request.compare.describe(from_min, request.slow_pulse_min)}"
        if what == delivered:
            label += " (no pulse after that time: nothing changed)"
        runs.append(
            predict(what, 0.0, end_min, label=label, reference_dose_ug=dose_ug, settings=settings)
        )
    return PituitaryResult(tuple(runs), start, timezone)


def _from_min(
    request: PituitaryRequest, ledger: list[Mapping[str, Any]], start: datetime, end_min: float
) -> float:
    if request.compare_from_h is not None:
        return request.compare_from_h * 60.0
    if request.compare is Counterfactual.RUNAWAY:
        struck = runaway_start_min(ledger, start)
        if struck is not None:
            # The fault strikes during a pulse: the counterfactual leaves that pulse running.
            return max(0.0, struck - 10.0)
    return end_min / 2


def write_outputs(result: PituitaryResult, paths: Mapping[str, Path]) -> None:
    paths["figure"].write_text(figures.comparison(result.predictions), encoding="utf-8")
    write_pulses_csv(paths["pulses"], result.predictions, result.origin)
    write_days_csv(paths["days"], result.predictions, result.origin, result.timezone)
    write_trace_csv(paths["trace"], result.predictions, result.origin)
