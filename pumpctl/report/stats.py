"""Pure summaries over a report's slots: local-day tallies, roll-ups, intervals, predicted exposure.

Functions of data only (no journal, no clock), so tests feed them known slots and check numbers.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from pumpctl.core.exposure import (
    DEFAULT_PK,
    Infusion,
    PkParameters,
    level_pg_per_ml,
    single_pulse_peak,
)
from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.report.model import Exposure, Flow, Intervals, SlotRow, Tally
from pumpctl.report.outcomes import EXPOSED, MOVED, TERMS, SlotOutcome

#: Periods up to this long get a dense curve; longer ones one point before and at each peak.
DENSE_CURVE_SPAN = timedelta(days=7)
DENSE_STEP_MIN = 2.0

#: Up to this many local days the report shows days; beyond it weeks, beyond a year months.
DAYS_UP_TO = 31
WEEKS_UP_TO = 400

Grain = Literal["day", "week", "month"]
CurveMode = Literal["always", "short", "never"]


def tally(
    rows: Iterable[SlotRow],
    zone: ZoneInfo,
    *,
    first: date | None = None,
    last: date | None = None,
    flows: Iterable[Flow] = (),
) -> tuple[list[Tally], Tally]:
    """Per local day (in ``zone``) and for the whole period: counts by outcome and doses.

    Days from ``first`` to ``last`` without any slot are present too, empty. ``flows``
    (unexplained flow, SR-26) count on the day they were found, with the dose of those of known
    volume: what the subject received (:attr:`Tally.received_dose_ug`).
    """
    days: dict[date, Tally] = {}
    if first is not None and last is not None:
        for k in range((last - first).days + 1):
            day = first + timedelta(days=k)
            days[day] = Tally(start=day)
    total = Tally(start=None)
    for row in rows:
        if row.scheduled is None:
            continue
        day = row.scheduled.astimezone(zone).date()
        target = days.get(day)
        if target is None:
            target = days[day] = Tally(start=day)
        _add(target, row)
        _add(total, row)
    for flow in flows:
        day = flow.when.astimezone(zone).date()
        target = days.get(day)
        if target is None:
            target = days[day] = Tally(start=day)
        for summary in (target, total):
            summary.unexplained_flows += 1
            if flow.volume_ul is None:
                summary.unexplained_flows_volume_unknown += 1
            elif flow.dose_ug is not None:  # else its words say "dose not recorded"
                summary.unexplained_flow_dose_ug += flow.dose_ug
    ordered = [days[d] for d in sorted(days)]
    if ordered:
        total.days = (ordered[-1].start - ordered[0].start).days + 1  # type: ignore[operator]
    return ordered, total


def _add(summary: Tally, row: SlotRow) -> None:
    outcome = row.outcome
    summary.counts[outcome] += 1
    if outcome is SlotOutcome.DENIED:
        _count_reasons(summary.denied_by_reason, row.reasons)
    elif outcome is SlotOutcome.MISSED:
        _count_reasons(summary.missed_by_reason, row.reasons)
    if TERMS[outcome].due and row.prescribed_dose_ug is not None:
        summary.prescribed_dose_ug += row.prescribed_dose_ug
    if outcome in MOVED and row.delivered_dose_ug is not None:
        summary.delivered_dose_ug += row.delivered_dose_ug


def _count_reasons(into: dict[str, int], reasons: Sequence[str]) -> None:
    for reason in reasons or ("(no reason recorded)",):
        into[reason] = into.get(reason, 0) + 1


def grain_for(span_days: int) -> Grain:
    """How the report groups days: by day up to a month, by week up to about a year."""
    if span_days <= DAYS_UP_TO:
        return "day"
    return "week" if span_days <= WEEKS_UP_TO else "month"


def bucket_start(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if grain == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, grain: Grain) -> date:
    if grain == "week":
        return start + timedelta(days=7)
    if grain == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def rollup(days: Sequence[Tally], grain: Grain) -> list[Tally]:
    """Days summed into weeks or months; a bucket's ``days`` counts only days in the period.

    Every bucket from the first day to the last is present, empty ones included, so a figure's
    axis has no holes.
    """
    dated = [d for d in days if d.start is not None]
    if not dated:
        return []
    first, last = dated[0].start, dated[-1].start
    assert first is not None and last is not None  # noqa: S101  (filtered above)
    by_start: dict[date, Tally] = {}
    cursor = bucket_start(first, grain)
    while cursor <= last:
        end = next_bucket(cursor, grain)
        covered = (min(end, last + timedelta(days=1)) - max(cursor, first)).days
        by_start[cursor] = Tally(start=cursor, days=covered)
        cursor = end
    for day in dated:
        assert day.start is not None  # noqa: S101  (filtered above)
        _merge(by_start[bucket_start(day.start, grain)], day)
    return list(by_start.values())


def _merge(into: Tally, day: Tally) -> None:
    for outcome, n in day.counts.items():
        into.counts[outcome] += n
    for reason, n in day.denied_by_reason.items():
        into.denied_by_reason[reason] = into.denied_by_reason.get(reason, 0) + n
    for reason, n in day.missed_by_reason.items():
        into.missed_by_reason[reason] = into.missed_by_reason.get(reason, 0) + n
    into.delivered_dose_ug += day.delivered_dose_ug
    into.prescribed_dose_ug += day.prescribed_dose_ug
    into.unexplained_flows += day.unexplained_flows
    into.unexplained_flows_volume_unknown += day.unexplained_flows_volume_unknown
    into.unexplained_flow_dose_ug += day.unexplained_flow_dose_ug


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
        if row.outcome in MOVED and (start := pulse_start(row)) is not None
    )
    return [((b[0] - a[0]).total_seconds() / 60, a, b) for a, b in itertools.pairwise(starts)]


def intervals(
    rows: Iterable[SlotRow], min_interval_min: int, tolerance: timedelta = START_LATENCY_BOUND
) -> Intervals:
    """Intervals between starts of pulses that moved fluid; any below the limit is listed.

    The gate lets two starts come ``tolerance`` closer than the minimum interval (its
    start-latency allowance, times the time scale of a scaled clock); an interval is listed as
    below the limit only beyond that, compared exactly.
    """
    gaps_ = gaps(rows)
    tolerance_s = tolerance.total_seconds()
    if not gaps_:
        return Intervals(
            0, None, None, None, None, None, None, None, min_interval_min, (), (), tolerance_s
        )
    values = sorted(g[0] for g in gaps_)
    longest = max(gaps_, key=lambda g: g[0])
    least = timedelta(minutes=min_interval_min) - tolerance
    below = tuple((a[1], b[1], round(minutes, 2)) for minutes, a, b in gaps_ if b[0] - a[0] < least)
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
        values_min=tuple(g[0] for g in gaps_),
        tolerance_s=tolerance_s,
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
    """The core model's superposition at many ascending times, in one pass over the pulses.

    A finished pulse's response is a difference of two decaying exponentials, so the sum over
    every finished pulse is two running sums that decay from one time to the next; only pulses
    still running at a time are evaluated directly. Same formula as
    :func:`pumpctl.core.exposure.level_pg_per_ml`, which a test holds it to; the core ignores
    pulses beyond its 600-min horizon, which this sum keeps (they add under 1e-6 of a peak).
    """
    ke, ka = pk.ke_per_min, pk.ka_per_min
    scale = pk.bioavailability * ka / (pk.volume_l * (ka - ke)) * 1000.0  # ug/L -> pg/mL
    exp = math.exp

    def unit(x: float) -> float:
        return (1.0 - exp(-ke * x)) / ke - (1.0 - exp(-ka * x)) / ka

    pulses = sorted((i for i in infusions if i.dose_ug > 0), key=lambda i: i.start_min)
    out: list[float] = []
    sum_ke = sum_ka = 0.0
    at: float | None = None
    nxt = 0
    running: list[tuple[float, int, Infusion]] = []  # (finish, order, pulse): a min-heap
    for t in times_min:
        if at is not None:
            if t < at:
                raise ValueError("times_min: allowed ascending times only")
            sum_ke *= exp(-ke * (t - at))
            sum_ka *= exp(-ka * (t - at))
        at = t
        while nxt < len(pulses) and pulses[nxt].start_min < t:
            p = pulses[nxt]
            heapq.heappush(running, (p.start_min + max(p.duration_min, 0.0), nxt, p))
            nxt += 1
        while running and running[0][0] <= t:
            _, _, p = heapq.heappop(running)
            since = t - p.start_min
            if p.duration_min > 0:
                rate = scale * p.dose_ug / p.duration_min
                a_ke = rate * (exp(ke * p.duration_min) - 1.0) / ke
                a_ka = rate * (exp(ka * p.duration_min) - 1.0) / ka
            else:
                a_ke = a_ka = scale * p.dose_ug
            sum_ke += a_ke * exp(-ke * since)
            sum_ka += a_ka * exp(-ka * since)
        level = sum_ke - sum_ka
        for _, _, p in running:
            level += scale * p.dose_ug / p.duration_min * unit(t - p.start_min)
        out.append(max(level, 0.0))
    return out


def exposure(
    rows: Sequence[SlotRow],
    threshold_fraction: float,
    reference: tuple[Decimal, Decimal] | None,
    *,
    extra: Sequence[Infusion] = (),
    origin: datetime | None = None,
    curve: CurveMode = "always",
) -> tuple[Exposure, dict[str, float]]:
    """The predicted level over the period and each pulse's pre-pulse level over its own peak.

    Uncertain pulses count in full (SR-09); ``extra`` adds flow no pulse commanded (SR-26), on
    the minute axis from ``origin`` (required with it): in the curve, its peak and every later
    pulse's pre-pulse level, with or without pulses in the period. ``reference`` is (dose µg,
    duration s) of the prescription, whose single-pulse peak scales the threshold to pg/mL.
    ``curve``: return the sampled level always, only for periods up to a week ("short": a
    longer one keeps just its highest level),
    or never (the CSV needs only pre-pulse levels).
    """
    pulses = [
        (row, start)
        for row in rows
        if row.outcome in EXPOSED and (start := pulse_start(row)) is not None
    ]
    ref_peak = None if reference is None else _peak(float(reference[0]), float(reference[1]) / 60)
    flows = [i for i in extra if i.dose_ug > 0]
    if not pulses and (not flows or origin is None):
        return Exposure(ref_peak, threshold_fraction, (), (), None, None, 0), {}
    zero = origin or min(start for _, start in pulses)
    zero_s = zero.timestamp()
    minutes_of: dict[Decimal | None, float] = {}  # few distinct durations: convert each once
    specs: list[tuple[SlotRow, float, float, float]] = []
    for row, start in pulses:
        dose = row.delivered_dose_ug if row.outcome in MOVED else row.prescribed_dose_ug
        duration_min = minutes_of.get(row.duration_s)
        if duration_min is None:
            duration_min = minutes_of[row.duration_s] = float(row.duration_s or 60) / 60
        specs.append((row, (start.timestamp() - zero_s) / 60, float(dose or 0), duration_min))
    specs.sort(key=lambda s: s[1])
    infusions = [Infusion(t, dose, dur) for _, t, dose, dur in specs] + flows
    starts_min = [t for _, t, _, _ in specs]
    # Every dose in the curve, flow no pulse commanded too (SR-26): its start and its peak.
    doses = [(t, dur) for _, t, _, dur in specs] + [(i.start_min, i.duration_min) for i in flows]
    pre = levels_pg_per_ml(infusions, starts_min)
    fractions: dict[str, float] = {}
    for (row, _, _, dur), level in zip(specs, pre, strict=True):
        own = row.prescribed_dose_ug or row.delivered_dose_ug
        if own:
            fractions[row.slot_id] = level / _peak(float(own), dur)
    first_min = min(t for t, _ in doses)
    end = max(t for t, _ in doses) + 180.0
    short = timedelta(minutes=end - first_min) <= DENSE_CURVE_SPAN
    highest: float | None = None
    if curve == "never":
        grid: list[float] = []
    elif short:
        first = math.floor(first_min / DENSE_STEP_MIN) * DENSE_STEP_MIN
        grid = [first + k * DENSE_STEP_MIN for k in range(int((end - first) / DENSE_STEP_MIN) + 1)]
    elif curve == "short":
        # A long period's curve is not drawn: only its highest level, at some dose's peak.
        peaks = sorted({t + _peak_offset_min(dur) for t, dur in doses})
        highest = max(levels_pg_per_ml(infusions, peaks), default=None)
        grid = []
    else:
        grid = sorted({p for t, dur in doses for p in (t, t + _peak_offset_min(dur))})
    levels = tuple(levels_pg_per_ml(infusions, grid))
    if levels:
        highest = max(levels)
    above = sum(1 for f in fractions.values() if f > threshold_fraction)
    return (
        Exposure(
            reference_peak_pg_per_ml=ref_peak,
            threshold_fraction=threshold_fraction,
            times=tuple(zero + timedelta(minutes=t) for t in grid),
            levels_pg_per_ml=levels,
            max_level_pg_per_ml=highest,
            max_pre_pulse_fraction=max(fractions.values(), default=None),
            pre_pulse_above_threshold=above,
        ),
        fractions,
    )
