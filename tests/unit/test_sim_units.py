"""Unit tests for the simulator's number format and syringe arithmetic."""

from __future__ import annotations

import math

import pytest

from pumpctl.simulator.units import (
    default_volume_units,
    format_number,
    parse_number,
    rate_limits_ul_per_min,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("4.699", 4.699), ("500", 500.0), ("0.05", 0.05), (".5", 0.5), ("9999", 9999.0)],
)
def test_parse_number_accepts_the_pumps_float(text: str, value: float) -> None:
    """Numbers of at most four digits and three decimals parse to their value."""
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["12345", "1.2345", "abc", "", "1.2.3", "-1"])
def test_parse_number_rejects_what_the_pump_rejects(text: str) -> None:
    """Too many digits, decimals or non-numbers are refused."""
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.05, "0.050"), (26.59, "26.59"), (500.0, "500.0"), (50.0, "50.00"), (1234.0, "1234.")],
)
def test_format_number_prints_four_significant_digits(value: float, text: str) -> None:
    """Values print with four significant digits and always a decimal point."""
    assert format_number(value) == text


def test_rate_limits_follow_the_plunger_speed_limits() -> None:
    """The maximum rate is 5.1 cm/min of plunger travel and the minimum 0.004205 cm/h."""
    low, high = rate_limits_ul_per_min(4.699)
    area = math.pi * (4.699 / 2) ** 2
    assert high == pytest.approx(area * 51.0)
    assert low == pytest.approx(area * 0.04205 / 60.0)


def test_default_volume_units_switch_at_14_mm() -> None:
    """Diameters up to 14.00 mm default to microlitres, larger ones to millilitres."""
    assert default_volume_units(14.0) == "UL"
    assert default_volume_units(14.01) == "ML"
