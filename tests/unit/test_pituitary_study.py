"""The interlock study: the gate's default exposure threshold against the pituitary model."""

from __future__ import annotations

import pytest

from pumpctl.core.exposure import default_threshold, steady_state_trough_fraction
from pumpctl.physiology import study


def test_crossing_interpolates_the_first_pass_through_a_level() -> None:
    """The crossing is found between the two samples that straddle the level."""
    assert study.crossing([0.0, 10.0, 20.0], [0.2, 0.6, 1.0], 0.5) == pytest.approx(7.5)
    assert study.crossing([0.0, 10.0], [0.6, 0.9], 0.5) is None


def test_gate_boundaries_match_the_exposure_model() -> None:
    """The shortest admitted interval and longest admitted bolus sit where the steady-state
    fraction equals the threshold (to 0.05 min)."""
    threshold = default_threshold(90)
    shortest = study.shortest_admitted_interval(threshold)
    longest = study.longest_admitted_bolus(threshold)
    assert longest is not None
    assert study.longest_admitted_bolus(default_threshold(120)) is None
    assert steady_state_trough_fraction(round(shortest + 0.05, 2), 1.0) <= threshold
    assert steady_state_trough_fraction(round(shortest - 0.05, 2), 1.0) > threshold
    assert steady_state_trough_fraction(90, round(longest - 0.05, 2)) <= threshold
    assert steady_state_trough_fraction(90, round(longest + 0.05, 2)) > threshold


def test_default_threshold_refuses_every_pattern_the_model_calls_desensitizing() -> None:
    """Along the interval and bolus axes, every pattern the default gate admits keeps at least
    80 % of the standard regimen's LH pulse in the model (molar bridge): the default is on the
    safe side of predicted desensitization (half the standard's pulse), and conservative, as it
    also refuses patterns the model still finds above that half."""
    threshold = default_threshold(90)
    points = study.interval_axis([60.0, 80.0, 85.0, 90.0, 120.0]) + study.bolus_axis(
        [1.0, 10.0, 15.0, 20.0, 30.0]
    )
    admitted = [p for p in points if p.admitted(threshold)]
    refused = [p for p in points if not p.admitted(threshold)]
    assert admitted
    assert refused
    assert min(p.relative_to_standard for p in admitted) >= 0.8
    assert min(p.relative_to_standard for p in refused) > study.DESENSITIZED_BELOW
