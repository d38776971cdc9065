"""Pure summaries over a report's slots: per-day tallies, pulse intervals and predicted exposure.

Functions of data only (no journal, no clock), so tests feed them known slots and check numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from pumpctl.core.exposure import (
    DEFAULT_PK,
    MODEL_HORIZON_MIN,
    Infusion,
    PkParameters,
    level_pg_per_ml,
    single_pulse_peak,
)
from pumpctl.report.model import DayRow, Exposure, Intervals, SlotRow

#: Pulses that moved fluid: the intervals between their starts are what SR-02 bounds.
MOVED = ("delivered", "partial", "over-delivered")
#: Pulses the exposure model counts: uncertain ones in full (SR-09).
EXPOSED = frozenset((*MOVED, "uncertain"))

#: A start measured on the pump may trail its journaled intent by a moment; within this the
#: interval is not flagged as below the limit (the gate itself measures intent to intent).
INTERVAL_TOLERANCE_MIN = 1 / 60

#: Periods up to this long get a dense curve; longer ones one point before and at each peak.
DENSE_CURVE_SPAN = timedelta(days=7)
DENSE_STEP_MIN = 2.0


def tally(rows: Iterable[SlotRow], zone: ZoneInfo) -> tuple[list[DayRow], DayRow]:
    """Per local day (in ``zone``) and for the whole period: counts by category and doses."""
    days: dict[date, DayRow] = {}
    total = DayRow(day=None)
    for row in rows:
        if row.scheduled is None:
            continue
        day = row.scheduled.astimezone(zone).date()
        target = days.get(day)
        if target is None:
            target = days[day] = DayRow(day=day)
        for summary in (target, total):
            _add(summary, row)
    return [days[d] for d in sorted(days)], total


def _add(summary: DayRow, row: SlotRow) -> None:
    summary.counts[row.category] += 1
    by_reason = {"denied": summary.denied_by_reason, "missed": summary.missed_by_reason}.get(
        row.category
    )
    if by_reason is not None:
        for reason in row.reasons or ("(no reason recorded)",):
            by_reason[reason] = by_reason.get(reason, 0) + 1
    if row.category != "open" and row.prescribed_dose_ug is not None:
        summary.prescribed_dose_ug += row.prescribed_dose_ug
    if row.category in MOVED and row.delivered_dose_ug is not None:
        summary.delivered_dose_ug += row.delivered_dose_ug


def pulse_start(row: SlotRow) -> datetime | None:
    """When a pulse started: the pump's start if recorded, else its slot time."""
    return row.started or row.scheduled


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), ``q`` in [0, 100]."""
    if not sorted_values:
        raise ValueError("percentile of no values: allowed one value or more")
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


Gap = tuple[float, tuple[datetime, str], tuple[datetime, str]]


def gaps(rows: Iterable[SlotRow]) -> list[Gap]:
    """(minutes, (start, slot), (next start, next slot)) between pulses that moved fluid."""
    starts = sorted(
        (start, row.slot_id)
        for row in rows
        if row.category in MOVED and (start := pulse_start(row)) is not None
    )
    return [((b[0] - a[0]).total_seconds() / 60, a, b) for a, b in itertools.pairwise(starts)]


def intervals(rows: Iterable[SlotRow], min_interval_min: int) -> Intervals:
    """Intervals between starts of pulses that moved fluid; any below the limit is listed."""
    gaps_ = gaps(rows)
    if not gaps_:
        return Intervals(0, None, None, None, None, None, None, None, min_interval_min, ())
    values = sorted(g[0] for g in gaps_)
    longest = max(gaps_, key=lambda g: g[0])
    below = tuple(
        (a[1], b[1], round(minutes, 2))
        for minutes, a, b in gaps_
        if minutes < min_interval_min - INTERVAL_TOLERANCE_MIN
    )
    return Intervals(
        count=len(gaps_),
        median_min=round(percentile(values, 50), 2),
        p5_min=round(percentile(values, 5), 2),
        p95_min=round(percentile(values, 95), 2),
        min_min=round(values[0], 2),
        longest_gap_min=round(longest[0], 2),
        longest_gap_from=longest[1][0],
        longest_gap_to=longest[2][0],
        min_interval_limit_min=min_interval_min,
        below_limit=below,
    )


@lru_cache(maxsize=64)
def _peak(dose_ug: float, duration_min: float) -> float:
    return single_pulse_peak(dose_ug, duration_min)


@lru_cache(maxsize=64)
def _peak_offset_min(duration_min: float) -> float:
    """When a single pulse peaks after its start (golden-section; the response is unimodal)."""
    pulse = [Infusion(0.0, 1.0, duration_min)]
    lo, hi = 0.0, duration_min + 120.0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if level_pg_per_ml(pulse, a) < level_pg_per_ml(pulse, b):
            lo = a
        else:
            hi = b
    return (lo + hi) / 2


def levels_pg_per_ml(
    infusions: Sequence[Infusion], times_min: Sequence[float], pk: PkParameters = DEFAULT_PK
) -> list[float]:
    """The core model's superposition at many sorted times at once (vectorised with numpy).

    Same formula and horizon as :func:`pumpctl.core.exposure.level_pg_per_ml`, which a test
    holds it to; years of pulses take well under a second instead of minutes.
    """
    t = np.asarray(times_min, dtype=float)
    if not infusions or t.size == 0:
        return [0.0] * len(times_min)
    start = np.array([i.start_min for i in infusions])
    dose = np.array([i.dose_ug for i in infusions])
    dur = np.array([i.duration_min for i in infusions])
    # Infusion i reaches the times in (start_i, start_i + horizon + duration_i).
    lo = np.searchsorted(t, start, side="right")
    hi = np.searchsorted(t, start + MODEL_HORIZON_MIN + dur, side="left")
    counts = np.maximum(hi - lo, 0)
    which = np.repeat(np.arange(len(infusions)), counts)
    first = np.repeat(lo, counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    at = first + offset
    since = t[at] - start[which]
    d, q = dur[which], dose[which]
    ke, ka = pk.ke_per_min, pk.ka_per_min
    scale = pk.bioavailability * ka / (pk.volume_l * (ka - ke)) * 1000.0  # ug/L -> pg/mL

    def unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return (1.0 - np.exp(-ke * x)) / ke - (1.0 - np.exp(-ka * x)) / ka

    bolus = q * (np.exp(-ke * since) - np.exp(-ka * since))
    rate = q / np.where(d > 0, d, 1.0)
    spread = rate * (unit(since) - unit(np.maximum(since - d, 0.0)))
    response = scale * np.where(d > 0, spread, bolus)
    response[q <= 0] = 0.0
    return [float(v) for v in np.bincount(at, weights=response, minlength=t.size)]


def exposure(
    rows: Sequence[SlotRow],
    durations_s: dict[str, Decimal],
    threshold_fraction: float,
    reference: tuple[Decimal, Decimal] | None,
    *,
    curve: bool = True,
) -> tuple[Exposure, dict[str, float]]:
    """The predicted level over the period and each pulse's pre-pulse level over its own peak.

    Uncertain pulses count in full (SR-09); ``reference`` is (dose µg, duration s) of the
    prescription, whose single-pulse peak scales the threshold to pg/mL. Without ``curve``
    only the pre-pulse levels and their summary are computed (the CSV needs no curve).
    """
    pulses = [
        (row, start)
        for row in rows
        if row.category in EXPOSED and (start := pulse_start(row)) is not None
    ]
    ref_peak = None if reference is None else _peak(float(reference[0]), float(reference[1]) / 60)
    if not pulses:
        return Exposure(ref_peak, threshold_fraction, (), (), None, None, 0), {}
    origin = min(start for _, start in pulses)
    origin_s = origin.timestamp()
    minutes_of: dict[Decimal | None, float] = {}  # few distinct durations: convert each once

    specs: list[tuple[SlotRow, float, float, float]] = []
    for row, start in pulses:
        dose = row.delivered_dose_ug if row.category in MOVED else row.prescribed_dose_ug
        duration_s = durations_s.get(row.slot_id)
        duration_min = minutes_of.get(duration_s)
        if duration_min is None:
            duration_min = minutes_of[duration_s] = float(duration_s or 60) / 60
        specs.append((row, (start.timestamp() - origin_s) / 60, float(dose or 0), duration_min))
    infusions = sorted(
        (Infusion(t, dose, dur) for _, t, dose, dur in specs), key=lambda i: i.start_min
    )
    # A pulse's own start is excluded: its response is zero at the instant it starts.
    starts_min = sorted(t for _, t, _, _ in specs)
    pre_by_time = dict(zip(starts_min, levels_pg_per_ml(infusions, starts_min), strict=True))
    fractions: dict[str, float] = {}
    for row, t, _, dur in specs:
        own = row.prescribed_dose_ug or row.delivered_dose_ug
        if own:
            fractions[row.slot_id] = pre_by_time[t] / _peak(float(own), dur)
    end = max(t for _, t, _, _ in specs) + max(180.0, MODEL_HORIZON_MIN / 2)
    if not curve:
        grid = []
    elif timedelta(minutes=end) <= DENSE_CURVE_SPAN:
        grid = [k * DENSE_STEP_MIN for k in range(int(end / DENSE_STEP_MIN) + 1)]
    else:
        grid = sorted({p for _, t, _, dur in specs for p in (t, t + _peak_offset_min(dur))})
    levels = tuple(levels_pg_per_ml(infusions, grid))
    max_pre = max(fractions.values(), default=None)
    above = sum(1 for f in fractions.values() if f > threshold_fraction)
    return (
        Exposure(
            reference_peak_pg_per_ml=ref_peak,
            threshold_fraction=threshold_fraction,
            times=tuple(origin + timedelta(minutes=t) for t in grid),
            levels_pg_per_ml=levels,
            max_level_pg_per_ml=max(levels, default=None),
            max_pre_pulse_fraction=max_pre,
            pre_pulse_above_threshold=above,
        ),
        fractions,
    )
