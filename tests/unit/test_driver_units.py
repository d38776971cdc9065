"""NE-1000 numbers, rate units, syringe limits and DIS totals on the driver side."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpctl.drivers.ne1000_units import (
    format_number,
    parse_dispensed,
    parse_number,
    rate_limits_ul_per_min,
    stated_text,
    vocabulary,
)
from pumpctl.errors import ProtocolError, UnsendableError

RATES = vocabulary(Decimal("4.78")).rate_ul_per_min


def rate_command(rate: Decimal) -> str:
    """The RAT argument the driver sends for ``rate`` (the range is not this test's concern)."""
    stated = RATES.stated(rate)
    if stated is None:
        raise UnsendableError(f"rate_ul_per_min={rate} cannot be stated")
    return stated_text(stated, field="rate_ul_per_min")


@pytest.mark.parametrize(
    ("value", "text"),
    [("50", "50"), ("4.699", "4.699"), ("26.59", "26.59"), ("0.05", "0.05"), ("9999", "9999"),
     ("500.0", "500"), ("0.001", "0.001"), ("123.4", "123.4")],
)  # fmt: skip
def test_format_number_is_exact(value: str, text: str) -> None:
    """Numbers the pump can take are written exactly, without trailing zeros."""
    assert format_number(Decimal(value), field="x") == text


@pytest.mark.parametrize(
    ("value", "message"),
    [("12.3456", "exactly"), ("0.0001", "exactly"), ("123.45", "exactly"), ("10000", "largest"),
     ("-1", ">= 0"), ("NaN", "finite")],
)  # fmt: skip
def test_format_number_refuses_what_would_be_rounded(value: str, message: str) -> None:
    """A number needing more than 4 digits or 3 decimals is refused with the field named."""
    with pytest.raises(UnsendableError, match=f"volume_ul={value}.*{message}"):
        format_number(Decimal(value), field="volume_ul")


@pytest.mark.parametrize(
    ("rate", "text"),
    [("500", "500UM"), ("0.5", "0.5UM"), ("0.0125", "0.75UH"), ("12345", "740.7MH"),
     ("1234", "1234UM"), ("0.00025", "0.015UH")],
)  # fmt: skip
def test_rate_command_picks_units_that_state_the_rate_exactly(rate: str, text: str) -> None:
    """The rate goes out in the first unit (UM, UH, MM, MH) that states it exactly."""
    assert rate_command(Decimal(rate)) == text


def test_rate_command_refuses_inexpressible_rates() -> None:
    """A rate no unit can state within 4 digits is refused, not rounded."""
    assert RATES.stated(Decimal("0.123456")) is None
    assert RATES.stated(Decimal("66.667")) is None
    assert RATES.problem(Decimal(0)) is not None


def test_rate_limits_scale_with_bore_area() -> None:
    """Limits are 51 mm/min and 0.04205 mm/h of plunger travel times the bore area."""
    low, high = rate_limits_ul_per_min(Decimal("26.59"))
    assert Decimal("28320") < high < Decimal("28330")  # 555.3 mm2 x 51 mm/min
    assert Decimal("0.389") < low < Decimal("0.390")


@pytest.mark.parametrize(
    ("data", "infused", "withdrawn", "step"),
    [("I0.050W0.000ML", "50.000", "0", "1"), ("I50.00W1.500UL", "50.00", "1.5", "0.01"),
     ("I9999.W0.000UL", "9999", "0", "1")],
)  # fmt: skip
def test_parse_dispensed_converts_to_microlitres(
    data: str, infused: str, withdrawn: str, step: str
) -> None:
    """DIS totals in mL or uL become exact microlitres, with the step of the printed digits."""
    assert parse_dispensed(data) == (Decimal(infused), Decimal(withdrawn), Decimal(step))


@pytest.mark.parametrize("data", ["", "I0.05ML", "I0.050W0.000", "X1W2UL", "I1W2UL junk"])
def test_parse_dispensed_rejects_malformed(data: str) -> None:
    """A DIS reply not of the form I<n>W<n><UL|ML> raises ProtocolError."""
    with pytest.raises(ProtocolError, match="DIS"):
        parse_dispensed(data)


def test_parse_number_reads_pump_numbers() -> None:
    """Pump-printed numbers parse exactly; text that is not a number raises ProtocolError."""
    assert parse_number("26.59", what="DIA") == Decimal("26.59")
    assert parse_number("9999.", what="DIA") == Decimal(9999)
    with pytest.raises(ProtocolError, match="DIA"):
        parse_number("4.6a", what="DIA")


@given(st.decimals(min_value=0, max_value=99999, places=4, allow_nan=False, allow_infinity=False))
def test_format_number_is_exact_or_refuses(value: Decimal) -> None:
    """A number is written so that it reads back identically exactly when the pump can take it."""
    int_part, _, fraction = f"{value.normalize():f}".partition(".")
    takeable = len(fraction) <= 3 and len(int_part) + len(fraction) <= 4
    try:
        text = format_number(value, field="volume_ul")
    except UnsendableError:
        assert not takeable
        return
    assert takeable
    assert parse_number(text, what="VOL") == value


@given(st.decimals(min_value="0.0001", max_value=20000, places=4, allow_nan=False))
def test_rate_command_states_the_rate_exactly_or_refuses(rate: Decimal) -> None:
    """A rate goes out in units whose value, converted back, equals the rate exactly."""
    factors = {
        "UM": Decimal(1),
        "UH": Decimal(1) / 60,
        "MM": Decimal(1000),
        "MH": Decimal(1000) / 60,
    }
    try:
        text = rate_command(rate)
    except UnsendableError:
        return
    number, units = parse_number(text[:-2], what="RAT"), text[-2:]
    assert abs(number * factors[units] - rate) < Decimal("1e-20")
