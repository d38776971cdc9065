"""A prediction in words and tables: per pulse, per day, and one line for a whole run.

Every heading says "predicted" and "model": these are outputs of a published in-vitro model
driven by predicted plasma levels, never a measurement of the patient.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from pumpctl.physiology.predict import Prediction

#: A pulse below this fraction of the standard regimen's LH pulse counts as blunted.
BLUNTED_BELOW = 0.5

MODEL_LABEL = "predicted pituitary response (model, not a measurement)"

#: The closing window a run's one-line summary also describes on its own.
LAST_WINDOW_MIN = 24 * 60.0


@dataclass(frozen=True)
class DaySummary:
    """One local day of a prediction."""

    day: date
    pulses: int
    median_relative: float | None
    lowest_relative: float | None
    blunted: int
    mean_bound: float
    mean_release_relative: float


def _relatives(pred: Prediction) -> list[float]:
    return [p.relative for p in pred.pulses if p.relative is not None]


def run_line(pred: Prediction) -> str:
    """One line: LH pulses relative to the standard regimen over the run and its last 24 h."""
    rel = _relatives(pred)
    if not rel:
        return f"{pred.label}: no pulses to predict an LH response for"
    blunted = sum(1 for r in rel if r < BLUNTED_BELOW)
    trace = pred.trace
    since = trace.end_min - min(LAST_WINDOW_MIN, trace.end_min - trace.start_min)
    last = [p.relative for p in pred.pulses if p.start_min >= since and p.relative is not None]
    release = pred.relative_release[trace.index_at(since) :]
    swing = float((release.max() - release.min()) / release.mean())
    recent = f"median {statistics.median(last):.0%}" if last else "none"
    return (
        f"{pred.label}: {len(rel)} pulses; LH pulse {statistics.median(rel):.0%} of the standard "
        f"regimen's (median), lowest {min(rel):.0%}, {blunted} blunted (< {BLUNTED_BELOW:.0%}); "
        f"last {round((trace.end_min - since) / 60, 1):g} h: {len(last)} pulses ({recent}), "
        f"LH release "
        f"swings {swing:.0%} peak to trough"
    )


def _local_midnights(origin: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every local midnight after ``origin`` up to ``end`` (DST-correct)."""
    day = origin.astimezone(zone).date() + timedelta(days=1)
    out: list[datetime] = []
    while True:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        if midnight >= end:
            return out
        out.append(midnight)
        day += timedelta(days=1)


def per_day(pred: Prediction, origin: datetime, timezone: str = "UTC") -> list[DaySummary]:
    """Per local day of ``timezone``: pulse responses and the model's mean state."""
    zone = ZoneInfo(timezone)
    trace = pred.trace
    end = origin + timedelta(minutes=trace.end_min)
    first = origin + timedelta(minutes=trace.start_min)
    return between(pred, origin, [first, *_local_midnights(first, end, zone), end], zone)


def between(
    pred: Prediction, origin: datetime, cuts: Sequence[datetime], zone: ZoneInfo
) -> list[DaySummary]:
    """One summary per span ``[cuts[k], cuts[k + 1])``, named by its start's local date."""
    trace = pred.trace
    cut_min = [(c - origin).total_seconds() / 60.0 for c in cuts]
    edges = np.searchsorted(trace.times_min, cut_min)
    release = pred.relative_release
    starts = [p.start_min for p in pred.pulses]  # in time order (pulse_responses sorts them)
    first_pulse = np.searchsorted(starts, cut_min)
    out: list[DaySummary] = []
    for k in range(len(cuts) - 1):
        lo, hi = int(edges[k]), max(int(edges[k + 1]), int(edges[k]) + 1)
        pulses = pred.pulses[int(first_pulse[k]) : int(first_pulse[k + 1])]
        rel = [p.relative for p in pulses if p.relative is not None]
        out.append(
            DaySummary(
                day=cuts[k].astimezone(zone).date(),
                pulses=len(pulses),
                median_relative=statistics.median(rel) if rel else None,
                lowest_relative=min(rel) if rel else None,
                blunted=sum(1 for r in rel if r < BLUNTED_BELOW),
                mean_bound=float(trace.bound[lo:hi].mean()),
                mean_release_relative=float(release[lo:hi].mean()),
            )
        )
    return out


def day_lines(days: Sequence[DaySummary]) -> list[str]:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    return [
        f"{d.day}: {d.pulses} pulses, LH pulse {pct(d.median_relative)} median, "
        f"lowest {pct(d.lowest_relative)}, {d.blunted} blunted; receptor bound "
        f"{d.mean_bound:.1%}; mean LH release {d.mean_release_relative:.2f}× basal"
        for d in days
    ]


def write_pulses_csv(path: Path, preds: Sequence[Prediction], origin: datetime) -> None:
    """One row per predicted LH pulse of every prediction (UTC times)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "run",
                "pulse_start_utc",
                "dose_ug",
                "duration_min",
                "lh_pre_release_per_h",
                "lh_peak_release_per_h",
                "lh_pulse_amplitude_per_h",
                "relative_to_standard_regimen",
                "stimulated_lh",
            ]
        )
        for pred in preds:
            for p in pred.pulses:
                w.writerow(
                    [
                        pred.label,
                        (origin + timedelta(minutes=p.start_min)).isoformat(),
                        f"{p.dose_ug:.4f}",
                        f"{p.duration_min:.3f}",
                        f"{p.pre_release:.4f}",
                        f"{p.peak_release:.4f}",
                        f"{p.amplitude:.4f}",
                        "" if p.relative is None else f"{p.relative:.4f}",
                        f"{p.stimulated_lh:.4f}",
                    ]
                )


def write_trace_csv(
    path: Path, preds: Sequence[Prediction], origin: datetime, every_min: float = 5.0
) -> None:
    """The course over time, one row per ``every_min`` minutes and prediction (UTC times)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "run",
                "time_utc",
                "plasma_pg_per_ml",
                "receptor_bound",
                "receptor_desensitized",
                "releasable_lh",
                "lh_release_relative_to_basal",
            ]
        )
        for pred in preds:
            trace = pred.trace
            stride = max(1, round(every_min / trace.step_min))
            release = pred.relative_release
            plasma = np.append(pred.plasma_pg_per_ml, pred.plasma_pg_per_ml[-1:])
            for k in range(0, len(trace.bound), stride):
                t = origin + timedelta(minutes=float(trace.start_min + k * trace.step_min))
                w.writerow(
                    [
                        pred.label,
                        t.isoformat(),
                        f"{plasma[k]:.3f}",
                        f"{trace.bound[k]:.5f}",
                        f"{trace.desensitized[k]:.5f}",
                        f"{trace.releasable[k]:.3f}",
                        f"{release[k]:.5f}",
                    ]
                )


def write_days_csv(
    path: Path, preds: Sequence[Prediction], origin: datetime, timezone: str
) -> None:
    """One row per local day and prediction."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "run",
                "day",
                "pulses",
                "median_relative_to_standard_regimen",
                "lowest_relative_to_standard_regimen",
                "blunted_pulses",
                "mean_receptor_bound",
                "mean_lh_release_relative_to_basal",
            ]
        )
        for pred in preds:
            for d in per_day(pred, origin, timezone):
                w.writerow(
                    [
                        pred.label,
                        d.day.isoformat(),
                        d.pulses,
                        "" if d.median_relative is None else f"{d.median_relative:.4f}",
                        "" if d.lowest_relative is None else f"{d.lowest_relative:.4f}",
                        d.blunted,
                        f"{d.mean_bound:.5f}",
                        f"{d.mean_release_relative:.5f}",
                    ]
                )
