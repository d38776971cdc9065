"""The exposure model against the numbers of docs/clinical-parameters.md."""

import pytest

from pumpctl.core.exposure import (
    Infusion,
    default_threshold,
    level_pg_per_ml,
    single_pulse_peak,
    steady_state_trough_fraction,
)


def test_five_microgram_bolus_peaks_near_52_pg_per_ml_at_about_15_min() -> None:
    """A 5 ug SC bolus peaks at ~52 pg/mL about 14.6 min after the injection (derived table)."""
    peak = single_pulse_peak(5.0, 0.0)
    assert peak == pytest.approx(51.7, abs=0.3)
    times = [t / 10 for t in range(0, 600)]
    levels = [level_pg_per_ml([Infusion(0.0, 5.0, 0.0)], t) for t in times]
    t_max = times[levels.index(max(levels))]
    assert t_max == pytest.approx(14.6, abs=0.2)


@pytest.mark.parametrize(
    ("interval_min", "expected"),
    [(45, 0.74), (60, 0.42), (90, 0.16), (120, 0.064)],
)
def test_steady_state_pre_pulse_level_by_interval(interval_min: int, expected: float) -> None:
    """The pre-pulse level, as a fraction of one pulse's peak, falls with the interval."""
    assert steady_state_trough_fraction(interval_min, 1.0) == pytest.approx(expected, rel=0.03)


def test_slow_pulse_leaves_more_behind_than_a_bolus() -> None:
    """A 30-min infusion of the same dose leaves a higher level 90 min after its start."""
    bolus = level_pg_per_ml([Infusion(0.0, 5.0, 1.0)], 90.0)
    slow = level_pg_per_ml([Infusion(0.0, 5.0, 30.0)], 90.0)
    assert slow > bolus * 1.4


def test_default_threshold_passes_own_interval_and_refuses_45_min() -> None:
    """SR-05: the default threshold lets a 90-min regimen pass with margin and not a 45-min one."""
    threshold = default_threshold(90)
    assert steady_state_trough_fraction(90, 1.0) * 1.3 < threshold
    assert steady_state_trough_fraction(45, 1.0) > threshold
    assert default_threshold(45) == 0.5


def test_superposition_adds_pulses() -> None:
    """The level from two pulses is the sum of their separate levels."""
    a, b = Infusion(0.0, 5.0, 1.0), Infusion(90.0, 10.0, 1.0)
    total = level_pg_per_ml([a, b], 100.0)
    assert total == pytest.approx(level_pg_per_ml([a], 100.0) + level_pg_per_ml([b], 100.0))
