"""The pure summaries: percentiles, local-day tallies, interval flags and the exposure curve."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pumpctl.core.exposure import Infusion, level_pg_per_ml, single_pulse_peak
from pumpctl.report import stats
from pumpctl.report.build import paused_gc
from pumpctl.report.model import SlotRow
from pumpctl.report.outcomes import SlotOutcome

T0 = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)


def _row(
    slot_id: str, when: datetime, outcome: SlotOutcome = SlotOutcome.DELIVERED, dose: str = "10"
) -> SlotRow:
    delivered = Decimal(dose) if outcome in (SlotOutcome.DELIVERED, SlotOutcome.PARTIAL) else None
    return SlotRow(
        slot_id=slot_id,
        scheduled=when,
        outcome=outcome,
        prescribed_dose_ug=Decimal(dose),
        delivered_dose_ug=delivered,
        requested_volume_ul=Decimal(dose),
        delivered_volume_ul=delivered,
        started=when,
        ended=when + timedelta(minutes=1),
        reasons=(),
        resolved_by="delivery",
        alarms=(),
        duration_s=Decimal(60),
    )


def test_percentile_interpolates_between_ranks() -> None:
    """Percentiles interpolate linearly between closest ranks, as numpy does by default."""
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert stats.percentile([10.0], 5) == 10.0
    assert stats.percentile([0.0, 100.0], 95) == 95.0
    with pytest.raises(ValueError, match="allowed one value or more"):
        stats.percentile([], 50)


def test_days_are_counted_in_the_prescription_time_zone() -> None:
    """A slot at 23:10 UTC is on the next day in Berlin (00:10 CET) but the same day in UTC."""
    rows = [_row("a", T0 - timedelta(hours=2)), _row("b", T0 + timedelta(minutes=40))]
    berlin, total = stats.tally(rows, ZoneInfo("Europe/Berlin"))
    assert [(d.start.isoformat(), d.scheduled) for d in berlin if d.start] == [
        ("2026-03-28", 1),
        ("2026-03-29", 1),
    ]
    utc, _ = stats.tally(rows, ZoneInfo("UTC"))
    assert [(d.start.isoformat(), d.scheduled) for d in utc if d.start] == [("2026-03-28", 2)]
    assert total.scheduled == 2


def test_interval_just_under_the_minimum_is_flagged_and_one_at_it_is_not() -> None:
    """SR-02: an interval one minute short of the limit is listed; exactly the limit is not."""
    rows = [
        _row("a", T0),
        _row("b", T0 + timedelta(minutes=90)),
        _row("c", T0 + timedelta(minutes=179)),
    ]
    iv = stats.intervals(rows, 90)
    assert iv.below_limit == (("b", "c", 89.0),)
    assert iv.min_min == 89.0


def test_missed_slots_do_not_count_as_pulses_in_intervals() -> None:
    """Only pulses that moved fluid make intervals: a missed slot between two is skipped."""
    rows = [
        _row("a", T0),
        _row("b", T0 + timedelta(minutes=90), outcome=SlotOutcome.MISSED),
        _row("c", T0 + timedelta(minutes=180)),
    ]
    iv = stats.intervals(rows, 90)
    assert (iv.count, iv.median_min, iv.longest_gap_min) == (1, 180.0, 180.0)


def test_long_periods_get_a_sparse_exposure_curve_with_the_same_peaks() -> None:
    """Beyond a week the curve keeps one point per pulse start and peak, not a dense grid."""
    rows = [_row(f"s{k}", T0 + timedelta(minutes=90 * k)) for k in range(16 * 10)]
    curve, fractions = stats.exposure(rows, 0.2, (Decimal(10), Decimal(60)))
    assert len(curve.times) == 2 * len(rows)
    dense, _ = stats.exposure(rows[:16], 0.2, (Decimal(10), Decimal(60)))
    assert len(dense.times) > 2 * 16
    assert curve.max_level_pg_per_ml == pytest.approx(dense.max_level_pg_per_ml, rel=0.01)
    assert len(fractions) == len(rows)
    assert curve.pre_pulse_above_threshold == 0


def test_running_sums_match_the_core_model() -> None:
    """SR-05: the report's one-pass levels equal the core model's for boluses, overlaps, gaps."""
    infusions = [
        Infusion(0.0, 10.0, 1.0),
        Infusion(0.5, 5.0, 0.0),  # a bolus while the first pulse still runs
        Infusion(92.0, 10.0, 10.0),
        Infusion(95.0, 0.0, 1.0),  # nothing delivered
        Infusion(300.0, 12.0, 1.0),
    ]
    # Every time within the core's 600-min horizon of every pulse: the same sum.
    times = [0.0, 0.25, 0.75, 1.0, 30.0, 92.0, 97.0, 102.0, 300.0, 301.0, 400.0, 590.0]
    expected = [level_pg_per_ml(infusions, t) for t in times]
    assert stats.levels_pg_per_ml(infusions, times) == pytest.approx(expected, rel=1e-9)


def test_running_sums_keep_pulses_the_core_horizon_drops() -> None:
    """Beyond the core's 600-min horizon the report still adds a pulse's tail, under 1e-6 of a
    peak: the difference is the horizon, not the formula."""
    infusions = [Infusion(0.0, 10.0, 1.0), Infusion(900.0, 12.0, 1.0)]
    times = [700.0, 905.0, 1600.0]
    peak = single_pulse_peak(10.0, 1.0)
    got = stats.levels_pg_per_ml(infusions, times)
    for t, level in zip(times, got, strict=True):
        assert level == pytest.approx(level_pg_per_ml(infusions, t), abs=1e-6 * peak)
    assert got[0] > level_pg_per_ml(infusions, 700.0)  # the tail of the pulse at 0 is kept


def test_rollup_makes_monday_weeks_counting_only_days_in_the_period() -> None:
    """Weeks start on Monday; the first and last week count only the period's days; sums hold."""
    zone = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 3, 4, 8, tzinfo=UTC)  # a Wednesday
    rows = [_row(f"s{k}", first + timedelta(days=k)) for k in range(12)]  # Wed 4 .. Sun 15
    days, total = stats.tally(rows, zone)
    weeks = stats.rollup(days, "week")
    assert [(w.start.isoformat(), w.days, w.scheduled) for w in weeks if w.start] == [
        ("2026-03-02", 5, 5),
        ("2026-03-09", 7, 7),
    ]
    assert sum(w.delivered_dose_ug for w in weeks) == total.delivered_dose_ug == Decimal(120)
    assert total.days == 12


def test_rollup_keeps_empty_buckets_so_axes_have_no_holes() -> None:
    """A month without slots between two with slots is present, with zero counts."""
    zone = ZoneInfo("UTC")
    rows = [
        _row("a", datetime(2026, 1, 10, tzinfo=UTC)),
        _row("b", datetime(2026, 3, 10, tzinfo=UTC)),
    ]
    months = stats.rollup(stats.tally(rows, zone)[0], "month")
    assert [(m.start.isoformat(), m.scheduled) for m in months if m.start] == [
        ("2026-01-01", 1),
        ("2026-02-01", 0),
        ("2026-03-01", 1),
    ]
    assert [m.days for m in months] == [22, 28, 10]


def test_grain_is_days_up_to_a_month_then_weeks_then_months() -> None:
    """Up to 31 days every day is shown; up to about a year weeks; beyond, months."""
    assert [stats.grain_for(n) for n in (1, 31, 32, 365, 400, 401)] == [
        "day", "day", "week", "week", "week", "month",
    ]  # fmt: skip


def test_paused_gc_restores_the_collector_as_it_found_it() -> None:
    """The collector is off inside a report build and back to its former state after it."""
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_a_long_period_without_its_curve_still_knows_its_highest_level() -> None:
    """For a figure that does not draw a long curve, the highest level is computed anyway."""
    rows = [_row(f"s{k}", T0 + timedelta(minutes=90 * k)) for k in range(16 * 10)]
    full, _ = stats.exposure(rows, 0.2, (Decimal(10), Decimal(60)), curve="always")
    short, _ = stats.exposure(rows, 0.2, (Decimal(10), Decimal(60)), curve="short")
    assert short.times == () and short.levels_pg_per_ml == ()
    assert short.max_level_pg_per_ml == full.max_level_pg_per_ml is not None
